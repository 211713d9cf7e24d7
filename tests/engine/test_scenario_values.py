"""Every bad value in a scenario gives one clear error naming file, key and expectation.

Values are set through dotted-key overrides of ``scenarios/default.toml`` (and through the
model's own arguments); see ``scenario_cases.check`` for what every message must hold.
"""

from __future__ import annotations

import pytest
from scenario_cases import check

from sim import EngagementModel, InputError, load_scenario
from sim.engine.model import make_policy

# ----------------------------------------------------------------------------------
# values, through dotted-key overrides (the file is scenarios/default.toml)

OVERRIDE_CASES = [
    # unknown keys, with a suggestion
    (
        {"segments.smb.churn_propensty": {"dist": "fixed", "value": 0.02}},
        "segments.smb.churn_propensty",
        ["unknown key", "did you mean 'churn_propensity'?"],
    ),
    ({"economcs": {}}, "economcs", ["unknown key", "did you mean 'economics'?"]),
    ({"time.steps": "week"}, "time.steps", ["unknown key", "did you mean 'step'?"]),
    (
        {"policies.hybrid.programs.automated.efect": 0.1},
        "policies.hybrid.programs.automated.efect",
        ["unknown key", "did you mean 'effect'?"],
    ),
    (
        {"policies.hybrid.fixed_cost": 1.0},
        "policies.hybrid.fixed_cost",
        ["unknown key", "did you mean 'fixed_cost_per_month'?"],
    ),
    (
        {"teams.named.anual_cost": 1.0},
        "teams.named.anual_cost",
        ["unknown key", "did you mean 'annual_cost'?"],
    ),
    (
        {"network.degre": 4},
        "network.degre",
        ["unknown key", "did you mean 'degree'?"],
    ),
    (
        {"lifecycle.stages.aware.kindd": "prospect"},
        "lifecycle.stages.aware.kindd",
        ["unknown key", "did you mean 'kind'?"],
    ),
    (
        {"segments.smb.acv.sdd": 1.0},
        "segments.smb.acv.sdd",
        ["unknown key", "did you mean 'sd'?"],
    ),
    # wrong types: a string where a number is expected, and friends
    (
        {"segments.smb.share": "0.6"},
        "segments.smb.share",
        ["expected a share in [0, 1]", "got a string '0.6'"],
    ),
    (
        {"segments.smb.acquisition_cost": "600"},
        "segments.smb.acquisition_cost",
        ["expected a non-negative cost", "got a string '600'"],
    ),
    (
        {"policies.hybrid.programs.automated.touches_per_month": "6"},
        "policies.hybrid.programs.automated.touches_per_month",
        ["expected a non-negative number", "got a string '6'"],
    ),
    ({"time.months": "12"}, "time.months", ["expected an integer", "got a string '12'"]),
    ({"time.months": 2.5}, "time.months", ["expected an integer", "got a number 2.5"]),
    (
        {"population.customers": True},
        "population.customers",
        ["expected an integer", "got a boolean True"],
    ),
    (
        {"lifecycle.allow_winback": "yes"},
        "lifecycle.allow_winback",
        ["expected true or false", "got a string 'yes'"],
    ),
    ({"description": 3}, "description", ["expected a string", "got an integer 3"]),
    ({"time": "month"}, "time", ["expected a table", "got a string 'month'"]),
    ({"segments.smb": 0.6}, "segments.smb", ["expected a table", "got a number 0.6"]),
    (
        {"policies.hybrid.programs.automated.stages": "adoption"},
        "policies.hybrid.programs.automated.stages",
        ["expected a list of strings", "'adoption'"],
    ),
    (
        {"teams.named.headcount": "lots"},
        "teams.named.headcount",
        ["expected an integer", "got a string 'lots'"],
    ),
    (
        {"economics.gross_margin": float("nan")},
        "economics.gross_margin",
        ["expected a share in [0, 1]", "got nan"],
    ),
    (
        {"dynamics.visits_per_month": float("inf")},
        "dynamics.visits_per_month",
        ["expected a positive number", "got inf"],
    ),
    # choices, with a suggestion
    (
        {"time.step": "weak"},
        "time.step",
        ["expected one of 'month', 'week'", "got 'weak'", "did you mean 'week'?"],
    ),
    (
        {"network.kind": "smallworld"},
        "network.kind",
        ["expected one of", "got 'smallworld'", "did you mean 'small_world'?"],
    ),
    (
        {"policies.hybrid.programs.automated.channel": "digitl"},
        "policies.hybrid.programs.automated.channel",
        ["expected one of 'digital', 'pooled', 'named_csm'", "did you mean 'digital'?"],
    ),
    (
        {"teams.named.priority": "lowest_heath"},
        "teams.named.priority",
        ["expected one of", "did you mean 'lowest_health'?"],
    ),
    (
        {"lifecycle.stages.aware.kind": "prospects"},
        "lifecycle.stages.aware.kind",
        ["expected one of 'prospect', 'user', 'customer', 'churned'", "did you mean 'prospect'?"],
    ),
    (
        {"segments.smb.acv": {"dist": "lognormall", "mean": 300.0, "sd": 150.0}},
        "segments.smb.acv.dist",
        ["expected one of", "got 'lognormall'", "did you mean 'lognormal'?"],
    ),
    # probabilities and shares outside [0, 1]
    (
        {"segments.smb.share": -0.1},
        "segments.smb.share",
        ["expected a share in [0, 1], got -0.1"],
    ),
    (
        {"population.initial_stages.aware": 1.1},
        "population.initial_stages.aware",
        ["expected a share in [0, 1], got 1.1"],
    ),
    (
        {"marketing.awareness_rate": 1.5},
        "marketing.awareness_rate",
        ["expected a probability in [0, 1], got 1.5"],
    ),
    ({"network.rewire": -0.2}, "network.rewire", ["expected a probability in [0, 1], got -0.2"]),
    (
        {"policies.hybrid.programs.escalation.health_below": 1.2},
        "policies.hybrid.programs.escalation.health_below",
        ["expected a probability in [0, 1], got 1.2"],
    ),
    (
        {"dynamics.product_value": 1.01},
        "dynamics.product_value",
        ["expected a share in [0, 1], got 1.01"],
    ),
    (
        {"lifecycle.stages.loyal.referral_weight": 2.0},
        "lifecycle.stages.loyal.referral_weight",
        ["expected a share in [0, 1], got 2"],
    ),
    (
        {"economics.annual_discount_rate": 1.5},
        "economics.annual_discount_rate",
        ["expected an annual rate in [0, 1], got 1.5"],
    ),
    # negative costs and amounts
    (
        {"segments.smb.acquisition_cost": -600.0},
        "segments.smb.acquisition_cost",
        ["expected a non-negative cost, got -600"],
    ),
    (
        {"teams.named.annual_cost": -9000.0},
        "teams.named.annual_cost",
        ["expected a non-negative cost, got -9000"],
    ),
    (
        {"policies.hybrid.programs.automated.cost_per_touch": -0.05},
        "policies.hybrid.programs.automated.cost_per_touch",
        ["expected a non-negative cost, got -0.05"],
    ),
    (
        {"policies.high_touch.programs.custom_onboarding.setup_cost": -1.0},
        "policies.high_touch.programs.custom_onboarding.setup_cost",
        ["expected a non-negative cost, got -1"],
    ),
    (
        {"policies.hybrid.fixed_cost_per_month": -15000.0},
        "policies.hybrid.fixed_cost_per_month",
        ["expected a non-negative cost, got -15000"],
    ),
    (
        {"marketing.cost_per_prospect_month": -1.0},
        "marketing.cost_per_prospect_month",
        ["expected a non-negative cost, got -1"],
    ),
    (
        {"policies.hybrid.programs.automated.effect": -0.1},
        "policies.hybrid.programs.automated.effect",
        ["expected a non-negative number, got -0.1"],
    ),
    (
        {"policies.hybrid.programs.automated.min_revenue": -5.0},
        "policies.hybrid.programs.automated.min_revenue",
        ["expected a non-negative number, got -5"],
    ),
    # other bounds
    ({"time.months": 0}, "time.months", ["expected an integer ≥ 1, got 0"]),
    ({"population.customers": 0}, "population.customers", ["expected an integer ≥ 1, got 0"]),
    ({"network.degree": 1}, "network.degree", ["expected an integer ≥ 2, got 1"]),
    (
        {"teams.named.headcount": -3},
        "teams.named.headcount",
        ["expected an integer ≥ 0, got -3"],
    ),
    (
        {"teams.named.accounts_per_csm": 0},
        "teams.named.accounts_per_csm",
        ["expected a positive number, got 0"],
    ),
    (
        {"economics.max_expansion": 0.5},
        "economics.max_expansion",
        ["expected a multiple ≥ 1, got 0.5"],
    ),
    # trait distributions
    (
        {"segments.smb.complexity": {"dist": "beta", "alpha": -1.0, "beta": 2.0}},
        "segments.smb.complexity.alpha",
        ["expected a positive number, got -1"],
    ),
    (
        {"segments.smb.complexity": {"dist": "fixed", "value": 1.5}},
        "segments.smb.complexity.value",
        ["expected a share in [0, 1], got 1.5"],
    ),
    (
        {"segments.smb.annual_churn": {"dist": "normal", "mean": 1.5, "sd": 0.1}},
        "segments.smb.annual_churn.mean",
        ["expected a share in [0, 1], got 1.5"],
    ),
    (
        {"segments.smb.complexity": {"dist": "lognormal", "mean": 4.0, "sd": 1.0}},
        "segments.smb.complexity.mean",
        ["expected a positive mean ≤ 1, got 4"],
    ),
    (
        {"segments.smb.complexity": {"dist": "normal", "mean": 0.5, "sd": -0.1}},
        "segments.smb.complexity.sd",
        ["expected a non-negative number, got -0.1"],
    ),
    (
        {"segments.smb.complexity": {"dist": "uniform", "low": 0.5, "high": 1.5}},
        "segments.smb.complexity",
        ["a share-valued trait needs low ≥ 0 and high ≤ 1"],
    ),
    (
        {"segments.smb.complexity": {"dist": "uniform", "low": 0.5, "high": 0.1}},
        "segments.smb.complexity.high",
        ["expected high ≥ low (0.5), got 0.1"],
    ),
    (
        {"segments.smb.acv": {"dist": "fixed", "value": -100.0}},
        "segments.smb.acv.value",
        ["expected a non-negative number, got -100"],
    ),
    (
        {"segments.smb.acv": {"dist": "normal", "mean": -100.0, "sd": 10.0}},
        "segments.smb.acv.mean",
        ["expected a non-negative number, got -100"],
    ),
    (
        {"segments.smb.acv": {"dist": "uniform", "low": -100.0, "high": 100.0}},
        "segments.smb.acv.low",
        ["expected a non-negative number, got -100"],
    ),
    (
        {"segments.smb.acv": {"dist": "lognormal", "mean": 0.0, "sd": 10.0}},
        "segments.smb.acv.mean",
        ["expected a positive mean, got 0"],
    ),
    # shares that do not add up
    (
        {"segments.smb.share": 0.5},
        "segments",
        ["segment shares must sum to 1, they sum to 0.9"],
    ),
    (
        {"population.initial_stages.unaware": 0.4},
        "population.initial_stages",
        ["initial stage shares must sum to 1, they sum to 0.9"],
    ),
    # stages and segments that do not exist
    (
        {"population.initial_stages.adopton": 0.0},
        "population.initial_stages.adopton",
        ["undefined stage", "did you mean 'adoption'?"],
    ),
    (
        {"population.initial_stages.churned": 0.0},
        "population.initial_stages.churned",
        ["agents cannot start churned"],
    ),
    (
        {"policies.hybrid.programs.automated.stages": ["adopton"]},
        "policies.hybrid.programs.automated.stages",
        ["undefined stage 'adopton'", "did you mean 'adoption'?"],
    ),
    (
        {"policies.hybrid.programs.automated.segments": ["enterprize"]},
        "policies.hybrid.programs.automated.segments",
        ["undefined segment 'enterprize'", "did you mean 'enterprise'?"],
    ),
    # high-touch without CSMs
    (
        {"policies.high_touch.teams": {"named": {"headcount": 0}}},
        "policies.high_touch.teams.named.headcount",
        ["a 'named_csm' program needs CSMs", "the headcount is 0"],
    ),
    (
        {"policies.low_touch.teams": {"pooled": {"headcount": 0}}},
        "policies.low_touch.teams.pooled.headcount",
        ["a 'pooled' program needs CSMs", "the headcount is 0"],
    ),
    (
        {"policies.hybrid.teams": {"pooledd": {"accounts_per_csm": 10, "monthly_cost": 1.0}}},
        "policies.hybrid.teams.pooledd",
        ["unknown team", "did you mean 'pooled'?"],
    ),
    # overrides that point nowhere
    (
        {"segmnts.smb.share": 0.5},
        "segmnts",
        ["no such table to override", "did you mean 'segments'?"],
    ),
    (
        {"segments.smbb.share": 0.5},
        "segments.smbb",
        ["no such table to override", "did you mean 'smb'?"],
    ),
    (
        {"description.text": "x"},
        "description.text",
        ["cannot override inside a non-table value"],
    ),
]


@pytest.mark.parametrize(
    ("overrides", "key", "expected"),
    OVERRIDE_CASES,
    ids=[next(iter(case[0])) + f"-{i}" for i, case in enumerate(OVERRIDE_CASES)],
)
def test_bad_value_names_file_key_and_expectation(overrides, key, expected):
    with pytest.raises(InputError) as info:
        load_scenario("default", overrides=overrides)
    check(info.value, "default.toml", key, *expected)


def test_valid_overrides_are_accepted():
    s = load_scenario(
        "default",
        overrides={
            "time.step": "week",
            "population.customers": 123,
            "segments.smb.share": 0.5,
            "segments.mid_market.share": 0.4,
            "teams.named.headcount": 3,
        },
    )
    assert s.time.step == "week"
    assert s.population.customers == 123
    assert [seg.share for seg in s.segments] == [0.1, 0.4, 0.5]
    assert s.policies["hybrid"].teams["named"].headcount == 3


def test_unknown_policy_name():
    scenario = load_scenario("default")
    with pytest.raises(InputError) as info:
        EngagementModel(scenario, "hybird", rng=0, customers=10, months=1)
    check(
        info.value, "default.toml", "policies", "no policy named 'hybird'",
        "did you mean 'hybrid'?", "this scenario defines: no_touch, low_touch, high_touch, hybrid",
    )
    with pytest.raises(InputError) as info:
        make_policy(scenario, "tech_touch")
    check(info.value, "default.toml", "policies", "no policy named 'tech_touch'")


def test_model_overrides_are_validated():
    with pytest.raises(InputError) as info:
        EngagementModel("default", "hybrid", rng=0, customers=0)
    check(info.value, "default.toml", "population.customers", "expected an integer ≥ 1, got 0")
