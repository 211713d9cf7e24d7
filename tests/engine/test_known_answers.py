"""Toy cases with known answers: geometric retention, discounted value, metrics, hazards."""

import numpy as np
import pytest

from sim import EngagementModel, NoPolicy, load_scenario
from sim.engine.lifecycle import Edge, choose_exits, edge_rate
from sim.engine.metrics import engagement_index, nps, recommend_scores, retention_curve

K = 4.0  # tolerance in standard errors


def binomial_se(p: float, n: int) -> float:
    return np.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("step", ["month", "week"])
def test_constant_churn_gives_geometric_retention(step):
    scenario = load_scenario("constant_churn", overrides={"time.step": step})
    model = EngagementModel(scenario, "none", rng=11).run()
    n = model.n
    summary = model.summary()
    for month, observed in summary["retention"].items():
        expected = 0.95 ** int(month)
        assert abs(observed - expected) < K * binomial_se(expected, n), (month, observed)
    # the whole curve, step by step (weekly: rate rescaled exactly)
    share, _ = retention_curve(model.converted_step, model.churn_step, model.steps)
    k = np.arange(share.size)
    expected = 0.95 ** (k / model.steps_per_month)
    se = np.sqrt(expected * (1 - expected) / n)
    assert np.all(np.abs(share - expected) <= K * se + 1e-12)


def test_constant_churn_discounted_value_matches_closed_form():
    scenario = load_scenario("constant_churn")
    model = EngagementModel(scenario, "none", rng=5).run()
    margin, r, months = 80.0, 0.95, scenario.time.months
    v = 1.1 ** (-1 / 12)  # monthly discount factor at 10 % a year
    expected = sum(margin * (r * v) ** k for k in range(1, months + 1))
    ltv = model.ltv
    assert abs(ltv.mean() - expected) < K * ltv.std(ddof=1) / np.sqrt(ltv.size)
    # infinite horizon: m·r/(1 + d − r) with d the monthly rate, approached as T grows
    d = 1 / v - 1
    closed = margin * r / (1 + d - r)
    assert sum(margin * (r * v) ** k for k in range(1, 2000)) == pytest.approx(closed, rel=1e-9)


def test_nps_examples():
    scores = np.array([10] * 50 + [8] * 30 + [3] * 20)
    assert nps(scores) == pytest.approx(30.0)
    assert nps(np.array([9, 10])) == 100.0
    assert nps(np.array([0, 6])) == -100.0
    assert nps(np.array([7, 8])) == 0.0
    assert np.isnan(nps(np.array([])))
    assert recommend_scores(np.array([0.0, 0.64, 0.65, 0.86, 1.0])).tolist() == [0, 6, 6, 9, 10]


def test_engagement_index_example_and_model_definition():
    assert engagement_index(500, 1000, 4.0) == pytest.approx(2.0)
    assert engagement_index(0, 0, 4.0) == 0.0
    model = EngagementModel("default", "no_touch", rng=2, customers=2000, months=3).run()
    last = model.timeseries().iloc[-1]
    active = model.active
    ever = np.count_nonzero(model.converted_step >= 0)
    expected = active.sum() / ever * model.visits[active].mean()
    assert last["engagement_index"] == pytest.approx(expected)


def test_zero_effect_policy_equals_no_policy():
    raw = load_scenario("default")
    zero = {
        f"policies.hybrid.programs.{name}.effect": 0.0
        for name in [p.name for p in raw.policies["hybrid"].programs]
    }
    scenario = raw.with_overrides(zero)
    with_policy = EngagementModel(scenario, "hybrid", rng=9, customers=3000, months=12).run()
    without = EngagementModel(scenario, NoPolicy(), rng=9, customers=3000, months=12).run()
    for array in ("stage", "engagement", "satisfaction", "onboarding", "ltv", "churn_step"):
        np.testing.assert_array_equal(getattr(with_policy, array), getattr(without, array))
    stages = list(scenario.lifecycle.names)
    a, b = with_policy.timeseries()[stages], without.timeseries()[stages]
    assert a.equals(b)
    assert with_policy.summary()["cost_total"] > without.summary()["cost_total"]


def test_competing_exits_match_competing_risks():
    rng = np.random.default_rng(3)
    n = 200_000
    p1, p2 = 0.3, 0.2
    rates = [-np.log1p(-p1), -np.log1p(-p2)]
    choice, _ = choose_exits(rates, n, 1.0, rng.random(n))
    leave = 1 - (1 - p1) * (1 - p2)
    assert abs(np.mean(choice >= 0) - leave) < K * binomial_se(leave, n)
    share1 = rates[0] / sum(rates) * leave
    assert abs(np.mean(choice == 0) - share1) < K * binomial_se(share1, n)
    assert set(np.unique(choice)) <= {-1, 0, 1}


def test_edge_probability_is_logit_linear():
    edge = Edge(source=0, target=1, base=0.1, drivers=(("engagement", 2.0),))
    rows = np.arange(3)
    drivers = {"engagement": np.array([0.0, 0.5, -0.5])}
    rate, _ = edge_rate(edge, rows, drivers, {}, None)
    p = -np.expm1(-rate)
    logit = np.log(0.1 / 0.9) + 2.0 * drivers["engagement"]
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-logit)))
