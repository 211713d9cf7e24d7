"""Knockouts: a policy without one of its programs, on the policy's random numbers."""

import copy
import json

import numpy as np
import pytest

from sim.engine.knockout import is_knockout, knockout_name, make_knockout, parse_knockout
from sim.engine.model import make_policy
from sim.engine.scenario import from_dict, load_scenario
from sim.schema import InputError
from sim.sweep.runner import execute

SMALL = {"population.customers": 1000, "time.months": 12}


def _with_idle_program(channel: str = "digital") -> object:
    """The default scenario whose hybrid has one more program: effect 0, cost 0."""
    base = load_scenario("default", overrides=SMALL)
    raw = copy.deepcopy(base.raw)
    raw["policies"]["hybrid"]["programs"]["idle"] = {
        "channel": channel, "touches_per_month": 3.0, "effect": 0.0, "cost_per_touch": 0.0,
    }
    return from_dict(raw, "<test>", name="idle")


def _without_identity(summary: dict) -> str:
    return json.dumps({k: v for k, v in summary.items() if k != "policy"}, sort_keys=True)


def test_removing_a_program_that_does_nothing_changes_nothing():
    scenario = _with_idle_program()
    for seed in (0, 7):
        whole, series = execute(scenario, {}, "hybrid", seed)
        knocked, knocked_series = execute(scenario, {}, "knockout:hybrid/idle", seed)
        assert knocked["policy"] == "knockout:hybrid/idle"
        assert _without_identity(whole) == _without_identity(knocked)
        for column, values in series.items():
            if column != "touches":  # the idle program's touches are delivered, to no effect
                np.testing.assert_array_equal(values, knocked_series[column])


def test_removing_a_program_that_matters_changes_the_run():
    scenario = load_scenario("default", overrides=SMALL)
    whole, _ = execute(scenario, {}, "hybrid", 3)
    knocked, _ = execute(scenario, {}, "knockout:hybrid/enterprise_check_ins", 3)
    assert _without_identity(whole) != _without_identity(knocked)


def test_check_ins_raise_retention():
    """High touch without its check-ins keeps fewer customers: paired over 4 seeds, > 4 SE."""
    scenario = load_scenario("default", overrides={**SMALL, "population.customers": 2000})
    diff = []
    for seed in range(4):
        whole, _ = execute(scenario, {}, "high_touch", seed)
        knocked, _ = execute(scenario, {}, "knockout:high_touch/check_ins", seed)
        diff.append(whole["retention"]["12"] - knocked["retention"]["12"])
    diff = np.array(diff)
    se = diff.std(ddof=1) / np.sqrt(diff.size)
    assert diff.mean() - 4 * se > 0, (diff.mean(), se)


def test_a_team_whose_programs_are_all_removed_is_not_hired():
    scenario = load_scenario("default", overrides=SMALL)
    hybrid = scenario.policies["hybrid"]
    assert set(hybrid.teams) == {"named", "pooled"}
    no_enterprise = make_knockout(scenario, "knockout:hybrid/enterprise_onboarding")
    assert set(no_enterprise.spec.teams) == {"named", "pooled"}  # check-ins still need it
    no_escalation = make_knockout(scenario, "knockout:hybrid/escalation")
    assert set(no_escalation.spec.teams) == {"named", "pooled"}  # guided onboarding is pooled
    platform = make_knockout(scenario, knockout_name("hybrid"))
    assert platform.spec.programs == () and platform.spec.teams == {}
    assert platform.spec.fixed_cost_per_month == hybrid.fixed_cost_per_month
    summary, _ = execute(scenario, {}, knockout_name("hybrid"), 0)
    assert summary["cost_staff_total"] == 0 and summary["csm_headcount_peak"] == 0
    assert summary["cost_fixed_total"] > 0


def test_the_other_programs_are_kept_as_they_are():
    scenario = load_scenario("default", overrides=SMALL)
    spec = make_knockout(scenario, "knockout:hybrid/automated").spec
    original = scenario.policies["hybrid"]
    assert spec.programs == tuple(p for p in original.programs if p.name != "automated")
    assert spec.teams == original.teams


def test_names():
    assert is_knockout("knockout:hybrid/escalation") and not is_knockout("hybrid")
    assert not is_knockout("plan:smb=none")
    scenario = load_scenario("default", overrides=SMALL)
    assert parse_knockout(scenario, "knockout:hybrid/*") == ("hybrid", "*")
    assert make_policy(scenario, "knockout:hybrid/escalation").name == "knockout:hybrid/escalation"


@pytest.mark.parametrize(("name", "words"), [
    ("knockout:hybrid", "expected knockout:POLICY/PROGRAM"),
    ("knockout:hybird/escalation", "did you mean 'hybrid'"),
    ("knockout:hybrid/escalaton", "no program named 'escalaton'"),
])
def test_bad_names_say_what_is_wrong(name, words):
    scenario = load_scenario("default", overrides=SMALL)
    with pytest.raises(InputError, match="policies") as caught:
        make_policy(scenario, name)
    assert words in str(caught.value)
