"""The report of a results folder: the plain answer first, then the evidence.

Concept: :func:`build_report` turns a finished (or partly failed) sweep folder into
``summary.csv`` (the tidy statistics of :func:`sim.analysis.statistics.summary_table`),
``figures/*.png`` (:mod:`sim.analysis.plots`) and ``report.md``. It only reads what the sweep
stored — ``manifest.json``, ``runs.csv`` and ``series/`` — and never runs a model, so
rebuilding it gives identical ``summary.csv`` and ``report.md``.

``report.md`` opens with the answer — for each segment (and all customers), which
policy maximises lifetime profit per customer (and whether counting only the simulated
months would change it), by how much over the runner-up (paired 95 % CI)
and how sure we are (the wording rule of :mod:`sim.analysis.statistics`) — then the comparison
tables, the figures, the *Precision* (the replications a 95 % CI of ± 1 % of each key
outcome's mean would need, :func:`sim.analysis.statistics.replications_needed`) and the
method (design, replications, seeds and common random numbers, customers, months,
versions, failed runs, how many claims are controlled). A sweep's answer pools its design
points and is followed by the winner at each point; those winners are computed once and
shared with the winner maps.

A sweep with numeric factors and at least :data:`MIN_SENSITIVITY_POINTS` design points
also gets a *Sensitivity* section and ``sensitivity.csv`` (:func:`sensitivity_table`):
for each key outcome and policy, the share of the outcome's variation across design
points that each factor explains (:mod:`sim.analysis.sensitivity`), with the simulation
noise estimated from the replications removed. The bootstraps are seeded
(:data:`SENSITIVITY_SEED`), so a rebuilt report is identical.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from sim.analysis import outcomes
from sim.analysis.company import company_section
from sim.analysis.names import funnel_stages, label
from sim.analysis.sensitivity import given_data_indices, noise_variance, saltelli_indices
from sim.analysis.statistics import (
    ALL,
    CERTAIN_SHARE,
    FDR,
    LIFETIME_PROFIT,
    LIKELY_SHARE,
    PROFIT,
    SUMMARY_COLUMNS,
    failed_mask,
    mean_ci,
    paired_differences,
    policies_of,
    replications_needed,
    segment_metric,
    segment_names,
    summarise,
    summary_table,
    t_quantile,
    verdict_metric,
    winners,
)
from sim.engine.plan import is_plan, plan_entries, plan_name
from sim.files import atomic_write_bytes
from sim.formatting import markdown_table, number
from sim.sweep.pool import call, start_all
from sim.sweep.store import ResultStore

LEVEL = 0.95
MAX_MAPS = 3
"""Winner maps are drawn for at most this many factor pairs."""
MAX_ERRORS = 10
"""Failed runs listed by name in the method section."""
KEY_DIFFS = ("profit_lifetime_per_customer", "profit_per_customer", "ltv_mean",
             "cost_per_customer")
"""Outcomes of the table of differences from the baseline (then retention)."""
SEGMENT_OUTCOMES = ("ltv_mean", "cost_per_customer", "profit_per_customer",
                    "profit_lifetime_per_customer")
"""Outcomes of the per-segment table (after retention)."""
COMPARISON_OUTCOMES = (*SEGMENT_OUTCOMES, "ltv_to_cac", "nps")
"""Outcomes of the comparison table (after retention)."""
PURCHASE_OUTCOMES = ("purchase_frequency", "aov", "repeat_purchase_rate",
                     "repeat_purchase_rate_new", "revenue_per_customer")
"""Outcomes of the purchases table (runs of a repeat-purchase scenario only)."""

PRECISION = 0.01
"""Target 95 % CI half-width of the *Precision* section, as a share of the mean's size."""

SENSITIVITY_SEED = 20261203
"""Seed of the sensitivity bootstraps (the same for every outcome and policy)."""
MIN_SENSITIVITY_POINTS = 8
"""Fewest design points with a sensitivity section."""
SENSITIVITY_COLUMNS = ("outcome", "policy", "factor", "first", "first_low", "first_high",
                       "total", "total_low", "total_high", "method")
"""Columns of ``sensitivity.csv``."""
NOISY_SHARE = 0.5
"""Noise share of an outcome's variation above which the report shows no indices."""
SALTELLI, GIVEN_DATA = "saltelli", "given_data"
"""The ``method`` of a ``sensitivity.csv`` row."""

Figure = tuple[str, str]  # (file name under figures/, caption)
PLOTS = "sim.analysis.plots"
"""The module that draws the figures (imported only by the processes that draw)."""


# -- entry point ---------------------------------------------------------------------------
def build_report(root: str | Path, workers: int = 1) -> Path:
    """Write ``summary.csv``, ``figures/*.png`` and ``report.md`` for a results folder.

    Args:
        root: A folder written by :func:`sim.sweep.runner.sweep`.
        workers: Processes drawing the figures (1: this one; more: the pool the runs
            used, :func:`sim.sweep.pool.worker_pool`).

    Returns:
        The path of ``report.md``.

    Raises:
        InputError: ``root`` is not a results folder or has no ``runs.csv``.
    """
    root = Path(root)
    store = ResultStore(root)
    manifest = store.manifest()
    runs = store.read_runs()
    factors = [factor for factor in manifest.get("factors", []) if factor in runs]
    baseline = _baseline(manifest, runs)
    point_winners = _point_winners(runs, factors, baseline)
    if runs[~failed_mask(runs)].empty:
        figures: list[Figure] = []
        drawing: Callable[[], list[Path]] = list
    else:
        figures, drawing = _draw_figures(root, store, runs, factors, point_winners, workers)
    # the tables and the text are computed while the workers draw the figures
    _write_summary(root, runs, baseline, factors)
    sensitivity = sensitivity_table(manifest, runs, factors)
    if not sensitivity.empty:
        csv = sensitivity.to_csv(index=False, lineterminator="\n")
        atomic_write_bytes(root / "sensitivity.csv", csv.encode())
    text = render(manifest, runs, factors, baseline, figures, sensitivity,
                  point_winners=point_winners)
    drawing()  # report.md last, once its figures are there
    path = root / "report.md"
    atomic_write_bytes(path, text.encode())
    return path


def _point_winners(runs: pd.DataFrame, factors: Sequence[str],
                   baseline: str | None) -> pd.DataFrame | None:
    """The winners at each design point of a sweep, computed once for text and maps.

    ``None`` for a single design point or when plans were run (the text leaves plans
    out, the maps would not).
    """
    if runs.empty or runs["point"].nunique() < 2 or runs["policy"].map(is_plan).any():
        return None
    return winners(runs, baseline, by_point=True, factors=factors, level=LEVEL,
                   metric=verdict_metric(runs))


def _baseline(manifest: Mapping[str, Any], runs: pd.DataFrame) -> str | None:
    """The manifest's baseline, else the first policy with runs."""
    policies = policies_of(runs) if not runs.empty else []
    baseline = manifest.get("baseline")
    if baseline in policies:
        return baseline
    return policies[0] if policies else None


def _write_summary(root: Path, runs: pd.DataFrame, baseline: str | None,
                   factors: Sequence[str]) -> None:
    """Write ``summary.csv`` (only its header when there are no runs)."""
    if baseline is None:
        table = pd.DataFrame(columns=["point", *factors, *SUMMARY_COLUMNS])
    else:
        table = summary_table(runs, baseline, factors=factors, level=LEVEL)
    csv = table.to_csv(index=False, lineterminator="\n")
    atomic_write_bytes(root / "summary.csv", csv.encode())


# -- sensitivity --------------------------------------------------------------------------
def sensitivity_table(manifest: Mapping[str, Any], runs: pd.DataFrame,
                      factors: Sequence[str]) -> pd.DataFrame:
    """Sensitivity indices of each factor for each key outcome and policy.

    The response is the mean of an outcome over the replications of a design point
    (failed runs left out); the noise variance of that mean
    (:func:`sim.analysis.sensitivity.noise_variance`) is removed from the variance to
    explain (with one replication it cannot be estimated and stays in). A complete
    ``saltelli`` design gets first- and total-order indices
    (:func:`~sim.analysis.sensitivity.saltelli_indices`, point ``k·n … (k + 1)·n − 1``
    being block ``k``); any other design, or a saltelli design with a point missing,
    gets first-order indices from its sample
    (:func:`~sim.analysis.sensitivity.given_data_indices`).

    Args:
        manifest: The folder's manifest (``design``, ``samples``).
        runs: Its ``runs.csv`` table.
        factors: Factor columns, in the design's order.

    Returns:
        One row per outcome, policy and factor with :data:`SENSITIVITY_COLUMNS`; empty
        (with those columns) when no factor is numeric or there are fewer than
        :data:`MIN_SENSITIVITY_POINTS` design points.
    """
    numeric = [f for f in factors if pd.api.types.is_numeric_dtype(runs[f])]
    points = np.sort(runs["point"].unique()) if not runs.empty else np.array([], dtype=int)
    ok = runs[~failed_mask(runs)]
    if not numeric or points.size < MIN_SENSITIVITY_POINTS or ok.empty:
        return pd.DataFrame(columns=list(SENSITIVITY_COLUMNS))
    samples = int(manifest.get("samples") or 0)
    saltelli = (manifest.get("design") == SALTELLI
                and points.size == samples * (len(factors) + 2)
                and np.array_equal(points, np.arange(points.size)))
    x_all = runs.drop_duplicates("point").set_index("point").loc[points, numeric]
    metrics = [m for m in (*KEY_DIFFS, _retention_metric(runs)) if m and m in runs]
    rows = []
    for metric in metrics:
        for policy in policies_of(ok):
            replicates = _replicates(ok, policy, metric, points)
            means = _point_means(replicates)
            noise = noise_variance(replicates)
            noise_var = noise if math.isfinite(noise) else 0.0
            found = np.isfinite(means)
            if saltelli and found.all():
                indices = saltelli_indices(means, samples, factors, noise_var=noise_var,
                                           rng=SENSITIVITY_SEED)
                method = SALTELLI
            elif found.sum() >= MIN_SENSITIVITY_POINTS:
                indices = given_data_indices(x_all.to_numpy(float)[found], means[found],
                                             numeric, noise_var=noise_var,
                                             rng=SENSITIVITY_SEED)
                method = GIVEN_DATA
            else:
                continue
            rows += [{"outcome": metric, "policy": policy, "factor": index.name,
                      "first": index.first, "first_low": index.first_low,
                      "first_high": index.first_high, "total": index.total,
                      "total_low": index.total_low, "total_high": index.total_high,
                      "method": method} for index in indices]
    return pd.DataFrame(rows, columns=list(SENSITIVITY_COLUMNS))


def _replicates(ok: pd.DataFrame, policy: str, metric: str, points: np.ndarray) -> np.ndarray:
    """``(points, replications)`` values of ``metric`` for ``policy`` (``nan``: missing)."""
    mine = ok[ok["policy"] == policy].set_index(["point", "replication"])[metric]
    return mine.unstack("replication").reindex(points).to_numpy(float)


def _point_means(replicates: np.ndarray) -> np.ndarray:
    """Mean over replications at each point (``nan`` where a point has no value)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a point with no value
        return np.nanmean(replicates, axis=1)


def _noise_share(ok: pd.DataFrame, policy: str, metric: str) -> float:
    """Share of the variance of ``metric``'s point means that is simulation noise."""
    replicates = _replicates(ok, policy, metric, np.sort(ok["point"].unique()))
    means = _point_means(replicates)
    variance = float(np.var(means[np.isfinite(means)])) if np.isfinite(means).any() else 0.0
    noise = noise_variance(replicates)
    return noise / variance if variance > 0.0 else math.nan


# -- figures ------------------------------------------------------------------------------
class _Drawing(NamedTuple):
    """One figure of the report: its file under ``figures/``, its caption, how to draw it."""

    file: str
    caption: str
    function: str
    """Its function in :mod:`sim.analysis.plots`, called ``(*arguments, path, **keywords)``."""
    arguments: tuple[Any, ...]
    keywords: Mapping[str, Any] | None = None


def _draw_figures(root: Path, store: ResultStore, runs: pd.DataFrame,
                  factors: Sequence[str],
                  point_winners: pd.DataFrame | None = None,
                  workers: int = 1) -> tuple[list[Figure], Callable[[], list[Path]]]:
    """Start drawing every figure into ``root/figures``.

    ``point_winners``: :func:`_point_winners`, shared by the winner maps. ``workers``:
    with more than one, the figures are drawn on the worker pool
    (:func:`sim.sweep.pool.start_all`; the same bytes as drawn here), each task naming
    its function of :mod:`sim.analysis.plots` (:func:`sim.sweep.pool.call`), so this
    process never imports Matplotlib; with one, they are drawn here when waited for.

    Returns:
        The (file, caption) pairs, and a function that waits until every figure is
        drawn (raising a figure's error).
    """
    out = root / "figures"
    ok_ids = runs.loc[~failed_mask(runs), "run_id"]
    series = store.read_series(ok_ids)
    drawings = [
        _Drawing("profit_per_customer.png", "Profit per customer by policy and segment.",
                 "profit_bars", (runs,)),
        _Drawing("ltv_vs_cost.png", "LTV against cost to serve per customer within the "
                 "horizon, both axes from 0 (up and to the left is better).",
                 "ltv_vs_cost", (runs,)),
        _Drawing("retention.png", "Cohort retention after conversion.",
                 "retention_curves", (runs,)),
    ]
    baseline = _baseline(store.manifest(), runs)
    if baseline is not None and len(policies_of(runs)) > 1:
        drawings.insert(1, _Drawing("differences.png", f"Paired difference from "
                                    f"{label(baseline)} with 95 % CIs (what the verdicts "
                                    "rest on).", "differences", (runs, baseline)))
    if not series.empty and "month" in series:
        drawings.append(_Drawing("funnel.png", "Customers in each lifecycle stage over time.",
                                 "stage_funnel", (series, runs)))
        if funnel_stages(runs.columns):
            drawings.append(_Drawing("growth_funnel.png", "How far the agents got down the "
                                     "funnel, with each stage's conversion from the one "
                                     "before.", "growth_funnel", (runs,)))
        drawings.append(_Drawing("costs.png", "Total cost over the horizon by type, beside "
                                 "gross margin and profit.", "cost_breakdown", (series, runs)))
    for i, factor in enumerate(factors, start=1):
        drawings.append(_Drawing(f"factor_{i}.png", f"Profit per customer along `{factor}`.",
                                 "factor_effect", (runs, factor)))
    for i, pair in enumerate(itertools.islice(itertools.combinations(factors, 2), MAX_MAPS), 1):
        drawings.append(_Drawing(f"winner_map_{i}.png", f"Winner over `{pair[0]}` × "
                                 f"`{pair[1]}`.", "winner_map", (runs, pair),
                                 {"point_winners": point_winners}))
    drawing = start_all([functools.partial(call, f"{PLOTS}:{d.function}", *d.arguments,
                                           out / d.file, **(d.keywords or {}))
                         for d in drawings], workers)
    return [(d.file, d.caption) for d in drawings], drawing


# -- formatting ---------------------------------------------------------------------------
def _mean_pm(values: pd.Series, metric: str) -> str:
    """``mean ± half-width`` of a sample (the mean alone when there is no CI)."""
    mean, _, _, high, n = mean_ci(values.to_numpy(float), LEVEL)
    fmt = outcomes.formatter(metric)
    if n == 0:
        return "–"
    if not math.isfinite(high):
        return fmt(mean)
    return f"{fmt(mean)} ± {outcomes.formatter(metric, difference=True)(high - mean)}"


def _ci(low: float, high: float, fmt: Callable[..., str] = number) -> str:
    """``95 % CI low to high`` with signs, or ``no CI`` when a bound is undefined."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "no CI"
    return f"95 % CI {fmt(low, signed=True)} to {fmt(high, signed=True)}"


def _retention_metric(runs: pd.DataFrame) -> str | None:
    """``retention_12``, else the longest retention the horizon allows."""
    have = [m for m in (12, 6, 3, 24) if f"retention_{m}" in runs]
    return f"retention_{have[0]}" if have else None


def _with_retention(runs: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """:func:`_retention_metric` (when there is one), then ``names``."""
    retention = _retention_metric(runs)
    return [retention, *names] if retention else list(names)


# -- sections -----------------------------------------------------------------------------
def render(manifest: Mapping[str, Any], runs: pd.DataFrame, factors: Sequence[str],
           baseline: str | None, figures: Sequence[Figure],
           sensitivity: pd.DataFrame | None = None, *,
           point_winners: pd.DataFrame | None = None) -> str:
    """The text of ``report.md``.

    Args:
        manifest: The folder's manifest.
        runs: Its ``runs.csv`` table.
        factors: Factor columns.
        baseline: The reference policy (``None`` when there are no runs).
        figures: (file under ``figures/``, caption) pairs.
        sensitivity: :func:`sensitivity_table` (``None`` or empty: no such section).
        point_winners: The winners at each design point when already computed
            (:func:`_point_winners`; default: computed here for a sweep).
    """
    ok = runs[~failed_mask(runs)]
    lines = [f"# {manifest.get('experiment', 'experiment')}: which engagement policy "
             "maximises profit per customer?", "", _headline(manifest, runs), ""]
    singles = _single_policies(runs)
    lines += _answer(singles, singles[~failed_mask(singles)], factors, baseline,
                     point_winners)
    lines += _plan_section(runs, factors, baseline)
    lines += company_section(manifest, ok, factors)
    lines += _assumptions(manifest, factors)
    if not ok.empty:
        lines += _comparison(ok, baseline)
        lines += _purchases(ok)
        lines += _differences(runs, baseline)
        lines += _segment_table(ok)
        lines += _sensitivity(sensitivity, ok)
        lines += _figures(figures)
        lines += _precision(ok, factors)
    lines += _method(manifest, runs, factors)
    return "\n".join(lines).rstrip() + "\n"


def _assumptions(manifest: Mapping[str, Any], factors: Sequence[str]) -> list[str]:
    """What the answer rests on: the scenario's key assumptions and where each comes from."""
    rows = manifest.get("key_assumptions") or []
    if not rows:
        return []
    varied = set(factors)
    table = [[row["label"], f"{row['value']:,.6g}",
              "varied by this sweep" if row["path"] in varied else row["source"]]
             for row in rows]
    return ["## What this rests on", "",
            "The scenario's key assumptions (money in the scenario's currency). Values marked "
            "uncertain have a declared range: `engagesim decide` weighs it.", "",
            *markdown_table(["assumption", "value", "where it comes from"], table), ""]


def _headline(manifest: Mapping[str, Any], runs: pd.DataFrame) -> str:
    """The italic line under the title: scenario, policies, design, runs, size."""
    n_points = runs["point"].nunique() if not runs.empty else 0
    design = "one design point" if n_points <= 1 else f"{n_points} design points"
    plans = _extra_plans(manifest, runs)
    plus = " and the plan of the segment winners" if plans else ""
    return (f"*Scenario `{manifest.get('scenario', '?')}` · "
            f"{len(manifest.get('policies', []))} policies{plus} · {design} · "
            f"{_plural(manifest.get('replications', '?'), 'replication')} · "
            f"{number(manifest.get('customers', math.nan))} customers"
            + (f" ({number(manifest['agents'])} simulated)"
               if manifest.get("agents") not in (None, manifest.get("customers")) else "")
            + " · "
            f"{manifest.get('months', '?')} months*")


def _plural(count: Any, noun: str) -> str:
    """``count noun``, with an ``s`` unless the count is 1."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _answer(runs: pd.DataFrame, ok: pd.DataFrame, factors: Sequence[str],
            baseline: str | None, point_winners: pd.DataFrame | None = None) -> list[str]:
    """The *answer* section: the winner per segment, how sure, failures, points."""
    lines = ["## The answer", ""]
    failed = int(failed_mask(runs).sum())
    if ok.empty:
        return [*lines, f"No run succeeded ({failed} of {len(runs)} failed), so there is no "
                "answer: see *Method* for the errors.", ""]
    sweep = runs["point"].nunique() > 1
    metric = verdict_metric(runs)
    table = winners(runs, baseline, by_point=False, factors=factors, level=LEVEL, metric=metric)
    if sweep:
        lines += [f"Averaged over all {runs['point'].nunique()} design points (each "
                  "(point, replication) is one paired comparison):", ""]
    for segment in [ALL, *segment_names(runs)]:
        row = table[table["segment"] == segment] if not table.empty else table
        lines.append(_answer_line(segment, row.iloc[0] if not row.empty else None, metric))
    lines.append("")
    if metric != PROFIT:
        lines += _horizon_check(runs, table, baseline, factors)
    if ok["replication"].nunique() < 2:
        lines += ["**Only 1 replication per policy: no confidence interval can be computed,** "
                  "so every answer is a point estimate and is called *too close to call*. "
                  "Run more replications to know how sure it is.", ""]
    lines += [f"*How sure*: **certain** — the paired 95 % CI of the margin over the "
              f"runner-up excludes 0 and the winner is ahead in ≥ {CERTAIN_SHARE:.0%} of "
              f"replications; **likely** — the margin is positive and either the CI "
              f"excludes 0 or the winner is ahead in ≥ {LIKELY_SHARE:.0%} of replications; "
              "**too close to call** — otherwise (or with a single replication). With "
              "several claims at once — these segments, or every design point and segment "
              "of a sweep's table — *certain* also needs the claim to pass a "
              f"{FDR:.0%} false discovery rate over them (Benjamini–Hochberg; see "
              "*Method*). This is "
              "certainty *given the scenario's assumptions* (simulation noise only); "
              "`engagesim decide` weighs the uncertainty of the assumptions themselves.", ""]
    if failed:
        lines += [f"{failed} of {len(runs)} runs failed and are left out of every number "
                  "(see *Method*).", ""]
    if sweep:
        lines += _winners_by_point(runs, factors, baseline, point_winners)
    return lines


# -- the plan of the segment winners -------------------------------------------------------
def _single_policies(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs of single policies, without plans.

    Plans are left out of the answer: in each segment a plan is the policy it chose
    there, so it would only tie with it.
    """
    if runs.empty:
        return runs
    return runs[~runs["policy"].map(is_plan)]


def _extra_plans(manifest: Mapping[str, Any], runs: pd.DataFrame) -> list[str]:
    """Plans run after the experiment's own policies (``engagesim compare``)."""
    if runs.empty:
        return []
    listed = set(manifest.get("policies", []))
    return [p for p in policies_of(runs) if is_plan(p) and p not in listed]


def winners_plan(runs: pd.DataFrame, baseline: str | None = None) -> dict[str, str] | None:
    """Each segment's winner among the single policies (by :func:`verdict_metric`).

    A segment without a winner (no converted customers in any run) gets the winner over
    all customers.

    Args:
        runs: A ``runs.csv`` table of one design point.
        baseline: The baseline policy (only passed on to :func:`winners`).

    Returns:
        Segment → winning policy, in the table's segment order; ``None`` when there are
        no segments or no winner at all.
    """
    singles = _single_policies(runs)
    segments = segment_names(singles) if not singles.empty else []
    if not segments:
        return None
    table = winners(singles, baseline, by_point=False, factors=[], level=LEVEL,
                    metric=verdict_metric(singles))
    if table.empty:
        return None
    won = dict(zip(table["segment"], table["winner"], strict=True))
    if ALL not in won:
        return None
    return {segment: won.get(segment, won[ALL]) for segment in segments}


def _plan_section(runs: pd.DataFrame, factors: Sequence[str],
                  baseline: str | None) -> list[str]:
    """*One plan for every segment*: the winners combined, beside the best single policy.

    Only for one design point (``engagesim compare``) with segments and two or more
    single policies. When one policy wins every segment, the plan is that policy.
    """
    singles = _single_policies(runs)
    if factors or runs.empty or runs["point"].nunique() > 1 or len(policies_of(singles)) < 2:
        return []
    chosen = winners_plan(runs, baseline)
    if chosen is None:
        return []
    head = ["## One plan for every segment", ""]
    distinct = list(dict.fromkeys(chosen.values()))
    if len(distinct) == 1:
        return [*head, f"One policy wins every segment, so the plan of the winners is "
                f"**{label(distinct[0])}** itself: nothing more was run.", ""]
    name = plan_name(chosen)
    mapping = ", ".join(f"{label(s)} → **{label(p)}**" for s, p in chosen.items())
    lines = [*head, f"The winner of each segment, combined into one plan ({mapping}: "
             f"`{name}`), run as a policy of its own on the same seeds as the others "
             "(common random numbers). Each chosen policy serves only its segments with "
             "its own CSM teams; the platform is paid once (the largest chosen). Plans "
             "are left out of the answer above.", ""]
    ok = runs[~failed_mask(runs)]
    plan = next((p for p in policies_of(ok) if is_plan(p)
                 and dict(plan_entries(p)) == chosen), None)
    if plan is None:
        return [*lines, "This plan has not been run in this folder (`engagesim compare` "
                "runs it).", ""]
    best = winners(singles, baseline, by_point=False, factors=[], level=LEVEL,
                   metric=verdict_metric(singles))
    best = str(best.loc[best["segment"] == ALL, "winner"].iloc[0])
    metrics = [m for m in (verdict_metric(runs), _retention_metric(runs)) if m and m in ok]
    rows = [[name_, *(_mean_pm(ok.loc[ok["policy"] == p, m], m) for m in metrics)]
            for name_, p in (("the plan", plan), (f"{label(best)} (best single policy)", best))]
    pair = ok[ok["policy"].isin([plan, best])]
    diff = paired_differences(pair, best, metrics, by_point=False, factors=[], level=LEVEL)
    cells = ["plan − best single"]
    for metric in metrics:
        row = diff[diff["metric"] == metric].iloc[0]
        fmt = outcomes.formatter(metric, difference=True)
        better = f"better in {row['share_better']:.0%}" if row["n"] else "no pairs"
        cells.append(f"{fmt(row['diff_mean'], signed=True)} "
                     f"({_ci(row['diff_ci_low'], row['diff_ci_high'], fmt)}; {better})")
    rows.append(cells)
    return [*lines, "All customers, mean ± 95 % CI half-width over runs; the last row is "
            "the paired difference over the same seeds.", "",
            *markdown_table(["", *map(outcomes.label, metrics)], rows), ""]


def _horizon_check(runs: pd.DataFrame, table: pd.DataFrame, baseline: str | None,
                   factors: Sequence[str]) -> list[str]:
    """Whether counting only the simulated months would change any verdict."""
    within = winners(runs, baseline, by_point=False, factors=factors, level=LEVEL,
                     metric=PROFIT)
    changed = []
    for row in table.itertuples():
        other = within[within["segment"] == row.segment]
        if not other.empty and other["winner"].iloc[0] != row.winner:
            changed.append(f"{label(row.segment)} → **{label(other['winner'].iloc[0])}** "
                           f"({other['verdict'].iloc[0]})")
    head = ("*Lifetime*: profit counts what customers still active at the horizon are "
            "worth (their expected remaining discounted margin less cost to serve, from "
            "the run's own stage-to-stage retention).")
    if not changed:
        return [head + " Counting only the simulated months gives the same winners.", ""]
    return [head + " **Counting only the simulated months would change the winner** for "
            + "; ".join(changed) + " — the horizon matters here.", ""]


def _answer_line(segment: str, row: pd.Series | None, metric: str = PROFIT) -> str:
    """One bullet of the answer: a segment's winner, its margin and verdict."""
    name = label(segment)
    name = name[:1].upper() + name[1:]
    if row is None:
        return f"- **{name}**: no converted customers in any run, so no answer."
    what = "lifetime profit" if metric == LIFETIME_PROFIT else "profit"
    text = (f"- **{name}**: **{label(row['winner'])}** maximises {what} per customer "
            f"({number(row['winner_mean'])} per customer)")
    if row["runner_up"] is None or pd.isna(row["runner_up"]):
        return text + f". **{row['verdict'].capitalize()}** ({row['reason']})."
    ci = _ci(row["margin_ci_low"], row["margin_ci_high"])
    why = row["reason"] if ci == "no CI" else f"{ci}; {row['reason']}"
    text += f", {number(row['margin_mean'])} more than {label(row['runner_up'])} ({why})"
    if math.isfinite(row["vs_baseline_mean"]) and row["runner_up"] != row["baseline"]:
        text += (f"; {number(row['vs_baseline_mean'], signed=True)} vs the baseline "
                 f"{label(row['baseline'])} "
                 f"({_ci(row['vs_baseline_ci_low'], row['vs_baseline_ci_high'])})")
    return text + f". **{row['verdict'].capitalize()}.**"


def _winners_by_point(runs: pd.DataFrame, factors: Sequence[str], baseline: str | None,
                      table: pd.DataFrame | None = None) -> list[str]:
    """The table of the winner (and verdict) at each design point of a sweep.

    ``table``: :func:`_point_winners` when already computed.
    """
    if table is None:
        table = winners(runs, baseline, by_point=True, factors=factors, level=LEVEL,
                        metric=verdict_metric(runs))
    segments = [ALL, *segment_names(runs)]
    rows = []
    for point, group in table.groupby("point", sort=True):
        cells = [str(point), *(f"{group[f].iloc[0]:g}" for f in factors)]
        for segment in segments:
            hit = group[group["segment"] == segment]
            cells.append(f"{label(hit['winner'].iloc[0])} ({hit['verdict'].iloc[0]})"
                         if not hit.empty else "–")
        rows.append(cells)
    header = ["point", *(f"`{f}`" for f in factors), *(label(s) for s in segments)]
    return ["### Winner at each design point", "", *markdown_table(header, rows), ""]


def _comparison(ok: pd.DataFrame, baseline: str | None) -> list[str]:
    """The comparison table: each policy's key outcomes with 95 % CIs."""
    metrics = [m for m in _with_retention(ok, COMPARISON_OUTCOMES) if m in ok]
    rows = _policy_rows(ok, metrics, baseline)
    pooled = " (design points pooled)" if ok["point"].nunique() > 1 else ""
    return ["## Comparison", "",
            f"All customers, mean ± 95 % CI half-width over runs{pooled}. Money in the "
            "scenario's currency, discounted from each customer's conversion; *lifetime* "
            "adds what customers still active at the horizon are worth; retention is "
            "the share of converted customers still customers that many months after "
            "conversion; LTV:CAC is for customers acquired during the run.", "",
            *markdown_table(["policy", *map(outcomes.label, metrics)], rows), ""]


def _policy_rows(ok: pd.DataFrame, metrics: Sequence[str],
                 baseline: str | None = None) -> list[list[str]]:
    """One table row per policy: its name, then each metric's mean ± 95 % CI half-width."""
    rows = []
    for policy in policies_of(ok):
        mine = ok[ok["policy"] == policy]
        name = label(policy) + (" (baseline)" if policy == baseline else "")
        rows.append([name, *(_mean_pm(mine[m], m) if m in mine else "–" for m in metrics)])
    return rows


def _purchases(ok: pd.DataFrame) -> list[str]:
    """The purchases table of a repeat-purchase scenario (empty for subscriptions)."""
    metrics = [m for m in PURCHASE_OUTCOMES if m in ok and ok[m].notna().any()]
    if not metrics:
        return []
    rows = _policy_rows(ok, metrics)
    return ["### Purchases", "",
            "Repeat purchases (`sim/engine/purchases.py`), mean ± 95 % CI half-width over "
            "runs: orders per active customer per month, average order value, the share "
            "of buyers (and of buyers acquired during the run) with two or more orders, "
            "revenue per converted customer (undiscounted).", "",
            *markdown_table(["policy", *map(outcomes.label, metrics)], rows), ""]


def _differences(runs: pd.DataFrame, baseline: str | None) -> list[str]:
    """The paired differences from the baseline (empty with one policy)."""
    if baseline is None or len(policies_of(runs)) < 2:
        return []
    metrics = [m for m in (*KEY_DIFFS, _retention_metric(runs)) if m and m in runs]
    diff = paired_differences(runs, baseline, metrics, by_point=False, factors=[], level=LEVEL)
    rows = []
    for policy, group in diff.groupby("policy", sort=False):
        cells = [label(policy)]
        for metric in metrics:
            row = group[group["metric"] == metric].iloc[0]
            fmt = outcomes.formatter(metric, difference=True)
            better = (f"better in {row['share_better']:.0%}" if row["n"] else "no pairs")
            cells.append(f"{fmt(row['diff_mean'], signed=True)} "
                         f"({_ci(row['diff_ci_low'], row['diff_ci_high'], fmt)}; {better})")
        rows.append(cells)
    header = ["policy", *map(outcomes.label, metrics)]
    lower = ", ".join(outcomes.lower_is_better_names())
    return [f"### Difference from the baseline ({label(baseline)}), paired by replication",
            "", f"Policy − baseline over the same seeds; \"better in\" is the share of paired "
            f"replications where the policy is better (lower for {lower}).", "",
            *markdown_table(header, rows), ""]


def _segment_table(ok: pd.DataFrame) -> list[str]:
    """The per-segment table of each policy's key outcomes."""
    segments = segment_names(ok)
    if not segments:
        return []
    metrics = [m for m in _with_retention(ok, SEGMENT_OUTCOMES)
               if any(segment_metric(s, m) in ok for s in segments)]
    rows = []
    for segment in segments:
        for policy in policies_of(ok):
            mine = ok[ok["policy"] == policy]
            cells = [label(segment), label(policy)]
            for metric in metrics:
                column = segment_metric(segment, metric)
                cells.append(_mean_pm(mine[column], metric) if column in mine else "–")
            rows.append(cells)
    return ["### By segment", "", "Mean ± 95 % CI half-width over runs.", "",
            *markdown_table(["segment", "policy", *map(outcomes.label, metrics)], rows), ""]


def _share(value: float, low: float, high: float) -> str:
    """``0.42 [0.35, 0.49]`` (the value alone without a CI, ``–`` when undefined).

    An infinite upper bound (:func:`sim.analysis.sensitivity.given_data_indices`: many
    resamples were all noise) is written ``∞``.
    """
    if not math.isfinite(value):
        return "–"
    if math.isnan(low) or math.isnan(high):
        return f"{value:.2f}"
    upper = "∞" if math.isinf(high) else f"{high:.2f}"
    return f"{value:.2f} [{low:.2f}, {upper}]"


def _sensitivity(table: pd.DataFrame | None, ok: pd.DataFrame) -> list[str]:
    """The sensitivity section: a table per outcome, factors × policies (empty: none)."""
    if table is None or table.empty:
        return []
    saltelli = (table["method"] == SALTELLI).any()
    replications = int(ok["replication"].nunique())
    if saltelli:
        method = ("Sobol' indices from the saltelli design (first order: Saltelli 2010, "
                  "total order: Jansen; `scipy.stats.sobol_indices`) with BCa bootstrap "
                  "95 % CIs over the base samples. Each cell is the first-order index — "
                  "the share of the outcome's variation across design points explained by "
                  "the factor alone — and, after `ST`, the total-order index — the share "
                  "explained by the factor with its interactions.")
        if (table["method"] == GIVEN_DATA).any():
            method += (" Where a design point has no mean (failed runs), only first-order "
                       "indices from the points' sample are given.")
    else:
        method = ("First-order indices from the design's sample: the variance of a "
                  "smoothing-spline fit (GCV) of the point mean on the factor — the mean at "
                  "each level when it has fewer than 5 — over the variance across design "
                  "points, with percentile bootstrap 95 % CIs over points. Each cell is "
                  "the share of the outcome's variation across design points explained by "
                  "the factor alone (a saltelli design would also give total-order "
                  "indices, with interactions).")
    if replications >= 2:
        noise = (f"Each point mean averages {replications} replications; the variance of "
                 "its simulation noise, estimated from the replications, is removed from "
                 "the variance to explain (and held fixed in the CIs), so noise is not "
                 "credited to any factor. The *noise share* row is the part of each "
                 "policy's variation across points that is noise; where it is over "
                 f"{100 * NOISY_SHARE:.0f} % the indices are unreliable and read *noisy* (their "
                 "values are in `sensitivity.csv`) — more customers or replications "
                 "shrink it.")
    else:
        noise = ("**With 1 replication the simulation noise could not be estimated or "
                 "removed**: the indices are shares of a variance that includes noise, so "
                 "they understate every factor.")
    lines = ["## Sensitivity: which factors drive the outcomes", "", method, noise,
             "Indices near 0 mean the factor hardly matters over its range; values below 0 "
             "or above 1 are sampling error; an upper bound ∞: the bounds are undefined "
             "because many resamples are all noise; – : the outcome does not vary beyond "
             "the noise. All values are in `sensitivity.csv`.", ""]
    policies = list(dict.fromkeys(table["policy"]))
    for metric, group in table.groupby("outcome", sort=False):
        shares = {policy: _noise_share(ok, policy, str(metric)) if replications >= 2
                  else math.nan for policy in policies}
        rows = []
        for factor in dict.fromkeys(group["factor"]):
            cells = [f"`{factor}`"]
            for policy in policies:
                hit = group[(group["factor"] == factor) & (group["policy"] == policy)]
                if hit.empty:
                    cells.append("–")
                    continue
                if NOISY_SHARE <= shares[policy] < 1.0:
                    cells.append("*noisy*")
                    continue
                row = hit.iloc[0]
                cell = _share(row["first"], row["first_low"], row["first_high"])
                if row["method"] == SALTELLI and math.isfinite(row["total"]):
                    cell += " · ST " + _share(row["total"], row["total_low"], row["total_high"])
                cells.append(cell)
            rows.append(cells)
        if replications >= 2:
            rows.append(["*noise share*", *(
                "–" if math.isnan(v) else "all noise" if v >= 1.0 else f"{100 * v:.0f} %"
                for v in shares.values())])
        found = outcomes.outcome(str(metric))
        heading = found.axis if found else label(str(metric))
        lines += [f"### {heading[:1].upper() + heading[1:]}", "",
                  *markdown_table(["factor", *map(label, policies)], rows), ""]
    return lines


def _figures(figures: Sequence[Figure]) -> list[str]:
    """The figures section: each figure with its caption."""
    if not figures:
        return []
    lines = ["## Figures", ""]
    for name, caption in figures:
        lines += [f"![{caption}](figures/{name})", "", f"*{caption}*", ""]
    return lines


def _method(manifest: Mapping[str, Any], runs: pd.DataFrame, factors: Sequence[str]) -> list[str]:
    """The method section: design, replications, seeds, statistics, files, versions."""
    failed = runs[failed_mask(runs)]
    n_points = runs["point"].nunique() if not runs.empty else 0
    lower = ", ".join(outcomes.lower_is_better_names())
    lines = ["## Method", "",
             f"- **Experiment**: `{manifest.get('experiment', '?')}` "
             f"(`{manifest.get('experiment_source', '?')}`, hash "
             f"`{str(manifest.get('experiment_hash', '?'))[:12]}`); scenario "
             f"`{manifest.get('scenario', '?')}` (hash "
             f"`{str(manifest.get('scenario_hash', '?'))[:12]}`).",
             f"- **Policies**: {', '.join(manifest.get('policies', []))}; baseline "
             f"`{manifest.get('baseline', '?')}`"
             + "".join(f"; then the plan of the segment winners `{plan}`, on the same seeds"
                       for plan in _extra_plans(manifest, runs)) + ".",
             f"- **Design**: {_design(manifest, runs, factors, n_points)}",
             f"- **Replications**: {manifest.get('replications', '?')} per policy and design "
             f"point; {number(manifest.get('agents', manifest.get('customers', math.nan)))} "
             f"customers simulated, {manifest.get('months', '?')} months per run"
             + (f" (a sample of the company's {number(manifest['customers'])}: each stands for "
                f"{manifest['customers'] / manifest['agents']:.3g}; fixed and CSM costs are the "
                "company's)" if manifest.get("agents") not in (None, manifest.get("customers"))
                else "") + ".",
             f"- **Seeds and common random numbers**: root seed "
             f"{manifest.get('root_seed', '?')}; run seed = `SeedSequence(root, "
             "spawn_key=(point, replication))`. Every policy of a (point, replication) "
             "uses the same seed and meets the same random numbers, so policies are "
             "compared by paired differences over replications.",
             f"- **Runs**: {len(runs)} in all, {len(runs) - len(failed)} succeeded, "
             f"{len(failed)} failed (excluded from every statistic and counted in "
             "`n_failed` of `summary.csv`).",
             *_failures(failed),
             "- **Statistics**: means with Student-t 95 % confidence intervals over "
             "replications (scipy); differences between policies are paired by "
             "(point, replication) with a t interval on the differences; \"better\" is higher "
             f"except for {lower} (lower). The winner of a segment has "
             "the highest mean lifetime profit per customer; its margin over the runner-up is the "
             "paired difference.",
             f"- **Wording rule**: *certain* if ≥ 2 pairs, the CI of the margin lies above 0 "
             f"and the winner is ahead in ≥ {CERTAIN_SHARE:.0%} of paired replications; "
             f"*likely* if not certain, ≥ 2 pairs, the mean margin is positive and either the "
             f"CI lies above 0 or the winner is ahead in ≥ {LIKELY_SHARE:.0%}; otherwise "
             "*too close to call*.",
             f"- **Many claims**: each table of winners (the answer's segments; a sweep's "
             "design points × segments) is one family of claims. Each claim's margin gets "
             "the one-sided paired t-test p-value (`scipy.stats.ttest_1samp`, alternative "
             "greater), the family's p-values are adjusted by Benjamini–Hochberg "
             "(`scipy.stats.false_discovery_control`), and *certain* needs the adjusted "
             f"q ≤ {FDR:.0%} (else it reads *likely*): among the *certain* calls of a table "
             f"at most {FDR:.0%} are expected to be false. *Likely* is not a discovery "
             "claim and is not adjusted. The winner is the best of the policies, a "
             "selected margin; the test does not correct for that choice.",
             "- **Files**: `summary.csv` — one row per design point, policy and metric: "
             "`point`, the factor values, `policy`, `metric`, `better_if`, `n`, `n_failed`, "
             "`mean`, `sd`, `ci_low`, `ci_high`, `baseline`, `diff_n`, `diff_mean`, "
             "`diff_ci_low`, `diff_ci_high`, `share_better` (policy − baseline, paired); "
             "`runs.csv` — every run; `figures/` — the figures above.",
             f"- **Versions**: {_versions(manifest)}.",
             f"- **Started**: {manifest.get('started', '?')}."]
    if manifest.get("command"):
        lines.append(f"- **Command**: `{manifest['command']}`")
    return [*lines, ""]


def _precision(ok: pd.DataFrame, factors: Sequence[str]) -> list[str]:
    """The *Precision* section: replications needed for a target CI half-width."""
    replications = int(ok["replication"].nunique())
    metrics = [m for m in (*KEY_DIFFS, _retention_metric(ok)) if m and m in ok]
    if replications < 2 or not metrics:
        return []
    stats_ = summarise(ok, metrics, factors=factors, level=LEVEL)
    rows = []
    for metric in metrics:
        sd_ = stats_.loc[stats_["metric"] == metric, "sd"].to_numpy(float)
        sd_ = sd_[np.isfinite(sd_)]
        if sd_.size == 0:
            continue
        sd = math.sqrt(float(np.mean(sd_**2)))  # pooled over points and policies
        now = t_quantile(LEVEL, replications - 1) * sd / math.sqrt(replications)
        target = PRECISION * abs(float(ok[metric].mean()))
        need = replications_needed(sd, target, LEVEL)
        fmt = outcomes.formatter(metric, difference=True)
        rows.append([outcomes.label(metric), fmt(sd), f"± {fmt(now)}", f"± {fmt(target)}",
                     "–" if not np.isfinite(need) else f"{int(need):,}"])
    if not rows:
        return []
    return ["## Precision: how many replications", "",
            f"How precisely one policy's mean at one design point is known from "
            f"{replications} replications, and how many replications a 95 % CI of ± "
            f"{PRECISION:.0%} of the mean would need: n = ⌈(z·sd / h)²⌉, sd the standard "
            "deviation of one run (pooled over policies and design points), h the "
            "target half-width, z = 1.96. Differences between policies are paired over "
            "the same seeds and usually need fewer; for a winner's margin over the "
            "runner-up, (z·sd of the paired margin / margin)² replications make its CI "
            "exclude 0.", "",
            *markdown_table(["outcome", "sd of one run", f"95 % CI now ({replications} reps)",
                             f"target (± {PRECISION:.0%})", "replications needed"], rows), ""]


def _design(manifest: Mapping[str, Any], runs: pd.DataFrame, factors: Sequence[str],
            n_points: int) -> str:
    """The design in words: kind, factors and their values, number of points."""
    if not factors:
        return "a single design point (no factors varied)."
    parts = []
    for factor in factors:
        values = sorted(runs[factor].dropna().unique())
        shown = ", ".join(f"{v:g}" for v in values) if len(values) <= 8 else (
            f"{len(values)} values in [{values[0]:g}, {values[-1]:g}]")
        parts.append(f"`{factor}` ({shown})")
    return (f"{manifest.get('design', '?')} over {len(factors)} factor"
            f"{'s' if len(factors) > 1 else ''}, {n_points} design points: "
            + "; ".join(parts) + ".")


def _failures(failed: pd.DataFrame) -> list[str]:
    """One line per failed run (at most :data:`MAX_ERRORS`)."""
    lines = [f"  - run {run.run_id} ({run.policy}, point {run.point}, replication "
             f"{run.replication}): {run.error}" for run in failed.head(MAX_ERRORS).itertuples()]
    if len(failed) > MAX_ERRORS:
        lines.append(f"  - … and {len(failed) - MAX_ERRORS} more (see `runs.csv`).")
    return lines


def _versions(manifest: Mapping[str, Any]) -> str:
    """The versions of the manifest, ``name version`` comma-separated."""
    versions = manifest.get("versions") or {"engagesim": manifest.get("engagesim", "?")}
    return ", ".join(f"{k} {v}" for k, v in versions.items())
