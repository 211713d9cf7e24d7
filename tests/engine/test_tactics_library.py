"""The tactics library (sim.engine.tactics_library, scenarios/tactics/library.toml).

Every tactic loads and runs in a policy; a policy composed by name is the same scenario
as one with the programs written out (byte-identical summary); the loyalty tactic aimed
at churn lowers churn (paired seeds, 4 SE) and costs exactly what its cost model says;
bad tactic lists are InputErrors naming the key. The tactics are written out in the raw
table before overrides (an override and an [uncertainties] path reach a tactic's
program; the raw table is what writing it out by hand gives, digest included), and each
tactic's effect range is an uncertainty with the library's range, source and links
(a declared one wins; ``from_tactics = false`` opts out), which ``decide`` weighs.
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


# ----------------------------------------------------------------------------------
# written out before overrides; the effect ranges as uncertainties (issue 12)

LOYALTY = "policies.tactics_mix.programs.loyalty_points"


def _program(scenario, name, policy="tactics_mix"):
    return next(p for p in scenario.policies[policy].programs if p.name == name)


def test_an_override_reaches_a_program_that_came_from_a_tactic():
    base = load_scenario("tactics_example")
    assert _program(base, "loyalty_points").decay == 0.7  # the library's
    for changed in (
        load_scenario("tactics_example", {f"{LOYALTY}.decay": 0.0,
                                          f"{LOYALTY}.targets.churn": -0.3}),
        base.with_overrides({f"{LOYALTY}.decay": 0.0, f"{LOYALTY}.targets.churn": -0.3}),
    ):
        program = _program(changed, "loyalty_points")
        assert program.decay == 0.0
        assert dict(program.targets)["churn"] == -0.3
        assert dict(program.targets)["referral"] == 0.3  # the rest stays the library's
        assert changed.raw["policies"]["tactics_mix"]["programs"]["loyalty_points"][
            "decay"] == 0.0


def test_an_uncertainty_path_reaches_a_program_that_came_from_a_tactic():
    raw = _raw("tactics_example")
    raw["uncertainties"] = {f"{LOYALTY}.decay": {
        "dist": "uniform", "low": 0.5, "high": 0.9, "source": "judgement"}}
    scenario = from_dict(raw, "t.toml")
    assert scenario.uncertainties[0].path == f"{LOYALTY}.decay"


def test_the_raw_table_shows_the_tactics_written_out_and_keeps_its_digest():
    raw = _raw("tactics_example")
    scenario = from_dict(raw, "tactics_example.toml")
    hand = _written_out(raw)  # what a user would write without the library
    programs = scenario.raw["policies"]["tactics_mix"]["programs"]
    assert programs == hand["policies"]["tactics_mix"]["programs"]
    assert scenario.raw["policies"]["tactics_mix"]["tactics"] == raw["policies"][
        "tactics_mix"]["tactics"]  # the record of what was composed
    assert from_dict(hand, "t.toml").policies["tactics_mix"] == scenario.policies["tactics_mix"]
    # the programs written out by hand, the tactics still listed: the same scenario
    hand["policies"]["tactics_mix"]["tactics"] = raw["policies"]["tactics_mix"]["tactics"]
    assert from_dict(hand, "t.toml").digest == scenario.digest
    # re-read from its own raw table (manifests, with_overrides): nothing changes
    assert from_dict(scenario.raw, "t.toml").digest == scenario.digest
    assert scenario.with_overrides({}).raw == scenario.raw
    assert "tactics" not in _raw("tactics_example")["policies"]["no_touch"]


def _uncertainty(scenario, path):
    return next(u for u in scenario.uncertainties if u.path == path)


def test_every_tactic_a_policy_uses_adds_its_range_with_its_source():
    scenario = load_scenario("tactics_example")
    library = load_library()
    policy = scenario.raw["policies"]["tactics_mix"]
    for name in policy["tactics"]:
        tactic = library[name]
        u = _uncertainty(scenario, f"policies.tactics_mix.programs.{name}.{tactic.range_of}")
        value = scenario.raw["policies"]["tactics_mix"]["programs"][name]
        for part in tactic.range_of.split("."):
            value = value[part]
        assert u.dist == "triangular"
        assert u.parameters == {"low": tactic.effect_range[0], "mode": value,
                                "high": tactic.effect_range[1]}
        assert u.support() == tactic.effect_range
        assert u.source == tactic.source and u.also == ()
    loyalty = _uncertainty(scenario, f"{LOYALTY}.targets.churn")
    assert loyalty.label == "Loyalty points: churn effect (at full response)"
    assert loyalty.display == "odds_cut"
    assert _uncertainty(scenario, "policies.tactics_mix.programs.nurture_emails.effect"
                        ).label == "Nurture emails: effect per touch"


def test_the_same_tactic_in_several_policies_is_one_linked_uncertainty():
    raw = _with_policy(_raw(), {"tactics": ["loyalty_points", "community"]}, "a")
    raw["policies"]["b"] = {"tactics": ["loyalty_points", "collaborative_roadmap"]}
    raw["policies"]["own"] = {  # states its own churn effect: not the library's value
        "tactics": ["loyalty_points"],
        "programs": {"loyalty_points": {"targets": {"churn": -0.9, "referral": 0.3}}},
    }
    scenario = from_dict(raw, "t.toml")
    library = load_library()
    loyalty = _uncertainty(scenario, "policies.a.programs.loyalty_points.targets.churn")
    assert loyalty.also == ("policies.b.programs.loyalty_points.targets.churn",)
    assert loyalty.source == library["loyalty_points"].source
    community = _uncertainty(scenario, "policies.a.community.strength")
    assert community.support() == library["community"].effect_range
    assert community.source == library["community"].source
    roadmap = _uncertainty(scenario, "policies.b.roadmap.feedback_rate")
    assert roadmap.display == "percent" and roadmap.label == (
        "Collaborative roadmap: feedback rate")
    assert len(scenario.uncertainties) == 3


def test_a_declared_uncertainty_on_the_same_path_wins():
    raw = _raw("tactics_example")
    raw["policies"]["other"] = {"tactics": ["loyalty_points"]}
    declared = {"dist": "uniform", "low": -0.6, "high": -0.4, "source": "our pilot"}
    raw["uncertainties"] = {f"{LOYALTY}.targets.churn": declared}
    scenario = from_dict(raw, "t.toml")
    ours = _uncertainty(scenario, f"{LOYALTY}.targets.churn")
    assert (ours.dist, ours.source, ours.support()) == ("uniform", "our pilot", (-0.6, -0.4))
    # the other policy's loyalty points keep the library's range (the declared entry
    # does not name them), once
    paths = [p for u in scenario.uncertainties for p in (u.path, *u.also)]
    assert sorted(p for p in paths if "loyalty" in p) == sorted(
        [f"{LOYALTY}.targets.churn", "policies.other.programs.loyalty_points.targets.churn"])
    other = _uncertainty(scenario, "policies.other.programs.loyalty_points.targets.churn")
    assert other.source == load_library()["loyalty_points"].source
    # declared through `also`: it wins there too
    raw["uncertainties"] = {"policies.no_touch.programs.automated.effect": {
        "dist": "uniform", "low": 0.05, "high": 0.2, "source": "guess",
        "also": ["policies.tactics_mix.programs.nurture_emails.effect"]}}
    scenario = from_dict(raw, "t.toml")
    assert not any(u.path == "policies.tactics_mix.programs.nurture_emails.effect"
                   for u in scenario.uncertainties)


def test_from_tactics_false_keeps_the_tactics_fixed():
    raw = _raw("tactics_example")
    raw["uncertainties"] = {"from_tactics": False, **raw["uncertainties"]}
    scenario = from_dict(raw, "t.toml")
    assert not any("tactics_mix" in u.path for u in scenario.uncertainties)
    assert len(scenario.uncertainties) == len(_raw("tactics_example")["uncertainties"])
    raw["uncertainties"]["from_tactics"] = "no"
    with pytest.raises(InputError) as err:
        from_dict(raw, "t.toml")
    assert "t.toml" in str(err.value) and "uncertainties.from_tactics" in str(err.value)


def test_a_tactic_at_an_end_of_its_range_is_uniform(monkeypatch):
    import dataclasses

    from sim.engine import tactics_library

    library = dict(load_library())
    library["loyalty_points"] = dataclasses.replace(
        library["loyalty_points"], effect_range=(-0.5, -0.2))
    monkeypatch.setattr(tactics_library, "load_library", lambda: library)
    scenario = from_dict(_with_policy(_raw(), {"tactics": ["loyalty_points"]}), "t.toml")
    (u,) = scenario.uncertainties
    assert u.dist == "uniform" and u.support() == (-0.5, -0.2)


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ('[-0.8, -0.2]\nrange_of = "targets.churn"', '[-0.8, -0.2]\nrange_of = "targets.churm"',
         "range_of", "names no key"),
        ('[-0.8, -0.2]\nrange_of = "targets.churn"', '[-0.4, -0.2]\nrange_of = "targets.churn"',
         "effect_range", "lies outside [-0.4, -0.2]"),
    ],
)
def test_a_library_range_must_bound_a_value_of_the_tactic(tmp_path, old, new, key, words):
    text = LIBRARY.read_text()
    assert text.count(old) == 1
    path = tmp_path / "library.toml"
    path.write_text(text.replace(old, new))
    with pytest.raises(InputError) as err:
        load_library(path)
    assert f"loyalty_points.{key}" in str(err.value) and words in str(err.value)


def test_decide_weighs_the_tactics_ranges(tmp_path):
    from sim.cli import main

    out = tmp_path / "d"
    code = main(["decide", "tactics_example", "--samples", "4", "--replications", "1",
                 "--customers", "150", "--months", "4", "--policies",
                 "tactics_mix,no_touch", "--jobs", "1", "--out", str(out), "--quiet"])
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    records = {a["path"]: a for a in manifest["assumptions"]}
    library = load_library()
    loyalty = records[f"{LOYALTY}.targets.churn"]
    assert loyalty["source"] == library["loyalty_points"].source
    report = (out / "report.md").read_text()
    for name in ("nurture_emails", "chatbot_self_service", "loyalty_points",
                 "health_escalation"):
        assert library[name].source in report, name
