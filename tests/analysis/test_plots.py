"""The report's figures stay legible: value axes from zero, no overlapping or clipped text.

Drawn from a synthetic ``runs.csv`` with five policies (one a plan with a long name),
three segments and two factors; each figure is captured as it is saved and its text
boxes are measured on the Agg renderer.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from sim.analysis import plots
from sim.analysis.statistics import verdict_metric, winners

SEGMENTS = ("enterprise", "mid_market", "smb")
PLAN = "plan:enterprise=high_touch,mid_market=a_long_policy_name,smb=no_touch"
POLICIES = ("no_touch", "low_touch", "high_touch", "a_long_policy_name", PLAN)
FACTORS = ("policies.high_touch.teams.named.accounts_per_csm", "segments.smb.share")


def synthetic_runs(replications=3, levels=(10.0, 25.0, 50.0, 100.0), shares=(0.3, 0.5, 0.7)):
    """Runs whose values are large and close together (the case a cropped axis distorts)."""
    rng = np.random.default_rng(11)
    rows = []
    for point, (x, y) in enumerate(itertools.product(levels, shares)):
        for r in range(replications):
            for k, policy in enumerate(POLICIES):
                row = {"run_id": len(rows), "point": point, "policy": policy,
                       "replication": r, "seed": r, FACTORS[0]: x, FACTORS[1]: y, "error": ""}
                for segment in (None, *SEGMENTS):
                    prefix = "" if segment is None else f"segments_{segment}_"
                    base = 10_000 + 100 * k + 30 * x / 10 + rng.normal(0, 50)
                    row[f"{prefix}profit_per_customer"] = base
                    row[f"{prefix}profit_lifetime_per_customer"] = base * 1.5
                    row[f"{prefix}ltv_mean"] = base + 2_000
                    row[f"{prefix}cost_per_customer"] = 2_000 + 10 * k
                    for month in (3, 6, 12):
                        row[f"{prefix}retention_{month}"] = 0.9 - 0.01 * month - 0.002 * k
                rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture
def captured(monkeypatch):
    """The figures saved while the test runs."""
    figures = []
    original = plots.save_png

    def keep(fig, path):
        figures.append(fig)
        return original(fig, path)

    monkeypatch.setattr(plots, "save_png", keep)
    return figures


def _boxes(fig, texts):
    renderer = fig.canvas.get_renderer()
    return [t.get_window_extent(renderer) for t in texts if t.get_visible() and t.get_text()]


def assert_no_overlap(fig, texts, what):
    boxes = _boxes(fig, texts)
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), (what, a, b)


def assert_inside(fig, texts, what):
    page = fig.bbox
    for box in _boxes(fig, texts):
        assert box.x0 >= page.x0 - 1 and box.x1 <= page.x1 + 1, (what, box)
        assert box.y0 >= page.y0 - 1 and box.y1 <= page.y1 + 1, (what, box)


def _ticks(ax, axis):
    """The tick labels matplotlib draws: those of ticks within the view limits."""
    low, high = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    locs = ax.get_xticks() if axis == "x" else ax.get_yticks()
    span = (high - low) * 1e-9
    return [t for t, at in zip(labels, locs, strict=True) if low - span <= at <= high + span]


def assert_legend_clear(fig, what):
    """The figure legend covers no axis label, tick label or panel title."""
    renderer = fig.canvas.get_renderer()
    for legend in fig.legends:
        box = legend.get_window_extent(renderer)
        for other in _boxes(fig, _all_text(fig)[1:]):
            assert not box.overlaps(other), (what, box, other)


def _visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def _all_text(fig):
    texts = [fig._suptitle] if fig._suptitle is not None else []
    for ax in _visible_axes(fig):
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label,
                  *_ticks(ax, "x"), *_ticks(ax, "y")]
    return texts


def test_profit_bars_start_at_zero_and_long_names_do_not_overlap(tmp_path, captured):
    runs = synthetic_runs()
    plots.profit_bars(runs, tmp_path / "p.png")
    fig = captured[-1]
    for ax in _visible_axes(fig):
        low, high = ax.get_ylim()
        assert low <= 0 < high  # bars from zero: the gaps are drawn as small as they are
        assert_no_overlap(fig, _ticks(ax, "x"), "profit bar names")
    assert_inside(fig, _all_text(fig), "profit bars")


def test_ltv_vs_cost_axes_include_zero(tmp_path, captured):
    plots.ltv_vs_cost(synthetic_runs(), tmp_path / "l.png")
    fig = captured[-1]
    for ax in _visible_axes(fig):
        assert ax.get_xlim()[0] <= 0 and ax.get_ylim()[0] <= 0
    assert_inside(fig, _all_text(fig), "ltv vs cost")
    assert_legend_clear(fig, "ltv vs cost")


def test_differences_names_and_labels_fit(tmp_path, captured):
    plots.differences(synthetic_runs(), "no_touch", tmp_path / "d.png")
    fig = captured[-1]
    for ax in _visible_axes(fig):
        assert_no_overlap(fig, _ticks(ax, "y"), "difference names")
    assert_inside(fig, _all_text(fig), "differences")
    axes = _visible_axes(fig)
    labels = [ax.xaxis.label for ax in axes] + [t for ax in axes for t in _ticks(ax, "y")]
    assert_no_overlap(fig, [ax.xaxis.label for ax in axes], "x labels")
    assert labels


def test_factor_effect_value_axis_includes_zero(tmp_path, captured):
    plots.factor_effect(synthetic_runs(), FACTORS[0], tmp_path / "f.png")
    fig = captured[-1]
    for ax in _visible_axes(fig):
        low, high = ax.get_ylim()
        assert low <= 0 < high
    assert_inside(fig, _all_text(fig), "factor effect")
    assert_legend_clear(fig, "factor effect")


def test_winner_map_cells_do_not_overlap(tmp_path, captured):
    runs = synthetic_runs()
    plots.winner_map(runs, FACTORS, tmp_path / "w.png")
    fig = captured[-1]
    for ax in _visible_axes(fig):
        cells = [t for t in ax.texts if t.get_text()]
        assert len(cells) == 12
        assert_no_overlap(fig, cells, "winner cells")
        assert_no_overlap(fig, _ticks(ax, "x"), "winner map x ticks")
    assert_inside(fig, _all_text(fig), "winner map")
    assert_legend_clear(fig, "winner map")
    assert "((" not in fig._suptitle.get_text()


def test_tick_label_wraps_plans_and_long_names():
    assert plots.tick_label(PLAN) == "plan:\nhigh touch\na long\npolicy name\nno touch"
    assert plots.tick_label("a_long_policy_name") == "a long\npolicy name"
    assert plots.tick_label(PLAN, 40) == "plan: high touch / a long policy name /\nno touch"
    assert plots.label(PLAN) == "plan: high touch / a long policy name / no touch"


def _dots(fig):
    """Each visible panel's dots: positions, sizes and colours."""
    out = []
    for ax in _visible_axes(fig):
        for collection in ax.collections:
            out.append((collection.get_offsets().tolist(), collection.get_sizes().tolist(),
                        collection.get_facecolors().round(6).tolist()))
    return out


def test_winner_map_of_a_sweep_reuses_the_winners_it_is_given(tmp_path, captured):
    # 12 levels per factor: one dot per design point, not a grid
    runs = synthetic_runs(replications=2, levels=tuple(range(10, 130, 10)),
                          shares=tuple(np.linspace(0.2, 0.8, 12).round(3)))
    runs = runs[runs["point"] % 12 == runs["point"] // 12]  # 12 points on a diagonal
    metric = verdict_metric(runs)
    table = winners(runs, by=["point", *FACTORS], metric=metric)
    plots.winner_map(runs, FACTORS, tmp_path / "own.png")
    plots.winner_map(runs, FACTORS, tmp_path / "given.png", table)
    own, given = _dots(captured[-2]), _dots(captured[-1])
    assert own == given
    assert sum(len(offsets) for offsets, _, _ in own) == 12 * (1 + len(SEGMENTS))
    # what it is given is what it draws: another winner, another colour
    other = table.assign(winner=POLICIES[0], verdict="too close to call")
    plots.winner_map(runs, FACTORS, tmp_path / "other.png", other)
    changed = _dots(captured[-1])
    assert changed != own
    assert all(size == 90 for _, sizes, _ in changed for size in sizes)
