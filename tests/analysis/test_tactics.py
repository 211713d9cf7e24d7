"""``engagesim tactics``: what each program adds, the whole against its parts, the CLI."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.analysis.tactics import (
    COST,
    INTERACTION,
    PARTS,
    PROFIT,
    ROI,
    WHOLE,
    interaction_table,
    interaction_words,
    program_table,
    retention_metric,
)
from sim.cli import main

DEFAULT = Path(__file__).resolve().parents[2] / "scenarios" / "default.toml"
IDLE = """
[policies.high_touch.programs.idle]   # a program that does nothing and costs nothing
channel = "digital"
touches_per_month = 3.0
effect = 0.0
"""
SMALL = ["--customers", "1000", "--months", "12", "--replications", "2", "--jobs", "1",
         "--quiet"]


def _synthetic(values: dict[str, np.ndarray], column: str = PROFIT) -> pd.DataFrame:
    """A runs table: one run per policy and replication with ``column`` as given."""
    rows = []
    for policy, series in values.items():
        for replication, value in enumerate(series):
            rows.append({"run_id": len(rows), "point": 0, "policy": policy,
                         "replication": replication, "seed": replication, column: value,
                         "error": ""})
    return pd.DataFrame(rows)


def test_whole_against_the_sum_of_its_parts():
    rng = np.random.default_rng(12)
    common = rng.normal(0, 50, 6)  # what every variant of a replication shares
    p = 100 + common
    a = 70 + common + rng.normal(0, 1, 6)  # A adds 30
    b = 60 + common + rng.normal(0, 1, 6)  # B adds 40
    none = 10 + common + rng.normal(0, 2, 6)  # together they add 90 > 70: they overlap
    runs = _synthetic({"P": p, "k:A": a, "k:B": b, "none": none})
    table = interaction_table(runs, "P", ["k:A", "k:B"], "none", metrics=[PROFIT])
    rows = table.set_index("program")
    whole, parts = p - none, (p - a) + (p - b)
    np.testing.assert_allclose(rows.loc[WHOLE, "diff_mean"], whole.mean())
    np.testing.assert_allclose(rows.loc[PARTS, "diff_mean"], parts.mean())
    inter = whole - parts
    half = stats.t.ppf(0.975, 5) * inter.std(ddof=1) / math.sqrt(6)
    np.testing.assert_allclose(rows.loc[INTERACTION, ["diff_mean", "diff_ci_low",
                                                      "diff_ci_high"]].to_numpy(float),
                               [inter.mean(), inter.mean() - half, inter.mean() + half])
    assert rows.loc[INTERACTION, "diff_ci_low"] > 0
    words = interaction_words(whole.mean(), parts.mean(), rows.loc[INTERACTION, "diff_ci_low"],
                              rows.loc[INTERACTION, "diff_ci_high"])
    assert "substitute" in words


def test_a_failed_run_drops_its_replication_from_the_whole_and_the_parts():
    runs = _synthetic({"P": np.array([10.0, 11, 12]), "k:A": np.array([8.0, 9, 10]),
                       "none": np.array([1.0, 2, 3])})
    runs.loc[(runs["policy"] == "none") & (runs["replication"] == 1), "error"] = "boom"
    rows = interaction_table(runs, "P", ["k:A"], "none", metrics=[PROFIT]).set_index("program")
    assert (rows["n"] == 2).all()
    assert rows.loc[WHOLE, "diff_mean"] == 9 and rows.loc[PARTS, "diff_mean"] == 2


@pytest.mark.parametrize(("low", "high", "words"), [
    (1.0, 2.0, "substitute"), (-2.0, -1.0, "complement"), (-1.0, 1.0, "do not differ"),
    (math.nan, math.nan, "single replication"),
])
def test_interaction_in_words(low, high, words):
    assert words in interaction_words(10.0, 9.0, low, high)


def test_program_table_ranks_by_profit_and_divides_for_the_roi():
    profit = {"P": np.array([10.0, 12, 14]), "k:A": np.array([9.0, 10, 12]),
              "k:B": np.array([4.0, 6, 8])}
    cost = {"P": np.array([5.0, 5, 5]), "k:A": np.array([5.0, 5, 5]),
            "k:B": np.array([3.0, 2, 4])}
    runs = _synthetic(profit)
    runs[COST] = _synthetic(cost, COST)[COST]
    table = program_table(runs, "P", {"A": "k:A", "B": "k:B"})
    assert list(dict.fromkeys(table["program"])) == ["B", "A"]  # B adds 6, A adds 5/3
    by = table.set_index(["program", "metric"])["diff_mean"]
    assert by["B", PROFIT] == 6 and by["B", COST] == 2 and by["B", ROI] == 3
    assert by["A", COST] == 0 and math.isnan(by["A", ROI])  # costs nothing more: no ROI


def _idle_scenario(tmp_path: Path) -> Path:
    path = tmp_path / "idle.toml"
    path.write_text(DEFAULT.read_text() + IDLE)
    return path


def test_tactics_end_to_end(tmp_path, capsys):
    scenario = _idle_scenario(tmp_path)
    out = tmp_path / "out"
    assert main(["tactics", str(scenario), "--policy", "high_touch", *SMALL,
                 "--out", str(out)]) == 0
    for name in ("runs.csv", "tactics.csv", "report.md", "figures/tactics.png",
                 "manifest.json"):
        assert (out / name).is_file(), name
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 2 * 6  # high touch, without each of its 4 programs, without any
    tidy = pd.read_csv(out / "tactics.csv")
    idle = tidy[tidy["program"] == "idle"].set_index("metric")
    # the program that does nothing adds nothing, exactly, in every metric
    numeric = idle.drop(index=ROI)
    assert (numeric["diff_mean"] == 0).all() and (numeric["diff_ci_low"] == 0).all()
    assert (numeric["diff_ci_high"] == 0).all() and math.isnan(idle.loc[ROI, "diff_mean"])
    check_ins = tidy[tidy["program"] == "check_ins"].set_index("metric")
    assert check_ins.loc["retention_12", "n"] == 2
    report = (out / "report.md").read_text()
    assert "Together and apart" in report and "**idle**" in report
    assert "check ins" in report and "ROI" in report
    # rebuilt from the folder alone: the same files
    before = {name: (out / name).read_bytes() for name in ("report.md", "tactics.csv")}
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert "report.md" in capsys.readouterr().out
    for name, data in before.items():
        assert (out / name).read_bytes() == data, name


@pytest.mark.parametrize(("argv", "words"), [
    (["tactics", "--policy", "hybird"], "did you mean 'hybrid'"),
    (["tactics", "--policy", "plan:enterprise=hybrid,mid_market=hybrid,smb=hybrid"],
     "expected a policy of scenario 'default'"),
    (["run", "--policy", "knockout:hybrid/escalaton"], "no program named 'escalaton'"),
])
def test_a_bad_policy_or_program_exits_2(tmp_path, capsys, argv, words):
    assert main([*argv, "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_retention_is_compared_at_12_months_else_the_longest_measured():
    runs = pd.DataFrame({"retention_6": [0.9], "retention_12": [0.8], "retention_24": [0.7]})
    assert retention_metric(runs) == "retention_12"
    assert retention_metric(runs.drop(columns="retention_12")) == "retention_24"
    assert retention_metric(pd.DataFrame({"retention_3": [0.9], "retention_6": [np.nan]})) \
        == "retention_3"
