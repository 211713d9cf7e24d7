"""``engagesim decide``: bad input, resume, worker count, the saltelli design, rebuilding."""

import shutil

import pandas as pd

from sim.cli import main

SMALL = ["--samples", "8", "--replications", "2", "--customers", "120", "--months", "12",
         "--quiet"]
TABLES = ("runs.csv", "decision.csv", "value_of_information.csv", "break_even.csv",
          "drivers.csv")


def _decide(out, *extra):
    return main(["decide", "churn_nudge", *SMALL, "--out", str(out), *extra])


def test_a_scenario_without_uncertainties_says_what_to_add(tmp_path, capsys):
    assert main(["decide", "constant_churn", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "[uncertainties" in err and "source =" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_saltelli_needs_a_power_of_two(tmp_path, capsys):
    code = main(["decide", "churn_nudge", "--design", "saltelli", "--samples", "12",
                 "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2
    assert "--samples" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_an_unknown_policy_exits_2(tmp_path, capsys):
    assert _decide(tmp_path / "o", "--policies", "none,nudgee") == 2
    assert "nudge" in capsys.readouterr().err


def test_identical_results_with_one_or_two_workers(tmp_path):
    assert _decide(tmp_path / "one", "--jobs", "1") == 0
    assert _decide(tmp_path / "two", "--jobs", "2") == 0
    for name in TABLES:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_resume_finishes_the_missing_runs_and_gives_the_same_answer(tmp_path, capsys):
    assert _decide(tmp_path / "full", "--jobs", "1") == 0
    shutil.copytree(tmp_path / "full", tmp_path / "part")
    rows = sorted((tmp_path / "part" / "rows").glob("*.json"))
    for row in rows[::3]:
        row.unlink()
    capsys.readouterr()
    assert _decide(tmp_path / "part", "--jobs", "1", "--resume") == 0
    assert f"{len(rows[::3])} runs in" in capsys.readouterr().out
    for name in TABLES:
        assert (tmp_path / "full" / name).read_bytes() == (tmp_path / "part" / name).read_bytes()


def test_resume_refuses_another_decision(tmp_path, capsys):
    assert _decide(tmp_path / "o", "--jobs", "1") == 0
    assert _decide(tmp_path / "o", "--jobs", "1", "--resume", "--seed", "5") == 2
    assert "different experiment" in capsys.readouterr().err


def test_report_rebuilds_the_same_decision(tmp_path):
    assert _decide(tmp_path / "o", "--jobs", "1") == 0
    before = {name: (tmp_path / "o" / name).read_bytes() for name in TABLES}
    before["report.md"] = (tmp_path / "o" / "report.md").read_bytes()
    assert main(["report", str(tmp_path / "o")]) == 0
    for name, data in before.items():
        assert (tmp_path / "o" / name).read_bytes() == data, name


def test_a_saltelli_decision_reports_total_indices(tmp_path):
    assert _decide(tmp_path / "o", "--jobs", "1", "--design", "saltelli") == 0
    runs = pd.read_csv(tmp_path / "o" / "runs.csv")
    assert runs["point"].nunique() == 8 * (2 + 2)   # n·(d + 2) with two assumptions
    drivers = pd.read_csv(tmp_path / "o" / "drivers.csv")
    assert drivers["total"].notna().all()
    assert "total" in (tmp_path / "o" / "report.md").read_text()
