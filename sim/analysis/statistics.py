"""Statistics of a results folder: confidence intervals, paired differences, winners.

Concept: every number a report states carries its uncertainty, and policies are
compared the way the experiment was built to compare them.

* Replications of one policy at one design point are independent runs, so a mean gets
  a Student-t confidence interval (:func:`mean_ci`, quantiles from :mod:`scipy.stats`).
* The policies of one ``(point, replication)`` share a seed (common random numbers), so
  policy differences are **paired** by ``(point, replication)``: the interval of a
  difference is the t interval of the per-replication differences
  (:func:`paired_differences`), much narrower than comparing two separate intervals.
* "Better" is a higher value for most metrics and a **lower** one for costs, payback
  and churn, per-segment versions included: the direction of each outcome is in
  :mod:`sim.analysis.outcomes` (:func:`~sim.analysis.outcomes.lower_is_better`).
* Failed runs (a non-empty ``error``) are excluded from every statistic and counted
  (``n_failed``); a pair is lost when either of its runs failed. Undefined values
  (``nan``, e.g. the payback of a policy that never pays back) are left out of ``n``.

**Wording rule** of :func:`winners` (:func:`certainty`). The winner is the policy with
the highest mean lifetime profit per customer (:func:`verdict_metric`; over the
replications every policy completed, so
a failed run does not tilt the ranking); its margin over the runner-up is the paired
difference winner − runner-up, with its t interval and the share of paired
replications in which the winner is strictly ahead:

* ``certain`` — at least 2 pairs, the CI lies entirely above 0, and the winner is ahead
  in at least 95 % of the replications (:data:`CERTAIN_SHARE`);
* ``likely`` — not certain, at least 2 pairs, the mean margin is positive, and either
  the CI lies above 0 or the winner is ahead in at least 80 % of the replications
  (:data:`LIKELY_SHARE`);
* ``too close to call`` — everything else, including a single replication (no CI can
  be computed, so no claim is made).

**Many claims** (:func:`winners`): a table makes one claim per segment — per design
point of a sweep — so some ``certain`` calls would be chance if each were judged
alone. Each claim gets the one-sided paired t-test p-value of its margin
(``scipy.stats.ttest_1samp``, alternative ``greater``) and the table's p-values are
adjusted together by Benjamini–Hochberg (``scipy.stats.false_discovery_control``); a
claim stays ``certain`` only when its adjusted ``q_value`` is at most :data:`FDR`,
otherwise it is called ``likely``. Among a table's ``certain`` calls the expected share
of false ones is then at most 5 % (for independent or positively dependent tests, as
design points and segments are). A single claim is unaffected: a CI above 0 already
means ``p < 0.025``. The winner is the best of the policies, so its margin is a
selected one; the test does not correct for that choice among the policies.

**Precision** (:func:`replications_needed`): the replications for a 95 % CI of
half-width ``h`` on a metric whose runs have standard deviation ``sd`` is
``n = ⌈(z·sd / h)²⌉``, ``z`` the normal quantile (the t quantile makes it one or two
more for small ``n``).

With ``by_point=False`` the design points of a sweep are pooled: every
``(point, replication)`` is one pair, so a statement then holds on average over the
design rather than at one point.
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sim.analysis.outcomes import SEGMENT_PREFIX, SETTING_COLUMNS, lower_is_better, segment_column
from sim.sweep.store import ID_COLUMNS

CERTAIN, LIKELY, TOO_CLOSE = "certain", "likely", "too close to call"
CERTAIN_SHARE = 0.95
"""Share of replications the winner must be ahead in to be called ``certain``."""
LIKELY_SHARE = 0.80
"""Share of replications that makes a positive margin ``likely`` without a clear CI."""
FDR = 0.05
"""False discovery rate of the ``certain`` claims of one winners table (see :func:`winners`)."""

PROFIT = "profit_per_customer"
LIFETIME_PROFIT = "profit_lifetime_per_customer"
ALL = "all"
PAIR = ("point", "replication")
NOT_METRICS = frozenset({*ID_COLUMNS, *SETTING_COLUMNS, "error"})
_SEGMENT_PROFIT = re.compile(rf"^{SEGMENT_PREFIX}(.+)_{PROFIT}$")

STAT_COLUMNS = ("n", "n_failed", "mean", "sd", "ci_low", "ci_high")
DIFF_COLUMNS = ("n", "n_failed", "diff_mean", "diff_sd", "diff_ci_low", "diff_ci_high",
                "share_better")
SUMMARY_COLUMNS = (
    "policy", "metric", "better_if", "n", "n_failed", "mean", "sd", "ci_low", "ci_high",
    "baseline", "diff_n", "diff_mean", "diff_ci_low", "diff_ci_high", "share_better",
)
"""Columns of ``summary.csv`` after ``point`` and the factor columns (see :func:`summary_table`)."""


# -- building blocks ----------------------------------------------------------------------
def mean_ci(values: Iterable[float], level: float = 0.95) -> tuple[float, float, float, float, int]:
    """Mean, standard deviation and Student-t confidence interval of a sample.

    Non-finite values (``nan``: undefined metrics) are dropped first.

    Args:
        values: The sample.
        level: Confidence level of the two-sided interval, in (0, 1).

    Returns:
        ``(mean, sd, low, high, n)``; ``sd`` and the bounds are ``nan`` when ``n < 2``
        (and everything but ``n`` when ``n == 0``). A sample with no spread gives a
        zero-width interval.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    sample = np.asarray(list(values) if not isinstance(values, np.ndarray) else values,
                        dtype=float)
    sample = sample[np.isfinite(sample)]
    n = int(sample.size)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan, 0
    mean = float(sample.mean())
    if n == 1:
        return mean, math.nan, math.nan, math.nan, 1
    sd = float(sample.std(ddof=1))
    half = t_quantile(level, n - 1) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half, n


EXACT_ROWS = 8
"""Matrices with fewer rows are summarised all columns at once by :func:`column_stats`.

numpy sums a contiguous sample of 8 or more values pairwise, in another order than a
sum down a column; below that both add in sample order, so the results agree bit for
bit.
"""


def column_stats(matrix: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, ...]:
    """:func:`mean_ci` of every column of a ``(samples, columns)`` matrix at once.

    A report summarises thousands of metrics per design point and policy; one array
    operation per group instead of one :func:`mean_ci` call per metric gives the same
    numbers bit for bit (a matrix of :data:`EXACT_ROWS` or more rows is handed to
    :func:`mean_ci` column by column, see there).

    Args:
        matrix: The samples, one column per series; non-finite values are dropped.
        level: Confidence level.

    Returns:
        ``(mean, sd, low, high, n)`` arrays, one value per column, as :func:`mean_ci`.
    """
    matrix = np.asarray(matrix, dtype=float)
    matrix = matrix.reshape(-1, 1) if matrix.ndim == 1 else matrix
    if matrix.shape[0] >= EXACT_ROWS:
        found = [mean_ci(column, level) for column in matrix.T]
        return tuple(np.array([f[i] for f in found], dtype=float if i < 4 else int)
                     for i in range(5))
    finite = np.isfinite(matrix)
    n = finite.sum(axis=0)
    values = np.where(finite, matrix, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.add.reduce(values, axis=0) / n
        centred = np.where(finite, values - mean, 0.0)
        sd = np.sqrt(np.add.reduce(centred * centred, axis=0) / (n - 1))
        quantile = np.array([t_quantile(level, int(k) - 1) if k > 1 else math.nan for k in n])
        half = quantile * sd / np.sqrt(n)
    sd[n < 2] = math.nan
    return mean, sd, mean - half, mean + half, n


@functools.lru_cache(maxsize=1024)
def t_quantile(level: float, df: int) -> float:
    """Two-sided Student-t quantile of ``level`` with ``df`` degrees of freedom (cached).

    A report asks for the same few quantiles hundreds of thousands of times; scipy's
    ``ppf`` is the slow part of :func:`mean_ci`, so each is computed once.
    """
    return float(stats.t.ppf(0.5 + level / 2.0, df))


def failed_mask(runs: pd.DataFrame) -> pd.Series:
    """Boolean mask of the failed runs (non-empty ``error``)."""
    if "error" not in runs:
        return pd.Series(False, index=runs.index)
    error = runs["error"]
    return error.notna() & (error.astype(str) != "")


def factor_columns(runs: pd.DataFrame) -> list[str]:
    """The factor columns of a ``runs.csv`` table: the dotted scenario key paths.

    Metric names never contain a dot (the summary is flattened with ``_``), factor
    paths always do.
    """
    return [c for c in runs.columns if "." in str(c)]


def metric_columns(runs: pd.DataFrame, factors: Sequence[str] | None = None) -> list[str]:
    """The numeric metric columns of a ``runs.csv`` table, in file order."""
    factors = set(factor_columns(runs) if factors is None else factors)
    return [
        c for c in runs.columns
        if c not in NOT_METRICS and c not in factors and pd.api.types.is_numeric_dtype(runs[c])
    ]


def segment_names(runs: pd.DataFrame) -> list[str]:
    """Segments with a profit-per-customer column, in file order."""
    return [m.group(1) for c in runs.columns if (m := _SEGMENT_PROFIT.match(str(c)))]


def verdict_metric(runs: pd.DataFrame) -> str:
    """What the verdict maximises: lifetime profit per customer.

    That is the value of customers still active at the horizon included; results stored
    before lifetime values existed fall back to within-horizon profit.
    """
    return LIFETIME_PROFIT if LIFETIME_PROFIT in runs else PROFIT


def segment_metric(segment: str, metric: str = PROFIT) -> str:
    """Column of ``metric`` for ``segment`` (``"all"``: the whole population)."""
    return segment_column(None if segment == ALL else segment, metric)


def policies_of(runs: pd.DataFrame) -> list[str]:
    """Policies in order of first appearance (the manifest's order for a sorted table)."""
    return list(dict.fromkeys(runs["policy"]))


def _prepared(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """A copy with every requested metric present (missing ones all ``nan``)."""
    runs = runs.copy()
    for metric in metrics:
        if metric not in runs:
            runs[metric] = np.nan
    runs["_failed"] = failed_mask(runs)
    return runs


def _keys(by_point: bool, factors: Sequence[str]) -> list[str]:
    """The grouping columns: the point and factor columns, or none when pooled."""
    return ["point", *factors] if by_point else []


def _groups(frame: pd.DataFrame, keys: list[str]) -> Iterable[tuple[dict[str, Any], pd.DataFrame]]:
    """Groups of ``frame`` by ``keys`` in order of appearance (one group when no keys)."""
    if not keys:
        yield {}, frame
        return
    for values, group in frame.groupby(keys, sort=False, dropna=False):
        yield dict(zip(keys, values, strict=True)), group


def _group_rows(frame: pd.DataFrame, keys: list[str]
                ) -> Iterable[tuple[dict[str, Any], np.ndarray]]:
    """:func:`_groups` as row positions: each group's key and its rows, in frame order.

    Positions into arrays taken from ``frame`` once are much cheaper than a sub-frame
    per group when there are hundreds of groups.
    """
    if not keys:
        yield {}, np.arange(len(frame))
        return
    codes = frame.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    columns = [frame[k].to_numpy() for k in keys]
    for rows in np.split(order, bounds) if len(order) else []:
        yield {k: column[rows[0]] for k, column in zip(keys, columns, strict=True)}, rows


# -- summaries ----------------------------------------------------------------------------
def summarise(
    runs: pd.DataFrame,
    metrics: Sequence[str],
    *,
    by_point: bool = True,
    factors: Sequence[str] | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Mean, sd and confidence interval of each metric per design point and policy.

    Args:
        runs: A ``runs.csv`` table.
        metrics: Metric columns to summarise (a missing one gives ``n == 0``).
        by_point: One row per design point; ``False`` pools the points.
        factors: Factor columns (default: the dotted columns of ``runs``).
        level: Confidence level.

    Returns:
        Tidy table: ``point``, the factor columns (when ``by_point``), ``policy``,
        ``metric``, ``n``, ``n_failed``, ``mean``, ``sd``, ``ci_low``, ``ci_high``.
    """
    factors = factor_columns(runs) if factors is None else list(factors)
    keys = _keys(by_point, factors)
    runs = _prepared(runs, metrics)
    rows = []
    matrix = runs[list(metrics)].to_numpy(float)
    failed = runs["_failed"].to_numpy(bool)
    policies = runs["policy"].to_numpy(object)
    for key, group in _group_rows(runs, keys):
        for policy in dict.fromkeys(policies[group]):
            mine = group[policies[group] == policy]
            n_failed = int(failed[mine].sum())
            stats_ = column_stats(matrix[mine[~failed[mine]]], level)
            for j, metric in enumerate(metrics):
                mean, sd, low, high, n = (float(a[j]) for a in stats_)
                rows.append({**key, "policy": policy, "metric": metric, "n": int(n),
                             "n_failed": n_failed, "mean": mean, "sd": sd,
                             "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows, columns=[*keys, "policy", "metric", *STAT_COLUMNS])


def _pairs(runs: pd.DataFrame, policy: str, other: str, metrics: Sequence[str]) -> pd.DataFrame:
    """Runs of ``policy`` joined to the runs of ``other`` of the same (point, replication)."""
    cols = [*PAIR, "_failed", *metrics]
    mine = runs[runs["policy"] == policy]
    theirs = runs.loc[runs["policy"] == other, cols]
    pairs = mine.merge(theirs, on=list(PAIR), suffixes=("", "__other"), how="inner")
    pairs["_pair_failed"] = pairs["_failed"] | pairs["_failed__other"]
    return pairs


def _diff_row(diff: np.ndarray, metric: str, n_failed: int, level: float) -> dict[str, Any]:
    """Paired-difference statistics of one metric from its per-pair differences.

    Non-finite differences (a pair with an undefined value) are dropped first.
    """
    diff = diff[np.isfinite(diff)]
    mean, sd, low, high, n = mean_ci(diff, level)
    better = diff < 0 if lower_is_better(metric) else diff > 0
    return {"n": n, "n_failed": n_failed, "diff_mean": mean,
            "diff_sd": sd, "diff_ci_low": low, "diff_ci_high": high,
            "share_better": float(better.mean()) if n else math.nan}


def paired_differences(
    runs: pd.DataFrame,
    baseline: str,
    metrics: Sequence[str],
    *,
    by_point: bool = True,
    factors: Sequence[str] | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Paired differences policy − baseline, per design point, policy and metric.

    Runs are paired by ``(point, replication)`` (they share a seed). ``share_better`` is
    the share of pairs in which the policy is strictly better than the baseline: higher
    for value metrics, lower for
    :func:`~sim.analysis.outcomes.lower_is_better` ones.

    Args:
        runs: A ``runs.csv`` table.
        baseline: The policy to compare against.
        metrics: Metric columns.
        by_point: One row per design point; ``False`` pools the points (every
            ``(point, replication)`` remains one pair).
        factors: Factor columns (default: the dotted columns of ``runs``).
        level: Confidence level.

    Returns:
        Tidy table: ``point`` and the factor columns (when ``by_point``), ``policy``,
        ``metric``, ``n`` (usable pairs), ``n_failed`` (pairs lost to a failed run),
        ``diff_mean``, ``diff_sd``, ``diff_ci_low``, ``diff_ci_high``, ``share_better``.

    Raises:
        ValueError: ``baseline`` has no runs.
    """
    factors = factor_columns(runs) if factors is None else list(factors)
    if baseline not in set(runs["policy"]):
        raise ValueError(f"baseline {baseline!r} has no runs (policies: {policies_of(runs)})")
    keys = _keys(by_point, factors)
    runs = _prepared(runs, metrics)
    lower = np.array([lower_is_better(m) for m in metrics], dtype=bool)
    rows = []
    for policy in policies_of(runs):
        if policy == baseline:
            continue
        pairs = _pairs(runs, policy, baseline, metrics)
        differences = (pairs[list(metrics)].to_numpy(float)
                       - pairs[[f"{m}__other" for m in metrics]].to_numpy(float))
        lost = pairs["_pair_failed"].to_numpy(bool)
        for key, group in _group_rows(pairs, keys):
            n_failed = int(lost[group].sum())
            diff = differences[group[~lost[group]]]
            mean, sd, low, high, n = column_stats(diff, level)
            finite = np.isfinite(diff)
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.where(lower, diff < 0, diff > 0).sum(axis=0, where=finite) / n
            for j, metric in enumerate(metrics):
                rows.append({**key, "policy": policy, "metric": metric, "n": int(n[j]),
                             "n_failed": n_failed, "diff_mean": float(mean[j]),
                             "diff_sd": float(sd[j]), "diff_ci_low": float(low[j]),
                             "diff_ci_high": float(high[j]),
                             "share_better": float(share[j]) if n[j] else math.nan})
    table = pd.DataFrame(rows, columns=[*keys, "policy", "metric", *DIFF_COLUMNS])
    if keys:
        table = table.sort_values("point", kind="stable").reset_index(drop=True)
    return table


def summary_table(
    runs: pd.DataFrame,
    baseline: str,
    metrics: Sequence[str] | None = None,
    *,
    factors: Sequence[str] | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """The combined per-point table written as ``summary.csv``.

    One row per design point, policy and metric. Columns: ``point``, one per factor
    (its value at the point), then :data:`SUMMARY_COLUMNS`:

    ``policy``, ``metric``; ``better_if`` (``higher``/``lower``); the policy's own
    statistics over its successful replications — ``n``, ``n_failed``, ``mean``, ``sd``,
    ``ci_low``, ``ci_high`` (Student-t, ``level``); the paired comparison with the
    ``baseline`` — ``diff_n`` (pairs), ``diff_mean`` (policy − baseline), ``diff_ci_low``,
    ``diff_ci_high``, ``share_better`` (share of pairs where the policy is better).
    The comparison columns are empty on the baseline's own rows.

    Args:
        runs: A ``runs.csv`` table.
        baseline: The reference policy.
        metrics: Metric columns (default: every numeric metric column).
        factors: Factor columns (default: the dotted columns of ``runs``).
        level: Confidence level.
    """
    factors = factor_columns(runs) if factors is None else list(factors)
    metrics = metric_columns(runs, factors) if metrics is None else list(metrics)
    own = summarise(runs, metrics, factors=factors, level=level)
    diff = paired_differences(runs, baseline, metrics, factors=factors, level=level)
    diff = diff.drop(columns=[*factors, "n_failed", "diff_sd"]).rename(columns={"n": "diff_n"})
    table = own.merge(diff, on=["point", "policy", "metric"], how="left")
    table["baseline"] = baseline
    table["better_if"] = ["lower" if lower_is_better(m) else "higher" for m in table["metric"]]
    return table[["point", *factors, *SUMMARY_COLUMNS]]


# -- winners ------------------------------------------------------------------------------
def certainty(margin_mean: float, ci_low: float, share_wins: float, n: int) -> str:
    """The plain-words certainty of a win (the module's wording rule).

    Args:
        margin_mean: Mean paired margin winner − runner-up.
        ci_low: Lower bound of its confidence interval.
        share_wins: Share of pairs in which the winner is strictly ahead.
        n: Number of pairs.

    Returns:
        ``"certain"``, ``"likely"`` or ``"too close to call"``.
    """
    if n < 2 or not math.isfinite(margin_mean):
        return TOO_CLOSE
    if ci_low > 0 and share_wins >= CERTAIN_SHARE:
        return CERTAIN
    if margin_mean > 0 and (ci_low > 0 or share_wins >= LIKELY_SHARE):
        return LIKELY
    return TOO_CLOSE


def adjusted_p(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (``q``) of a family of claims.

    ``scipy.stats.false_discovery_control`` over the finite p-values; ``nan`` ones (no
    test was possible) are left out of the family and stay ``nan``.
    """
    p = np.asarray(p_values, dtype=float)
    q = np.full(p.shape, math.nan)
    finite = np.isfinite(p)
    if finite.any():
        q[finite] = stats.false_discovery_control(p[finite], method="bh")
    return q


def replications_needed(sd: float | np.ndarray, half_width: float | np.ndarray,
                        level: float = 0.95) -> np.ndarray:
    """Replications for a confidence interval of the mean of half-width ``half_width``.

    ``n = ⌈(z·sd / h)²⌉`` with ``z`` the two-sided normal quantile of ``level``
    (:func:`scipy.stats.norm.ppf`), at least 2 (a t interval needs two); ``nan`` where
    ``sd`` or ``h`` is not positive and finite.
    """
    sd, h = np.broadcast_arrays(np.asarray(sd, dtype=float), np.asarray(half_width, float))
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    ok = np.isfinite(sd) & np.isfinite(h) & (h > 0) & (sd >= 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = np.maximum(np.ceil((z * sd / h) ** 2), 2.0)
    return np.where(ok, n, math.nan)


def _p_value(diff: np.ndarray) -> float:
    """One-sided paired t-test p-value that the mean difference is above 0.

    ``nan`` with fewer than 2 pairs; with no spread 0 for a positive difference, else 1.
    """
    diff = diff[np.isfinite(diff)]
    if diff.size < 2:
        return math.nan
    if np.ptp(diff) == 0.0:
        return 0.0 if diff[0] > 0 else 1.0
    with warnings.catch_warnings():  # nearly equal differences: scipy warns, p is ~0 or ~1
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_1samp(diff, 0.0, alternative="greater").pvalue)


def _reason(verdict: str, ci_low: float, share: float, n: int) -> str:
    """Why a verdict was given, in words."""
    if n < 2:
        return f"{n} paired replication{'s' if n != 1 else ''}: no confidence interval"
    ci = "the CI excludes 0" if ci_low > 0 else "the CI includes 0"
    return f"{ci}; ahead in {share:.0%} of {n} paired replications"


class _Block:
    """The runs of one group laid out for ranking: pairs × policies, per profit column.

    Built once per group (the pairs and the policy of each row), then
    :meth:`values` gives a column's usable values — failed runs and undefined values
    ``nan`` — as a ``(pairs, policies)`` array, so ranking, margins and the baseline
    comparison are array operations instead of a pivot and a join each.
    """

    def __init__(self, group: pd.DataFrame) -> None:
        self.pair = pd.MultiIndex.from_arrays([group[c] for c in PAIR]).factorize()[0]
        self.policy = group["policy"].to_numpy(object)
        self.failed = group["_failed"].to_numpy(bool)
        self.group = group

    def values(self, column: str) -> tuple[list[str], np.ndarray]:
        """Policies with a usable value (first appearance) and their ``(pairs, policies)`` values.

        Rows are the ``(point, replication)`` pairs with at least one usable value, in
        order of appearance (as a pivot table would have them).
        """
        value = self.group[column].to_numpy(float)
        ok = ~self.failed & np.isfinite(value)
        policies = list(dict.fromkeys(self.policy[ok]))
        if not policies:
            return [], np.empty((0, 0))
        pairs, row = np.unique(self.pair[ok], return_inverse=True)
        first = np.full(pairs.size, self.pair.size)
        np.minimum.at(first, row, np.flatnonzero(ok))
        order = np.argsort(np.argsort(first, kind="stable"), kind="stable")
        wide = np.full((pairs.size, len(policies)), np.nan)
        where = {p: j for j, p in enumerate(policies)}
        wide[order[row], [where[p] for p in self.policy[ok]]] = value[ok]
        return policies, wide


def _block_means(wide: np.ndarray) -> np.ndarray:
    """Mean per policy over the replications every policy completed.

    Ranking on common ``(point, replication)`` blocks keeps the comparison paired when
    runs failed or a value is undefined; when no block is complete the means of all
    available values are used.
    """
    complete = np.isfinite(wide).all(axis=1)
    if complete.any():
        return np.array([wide[complete, j].mean() for j in range(wide.shape[1])])
    return np.array([column[np.isfinite(column)].mean() for column in wide.T])


def _margin(wide: np.ndarray, policies: list[str], policy: str, other: str, column: str,
            level: float) -> dict[str, Any]:
    """Paired difference ``policy − other`` of ``column`` over the pairs with both values.

    :func:`_diff_row`'s statistics and ``p_value`` (:func:`_p_value`).
    """
    if other not in policies:
        return {**_diff_row(np.empty(0), column, 0, level), "p_value": math.nan}
    diff = wide[:, policies.index(policy)] - wide[:, policies.index(other)]
    return {**_diff_row(diff, column, 0, level), "p_value": _p_value(diff)}


def _winner_row(block: _Block, column: str, baseline: str | None,
                level: float) -> dict[str, Any] | None:
    """Winner, runner-up and margin of one group for one profit column."""
    policies, wide = block.values(column)
    if not policies:
        return None
    means = _block_means(wide)
    ranked = np.argsort(-means, kind="stable")
    winner = policies[ranked[0]]
    row: dict[str, Any] = {"winner": winner, "winner_mean": float(means[ranked[0]]),
                           "runner_up": None, "runner_up_mean": math.nan}
    margin = (math.nan, math.nan, math.nan, math.nan, 0)
    share = p_value = math.nan
    if len(ranked) > 1:
        row["runner_up"] = policies[ranked[1]]
        row["runner_up_mean"] = float(means[ranked[1]])
        ahead = _margin(wide, policies, winner, row["runner_up"], column, level)
        margin = (ahead["diff_mean"], ahead["diff_sd"], ahead["diff_ci_low"],
                  ahead["diff_ci_high"], ahead["n"])
        share, p_value = ahead["share_better"], ahead["p_value"]
    mean, _, low, high, n = margin
    verdict = certainty(mean, low, share, n) if row["runner_up"] else TOO_CLOSE
    row.update({"margin_mean": mean, "margin_ci_low": low, "margin_ci_high": high,
                "n_pairs": n, "share_wins": share, "p_value": p_value, "verdict": verdict,
                "reason": _reason(verdict, low, share, n) if row["runner_up"]
                else "only one policy with results"})
    out: dict[str, Any] = {"baseline": baseline, "vs_baseline_mean": math.nan,
                           "vs_baseline_ci_low": math.nan, "vs_baseline_ci_high": math.nan}
    if baseline is not None and baseline != winner and baseline in set(block.policy):
        vs = _margin(wide, policies, winner, baseline, column, level)
        out.update({"vs_baseline_mean": vs["diff_mean"], "vs_baseline_ci_low": vs["diff_ci_low"],
                    "vs_baseline_ci_high": vs["diff_ci_high"]})
    row.update(out)
    return row


def winners(
    runs: pd.DataFrame,
    baseline: str | None = None,
    *,
    by_point: bool = True,
    factors: Sequence[str] | None = None,
    level: float = 0.95,
    metric: str = PROFIT,
    by: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Which policy maximises mean profit per customer, per segment (and ``"all"``).

    Args:
        runs: A ``runs.csv`` table.
        baseline: Also report the winner's paired margin over this policy.
        by_point: One answer per design point; ``False`` pools the points.
        factors: Factor columns (default: the dotted columns of ``runs``).
        level: Confidence level.
        metric: The per-customer metric to maximise.
        by: Group by these columns instead (e.g. two factors of a grid, the other
            factors pooled); overrides ``by_point``.

    Returns:
        One row per (design point and factor values when ``by_point``, the ``by``
        values when given,) segment:
        ``segment``, ``winner``, ``winner_mean``, ``runner_up``, ``runner_up_mean`` (means
        over the replications every policy completed),
        ``margin_mean``, ``margin_ci_low``, ``margin_ci_high`` (paired winner −
        runner-up), ``n_pairs``, ``share_wins``, ``p_value`` (one-sided paired t-test
        of the margin), ``verdict`` (:func:`certainty`, then ``certain`` only with a
        ``q_value`` at most :data:`FDR`: the module's *many claims* rule),
        ``reason``, ``baseline``, ``vs_baseline_mean``, ``vs_baseline_ci_low``,
        ``vs_baseline_ci_high``, ``q_value`` (Benjamini–Hochberg over the table's
        rows). Segments without any result are left out.
    """
    factors = factor_columns(runs) if factors is None else list(factors)
    keys = list(by) if by is not None else _keys(by_point, factors)
    segments = [ALL, *segment_names(runs)]
    columns = [segment_metric(s, metric) for s in segments]
    runs = _prepared(runs, columns)
    rows = []
    for key, group in _groups(runs, keys):
        block = _Block(group)
        for segment, column in zip(segments, columns, strict=True):
            row = _winner_row(block, column, baseline, level)
            if row is not None:
                rows.append({**key, "segment": segment, **row})
    table = _control_fdr(pd.DataFrame(rows))
    if "point" in keys and not table.empty:
        table = table.sort_values("point", kind="stable").reset_index(drop=True)
    return table


def _control_fdr(table: pd.DataFrame, fdr: float = FDR) -> pd.DataFrame:
    """Adjust a winners table's p-values together; a ``certain`` call needs ``q ≤ fdr``.

    A certain call whose ``q_value`` is above ``fdr`` becomes ``likely`` (its CI is
    above 0 and the margin positive, so it meets that rule) and its reason says why.
    """
    if table.empty:
        return table
    table = table.copy()
    table["q_value"] = adjusted_p(table["p_value"].to_numpy(float))
    claims = int(np.isfinite(table["p_value"].to_numpy(float)).sum())
    weak = (table["verdict"] == CERTAIN) & ~(table["q_value"] <= fdr)
    table.loc[weak, "verdict"] = LIKELY
    table.loc[weak, "reason"] = [
        f"{reason}; not certain among {claims} claims at a {fdr:.0%} false discovery "
        f"rate (q = {q:.2g})" for reason, q in zip(table.loc[weak, "reason"],
                                                   table.loc[weak, "q_value"], strict=True)]
    return table
