"""The live page's levers: multipliers of the scenario's own values."""

import math

import pytest

from sim.engine.knockout import knockout_name
from sim.engine.model import EngagementModel
from sim.engine.scenario import load_scenario
from sim.engine.tactics_library import load_library
from sim.explore.levers import (
    NO_TACTIC,
    Levers,
    apply,
    available_tactics,
    describe,
    overrides,
    parse_controls,
    program_key,
    tactic_key,
)


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


# -- switching programs off and library tactics on ----------------------------------


@pytest.fixture(scope="module")
def tactics():
    return load_scenario("tactics_example")


def numbers(summary: dict) -> dict:
    """A run's summary without the policy's name (a knockout's name says what it lacks)."""
    return {k: v for k, v in summary.items() if k != "policy"}


@pytest.mark.parametrize(
    ("policy", "program"),
    [("hybrid", "escalation"), ("high_touch", "check_ins"), ("low_touch", "webinars"),
     ("tactics_mix", "loyalty_points"), ("tactics_mix", "health_escalation"),
     ("tactics_mix", "*")],
)
def test_a_program_switched_off_runs_as_its_knockout(tactics, policy, program):
    """Same seed, same numbers: the switch removes a program by the knockout rule."""
    every = {p.name for p in tactics.policies[policy].programs}
    off = Levers(programs_off={policy: frozenset(every if program == "*" else {program})})
    size = {"rng": 3, "customers": 4000, "months": 6}
    switched = EngagementModel(apply(tactics, off), policy, **size).run().summary()
    knocked = EngagementModel(tactics, knockout_name(policy, program), **size).run().summary()
    whole = EngagementModel(tactics, policy, **size).run().summary()
    assert numbers(switched) == numbers(knocked)
    assert numbers(switched) != numbers(whole)  # the switch did something
    assert switched["cost_total"] < whole["cost_total"]


def test_every_program_on_is_no_lever(tactics):
    controls = {program_key(name, p.name): True
                for name, spec in tactics.policies.items() for p in spec.programs}
    controls |= {tactic_key(name): NO_TACTIC for name in tactics.policies}
    levers = Levers(**parse_controls(controls))
    assert levers == Levers()
    assert overrides(tactics, levers) == {}
    assert apply(tactics, levers) is tactics


def test_controls_become_switches():
    parsed = parse_controls({"weight_smb": 2.0, program_key("hybrid", "escalation"): False,
                             program_key("hybrid", "automated"): True,
                             tactic_key("hybrid"): "gamification",
                             tactic_key("no_touch"): NO_TACTIC})
    assert parsed == {"segment_weights": {"smb": 2.0},
                      "programs_off": {"hybrid": frozenset({"escalation"})},
                      "tactics_on": {"hybrid": ("gamification",)}}
    with pytest.raises(TypeError, match="colour"):
        parse_controls({"colour": "red"})


def test_switched_off_stays_off_when_the_scenario_is_overridden(scenario):
    off = apply(scenario, Levers(programs_off={"hybrid": frozenset({"escalation"})}))
    assert off.digest != scenario.digest
    again = off.with_overrides({"time.months": 3})
    assert "escalation" not in [p.name for p in again.policies["hybrid"].programs]
    assert again.time.months == 3


def test_a_library_tactic_is_added_and_the_levers_reach_it(scenario):
    body = load_library()["gamification"].body
    added = apply(scenario, Levers(tactics_on={"hybrid": ("gamification",)}))
    program = {p.name: p for p in added.policies["hybrid"].programs}["gamification"]
    assert program.touches_per_month == body["touches_per_month"]
    assert [p.name for p in added.policies["no_touch"].programs] == ["automated"]
    faster = apply(scenario, Levers(tactics_on={"hybrid": ("gamification",)}, cadence_scale=2))
    program = {p.name: p for p in faster.policies["hybrid"].programs}["gamification"]
    assert program.touches_per_month == 2 * body["touches_per_month"]


def test_cadence_and_escalation_reach_programs_composed_from_the_library(tactics):
    """tactics_mix writes out one of its four tactics; the levers scale all four."""
    changed = apply(tactics, Levers(cadence_scale=2, escalation_scale=0.5))
    for old, new in zip(tactics.policies["tactics_mix"].programs,
                        changed.policies["tactics_mix"].programs, strict=True):
        assert new.touches_per_month == pytest.approx(2 * old.touches_per_month)
        if old.health_below is not None:
            assert new.health_below == pytest.approx(0.5 * old.health_below)
    assert any(p.health_below for p in changed.policies["tactics_mix"].programs)


def test_available_tactics_are_those_a_policy_lacks(tactics):
    assert "loyalty_points" not in available_tactics(tactics, "tactics_mix")
    assert "loyalty_points" in available_tactics(tactics, "hybrid")
    assert "community" in available_tactics(tactics, "hybrid")  # a small-world network
    mixed = tactics.with_overrides({"network.kind": "mixed"})
    assert "community" not in available_tactics(mixed, "hybrid")


@pytest.mark.parametrize(
    ("levers", "message"),
    [
        (Levers(tactics_on={"tactics_mix": ("loyalty_points",)}), "cannot add tactic"),
        (Levers(tactics_on={"hybrid": ("loyalty_point",)}), "did you mean 'loyalty_points'"),
        (Levers(tactics_on={"hybird": ("gamification",)}), "no policy named 'hybird'"),
        (Levers(programs_off={"hybrid": frozenset({"escalaton"})}), "no program named"),
    ],
)
def test_bad_switches_are_refused(tactics, levers, message):
    with pytest.raises(ValueError, match=message):
        apply(tactics, levers)


def test_describe_shows_programs_on_and_off_and_where_tactics_come_from(tactics):
    levers = Levers(programs_off={"tactics_mix": frozenset({"loyalty_points"})},
                    tactics_on={"tactics_mix": ("gamification",)})
    lines = describe(apply(tactics, levers), "tactics_mix", levers)
    assert lines[0] == ("programs on: nurture_emails, chatbot_self_service, "
                        "health_escalation, gamification")
    assert "switched off: loyalty_points" in lines
    assert "added from the tactics library: gamification" in lines
    source = load_library()["nurture_emails"].source
    assert any(line.startswith("nurture_emails:") and "effect 0.03 to 0.15" in line
               and source in line for line in lines)
    assert describe(tactics, "hybrid")[0].startswith("programs on: automated, ")
