"""Every way a scenario (or the command line) can be wrong gives one clear error.

Each case asserts that the :class:`sim.InputError` names the file, the full dotted key
path and what was expected. Bad scenarios are built from ``scenarios/default.toml``:
dotted-key overrides for values, ``from_dict`` for structural edits, and a few real
files written as text (so the file name in the message is the user's file).
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest

from sim import EngagementModel, InputError, load_scenario
from sim.cli import main
from sim.engine.model import make_policy
from sim.engine.scenario import SCENARIO_DIR, from_dict
from sim.schema import Table

DEFAULT = SCENARIO_DIR / "default.toml"
DEFAULT_TEXT = DEFAULT.read_text()
RAW = tomllib.loads(DEFAULT_TEXT)
FILE = "structural.toml"  # the file name given to from_dict


def check(exc: InputError, file: str | None, key: str, *expected: str) -> None:
    """The message names ``file`` and ``key`` and contains every ``expected`` text."""
    msg = str(exc)
    if file is not None:
        assert file in msg, msg
        assert exc.file is not None and file in exc.file, msg
    assert exc.key == key, msg
    if key:
        assert f": {key}: " in f": {msg}", msg
    for text in expected:
        assert text in msg, f"{text!r} not in {msg!r}"
    assert "\n" not in msg, msg


def structural(edit) -> InputError:
    """Apply ``edit`` to a copy of the default scenario's raw table and validate it."""
    raw = copy.deepcopy(RAW)
    edit(raw)
    with pytest.raises(InputError) as info:
        from_dict(raw, FILE)
    return info.value


def write(tmp_path: Path, text: str, name: str = "my_scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def edited(old: str, new: str, count: int = 1) -> str:
    """The default scenario's text with ``old`` replaced (it must occur)."""
    assert old in DEFAULT_TEXT, old
    return DEFAULT_TEXT.replace(old, new, count)


# ----------------------------------------------------------------------------------
# sanity: the shipped scenarios and the edits the cases start from are valid


def test_shipped_scenarios_are_valid():
    for name in ("default", "constant_churn"):
        assert load_scenario(name).name == name


def test_a_valid_text_copy_loads(tmp_path):
    scenario = load_scenario(write(tmp_path, DEFAULT_TEXT))
    assert scenario.name == "my_scenario"
    assert scenario.raw == RAW


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
        {"policies.hybrid.teams.named.montly_cost": 1.0},
        "policies.hybrid.teams.named.montly_cost",
        ["unknown key", "did you mean 'monthly_cost'?"],
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
        {"segments.smb.revenue.sdd": 1.0},
        "segments.smb.revenue.sdd",
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
        {"policies.hybrid.teams.named.headcount": "lots"},
        "policies.hybrid.teams.named.headcount",
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
        {"policies.hybrid.teams.named.priority": "lowest_heath"},
        "policies.hybrid.teams.named.priority",
        ["expected one of", "did you mean 'lowest_health'?"],
    ),
    (
        {"lifecycle.stages.aware.kind": "prospects"},
        "lifecycle.stages.aware.kind",
        ["expected one of 'prospect', 'customer', 'churned'", "did you mean 'prospect'?"],
    ),
    (
        {"segments.smb.revenue": {"dist": "lognormall", "mean": 300.0, "sd": 150.0}},
        "segments.smb.revenue.dist",
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
        {"policies.hybrid.teams.named.monthly_cost": -9000.0},
        "policies.hybrid.teams.named.monthly_cost",
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
        {"policies.hybrid.teams.named.headcount": -3},
        "policies.hybrid.teams.named.headcount",
        ["expected an integer ≥ 0, got -3"],
    ),
    (
        {"policies.hybrid.teams.named.accounts_per_csm": 0},
        "policies.hybrid.teams.named.accounts_per_csm",
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
        {"segments.smb.churn_propensity": {"dist": "normal", "mean": 1.5, "sd": 0.1}},
        "segments.smb.churn_propensity.mean",
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
        {"segments.smb.revenue": {"dist": "fixed", "value": -100.0}},
        "segments.smb.revenue.value",
        ["expected a non-negative number, got -100"],
    ),
    (
        {"segments.smb.revenue": {"dist": "normal", "mean": -100.0, "sd": 10.0}},
        "segments.smb.revenue.mean",
        ["expected a non-negative number, got -100"],
    ),
    (
        {"segments.smb.revenue": {"dist": "uniform", "low": -100.0, "high": 100.0}},
        "segments.smb.revenue.low",
        ["expected a non-negative number, got -100"],
    ),
    (
        {"segments.smb.revenue": {"dist": "lognormal", "mean": 0.0, "sd": 10.0}},
        "segments.smb.revenue.mean",
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
        {"policies.high_touch.teams.named.headcount": 0},
        "policies.high_touch.teams.named.headcount",
        ["a 'named_csm' program needs CSMs", "the headcount is 0"],
    ),
    (
        {"policies.low_touch.teams.pooled.headcount": 0},
        "policies.low_touch.teams.pooled.headcount",
        ["a 'pooled' program needs CSMs", "the headcount is 0"],
    ),
    (
        {"policies.hybrid.teams.pooledd": {"accounts_per_csm": 10, "monthly_cost": 1.0}},
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
            "policies.hybrid.teams.named.headcount": 3,
        },
    )
    assert s.time.step == "week"
    assert s.population.customers == 123
    assert [seg.share for seg in s.segments] == [0.1, 0.4, 0.5]
    assert s.policies["hybrid"].teams["named"].headcount == 3


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
        _delete("segments", "smb", "revenue"),
        "segments.smb.revenue",
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
        _delete("policies", "hybrid", "teams", "named", "monthly_cost"),
        "policies.hybrid.teams.named.monthly_cost",
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
        _delete("policies", "high_touch", "teams", "named"),
        "policies.high_touch.programs.custom_onboarding.channel",
        [
            "a 'named_csm' program needs CSMs",
            "policy 'high_touch' has no [policies.high_touch.teams.named] table",
        ],
    ),
    "named_csm program without any teams": (
        _delete("policies", "high_touch", "teams"),
        "policies.high_touch.programs.custom_onboarding.channel",
        ["a 'named_csm' program needs CSMs", "[policies.high_touch.teams.named]"],
    ),
    "pooled program without teams.pooled": (
        _delete("policies", "hybrid", "teams", "pooled"),
        "policies.hybrid.programs.guided_onboarding.channel",
        ["a 'pooled' program needs CSMs", "[policies.hybrid.teams.pooled]"],
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


# ----------------------------------------------------------------------------------
# real files: the user's file name is in the message


def _load_error(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        load_scenario(path)
    return info.value


def test_file_invalid_toml_syntax(tmp_path):
    path = write(tmp_path, edited("months = 36", "months = "))
    exc = _load_error(path)
    check(exc, "my_scenario.toml", "", "not valid TOML", "(at line 13, column")


def test_file_duplicate_table_is_invalid_toml(tmp_path):
    path = write(tmp_path, DEFAULT_TEXT + '\n[time]\nstep = "week"\n')
    check(_load_error(path), "my_scenario.toml", "", "not valid TOML", "(at line")


def test_file_not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('description = "Café"\n'.encode("latin-1"))
    check(_load_error(path), "latin1.toml", "", "not valid TOML", "not UTF-8 text")


def test_file_unknown_top_level_key(tmp_path):
    path = write(tmp_path, edited("[policies.hybrid]\n", "[polices.hybrid]\n"))
    check(_load_error(path), "my_scenario.toml", "polices", "did you mean 'policies'?")


def test_file_all_policies_misspelt(tmp_path):
    path = write(tmp_path, DEFAULT_TEXT.replace("[policies.", "[polices."))
    exc = _load_error(path)
    check(exc, "my_scenario.toml", "policies", "required key is missing", "found 'polices'")


def test_file_misspelt_nested_key(tmp_path):
    # the typo replaces a required key: reported at the missing key, naming the typo
    path = write(tmp_path, edited("churn_propensity = {", "churn_propensty = {"))
    exc = _load_error(path)
    check(
        exc, "my_scenario.toml", "segments.enterprise.churn_propensity",
        "required key is missing", "found 'churn_propensty'", "did you mean 'churn_propensity'?",
    )


def test_file_unknown_nested_key(tmp_path):
    path = write(tmp_path, edited("[network]\n", "[network]\nrewirre = 0.2\n"))
    exc = _load_error(path)
    check(exc, "my_scenario.toml", "network.rewirre", "unknown key", "did you mean 'rewire'?")


def test_file_string_for_number(tmp_path):
    path = write(tmp_path, edited("customers = 10000", 'customers = "10000"'))
    exc = _load_error(path)
    check(exc, "my_scenario.toml", "population.customers", "expected an integer", "'10000'")


def test_file_edge_to_undefined_stage(tmp_path):
    path = write(tmp_path, edited('to = "purchase"', 'to = "purchse"'))
    exc = _load_error(path)
    check(
        exc, "my_scenario.toml", "lifecycle.edges[3].to",
        "undefined stage 'purchse'", "did you mean 'purchase'?",
    )


def test_file_unreachable_stage(tmp_path):
    churned = 'churned = { kind = "churned" }'
    text = edited(churned, churned + '\nlimbo = { kind = "customer" }')
    check(
        _load_error(write(tmp_path, text)), "my_scenario.toml", "lifecycle.stages.limbo",
        "'limbo' cannot be reached",
    )


def test_file_winback_edge_without_allow_winback(tmp_path):
    text = DEFAULT_TEXT + '\n[[lifecycle.edges]]\nfrom = "churned"\nto = "adoption"\nbase = 0.05\n'
    path = write(tmp_path, text)
    check(_load_error(path), "my_scenario.toml", "lifecycle.edges[16].from",
          "lifecycle.allow_winback is false")
    allowed = text.replace("allow_winback = false", "allow_winback = true")
    assert load_scenario(write(tmp_path, allowed, "ok.toml")).lifecycle.allow_winback


def test_file_high_touch_with_zero_headcount(tmp_path):
    text = edited(
        "[policies.high_touch.teams.named]\naccounts_per_csm = 25\nheadcount = \"auto\"",
        "[policies.high_touch.teams.named]\naccounts_per_csm = 25\nheadcount = 0",
    )
    check(_load_error(write(tmp_path, text)), "my_scenario.toml",
          "policies.high_touch.teams.named.headcount", "needs CSMs", "headcount is 0")


def test_unreadable_file(tmp_path, monkeypatch):
    path = write(tmp_path, DEFAULT_TEXT)

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    check(_load_error(path), "my_scenario.toml", "", "cannot read: Permission denied")


def test_missing_file(tmp_path):
    exc = _load_error(tmp_path / "nowhere.toml")
    check(exc, "nowhere.toml", "", "no such scenario file")


def test_unknown_scenario_name():
    with pytest.raises(InputError) as info:
        load_scenario("defualt")
    check(
        info.value, None, "", "no scenario named 'defualt'", "did you mean 'default'?",
        "shipped: ", "default",
    )


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


# ----------------------------------------------------------------------------------
# the command line: exit 2, one line on stderr, no traceback, nothing written


def _cli_fails(capsys, tmp_path, args, *expected):
    out = tmp_path / "out"
    before = set(tmp_path.iterdir())
    code = main(["run", *args, "--quiet", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("engagesim: error: ")
    for text in expected:
        assert text in lines[0], (text, lines[0])
    assert captured.out == ""
    assert not out.exists()
    assert set(tmp_path.iterdir()) == before  # no temporary folders left behind either
    return lines[0]


CLI_FILES = {
    "syntax": (edited("months = 36", "months = "), ["not valid TOML", "line 13"]),
    "unknown key": (
        edited("[policies.hybrid]\n", "[polices.hybrid]\n"),
        ["polices: unknown key", "did you mean 'policies'?"],
    ),
    "string for number": (
        edited("customers = 10000", 'customers = "many"'),
        ["population.customers: expected an integer", "'many'"],
    ),
    "undefined stage": (
        edited('to = "purchase"', 'to = "purchse"'),
        ["lifecycle.edges[3].to: undefined stage 'purchse'", "did you mean 'purchase'?"],
    ),
    "misspelt team": (
        edited("[policies.hybrid.teams.named]\n", "[policies.hybrid.teams.nammed]\n"),
        ["policies.hybrid.teams.nammed: unknown team", "did you mean 'named'?"],
    ),
    "no CSMs": (
        edited(
            "[policies.high_touch.teams.named]\naccounts_per_csm = 25\nheadcount = \"auto\"",
            "[policies.high_touch.teams.named]\naccounts_per_csm = 25\nheadcount = 0",
        ),
        ["policies.high_touch.teams.named.headcount: a 'named_csm' program needs CSMs"],
    ),
}


@pytest.mark.parametrize(("text", "expected"), CLI_FILES.values(), ids=CLI_FILES.keys())
def test_cli_bad_file(capsys, tmp_path, text, expected):
    path = write(tmp_path, text)
    _cli_fails(capsys, tmp_path, [str(path)], "my_scenario.toml", *expected)


def test_cli_not_utf8(capsys, tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('description = "Café"\n'.encode("latin-1"))
    _cli_fails(capsys, tmp_path, [str(path)], "latin1.toml", "not UTF-8")


def test_cli_unknown_scenario(capsys, tmp_path):
    _cli_fails(capsys, tmp_path, ["defualt"], "no scenario named 'defualt'", "'default'")


def test_cli_missing_scenario_file(capsys, tmp_path):
    _cli_fails(capsys, tmp_path, [str(tmp_path / "gone.toml")], "gone.toml", "no such scenario")


def test_cli_unknown_policy(capsys, tmp_path):
    _cli_fails(
        capsys, tmp_path, ["default", "--policy", "hybird", "--customers", "20"],
        "default.toml", "policies: no policy named 'hybird'", "did you mean 'hybrid'?",
    )


def test_cli_missing_policy_file(capsys, tmp_path):
    _cli_fails(
        capsys, tmp_path, ["default", "--policy", f"{tmp_path}/mine.py:Mine"],
        "mine.py", "no such policy file",
    )


def test_cli_policy_file_that_does_not_import(capsys, tmp_path):
    (tmp_path / "mine.py").write_text("import no_such_module_here\n")
    _cli_fails(
        capsys, tmp_path, ["default", "--policy", f"{tmp_path}/mine.py:Mine"],
        "mine.py", "cannot import", "ModuleNotFoundError",
    )


def test_cli_policy_class_that_is_not_a_policy(capsys, tmp_path):
    (tmp_path / "mine.py").write_text("class Mine:\n    pass\n")
    _cli_fails(
        capsys, tmp_path, ["default", "--policy", f"{tmp_path}/mine.py:Mine"],
        "mine.py: Mine: expected a subclass of sim.Policy",
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--customers", "0"], "argument --customers: expected a number ≥ 1, got 0"),
        (["--customers", "many"], "argument --customers: expected a whole number, got 'many'"),
        (["--months", "0"], "argument --months: expected a number ≥ 1, got 0"),
        (["--seed", "-1"], "argument --seed: expected a seed ≥ 0, got -1"),
        (["--seed", "1.5"], "argument --seed: expected a whole number, got '1.5'"),
    ],
)
def test_cli_bad_arguments_exit_2(capsys, tmp_path, args, expected):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(["run", "default", *args, "--quiet", "--out", str(out)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"engagesim run: error: {expected}"
    assert not out.exists()


def test_cli_good_run_writes_results(capsys, tmp_path):
    out = tmp_path / "out"
    code = main(["run", "default", "--customers", "60", "--months", "2", "--quiet",
                 "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "customers.csv", "summary.json", "timeseries.csv"
    ]
    assert capsys.readouterr().err == ""
