"""Real scenario files: the shipped ones load, and a bad file's error names the user's file.

Files are written as text from ``scenarios/default.toml`` with one edit each.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scenario_cases import DEFAULT_TEXT, RAW, check, edited, write

from sim import InputError, load_scenario

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
# real files: the user's file name is in the message


def _load_error(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        load_scenario(path)
    return info.value


def test_file_invalid_toml_syntax(tmp_path):
    path = write(tmp_path, edited("months = 36", "months = "))
    exc = _load_error(path)
    check(exc, "my_scenario.toml", "", "not valid TOML", "(at line 18, column")


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
    path = write(tmp_path, edited("annual_churn = {", "anual_churn = {"))
    exc = _load_error(path)
    check(
        exc, "my_scenario.toml", "segments.enterprise.annual_churn",
        "required key is missing", "found 'anual_churn'", "did you mean 'annual_churn'?",
        "or churn_propensity (per month)",
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
        "[policies.high_touch.programs.custom_onboarding]",
        "[policies.high_touch.teams.named]\nheadcount = 0\n\n"
        "[policies.high_touch.programs.custom_onboarding]",
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
