"""Can a Markov chain over stages express this scenario, and if not, why not.

:func:`sim.theory.markov.analyse` computes a scenario's exact expectations from one
time-homogeneous Markov chain per segment. That is exact only when a customer's chance of
taking each lifecycle edge depends on nothing but its segment and its current stage;
:func:`markov_obstacles` checks that, rule by rule, and names every feature of the
scenario (under one policy) that breaks it, by key path and in plain words.

**The rules.** :func:`markov_obstacles` lists every violated rule, with its key path;
:func:`sim.theory.markov.analyse` raises :class:`NotMarkovian` with the same list. Call
a stage *touch-driven* when one of its out-edges has a non-zero ``touch`` driver: only
there does the policy change the hazards, so only there do the policy rules apply.

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

Typical use::

    from sim.theory.expressibility import markov_obstacles

    for reason in markov_obstacles(load_scenario("default"), "hybrid"):
        print(reason)       # "lifecycle.edges[0].referral = …: word of mouth over …"
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sim.engine.lifecycle import DRIVERS, Lifecycle
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

__all__ = ["NotMarkovian", "fixed_value", "markov_obstacles", "segment_sizes"]


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


def fixed_value(segment: Segment, trait: str) -> float | None:
    """The trait's value if the segment's distribution is ``fixed``, else ``None``.

    The value is clipped as the simulation draws it (to [0, 1] for unit traits, to ≥ 0
    otherwise).
    """
    dist = segment.traits[trait]
    if dist.kind != "fixed":
        return None
    value = float(dist.params[0])
    return min(max(value, 0.0), 1.0) if trait in UNIT_TRAITS else max(value, 0.0)


def _touch_driven_stages(lc: Lifecycle) -> set[int]:
    """Stages with an out-edge whose hazard depends on this step's touches."""
    return {e.source for e in lc.edges for name, beta in e.drivers if name == "touch" and beta}


def _may_reach(p: ProgramSpec, k: int, s: int, scenario: Scenario) -> bool:
    """Whether program ``p`` can reach a customer of segment ``k`` in stage ``s``."""
    if s not in p.stages or k not in p.segments:
        return False
    if p.min_revenue <= 0:
        return True
    revenue = fixed_value(scenario.segments[k], "revenue")
    # the contract is drawn per customer when not fixed: it may be above the tier
    return revenue is None or revenue >= p.min_revenue


def _has_effect(p: ProgramSpec) -> bool:
    """Whether the program's touches move anything (a positive effect, delivered)."""
    return p.effect > 0 and p.touches_per_month > 0


def _relevant_cells(p: ProgramSpec, scenario: Scenario, touch: set[int]) -> list[tuple[int, int]]:
    """(segment, stage) cells where ``p`` moves a hazard."""
    if not _has_effect(p):
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
    if isinstance(policy, ProgramPolicy):
        aimed = [p.name for p in policy.spec.programs if p.targets]
        if aimed:
            return [f"policies.{policy.spec.name}.programs.{name}.targets: a program aimed at "
                    "outcomes moves hazards and rates the chain does not model"
                    for name in aimed]
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
    counts = segment_sizes(scenario)
    for team_name in sorted(team_relevant):
        reason = _capacity_reason(scenario, spec, team_name, counts)
        if reason:
            reasons.append(reason)
    return reasons


def segment_sizes(scenario: Scenario) -> np.ndarray:
    """Customers per segment, exactly as the simulation assigns them."""
    shares = np.array([s.share for s in scenario.segments])
    return segment_counts(shares, scenario.population.n_agents)


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


def markov_obstacles(scenario: Scenario | str | Path, policy: str | Policy) -> list[str]:
    """List every feature of ``scenario`` under ``policy`` that the chain cannot express.

    Args:
        scenario: The scenario (or a shipped scenario name or a path).
        policy: A policy name of the scenario, or a policy object.

    Returns:
        One plain-words reason per feature, each starting with its key path; empty when
        :func:`sim.theory.markov.analyse` answers exactly (the rules are in the module
        docstring).

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
        fixed_value(s, "referral_propensity") != 0.0 for s in segs
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
    grows = any(fixed_value(s, "expansion_potential") != 0.0 for s in segs)
    if expanding and econ.expansion_rate > 0 and econ.max_expansion > 1 and grows:
        reasons.append(
            f"economics.expansion_rate = {econ.expansion_rate:g}: revenue grows in the "
            f"expanding stage(s) {', '.join(expanding)} with the customer's engagement, which "
            "the chain does not track (set it to 0, or expands = false)"
        )
    if econ.revenue_model == "repeat_purchase":  # sim.engine.purchases
        reasons.append(
            "economics.revenue_model = \"repeat_purchase\": revenue is orders × basket at "
            "the customer's engagement, which the chain does not track"
        )
    # 5, 6. the policy; 4. the traits the answer depends on
    touch = _touch_driven_stages(lc)
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
