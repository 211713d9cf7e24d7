"""Statistics: t intervals that cover, paired differences, better-direction, failed runs."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.analysis.outcomes import lower_is_better
from sim.analysis.statistics import (
    CERTAIN,
    LIKELY,
    SUMMARY_COLUMNS,
    TOO_CLOSE,
    adjusted_p,
    certainty,
    factor_columns,
    mean_ci,
    metric_columns,
    paired_differences,
    replications_needed,
    summarise,
    summary_table,
    winners,
)


def toy_runs(values, metric="profit_per_customer", points=1, factor=None):
    """A runs.csv-like table: values[policy] = per-replication values (same for each point)."""
    rows, run_id = [], 0
    reps = len(next(iter(values.values())))
    for point in range(points):
        for rep in range(reps):
            for policy, vals in values.items():
                row = {"run_id": run_id, "point": point, "policy": policy,
                       "replication": rep, "seed": 1000 * point + rep, metric: vals[rep],
                       "error": ""}
                if factor:
                    row[factor] = 10.0 * (point + 1)
                rows.append(row)
                run_id += 1
    return pd.DataFrame(rows)


def coverage(draw, true_mean, n, trials, seed):
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(trials):
        _, _, low, high, _ = mean_ci(draw(rng, n))
        hits += low <= true_mean <= high
    return hits / trials


TRIALS = 2000
SE = math.sqrt(0.95 * 0.05 / TRIALS)


def test_t_interval_covers_a_normal_mean_95_percent_of_the_time():
    cov = coverage(lambda rng, n: rng.normal(3.0, 2.0, n), 3.0, n=5, trials=TRIALS, seed=1)
    assert abs(cov - 0.95) <= 4 * SE


def test_t_interval_covers_an_exponential_mean_with_enough_replications():
    # skewed data: the t interval is asymptotically right; n = 400 is close enough
    cov = coverage(lambda rng, n: rng.exponential(2.0, n), 2.0, n=400, trials=TRIALS, seed=2)
    assert abs(cov - 0.95) <= 4 * SE


def test_mean_ci_matches_scipy_and_handles_small_samples():
    x = np.random.default_rng(3).normal(size=7)
    mean, sd, low, high, n = mean_ci(x, level=0.9)
    ref = stats.t.interval(0.9, 6, loc=x.mean(), scale=stats.sem(x))
    assert (n, mean, sd) == (7, pytest.approx(x.mean()), pytest.approx(x.std(ddof=1)))
    assert (low, high) == pytest.approx(ref)
    one = mean_ci([4.0])
    assert one[0] == 4.0 and one[4] == 1 and all(math.isnan(v) for v in one[1:4])
    assert mean_ci([])[4] == 0 and math.isnan(mean_ci([])[0])
    assert mean_ci([2.0, np.nan, 4.0])[4] == 2  # undefined values are dropped
    assert mean_ci([5.0, 5.0, 5.0])[2:4] == (5.0, 5.0)  # no spread: zero width
    with pytest.raises(ValueError):
        mean_ci([1.0, 2.0], level=95)


def test_paired_difference_of_a_policy_with_itself_is_exactly_zero():
    vals = list(np.random.default_rng(4).normal(1000.0, 300.0, 6))
    runs = toy_runs({"base": vals, "twin": vals})
    d = paired_differences(runs, "base", ["profit_per_customer"]).iloc[0]
    assert d["policy"] == "twin" and d["n"] == 6
    assert (d["diff_mean"], d["diff_ci_low"], d["diff_ci_high"]) == (0.0, 0.0, 0.0)
    assert d["share_better"] == 0.0  # a tie is not better


def test_pairing_removes_the_shared_noise():
    noise = np.random.default_rng(5).normal(0.0, 1000.0, 8)
    runs = toy_runs({"base": list(noise), "plus": list(noise + 50.0)})
    d = paired_differences(runs, "base", ["profit_per_customer"]).iloc[0]
    assert d["diff_mean"] == pytest.approx(50.0)
    assert d["diff_ci_high"] - d["diff_ci_low"] == pytest.approx(0.0, abs=1e-9)
    assert d["share_better"] == 1.0


def test_share_better_is_lower_for_cost_metrics():
    assert lower_is_better("cost_per_customer") and lower_is_better("payback_months")
    assert lower_is_better("segments_smb_cost_per_customer")
    assert not lower_is_better("profit_per_customer") and not lower_is_better("retention_12")
    runs = toy_runs({"base": [100.0, 110.0, 120.0], "cheap": [90.0, 100.0, 130.0]},
                    metric="cost_per_customer")
    runs["segments_smb_cost_per_customer"] = runs["cost_per_customer"]
    runs["ltv_mean"] = runs["cost_per_customer"]
    d = paired_differences(runs, "base", ["cost_per_customer", "segments_smb_cost_per_customer",
                                          "ltv_mean"]).set_index("metric")
    assert d.loc["cost_per_customer", "share_better"] == pytest.approx(2 / 3)
    assert d.loc["segments_smb_cost_per_customer", "share_better"] == pytest.approx(2 / 3)
    assert d.loc["ltv_mean", "share_better"] == pytest.approx(1 / 3)  # higher LTV is better


def test_failed_runs_are_excluded_and_counted():
    runs = toy_runs({"base": [10.0, 12.0, 14.0, 16.0], "new": [11.0, 13.0, 15.0, 17.0]})
    failed = (runs["policy"] == "new") & (runs["replication"] == 3)
    runs.loc[failed, "profit_per_customer"] = 1e12  # garbage must not leak in
    runs.loc[failed, "error"] = "RuntimeError: boom"
    s = summarise(runs, ["profit_per_customer"]).set_index("policy")
    assert (s.loc["new", "n"], s.loc["new", "n_failed"]) == (3, 1)
    assert s.loc["new", "mean"] == pytest.approx(13.0)
    assert (s.loc["base", "n"], s.loc["base", "n_failed"]) == (4, 0)
    d = paired_differences(runs, "base", ["profit_per_customer"]).iloc[0]
    assert (d["n"], d["n_failed"], d["diff_mean"]) == (3, 1, pytest.approx(1.0))
    w = winners(runs).iloc[0]
    assert (w["winner"], w["n_pairs"]) == ("new", 3)


def test_summary_table_has_the_documented_columns_per_point_and_policy():
    runs = toy_runs({"no_touch": [1.0, 2.0, 3.0], "hybrid": [2.0, 3.0, 5.0]}, points=2,
                    factor="segments.smb.share")
    assert factor_columns(runs) == ["segments.smb.share"]
    assert metric_columns(runs) == ["profit_per_customer"]
    table = summary_table(runs, "no_touch")
    assert list(table.columns) == ["point", "segments.smb.share", *SUMMARY_COLUMNS]
    assert len(table) == 4
    base = table[table["policy"] == "no_touch"]
    assert base["diff_mean"].isna().all() and (base["n"] == 3).all()
    other = table[table["policy"] == "hybrid"].iloc[0]
    assert other["diff_mean"] == pytest.approx(4 / 3) and other["better_if"] == "higher"


def test_certainty_wording_rule():
    assert certainty(5.0, 1.0, 1.0, 10) == CERTAIN
    assert certainty(5.0, 1.0, 0.9, 10) == LIKELY  # CI clear but loses in 10 %
    assert certainty(5.0, -1.0, 0.8, 10) == LIKELY  # wins 80 %, CI touches 0
    assert certainty(5.0, -1.0, 0.7, 10) == TOO_CLOSE
    assert certainty(5.0, math.nan, 1.0, 1) == TOO_CLOSE  # one replication: no claim


def test_winners_per_segment_with_verdicts():
    runs = toy_runs({"a": [10.0, 20.0, 30.0, 40.0], "b": [12.0, 22.0, 32.0, 42.0],
                     "c": [0.0, 0.0, 0.0, 0.0]})
    runs["segments_smb_profit_per_customer"] = runs["profit_per_customer"] * np.where(
        runs["policy"] == "a", 1.0, 0.5)
    w = winners(runs, baseline="c").set_index("segment")
    assert list(w.index) == ["all", "smb"]
    assert (w.loc["all", "winner"], w.loc["all", "runner_up"]) == ("b", "a")
    assert w.loc["all", "margin_mean"] == pytest.approx(2.0)
    assert w.loc["all", "verdict"] == CERTAIN
    assert w.loc["all", "vs_baseline_mean"] == pytest.approx(27.0)
    assert w.loc["smb", "winner"] == "a"
    single = winners(toy_runs({"a": [1.0], "b": [2.0]})).iloc[0]
    assert (single["winner"], single["verdict"]) == ("b", TOO_CLOSE)
    assert "no confidence interval" in single["reason"]


def test_winners_by_point_and_pooled():
    runs = toy_runs({"a": [1.0, 2.0], "b": [3.0, 4.0]}, points=3, factor="x.y")
    assert len(winners(runs)) == 3 and "x.y" in winners(runs).columns
    pooled = winners(runs, by_point=False)
    assert len(pooled) == 1 and pooled.iloc[0]["n_pairs"] == 6


# -- many claims and precision -------------------------------------------------------------
def test_benjamini_hochberg_of_a_known_vector():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan, 0.20])
    # by hand: sorted finite p 0.005, 0.01, 0.03, 0.04, 0.20 (m = 5) → p·m/rank
    # 0.025, 0.025, 0.05, 0.05, 0.20, made monotone from the top
    expected = np.array([0.025, 0.05, 0.05, 0.025, np.nan, 0.20])
    q = adjusted_p(p)
    np.testing.assert_allclose(q, expected, rtol=1e-12)
    finite = np.isfinite(p)
    np.testing.assert_array_equal(q[finite], stats.false_discovery_control(p[finite]))
    assert math.isnan(q[4])


def test_replications_needed_is_the_closed_form_and_reaches_the_target():
    z = stats.norm.ppf(0.975)
    assert replications_needed(10.0, 1.0) == math.ceil((z * 10.0) ** 2) == 385
    assert replications_needed(3.0, 0.5, level=0.90) == math.ceil(
        (stats.norm.ppf(0.95) * 3.0 / 0.5) ** 2)
    sd, h = 7.3, 0.4
    n = int(replications_needed(sd, h))
    assert z * sd / math.sqrt(n) <= h < z * sd / math.sqrt(n - 1)
    assert replications_needed(0.0, 1.0) == 2  # a t interval needs two
    assert math.isnan(replications_needed(1.0, 0.0))


def null_sweep(points, reps, seed):
    """A sweep in which two policies are the same: profit iid normal for every run."""
    rng = np.random.default_rng(seed)
    values = rng.normal(100.0, 10.0, size=(points, reps, 2))
    rows = [{"run_id": i, "point": p, "policy": policy, "replication": r, "seed": r,
             "x.factor": float(p), "profit_per_customer": values[p, r, j], "error": ""}
            for i, (p, r, (j, policy)) in enumerate(
                (p, r, jp) for p in range(points) for r in range(reps)
                for jp in enumerate(("a", "b")))]
    return pd.DataFrame(rows)


def test_many_null_comparisons_are_never_called_certain_at_the_fdr():
    table = winners(null_sweep(300, 5, seed=14), by_point=True)
    assert len(table) == 300
    # judged one at a time, chance alone makes some wins "certain" (ahead in all 5
    # replications happens 1 time in 16) …
    alone = [certainty(r.margin_mean, r.margin_ci_low, r.share_wins, r.n_pairs)
             for r in table.itertuples()]
    assert alone.count(CERTAIN) >= 5
    # … controlled over the 300 claims, none is
    assert (table["verdict"] != CERTAIN).all()
    assert (table["q_value"] >= table["p_value"]).all()
    downgraded = table[[a == CERTAIN for a in alone]]
    assert (downgraded["verdict"] == LIKELY).all()
    assert downgraded["reason"].str.contains("false discovery").all()


def test_a_real_difference_stays_certain_among_many_claims():
    runs = null_sweep(100, 5, seed=15)
    runs.loc[runs["policy"] == "b", "profit_per_customer"] += 40.0  # 4 sd better
    table = winners(runs, by_point=True)
    assert (table["winner"] == "b").all()
    assert (table["verdict"] == CERTAIN).mean() >= 0.9


def test_p_value_is_the_one_sided_paired_t_test():
    runs = toy_runs({"a": [1.0, 2.0, 3.0, 4.0], "b": [1.5, 2.2, 3.9, 4.1]})
    row = winners(runs, by_point=False).iloc[0]
    diff = np.array([0.5, 0.2, 0.9, 0.1])
    assert row["p_value"] == pytest.approx(
        stats.ttest_1samp(diff, 0.0, alternative="greater").pvalue, rel=1e-12)
    assert row["q_value"] == row["p_value"]  # one claim: nothing to adjust
