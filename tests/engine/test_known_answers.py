"""Toy cases with known answers: geometric retention, discounted value, metrics, hazards.

Where the validation's known-answer group (:mod:`sim.validation.known_answers`) or its
closed-form check already makes the claim, the test asserts that check's own verdict
(with the seeds these tests always used); the rest are checked here only.
"""

import math

import numpy as np
import pytest

from sim import EngagementModel, NoPolicy, load_scenario
from sim.engine.lifecycle import choose_exits
from sim.engine.metrics import engagement_index, nps, recommend_scores
from sim.engine.policies import Engagement
from sim.validation.checks import fixed_trait
from sim.validation.known_answers import (
    competing_exits_check,
    discounted_value_check,
    geometric_retention_check,
    logit_linear_check,
    pure_advertising_check,
)
from sim.validation.markov import closed_form_check

N = 20_000  # customers of scenarios/constant_churn.toml


@pytest.mark.parametrize("step", ["month", "week"])
def test_constant_churn_gives_geometric_retention(step):
    # the whole curve, step by step (weekly: rate rescaled exactly), within 4 binomial SE
    check = geometric_retention_check(step, N, seed=11)
    assert check.passed, check


def test_constant_churn_discounted_value_matches_closed_form():
    check = discounted_value_check(N, seed=5)  # mean LTV = Σ m·(r·v)^k within 4 SE
    assert check.passed, check
    # infinite horizon: the chain's clv_infinite is m·r/(1 + d − r), monthly and weekly
    for step in ("month", "week"):
        check = closed_form_check(step)
        assert check.passed, check


def test_without_word_of_mouth_adoption_is_pure_advertising():
    check = pure_advertising_check(N, seed=1)  # F(t) = 1 − e^(−pt) within 4 binomial SE
    assert check.passed, check


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
    # p = 0.3 and 0.2: left with 1 − (1 − p1)(1 − p2), shared in proportion to the rates
    check = competing_exits_check(200_000, seed=3)
    assert check.passed, check
    # and only the two exits (or none) are ever chosen
    rates = [-np.log1p(-0.3), -np.log1p(-0.2)]
    choice, _ = choose_exits(rates, 1000, 1.0, np.random.default_rng(3).random(1000))
    assert set(np.unique(choice)) <= {-1, 0, 1}


def test_edge_probability_is_logit_linear():
    check = logit_linear_check()  # sigmoid(logit(base) + β·driver), to 1e-12
    assert check.passed, check


@pytest.mark.parametrize("months", [6, 24, 60])
def test_lifetime_value_of_constant_churn_is_the_perpetuity_whatever_the_horizon(months):
    # constant churn r, margin m, monthly discount d: lifetime LTV = m·s/(1 + d − s)
    scenario = load_scenario("constant_churn", overrides={"time.months": months,
                                                          "population.customers": 4000})
    seg = scenario.segments[0]
    r = fixed_trait(seg, "churn_propensity")
    m = scenario.economics.gross_margin * fixed_trait(seg, "revenue")
    d = (1.0 + scenario.economics.annual_discount_rate) ** (1.0 / 12.0) - 1.0
    s = 1.0 - r
    expected = m * s / (1.0 + d - s)
    # the SE over independent runs includes the error of the run's own retention estimate
    values = [EngagementModel(scenario, "none", rng=seed).run().summary()["ltv_lifetime_mean"]
              for seed in range(8)]
    se = float(np.std(values, ddof=1)) / math.sqrt(len(values))
    assert abs(np.mean(values) - expected) < 4 * se
    within = EngagementModel(scenario, "none", rng=0).run().summary()["ltv_mean"]
    assert within < expected  # the horizon alone undercounts


class _PriceCut(NoPolicy):
    """Every customer pays 20 % less, every step: a price discount and nothing else."""

    name = "price_cut"

    def engage(self, view):
        engaged = Engagement.none(view.n)
        engaged.targets["price"] = np.full(view.n, 0.2)
        return engaged


def test_lifetime_value_under_a_price_discount_is_the_discounted_perpetuity():
    # the discount is held beyond the horizon like the contract: m = margin·revenue·0.8
    scenario = load_scenario("constant_churn", overrides={"time.months": 12,
                                                          "population.customers": 4000})
    seg = scenario.segments[0]
    r = fixed_trait(seg, "churn_propensity")
    m = 0.8 * scenario.economics.gross_margin * fixed_trait(seg, "revenue")
    d = (1.0 + scenario.economics.annual_discount_rate) ** (1.0 / 12.0) - 1.0
    s = 1.0 - r
    expected = m * s / (1.0 + d - s)
    values = [EngagementModel(scenario, _PriceCut(), rng=seed).run().summary()["ltv_lifetime_mean"]
              for seed in range(8)]
    se = float(np.std(values, ddof=1)) / math.sqrt(len(values))
    assert abs(np.mean(values) - expected) < 4 * se
    assert abs(np.mean(values) - expected / 0.8) > 20 * se  # the full price is far off


def test_lifetime_value_of_customers_who_never_leave_undiscounted_is_undefined():
    """No churn and no discount: Σ_k v^k Q^k diverges, so lifetime values are null, not a crash."""
    scenario = load_scenario("constant_churn", overrides={
        "time.months": 6, "population.customers": 300,
        "segments.everyone.churn_propensity": {"dist": "fixed", "value": 0.0},
        "economics.annual_discount_rate": 0.0,
    })
    summary = EngagementModel(scenario, "none", rng=0).run().summary()
    assert math.isnan(summary["ltv_lifetime_mean"])
    assert math.isnan(summary["profit_lifetime_per_customer"])
    assert summary["ltv_mean"] > 0  # within the horizon it is defined
    # the shipped Bass toy is such a scenario (adopters stay, no discount): it used to crash
    bass = EngagementModel("bass", "none", rng=0, customers=500, months=12).run().summary()
    assert math.isnan(bass["ltv_lifetime_mean"]) and bass["ltv_mean"] > 0
