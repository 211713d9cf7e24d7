"""The analytic check group: real runs against the exact Markov-chain expectations.

**Concept.** When a customer's chance of moving between lifecycle stages depends only
on its segment and stage, each segment is a Markov chain and everything the simulation
reports has an exact expectation (:func:`sim.theory.markov.analyse`). The runs of
:data:`CHAIN_RUNS` (``scenarios/markov_saas.toml`` under its four policies and weekly
steps, ``scenarios/constant_churn.toml`` monthly and weekly) are compared with the
chain on every such quantity (:func:`chain_z_scores`: stage counts, Kaplan–Meier
retention, mean LTV and tenure, per segment and overall) and :func:`chain_check` holds
the worst ``|z|`` to :data:`~sim.validation.checks.K`. :func:`closed_form_check`
compares the chain's infinite-horizon value with the textbook ``m·r/(1 + d − r)``.

Typical use::

    from sim.theory.markov import analyse
    from sim.validation.markov import chain_check, chain_z_scores, simulate_chain_run

    model = simulate_chain_run("markov_saas", "hybrid", "month", 40_000, seed=101)
    chain_check("markov_saas · hybrid · monthly",
                chain_z_scores(model, analyse(model.spec, "hybrid"))).passed
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.engine.metrics import RiskTable
from sim.engine.model import EngagementModel
from sim.engine.scenario import load_scenario
from sim.theory.markov import AnalyticResult, analyse
from sim.validation.checks import (
    CLOSED_FORM_RTOL,
    Check,
    K,
    fixed_trait,
    make_check,
    step_label,
    worst,
    z_score,
)

#: Name of the group in the report.
GROUP = "analytic"

#: (scenario, policy, step) of the runs compared with the Markov chain.
CHAIN_RUNS: tuple[tuple[str, str, str], ...] = (
    ("markov_saas", "no_touch", "month"),
    ("markov_saas", "low_touch", "month"),
    ("markov_saas", "high_touch", "month"),
    ("markov_saas", "hybrid", "month"),
    ("markov_saas", "high_touch", "week"),
    ("constant_churn", "none", "month"),
    ("constant_churn", "email", "week"),
)


@dataclass
class ChainRun:
    """One run of :data:`CHAIN_RUNS` with its chain and its comparisons.

    Attributes:
        name: ``scenario · policy · monthly|weekly``.
        policy: The policy's name.
        model: The finished run.
        result: :func:`sim.theory.markov.analyse` of the same scenario and policy.
        z: :func:`chain_z_scores` of the run.
    """

    name: str
    policy: str
    model: EngagementModel
    result: AnalyticResult
    z: dict[str, float]


def simulate_chain_run(
    scenario: str, policy: str, step: str, customers: int, seed: int
) -> EngagementModel:
    """A finished run of a shipped scenario (the run :func:`chain_check` compares).

    Args:
        scenario: Shipped scenario name (expressible by :mod:`sim.theory.markov`).
        policy: Policy name.
        step: ``"month"`` or ``"week"``.
        customers: Customers.
        seed: The run's seed.

    Returns:
        The model after its whole horizon.
    """
    spec = load_scenario(
        scenario, overrides={"population.customers": customers, "time.step": step}
    )
    return EngagementModel(spec, policy, rng=seed).run()


def compare_with_chain(model: EngagementModel, policy: str) -> ChainRun:
    """Solve a finished run's Markov chain and compare the two.

    Args:
        model: A finished run (e.g. :func:`simulate_chain_run`).
        policy: The name of the policy it ran.

    Returns:
        The run named ``scenario · policy · monthly|weekly``, the chain's expectations
        and every comparison's z-score.
    """
    spec = model.spec
    result = analyse(spec, policy)
    name = f"{spec.name} · {policy} · {step_label(spec.time.step)}"
    return ChainRun(name, policy, model, result, chain_z_scores(model, result))


def chain_z_scores(model: EngagementModel, result: AnalyticResult) -> dict[str, float]:
    """Every comparison of a finished run with the chain's expectations, as z-scores.

    Stage counts after the last step (per segment and overall) and overall after a third
    of the horizon are sums of independent binomials (segment sizes are fixed);
    retention at the reported months is a Kaplan–Meier estimate (Greenwood's SE); LTV
    and tenure are means over converted customers (sample SE).

    Args:
        model: The finished run.
        result: :func:`sim.theory.markov.analyse` of the same scenario and policy.

    Returns:
        Label → z-score, in a fixed order (retention months in the chain's order).
    """
    out: dict[str, float] = {}
    spec = model.spec
    stages = spec.lifecycle.names
    summary = model.summary()
    series = model.timeseries()
    mid = model.horizon // 3
    groups = [(name, model.segment == k) for k, name in enumerate(spec.segment_names)]
    groups.append(("overall", np.ones(model.n, dtype=bool)))
    segs = {**result.segments, "overall": result.overall}
    for name, rows in groups:
        parts = list(result.segments.values()) if name == "overall" else [segs[name]]
        final = np.bincount(model.stage[rows], minlength=len(stages)).astype(float)
        moments = [(model.horizon, final)]
        if name == "overall" and mid >= 1:
            moments.append((mid, series.loc[mid - 1, list(stages)].to_numpy(float)))
        for t, counts in moments:
            for s, stage in enumerate(stages):
                var = 0.0
                for part in parts:
                    p = part.occupancy[t, s] / part.customers if part.customers else 0.0
                    var += part.customers * p * (1 - p)
                out[f"{name} {stage} @ step {t}"] = z_score(
                    counts[s], segs[name].occupancy[t, s], math.sqrt(var))
    for name, rows in groups:
        conv = rows & (model.converted_step >= 0)
        measured = (summary["retention"] if name == "overall"
                    else summary["segments"][name]["retention"])
        expected = segs[name].retention
        if set(measured) != set(expected):
            out[f"{name} retention months {sorted(measured)} ≠ {sorted(expected)}"] = math.inf
        for month in (m for m in expected if m in measured):
            k = round(int(month) * model.steps_per_month)
            se = RiskTable.of(model.converted_step[conv], model.churn_step[conv],
                              model.steps).greenwood_se(k)
            out[f"{name} retention {month} mo"] = z_score(measured[month], expected[month], se)
        if np.count_nonzero(conv) > 1:
            ltv = model.ltv[conv]
            out[f"{name} LTV"] = z_score(ltv.mean(), segs[name].ltv_mean,
                                         ltv.std(ddof=1) / math.sqrt(ltv.size))
            tenure = model.tenure_months[conv]
            out[f"{name} tenure"] = z_score(tenure.mean(), segs[name].tenure_months,
                                            tenure.std(ddof=1) / math.sqrt(tenure.size))
    return out


def chain_check(name: str, z: dict[str, float]) -> Check:
    """The analytic check of one run: the worst ``|z|`` of :func:`chain_z_scores`.

    Args:
        name: The check's name (scenario · policy · step).
        z: The run's z-scores.

    Returns:
        A check held to :data:`~sim.validation.checks.K` SE.
    """
    label, value = worst(z)
    detail = f"worst of {len(z)} comparisons: {label}, z = {value:+.2f}"
    return make_check(name, GROUP, abs(value), K, "SE", detail)


def closed_form_check(step: str) -> Check:
    """The constant-retention closed form ``m·r/(1 + d − r)`` against ``clv_infinite``.

    ``r`` is the per-step retention, ``m`` the margin per step and ``d`` the per-step
    discount rate of ``scenarios/constant_churn.toml``, read from the scenario.

    Args:
        step: ``"month"`` or ``"week"``.

    Returns:
        A check of the relative difference, held to
        :data:`~sim.validation.checks.CLOSED_FORM_RTOL`.
    """
    scenario = load_scenario("constant_churn", overrides={"time.step": step})
    seg_spec = scenario.segments[0]
    churn = fixed_trait(seg_spec, "churn_propensity")
    revenue = fixed_trait(seg_spec, "revenue")
    spm = scenario.time.steps_per_month
    r = (1.0 - churn) ** (1.0 / spm)
    m = scenario.economics.gross_margin * revenue / spm
    v = (1.0 + scenario.economics.annual_discount_rate) ** (-1.0 / (12.0 * spm))
    d = 1.0 / v - 1.0
    closed = m * r / (1.0 + d - r)
    chain = analyse(scenario, "none").segments[seg_spec.name].clv_infinite
    rel = abs(chain - closed) / abs(closed)
    detail = f"m·r/(1 + d − r) = {closed:,.6f}, chain clv_infinite = {chain:,.6f}"
    return make_check(f"closed form m·r/(1+d−r), {step_label(step)}", GROUP, rel,
                      CLOSED_FORM_RTOL, "relative", detail)
