"""Figures of a decision under uncertainty: decision map, acceptability, value of information.

Each function draws one PNG from numbers :mod:`sim.analysis.decision` computed; none of
them computes a statistic of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.analysis.plots import MONEY, colours, first_panels, label, panel_grid, styled_figure


def decision_maps(panels: Sequence[Mapping], policies: Sequence[str], path: str | Path) -> Path:
    """Which policy wins where over two assumptions, one panel per scope.

    Args:
        panels: One mapping per scope with ``title``, ``xlabel``, ``ylabel``, ``grid_x``,
            ``grid_y``, ``winner`` (policy indices, rows along ``grid_y``), ``points``
            (``(n, 2)`` samples), ``point_winner`` (policy index per sample), and
            ``x_ticks`` / ``y_ticks``: ``(values, labels)`` in the user's units or None.
        policies: Every policy, in colour order.
        path: Output PNG.
    """
    palette = colours(policies)
    cmap = ListedColormap([palette[p] for p in policies])
    rows, cols = panel_grid(len(panels))
    with styled_figure(Path(path), rows, cols, figsize=(5.2 * cols, 4.4 * rows)) as (fig, axes):
        for ax, panel in zip(first_panels(fig, axes, len(panels)), panels, strict=True):
            gx, gy = panel["grid_x"], panel["grid_y"]
            ax.pcolormesh(gx, gy, panel["winner"], cmap=cmap, vmin=-0.5,
                          vmax=len(policies) - 0.5, alpha=0.35, shading="nearest")
            ax.contour(gx, gy, panel["winner"], levels=np.arange(len(policies)) + 0.5,
                       colors="0.25", linewidths=1.2)
            pts = np.asarray(panel["points"])
            ax.scatter(pts[:, 0], pts[:, 1], s=12, c=[palette[policies[i]]
                                                      for i in panel["point_winner"]],
                       edgecolors="white", linewidths=0.4)
            ax.set_title(panel["title"])
            ax.set_xlabel(panel["xlabel"])
            ax.set_ylabel(panel["ylabel"])
            for axis, ticks in ((ax.xaxis, panel.get("x_ticks")), (ax.yaxis, panel.get("y_ticks"))):
                if ticks:
                    axis.set_ticks(ticks[0], ticks[1])
        handles = [Patch(color=palette[p], alpha=0.6, label=label(p)) for p in policies]
        handles.append(Line2D([], [], color="0.25", label="break-even"))
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
        fig.suptitle("Which policy wins where\n(shading: the best expected profit given these "
                     "two assumptions; dots: the best policy at each sample)")
    return Path(path)


def acceptability_curves(levels: np.ndarray, probabilities: np.ndarray,
                         policies: Sequence[str], xlabel: str, path: str | Path) -> Path:
    """Probability each policy is best against a value the strategist sets.

    Args:
        levels: The lever's values (currency).
        probabilities: ``(levels, policies)`` probability of being best.
        policies: The policies, in column order.
        xlabel: What the lever is.
        path: Output PNG.
    """
    palette = colours(policies)
    with styled_figure(Path(path)) as (fig, axes):
        ax = axes[0, 0]
        for k, policy in enumerate(policies):
            ax.plot(levels, probabilities[:, k], color=palette[policy], lw=2, label=label(policy))
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("probability of being the best policy")
        ax.xaxis.set_major_formatter(MONEY)
        ax.legend(loc="best")
        fig.suptitle("Acceptability: how sure the choice is as retention is valued more")
    return Path(path)


def value_of_information(labels: Sequence[str], evppi: Mapping[str, Sequence[float]],
                         evpi: Mapping[str, float], path: str | Path) -> Path:
    """Expected value of perfect information per assumption, every scope on one axis.

    The first scope (the company) gets bars, the others (the segments) markers.

    Args:
        labels: The assumptions' labels, in row order.
        evppi: Scope → EVPPI of each assumption (currency); the first scope gets bars.
        evpi: Scope → EVPI of all assumptions together.
        path: Output PNG.
    """
    scopes = list(evppi)
    main, others = scopes[0], scopes[1:]
    values = np.asarray(evppi[main], dtype=float)
    order = np.argsort(values)
    y = np.arange(len(values))
    height = max(4.0, 0.42 * len(labels) + 2.0)
    with styled_figure(Path(path), figsize=(12.0, height)) as (fig, axes):
        ax = axes[0, 0]
        ax.barh(y, values[order], color="#9db4d6", label=f"{label(main)} (bars)")
        markers = "o^sDvP*X"
        for i, scope in enumerate(others):
            ax.scatter(np.asarray(evppi[scope], dtype=float)[order], y, zorder=3, s=30,
                       marker=markers[i % len(markers)], label=label(scope))
        ax.axvline(evpi[main], color="0.3", ls="--", lw=1,
                   label=f"{label(main)}: all assumptions together")
        ax.set_yticks(y, [labels[i] for i in order])
        ax.xaxis.set_major_formatter(MONEY)
        ax.set_xlabel("value of knowing the assumption exactly before choosing (currency)")
        ax.set_xlim(left=0)
        ax.legend(loc="lower right")
        fig.suptitle("What to learn first: expected value of perfect information")
    return Path(path)
