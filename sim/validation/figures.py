"""Every figure of the validation report, drawn from the runs its checks compared.

**Concept.** One figure per check group, each a picture of the comparison its checks
make, written as a PNG with the house style of :mod:`sim.analysis.plots`:

* :func:`analytic_figure` — simulated against the exact Markov chain: retention,
  occupancy, LTV and every comparison as a z-score (``analytic.png``);
* :func:`bass_figure` — simulated adoption on the Bass closed form and across networks
  (``bass.png``; the runs come from :func:`sim.validation.diffusion.figure_runs`);
* :func:`bass_z_figure` — the diffusion's z-scores against the discrete recursion,
  step by step (``bass_recursion.png``);
* :func:`calibration_figure` — synthetic cohorts, their sBG fit and forecast, and the
  simulated segment (``calibration.png``).

Figures draw; they never run the model. Typical use::

    from sim.validation.diffusion import figure_runs
    from sim.validation.figures import bass_figure

    bass_figure(figure_runs(customers=10_000, months=36), "results/bass.png")
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from sim.analysis.plots import MONEY, PALETTE, STYLE, save_png
from sim.engine.metrics import retention_curve
from sim.engine.scenario import STEP_UNITS
from sim.theory.bass import bass_closed_form, bass_discrete, bass_variance
from sim.theory.sbg import survival
from sim.validation.calibration import FIT_PERIODS, HORIZON, Cohort
from sim.validation.checks import K, step_label
from sim.validation.diffusion import FigureRuns
from sim.validation.markov import ChainRun


def _new_figure(nrows: int, ncols: int, size: tuple[float, float]):
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _band(ax, label: str = f"±{K:g} SE") -> None:
    ax.axhspan(-K, K, color="0.85", alpha=0.6, linewidth=0, label=label)
    ax.axhline(0.0, color="0.4", linewidth=1)


def analytic_figure(runs: Sequence[ChainRun], path: Path) -> Path:
    """Simulated against analytic: retention, occupancy, LTV and every z-score.

    Args:
        runs: The chain runs (the monthly ``markov_saas`` ones are drawn in (a)-(c)).
        path: Where to write the PNG.

    Returns:
        The path written.
    """
    markov = [r for r in runs if r.name.startswith("markov_saas") and "monthly" in r.name]
    with rc_context(STYLE):
        fig, axes = _new_figure(2, 2, (17, 12.5))
        (ax_a, ax_b), (ax_c, ax_d) = axes
        for i, run in enumerate(markov):
            colour = PALETTE[i % len(PALETTE)]
            months = run.result.months
            share, _ = retention_curve(run.model.converted_step, run.model.churn_step,
                                       run.model.steps)
            ax_a.plot(months, run.result.overall.retention_curve, color=colour,
                      label=run.policy.replace("_", " "))
            every = max(1, round(3 * run.model.steps_per_month))
            ax_a.plot(months[::every], share[::every], "o", color=colour,
                      markerfacecolor="none", markeredgewidth=1.8)
        ax_a.legend(handles=[*ax_a.get_legend_handles_labels()[0], *_sim_vs_theory("analytic")],
                    loc="lower left")
        ax_a.set(title="(a) Retention after conversion (Kaplan–Meier), markov_saas",
                 xlabel="months after conversion", ylabel="customers retained", ylim=(0, 1.02))
        ax_a.yaxis.set_major_formatter(PercentFormatter(1.0))

        hybrid = next((r for r in markov if r.policy == "hybrid"), markov[-1])
        stages = hybrid.result.stages
        series = hybrid.model.timeseries()
        months = hybrid.result.months
        every = max(1, round(3 * hybrid.model.steps_per_month))
        for s, stage in enumerate(stages):
            colour = PALETTE[s % len(PALETTE)]
            ax_b.plot(months, hybrid.result.overall.occupancy[:, s], color=colour, label=stage)
            sim = series[stage].to_numpy(float)
            ax_b.plot(months[1:][every - 1::every], sim[every - 1::every], "o", color=colour,
                      markerfacecolor="none", markeredgewidth=1.5, markersize=6)
        ax_b.legend(loc="upper right", ncols=2, fontsize=11,
                    title="lines: expected, circles: simulated", title_fontsize=11)
        ax_b.set(title=f"(b) Customers per stage over time ({hybrid.policy})",
                 xlabel="month", ylabel="customers", ylim=(0, None))
        ax_b.yaxis.set_major_formatter(MONEY)

        for i, run in enumerate(markov):
            conv = run.model.converted_step >= 0
            ltv = run.model.ltv[conv]
            diff = ltv.mean() - run.result.overall.ltv_mean
            se = ltv.std(ddof=1) / math.sqrt(ltv.size)
            ax_c.errorbar([i], [diff], yerr=[K * se], fmt="o", color=PALETTE[i % len(PALETTE)],
                          capsize=8, markersize=10, elinewidth=2.5)
        ax_c.axhline(0.0, color="0.4", linewidth=1)
        ax_c.set_xticks(range(len(markov)), [
            f"{r.policy.replace('_', ' ')}\n(analytic {MONEY(r.result.overall.ltv_mean)})"
            for r in markov])
        ax_c.set_xlim(-0.5, len(markov) - 0.5)
        ax_c.set(title="(c) Mean LTV per converted customer: simulated − analytic",
                 ylabel="difference (currency), bars ±4 SE")
        ax_c.yaxis.set_major_formatter(MONEY)

        rng = np.random.default_rng(0)  # jitter only
        for i, run in enumerate(runs):
            z = np.array([v for v in run.z.values() if math.isfinite(v)])
            x = i + rng.uniform(-0.25, 0.25, z.size)
            ax_d.plot(x, z, "o", color=PALETTE[i % len(PALETTE)], alpha=0.6, markersize=5)
        _band(ax_d)
        lim = max(K + 1.0, *(abs(v) for r in runs for v in r.z.values() if math.isfinite(v)))
        ax_d.set_ylim(-lim - 0.3, lim + 0.3)
        ax_d.set_xticks(range(len(runs)), [_short(r.name) for r in runs], rotation=30,
                        ha="right", fontsize=11)
        ax_d.legend(loc="upper right")
        ax_d.set(title="(d) Every comparison as a z-score (simulated − analytic) / SE",
                 ylabel="z")
        fig.suptitle("The simulation agrees with the exact Markov-chain expectations")
        return save_png(fig, path)


def _short(name: str) -> str:
    scenario, policy, step = name.split(" · ")
    return f"{scenario.replace('_', ' ')}\n{policy.replace('_', ' ')}, {step}"


def _sim_vs_theory(theory: str, simulated: str = "simulated") -> list[Line2D]:
    """Legend entries: a line for the theory, open circles for the simulation."""
    return [
        Line2D([], [], color="0.3", label=theory),
        Line2D([], [], color="0.3", marker="o", linestyle="none", markerfacecolor="none",
               label=simulated),
    ]


def bass_z_figure(zs: dict[tuple[float, float], dict[str, np.ndarray]], path: Path) -> Path:
    """z-scores of the mean simulated diffusion against the recursion, step by step.

    Args:
        zs: ``(p, q)`` → ``{"month": z, "week": z}`` (:func:`sim.validation.diffusion.recursion_z`).
        path: Where to write the PNG.

    Returns:
        The path written.
    """
    with rc_context(STYLE):
        fig, axes = _new_figure(1, 2, (17, 7))
        for ax, step in zip(axes[0], ("month", "week"), strict=True):
            _band(ax)
            for i, ((p, q), by_step) in enumerate(zs.items()):
                z = by_step[step]
                months = np.arange(z.size) / STEP_UNITS[step]
                ax.plot(months, z, color=PALETTE[i % len(PALETTE)], linewidth=1.8,
                        marker="o" if step == "month" else None, markersize=4,
                        label=f"p = {p:g}, q = {q:g}")
            ax.set(title=f"{step_label(step).capitalize()} steps", xlabel="time (months)",
                   ylabel="z = (mean of runs − recursion) / SE", ylim=(-K - 1.5, K + 1.5))
            ax.legend(loc="lower right", ncols=2)
        fig.suptitle("Bass diffusion: the simulation follows the exact discrete recursion")
        return save_png(fig, path)


def calibration_figure(cohorts: Sequence[tuple[Cohort, np.ndarray]], path: Path) -> Path:
    """Observed, fitted, forecast, generating and simulated survival per cohort.

    Args:
        cohorts: ``(cohort, simulated alive counts)`` for up to four cohorts.
        path: Where to write the PNG.

    Returns:
        The path written.
    """
    with rc_context(STYLE):
        fig, axes = _new_figure(2, 2, (17, 12.5))
        flat = list(axes.flat)
        for ax in flat[len(cohorts):]:
            ax.set_visible(False)
        t = np.arange(HORIZON + 1)
        for ax, (c, alive) in zip(flat, cohorts, strict=False):
            curve = c.fit.survival(HORIZON)
            se = c.fit.survival_se(HORIZON)
            fitted, ahead = t <= FIT_PERIODS, t >= FIT_PERIODS
            ax.fill_between(t, curve - 2 * se, curve + 2 * se, color=PALETTE[0], alpha=0.2,
                            linewidth=0)
            ax.plot(t, survival(c.alpha, c.beta, HORIZON), color="black", linestyle=":",
                    linewidth=2.5)
            ax.plot(t[fitted], curve[fitted], color=PALETTE[0])
            ax.plot(t[ahead], curve[ahead], color=PALETTE[0], linestyle="--")
            ax.plot(t, c.alive / c.n, "o", color=PALETTE[1], markerfacecolor="none",
                    markeredgewidth=1.8)
            ax.plot(t, alive / c.n, "s", color=PALETTE[2], markersize=5)
            ax.axvline(FIT_PERIODS, color="0.5", linewidth=1)
            ax.text(FIT_PERIODS, 0.03, " fitted ← | → forecast ", ha="center", va="bottom",
                    fontsize=12, color="0.3", backgroundcolor="white")
            ax.set(title=f"{c.label}: fitted α = {c.fit.alpha:.3g}, β = {c.fit.beta:.3g}",
                   xlabel="period (month)", ylabel="share of the cohort still active",
                   xlim=(0, HORIZON), ylim=(0, 1.02))
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        flat[0].legend(handles=[
            Line2D([], [], color=PALETTE[1], marker="o", linestyle="none",
                   markerfacecolor="none", label="cohort table (observed)"),
            Line2D([], [], color=PALETTE[0], label=f"sBG fit (periods 0..{FIT_PERIODS})"),
            Line2D([], [], color=PALETTE[0], linestyle="--", label="forecast"),
            Patch(color=PALETTE[0], alpha=0.2, label="±2 SE of the fit"),
            Line2D([], [], color="black", linestyle=":", label="generating S(t)"),
            Line2D([], [], color=PALETTE[2], marker="s", linestyle="none", markersize=5,
                   label="simulated segment (fitted Beta churn)"),
        ], loc="upper right")
        fig.suptitle("Calibration: the sBG fit recovers the cohort, and a simulation with the "
                     "fitted churn reproduces it")
        return save_png(fig, path)


def _pair_label(p: float, q: float) -> str:
    return f"p = {p:g}, q = {q:g}"


def bass_figure(runs: FigureRuns, path: str | Path) -> Path:
    """Draw simulated adoption against the Bass closed form and across networks.

    Four panels: (a) simulated share (markers, one run per pair) on the closed form
    (lines) for each ``(p, q)``; (b) their difference from the closed form, with the
    expected difference (the recursion) and a band of ±2 standard deviations of one
    run; (c) the same ``(p, q)`` on a mixed population and on small-world networks;
    (d) why they differ: the mean word-of-mouth pressure on the remaining prospects
    relative to the adopted share.

    Args:
        runs: The simulations (:func:`sim.validation.diffusion.figure_runs`).
        path: Where to write the PNG.

    Returns:
        The path written.
    """
    customers, months, step = runs.customers, runs.months, runs.step
    path = Path(path)
    spm = STEP_UNITS[step]
    grid = np.linspace(0.0, months, 400)
    with rc_context(STYLE):
        fig, axes = _new_figure(2, 2, (17, 12.5))
        (ax_a, ax_b), (ax_c, ax_d) = axes
        for i, ((p, q), run) in enumerate(runs.by_pair):
            colour = PALETTE[i % len(PALETTE)]
            steps = run.adopted.size - 1
            every = max(1, round(spm))  # about one marker a month
            ax_a.plot(grid, bass_closed_form(grid, p, q), color=colour,
                      label=_pair_label(p, q))
            ax_a.plot(run.months[::every], run.adopted[::every], "o", color=colour,
                      markerfacecolor="none", markeredgewidth=1.8)
            closed = bass_closed_form(run.months, p, q)
            expected = bass_discrete(p, q, steps, spm)
            band = 2.0 * np.sqrt(bass_variance(p, q, steps, spm, customers))
            ax_b.fill_between(run.months, 100 * (expected - closed - band),
                              100 * (expected - closed + band), color=colour, alpha=0.15,
                              linewidth=0)
            ax_b.plot(run.months, 100 * (expected - closed), color=colour,
                      label=_pair_label(p, q))
            ax_b.plot(run.months[::every], 100 * (run.adopted - closed)[::every], "o",
                      color=colour, markerfacecolor="none", markeredgewidth=1.8)
        ax_a.legend(handles=[*ax_a.get_legend_handles_labels()[0],
                             *_sim_vs_theory("Bass closed form",
                                             f"simulation ({customers:,} agents)")],
                    loc="lower right")
        ax_a.set(title="(a) Fully mixed: simulation vs Bass closed form",
                 xlabel="time (months)", ylabel="adopted share F(t)", xlim=(0, months),
                 ylim=(0, 1.02))
        ax_a.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax_b.axhline(0.0, color="0.4", linewidth=1)
        ax_b.legend(handles=[
            *ax_b.get_legend_handles_labels()[0],
            *_sim_vs_theory("expected: recursion − closed form", "one run − closed form"),
            Line2D([], [], color="0.3", alpha=0.3, linewidth=10,
                   label="±2 SD of one run (95 %)"),
        ], loc="lower right")
        ax_b.set(title=f"(b) Difference from the closed form ({step}ly steps)",
                 xlabel="time (months)", ylabel="simulated − closed form (percentage points)",
                 xlim=(0, months))

        p, q = runs.network_pair
        ax_c.plot(grid, bass_closed_form(grid, p, q), color="black", linestyle="--",
                  linewidth=2, label="Bass closed form")
        for i, (name, run) in enumerate(runs.by_network):
            colour = PALETTE[i % len(PALETTE)]
            ax_c.plot(run.months, run.adopted, color=colour, label=name)
            f, pressure = run.adopted[:-1], run.pressure[:-1]
            keep = (f > 0.02) & (f < 0.98) & np.isfinite(pressure)
            ax_d.plot(100 * f[keep], pressure[keep] / f[keep], color=colour, label=name)
        ax_c.legend(loc="lower right", title=f"{_pair_label(p, q)}, degree 6")
        ax_c.set(title="(c) Word of mouth on a network: mixed vs small world",
                 xlabel="time (months)", ylabel="adopted share F(t)", xlim=(0, months),
                 ylim=(0, 1.02))
        ax_c.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax_d.axhline(1.0, color="0.4", linewidth=1)
        ax_d.text(0.02, 0.03, "colours: the networks of (c)", transform=ax_d.transAxes,
                  fontsize=STYLE["legend.fontsize"], color="0.25")
        ax_d.set(title="(d) Why: prospects hear fewer adopters than F",
                 xlabel="adopted share F (%)",
                 ylabel="mean pressure on prospects ÷ F", xlim=(0, 100))
        fig.suptitle("Word of mouth reproduces Bass diffusion in a fully mixed population")
        return save_png(fig, path)
