"""Programs aimed at outcomes (``targets``) and their cost models (sim.engine.targets).

Domain: a loyalty program aimed at churn lowers churn and costs exactly what its cost
models say; referral, price and conversion targets act where they should. Paired seeds
(common random numbers) and 4-SE tolerances; the price discount and the costs are exact.
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from pathlib import Path

import numpy as np
import pytest

from sim.engine.model import EngagementModel
from sim.engine.policies import Engagement, PolicySpec, ProgramPolicy, check_engagement
from sim.engine.scenario import from_dict
from sim.engine.view import PolicyView
from sim.schema import InputError

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "loyalty_example.toml"
SEEDS = range(8)
AGENTS = 3000


@pytest.fixture(scope="module")
def raw() -> dict:
    """The loyalty example scenario as a raw table."""
    with open(EXAMPLE, "rb") as f:
        return tomllib.load(f)


def _scenario(raw: dict, points: dict | None = None, **overrides):
    """The example with the ``points`` program's table replaced by ``points``."""
    data = copy.deepcopy(raw)
    if points is not None:
        data["policies"]["loyalty"]["programs"]["points"] = points
    return from_dict(data, "loyalty_example.toml", overrides=overrides or None)


def _points(**keys) -> dict:
    base = {"channel": "digital", "stages": ["adoption", "growth", "loyal", "advocate"],
            "touches_per_month": 2.0}
    base.update(keys)
    return base


def _paired(scenario, with_policy, without_policy, metric, months=12):
    """Paired differences ``metric(with) − metric(without)`` over :data:`SEEDS`."""
    diffs = []
    for seed in SEEDS:
        runs = [EngagementModel(scenario, p, rng=seed, agents=AGENTS, months=months).run()
                for p in (with_policy, without_policy)]
        diffs.append(metric(runs[0]) - metric(runs[1]))
    diffs = np.array(diffs, dtype=float)
    return diffs.mean(), diffs.std(ddof=1) / np.sqrt(diffs.size)


def test_loyalty_aimed_at_churn_lowers_churn(raw):
    scenario = _scenario(raw, _points(targets={"churn": -0.8}))
    mean, se = _paired(scenario, "loyalty", "knockout:loyalty/points",
                       lambda m: m.summary()["churned"])
    assert mean + 4 * se < 0, (mean, se)


def test_loyalty_costs_what_its_cost_models_say(raw):
    points = _points(targets={"churn": -0.8, "referral": 1.0}, cost_per_enrolled_month=2.0,
                     cost_per_reward=25.0, rewards_per_month=0.1, cost_per_referral=40.0,
                     build_cost=60000.0, amortise_months=6)
    scenario = _scenario(raw, points)
    spec = scenario.policies["loyalty"]
    only = dataclasses.replace(spec, fixed_cost_per_month=0.0, programs=(
        next(p for p in spec.programs if p.name == "points"),))
    model = EngagementModel(scenario, ProgramPolicy(only), rng=3, agents=AGENTS, months=12)
    stages = np.isin(np.arange(len(scenario.lifecycle.stages)),
                     [scenario.lifecycle.index(s) for s in points["stages"]])
    touch = setup = 0.0
    for step in range(1, 13):
        enrolled = stages[model.stage]
        referrals_before = model.referrals.copy()
        model.step()
        credited = (model.referrals - referrals_before)[enrolled].sum()
        expected_touch = enrolled.sum() * (2.0 + 25.0 * 0.1) + 40.0 * credited
        expected_setup = 60000.0 / 6 / model.weight if step <= 6 else 0.0
        assert model.metrics["cost_touch"] == pytest.approx(expected_touch, rel=1e-12)
        assert model.metrics["cost_setup"] == pytest.approx(expected_setup, rel=1e-12, abs=0)
        assert model.metrics["cost_fixed"] == 0.0
        touch += expected_touch
        setup += expected_setup
    summary = model.summary()  # the company's totals: the sample's × weight
    assert summary["cost_touch_total"] == pytest.approx(touch * model.weight, rel=1e-12)
    assert summary["cost_setup_total"] == pytest.approx(60000.0, rel=1e-12)
    assert model.referrals.sum() > 0  # the referral cost was exercised


def test_referral_target_raises_referrals(raw):
    scenario = _scenario(raw, _points(targets={"referral": 2.0}))
    mean, se = _paired(scenario, "loyalty", "knockout:loyalty/points",
                       lambda m: m.summary()["referrals"])
    assert mean - 4 * se > 0, (mean, se)


def test_price_discount_lowers_revenue_by_the_discount_on_the_enrolled(raw):
    scenario = _scenario(raw, _points(targets={"price": 0.2}))
    enrolled_stages = [scenario.lifecycle.index(s) for s in ("adoption", "growth", "loyal",
                                                             "advocate")]
    runs = [EngagementModel(scenario, p, rng=5, agents=AGENTS, months=12)
            for p in ("loyalty", "knockout:loyalty/points")]
    for _ in range(12):
        enrolled = np.isin(runs[1].stage, enrolled_stages)
        before = [m.revenue_cum.copy() for m in runs]
        for m in runs:
            m.step()
        booked = [m.revenue_cum - b for m, b in zip(runs, before, strict=True)]
        np.testing.assert_array_equal(runs[0].stage, runs[1].stage)  # nothing else moved
        np.testing.assert_allclose(booked[0], np.where(enrolled, 0.8, 1.0) * booked[1],
                                   rtol=1e-12)
    assert runs[0].revenue_cum.sum() < runs[1].revenue_cum.sum()


def test_conversion_target_raises_that_edges_conversion(raw):
    points = {"channel": "digital", "stages": ["consideration"], "touches_per_month": 2.0,
              "targets": {"conversion": {"consideration->purchase": 1.0}}}
    scenario = _scenario(raw, points)
    source = scenario.lifecycle.index("consideration")
    target = scenario.lifecycle.index("purchase")
    mean, se = _paired(scenario, "loyalty", "knockout:loyalty/points",
                       lambda m: m.flow_count[:, source, target].sum())
    assert mean - 4 * se > 0, (mean, se)


def test_programs_without_targets_feed_the_pooled_touch_response(raw):
    """A program without ``targets`` carries no per-target effects (today's model)."""
    scenario = _scenario(raw)
    model = EngagementModel(scenario, "no_touch", rng=1, agents=500, months=2)
    model.step()
    engaged = model.policy.engage(PolicyView(model, np.random.default_rng(0)))
    assert engaged.targets == {} and engaged.referral_cost is None
    assert engaged.response.max() > 0


def test_a_plan_carries_its_policies_targets(raw):
    scenario = _scenario(raw, _points(targets={"churn": -0.8, "referral": 1.0},
                                      cost_per_referral=10.0))
    plan = "plan:" + ",".join(f"{s.name}=loyalty" for s in scenario.segments)
    runs = [EngagementModel(scenario, p, rng=2, agents=1000, months=12).run()
            for p in (plan, "loyalty")]
    np.testing.assert_array_equal(runs[0].stage, runs[1].stage)
    np.testing.assert_array_equal(runs[0].referrals, runs[1].referrals)
    np.testing.assert_allclose(runs[0].cost_cum, runs[1].cost_cum, rtol=1e-9)


@pytest.mark.parametrize(
    ("points", "key", "words"),
    [
        (_points(targets={"churnn": -0.5}), "targets.churnn", "did you mean 'churn'"),
        (_points(targets={"conversion": {"aware->purchase": 1.0}}),
         "targets.conversion.aware->purchase", "no edge"),
        (_points(targets={"price": 1.5}), "targets.price", "[0, 1]"),
        (_points(targets={"churn": -0.5}, cost_per_enrolled_month=-1.0),
         "cost_per_enrolled_month", ""),
        (_points(targets={"churn": -0.5}, amortise_months=12), "amortise_months", "build_cost"),
        (_points(effect=0.1, saturation=2.0), "saturation", "targets"),
    ],
)
def test_bad_targets_and_costs_are_input_errors_naming_the_key(raw, points, key, words):
    with pytest.raises(InputError) as err:
        _scenario(raw, points)
    message = str(err.value)
    assert f"policies.loyalty.programs.points.{key}" in message, message
    assert words in message, message


def test_check_engagement_refuses_bad_target_arrays():
    class Custom(ProgramPolicy):
        pass

    policy = Custom(PolicySpec("custom", "", 0.0, {}, ()))
    good = Engagement.none(3)
    good.targets = {"churn": np.zeros(3)}
    assert check_engagement(policy, good, 3) is good
    for bad in ({"chrun": np.zeros(3)}, {"churn": np.zeros(2)}, {"churn": np.full(3, np.nan)}):
        engaged = Engagement.none(3)
        engaged.targets = bad
        with pytest.raises(InputError):
            check_engagement(policy, engaged, 3)
