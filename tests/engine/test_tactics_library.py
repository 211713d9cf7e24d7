"""The tactics library (sim.engine.tactics_library, scenarios/tactics/library.toml).

Every tactic loads and runs in a policy; a policy composed by name is the same scenario
as one with the programs written out (byte-identical summary); the loyalty tactic aimed
at churn lowers churn (paired seeds, 4 SE) and costs exactly what its cost model says;
bad tactic lists are InputErrors naming the key.
"""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from sim.engine.model import EngagementModel
from sim.engine.scenario import from_dict, load_scenario
from sim.engine.tactics_library import LIBRARY, load_library
from sim.schema import InputError

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _raw(name: str = "default") -> dict:
    with open(SCENARIOS / f"{name}.toml", "rb") as f:
        return tomllib.load(f)


def _with_policy(raw: dict, policy: dict, name: str = "tried") -> dict:
    data = copy.deepcopy(raw)
    data["policies"][name] = policy
    data.pop("uncertainties", None)
    return data


def test_the_library_has_every_tactic_of_the_articles_with_a_source_and_range():
    library = load_library()
    assert set(library) >= {
        "personalization", "loyalty_points", "incentives", "community", "gamification",
        "push_notifications", "nurture_emails", "in_app_chat", "education_webinars",
        "customer_content", "chatbot_self_service", "health_escalation",
        "collaborative_roadmap",
    }
    for tactic in library.values():
        assert tactic.source.strip(), tactic.name
        low, high = tactic.effect_range
        assert low <= high, tactic.name
        if tactic.range_of == "effect":  # the value used lies in its range
            assert low <= tactic.body["effect"] <= high, tactic.name


@pytest.mark.parametrize("name", list(load_library()))
def test_every_tactic_loads_and_runs_in_a_policy(name):
    tactic = load_library()[name]
    scenario = from_dict(_with_policy(_raw(), {"tactics": [name]}), "t.toml")
    policy = scenario.policies["tried"]
    if tactic.kind == "program":
        assert [p.name for p in policy.programs] == [name]
    else:
        assert getattr(policy, tactic.kind) is not None
    model = EngagementModel(scenario, "tried", rng=0, agents=500, months=3).run()
    summary = model.summary()
    assert summary["cost_total"] > 0
    assert np.isfinite(summary["profit_total"])


def _written_out(raw: dict) -> dict:
    """tactics_example with its tactics replaced by the tables they stand for."""
    data = copy.deepcopy(raw)
    policy = data["policies"]["tactics_mix"]
    library = load_library()
    own = policy.pop("programs")
    programs = {}
    for name in policy.pop("tactics"):
        tactic = library[name]
        if tactic.kind == "program":
            programs[name] = {**tactic.body, **own.pop(name, {})}
        else:
            policy[tactic.kind] = dict(tactic.body)
    policy["programs"] = {**programs, **own}
    return data


def test_composition_by_name_equals_the_programs_written_out():
    raw = _raw("tactics_example")
    raw["policies"]["tactics_mix"]["tactics"] += ["community", "collaborative_roadmap"]
    summaries = []
    for data in (raw, _written_out(raw)):
        scenario = from_dict(data, "tactics_example.toml")
        run = EngagementModel(scenario, "tactics_mix", rng=4, agents=1000, months=6).run()
        summaries.append(json.dumps(run.summary(), sort_keys=True))
    assert summaries[0] == summaries[1]


def test_an_own_program_table_overrides_the_tactic_key_by_key():
    scenario = load_scenario("tactics_example")
    emails = next(p for p in scenario.policies["tactics_mix"].programs
                  if p.name == "nurture_emails")
    assert emails.touches_per_month == 6.0  # overridden
    assert emails.cost_per_touch == load_library()["nurture_emails"].body["cost_per_touch"]


def test_the_loyalty_tactic_lowers_churn():
    scenario = load_scenario("tactics_example")
    diffs = []
    for seed in range(8):
        runs = [EngagementModel(scenario, p, rng=seed, agents=3000, months=12).run()
                for p in ("tactics_mix", "knockout:tactics_mix/loyalty_points")]
        diffs.append(runs[0].summary()["churned"] - runs[1].summary()["churned"])
    d = np.array(diffs, dtype=float)
    mean, se = d.mean(), d.std(ddof=1) / np.sqrt(d.size)
    assert mean + 4 * se < 0, (mean, se)


def test_the_loyalty_tactic_costs_what_its_cost_model_says():
    body = load_library()["loyalty_points"].body
    data = _with_policy(_raw(), {"tactics": ["loyalty_points"]})
    scenario = from_dict(data, "t.toml")
    model = EngagementModel(scenario, "tried", rng=3, agents=2000, months=14)
    enrolled_stages = [scenario.lifecycle.index(s) for s in body["stages"]]
    per_member = body["cost_per_enrolled_month"] + body["cost_per_reward"] * body[
        "rewards_per_month"]
    for step in range(1, 15):
        enrolled = np.isin(model.stage, enrolled_stages).sum()
        model.step()
        assert model.metrics["cost_touch"] == pytest.approx(enrolled * per_member, rel=1e-12)
        setup = body["build_cost"] / body["amortise_months"] / model.weight
        assert model.metrics["cost_setup"] == pytest.approx(
            setup if step <= body["amortise_months"] else 0.0, rel=1e-12, abs=0)
        assert model.metrics["cost_fixed"] == 0.0
    assert model.summary()["cost_setup_total"] == pytest.approx(body["build_cost"], rel=1e-12)


@pytest.mark.parametrize(
    ("base", "tactics", "words"),
    [
        ("default", ["loyalty_point"], "did you mean 'loyalty_points'"),
        ("default", ["gamification", "gamification"], "listed twice"),
        ("default", "gamification", "expected a list of strings"),
        ("lifecycle_five_stage", ["loyalty_points"], "reaches stage"),
    ],
)
def test_bad_tactic_lists_are_input_errors_naming_the_key(base, tactics, words):
    with pytest.raises(InputError) as err:
        from_dict(_with_policy(_raw(base), {"tactics": tactics}), "bad.toml")
    message = str(err.value)
    assert "bad.toml" in message and "policies.tried.tactics" in message, message
    assert words in message, message


def test_a_tactic_stage_override_fits_another_lifecycle():
    raw = _raw("lifecycle_five_stage")
    stage = next(n for n, s in raw["lifecycle"]["stages"].items() if s["kind"] == "customer")
    policy = {"tactics": ["loyalty_points"],
              "programs": {"loyalty_points": {"stages": [stage]}}}
    scenario = from_dict(_with_policy(raw, policy), "t.toml")
    (program,) = scenario.policies["tried"].programs
    assert program.stages == (scenario.lifecycle.index(stage),)


def test_the_library_file_is_where_the_module_reads_it():
    assert LIBRARY == SCENARIOS / "tactics" / "library.toml"


def test_the_readme_table_lists_every_tactic():
    readme = (SCENARIOS.parent / "README.md").read_text()
    section = readme[readme.index("### The tactics library"):]
    for name in load_library():
        assert f"| `{name}` |" in section, name
