"""Bad input on the command line: exit code 2, one line on stderr, nothing written."""

from __future__ import annotations

import pytest
from scenario_cases import edited, write

from sim.cli import main


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
    "syntax": (edited("months = 36", "months = "), ["not valid TOML", "line 18"]),
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
        edited("[policies.hybrid.teams.pooled]", "[policies.hybrid.teams.poolled]"),
        ["policies.hybrid.teams.poolled: unknown team", "did you mean 'pooled'?"],
    ),
    "no CSMs": (
        edited(
            "[policies.high_touch.programs.custom_onboarding]",
            "[policies.high_touch.teams.named]\nheadcount = 0\n\n"
            "[policies.high_touch.programs.custom_onboarding]",
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


def test_cli_policy_that_reports_an_unknown_cost_type(capsys, tmp_path):
    (tmp_path / "mine.py").write_text(
        "import numpy as np\n"
        "from sim import Engagement, Policy\n\n"
        "class Travel(Policy):\n"
        "    name = 'travel_policy'\n\n"
        "    def engage(self, view):\n"
        "        z = np.zeros(view.n)\n"
        "        return Engagement(z, z, z, {'travel': 1.0})\n"
    )
    _cli_fails(
        capsys, tmp_path, ["default", "--policy", f"{tmp_path}/mine.py:Travel",
                           "--customers", "50", "--months", "1"],
        f"{tmp_path}/mine.py: Travel: policy 'travel_policy'", "unknown cost type 'travel'",
        "allowed: fixed, touch, setup, staff",
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
        "conversion.csv", "customers.csv", "summary.json", "timeseries.csv"
    ]
    assert capsys.readouterr().err == ""


BAD_POLICIES = {
    "nan response": (
        "        return Engagement(np.full(view.n, np.nan), z, z)\n",
        ["step 1: Engagement.response must be in [0, 1], got nan"],
    ),
    "negative cost": (
        "        return Engagement(z, z, np.full(view.n, -5.0), {'touch': 0.0})\n",
        ["step 1: Engagement.cost must be finite and ≥ 0, got -5.0"],
    ),
    "raises": (
        "        raise KeyError('oops')\n",
        ["step 1: engage() raised KeyError: 'oops'"],
    ),
}


@pytest.mark.parametrize(("body", "expected"), BAD_POLICIES.values(), ids=BAD_POLICIES.keys())
def test_cli_policy_with_bad_numbers_or_an_exception_exits_2(capsys, tmp_path, body, expected):
    (tmp_path / "mine.py").write_text(
        "import numpy as np\n"
        "from sim import Engagement, Policy\n\n"
        "class Bad(Policy):\n"
        "    name = 'bad_policy'\n\n"
        "    def engage(self, view):\n"
        "        z = np.zeros(view.n)\n" + body
    )
    _cli_fails(
        capsys, tmp_path, ["default", "--policy", f"{tmp_path}/mine.py:Bad",
                           "--customers", "50", "--months", "2"],
        f"{tmp_path}/mine.py: Bad: policy 'bad_policy'", *expected,
    )


@pytest.mark.filterwarnings("error::RuntimeWarning")  # overflow is caught, not warned
def test_cli_run_whose_numbers_overflow_exits_2_instead_of_reporting_them(capsys, tmp_path):
    path = write(tmp_path, edited("mean = 3600.0, sd = 1800.0", "mean = 1e308, sd = 1e307"))
    _cli_fails(
        capsys, tmp_path, [str(path), "--customers", "200", "--months", "14"],
        "my_scenario.toml: policy 'hybrid': the run's results are not finite numbers",
        "ltv_mean = inf", "float64 overflowed",
    )


def test_cli_integers_beyond_64_bits_are_refused_not_a_traceback(capsys, tmp_path):
    path = write(tmp_path, edited("customers = 10000", "customers = 99999999999999999999"))
    _cli_fails(capsys, tmp_path, [str(path)], "my_scenario.toml: population.customers: "
               "expected an integer that fits in 64 bits")
    _cli_fails(capsys, tmp_path, ["default", "--months", str(2**64)],
               "time.months: expected an integer that fits in 64 bits")
    _cli_fails(capsys, tmp_path, ["default", "--customers", str(2**64)],
               "population.customers: expected an integer that fits in 64 bits")


def test_cli_horizon_is_bounded(capsys, tmp_path):
    _cli_fails(capsys, tmp_path, ["default", "--months", "1201"],
               "default.toml: time.months: expected an integer ≤ 1200, got 1201")


def test_cli_a_run_too_big_for_memory_is_refused_before_allocating(capsys, tmp_path):
    # a trillion agents need ~550 TiB: refused on any machine, in a moment
    line = _cli_fails(capsys, tmp_path, ["default", "--customers", str(10**12)],
                      "population.customers: simulating 1,000,000,000,000 customer agents "
                      "needs about ", " GiB available", "--agents")
    assert "MemoryError" not in line


def test_cli_memory_estimate_against_what_is_available(capsys, tmp_path, monkeypatch):
    from sim.engine import memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 1.0 * memory.GIB)
    # 5 million agents on the default small-world network (degree 6): 5e6 x (300 + 48 x 6)
    _cli_fails(capsys, tmp_path, ["default", "--customers", "5000000"],
               "needs about 2.7 GiB of memory, 1.0 GiB available")
    _cli_fails(capsys, tmp_path, ["default", "--customers", "50", "--agents", "5000000"],
               "population.agents: simulating 5,000,000 customer agents")
    # the same company simulated through a sample fits
    out = tmp_path / "fits"
    assert main(["run", "default", "--customers", "5000000", "--agents", "300",
                 "--months", "1", "--quiet", "--out", str(out)]) == 0
