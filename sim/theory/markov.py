"""Analytic cross-check: the exact expectations of a run, from a Markov chain over stages.

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

**Which scenarios.** Only those a chain can express: fixed traits within a segment, no
word of mouth, hazards driven only by touches, no escalation on the noisy health score,
CSM capacity that provably never binds. :mod:`sim.theory.expressibility` states the
rules and :func:`~sim.theory.expressibility.markov_obstacles` lists what breaks them;
:func:`analyse` raises :class:`~sim.theory.expressibility.NotMarkovian` with that list.

Within those rules win-back, customer → prospect edges, marketing-based bases, fixed or
tiered revenue and weekly steps are all exact: the chain runs on the same per-step
matrix as the simulation. Segment sizes are the simulation's own (largest remainder,
:func:`sim.engine.segments.segment_counts`); the policy's response per (segment, stage) is
computed by running :class:`~sim.engine.policies.ProgramPolicy` itself on one synthetic customer
per cell (with capacity made unlimited — harmless once the capacity rule of
:mod:`sim.theory.expressibility` holds), and the hazards by
:func:`sim.engine.lifecycle.edge_rate`, so the two cannot drift apart.

Typical use::

    from sim import load_scenario
    from sim.theory.markov import analyse
    from sim.theory.markov_report import describe

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
from sim.engine.lifecycle import DRIVERS, edge_rate, logit
from sim.engine.metrics import at_months, kaplan_meier
from sim.engine.model import make_policy
from sim.engine.policies import Policy, ProgramPolicy
from sim.engine.scenario import Scenario, load_scenario
from sim.engine.segments import TRAITS
from sim.files import jsonable
from sim.theory.expressibility import NotMarkovian, fixed_value, markov_obstacles, segment_sizes

__all__ = ["AnalyticResult", "SegmentAnalysis", "analyse"]


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
            fixed_value(s, name) if fixed_value(s, name) is not None else s.traits[name].mean()
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
        monthly_revenue=np.where(customer, traits["revenue"], 0.0),
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
    churn = fixed_value(scenario.segments[k], "churn_propensity")
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


def _analyse_segment(
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
    revenue = fixed_value(seg, "revenue")
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
        NotMarkovian: The chain cannot express the scenario; ``reasons`` lists why
            (:func:`~sim.theory.expressibility.markov_obstacles`).
        InputError: ``policy`` names no policy of the scenario (or the scenario is invalid).
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    pol = make_policy(scenario, policy)
    reasons = markov_obstacles(scenario, pol)
    if reasons:
        raise NotMarkovian(reasons, scenario.name, pol.name)
    lc = scenario.lifecycle
    spm, T = scenario.time.steps_per_month, scenario.time.steps
    customer_stages = [i for i, s in enumerate(lc.stages) if s.kind == "customer"]
    entry = customer_stages[0] if customer_stages else 0
    counts = segment_sizes(scenario)
    response = _responses(scenario, pol)
    segments: dict[str, SegmentAnalysis] = {}
    pooled: list[dict[str, np.ndarray]] = []
    for k, seg in enumerate(scenario.segments):
        result, sums = _analyse_segment(scenario, k, int(counts[k]), response[k], entry)
        segments[seg.name] = result
        pooled.append(sums)
    overall = _pool_segments(segments, pooled, counts, spm, T)
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


def _pool_segments(
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
