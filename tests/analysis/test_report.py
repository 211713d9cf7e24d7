"""The report: the answer first, figures, summary.csv; sweeps, one replication, failed runs."""

import shutil

import pandas as pd
import pytest

from sim.analysis.plots import label
from sim.analysis.report import build_report
from sim.analysis.statistics import SUMMARY_COLUMNS
from sim.sweep.design import experiment_from_dict
from sim.sweep.runner import sweep
from sim.sweep.store import ResultStore

POLICIES = ["no_touch", "low_touch", "high_touch", "hybrid"]
SEGMENTS = ["enterprise", "mid_market", "smb"]
PNG = b"\x89PNG\r\n\x1a\n"
SMALL = {"scenario": "default", "months": 8, "customers": 300, "seed": 5}
FACTORS = [
    {"path": "policies.high_touch.teams.named.accounts_per_csm", "values": [10, 50]},
    {"path": "segments.enterprise.share", "values": [0.05, 0.2],
     "complement": "segments.smb.share"},
]


def make_folder(root, **keys):
    exp = experiment_from_dict({**SMALL, **keys}, "test.toml")
    sweep(exp, root, jobs=1, progress=False)
    return root


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    root = make_folder(tmp_path_factory.mktemp("single") / "out", policies=POLICIES,
                       replications=3)
    return root, build_report(root)


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = make_folder(tmp_path_factory.mktemp("grid") / "out",
                       policies=["no_touch", "high_touch", "hybrid"], replications=2,
                       design={"kind": "grid"}, factors=FACTORS)
    return root, build_report(root)


def answer_section(text):
    assert text.startswith("# ")
    head, _, rest = text.partition("## The answer\n")
    assert head.count("\n## ") == 0  # nothing but the title and headline before it
    return rest.split("\n## ")[0]


def check_figures(root, names):
    for name in names:
        data = (root / "figures" / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000, name


def test_report_opens_with_the_answer_for_every_segment(single):
    root, path = single
    assert path == root / "report.md"
    answer = answer_section(path.read_text())
    for segment in ["all customers", *SEGMENTS]:
        assert f"**{label(segment)[0].upper() + label(segment)[1:]}**" in answer
    assert answer.count("maximises profit per customer") == 4
    assert "95 % CI" in answer
    assert any(v in answer for v in ("**Certain.**", "**Likely.**", "**Too close to call.**"))


def test_report_has_tables_figures_and_method(single):
    root, path = single
    text = path.read_text()
    for heading in ("## Comparison", "## Figures", "## Method"):
        assert heading in text
    assert "| policy | retention 6 mo | LTV / customer |" in text  # 8 months: no 12 yet
    assert "root seed 5" in text and "12 in all, 12 succeeded, 0 failed" in text
    check_figures(root, ["profit_per_customer.png", "ltv_vs_cost.png", "retention.png",
                         "funnel.png", "costs.png"])
    for name in ("profit_per_customer", "funnel", "costs"):
        assert f"(figures/{name}.png)" in text


def test_summary_csv_has_the_documented_columns(single):
    root, _ = single
    table = pd.read_csv(root / "summary.csv")
    assert list(table.columns) == ["point", *SUMMARY_COLUMNS]
    assert set(table["policy"]) == set(POLICIES)
    profit = table[table["metric"] == "profit_per_customer"].set_index("policy")
    assert (profit["n"] == 3).all() and (profit["n_failed"] == 0).all()
    assert profit.loc["no_touch", "diff_mean"] != profit.loc["no_touch", "diff_mean"]  # nan
    assert profit.loc["hybrid", ["diff_ci_low", "diff_ci_high"]].notna().all()


def test_rebuilding_gives_identical_files(single):
    root, path = single
    before = (path.read_bytes(), (root / "summary.csv").read_bytes())
    assert build_report(root) == path
    assert (path.read_bytes(), (root / "summary.csv").read_bytes()) == before


def test_sweep_report_has_winner_per_point_and_sweep_figures(grid):
    root, path = grid
    text = path.read_text()
    answer = answer_section(text)
    assert "Averaged over all 4 design points" in answer
    assert "### Winner at each design point" in answer
    assert "`segments.enterprise.share`" in answer
    check_figures(root, ["factor_1.png", "factor_2.png", "winner_map_1.png", "funnel.png"])
    table = pd.read_csv(root / "summary.csv")
    assert list(table.columns) == ["point", *(f["path"] for f in FACTORS), *SUMMARY_COLUMNS]
    assert sorted(table["point"].unique()) == [0, 1, 2, 3]


def test_one_replication_says_there_is_no_ci(tmp_path):
    root = make_folder(tmp_path / "one", policies=["no_touch", "hybrid"], replications=1)
    text = build_report(root).read_text()
    answer = answer_section(text)
    assert "Only 1 replication" in answer and "no confidence interval" in answer
    assert "**Too close to call.**" in answer and "**Certain" not in answer
    table = pd.read_csv(root / "summary.csv")
    assert table["ci_low"].isna().all() and (table["n"] <= 1).all()


def test_failed_runs_are_reported_and_left_out(single, tmp_path):
    src, _ = single
    root = tmp_path / "failed"
    shutil.copytree(src, root)
    runs = ResultStore(root).read_runs()
    broken = runs.index[(runs["policy"] == "high_touch") & (runs["replication"] == 1)][0]
    metrics = [c for c in runs.columns if c not in ("run_id", "point", "policy",
                                                    "replication", "seed", "error")]
    runs.loc[broken, metrics] = float("nan")
    runs.loc[broken, "error"] = "RuntimeError: simulated failure"
    runs.to_csv(root / "runs.csv", index=False)
    (root / "series" / f"{int(runs.loc[broken, 'run_id']):06d}.npz").unlink()
    text = build_report(root).read_text()
    assert "1 of 12 runs failed" in answer_section(text)
    assert "11 succeeded, 1 failed" in text and "simulated failure" in text
    table = pd.read_csv(root / "summary.csv")
    high = table[(table["policy"] == "high_touch") & (table["metric"] == "ltv_mean")].iloc[0]
    assert (high["n"], high["n_failed"], high["diff_n"]) == (2, 1, 2)
    check_figures(root, ["funnel.png", "costs.png"])
