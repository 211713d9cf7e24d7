"""Repeat purchases (B2C): orders × basket instead of a subscription (sim.engine.purchases).

Domain: in a repeat-purchase scenario a customer places Poisson(f · e · v / k) orders a
step of its own basket value. Checked against closed forms at 4 standard errors on a
toy installed base with constant churn and constant engagement (orders per customer-
month, average order value, the lifetime value ``m s / (1 + d − s)`` with
``m = margin · f · e · basket``); subscription runs are unchanged by targeted
invariants (the booked revenue is the contract formula; switching the revenue model
leaves every lifecycle draw as it was; no purchase keys); bad keys are InputErrors; the
shipped b2c_retail scenario runs under every policy.
"""

from __future__ import annotations

import copy
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from sim.engine import purchases
from sim.engine.model import EngagementModel
from sim.engine.results import lifetime
from sim.engine.scenario import from_dict, load_scenario
from sim.engine.segments import Distribution, Segment
from sim.schema import InputError

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
FREQUENCY = {"dist": "lognormal", "mean": 3.0, "sd": 1.5}
BASKET = {"dist": "lognormal", "mean": 40.0, "sd": 15.0}


@pytest.fixture(scope="module")
def constant_raw() -> dict:
    """The constant-churn toy (installed base, 5 %/month churn) as a raw table."""
    with open(SCENARIOS / "constant_churn.toml", "rb") as f:
        return tomllib.load(f)


def _repeat(raw: dict, **segment) -> dict:
    """The toy with repeat purchases: order_frequency and basket instead of revenue."""
    data = copy.deepcopy(raw)
    seg = data["segments"]["everyone"]
    seg.pop("revenue")
    seg.update({"order_frequency": FREQUENCY, "basket": BASKET, **segment})
    data["economics"]["revenue_model"] = "repeat_purchase"
    return data


def _run(raw: dict, policy: str = "none", seed: int = 0, customers: int = 20000,
         months: int | None = None) -> EngagementModel:
    scenario = from_dict(raw, "toy.toml", name="toy")
    return EngagementModel(scenario, policy, rng=seed, customers=customers, months=months).run()


@pytest.fixture(scope="module")
def toy(constant_raw) -> EngagementModel:
    """20,000 customers of the repeat-purchase toy over 24 months."""
    return _run(_repeat(constant_raw), seed=11)


# ----------------------------------------------------------------------------------
# closed forms


def test_engagement_is_constant_in_the_toy(toy):
    """The closed forms below hold e fixed: the settled installed base never moves."""
    live = toy.engagement[toy.active]
    assert np.ptp(live) == 0.0
    assert live[0] == pytest.approx(0.7)


def test_orders_per_customer_month_match_frequency_times_engagement(toy):
    """E[orders per customer-month] = E[f] · e (each customer's mean is f_i · e)."""
    buy = toy.purchases
    e = float(toy.engagement[toy.active][0])
    seen = buy.exposure > 0
    per_month = buy.orders[seen] / buy.exposure[seen]  # monthly steps
    se = per_month.std(ddof=1) / math.sqrt(per_month.size)
    # weighted by exposure in the summary; the unweighted mean is the closed form's
    assert abs(per_month.mean() - FREQUENCY["mean"] * e) < 4 * se
    total = toy.summary()["purchase_frequency"]
    assert total == pytest.approx(buy.orders.sum() / buy.exposure.sum())


def test_average_order_value_matches_the_mean_basket(toy):
    """AOV = Σ revenue / Σ orders → E[basket] (basket independent of frequency): 4 SE."""
    orders, revenue = toy.purchases.orders.astype(float), toy.revenue_cum
    aov = revenue.sum() / orders.sum()
    d = revenue - aov * orders  # delta method for a ratio of means
    se = d.std(ddof=1) / (math.sqrt(orders.size) * orders.mean())
    assert abs(aov - BASKET["mean"]) < 4 * se
    assert toy.summary()["aov"] == pytest.approx(aov)


def test_each_order_is_worth_its_customers_basket(toy):
    """No expansion, no discount: revenue_i = orders_i × basket_i exactly."""
    np.testing.assert_allclose(toy.revenue_cum, toy.purchases.orders * toy.traits["basket"])


def test_lifetime_value_matches_the_constant_churn_closed_form(toy):
    """LTV (horizon + continuation) = m s / (1 + d − s), m = margin · E[f] · e · E[b]."""
    spec = toy.spec.economics
    e = float(toy.engagement[toy.active][0])
    m = spec.gross_margin * FREQUENCY["mean"] * e * BASKET["mean"]
    s = 0.95
    d = (1.0 + spec.annual_discount_rate) ** (1.0 / 12.0) - 1.0
    expected = m * s / (1.0 + d - s)
    ltv = lifetime(toy).ltv
    se = ltv.std(ddof=1) / math.sqrt(ltv.size)
    assert abs(ltv.mean() - expected) < 4 * se
    assert toy.summary()["ltv_lifetime_mean"] == pytest.approx(ltv.mean())


def test_repeat_purchase_rate_is_buyers_with_two_orders(toy):
    """repeat_purchase_rate = buyers with ≥ 2 orders / buyers, and the columns add up."""
    summary, ts = toy.summary(), toy.timeseries()
    orders = toy.purchases.orders
    assert summary["repeat_purchase_rate"] == pytest.approx(
        np.count_nonzero(orders >= 2) / np.count_nonzero(orders))
    assert ts["orders"].sum() == orders.sum() == summary["orders"]
    assert ts["repeat_purchase_rate"].iloc[-1] == pytest.approx(summary["repeat_purchase_rate"])
    np.testing.assert_allclose(ts["aov"], ts["revenue"] / ts["orders"])
    assert summary["nrr_12"] is None and summary["grr_12"] is None
    assert "contract" in summary["revenue_retention_note"]


def test_programs_aimed_at_visits_raise_orders_by_their_factor(constant_raw):
    """A program with targets = {visits = x} multiplies λ by 1 + x·r; paired seeds."""
    raw = _repeat(constant_raw)
    raw["policies"]["push"] = {"programs": {"push": {
        "channel": "digital", "touches_per_month": 1e6, "targets": {"visits": 0.5},
    }}}  # r = 1 − e^(−huge) = 1: λ × 1.5 exactly
    base, push = _run(raw, "none", seed=4, customers=5000), _run(raw, "push", seed=4,
                                                                customers=5000)
    np.testing.assert_array_equal(base.churn_step, push.churn_step)  # visits move no hazard
    ratio = push.purchases.orders.sum() / base.purchases.orders.sum()
    # both sums are Poisson given the rates; the ratio's SE by the delta method
    se = 1.5 * math.sqrt(1 / push.purchases.orders.sum() + 1 / base.purchases.orders.sum())
    assert abs(ratio - 1.5) < 4 * se


def test_first_order_is_booked_at_conversion():
    """A prospect converts by ordering: one order of its basket in the step it converts."""
    model = EngagementModel("b2c_retail", "no_touch", rng=2, customers=2000, months=6).run()
    new = model.converted_step > 0
    assert new.any()
    assert (model.purchases.orders[new] >= 1).all()
    first_step_only = new & (model.converted_step == model.steps)
    assert first_step_only.any()
    np.testing.assert_allclose(model.revenue_cum[first_step_only],
                               model.traits["basket"][first_step_only])


# ----------------------------------------------------------------------------------
# subscription runs unchanged, random streams


def test_subscription_books_the_contract(constant_raw):
    """A subscription run books revenue / month of every customer all step, no purchases."""
    model = _run(constant_raw, customers=3000, months=6)
    assert model.purchases is None
    ts = model.timeseries()
    counts = ts["active"].to_numpy()
    payers = np.minimum(np.r_[3000, counts[:-1]], counts)  # no entries: active ⊂ before
    np.testing.assert_allclose(ts["revenue"], 100.0 * payers)
    summary = model.summary()
    assert not set(summary) & {"orders", "aov", "revenue_model", "revenue_retention_note"}
    assert not set(ts.columns) & set(purchases.PURCHASE_COLUMNS)
    assert "orders" not in model.customers_frame().columns


def test_purchases_draw_from_their_own_stream(constant_raw):
    """Switching the revenue model leaves every lifecycle draw as it was.

    The purchase traits and orders come from a stream spawned after the policy's, so
    the run's own stream (traits, stages, moves, visits, health) is untouched.
    """
    sub = _run(constant_raw, seed=9, customers=3000, months=12)
    rep = _run(_repeat(constant_raw), seed=9, customers=3000, months=12)
    np.testing.assert_array_equal(sub.churn_step, rep.churn_step)
    np.testing.assert_array_equal(sub.visits, rep.visits)
    np.testing.assert_array_equal(sub.health, rep.health)
    np.testing.assert_array_equal(sub.traits["churn_propensity"], rep.traits["churn_propensity"])


def test_policies_share_the_purchase_stream(constant_raw):
    """Common random numbers: two policies consume the same purchase uniforms."""
    raw = _repeat(constant_raw)
    a, b = _run(raw, "none", seed=3, customers=2000, months=6), _run(
        raw, "email", seed=3, customers=2000, months=6)
    assert a.purchases.rng.random() == b.purchases.rng.random()
    np.testing.assert_array_equal(a.traits["basket"], b.traits["basket"])


def test_spend_potential_is_the_revenue_trait(toy):
    """monthly_revenue / the revenue trait of a shopper = order_frequency × basket."""
    np.testing.assert_allclose(
        toy.traits["revenue"], toy.traits["order_frequency"] * toy.traits["basket"])


def test_sampling_uses_each_segments_distributions():
    """sample_purchase_traits draws per segment and clips at 0."""
    segs = tuple(
        Segment(name, 0.5, 0.0, {}, {"order_frequency": Distribution("fixed", (f,)),
                                     "basket": Distribution("normal", (10.0, 50.0))})
        for name, f in (("a", 1.0), ("b", 4.0))
    )
    segment = np.array([0, 1, 1, 0, 1], dtype=np.int8)
    out = purchases.sample_purchase_traits(np.random.default_rng(0), segs, segment)
    np.testing.assert_array_equal(out["order_frequency"], [1.0, 4.0, 4.0, 1.0, 4.0])
    assert (out["basket"] >= 0).all()


# ----------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (lambda d: d["economics"].update(revenue_model="retail"), "economics.revenue_model",
         "repeat_purchase"),
        (lambda d: d["segments"]["everyone"].update(revenue={"dist": "fixed", "value": 1.0}),
         "segments.everyone.revenue", "order_frequency"),
        (lambda d: d["segments"]["everyone"].update(acv={"dist": "fixed", "value": 12.0}),
         "segments.everyone.acv", "basket"),
        (lambda d: d["segments"]["everyone"].pop("basket"), "segments.everyone.basket",
         "missing"),
        (lambda d: d["segments"]["everyone"].update(
            basket={"dist": "lognormal", "mean": math.nan, "sd": 1.0}),
         "segments.everyone.basket.mean", "nan"),
        (lambda d: d["segments"]["everyone"].update(
            order_frequency={"dist": "lognormal", "mean": -2.0, "sd": 1.0}),
         "segments.everyone.order_frequency.mean", "positive"),
        (lambda d: d["segments"]["everyone"].update(
            order_frequency={"dist": "normal", "mean": math.inf, "sd": 1.0}),
         "segments.everyone.order_frequency.mean", "inf"),
    ],
)
def test_bad_repeat_purchase_keys_are_input_errors(constant_raw, change, key, words):
    """Each mistake names the file, the key and what was expected."""
    data = _repeat(constant_raw)
    change(data)
    with pytest.raises(InputError) as err:
        from_dict(data, "toy.toml")
    assert err.value.file == "toy.toml"
    assert err.value.key == key
    assert words in str(err.value)


def test_purchase_traits_need_the_repeat_purchase_model(constant_raw):
    """order_frequency in a subscription scenario says which key to set."""
    data = copy.deepcopy(constant_raw)
    data["segments"]["everyone"]["order_frequency"] = FREQUENCY
    with pytest.raises(InputError, match="revenue_model") as err:
        from_dict(data, "toy.toml")
    assert err.value.key == "segments.everyone.order_frequency"


# ----------------------------------------------------------------------------------
# the shipped scenario


@pytest.mark.parametrize("policy", list(load_scenario("b2c_retail").policies))
def test_b2c_retail_runs_every_policy(policy):
    """Every policy of b2c_retail runs and reports its purchase metrics."""
    model = EngagementModel("b2c_retail", policy, rng=1, customers=1500, months=13).run()
    summary = model.summary(1)
    assert summary["revenue_model"] == "repeat_purchase"
    assert summary["orders"] > 0
    assert 10.0 < summary["aov"] < 60.0  # the segments' baskets are ≈ 28–35
    assert 0.0 < summary["repeat_purchase_rate"] <= 1.0
    assert summary["nrr_12"] is None
    assert summary["revenue_total"] == pytest.approx(model.revenue_cum.sum())
    for seg in summary["segments"].values():
        assert {"orders", "aov", "purchase_frequency"} <= set(seg)
    assert set(purchases.PURCHASE_COLUMNS) <= set(model.timeseries().columns)


def test_the_markov_chain_refuses_repeat_purchases(constant_raw):
    """engagesim analytic cannot value orders × basket: it says so instead of pricing 0."""
    from sim.theory.expressibility import markov_obstacles

    assert markov_obstacles(from_dict(constant_raw, "toy.toml"), "none") == []
    reasons = markov_obstacles(from_dict(_repeat(constant_raw, order_frequency={
        "dist": "fixed", "value": 2.0}, basket={"dist": "fixed", "value": 30.0}),
        "toy.toml"), "none")
    assert len(reasons) == 1 and reasons[0].startswith("economics.revenue_model")


def test_a_price_discount_is_booked_and_carried_into_the_lifetime(constant_raw):
    """targets = {price = 0.1}: every order books 90 % of its basket, and the value
    beyond the horizon is the discounted expected spend λ · b · 0.9."""
    raw = _repeat(constant_raw)
    raw["policies"]["coupon"] = {"programs": {"coupon": {
        "channel": "digital", "touches_per_month": 1.0, "targets": {"price": 0.1},
    }}}
    model = _run(raw, "coupon", seed=6, customers=3000, months=6)
    np.testing.assert_allclose(model.revenue_cum,
                               0.9 * model.purchases.orders * model.traits["basket"])
    live = model.active
    e = model.engagement[live]
    np.testing.assert_allclose(
        model.purchases.expected_spend()[live],
        0.9 * model.traits["order_frequency"][live] * e * model.traits["basket"][live])


def test_weekly_steps_keep_the_monthly_frequency(constant_raw):
    """Weekly steps draw λ/k a step: orders per customer-month still E[f] · e (4 SE)."""
    raw = _repeat(constant_raw)
    raw["time"]["step"] = "week"
    model = _run(raw, seed=8, customers=5000, months=12)
    buy, k = model.purchases, model.steps_per_month
    e = float(model.engagement[model.active][0])
    seen = buy.exposure > 0
    per_month = buy.orders[seen] / buy.exposure[seen] * k
    se = per_month.std(ddof=1) / math.sqrt(per_month.size)
    assert abs(per_month.mean() - FREQUENCY["mean"] * e) < 4 * se
