"""The report: the answer first, figures, summary.csv; sweeps, one replication, failed runs."""

import dataclasses
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sim.analysis.plots import label
from sim.analysis.report import (
    PRECISION,
    SENSITIVITY_COLUMNS,
    _purchases,
    build_report,
    render,
    sensitivity_table,
    winners_plan,
)
from sim.analysis.statistics import SUMMARY_COLUMNS, replications_needed
from sim.sweep.design import Factor, experiment_from_dict
from sim.sweep.pool import effective_jobs
from sim.sweep.runner import sweep
from sim.sweep.store import ResultStore

POLICIES = ["no_touch", "low_touch", "high_touch", "hybrid"]
SEGMENTS = ["enterprise", "mid_market", "smb"]
PNG = b"\x89PNG\r\n\x1a\n"
SMALL = {"scenario": "default", "months": 8, "customers": 300, "seed": 5}
FACTORS = [
    {"path": "teams.named.accounts_per_csm", "values": [10, 50]},
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
    assert answer.count("maximises lifetime profit per customer") == 4
    assert "Counting only the simulated months" in answer
    rests_on = path.read_text().split("## What this rests on")[1].split("\n## ")[0]
    assert "| horizon (months) |" in rests_on and "uncertain: triangular(" in rests_on
    assert "95 % CI" in answer
    assert any(v in answer for v in ("**Certain.**", "**Likely.**", "**Too close to call.**"))


def test_report_has_tables_figures_and_method(single):
    root, path = single
    text = path.read_text()
    for heading in ("## Comparison", "## Figures", "## Method"):
        assert heading in text
    assert "| policy | retention 6 mo | LTV / customer |" in text  # 8 months: no 12 yet
    assert "root seed 5" in text and "12 in all, 12 succeeded, 0 failed" in text
    check_figures(root, ["profit_per_customer.png", "differences.png", "ltv_vs_cost.png",
                         "retention.png", "funnel.png", "costs.png"])
    for name in ("profit_per_customer", "differences", "funnel", "costs"):
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


def test_figures_drawn_by_two_workers_are_the_same_bytes(grid, tmp_path):
    root, _ = grid
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("figures", "report.md"))
    text = build_report(copy, workers=2).read_text()
    drawn = sorted(p.name for p in (copy / "figures").iterdir())
    assert drawn == sorted(p.name for p in (root / "figures").iterdir()) and len(drawn) > 4
    for name in drawn:
        assert (copy / "figures" / name).read_bytes() == (root / "figures" / name).read_bytes()
    assert text == (root / "report.md").read_text()


def test_the_process_writing_the_report_imports_no_matplotlib_when_workers_draw(grid,
                                                                               tmp_path):
    root, _ = grid
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("figures", "report.md"))
    probe = ("import sys\nfrom sim.analysis.report import build_report\n"
             f"build_report({str(copy)!r}, workers=2)\nprint('matplotlib' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    # the figures are drawn on the workers (in this process where there is one core)
    assert done.stdout.strip() == str(effective_jobs(2) < 2)
    assert (copy / "report.md").read_text() == (root / "report.md").read_text()
    assert {p.name for p in (copy / "figures").iterdir()} == {
        p.name for p in (root / "figures").iterdir()}


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


# -- sensitivity -----------------------------------------------------------------------------
CSM_BOOK = "teams.named.accounts_per_csm"


@pytest.fixture(scope="module")
def lhs(tmp_path_factory):
    root = make_folder(tmp_path_factory.mktemp("lhs") / "out", customers=150,
                       policies=["no_touch", "high_touch"], replications=2,
                       design={"kind": "lhs", "samples": 8},
                       factors=[{"path": CSM_BOOK, "low": 5, "high": 120, "integer": True}])
    return root, build_report(root)


def test_sweep_report_has_a_sensitivity_section_and_csv(lhs):
    root, path = lhs
    text = path.read_text()
    section = text.split("## Sensitivity")[1].split("\n## ")[0]
    assert "smoothing-spline" in section and "2 replications" in section
    for heading in ("### Profit per customer", "### LTV per customer",
                    "### Cost to serve per customer", "### 6-month retention"):
        assert heading in section
    assert f"| `{CSM_BOOK}` |" in section and "*noise share*" in section
    table = pd.read_csv(root / "sensitivity.csv")
    assert list(table.columns) == list(SENSITIVITY_COLUMNS)
    assert set(table["method"]) == {"given_data"} and table["total"].isna().all()
    assert set(table["policy"]) == {"no_touch", "high_touch"}
    assert set(table["outcome"]) == {"profit_lifetime_per_customer", "profit_per_customer",
                                     "ltv_mean", "cost_per_customer",
                                     "retention_6"}
    # the book size drives high-touch's cost per customer, never no-touch's
    cost = table[table["outcome"] == "cost_per_customer"].set_index("policy")
    assert cost.loc["high_touch", "first"] > 0.5
    assert pd.isna(cost.loc["no_touch", "first"])


def test_sensitivity_is_rebuilt_identically(lhs):
    root, path = lhs
    store = ResultStore(root)
    manifest, runs = store.manifest(), store.read_runs()
    again = sensitivity_table(manifest, runs, [CSM_BOOK])  # seeded bootstraps
    assert again.to_csv(index=False, lineterminator="\n").encode() == (
        root / "sensitivity.csv").read_bytes()
    section = path.read_text().split("## Sensitivity")[1].split("\n## ")[0]
    assert section in render(manifest, runs, [CSM_BOOK], "no_touch", [], again)


def test_no_sensitivity_without_enough_points(single, grid):
    for root, path in (single, grid):  # no factors; 4 design points
        assert "## Sensitivity" not in path.read_text()
        assert not (root / "sensitivity.csv").exists()


def test_one_replication_says_the_noise_stays_in(lhs):
    root, _ = lhs
    store = ResultStore(root)
    runs = store.read_runs()
    one = runs[runs["replication"] == 0]
    table = sensitivity_table(store.manifest(), one, [CSM_BOOK])
    assert not table.empty
    text = render(store.manifest(), one, [CSM_BOOK], "no_touch", [], table)
    section = text.split("## Sensitivity")[1]
    assert "With 1 replication the simulation noise could not be estimated" in section
    assert "*noise share*" not in section


def synthetic_saltelli(samples=256, replications=2, sd=0.2, seed=3):
    """A runs table of a saltelli design: profit = x1 + 2·x2 (a) or x2 (b), plus noise."""
    exp = experiment_from_dict({"customers": 10, "months": 1, "replications": 1,
                                "design": {"kind": "saltelli", "samples": samples}}, "t")
    factors = (Factor("a.x1", low=0.0, high=1.0), Factor("a.x2", low=0.0, high=1.0))
    points = dataclasses.replace(exp, factors=factors).points()
    rng = np.random.default_rng(seed)
    rows = []
    for point, values in enumerate(points):
        x1, x2 = values["a.x1"], values["a.x2"]
        for replication in range(replications):
            for policy, profit in (("a", x1 + 2 * x2), ("b", x2)):
                rows.append({"run_id": len(rows), "point": point, "policy": policy,
                             "replication": replication, "seed": 0, "a.x1": x1, "a.x2": x2,
                             "profit_per_customer": profit + rng.normal(0.0, sd),
                             "ltv_mean": 1.0, "cost_per_customer": 2.0, "retention_12": 0.5,
                             "error": ""})
    runs = pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # point order from `point`
    manifest = {"design": "saltelli", "samples": samples, "factors": ["a.x1", "a.x2"]}
    return manifest, runs


def test_saltelli_sweep_gets_first_and_total_indices_in_point_order():
    manifest, runs = synthetic_saltelli()
    table = sensitivity_table(manifest, runs, ["a.x1", "a.x2"])
    profit = table[table["outcome"] == "profit_per_customer"].set_index(["policy", "factor"])
    assert set(table["method"]) == {"saltelli"}
    for key, share in {("a", "a.x1"): 0.2, ("a", "a.x2"): 0.8, ("b", "a.x1"): 0.0,
                       ("b", "a.x2"): 1.0}.items():
        row = profit.loc[key]
        half = max(row["first_high"] - row["first_low"], row["total_high"] - row["total_low"])
        assert abs(row["first"] - share) < half + 0.02, key
        assert abs(row["total"] - share) < half + 0.02, key
    constant = table[table["outcome"] == "ltv_mean"]
    assert constant["first"].isna().all()  # nothing varies: no index


def test_saltelli_report_gives_total_indices():
    manifest, runs = synthetic_saltelli(samples=8)
    table = sensitivity_table(manifest, runs, ["a.x1", "a.x2"])
    text = render(manifest, runs, ["a.x1", "a.x2"], "a", [], table)
    section = text.split("## Sensitivity")[1].split("\n## ")[0]
    assert "Sobol' indices from the saltelli design" in section
    assert "| factor | a | b |" in section and "| `a.x2` | " in section and " · ST " in section


def test_saltelli_sweep_with_a_missing_point_falls_back_to_given_data():
    manifest, runs = synthetic_saltelli(samples=16)
    runs.loc[runs["point"] == 3, "error"] = "RuntimeError: boom"
    table = sensitivity_table(manifest, runs, ["a.x1", "a.x2"])
    assert set(table["method"]) == {"given_data"}


def test_indices_of_a_mostly_noisy_outcome_read_noisy():
    manifest, runs = synthetic_saltelli(samples=8, sd=5.0)
    table = sensitivity_table(manifest, runs, ["a.x1", "a.x2"])
    section = render(manifest, runs, ["a.x1", "a.x2"], "a", [], table).split(
        "## Sensitivity")[1].split("\n## ")[0]
    profit = section.split("### Profit per customer")[1].split("###")[0]
    assert "| `a.x1` | *noisy* | – |" in profit  # b: all noise
    assert table["first"].notna().any()  # the values stay in sensitivity.csv


# -- the plan of the segment winners -----------------------------------------------------
PLAN_SEGMENTS = ("big", "small")


def plan_runs(values, replications=4, seed=0):
    """A synthetic ``runs.csv`` of one design point: ``values[policy][segment]`` is the
    mean lifetime profit per customer (all customers: the mean of the segments), with
    replication noise shared by the policies of a replication (common random numbers)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 1.0, (replications, len(PLAN_SEGMENTS)))
    rows = []
    for policy, by_segment in values.items():
        for r in range(replications):
            row = {"run_id": len(rows), "point": 0, "policy": policy, "replication": r,
                   "seed": 100 + r, "retention_12": 0.8 + 0.01 * r}
            for k, segment in enumerate(PLAN_SEGMENTS):
                row[f"segments_{segment}_profit_per_customer"] = by_segment[segment]
                row[f"segments_{segment}_profit_lifetime_per_customer"] = (
                    by_segment[segment] + noise[r, k])
            row["profit_lifetime_per_customer"] = np.mean(
                [row[f"segments_{s}_profit_lifetime_per_customer"] for s in PLAN_SEGMENTS])
            row["profit_per_customer"] = row["profit_lifetime_per_customer"]
            row["error"] = ""
            rows.append(row)
    return pd.DataFrame(rows)


def plan_section(text):
    assert "## One plan for every segment\n" in text
    return text.split("## One plan for every segment\n")[1].split("\n## ")[0]


def test_winners_plan_takes_each_segments_winner_among_single_policies():
    runs = plan_runs({"csm": {"big": 100.0, "small": 10.0},
                      "auto": {"big": 80.0, "small": 20.0},
                      "plan:big=auto,small=csm": {"big": 200.0, "small": 200.0}})
    assert winners_plan(runs) == {"big": "csm", "small": "auto"}


def test_plan_section_when_one_policy_wins_every_segment_runs_nothing():
    runs = plan_runs({"csm": {"big": 100.0, "small": 30.0},
                      "auto": {"big": 80.0, "small": 20.0}})
    text = render({"experiment": "compare", "policies": ["csm", "auto"]}, runs, [], "auto", [])
    section = plan_section(text)
    assert "the plan of the winners is **csm** itself: nothing more was run" in section


def test_plan_section_gives_the_paired_difference_from_the_best_single_policy():
    plan = "plan:big=csm,small=auto"
    values = {"csm": {"big": 100.0, "small": 10.0}, "auto": {"big": 80.0, "small": 20.0},
              plan: {"big": 100.0, "small": 20.0}}
    runs = plan_runs(values)
    text = render({"experiment": "compare", "policies": ["csm", "auto"]}, runs, [], "auto", [])
    section = plan_section(text)
    assert f"big → **csm**, small → **auto**: `{plan}`" in section
    assert "| csm (best single policy) |" in section  # all customers: csm 55 vs auto 50
    # the noise is common to both, so the paired difference is exactly (100+20)/2 − 55 = 5
    assert "| plan − best single | +5.00 (95 % CI +5.00 to +5.00; better in 100%)" in section
    # the plan is left out of the answer (it would win every segment otherwise)
    assert "plan" not in answer_section(text).split("*Lifetime*")[0]
    assert label(plan) == "plan: csm / auto"


def test_plan_section_says_when_the_plan_was_not_run():
    runs = plan_runs({"csm": {"big": 100.0, "small": 10.0}, "auto": {"big": 80.0, "small": 20.0}})
    text = render({"experiment": "compare", "policies": ["csm", "auto"]}, runs, [], "auto", [])
    assert "has not been run in this folder" in plan_section(text)


def test_compare_runs_the_plan_of_the_winners_on_the_same_seeds_and_resumes(tmp_path, capsys):
    from sim.cli import main

    out = tmp_path / "c"
    args = ["compare", "--customers", "1000", "--months", "12", "--replications", "2",
            "--jobs", "1", "--quiet", "--out", str(out)]
    assert main(args) == 0
    runs = pd.read_csv(out / "runs.csv")
    singles = runs[~runs["policy"].str.startswith("plan:")]
    chosen = winners_plan(singles)
    assert len(set(chosen.values())) > 1  # this scenario's segments have different winners
    plan = runs[runs["policy"].str.startswith("plan:")]
    assert list(plan["run_id"]) == [len(singles), len(singles) + 1]
    assert dict(zip(plan["replication"], plan["seed"], strict=True)) == dict(
        zip(singles["replication"], singles["seed"], strict=True))
    assert plan["policy"].iloc[0] == "plan:" + ",".join(f"{s}={p}" for s, p in chosen.items())
    text = (out / "report.md").read_text()
    assert "| plan − best single |" in plan_section(text)
    before = {p.name: p.read_bytes() for p in (out / "rows").iterdir()}
    report, summary = text, (out / "summary.csv").read_bytes()
    capsys.readouterr()
    assert main([*args, "--resume"]) == 0
    assert "(0 runs, the rest done before)" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in (out / "rows").iterdir()} == before
    assert main(["report", str(out)]) == 0
    assert (out / "summary.csv").read_bytes() == summary
    rebuilt = (out / "report.md").read_text()
    assert rebuilt.replace(" --resume", "") == report


def test_precision_section_gives_the_replications_for_the_target(grid):
    root, path = grid
    text = path.read_text()
    section = text.split("## Precision: how many replications\n")[1].split("\n## ")[0]
    runs = pd.read_csv(root / "runs.csv")
    metric = "profit_per_customer"
    by = runs.groupby(["point", "policy"])[metric].std(ddof=1)
    sd = float(np.sqrt(np.mean(by.to_numpy() ** 2)))
    need = replications_needed(sd, PRECISION * abs(runs[metric].mean()))
    row = next(line for line in section.splitlines() if line.startswith("| profit / customer"))
    assert row.rstrip(" |").endswith(f"{int(need):,}")
    method = text.split("## Method")[1]
    assert "false_discovery_control" in method and "Benjamini–Hochberg" in method


def test_a_repeat_purchase_comparison_gets_a_purchases_table_and_a_subscription_none():
    runs = pd.DataFrame({
        "policy": ["a", "a", "b", "b"],
        "purchase_frequency": [2.0, 2.2, 3.0, 3.2],
        "aov": [30.0, 32.0, 30.0, 30.0],
        "repeat_purchase_rate": [0.8, 0.8, 0.9, 0.9],
    })
    lines = _purchases(runs)
    assert lines[0] == "### Purchases"
    table = "\n".join(lines)
    assert "| orders / customer / mo | AOV | repeat-purchase rate |" in table
    assert "| b | 3.10 ± " in table  # mean of 3.0 and 3.2
    subscription = runs.drop(columns=["purchase_frequency", "aov", "repeat_purchase_rate"])
    assert _purchases(subscription) == []
    assert _purchases(runs.assign(aov=np.nan, purchase_frequency=np.nan,
                                  repeat_purchase_rate=np.nan)) == []
