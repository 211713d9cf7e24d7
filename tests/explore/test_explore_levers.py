"""The live page's levers: multipliers of the scenario's own values."""

import math

import pytest

from sim.engine.model import EngagementModel
from sim.engine.scenario import load_scenario
from sim.explore.levers import Levers, apply, describe, overrides


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("default")


def test_neutral_levers_change_nothing(scenario):
    assert overrides(scenario, Levers()) == {}
    assert apply(scenario, Levers()) is scenario
    same_mix = {s.name: 3 * s.share for s in scenario.segments}  # weights, not shares
    assert overrides(scenario, Levers(segment_weights=same_mix)) == {}


def test_book_cadence_and_escalation_scale_every_policy(scenario):
    changed = apply(scenario, Levers(book_scale=2, cadence_scale=0.5, escalation_scale=1.5))
    for name, policy in scenario.policies.items():
        new = changed.policies[name]
        for team, spec in policy.teams.items():
            assert new.teams[team].accounts_per_csm == 2 * spec.accounts_per_csm
        for old, program in zip(policy.programs, new.programs, strict=True):
            assert program.touches_per_month == pytest.approx(0.5 * old.touches_per_month)
            if old.health_below is None:
                assert program.health_below is None
            else:
                assert program.health_below == pytest.approx(min(1, 1.5 * old.health_below))


def test_thresholds_and_referral_are_clipped_to_probabilities(scenario):
    changed = apply(scenario, Levers(escalation_scale=2.5, referral_scale=4))
    thresholds = [p.health_below for s in changed.policies.values() for p in s.programs]
    assert max(t for t in thresholds if t is not None) == 1.0
    assert [e.referral for e in changed.lifecycle.edges if e.referral] == [1.0, 0.8]


def test_marketing_spend_scales_cost_and_the_awareness_hazard(scenario):
    m = scenario.marketing
    changed = apply(scenario, Levers(marketing_scale=2)).marketing
    assert changed.cost_per_prospect_month == 2 * m.cost_per_prospect_month
    # twice the spend, twice the hazard: surviving unaware for a month is squared
    assert 1 - changed.awareness_rate == pytest.approx((1 - m.awareness_rate) ** 2)
    off = apply(scenario, Levers(marketing_scale=0)).marketing
    assert off.awareness_rate == 0 and off.cost_per_prospect_month == 0


def test_segment_weights_are_normalised(scenario):
    changed = apply(scenario, Levers(segment_weights={"enterprise": 1, "smb": 0}))
    shares = {s.name: s.share for s in changed.segments}
    assert math.fsum(shares.values()) == pytest.approx(1)
    assert shares["smb"] == 0
    assert shares["enterprise"] / shares["mid_market"] == pytest.approx(1 / 0.3)


@pytest.mark.parametrize(
    ("levers", "message"),
    [
        (Levers(book_scale=-1), "book_scale"),
        (Levers(segment_weights={"enterprise": 0, "mid_market": 0, "smb": 0}), "above 0"),
        (Levers(segment_weights={"whales": 1}), "no segment named whales"),
        (Levers(segment_weights={"smb": -1}), "≥ 0"),
    ],
)
def test_bad_levers_are_refused(scenario, levers, message):
    with pytest.raises(ValueError, match=message):
        overrides(scenario, levers)


def test_describe_lists_absolute_values(scenario):
    lines = describe(apply(scenario, Levers(book_scale=2)), "hybrid")
    assert "named team: 50 accounts per CSM" in lines
    assert "pooled team: 800 accounts per CSM" in lines
    assert any(line.startswith("escalation:") and "health < 0.35" in line for line in lines)


def test_a_larger_book_hires_fewer_csms(scenario):
    """Auto-sized teams hire ceil(accounts / book): doubling the book halves the team."""
    small = EngagementModel(scenario, "high_touch", rng=1, customers=2000, months=3).run()
    big = EngagementModel(
        apply(scenario, Levers(book_scale=2)), "high_touch", rng=1, customers=2000, months=3
    ).run()
    ratio = big.summary()["csm_headcount_mean"] / small.summary()["csm_headcount_mean"]
    assert 0.45 < ratio < 0.56
