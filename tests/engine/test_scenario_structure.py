"""Every structural mistake in a scenario table gives one clear error.

Structural edits (a misspelt table, a missing key, a list where a table belongs, …) are
applied to a copy of the default scenario's raw table and validated with ``from_dict``.
"""

from __future__ import annotations

import copy

import pytest
from scenario_cases import FILE, RAW, check

from sim import InputError
from sim.engine.scenario import from_dict
from sim.schema import Table


def structural(edit) -> InputError:
    """Apply ``edit`` to a copy of the default scenario's raw table and validate it."""
    raw = copy.deepcopy(RAW)
    edit(raw)
    with pytest.raises(InputError) as info:
        from_dict(raw, FILE)
    return info.value


# ----------------------------------------------------------------------------------
# structure, through from_dict


def _add_edge(edge):
    return lambda raw: raw["lifecycle"]["edges"].append(edge)


def _set_edge(i, key, value):
    return lambda raw: raw["lifecycle"]["edges"][i].__setitem__(key, value)


def _delete(*path):
    def edit(raw):
        node = raw
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return edit


STRUCTURAL_CASES = {
    "extra top-level polices": (
        lambda raw: raw.__setitem__("polices", copy.deepcopy(raw["policies"])),
        "polices",
        ["unknown key", "did you mean 'policies'?"],
    ),
    "policies misspelt as polices": (
        lambda raw: raw.__setitem__("polices", raw.pop("policies")),
        "policies",
        ["required key is missing", "found 'polices'", "did you mean 'policies'?"],
    ),
    "edge base 1.3": (
        _set_edge(1, "base", 1.3),
        "lifecycle.edges[1].base",
        ["expected a probability in [0, 1], got 1.3"],
    ),
    "edge base negative": (
        _set_edge(6, "base", -0.2),
        "lifecycle.edges[6].base",
        ["expected a probability in [0, 1], got -0.2"],
    ),
    "edge base boolean": (
        _set_edge(1, "base", True),
        "lifecycle.edges[1].base",
        ["expected a probability in [0, 1]", "got a boolean True"],
    ),
    "edge base misspelt source": (
        _set_edge(7, "base", "churn_propensty"),
        "lifecycle.edges[7].base",
        ["expected one of 'churn_propensity', 'marketing'", "did you mean 'churn_propensity'?"],
    ),
    "edge referral 1.5": (
        _set_edge(0, "referral", 1.5),
        "lifecycle.edges[0].referral",
        ["expected a probability in [0, 1], got 1.5"],
    ),
    "edge odds 0": (
        _set_edge(7, "odds", 0.0),
        "lifecycle.edges[7].odds",
        ["expected a positive number, got 0"],
    ),
    "edge driver a string": (
        lambda raw: raw["lifecycle"]["edges"][6]["drivers"].__setitem__("touch", "strong"),
        "lifecycle.edges[6].drivers.touch",
        ["expected a number", "got a string 'strong'"],
    ),
    "edge driver misspelt": (
        lambda raw: raw["lifecycle"]["edges"][6]["drivers"].__setitem__("onbording", 1.0),
        "lifecycle.edges[6].drivers.onbording",
        ["unknown driver", "did you mean 'onboarding'?", "drivers are engagement"],
    ),
    "edge unknown key": (
        _set_edge(2, "bse", 0.1),
        "lifecycle.edges[2].bse",
        ["unknown key", "did you mean 'base'?"],
    ),
    "edge to undefined stage": (
        _set_edge(3, "to", "purchse"),
        "lifecycle.edges[3].to",
        ["undefined stage 'purchse'", "did you mean 'purchase'?"],
    ),
    "edge from undefined stage": (
        _set_edge(9, "from", "adopton"),
        "lifecycle.edges[9].from",
        ["undefined stage 'adopton'", "did you mean 'adoption'?"],
    ),
    "edge to itself": (
        _set_edge(1, "to", "aware"),
        "lifecycle.edges[1].to",
        ["an edge must lead to a different stage"],
    ),
    "duplicate edge": (
        _add_edge({"from": "aware", "to": "consideration", "base": 0.1}),
        "lifecycle.edges[16].to",
        ["duplicate edge 'aware' → 'consideration'", "lifecycle.edges[1]"],
    ),
    "edge out of churned without allow_winback": (
        _add_edge({"from": "churned", "to": "adoption", "base": 0.05}),
        "lifecycle.edges[16].from",
        ["edge leaves churned stage 'churned'", "lifecycle.allow_winback is false"],
    ),
    "unreachable stage": (
        lambda raw: raw["lifecycle"]["stages"].__setitem__("limbo", {"kind": "customer"}),
        "lifecycle.stages.limbo",
        ["stage(s) 'limbo' cannot be reached", "population.initial_stages"],
    ),
    "stage unreachable after removing its only inbound edge": (
        lambda raw: raw["lifecycle"]["edges"].pop(3),
        "lifecycle.stages.purchase",
        ["stage(s) 'purchase' cannot be reached"],
    ),
    "edge missing from": (
        _delete("lifecycle", "edges", 0, "from"),
        "lifecycle.edges[0].from",
        ["required key is missing"],
    ),
    "edge missing base": (
        _delete("lifecycle", "edges", 4, "base"),
        "lifecycle.edges[4].base",
        ["required key is missing"],
    ),
    "edges not an array of tables": (
        lambda raw: raw["lifecycle"].__setitem__("edges", {"from": "aware"}),
        "lifecycle.edges",
        ["expected an array of tables ([[edges]])"],
    ),
    "no stages": (
        lambda raw: raw["lifecycle"].__setitem__("stages", {}),
        "lifecycle.stages",
        ["define at least one stage"],
    ),
    "stage kind missing": (
        lambda raw: raw["lifecycle"]["stages"].__setitem__("aware", {}),
        "lifecycle.stages.aware.kind",
        ["required key is missing"],
    ),
    "missing population.customers": (
        _delete("population", "customers"),
        "population.customers",
        ["required key is missing"],
    ),
    "missing segment share": (
        _delete("segments", "smb", "share"),
        "segments.smb.share",
        ["required key is missing"],
    ),
    "missing segment trait": (
        _delete("segments", "smb", "acv"),
        "segments.smb.acv",
        ["required key is missing"],
    ),
    "missing distribution parameter": (
        _delete("segments", "smb", "complexity", "beta"),
        "segments.smb.complexity.beta",
        ["required key is missing"],
    ),
    "missing lifecycle": (_delete("lifecycle"), "lifecycle", ["required key is missing"]),
    "missing program channel": (
        _delete("policies", "hybrid", "programs", "automated", "channel"),
        "policies.hybrid.programs.automated.channel",
        ["required key is missing"],
    ),
    "missing team monthly_cost": (
        _delete("teams", "named", "annual_cost"),
        "teams.named.monthly_cost",
        ["required key is missing"],
    ),
    "no segments": (
        lambda raw: raw.__setitem__("segments", {}),
        "segments",
        ["define at least one segment"],
    ),
    "no policies": (
        lambda raw: raw.__setitem__("policies", {}),
        "policies",
        ["define at least one policy"],
    ),
    "named_csm program without teams.named": (
        _delete("teams", "named"),
        "policies.high_touch.programs.custom_onboarding.channel",
        [
            "a 'named_csm' program needs CSMs",
            "policy 'high_touch' has no [policies.high_touch.teams.named] table",
        ],
    ),
    "CSM programs without any teams": (
        _delete("teams"),
        "policies.low_touch.programs.webinars.channel",
        ["a 'pooled' program needs CSMs", "no top-level [teams.pooled] table"],
    ),
    "pooled program without teams.pooled": (
        _delete("teams", "pooled"),
        "policies.low_touch.programs.webinars.channel",
        ["a 'pooled' program needs CSMs", "[policies.low_touch.teams.pooled]",
         "no top-level [teams.pooled] table"],
    ),
    "segments as an array": (
        lambda raw: raw.__setitem__("segments", [raw["segments"]["smb"]]),
        "segments",
        ["expected a table", "got a list"],
    ),
}


@pytest.mark.parametrize(
    ("edit", "key", "expected"), STRUCTURAL_CASES.values(), ids=STRUCTURAL_CASES.keys()
)
def test_bad_structure_names_file_key_and_expectation(edit, key, expected):
    check(structural(edit), FILE, key, *expected)


def test_winback_edge_is_accepted_when_allowed():
    raw = copy.deepcopy(RAW)
    raw["lifecycle"]["allow_winback"] = True
    raw["lifecycle"]["edges"].append({"from": "churned", "to": "adoption", "base": 0.05})
    scenario = from_dict(raw, FILE)
    assert scenario.lifecycle.allow_winback
    assert scenario.lifecycle.edges[-1].source == scenario.lifecycle.index("churned")


def test_overrides_applied_by_from_dict_are_validated():
    with pytest.raises(InputError) as info:
        from_dict(RAW, FILE, overrides={"lifecycle.allow_winback": 1})
    check(info.value, FILE, "lifecycle.allow_winback", "expected true or false")


def test_table_accessors_report_every_problem():
    t = Table({"n": 5, "xs": [1, 2], "sub": 3, "arr": [1]}, FILE, "outer")
    with pytest.raises(InputError) as info:
        t.integer("n", high=3)
    check(info.value, FILE, "outer.n", "expected an integer ≤ 3, got 5")
    with pytest.raises(InputError) as info:
        t.strings("xs")
    check(info.value, FILE, "outer.xs", "expected a list of strings, got [1, 2]")
    with pytest.raises(InputError) as info:
        t.table("sub")
    check(info.value, FILE, "outer.sub", "expected a table, got an integer 3")
    with pytest.raises(InputError) as info:
        t.tables("arr")
    check(info.value, FILE, "outer.arr", "expected an array of tables ([[arr]])")
    with pytest.raises(InputError) as info:
        Table([1], FILE, "outer.list")
    check(info.value, FILE, "outer.list", "expected a table, got a list")
    with pytest.raises(InputError) as info:
        t.number("n", low=10, low_open=True)
    check(info.value, FILE, "outer.n", "expected a number > 10, got 5")
    fresh = Table({"n": 5, "xs": [1, 2]}, FILE, "outer")
    fresh.raw("n")
    with pytest.raises(InputError) as info:
        fresh.finish()
    check(info.value, FILE, "outer.xs", "unknown key")
    with pytest.raises(InputError) as info:
        fresh.finish(allowed=["n", "x"])
    check(info.value, FILE, "outer.xs", "unknown key (did you mean 'x'?)")


def _rename_stage(raw, old, new):
    """Rename a stage everywhere the default-like raw scenario names it."""
    stages = raw["lifecycle"]["stages"]
    raw["lifecycle"]["stages"] = {new if k == old else k: v for k, v in stages.items()}
    for edge in raw["lifecycle"]["edges"]:
        for end in ("from", "to"):
            if edge[end] == old:
                edge[end] = new
    initial = raw["population"]["initial_stages"]
    raw["population"]["initial_stages"] = {new if k == old else k: v for k, v in initial.items()}
    for policy in raw["policies"].values():
        for program in policy.get("programs", {}).values():
            if "stages" in program:
                program["stages"] = [new if s == old else s for s in program["stages"]]


@pytest.mark.parametrize("name", ["revenue", "profit", "nps", "step", "active"])
def test_a_stage_named_like_another_timeseries_column_is_refused(name):
    raw = copy.deepcopy(RAW)
    _rename_stage(raw, "adoption", name)  # a customer stage among several
    with pytest.raises(InputError) as info:
        from_dict(raw, FILE)
    check(info.value, FILE, f"lifecycle.stages.{name}", "another column of timeseries.csv")


def test_the_only_churned_stage_may_be_called_churned():
    scenario = from_dict(copy.deepcopy(RAW), FILE)
    assert scenario.lifecycle.stages[scenario.lifecycle.index("churned")].kind == "churned"
