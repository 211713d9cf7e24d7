"""Directional checks the domain demands, on the default scenario (paired by seed)."""

import numpy as np
import pytest

from sim import EngagementModel, load_scenario

SEEDS = range(6)


def paired(metric, a_policy, b_policy, customers=5000, months=24, overrides=None):
    """Per-seed differences a − b of ``metric(summary)`` (common random numbers)."""
    diffs = []
    for seed in SEEDS:
        a = EngagementModel("default", a_policy, rng=seed, customers=customers, months=months)
        b = EngagementModel("default", b_policy, rng=seed, customers=customers, months=months)
        diffs.append(metric(a.run().summary()) - metric(b.run().summary()))
    diffs = np.array(diffs)
    return diffs.mean(), diffs.std(ddof=1) / np.sqrt(diffs.size)


def enterprise(key, sub=None):
    def get(summary):
        value = summary["segments"]["enterprise"][key]
        return value[sub] if sub else value

    return get


def test_high_touch_retains_enterprise_better_than_no_touch():
    mean, se = paired(enterprise("retention", "12"), "high_touch", "no_touch")
    assert mean - 4 * se > 0, (mean, se)


def test_high_touch_costs_more_per_customer():
    mean, se = paired(lambda s: s["cost_per_customer"], "high_touch", "no_touch")
    assert mean - 4 * se > 0, (mean, se)
    mean, se = paired(enterprise("cost_per_customer"), "high_touch", "no_touch")
    assert mean - 4 * se > 0, (mean, se)


def test_over_touching_self_serve_customers_does_not_pay():
    def smb_profit(summary):
        return summary["segments"]["smb"]["profit_per_customer"]

    mean, se = paired(smb_profit, "high_touch", "no_touch")
    assert mean + 4 * se < 0, (mean, se)


def test_word_of_mouth_speeds_up_awareness():
    def aware_share(model):
        ts = model.timeseries()
        return 1 - ts["unaware"].iloc[-1] / model.n

    with_wom, without = [], []
    for seed in range(4):
        on = EngagementModel("default", "no_touch", rng=seed, customers=4000, months=18).run()
        off = EngagementModel(
            on.spec.with_overrides({"network.kind": "none"}), "no_touch", rng=seed
        ).run()
        with_wom.append(aware_share(on))
        without.append(aware_share(off))
        assert on.summary()["referrals"] > 0
        assert off.summary()["referrals"] == 0
    diff = np.array(with_wom) - np.array(without)
    assert diff.mean() - 4 * diff.std(ddof=1) / 2 > 0


@pytest.mark.parametrize("policy", ["no_touch", "low_touch", "high_touch", "hybrid"])
def test_weekly_steps_agree_with_monthly_steps(policy):
    """Rates are rescaled, so an installed base keeps the same monthly retention.

    (Stages customers leave within days, like ``purchase``, cannot last less than one
    step, so runs that start from prospects differ by step length: see README.)
    """
    overrides = {"population.initial_stages": {"adoption": 0.6, "growth": 0.4}}
    results = {}
    for step in ("month", "week"):
        scenario = load_scenario("default", overrides={**overrides, "time.step": step})
        model = EngagementModel(scenario, policy, rng=4, customers=8000, months=12).run()
        results[step] = model.summary()
    assert results["week"]["months"] == 12
    a, b = results["month"], results["week"]
    for m in ("3", "6", "12"):
        p = a["retention"][m]
        se_diff = np.sqrt(2 * p * (1 - p) / a["converted"])
        assert abs(a["retention"][m] - b["retention"][m]) < 4 * se_diff, m
    assert b["revenue_total"] == pytest.approx(a["revenue_total"], rel=0.02)
