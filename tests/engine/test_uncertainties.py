"""A scenario's [uncertainties]: the distributions, how values are shown, and every error.

Bad tables replace the default scenario's ``[uncertainties]`` (see
``scenario_cases.check`` for what every message must hold).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from scenario_cases import DEFAULT_TEXT, FILE, RAW, check, edited, write
from scipy import stats

from sim import InputError, load_scenario
from sim.cli import main
from sim.engine.paths import get_path
from sim.engine.scenario import from_dict, shipped_scenarios
from sim.engine.uncertainties import DISPLAYS, UNCERTAIN_DISTRIBUTIONS, Uncertainty

PATH = "policies.high_touch.programs.check_ins.effect"
KEY = f'uncertainties."{PATH}"'
TRIANGULAR = {"dist": "triangular", "low": 0.2, "mode": 0.5, "high": 0.9, "source": "guess"}


def _scenario(table):
    """The default scenario with ``table`` as its whole [uncertainties] table."""
    raw = copy.deepcopy(RAW)
    raw["uncertainties"] = table
    return from_dict(raw, FILE)


def _one(entry, path=PATH):
    (uncertainty,) = _scenario({path: {"source": "guess", **entry}}).uncertainties
    return uncertainty


def _error(table):
    with pytest.raises(InputError) as info:
        _scenario(table)
    return info.value


# ----------------------------------------------------------------------------------
# the shipped ranges


def test_default_declares_thirteen_uncertainties_in_file_order():
    scenario = load_scenario("default")
    assert len(scenario.uncertainties) == 13
    first = scenario.uncertainties[0]
    assert first.path == "lifecycle.edges[9].drivers.touch"
    assert first.also == tuple(f"lifecycle.edges[{i}].drivers.touch" for i in (7, 11, 13))
    assert first.display == "odds_cut"
    assert first.label == "Churn cut by touches (at full response)"
    assert [u.path for u in scenario.uncertainties if u.integer] == [
        "teams.named.accounts_per_csm"
    ]
    for u in scenario.uncertainties:
        assert u.source and u.label != u.path and u.display in DISPLAYS


#: shipped scenarios that declare uncertain assumptions (each must keep them valid)
UNCERTAIN_SCENARIOS = tuple(
    name for name, path in shipped_scenarios().items() if "[uncertainties" in path.read_text()
)


@pytest.mark.parametrize("name", UNCERTAIN_SCENARIOS)
def test_base_values_lie_inside_their_supports(name):
    scenario = load_scenario(name)
    assert scenario.uncertainties
    for u in scenario.uncertainties:
        assert u.source and u.label != u.path and u.display in DISPLAYS
        low, high = u.support()
        for path in (u.path, *u.also):
            assert low <= get_path(scenario.raw, path) <= high, path


@pytest.mark.parametrize("q", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("name", UNCERTAIN_SCENARIOS)
def test_extremes_are_valid_scenarios(name, q):
    scenario = load_scenario(name)
    for u in scenario.uncertainties:
        value = round(u.ppf(q)) if u.integer else u.ppf(q)
        changed = scenario.with_overrides({u.path: value, **{a: value for a in u.also}})
        assert get_path(changed.raw, u.path) == value
        assert changed.uncertainties == scenario.uncertainties


def test_a_scenario_without_the_table_has_none():
    raw = copy.deepcopy(RAW)
    del raw["uncertainties"]
    assert from_dict(raw, FILE).uncertainties == ()


# ----------------------------------------------------------------------------------
# distributions: ppf at 0, 0.5, 1 against scipy's closed forms


def _lognormal(mean, sd):
    sigma2 = math.log1p((sd / mean) ** 2)
    return stats.lognorm(s=math.sqrt(sigma2), scale=mean / math.sqrt(math.exp(sigma2)))


def _check_ppf(u, low, median, high):
    assert u.ppf(0.0) == pytest.approx(low)
    assert u.ppf(0.5) == pytest.approx(median)
    assert u.ppf(1.0) == pytest.approx(high)
    assert u.support() == pytest.approx((low, high))
    values = u.ppf(np.linspace(0.0, 1.0, 101))
    assert values.shape == (101,)
    assert np.all(np.diff(values) >= 0)
    lowest, highest = u.support()
    assert np.all((values >= lowest) & (values <= highest))


def test_uniform():
    u = _one({"dist": "uniform", "low": 0.2, "high": 0.9})
    _check_ppf(u, 0.2, 0.55, 0.9)
    assert u.ppf(0.25) == pytest.approx(0.375)
    assert u.mean() == pytest.approx(0.55)
    assert u.describe() == "uniform(0.2, 0.9)"


def test_triangular():
    u = _one(TRIANGULAR)
    # the median of a triangle whose mode lies left of the middle
    median = 0.9 - math.sqrt((0.9 - 0.2) * (0.9 - 0.5) / 2)
    _check_ppf(u, 0.2, median, 0.9)
    assert u.mean() == pytest.approx((0.2 + 0.5 + 0.9) / 3)
    assert u.params == (("low", 0.2), ("mode", 0.5), ("high", 0.9))
    assert u.describe() == "triangular(0.2, 0.5, 0.9)"
    assert isinstance(u.ppf(0.3), float)


def test_beta_rescaled_onto_its_bounds():
    u = _one({"dist": "beta", "alpha": 2, "beta": 5, "low": 0.1, "high": 0.4})
    _check_ppf(u, 0.1, 0.1 + 0.3 * stats.beta(2, 5).median(), 0.4)
    assert u.mean() == pytest.approx(0.1 + 0.3 * 2 / 7)
    assert u.describe() == "beta(2, 5) on [0.1, 0.4]"


def test_beta_defaults_to_the_unit_interval():
    u = _one({"dist": "beta", "alpha": 2, "beta": 5})
    _check_ppf(u, 0.0, stats.beta(2, 5).median(), 1.0)
    assert u.describe() == "beta(2, 5)"


def test_truncated_normal_stays_in_its_bounds():
    u = _one({"dist": "normal", "mean": 1.0, "sd": 0.2, "low": 0.5, "high": 1.5})
    _check_ppf(u, 0.5, 1.0, 1.5)
    assert u.ppf(0.25) == pytest.approx(stats.truncnorm(-2.5, 2.5, 1.0, 0.2).ppf(0.25))
    assert u.mean() == pytest.approx(1.0)
    assert u.describe() == "normal(mean 1, sd 0.2) on [0.5, 1.5]"


def test_normal_truncated_on_one_side():
    u = _one({"dist": "normal", "mean": 1.0, "sd": 0.2, "low": 0.9})
    dist = stats.truncnorm(-0.5, math.inf, 1.0, 0.2)
    _check_ppf(u, 0.9, dist.ppf(0.999 / 2), dist.ppf(0.999))  # the open side is cut
    assert u.describe() == "normal(mean 1, sd 0.2) on [0.9, ∞)"


def test_unbounded_normal_is_cut_at_its_extreme_quantiles():
    u = _one({"dist": "normal", "mean": 1.0, "sd": 0.2})
    norm = stats.norm(1.0, 0.2)
    _check_ppf(u, norm.ppf(0.001), 1.0, norm.ppf(0.999))
    assert u.mean() == pytest.approx(1.0)
    assert u.describe() == "normal(mean 1, sd 0.2)"


def test_lognormal_is_parameterised_by_the_value_mean_and_sd():
    u = _one({"dist": "lognormal", "mean": 1.0, "sd": 0.5})
    dist = _lognormal(1.0, 0.5)
    _check_ppf(u, dist.ppf(0.001), 1.0 / math.sqrt(1.25), dist.ppf(0.999))
    assert u.mean() == pytest.approx(1.0, abs=0.01)  # less the 0.1 % tails
    assert u.describe() == "lognormal(mean 1, sd 0.5)"


def test_truncated_lognormal_through_its_cdf():
    u = _one({"dist": "lognormal", "mean": 1.0, "sd": 0.5, "low": 0.5, "high": 2.0})
    dist = _lognormal(1.0, 0.5)
    lo, hi = dist.cdf(0.5), dist.cdf(2.0)
    _check_ppf(u, 0.5, dist.ppf((lo + hi) / 2), 2.0)
    assert u.ppf(0.2) == pytest.approx(dist.ppf(lo + 0.2 * (hi - lo)))
    assert u.mean() == pytest.approx(dist.expect(lb=0.5, ub=2.0, conditional=True))
    assert u.describe() == "lognormal(mean 1, sd 0.5) on [0.5, 2]"


def test_every_distribution_is_tested():
    assert set(UNCERTAIN_DISTRIBUTIONS) == {"uniform", "triangular", "beta", "lognormal", "normal"}


def test_integer_flag_follows_the_scenario_value():
    path = "teams.named.accounts_per_csm"
    assert _one({"dist": "triangular", "low": 15, "mode": 25, "high": 40}, path).integer
    assert not _one(TRIANGULAR).integer


def test_inline_table_is_the_same(tmp_path):
    without = DEFAULT_TEXT[: DEFAULT_TEXT.index("# Uncertainties:")]
    tables = without + f"""
[uncertainties."{PATH}"]
dist = "triangular"
low = 0.2
mode = 0.5
high = 0.9
also = ["policies.hybrid.programs.enterprise_check_ins.effect"]
source = "guess"
label = "Check-ins"

[uncertainties."economics.expansion_rate"]
dist = "uniform"
low = 0.01
high = 0.05
source = "guess"
display = "percent"
"""
    also = '["policies.hybrid.programs.enterprise_check_ins.effect"]'
    inline = without + (
        "\n[uncertainties]\n"
        f'"{PATH}" = {{ dist = "triangular", low = 0.2, mode = 0.5, high = 0.9, '
        f'also = {also}, source = "guess", label = "Check-ins" }}\n'
        '"economics.expansion_rate" = { dist = "uniform", low = 0.01, high = 0.05, '
        'source = "guess", display = "percent" }\n'
    )
    expected = load_scenario(write(tmp_path, tables, "tables.toml")).uncertainties
    assert load_scenario(write(tmp_path, inline, "inline.toml")).uncertainties == expected
    assert [u.path for u in expected] == [PATH, "economics.expansion_rate"]
    assert expected[0].also == ("policies.hybrid.programs.enterprise_check_ins.effect",)
    assert expected[1].label == "economics.expansion_rate"  # the path when none is given


# ----------------------------------------------------------------------------------
# values in the user's units


@pytest.mark.parametrize(
    ("display", "value", "text"),
    [
        ("number", 0.5, "0.50"),
        ("number", 15000.0, "15,000"),
        ("money", 9000.0, "9k"),
        ("money", 1_250_000.0, "1.25M"),
        ("percent", 0.03, "3.0 %"),
        ("odds", 1.0, "odds ×2.72"),
        ("odds", -1.5, "odds ×0.22"),
        ("odds_cut", -1.5, "cuts churn odds by 78 %"),
        ("odds_cut", 0.5, "raises churn odds by 65 %"),
    ],
)
def test_shown(display, value, text):
    u = Uncertainty(PATH, "uniform", (("low", -2.0), ("high", 2.0)), display=display)
    assert u.shown(value) == text


@pytest.mark.parametrize(
    ("display", "value", "above", "text"),
    [
        ("percent", 0.105, True, "is above 10.5 %"),
        ("number", 0.5, False, "is below 0.50"),
        # a lower logit coefficient is a larger cut: "below −0.65" means "more than 48 %"
        ("odds_cut", -0.65, False, "cuts churn odds by more than 48 %"),
        ("odds_cut", -0.65, True, "cuts churn odds by less than 48 %"),
        ("odds_cut", 0.5, True, "raises churn odds by more than 65 %"),
    ],
)
def test_shown_beyond_reads_in_the_users_direction(display, value, above, text):
    u = Uncertainty(PATH, "uniform", (("low", -2.0), ("high", 2.0)), display=display)
    assert u.shown_beyond(value, above) == text


def test_shown_interval_gives_a_cut_once_smaller_first():
    u = Uncertainty(PATH, "uniform", (("low", -2.0), ("high", 2.0)), display="odds_cut")
    assert u.shown_interval(-1.05, -0.56) == "cuts churn odds by 43 % to 65 %"
    assert u.shown_interval(-0.5, 0.5) == "cuts churn odds by 39 % to raises churn odds by 65 %"
    money = Uncertainty(PATH, "uniform", (("low", 1.0), ("high", 2.0)), display="money")
    assert money.shown_interval(9000.0, 12000.0) == "9k to 12k"


def test_shown_integer_number_is_whole():
    u = Uncertainty(PATH, "triangular", (("low", 15), ("mode", 25), ("high", 40)), integer=True)
    assert u.shown(27.4) == "27"


def test_every_display_is_tested():
    assert set(DISPLAYS) == {"number", "money", "percent", "odds", "odds_cut"}


# ----------------------------------------------------------------------------------
# errors: one InputError naming the key path

ERROR_CASES = {
    "unknown dist": (
        {PATH: {**TRIANGULAR, "dist": "triangle"}}, f"{KEY}.dist", ["did you mean 'triangular'?"]
    ),
    "missing parameter": (
        {PATH: {k: v for k, v in TRIANGULAR.items() if k != "mode"}},
        f"{KEY}.mode", ["required key is missing", "a triangular takes low, mode, high"],
    ),
    "parameter of another distribution": (
        {PATH: {"dist": "uniform", "low": 0.2, "mode": 0.5, "high": 0.9, "source": "guess"}},
        f"{KEY}.mode", ["unknown key", "a uniform takes low, high"],
    ),
    "misspelt parameter": (
        {PATH: {**TRIANGULAR, "hihg": 1.0}}, f"{KEY}.hihg", ["did you mean 'high'?"]
    ),
    "not finite": ({PATH: {**TRIANGULAR, "low": math.nan}}, f"{KEY}.low", ["got nan"]),
    "infinite": ({PATH: {**TRIANGULAR, "high": math.inf}}, f"{KEY}.high", ["got inf"]),
    "text for a number": ({PATH: {**TRIANGULAR, "low": "0.2"}}, f"{KEY}.low", ["a string"]),
    "bool for a number": ({PATH: {**TRIANGULAR, "low": True}}, f"{KEY}.low", ["a boolean"]),
    "mode above high": (
        {PATH: {**TRIANGULAR, "mode": 1.2}}, f"{KEY}.mode", ["low ≤ mode ≤ high", "got 1.2"]
    ),
    "mode below low": ({PATH: {**TRIANGULAR, "mode": 0.1}}, f"{KEY}.mode", ["got 0.1"]),
    "low above high": (
        {PATH: {"dist": "uniform", "low": 0.9, "high": 0.2, "source": "guess"}},
        f"{KEY}.high", ["expected high > low (0.9), got 0.2"],
    ),
    "empty range": (
        {PATH: {**TRIANGULAR, "low": 0.5, "high": 0.5}}, f"{KEY}.high", ["high > low"]
    ),
    "sd zero": (
        {PATH: {"dist": "normal", "mean": 0.5, "sd": 0.0, "source": "guess"}},
        f"{KEY}.sd", ["positive"],
    ),
    "lognormal mean not positive": (
        {PATH: {"dist": "lognormal", "mean": -0.5, "sd": 0.1, "source": "guess"}},
        f"{KEY}.mean", ["positive"],
    ),
    "lognormal bound below zero": (
        {PATH: {"dist": "lognormal", "mean": 0.5, "sd": 0.1, "low": -1.0, "source": "guess"}},
        f"{KEY}.low", ["non-negative"],
    ),
    "beta alpha not positive": (
        {PATH: {"dist": "beta", "alpha": 0.0, "beta": 2.0, "source": "guess"}},
        f"{KEY}.alpha", ["positive"],
    ),
    "beta bounds reversed": (
        {PATH: {"dist": "beta", "alpha": 2, "beta": 2, "low": 1, "high": 0, "source": "guess"}},
        f"{KEY}.high", ["high > low"],
    ),
    "bounds far from the mass": (
        {PATH: {"dist": "normal", "mean": 0.5, "sd": 0.01, "low": 5, "high": 6, "source": "g"}},
        KEY, ["the bounds keep almost none of a normal"],
    ),
    "no such path": (
        {"policies.high_touch.programs.check_in.effect": TRIANGULAR},
        'uncertainties."policies.high_touch.programs.check_in.effect"',
        ["no value", f"did you mean '{PATH}'?"],
    ),
    "edge index out of range": (
        {"lifecycle.edges[99].drivers.touch": TRIANGULAR},
        'uncertainties."lifecycle.edges[99].drivers.touch"', ["no value"],
    ),
    "path to a table": (
        {"economics": TRIANGULAR}, 'uncertainties."economics"', ["not a number"]
    ),
    "path to a boolean": (
        {"lifecycle.allow_winback": TRIANGULAR}, 'uncertainties."lifecycle.allow_winback"',
        ["False", "not a number"],
    ),
    "path to text": (
        {"lifecycle.edges[0].base": TRIANGULAR}, 'uncertainties."lifecycle.edges[0].base"',
        ["'marketing'", "not a number"],
    ),
    "path into the uncertainties": (
        {"uncertainties.x": TRIANGULAR}, 'uncertainties."uncertainties.x"', ["inside"]
    ),
    "also path missing": (
        {PATH: {**TRIANGULAR, "also": ["policies.hybrid.programs.check_ins.effect"]}},
        f"{KEY}.also", ["no value", "did you mean"],
    ),
    "also not a list": ({PATH: {**TRIANGULAR, "also": PATH}}, f"{KEY}.also", ["list of strings"]),
    "complement not a number": (
        {PATH: {**TRIANGULAR, "complement": "policies.hybrid.description"}},
        f"{KEY}.complement", ["not a number"],
    ),
    "path twice": (
        {
            PATH: TRIANGULAR,
            "policies.hybrid.programs.enterprise_check_ins.effect": {
                **TRIANGULAR, "also": [PATH],
            },
        },
        'uncertainties."policies.hybrid.programs.enterprise_check_ins.effect".also',
        [f"already varied by {KEY}"],
    ),
    "path in its own also": (
        {PATH: {**TRIANGULAR, "also": [PATH]}}, f"{KEY}.also", [f"already varied by {KEY}"]
    ),
    "complement is the path": (
        {PATH: {**TRIANGULAR, "complement": PATH}}, f"{KEY}.complement", ["already varied"]
    ),
    "same path written differently": (
        {
            "lifecycle.edges[9].drivers.touch": TRIANGULAR | {"low": -3, "mode": -1, "high": 0},
            "lifecycle.edges[6].drivers.touch": TRIANGULAR | {
                "also": ["lifecycle.edges[09].drivers.touch"]
            },
        },
        'uncertainties."lifecycle.edges[6].drivers.touch".also', ["already varied"],
    ),
    "missing source": (
        {PATH: {k: v for k, v in TRIANGULAR.items() if k != "source"}},
        f"{KEY}.source", ["say where the range comes from"],
    ),
    "empty source": ({PATH: {**TRIANGULAR, "source": "  "}}, f"{KEY}.source", ["a benchmark"]),
    "source not text": ({PATH: {**TRIANGULAR, "source": 3}}, f"{KEY}.source", ["a string"]),
    "unknown display": (
        {PATH: {**TRIANGULAR, "display": "percentage"}}, f"{KEY}.display",
        ["did you mean 'percent'?"],
    ),
    "entry not a table": ({PATH: 0.5}, KEY, ["expected a table"]),
    "unknown entry key": (
        {PATH: {**TRIANGULAR, "lable": "x"}}, f"{KEY}.lable", ["did you mean 'label'?"]
    ),
    "table not a table": ([TRIANGULAR], "uncertainties", ["expected a table"]),
}


@pytest.mark.parametrize("case", ERROR_CASES)
def test_error(case):
    table, key, expected = ERROR_CASES[case]
    check(_error(table), FILE, key, *expected)


def test_bad_uncertainty_in_a_file_exits_2_naming_the_key(tmp_path, capsys):
    text = edited("high = 0.9\nalso = [\"policies.hybrid", "high = 0.4\nalso = [\"policies.hybrid")
    path = write(tmp_path, text)
    args = ["run", str(path), "--customers", "50", "--months", "2", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"my_scenario.toml: {KEY}.mode: expected low ≤ mode ≤ high" in err
    assert not (tmp_path / "o").exists()
