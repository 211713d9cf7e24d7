"""The figure of ``engagesim tactics``: what each program of a policy adds, ranked.

Horizontal bars of each program's incremental lifetime profit for the company (the policy
against the policy without the program, paired), best at the top, with 95 % confidence
intervals, on an axis that includes zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sim.analysis.plots import MONEY, PALETTE, label, styled_figure
from sim.formatting import money_short

GAIN, LOSS, UNSURE = PALETTE[2], PALETTE[3], "#9e9e9e"
"""Bar colours: the CI lies above 0, below 0, or includes it."""


def incremental_profit_bars(programs: Sequence[str], means: Sequence[float],
                            lows: Sequence[float], highs: Sequence[float], *,
                            title: str, path: str | Path) -> Path:
    """Ranked bars of each program's incremental lifetime profit with its CI.

    Args:
        programs: Program names, best first (drawn at the top).
        means: Mean paired differences (policy − policy without the program).
        lows: Lower ends of their confidence intervals (``nan``: none).
        highs: Upper ends.
        title: The figure's title.
        path: Output PNG.

    Returns:
        ``path``.
    """
    means, lows, highs = (np.asarray(v, dtype=float) for v in (means, lows, highs))
    y = np.arange(len(programs))[::-1]  # the first program at the top
    colour = [GAIN if lo > 0 else LOSS if hi < 0 else UNSURE
              for lo, hi in zip(np.nan_to_num(lows, nan=-np.inf),
                                np.nan_to_num(highs, nan=np.inf), strict=True)]
    error = np.vstack([means - lows, highs - means])
    error = np.where(np.isfinite(error), error, 0.0)
    height = max(4.0, 1.1 * len(programs) + 2.0)
    with styled_figure(Path(path), figsize=(13.333, height)) as (fig, axes):
        ax = axes[0, 0]
        bars = ax.barh(y, means, xerr=error, capsize=6, color=colour)
        for text in ax.bar_label(bars, labels=[money_short(m) for m in means],
                                 label_type="center", fontsize=13, fontweight="bold"):
            text.set_bbox({"boxstyle": "round", "facecolor": "white", "alpha": 0.85})
        ax.axvline(0, color="black", linewidth=1)
        ax.set_yticks(y, [label(p) for p in programs])
        ax.set_xlabel("lifetime profit the program adds for the company (currency)")
        ax.xaxis.set_major_formatter(MONEY)
        ax.margins(x=0.1)
        low, high = ax.get_xlim()  # from zero: a cropped axis would exaggerate gaps
        ax.set_xlim(min(low, 0.0), max(high, 0.0))
        fig.suptitle(f"{title}\n(mean and 95 % CI over paired replications; CI green: above 0, "
                     "red: below 0, grey: includes 0)", fontsize=16)
    return Path(path)
