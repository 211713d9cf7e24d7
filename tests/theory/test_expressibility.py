"""What a Markov chain over stages cannot express (sim.theory.expressibility): every
obstacle is named by key path, inert features are accepted, and ``analyse`` refuses with
the same list."""

from __future__ import annotations

import pytest

from sim import Policy, load_scenario
from sim.theory.expressibility import NotMarkovian, markov_obstacles
from sim.theory.markov import analyse

POLICIES = ("no_touch", "low_touch", "high_touch", "hybrid")


def test_markov_saas_is_a_valid_expressible_scenario():
    scenario = load_scenario("markov_saas")
    assert set(POLICIES) <= set(scenario.policies)
    for policy in POLICIES:
        assert markov_obstacles(scenario, policy) == [], policy


def test_obstacles_name_every_inexpressible_feature_of_default():
    scenario = load_scenario("default")
    reasons = markov_obstacles(scenario, "hybrid")
    text = "\n".join(reasons)
    expected = [
        # word of mouth on a small-world network
        "lifecycle.edges[0].referral", "lifecycle.edges[3].referral", "small_world",
        # state drivers
        "lifecycle.edges[6].drivers.onboarding", "lifecycle.edges[7].drivers.satisfaction",
        "lifecycle.edges[8].drivers.engagement", "lifecycle.edges[10].drivers.months_in_stage",
        # escalation on the observed health score
        "policies.hybrid.programs.escalation.health_below",
        # CSM capacity that may bind (named book 25 × 8 h, pooled book 400 × 3.5 h)
        "policies.hybrid.teams.named", "policies.hybrid.teams.pooled",
        # Beta traits
        "segments.enterprise.churn_propensity: a beta distribution",
        "segments.smb.responsiveness: a beta distribution",
        "segments.mid_market.human_preference: a beta distribution",
        "segments.smb.digital_affinity: a beta distribution",
        "segments.enterprise.revenue: a lognormal distribution",
        # expansion with engagement
        "economics.expansion_rate",
    ]
    for item in expected:
        assert item in text, item
    assert not any("complexity" in r for r in reasons)  # moves the dynamics only
    with pytest.raises(NotMarkovian) as info:
        analyse(scenario, "hybrid")
    assert info.value.reasons == reasons
    assert "policies.hybrid.programs.escalation.health_below" in str(info.value)
    low = "\n".join(markov_obstacles(scenario, "low_touch"))
    assert "policies.low_touch.programs.help_on_request.health_below" in low


def test_obstacles_name_binding_capacity_and_escalation():
    scenario = load_scenario("markov_saas")
    bigger_book = scenario.with_overrides({"policies.high_touch.teams.named.accounts_per_csm": 40})
    (reason,) = markov_obstacles(bigger_book, "high_touch")
    assert reason.startswith("policies.high_touch.teams.named: CSM capacity may bind")
    # fixed headcount: provably enough for the population, or not
    enough = scenario.with_overrides({"policies.low_touch.teams.pooled.headcount": 40})
    assert markov_obstacles(enough, "low_touch") == []  # 10,000 × 0.45 h ≤ 40 × 120 h
    short = scenario.with_overrides({"policies.low_touch.teams.pooled.headcount": 30})
    assert "policies.low_touch.teams.pooled" in markov_obstacles(short, "low_touch")[0]
    escalate = scenario.with_overrides({"policies.low_touch.programs.webinars.health_below": 0.4})
    (reason,) = markov_obstacles(escalate, "low_touch")
    assert reason.startswith("policies.low_touch.programs.webinars.health_below")
    wom = scenario.with_overrides({"network.kind": "mixed", "lifecycle.edges[0].referral": 0.3})
    assert markov_obstacles(wom, "no_touch")[0].startswith("lifecycle.edges[0].referral")

    class Custom(Policy):
        def engage(self, model):
            raise NotImplementedError

    assert "custom policy code" in markov_obstacles(scenario, Custom())[0]


def test_inert_features_are_accepted():
    # a Beta trait nothing depends on, and an escalation program with no effect
    scenario = load_scenario(
        "markov_saas",
        overrides={
            "segments.smb.complexity": {"dist": "beta", "alpha": 2.0, "beta": 6.0},
            "network.kind": "small_world",  # no edge has a referral strength
            "policies.low_touch.programs.webinars.health_below": 0.4,
            "policies.low_touch.programs.webinars.effect": 0.0,
        },
    )
    assert markov_obstacles(scenario, "low_touch") == []
    # with no touch-driven edge, any policy (escalation, tight teams) is irrelevant
    default_like = load_scenario("constant_churn")
    assert markov_obstacles(default_like, "email") == []


def test_a_program_aimed_at_outcomes_is_an_obstacle():
    scenario = load_scenario("loyalty_example")
    reasons = markov_obstacles(scenario, "loyalty")
    assert any(".programs." in r and ".targets: a program aimed at outcomes" in r
               for r in reasons), reasons
