"""The analytic Markov-chain expectations (sim.theory.markov) against the simulation.

Every comparison is in standard errors derived from the run itself, not hand-picked:
stage counts are sums of independent binomials (customers are independent given their
segment, whose size is fixed), retention is a Kaplan–Meier estimate (Greenwood's
variance), LTV and tenure are means over converted customers (sample variance).
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from sim import EngagementModel, InputError, NoPolicy, load_scenario
from sim.engine.metrics import RETENTION_MONTHS
from sim.theory.markov import AnalyticResult, analyse
from sim.validation.markov import chain_z_scores

K = 4.0  # tolerance in standard errors
N = 40_000  # customers per simulated run
POLICIES = ("no_touch", "low_touch", "high_touch", "hybrid")


# ----------------------------------------------------------------------------------
# helpers: z-scores of a run against the analytic expectations


def z_scores(model: EngagementModel, result: AnalyticResult) -> dict[str, float]:
    """Every comparison of ``model`` with ``result``, as z-scores (see sim.validation.markov)."""
    return chain_z_scores(model, result)


def worst(z: dict[str, float]) -> tuple[str, float]:
    label = max(z, key=lambda k: abs(z[k]))
    return label, z[label]


_RUNS: dict[tuple, EngagementModel] = {}


def run(name: str, policy: str, seed: int, overrides: dict | None = None) -> EngagementModel:
    """A finished run (cached: several tests compare against the same one)."""
    key = (name, policy, seed, json.dumps(overrides or {}, sort_keys=True))
    if key not in _RUNS:
        scenario = load_scenario(name, overrides={"population.customers": N, **(overrides or {})})
        _RUNS[key] = EngagementModel(scenario, policy, rng=seed).run()
    return _RUNS[key]


# ----------------------------------------------------------------------------------
# (1) simulation and chain agree


@pytest.mark.parametrize("policy", POLICIES)
def test_markov_saas_simulation_matches_chain(policy):
    model = run("markov_saas", policy, seed=101)
    result = analyse(model.spec, policy)
    z = z_scores(model, result)
    assert len(z) >= 74  # 40 final + 10 mid-run counts, 16 retention, 4 LTV, 4 tenure
    label, value = worst(z)
    assert abs(value) < K, (label, value)


def test_policies_have_clearly_different_effects():
    scenario = load_scenario("markov_saas")
    results = {p: analyse(scenario, p).overall for p in POLICIES}
    ltv = {p: r.ltv_mean for p, r in results.items()}
    assert len({round(v) for v in ltv.values()}) == 4
    assert ltv["no_touch"] < min(ltv["low_touch"], ltv["high_touch"], ltv["hybrid"])
    assert results["high_touch"].retention["24"] - results["no_touch"].retention["24"] > 0.05


def test_markov_saas_weekly_steps_match_chain():
    model = run("markov_saas", "high_touch", seed=7, overrides={"time.step": "week"})
    result = analyse(model.spec, "high_touch")
    assert result.steps == round(36 * 52 / 12)
    z = z_scores(model, result)
    label, value = worst(z)
    assert abs(value) < K, (label, value)


@pytest.mark.parametrize(("step", "policy"), [("month", "none"), ("week", "email")])
def test_constant_churn_simulation_matches_chain(step, policy):
    model = run("constant_churn", policy, seed=23, overrides={"time.step": step})
    result = analyse(model.spec, policy)
    z = z_scores(model, result)
    label, value = worst(z)
    assert abs(value) < K, (label, value)


def test_no_policy_object_is_accepted():
    scenario = load_scenario("markov_saas", overrides={"population.customers": N})
    model = EngagementModel(scenario, NoPolicy(), rng=4).run()
    result = analyse(scenario, NoPolicy())
    assert np.all(result.segments["smb"].response == 0)
    label, value = worst(z_scores(model, result))
    assert abs(value) < K, (label, value)


def test_cohort_quantities_match_a_cohort_run():
    # everyone starts in the entry stage: the run is one cohort converting at step 0
    overrides = {"population.initial_stages": {"purchase": 1.0}}
    model = run("markov_saas", "high_touch", seed=31, overrides=overrides)
    result = analyse(model.spec, "high_touch")
    label, value = worst(z_scores(model, result))
    assert abs(value) < K, (label, value)
    for seg in (*result.segments.values(), result.overall):
        assert seg.ltv_mean == pytest.approx(seg.clv_horizon, rel=1e-12)
        assert seg.tenure_months == pytest.approx(seg.cohort_tenure_horizon_months, rel=1e-12)
        for month, value in seg.retention.items():
            k = round(int(month) * model.steps_per_month)
            assert value == pytest.approx(seg.cohort_survival[k], rel=1e-12)
    # the infinite horizon lies beyond the finite one, and is reached as it grows
    # (a 3000-month horizon: past what a scenario file may state, a property of the
    # input, not of the chain, so the spec is replaced directly)
    long_time = dataclasses.replace(model.spec.time, months=3000)
    longer = analyse(dataclasses.replace(model.spec, time=long_time), "high_touch")
    for name, seg in result.segments.items():
        assert seg.clv_horizon < seg.clv_infinite
        assert longer.segments[name].clv_horizon == pytest.approx(seg.clv_infinite, rel=1e-6)
        assert longer.segments[name].cohort_tenure_horizon_months == pytest.approx(
            seg.cohort_tenure_months, rel=1e-6)


def test_scenario_by_name_and_policy_by_name():
    assert analyse("markov_saas", "no_touch").overall.ltv_mean == pytest.approx(
        analyse(load_scenario("markov_saas"), "no_touch").overall.ltv_mean)
    with pytest.raises(InputError, match="hybird"):
        analyse("markov_saas", "hybird")


# ----------------------------------------------------------------------------------
# (2) the constant-retention closed form


@pytest.mark.parametrize("step", ["month", "week"])
def test_constant_retention_closed_form(step):
    scenario = load_scenario("constant_churn", overrides={"time.step": step})
    result = analyse(scenario, "none")
    seg = result.segments["everyone"]
    spm = scenario.time.steps_per_month
    r = 0.95 ** (1 / spm)  # per-step retention (rates rescale exactly)
    m = 80.0 / spm  # margin per step
    v = 1.1 ** (-1 / (12 * spm))  # per-step discount factor
    d = 1 / v - 1
    assert seg.clv_infinite == pytest.approx(m * r / (1 + d - r), rel=1e-12)
    if step == "month":
        assert seg.clv_infinite == pytest.approx(80 * 0.95 / (1.1 ** (1 / 12) - 0.95), rel=1e-12)
    horizon = sum(m * r**k * 1.1 ** (-k / (12 * spm)) for k in range(1, result.steps + 1))
    assert seg.clv_horizon == pytest.approx(horizon, rel=1e-12)
    assert seg.ltv_mean == pytest.approx(horizon, rel=1e-12)  # all installed base
    assert seg.cohort_tenure_months == pytest.approx(1 / (1 - r) / spm, rel=1e-12)
    for month, value in seg.retention.items():
        assert value == pytest.approx(0.95 ** int(month), rel=1e-12)
    k = np.arange(result.steps + 1)
    np.testing.assert_allclose(seg.cohort_survival, r**k, rtol=1e-12)
    np.testing.assert_allclose(seg.occupancy[:, 0], 20_000 * r**k, rtol=1e-12)


def test_closed_form_without_discounting():
    scenario = load_scenario("constant_churn", overrides={"economics.annual_discount_rate": 0.0})
    seg = analyse(scenario, "none").segments["everyone"]
    assert seg.clv_infinite == pytest.approx(80 * 0.95 / 0.05, rel=1e-9)  # m r / (1 − r)
    assert seg.clv_horizon == pytest.approx(sum(80 * 0.95**k for k in range(1, 25)), rel=1e-12)


# ----------------------------------------------------------------------------------
# (3) a wrong transition matrix would be caught


@pytest.mark.parametrize(
    "override",
    [
        {"lifecycle.edges[8].base": 0.07},  # adoption → growth, 0.06 in the scenario
        {"lifecycle.edges[9].odds": 1.25},  # adoption → churned, odds 1 in the scenario
        {"segments.smb.responsiveness.value": 0.3},  # the dose of smb, 0.4 in the scenario
    ],
)
def test_wrong_chain_falls_outside_the_band(override):
    model = run("markov_saas", "hybrid", seed=101)
    right = z_scores(model, analyse(model.spec, "hybrid"))
    wrong = z_scores(model, analyse(model.spec.with_overrides(override), "hybrid"))
    assert abs(worst(right)[1]) < K
    label, value = worst(wrong)
    assert abs(value) > K, (label, value)


# ----------------------------------------------------------------------------------
# output


def test_to_dict():
    scenario = load_scenario("markov_saas")
    result = analyse(scenario, "hybrid")
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["entry_stage"] == "purchase"
    assert len(data["overall"]["occupancy"]) == result.steps + 1
    assert set(data["segments"]) == {"enterprise", "mid_market", "smb"}
    within = {str(m) for m in RETENTION_MONTHS if m <= scenario.time.months}
    assert data["overall"]["retention"].keys() == within
    assert data["overall"]["occupancy"][0][0] == pytest.approx(5000.0)
    total = result.overall.occupancy.sum(axis=1)
    np.testing.assert_allclose(total, 10_000)
    assert math.isfinite(result.overall.clv_infinite)
