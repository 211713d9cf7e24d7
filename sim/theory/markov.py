"""Analytic cross-check: the exact expectations of a run, from a Markov chain.

**Concept.** When a customer's chance of taking each lifecycle edge depends only on its
segment and its current stage, every segment is a time-homogeneous Markov chain over
the stages: a per-step transition matrix ``P`` (competing risks exactly as
:func:`sim.engine.lifecycle.choose_exits` draws them: ``λ = softplus(z)`` per edge from
:func:`sim.engine.lifecycle.edge_rate`, the stage is left with probability
``1 − exp(−Σλ / steps_per_month)`` and edge ``j`` taken with the share ``λ_j / Σλ``), an
initial distribution (``population.initial_stages``) and a reward per step (the margin,
booked at the end of a step for customers who were customers all step). Everything the
simulation reports about stages, retention and value then has an exact expectation:

* **occupancy** — expected customers per stage after each step, ``n_k · π₀ Pᵏᵗ``;
* **retention** — the share of converted customers not yet churned ``j`` steps after
  conversion. A cohort is the chain started where it converted, with the churned stages
  made absorbing (retention counts to the *first* churn). For a whole run (installed base
  converted at step 0, prospects converting later, each observed only until the
  horizon) :func:`sim.engine.metrics.retention` is a Kaplan–Meier estimate; this module gives
  the value it converges to as the population grows: the product of the pooled hazards
  ``Σ_c E[churned at age j] / Σ_c E[at risk at age j]`` over the conversion cohorts ``c``
  observed ``j`` steps;
* **tenure** — expected steps from conversion to first churn, within the horizon (as
  ``customers.csv`` reports it) and over an infinite horizon;
* **value** — the Markov-chain customer lifetime value of Pfeifer & Carraway (2000).
  With margin ``m`` per step, the per-step discount factor ``v = (1 + annual) ** (−1 /
  steps_per_year)`` and ``w_s`` the probability that a customer in stage ``s`` is still a
  customer at the end of the step (the margin is booked only then)::

      V_H = m Σ_{j=1..H} vʲ Pʲ⁻¹ w            (finite horizon, as simulated)
      V_∞ = m v (I − v P)⁻¹ w                  (closed form, scipy.linalg.solve)

  For a constant retention ``r`` and monthly steps this is ``m r / (1 + d − r)``.

Expectations over the random number of converted customers are ratios of expectations
(``E[Σ LTV] / E[# converted]``): the limit of the run's means as the population grows,
and exact whenever every converted customer belongs to the installed base.

**The scenarios this module answers** (:func:`check` lists every violated rule, with its
key path; :func:`analyse` raises :class:`NotMarkovian` with the same list). Call a stage
*touch-driven* when one of its out-edges has a non-zero ``touch`` driver: only there does
the policy change the hazards, so only there do the policy rules apply.

1. No state drivers: every non-zero edge driver is ``touch``. Engagement, satisfaction,
   onboarding, health, months in stage and tenure carry the customer's history.
2. No word of mouth: ``network.kind = "none"``, or no edge has ``referral > 0``, or the
   referral pressure is zero by construction (every stage's ``referral_weight`` is 0, or
   every segment's ``referral_propensity`` is fixed at 0).
3. No expansion: revenue grows with engagement, so ``economics.expansion_rate = 0``, or
   ``max_expansion = 1``, or no stage ``expands``, or every segment's
   ``expansion_potential`` is fixed at 0.
4. Homogeneous segments: ``dist = "fixed"`` for every trait the answer depends on —
   ``revenue`` always; ``churn_propensity`` when an edge's base is ``churn_propensity``;
   ``responsiveness``, and ``digital_affinity`` / ``human_preference`` for digital /
   human programs, in segments that a program with an effect reaches in a
   touch-driven stage. (``complexity`` only moves the state dynamics: free.)
5. The policy's response depends on (segment, stage) only. For every program with an
   effect reaching a touch-driven stage: no ``health_below`` (escalation on the noisy,
   usage-based observed health); a ``min_revenue`` tier only in customer stages (a
   prospect's or churned customer's revenue is 0 or its contract, depending on its
   past). A custom policy object (other than :class:`~sim.engine.policies.NoPolicy`) is
   accepted only when no stage is touch-driven.
6. CSM capacity never binds for a team with such a program, so every touch is delivered
   at full quality. With ``D`` the largest monthly hours one account can ask of the
   team (over the (segment, stage) cells its programs reach, summing the team's programs
   that reach a cell, escalation programs included), ``H`` its ``hours_per_month`` and
   ``b`` its ``accounts_per_csm`` (:mod:`sim.engine.staffing`):

   * pooled, ``headcount = "auto"``: ``b · D ≤ H`` (hours ``⌈C/b⌉ · H ≥ C · D``);
   * named, ``"auto"``: ``⌈b⌉ · D ≤ H`` (the least-loaded-first assignment never fills
     a book past ``⌈b⌉`` accounts);
   * pooled, fixed ``h``: ``N · D ≤ h · H``; named, fixed ``h``: ``⌈N / h⌉ · D ≤ H``,
     with ``N`` the customers of the segments the team covers.
7. The simulation's measures are defined: no never-converted prospect can reach a
   churned stage and win back into a customer stage (the run would record its churn
   before its conversion; ``sim/model.py`` sets ``churn_step`` for prospects too).

Within these rules win-back, customer → prospect edges, marketing-based bases, fixed or
tiered revenue and weekly steps are all exact: the chain runs on the same per-step
matrix as the simulation. Segment sizes are the simulation's own (largest remainder,
:func:`sim.engine.segments.segment_counts`); the policy's response per (segment, stage) is
computed by running :class:`~sim.engine.policies.ProgramPolicy` itself on one synthetic customer
per cell (with capacity made unlimited — harmless once rule 6 holds), and the hazards by
:func:`sim.engine.lifecycle.edge_rate`, so the two cannot drift apart.

Typical use::

    from sim import load_scenario
    from sim.theory.markov import analyse, describe

    result = analyse(load_scenario("markov_saas"), "hybrid")
    print(describe(result))
    result.overall.retention        # {"3": 0.97, ...}, what summary()["retention"] tends to
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import scipy.linalg
from scipy.sparse import csgraph

from sim.engine.economics import discount_factors
from sim.engine.lifecycle import DRIVERS, Lifecycle, edge_rate, logit
from sim.engine.metrics import RETENTION_MONTHS, at_months, kaplan_meier
from sim.engine.model import make_policy
from sim.engine.policies import (
    CHANNEL_TEAM,
    NoPolicy,
    Policy,
    PolicySpec,
    ProgramPolicy,
    ProgramSpec,
)
from sim.engine.scenario import Scenario, load_scenario
from sim.engine.segments import TRAITS, UNIT_TRAITS, Segment, segment_counts
from sim.files import jsonable
from sim.formatting import fixed, percent

__all__ = ["AnalyticResult", "NotMarkovian", "SegmentAnalysis", "analyse", "check", "describe"]


class NotMarkovian(ValueError):
    """The scenario (under this policy) is not a per-segment Markov chain over stages.

    Attributes:
        reasons: Every feature the chain cannot express, in plain words, each starting
            with the key path it comes from.
    """

    def __init__(self, reasons: list[str], scenario: str = "", policy: str = ""):
        self.reasons = list(reasons)
        head = "not expressible as a Markov chain over stages"
        if scenario or policy:
            head = f"{scenario} · {policy}: {head}"
        super().__init__(head + ":\n" + "\n".join(f"  - {r}" for r in self.reasons))


@dataclass(frozen=True)
class SegmentAnalysis:
    """Exact expectations for one segment (or, in :attr:`AnalyticResult.overall`, all).

    "Run" quantities are what one simulation run of the scenario measures; "cohort"
    quantities follow customers who convert into the entry stage (the first customer
    stage of the lifecycle). Times are in steps unless named ``_months``.

    Attributes:
        name: Segment name (``"overall"`` for the whole population).
        customers: Customers in the segment (the simulation's largest-remainder count).
        margin_per_month: Gross margin per month of one customer (overall: mean over
            customers).
        response: Per-stage response to this step's touches, ``1 − exp(−dose)`` (overall:
            empty).
        transition: Per-step transition matrix over stages (overall: empty).
        occupancy: ``(steps + 1, stages)`` expected customers per stage; row 0 is the
            start, row ``t`` after step ``t`` (the timeseries' stage columns).
        converted: Expected customers ever converted by the end of the run (installed
            base included).
        new_customers: Expected conversions during the run.
        retention_curve: ``(steps + 1,)`` the run's Kaplan–Meier retention ``j`` steps
            after conversion in the limit of a large population (``nan`` where no
            cohort is observed that long); see :func:`sim.engine.metrics.retention_curve`.
        retention: The same at the months ``summary()["retention"]`` reports.
        tenure_months: Mean tenure of the run's converted customers (from conversion to
            first churn or the horizon), as ``customers.csv`` ``tenure`` averages.
        ltv_mean: Mean discounted LTV per converted customer, as ``summary()["ltv_mean"]``.
        cohort_survival: ``(steps + 1,)`` share of a cohort converting into the entry
            stage not yet churned ``j`` steps later.
        cohort_tenure_horizon_months: Expected tenure of such a customer within the
            run's horizon.
        cohort_tenure_months: The same over an infinite horizon (``inf`` if it may
            never churn).
        clv_horizon: Expected discounted value of such a customer over the run's horizon.
        clv_infinite: The same over an infinite horizon (closed form).
        clv_by_stage: Infinite-horizon value of a customer converting into each customer
            stage (the Pfeifer–Carraway value vector).
    """

    name: str
    customers: int
    margin_per_month: float
    response: np.ndarray
    transition: np.ndarray
    occupancy: np.ndarray
    converted: float
    new_customers: float
    retention_curve: np.ndarray
    retention: dict[str, float]
    tenure_months: float
    ltv_mean: float
    cohort_survival: np.ndarray
    cohort_tenure_horizon_months: float
    cohort_tenure_months: float
    clv_horizon: float
    clv_infinite: float
    clv_by_stage: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """Return the analysis as plain JSON values (non-finite numbers as ``None``)."""
        return jsonable({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})


@dataclass(frozen=True)
class AnalyticResult:
    """Exact expectations of a scenario under one policy.

    Attributes:
        scenario: Scenario name.
        policy: Policy name.
        step: ``month`` or ``week``.
        steps_per_month: Steps in a month.
        steps: Steps in the horizon.
        stages: Stage names (the columns of ``occupancy`` and ``transition``).
        entry_stage: The stage a cohort converts into (the first customer stage).
        segments: One :class:`SegmentAnalysis` per segment, in scenario order.
        overall: The same for the whole population.
    """

    scenario: str
    policy: str
    step: str
    steps_per_month: float
    steps: int
    stages: tuple[str, ...]
    entry_stage: str
    segments: dict[str, SegmentAnalysis] = field(default_factory=dict)
    overall: SegmentAnalysis | None = None

    @property
    def months(self) -> np.ndarray:
        """Month of each row of ``occupancy`` and point of the retention curves."""
        return np.arange(self.steps + 1) / self.steps_per_month

    def to_dict(self) -> dict[str, Any]:
        """Return the result as plain JSON values (for ``--json``)."""
        return jsonable(
            {
                "scenario": self.scenario,
                "policy": self.policy,
                "step": self.step,
                "steps_per_month": self.steps_per_month,
                "steps": self.steps,
                "stages": list(self.stages),
                "entry_stage": self.entry_stage,
                "overall": self.overall.to_dict() if self.overall else None,
                "segments": {k: v.to_dict() for k, v in self.segments.items()},
            }
        )


# ----------------------------------------------------------------------------------
# expressibility


def _constant(segment: Segment, trait: str) -> float | None:
    """The trait's value if the segment's distribution is ``fixed``, else ``None``."""
    dist = segment.traits[trait]
    if dist.kind != "fixed":
        return None
    value = float(dist.params[0])
    return min(max(value, 0.0), 1.0) if trait in UNIT_TRAITS else max(value, 0.0)


def _touch_stages(lc: Lifecycle) -> set[int]:
    """Stages with an out-edge whose hazard depends on this step's touches."""
    return {e.source for e in lc.edges for name, beta in e.drivers if name == "touch" and beta}


def _may_reach(p: ProgramSpec, k: int, s: int, scenario: Scenario) -> bool:
    """Whether program ``p`` can reach a customer of segment ``k`` in stage ``s``."""
    if s not in p.stages or k not in p.segments:
        return False
    if p.min_revenue <= 0:
        return True
    revenue = _constant(scenario.segments[k], "revenue")
    # the contract is drawn per customer when not fixed: it may be above the tier
    return revenue is None or revenue >= p.min_revenue


def _acts(p: ProgramSpec) -> bool:
    return p.effect > 0 and p.touches_per_month > 0


def _relevant_cells(p: ProgramSpec, scenario: Scenario, touch: set[int]) -> list[tuple[int, int]]:
    """(segment, stage) cells where ``p`` moves a hazard."""
    if not _acts(p):
        return []
    return [
        (k, s)
        for s in sorted(touch)
        for k in range(len(scenario.segments))
        if _may_reach(p, k, s, scenario)
    ]


def _policy_reasons(
    scenario: Scenario, policy: Policy, touch: set[int], needed: dict[int, set[str]]
) -> list[str]:
    """Rules 5 and 6; fills ``needed`` with the traits the response depends on."""
    lc = scenario.lifecycle
    if not touch or isinstance(policy, NoPolicy):
        return []
    if not isinstance(policy, ProgramPolicy):
        stages = ", ".join(lc.names[s] for s in sorted(touch))
        return [
            f"policy {policy.name!r}: custom policy code — its touches cannot be read off "
            f"the scenario, and edges out of {stages} respond to touches"
        ]
    spec = policy.spec
    where = f"policies.{spec.name}"
    reasons = []
    team_relevant: set[str] = set()
    for p in spec.programs:
        cells = _relevant_cells(p, scenario, touch)
        if not cells:
            continue
        for k, _ in cells:
            needed[k].add("responsiveness")
            needed[k].add("digital_affinity" if p.channel == "digital" else "human_preference")
        if p.channel in CHANNEL_TEAM:
            team_relevant.add(CHANNEL_TEAM[p.channel])
        stages = sorted({lc.names[s] for _, s in cells}, key=lc.names.index)
        if p.health_below is not None:
            reasons.append(
                f"{where}.programs.{p.name}.health_below = {p.health_below:g}: escalation "
                "on the noisy, usage-based observed health score makes touches depend on "
                f"the customer's history (it reaches touch-driven stage(s) {', '.join(stages)})"
            )
        if p.min_revenue > 0:
            odd = sorted(
                {lc.names[s] for _, s in cells if lc.stages[s].kind != "customer"},
                key=lc.names.index,
            )
            if odd:
                reasons.append(
                    f"{where}.programs.{p.name}.min_revenue = {p.min_revenue:g}: in the "
                    f"non-customer stage(s) {', '.join(odd)} whether a customer is above the "
                    "tier depends on whether it ever bought (revenue 0 until it converts)"
                )
    counts = _counts(scenario)
    for team_name in sorted(team_relevant):
        reason = _capacity_reason(scenario, spec, team_name, counts)
        if reason:
            reasons.append(reason)
    return reasons


def _counts(scenario: Scenario) -> np.ndarray:
    """Customers per segment, exactly as the simulation assigns them."""
    shares = np.array([s.share for s in scenario.segments])
    return segment_counts(shares, scenario.population.customers)


def _capacity_reason(
    scenario: Scenario, spec: PolicySpec, team_name: str, counts: np.ndarray
) -> str | None:
    """Rule 6 for one team: ``None`` when its capacity provably never binds."""
    team = spec.teams[team_name]
    progs = [p for p in spec.programs if CHANNEL_TEAM.get(p.channel) == team_name]
    n_stages, n_seg = len(scenario.lifecycle.stages), len(scenario.segments)
    demand = 0.0  # most monthly hours one account can ask of the team
    covered_segments: set[int] = set()
    for k in range(n_seg):
        for s in range(n_stages):
            reach = [p for p in progs if _may_reach(p, k, s, scenario)]
            if reach:
                covered_segments.add(k)
            demand = max(demand, sum(p.touches_per_month * p.hours_per_touch for p in reach))
    hours = team.hours_per_month
    b = team.accounts_per_csm
    key = f"policies.{spec.name}.teams.{team_name}"
    if team.headcount is None:
        book = math.ceil(b) if team_name == "named" else b
        need, what = book * demand, f"a book of {book:g} accounts"
        limit = hours
        tail = f"hours_per_month = {hours:g}"
    else:
        n_cov = int(sum(counts[k] for k in covered_segments))
        if team_name == "named":
            book = math.ceil(n_cov / team.headcount)
            need, what, limit = book * demand, f"a book of up to {book} accounts", hours
            tail = f"hours_per_month = {hours:g}"
        else:
            need, what = n_cov * demand, f"{n_cov} covered accounts"
            limit = team.headcount * hours
            tail = f"headcount {team.headcount} × hours_per_month {hours:g} = {limit:g} h"
    if need <= limit * (1.0 + 1e-9):
        return None
    fix = (
        "a smaller accounts_per_csm or fewer hours per account"
        if team.headcount is None
        else "a larger headcount, or headcount = \"auto\" with accounts_per_csm × hours per "
        "account ≤ hours_per_month"
    )
    return (
        f"{key}: CSM capacity may bind — {what} × {demand:g} h/month each = {need:g} h > "
        f"{tail}; rationing and the overload penalty then depend on who else asks "
        f"(use {fix})"
    )


def _winback_reason(lc: Lifecycle) -> str | None:
    """Rule 7: a prospect churning before it converts, then winning back."""
    if not lc.allow_winback:
        return None
    kinds = [s.kind for s in lc.stages]

    def reach(starts: set[int], through: set[str]) -> set[int]:
        seen, todo = set(starts), list(starts)
        while todo:
            s = todo.pop()
            for e in lc.out_edges(s):
                if e.target not in seen:
                    seen.add(e.target)
                    if kinds[e.target] in through:
                        todo.append(e.target)
        return seen

    prospects = {i for i, k in enumerate(kinds) if k == "prospect"}
    churned = [s for s in reach(prospects, {"prospect"}) if kinds[s] == "churned"]
    for c in churned:
        if any(kinds[s] == "customer" for s in reach({c}, {"prospect", "churned"})):
            return (
                f"lifecycle.allow_winback with stage {lc.names[c]!r}: prospects can churn "
                "before they ever buy and then win back into a customer stage; the "
                "simulation records that churn before the conversion (negative lifetimes), "
                "so its retention and tenure are not defined"
            )
    return None


def check(scenario: Scenario | str | Path, policy: str | Policy) -> list[str]:
    """List every feature of ``scenario`` under ``policy`` that the chain cannot express.

    Args:
        scenario: The scenario (or a shipped scenario name or a path).
        policy: A policy name of the scenario, or a policy object.

    Returns:
        One plain-words reason per feature, each starting with its key path; empty when
        :func:`analyse` answers exactly (the rules are in the module docstring).

    Raises:
        InputError: ``policy`` names no policy of the scenario.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    pol = make_policy(scenario, policy)
    lc = scenario.lifecycle
    names = lc.names
    segs = scenario.segments
    reasons: list[str] = []

    # 1. state drivers
    for i, e in enumerate(lc.edges):
        for name, beta in e.drivers:
            if name != "touch" and beta != 0:
                reasons.append(
                    f"lifecycle.edges[{i}].drivers.{name} = {beta:g} ({names[e.source]} → "
                    f"{names[e.target]}): the hazard depends on {DRIVERS[name]}, which "
                    "carries the customer's history, not only its stage"
                )
    # 2. word of mouth
    net = scenario.network
    pressure = any(s.referral_weight > 0 for s in lc.stages) and any(
        _constant(s, "referral_propensity") != 0.0 for s in segs
    )
    if net.kind != "none" and pressure:
        for i, e in enumerate(lc.edges):
            if e.referral > 0:
                reasons.append(
                    f"lifecycle.edges[{i}].referral = {e.referral:g} ({names[e.source]} → "
                    f"{names[e.target]}): word of mouth over network.kind = {net.kind!r} makes "
                    "the hazard depend on the neighbours' stages (use network.kind = \"none\" "
                    "or referral = 0)"
                )
    # 3. expansion
    econ = scenario.economics
    expanding = [s.name for s in lc.stages if s.expands and s.kind == "customer"]
    grows = any(_constant(s, "expansion_potential") != 0.0 for s in segs)
    if expanding and econ.expansion_rate > 0 and econ.max_expansion > 1 and grows:
        reasons.append(
            f"economics.expansion_rate = {econ.expansion_rate:g}: revenue grows in the "
            f"expanding stage(s) {', '.join(expanding)} with the customer's engagement, which "
            "the chain does not track (set it to 0, or expands = false)"
        )
    # 5, 6. the policy; 4. the traits the answer depends on
    touch = _touch_stages(lc)
    needed: dict[int, set[str]] = {k: {"revenue"} for k in range(len(segs))}
    if any(e.base_source == "churn_propensity" for e in lc.edges):
        for k in needed:
            needed[k].add("churn_propensity")
    policy_reasons = _policy_reasons(scenario, pol, touch, needed)
    for k, seg in enumerate(segs):
        for trait in TRAITS:
            dist = seg.traits[trait]
            if trait in needed[k] and dist.kind != "fixed":
                reasons.append(
                    f"segments.{seg.name}.{trait}: a {dist.kind} distribution — customers of "
                    f"the segment differ in {trait.replace('_', ' ')}, so one chain per "
                    "segment cannot describe them (use dist = \"fixed\")"
                )
    reasons += policy_reasons
    # 7. measures defined
    winback = _winback_reason(lc)
    if winback:
        reasons.append(winback)
    return reasons


# ----------------------------------------------------------------------------------
# the chain


def _responses(scenario: Scenario, policy: Policy) -> np.ndarray:
    """Response to touches per (segment, stage), from the policy's own ``engage``."""
    n_seg, n_st = len(scenario.segments), len(scenario.lifecycle.stages)
    if not isinstance(policy, ProgramPolicy):
        return np.zeros((n_seg, n_st))  # NoPolicy, or a policy no edge responds to
    spec = policy.spec
    unlimited = {
        name: dataclasses.replace(team, headcount=None, accounts_per_csm=1.0,
                                  hours_per_month=math.inf)
        for name, team in spec.teams.items()
    }
    probe = ProgramPolicy(dataclasses.replace(spec, teams=unlimited))
    seg = np.repeat(np.arange(n_seg, dtype=np.int8), n_st)
    stage = np.tile(np.arange(n_st, dtype=np.int8), n_seg)
    customer = scenario.lifecycle.kind_mask("customer")[stage]
    traits = {}
    for name in TRAITS:
        per_segment = [
            _constant(s, name) if _constant(s, name) is not None else s.traits[name].mean()
            for s in scenario.segments
        ]
        traits[name] = np.asarray(per_segment, dtype=float)[seg]
    n = seg.size
    model = SimpleNamespace(
        n=n,
        spec=scenario,
        steps_per_month=scenario.time.steps_per_month,
        stage=stage,
        segment=seg,
        traits=traits,
        active=customer,
        mrr=np.where(customer, traits["revenue"], 0.0),
        health=np.ones(n),  # no escalation reaches a touch-driven stage (rule 5)
        tenure_months=np.zeros(n),
    )
    probe.setup(model)
    return probe.engage(model).response.reshape(n_seg, n_st)


def _transition(scenario: Scenario, k: int, response: np.ndarray) -> np.ndarray:
    """Per-step transition matrix of segment ``k`` (competing risks as the simulation)."""
    lc = scenario.lifecycle
    n_st = len(lc.stages)
    spm = scenario.time.steps_per_month
    churn = _constant(scenario.segments[k], "churn_propensity")
    base_logit = {
        "churn_propensity": np.full(n_st, logit(churn if churn is not None else 0.5)),
        "marketing": float(logit(scenario.marketing.awareness_rate)),
    }
    drivers = {name: np.zeros(n_st) for name in DRIVERS}
    drivers["touch"] = np.asarray(response, dtype=float)
    P = np.zeros((n_st, n_st))
    for s in range(n_st):
        edges = lc.out_edges(s)
        if not edges:
            P[s, s] = 1.0
            continue
        rows = np.array([s])
        lam = np.array(
            [float(np.asarray(edge_rate(e, rows, drivers, base_logit, None)[0]).ravel()[0])
             for e in edges]
        ) / spm
        total = lam.sum()
        leave = -math.expm1(-total)
        for e, rate in zip(edges, lam, strict=True):
            if total > 0:
                P[s, e.target] += leave * rate / total
        P[s, s] += 1.0 - leave
    return P


def _expected_total(M: np.ndarray, reward: np.ndarray, v: float) -> np.ndarray:
    """``Σ_{j≥0} vʲ Mʲ reward`` per starting state (``inf`` where it diverges).

    ``M`` is (sub)stochastic and ``reward ≥ 0``. For ``v < 1`` this is the closed form
    ``(I − v M)⁻¹ reward``; for ``v = 1`` the sum is finite exactly on the states that
    cannot reach a closed class with a positive reward, and solved on the transient ones.
    """
    n = M.shape[0]
    if v < 1.0:
        return scipy.linalg.solve(np.eye(n) - v * M, reward)
    graph = M > 0
    n_comp, comp = csgraph.connected_components(graph, directed=True, connection="strong")
    closed = np.ones(n_comp, dtype=bool)
    for i, j in zip(*np.nonzero(graph), strict=True):
        if comp[i] != comp[j]:
            closed[comp[i]] = False
    in_closed = closed[comp]
    bad = in_closed & np.isin(comp, comp[reward > 0])
    # states that can reach a bad state
    reach = csgraph.shortest_path(graph.astype(float), directed=True, unweighted=True)
    infinite = np.isfinite(reach[:, bad]).any(axis=1) if bad.any() else np.zeros(n, bool)
    x = np.zeros(n)
    x[infinite] = math.inf
    transient = ~in_closed & ~infinite
    if transient.any():
        idx = np.flatnonzero(transient)
        x[idx] = scipy.linalg.solve(np.eye(idx.size) - M[np.ix_(idx, idx)], reward[idx])
    return x


def _segment(
    scenario: Scenario, k: int, n_k: int, response: np.ndarray, entry: int
) -> tuple[SegmentAnalysis, dict[str, np.ndarray]]:
    """Analyse segment ``k``; also return the sums the overall result pools."""
    lc = scenario.lifecycle
    spm = scenario.time.steps_per_month
    T = scenario.time.steps
    seg = scenario.segments[k]
    n_st = len(lc.stages)
    customer = lc.kind_mask("customer").astype(float)
    churned = lc.kind_mask("churned")
    alive = (~churned).astype(float)

    P = _transition(scenario, k, response)
    pi0 = np.zeros(n_st)
    for s, share in scenario.population.initial_stages:
        pi0[s] += share

    # occupancy, and the conversion cohorts α_c (expected counts entering each stage)
    occ = np.empty((T + 1, n_st))
    occ[0] = n_k * pi0
    alpha = np.zeros((T + 1, n_st))
    alpha[0] = occ[0] * customer  # the installed base converts at step 0
    never = occ[0] * (1.0 - customer)  # never-converted mass
    for t in range(1, T + 1):
        occ[t] = occ[t - 1] @ P
        flow = never @ P
        alpha[t] = flow * customer
        never = flow * (1.0 - customer)

    # survival R_j = Q^j 1_alive (churned absorbing: retention counts to the first churn)
    Q = P.copy()
    Q[churned] = np.eye(n_st)[churned]
    R = np.empty((T + 1, n_st))
    R[0] = alive
    for j in range(1, T + 1):
        R[j] = Q @ R[j - 1]

    # value: margin m per step booked when a customer all step; U_h = m Σ_{j≤h} v_j P^{j-1} w
    revenue = _constant(seg, "revenue")
    margin_month = scenario.economics.gross_margin * (revenue if revenue is not None else 0.0)
    m = margin_month / spm
    w = customer * (P @ customer)
    disc = discount_factors(scenario.economics.annual_discount_rate, spm, T)
    G = np.empty((T + 1, n_st))
    G[0] = 0.0
    g = w.copy()
    for j in range(1, T + 1):
        G[j] = disc[j] * g
        g = P @ g
    U = m * np.cumsum(G, axis=0)  # U[h] = value of h steps from each stage

    # sums over cohorts c = 0..T (cohort c is observed T − c steps)
    sizes = alpha.sum(axis=1)
    converted = float(sizes.sum())
    ltv_total = float(sum(alpha[c] @ U[T - c] for c in range(T + 1)))
    cum_R = np.vstack([np.zeros(n_st), np.cumsum(R, axis=0)])  # cum_R[h] = Σ_{j<h} R_j
    tenure_total = float(sum(alpha[c] @ cum_R[T - c] for c in range(T + 1)))
    cum_alpha = np.cumsum(alpha, axis=0)
    at_risk, churns, observed = np.zeros(T + 1), np.zeros(T + 1), np.zeros(T + 1)
    observed[0] = converted
    at_risk[0] = converted
    for j in range(1, T + 1):
        a = cum_alpha[T - j]  # cohorts observed at least j steps
        observed[j] = a.sum()
        at_risk[j] = a @ R[j - 1]
        churns[j] = a @ (R[j - 1] - R[j])
    pooled = {"at_risk": at_risk, "churns": churns, "observed": observed,
              "ltv": np.array(ltv_total), "tenure": np.array(tenure_total)}
    curve = kaplan_meier(at_risk, churns, observed)

    v = (1.0 + scenario.economics.annual_discount_rate) ** (-1.0 / (12.0 * spm))
    value = m * v * _expected_total(P, w, v)
    life = _expected_total(Q, alive, 1.0)
    result = SegmentAnalysis(
        name=seg.name,
        customers=n_k,
        margin_per_month=margin_month,
        response=np.asarray(response, dtype=float),
        transition=P,
        occupancy=occ,
        converted=converted,
        new_customers=float(sizes[1:].sum()),
        retention_curve=curve,
        retention=at_months(curve, observed, spm, T),
        tenure_months=tenure_total / converted / spm if converted > 0 else math.nan,
        ltv_mean=ltv_total / converted if converted > 0 else math.nan,
        cohort_survival=R[:, entry].copy(),
        cohort_tenure_horizon_months=float(cum_R[T, entry]) / spm,
        cohort_tenure_months=float(life[entry]) / spm,
        clv_horizon=float(U[T, entry]),
        clv_infinite=float(value[entry]),
        clv_by_stage={
            lc.names[s]: float(value[s]) for s in range(n_st) if lc.stages[s].kind == "customer"
        },
    )
    return result, pooled


def analyse(scenario: Scenario | str | Path, policy: str | Policy) -> AnalyticResult:
    """Compute the exact expectations of ``scenario`` run under ``policy``.

    Args:
        scenario: The scenario (its ``population.customers`` and ``time`` as simulated),
            or a shipped scenario name or a path.
        policy: A policy name of the scenario, or a policy object
            (:class:`~sim.engine.policies.NoPolicy`, or any policy when no edge responds to
            touches).

    Returns:
        Per segment and overall: expected occupancy, retention, tenure and value.

    Raises:
        NotMarkovian: The chain cannot express the scenario; ``reasons`` lists why.
        InputError: ``policy`` names no policy of the scenario (or the scenario is invalid).
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    pol = make_policy(scenario, policy)
    reasons = check(scenario, pol)
    if reasons:
        raise NotMarkovian(reasons, scenario.name, pol.name)
    lc = scenario.lifecycle
    spm, T = scenario.time.steps_per_month, scenario.time.steps
    customer_stages = [i for i, s in enumerate(lc.stages) if s.kind == "customer"]
    entry = customer_stages[0] if customer_stages else 0
    counts = _counts(scenario)
    response = _responses(scenario, pol)
    segments: dict[str, SegmentAnalysis] = {}
    pooled: list[dict[str, np.ndarray]] = []
    for k, seg in enumerate(scenario.segments):
        result, sums = _segment(scenario, k, int(counts[k]), response[k], entry)
        segments[seg.name] = result
        pooled.append(sums)
    overall = _overall(segments, pooled, counts, spm, T)
    return AnalyticResult(
        scenario=scenario.name,
        policy=pol.name,
        step=scenario.time.step,
        steps_per_month=spm,
        steps=T,
        stages=lc.names,
        entry_stage=lc.names[entry],
        segments=segments,
        overall=overall,
    )


def _overall(
    segments: Mapping[str, SegmentAnalysis],
    pooled: list[dict[str, np.ndarray]],
    counts: np.ndarray,
    spm: float,
    T: int,
) -> SegmentAnalysis:
    """Pool the segments: sums for the run, a population-mix cohort for the cohort."""
    parts = list(segments.values())
    total = {key: sum(p[key] for p in pooled) for key in pooled[0]}
    n = int(counts.sum())
    weight = counts / n if n else np.zeros(len(parts))
    converted = sum(p.converted for p in parts)
    curve = kaplan_meier(total["at_risk"], total["churns"], total["observed"])

    def mix(attr: str) -> Any:
        return sum(wk * getattr(p, attr) for wk, p in zip(weight, parts, strict=True) if wk)

    return SegmentAnalysis(
        name="overall",
        customers=n,
        margin_per_month=float(mix("margin_per_month")),
        response=np.zeros(0),
        transition=np.zeros((0, 0)),
        occupancy=sum(p.occupancy for p in parts),
        converted=converted,
        new_customers=sum(p.new_customers for p in parts),
        retention_curve=curve,
        retention=at_months(curve, total["observed"], spm, T),
        tenure_months=float(total["tenure"]) / converted / spm if converted > 0 else math.nan,
        ltv_mean=float(total["ltv"]) / converted if converted > 0 else math.nan,
        cohort_survival=mix("cohort_survival"),
        cohort_tenure_horizon_months=float(mix("cohort_tenure_horizon_months")),
        cohort_tenure_months=float(mix("cohort_tenure_months")),
        clv_horizon=float(mix("clv_horizon")),
        clv_infinite=float(mix("clv_infinite")),
        clv_by_stage={
            s: float(sum(wk * p.clv_by_stage[s] for wk, p in zip(weight, parts, strict=True)
                         if wk))
            for s in parts[0].clv_by_stage
        },
    )


# ----------------------------------------------------------------------------------
# output


def _share(x: float) -> str:
    return percent(x, space=False)


def describe(result: AnalyticResult) -> str:
    """Return a readable text report of ``result`` (tables per segment and overall).

    Args:
        result: What :func:`analyse` returned.
    """
    rows = [*result.segments.values(), result.overall]
    months = [m for m in (str(x) for x in RETENTION_MONTHS) if m in result.overall.retention]
    unit = "monthly" if result.step == "month" else "weekly"
    horizon = result.steps / result.steps_per_month
    lines = [
        f"{result.scenario} · {result.policy} · {horizon:g} months ({unit} steps) · "
        f"{result.overall.customers:,} customers — exact Markov-chain expectations",
        "",
        "The run (what one simulation measures, in expectation):",
    ]
    head = ["segment", "customers", "converted", *[f"ret {m} mo" for m in months],
            "tenure mo", "LTV/customer"]
    body = [
        [r.name, fixed(r.customers), fixed(r.converted, 1),
         *[_share(r.retention.get(m, math.nan)) for m in months],
         fixed(r.tenure_months, 1), fixed(r.ltv_mean)]
        for r in rows
    ]
    lines += _table(head, body)
    lines += ["", f"A customer converting into {result.entry_stage!r} (within the "
              f"{horizon:g}-month horizon, and for ever):"]
    cohort_months = [m for m in RETENTION_MONTHS if round(m * result.steps_per_month)
                     <= result.steps]
    head = ["segment", *[f"ret {m} mo" for m in cohort_months], "tenure mo",
            "tenure mo (∞)", "CLV", "CLV (∞)"]
    body = [
        [r.name,
         *[_share(r.cohort_survival[round(m * result.steps_per_month)]) for m in cohort_months],
         fixed(r.cohort_tenure_horizon_months, 1), fixed(r.cohort_tenure_months, 1),
         fixed(r.clv_horizon), fixed(r.clv_infinite)]
        for r in rows
    ]
    lines += _table(head, body)
    lines += ["", f"Expected customers per stage at month {horizon:g}:"]
    head = ["segment", *result.stages]
    body = [[r.name, *[fixed(x) for x in r.occupancy[-1]]] for r in rows]
    lines += _table(head, body)
    resp = [r for r in result.segments.values() if np.any(r.response > 0)]
    if resp:
        lines += ["", "Response to touches per stage (1 − exp(−dose)):"]
        body = [[r.name, *[f"{x:.3f}" for x in r.response]] for r in resp]
        lines += _table(head, body)
    return "\n".join(lines)


def _table(head: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]

    def line(row: list[str]) -> str:
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        return "  " + "  ".join(cells)

    return [line(head), *[line(r) for r in body]]
