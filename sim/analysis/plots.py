"""Figures of a results folder, readable on a slide: the report's pictures.

Concept: every figure is drawn from stored results (``runs.csv`` and the per-step
series), never by running a model, on matplotlib's Agg canvas (no pyplot, no global
state), 16:9 at 1600 × 900 pixels with large fonts, a title, axis labels with units and
a legend. Each function takes the tables and an output path and returns the path; the
PNG is written to a temporary name and renamed into place.

Conventions:

* Error bars and bands are Student-t 95 % confidence intervals of the mean over
  replications (:func:`sim.analysis.statistics.mean_ci`); with one replication there are none.
* Per-policy figures pool the design points of a sweep (each run counts once); the
  sweep figures (:func:`factor_effect`, :func:`winner_map`) show the points apart.
* **Retention** is drawn from ``runs.csv`` — the cohort retention 3, 6, 12 and 24 months
  after conversion that each run reports (the share of converted customers observed
  that long who are still customers), with 100 % at month 0 — not from the series,
  whose ``active``/``churned`` counts mix cohorts converted at different times.
* Money is in the scenario's currency units, discounted as in the run summaries
  (per-customer figures) or undiscounted totals over the horizon (cost breakdown).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps, rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from sim import files
from sim.analysis.names import REACHED, funnel_stages, label
from sim.analysis.outcomes import OUTCOMES, RETENTION
from sim.analysis.statistics import (
    ALL,
    CERTAIN,
    LIKELY,
    failed_mask,
    mean_ci,
    paired_differences,
    policies_of,
    segment_metric,
    segment_names,
    verdict_metric,
    winners,
)
from sim.engine.metrics import COST_COLUMNS
from sim.engine.plan import is_plan, plan_entries
from sim.formatting import money_short

STYLE = {
    "font.size": 15,
    "axes.titlesize": 17,
    "axes.labelsize": 15,
    "xtick.labelsize": 13,
    "ytick.labelsize": 13,
    "legend.fontsize": 13,
    "figure.titlesize": 20,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 2.5,
    "lines.markersize": 8,
    # names are text: a segment "$10k–$50k" must not be read as mathtext (which mangles
    # it, or fails the whole figure on a name such as "$5^$"); no figure uses mathtext
    "text.parse_math": False,
}
SIZE = (13.333, 7.5)
DPI = 120
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
COST_PALETTE = ("#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854", "#ffd92f", "#e5c494")
"""Cost-type colours (in the order of :data:`sim.engine.metrics.COST_COLUMNS`), distinct
from the policy colours."""
MAX_LEVELS = 8
"""A factor with more distinct values than this is binned into :data:`BINS` quantile bins."""
BINS = 6
VERDICT_MARK = {CERTAIN: "certain", LIKELY: "likely"}
TICK_WRAP = 11
"""Characters per line of a policy name under a bar (longer names wrap, never overlap)."""
TITLE_WRAP = 28
"""Characters per line of a panel title naming a policy."""
LEGEND_WRAP = 24
"""Characters per line of a legend entry (a long name would squeeze the panels)."""


# -- helpers ------------------------------------------------------------------------------
def tick_label(name: str, width: int = TICK_WRAP) -> str:
    """:func:`label` wrapped into lines of about ``width`` characters, for crowded axes.

    Under a bar (``width`` at most :data:`TICK_WRAP`) a plan puts each chosen policy on
    a line of its own, ``plan:`` first.
    """
    if is_plan(name) and width <= TICK_WRAP:
        return "\n".join(["plan:", *(textwrap.fill(label(policy), width, break_long_words=False)
                                     for _, policy in plan_entries(name))])
    return textwrap.fill(label(name), width, break_long_words=False)


def _include_zero(ax: Axes, axis: str = "y") -> None:
    """Stretch a value axis to include 0, so small gaps are drawn as small as they are."""
    get, set_ = (ax.get_ylim, ax.set_ylim) if axis == "y" else (ax.get_xlim, ax.set_xlim)
    low, high = get()
    set_(min(low, 0.0), max(high, 0.0))


def factor_label(path: str) -> str:
    """Display name of a factor path: its last three keys, without table names.

    ``segments.smb.revenue.mean`` → "smb revenue mean";
    ``policies.high_touch.teams.named.accounts_per_csm`` → "named accounts per csm".
    """
    parts = [p for p in str(path).split(".") if p not in ("segments", "policies", "teams")]
    return " ".join(p.replace("_", " ") for p in parts[-3:])


def colours(policies: Sequence[str]) -> dict[str, str]:
    """A fixed colour per policy, in the given order."""
    return {p: PALETTE[i % len(PALETTE)] for i, p in enumerate(policies)}


MONEY = FuncFormatter(money_short)


@contextmanager
def styled_figure(path: Path, nrows: int = 1, ncols: int = 1, **kw):
    """A styled figure with axes; saved atomically to ``path`` on exit."""
    with rc_context(STYLE):
        fig = Figure(figsize=kw.pop("figsize", SIZE), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
        yield fig, axes
        save_png(fig, path)


def save_png(fig: Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` as a PNG at the house resolution, atomically."""
    return files.save_png(fig, path, DPI)


@contextmanager
def _segment_panels(path: Path, runs: pd.DataFrame):
    """A styled figure with one panel per segment, all customers first; saved on exit.

    Yields:
        ``(fig, axes, panels)``: the figure, its axes grid and ``(ax, segment)`` pairs.
    """
    segments = _segments(runs)
    with styled_figure(path, *panel_grid(len(segments))) as (fig, axes):
        yield fig, axes, list(zip(first_panels(fig, axes, len(segments)), segments, strict=True))


def panel_grid(n: int) -> tuple[int, int]:
    """Rows and columns of a panel grid for ``n`` panels."""
    if n <= 1:
        return 1, 1
    if n <= 3:
        return 1, n
    if n == 4:
        return 2, 2
    return math.ceil(n / 3), 3


def first_panels(fig: Figure, axes: np.ndarray, n: int) -> list[Axes]:
    """The first ``n`` axes; the rest are hidden."""
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return flat[:n]


def _ok(runs: pd.DataFrame) -> pd.DataFrame:
    """The successful runs."""
    return runs[~failed_mask(runs)]


def _scope(runs: pd.DataFrame) -> str:
    """Subtitle: what the error bars are and what was pooled."""
    points = runs["point"].nunique()
    reps = runs["replication"].nunique()
    ci = "95 % CI over replications" if reps > 1 else "1 replication: no CI"
    return ci if points <= 1 else f"{ci}; {points} design points pooled"


def _stat(values: pd.Series) -> tuple[float, float]:
    """Mean and CI half-width (0 when undefined, so error bars are simply absent)."""
    mean, _, _, high, _ = mean_ci(values.to_numpy(float))
    return mean, (high - mean) if math.isfinite(high) else 0.0


def _segments(runs: pd.DataFrame) -> list[str]:
    """The panels of per-segment figures: all customers, then each segment."""
    return [ALL, *segment_names(runs)]


def _title(fig: Figure, title: str, runs: pd.DataFrame, ci: bool = True) -> None:
    """Figure title with a subtitle on the error bars (``ci``) or the runs averaged."""
    if ci:
        fig.suptitle(f"{title}\n({_scope(runs)})")
        return
    ok = _ok(runs)
    per_policy = len(ok) / max(ok["policy"].nunique(), 1)
    points = runs["point"].nunique()
    pooled = f"; {points} design points pooled" if points > 1 else ""
    fig.suptitle(f"{title}\n(mean over {per_policy:g} runs per policy{pooled})")


# -- per-policy figures -------------------------------------------------------------------
def retention_curves(runs: pd.DataFrame, path: str | Path) -> Path:
    """Cohort retention after conversion per policy, one panel per segment.

    Args:
        runs: A ``runs.csv`` table.
        path: Output PNG.
    """
    ok, policies = _ok(runs), policies_of(runs)
    colour = colours(policies)
    with _segment_panels(Path(path), runs) as (fig, axes, panels):
        for ax, segment in panels:
            months = [m for m, name in RETENTION.items() if segment_metric(segment, name) in ok]
            for policy in policies:
                mine = ok[ok["policy"] == policy]
                stats = [mean_ci(mine[segment_metric(segment, RETENTION[m])]) for m in months]
                x = [0, *months]
                y = np.array([1.0, *(s[0] for s in stats)])
                low = np.array([1.0, *(s[2] for s in stats)])
                high = np.array([1.0, *(s[3] for s in stats)])
                ax.plot(x, y, marker="o", color=colour[policy], label=label(policy))
                ax.fill_between(x, np.clip(low, 0, 1), np.clip(high, 0, 1),
                                color=colour[policy], alpha=0.15, linewidth=0)
            ax.set_title(label(segment))
            ax.set_xticks([0, *months])
            ax.set_xlabel("months after conversion")
            ax.set_ylabel("customers retained (%)")
            ax.set_ylim(0.0, 1.02)  # the whole scale: a cropped axis would exaggerate gaps
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        _legend(fig, axes, policies)
        _title(fig, "Retention: share of converted customers still customers", runs)
    return Path(path)


def _legend(fig: Figure, axes: np.ndarray, policies: Sequence[str]) -> None:
    """One figure legend for the policies, from the first panel's lines."""
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, [textwrap.fill(text, LEGEND_WRAP) for text in labels],
                   loc="outside right center", title="policy")


def ltv_vs_cost(runs: pd.DataFrame, path: str | Path) -> Path:
    """LTV against cost to serve per customer, per policy, one panel per segment.

    Up and to the left is better: more lifetime value for less cost to serve. Both axes
    start at 0 (or below, for negative values), so small gaps look small.

    Args:
        runs: A ``runs.csv`` table.
        path: Output PNG.
    """
    ok, policies = _ok(runs), policies_of(runs)
    colour = colours(policies)
    cost, ltv = OUTCOMES["cost_per_customer"], OUTCOMES["ltv_mean"]
    with _segment_panels(Path(path), runs) as (fig, axes, panels):
        for ax, segment in panels:
            for policy in policies:
                mine = ok[ok["policy"] == policy]
                x, x_half = _stat(mine[segment_metric(segment, cost.name)])
                y, y_half = _stat(mine[segment_metric(segment, ltv.name)])
                ax.errorbar(x, y, xerr=x_half, yerr=y_half, fmt="o", color=colour[policy],
                            capsize=5, markersize=11, label=label(policy))
            ax.set_title(label(segment))
            ax.set_xlabel("cost to serve (currency)")  # the title says per customer
            ax.set_ylabel("LTV (currency)")
            ax.xaxis.set_major_formatter(MONEY)
            ax.yaxis.set_major_formatter(MONEY)
            ax.margins(0.15)
            _include_zero(ax, "x")  # from zero: a cropped axis would exaggerate gaps
            _include_zero(ax, "y")
        _legend(fig, axes, policies)
        _title(fig, "LTV vs cost to serve per customer within the horizon (up and left is "
               "better)", runs)
    return Path(path)


def profit_bars(runs: pd.DataFrame, path: str | Path) -> Path:
    """Mean profit per customer per policy with CIs, one panel per segment.

    Args:
        runs: A ``runs.csv`` table.
        path: Output PNG.
    """
    ok, policies = _ok(runs), policies_of(runs)
    colour = colours(policies)
    x = np.arange(len(policies))
    metric = verdict_metric(runs)
    with _segment_panels(Path(path), runs) as (fig, _, panels):
        for ax, segment in panels:
            stats = [_stat(ok.loc[ok["policy"] == p, segment_metric(segment, metric)])
                     for p in policies]
            means = [s[0] for s in stats]
            bars = ax.bar(x, means, yerr=[s[1] for s in stats], capsize=6,
                          color=[colour[p] for p in policies])
            for text in ax.bar_label(bars, labels=[money_short(m) for m in means],
                                     label_type="center", fontsize=13, fontweight="bold"):
                text.set_bbox({"boxstyle": "round", "facecolor": "white", "alpha": 0.85})
            ax.axhline(0, color="black", linewidth=1)
            ax.set_xticks(x, [tick_label(p) for p in policies])
            ax.set_title(label(segment))
            ax.set_ylabel("per customer (currency)")  # the title names the outcome
            ax.yaxis.set_major_formatter(MONEY)
        lifetime = " over the customer's lifetime" if metric != "profit_per_customer" else ""
        _title(fig, f"Profit per customer{lifetime} (LTV − cost to serve − acquisition)", runs)
    return Path(path)


def differences(runs: pd.DataFrame, baseline: str, path: str | Path) -> Path:
    """Each policy's paired difference from the baseline, one panel per segment.

    The difference of (lifetime) profit per customer is taken within each replication
    (the policies share its random numbers) and shown with its 95 % t interval: what
    the comparison actually rests on, rather than two overlapping unpaired bars.

    Args:
        runs: A ``runs.csv`` table.
        baseline: The policy the others are compared with.
        path: Output PNG.
    """
    metric = verdict_metric(runs)
    others = [p for p in policies_of(runs) if p != baseline]
    colour = colours(policies_of(runs))
    segments = _segments(runs)
    columns = [segment_metric(s, metric) for s in segments]
    diff = paired_differences(runs, baseline, columns, by_point=False, factors=[])
    y = np.arange(len(others))
    with _segment_panels(Path(path), runs) as (fig, _, panels):
        for ax, segment in panels:
            rows = diff[diff["metric"] == segment_metric(segment, metric)].set_index("policy")
            mean = rows.loc[others, "diff_mean"].to_numpy(float)
            low = rows.loc[others, "diff_ci_low"].to_numpy(float)
            high = rows.loc[others, "diff_ci_high"].to_numpy(float)
            error = np.vstack([np.nan_to_num(mean - low), np.nan_to_num(high - mean)])
            ax.barh(y, mean, xerr=error, capsize=6, color=[colour[p] for p in others])
            ax.axvline(0, color="black", linewidth=1)
            ax.set_yticks(y, [tick_label(p, 2 * TICK_WRAP) for p in others])
            ax.set_title(label(segment))
            ax.set_xlabel("difference per customer (currency)")  # the title names the baseline
            ax.xaxis.set_major_formatter(MONEY)
        what = "lifetime profit" if metric != "profit_per_customer" else "profit"
        fig.suptitle(f"Paired difference in {what} per customer from {label(baseline)}\n"
                     "(each replication's policies share their random numbers; 95 % CI of "
                     "the differences)")
    return Path(path)


def stage_columns(series: pd.DataFrame) -> list[str]:
    """The lifecycle-stage count columns of a series: those between ``step`` and ``month``."""
    cols = list(series.columns)
    return cols[cols.index("step") + 1 : cols.index("month")]


def _with_policy(series: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The series with each run's policy (failed or unknown runs dropped)."""
    return series.merge(runs[["run_id", "policy"]], on="run_id", how="inner")


def stage_funnel(series: pd.DataFrame, runs: pd.DataFrame, path: str | Path) -> Path:
    """Customers in each lifecycle stage over time, mean over runs, one panel per policy.

    Args:
        series: Long per-step series with a ``run_id`` column (``read_series``).
        runs: A ``runs.csv`` table (for each run's policy).
        path: Output PNG.
    """
    path = Path(path)
    policies = policies_of(runs)
    stages = stage_columns(series)
    data = _with_policy(series, _ok(runs))
    mean = data.groupby(["policy", "month"], sort=True)[stages].mean()
    shades = [_stage_colour(i, len(stages), s) for i, s in enumerate(stages)]
    with styled_figure(path, *panel_grid(len(policies)), sharex=True, sharey=True) as (fig, axes):
        for ax, policy in zip(first_panels(fig, axes, len(policies)), policies, strict=True):
            if policy in mean.index.get_level_values(0):
                frame = mean.loc[policy]
                ax.stackplot(frame.index.to_numpy(), frame.to_numpy().T,
                             labels=[label(s) for s in stages], colors=shades, linewidth=0)
            ax.set_title(textwrap.fill(label(policy), TITLE_WRAP))
            ax.set_xlabel("month")
            ax.set_ylabel("customers")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.margins(x=0)
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles[::-1], labels[::-1], loc="outside right center", title="stage")
        _title(fig, "Lifecycle funnel: customers in each stage", runs, ci=False)
    return path


def growth_funnel(runs: pd.DataFrame, path: str | Path) -> Path:
    """The growth team's funnel: agents that reached each stage, one panel per policy.

    Horizontal bars, the first stage on top, of the mean over runs of the agents that
    got at least as far as each stage (``reached_<stage>``), each labelled with its count
    and the conversion from the bar above (its share of the stage before).

    Args:
        runs: A ``runs.csv`` table with ``reached_<stage>`` columns.
        path: Output PNG.
    """
    path = Path(path)
    policies = policies_of(runs)
    stages = funnel_stages(runs.columns)
    mean = _ok(runs).groupby("policy")[[REACHED + s for s in stages]].mean()
    shades = [_stage_colour(i, len(stages) + 1, s) for i, s in enumerate(stages)]
    y = np.arange(len(stages))[::-1]
    with styled_figure(path, *panel_grid(len(policies)), sharex=True) as (fig, axes):
        for ax, policy in zip(first_panels(fig, axes, len(policies)), policies, strict=True):
            ax.set_title(textwrap.fill(label(policy), TITLE_WRAP))
            ax.set_yticks(y, [tick_label(s) for s in stages])
            ax.grid(axis="y", visible=False)
            if policy not in mean.index:
                continue
            counts = mean.loc[policy].to_numpy(float)
            ax.barh(y, counts, color=shades)
            top = float(np.nanmax(counts)) if np.isfinite(counts).any() else 1.0
            for i, (yy, count) in enumerate(zip(y, counts, strict=True)):
                text = f"{count:,.0f}"
                if i > 0 and counts[i - 1] > 0:
                    text += f"  ({count / counts[i - 1]:.0%} of {label(stages[i - 1])})"
                ax.text(count + 0.01 * top, yy, text, va="center", fontsize=12)
            ax.set_xlim(0, 1.6 * top)
        fig.supxlabel("agents that got at least this far (mean over runs)")
        _title(fig, "Growth funnel: how far the agents got", runs, ci=False)
    return path


def _stage_colour(i: int, n: int, stage: str) -> tuple[float, ...] | str:
    """Stages from light (prospects) to dark (advocates); churned in grey."""
    if stage == "churned":
        return "#9e9e9e"
    return colormaps["viridis_r"](0.08 + 0.9 * i / max(n - 2, 1))


def cost_breakdown(series: pd.DataFrame, runs: pd.DataFrame, path: str | Path) -> Path:
    """Total cost over the horizon by type, beside gross margin and profit, per policy.

    Each policy gets a stacked bar of its costs by type and, beside it, a bar of its
    gross margin (revenue × margin) with the profit (margin − cost) marked on it, so
    what the money buys is read next to what it costs (undiscounted totals over the
    horizon, mean over runs).

    Args:
        series: Long per-step series with a ``run_id`` column.
        runs: A ``runs.csv`` table.
        path: Output PNG.
    """
    path = Path(path)
    policies = policies_of(runs)
    columns = [c for c in COST_COLUMNS if c in series]
    extra = [c for c in ("margin", "profit") if c in series]
    data = _with_policy(series, _ok(runs))
    per_run = data.groupby(["policy", "run_id"])[[*columns, *extra]].sum()
    mean = per_run.groupby(level="policy").mean().reindex(policies).fillna(0.0)
    x = np.arange(len(policies))
    width = 0.38 if extra else 0.6
    with styled_figure(path) as (fig, axes):
        ax = axes[0, 0]
        bottom = np.zeros(len(policies))
        for i, column in enumerate(columns):
            values = mean[column].to_numpy()
            ax.bar(x - width / 2 if extra else x, values, bottom=bottom, width=width,
                   color=COST_PALETTE[i % len(COST_PALETTE)], label=column.removeprefix("cost_"))
            bottom += values
        for xi, total in zip(x, bottom, strict=True):
            ax.annotate(money_short(total), (xi - width / 2 if extra else xi, total),
                        ha="center", va="bottom", xytext=(0, 4), textcoords="offset points",
                        fontweight="bold")
        if extra == ["margin", "profit"]:
            margin, profit = mean["margin"].to_numpy(), mean["profit"].to_numpy()
            ax.bar(x + width / 2, margin, width=width, color="0.85", edgecolor="0.4",
                   label="gross margin")
            ax.scatter(x + width / 2, profit, marker="D", s=70, color="black", zorder=3,
                       label="profit (margin − cost)")
            for xi, value in zip(x, profit, strict=True):
                ax.annotate(money_short(value), (xi + width / 2, value), ha="center",
                            va="bottom", xytext=(0, 6), textcoords="offset points")
        ax.axhline(0, color="black", linewidth=1)
        ax.set_xticks(x, [tick_label(p) for p in policies])
        ax.set_ylabel("total over the horizon (currency)")
        ax.yaxis.set_major_formatter(MONEY)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        _title(fig, "Where the money goes: cost by type, beside gross margin and profit",
               runs, ci=False)
    return path


# -- sweep figures ------------------------------------------------------------------------
def _levels(values: pd.Series) -> pd.Series:
    """A factor's plotting level per run: the value, or its quantile bin's median."""
    if values.nunique() <= MAX_LEVELS:
        return values.astype(float)
    bins = pd.qcut(values.astype(float), BINS, duplicates="drop")
    return values.astype(float).groupby(bins, observed=True).transform("median")


def _curve(frame: pd.DataFrame, by: str, column: str) -> tuple[np.ndarray, ...]:
    """Levels of ``by`` and the mean and CI bounds of ``column`` at each."""
    stats = [(level, *mean_ci(values.to_numpy(float)))
             for level, values in frame.groupby(by)[column]]
    stats = [s for s in stats if s[5] > 0]  # s[5]: the sample size n
    if not stats:
        return (np.empty(0),) * 4
    level, mean, _, low, high, _ = (np.array(c, dtype=float) for c in zip(*stats, strict=True))
    return level, mean, low, high


def factor_effect(runs: pd.DataFrame, factor: str, path: str | Path) -> Path:
    """Mean profit per customer against one factor, per policy (other factors pooled).

    Bands are 95 % CIs over the runs at each level; the value axis includes 0. A factor
    with more than
    :data:`MAX_LEVELS` distinct values (a Latin hypercube) is binned into quantile bins
    plotted at their median.

    Args:
        runs: A ``runs.csv`` table with the ``factor`` column.
        factor: The factor path.
        path: Output PNG.
    """
    ok, policies = _ok(runs).copy(), policies_of(runs)
    ok["_level"] = _levels(ok[factor])
    colour = colours(policies)
    levels = np.sort(ok[factor].unique()) if ok[factor].nunique() <= MAX_LEVELS else None
    with _segment_panels(Path(path), runs) as (fig, axes, panels):
        for ax, segment in panels:
            for policy in policies:
                mine = ok[ok["policy"] == policy]
                at, mean, low, high = _curve(mine, "_level",
                                             segment_metric(segment, verdict_metric(runs)))
                if at.size == 0:
                    continue
                ax.plot(at, mean, marker="o", color=colour[policy], label=label(policy))
                ax.fill_between(at, low, high, color=colour[policy], alpha=0.15, linewidth=0)
            ax.set_title(label(segment))
            if levels is not None:
                ax.set_xticks(levels, [f"{v:g}" for v in levels])
            ax.set_xlabel(factor_label(factor))
            ax.set_ylabel("per customer (currency)")  # the title names the outcome
            ax.yaxis.set_major_formatter(MONEY)
            _include_zero(ax)  # from zero: a cropped axis would exaggerate gaps
        _legend(fig, axes, policies)
        binned = "" if levels is not None else f", {BINS} quantile bins"
        lifetime = " (lifetime)" if verdict_metric(runs) != "profit_per_customer" else ""
        fig.suptitle(f"Profit per customer{lifetime} along {factor_label(factor)}\n"
                     f"({factor}; 95 % CI over runs, other factors pooled{binned})")
    return Path(path)


def winner_map(runs: pd.DataFrame, factors: tuple[str, str], path: str | Path,
               point_winners: pd.DataFrame | None = None) -> Path:
    """Which policy wins (highest mean profit per customer) over two factors.

    With at most :data:`MAX_LEVELS` values per factor (a grid) each cell is coloured by
    its winner (other factors pooled) and labelled with the verdict; otherwise each
    design point is a dot coloured by its winner, large when the verdict is ``certain``
    or ``likely``.

    Args:
        runs: A ``runs.csv`` table.
        factors: The two factor paths (x, y).
        path: Output PNG.
        point_winners: The winners at each design point
            (:func:`~sim.analysis.statistics.winners` with ``by_point=True``, the metric
            :func:`~sim.analysis.statistics.verdict_metric`, both factors among its
            columns), when the caller has them already: a report draws several maps of
            one sweep and states the same winners in its text, so they are computed
            once. Used only for dots (a grid pools other factors per cell).
    """
    policies = policies_of(runs)
    grid = all(runs[f].nunique() <= MAX_LEVELS for f in factors)
    # the winners of every cell (or point) and segment, computed once for all panels
    if grid:
        table = winners(runs, by=list(factors), metric=verdict_metric(runs))
    elif point_winners is None:
        table = winners(runs, by=["point", *factors], metric=verdict_metric(runs))
    else:
        table = point_winners
    with _segment_panels(Path(path), runs) as (fig, _, panels):
        for ax, segment in panels:
            mine = table[table["segment"] == segment] if not table.empty else table
            if grid:
                _winner_cells(ax, runs, factors, mine, policies)
            else:
                _winner_dots(ax, factors, mine, policies)
            ax.set_title(label(segment))
            ax.set_xlabel(factor_label(factors[0]))
            ax.set_ylabel(factor_label(factors[1]))
        colour = colours(policies)
        fig.legend([Patch(color=colour[p]) for p in policies],
                   [tick_label(p, LEGEND_WRAP) for p in policies],
                   loc="outside right center", title="winner")
        how = ("each cell: the winner and how sure; other factors pooled" if grid else
               "each dot a design point; large: certain or likely, small: too close to call")
        what = "lifetime profit" if verdict_metric(runs) != "profit_per_customer" else "profit"
        fig.suptitle(f"Winner by {what} per customer: {factor_label(factors[0])} × "
                     f"{factor_label(factors[1])}\n({how})")
    return Path(path)


def _cells(table: pd.DataFrame, factors: tuple[str, str]) -> list[tuple[Any, ...]]:
    """``(x, y, winner, verdict)`` of each row of a winners table (none when it is empty)."""
    if table.empty:
        return []
    return list(table[[*factors, "winner", "verdict"]].itertuples(index=False, name=None))


def _winner_cells(ax: Axes, runs: pd.DataFrame, factors: tuple[str, str],
                  table: pd.DataFrame, policies: Sequence[str]) -> None:
    """Colour each grid cell by its winner and write the winner and verdict in it.

    ``table``: one segment's rows of the winners by the two factors.
    """
    x_factor, y_factor = factors
    xs, ys = sorted(runs[x_factor].unique()), sorted(runs[y_factor].unique())
    index = np.full((len(ys), len(xs)), np.nan)
    colour = colours(policies)
    ax.grid(False)
    # the text must fit its cell: wrapped, a plan named "plan" (the legend spells it
    # out), and smaller in a finer grid
    finest = max(len(xs), len(ys))
    size = 12 if finest <= 4 else 10 if finest <= 6 else 8
    for x_value, y_value, winner, verdict in _cells(table, factors):
        row, column = ys.index(y_value), xs.index(x_value)
        index[row, column] = policies.index(winner)
        name = "plan" if is_plan(winner) else tick_label(winner)
        ax.text(column, row, f"{name}\n{textwrap.fill(verdict, TICK_WRAP)}",
                ha="center", va="center", fontsize=size, linespacing=1.1,
                bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.8})
    ax.imshow(index, cmap=ListedColormap([colour[p] for p in policies]), vmin=-0.5,
              vmax=len(policies) - 0.5, origin="lower", aspect="auto")
    ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
    ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])


def _winner_dots(ax: Axes, factors: tuple[str, str], table: pd.DataFrame,
                 policies: Sequence[str]) -> None:
    """One dot per design point, coloured by its winner, large when the verdict is firm.

    ``table``: one segment's rows of the winners by design point. The dots are one
    collection, drawn in the table's order (hundreds of points stay quick to draw).
    """
    cells = _cells(table, factors)
    if not cells:
        return
    colour = colours(policies)
    x, y, won, verdicts = zip(*cells, strict=True)
    ax.scatter(x, y, s=[260 if v in VERDICT_MARK else 90 for v in verdicts],
               c=[colour[w] for w in won], edgecolor="black", linewidth=0.8)
