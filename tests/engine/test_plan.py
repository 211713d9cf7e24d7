"""A plan (one policy per segment) run as one policy: identity, per-segment outcomes, costs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sim.cli import main
from sim.engine.model import EngagementModel, make_policy
from sim.engine.plan import PlanPolicy, is_plan, parse_plan, plan_name
from sim.engine.scenario import load_scenario
from sim.files import jsonable
from sim.schema import InputError

MIXED = "plan:enterprise=high_touch,mid_market=hybrid,smb=no_touch"
AMPLE_HOURS = {"teams.named.hours_per_month": 1e6, "teams.pooled.hours_per_month": 1e6}
CHOSEN = {"enterprise": "high_touch", "mid_market": "hybrid", "smb": "no_touch"}


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("default").with_overrides(
        {"population.customers": 4000, "time.months": 12}
    )


def _summary(scenario, policy, seed):
    return jsonable(EngagementModel(scenario, policy, rng=seed).run().summary(seed=seed))


@pytest.mark.parametrize("agents", [None, 1000])  # every customer, or a quarter of them
@pytest.mark.parametrize("policy", ["high_touch", "hybrid"])
def test_a_plan_of_one_policy_is_that_policy_number_for_number(scenario, policy, agents):
    if agents is not None:  # the platform is the company's: the sample carries 1/weight
        scenario = scenario.with_overrides({"population.agents": agents})
    name = plan_name(dict.fromkeys(scenario.segment_names, policy))
    single, plan = _summary(scenario, policy, 7), _summary(scenario, name, 7)
    assert plan["policy"] == name
    plan["policy"] = policy
    assert json.dumps(plan) == json.dumps(single)


def test_uncoupled_segments_keep_their_chosen_policys_customers_exactly(scenario):
    """Without a network (no word of mouth, no community pull), without the product
    feedback loop and with CSMs never overloaded (a team shared by segments rations
    hours across them), no segment affects another: conversions and retention are the
    chosen policy's, exactly (common random numbers)."""
    alone = scenario.with_overrides({"network.kind": "none", **AMPLE_HOURS})
    assert alone.dynamics.feedback_rate == 0
    plan = _summary(alone, MIXED, 3)
    for segment, policy in CHOSEN.items():
        single = _summary(alone, policy, 3)["segments"][segment]
        mine = plan["segments"][segment]
        assert mine["converted"] == single["converted"] > 0
        assert mine["retention"] == single["retention"]


def test_coupled_segments_match_their_chosen_policy_within_noise(scenario):
    """With word of mouth over the network the segments meet; per segment the plan's
    value per customer and retention equal the chosen policy's within 4 SE of the
    paired differences over replications."""
    seeds = range(6)
    plans = [_summary(scenario, MIXED, s)["segments"] for s in seeds]
    for segment, policy in CHOSEN.items():
        singles = [_summary(scenario, policy, s)["segments"][segment] for s in seeds]
        for metric in ("ltv_lifetime_mean", "ltv_mean"):
            diff = np.array([p[segment][metric] - q[metric]
                             for p, q in zip(plans, singles, strict=True)])
            se = diff.std(ddof=1) / np.sqrt(diff.size)
            level = np.mean([q[metric] for q in singles])
            assert abs(diff.mean()) <= 4 * se + 1e-9 * level, (segment, metric, diff)
    # a wrong choice is seen: enterprise under no_touch costs far less than the plan's
    # high_touch (the values above are too close between policies to tell them apart)
    wrong = [_summary(scenario, "no_touch", s)["segments"]["enterprise"] for s in seeds]
    diff = np.array([p["enterprise"]["cost_per_customer"] - q["cost_per_customer"]
                     for p, q in zip(plans, wrong, strict=True)])
    assert abs(diff.mean()) > 4 * diff.std(ddof=1) / np.sqrt(diff.size)


def test_the_platform_is_paid_once_the_largest_chosen(scenario):
    priced = scenario.with_overrides({"policies.no_touch.fixed_cost_per_month": 9000.0,
                                      "policies.hybrid.fixed_cost_per_month": 21000.0,
                                      "network.kind": "none"})
    policy = make_policy(priced, MIXED)
    assert isinstance(policy, PlanPolicy)
    assert policy.fixed_cost_per_month == 21000.0
    series = EngagementModel(priced, MIXED, rng=1).run().timeseries()
    assert series["cost_fixed"].sum() == pytest.approx(21000.0 * 12)
    # every chosen policy keeps its own teams, named policy/team
    model = EngagementModel(priced, MIXED, rng=1)
    assert set(model.policy.teams) == {"high_touch/named", "hybrid/named", "hybrid/pooled"}


def test_each_chosen_policy_staffs_only_its_segments(scenario):
    """The high-touch team of the plan covers enterprise accounts only."""
    model = EngagementModel(scenario, MIXED, rng=2)
    model.run()
    team = model.policy.teams["high_touch/named"]
    assigned = np.flatnonzero(team.assigned >= 0)
    enterprise = scenario.segment_names.index("enterprise")
    assert assigned.size > 0
    assert np.all(model.segment[assigned] == enterprise)


def test_parse_plan_orders_by_scenario_segments_and_accepts_none(scenario):
    mapping = parse_plan(scenario, "plan:smb=none, enterprise=high_touch,mid_market=hybrid")
    assert list(mapping) == list(scenario.segment_names)
    assert mapping["smb"] == "none"
    assert is_plan(MIXED) and not is_plan("hybrid") and not is_plan(None)
    # a segment given no engagement is untouched
    series = EngagementModel(scenario, plan_name(mapping), rng=0).run().customers_frame()
    assert series.loc[series["segment"] == "smb", "cost_to_serve"].gt(0).any()  # platform


@pytest.mark.parametrize("name, expected", [
    ("plan:", "expected plan:enterprise=POLICY"),
    ("plan:enterprise=high_touch,mid_market=hybrid", "missing smb"),
    ("plan:enterprize=high_touch,mid_market=hybrid,smb=none", "did you mean 'enterprise'"),
    ("plan:enterprise=high_tuch,mid_market=hybrid,smb=none", "did you mean 'high_touch'"),
    ("plan:enterprise=hybrid,enterprise=hybrid,mid_market=hybrid,smb=none", "named twice"),
    ("plan:enterprise=x.py:Mine,mid_market=hybrid,smb=none", "Python file"),
    ("plan:enterprise,mid_market=hybrid,smb=none", "got the entry 'enterprise'"),
])
def test_bad_plans_are_input_errors(scenario, name, expected):
    with pytest.raises(InputError, match="policies") as error:
        make_policy(scenario, name)
    assert expected in str(error.value)


def test_cli_run_takes_a_plan_and_refuses_a_bad_one(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--policy", MIXED, "--customers", "300", "--months", "3",
                 "--quiet", "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["policy"] == MIXED
    code = main(["run", "--policy", "plan:smb=none", "--customers", "300", "--months", "3",
                 "--quiet", "--out", str(tmp_path / "bad")])
    assert code == 2
    assert "every segment needs a policy" in capsys.readouterr().err


def test_experiment_files_accept_a_plan_and_name_a_bad_one():
    from sim.sweep.design import experiment_from_dict

    raw = {"policies": ["no_touch", MIXED], "customers": 300, "months": 3}
    assert experiment_from_dict(raw, "exp.toml").policies == ("no_touch", MIXED)
    with pytest.raises(InputError, match=r"exp.toml: policies: .*missing mid_market, smb"):
        experiment_from_dict({**raw, "policies": ["no_touch", "plan:enterprise=hybrid"]},
                             "exp.toml")
