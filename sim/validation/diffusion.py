"""The Bass check group: simulated diffusion against the recursion and the closed form.

**Concept.** ``scenarios/bass.toml`` holds the Bass (1969) adoption model as data;
:func:`simulate_diffusion` runs it with an :class:`~sim.engine.model.EngagementModel`
for Bass coefficients ``(p, q)`` (mapped to the scenario by
:func:`sim.theory.bass.bass_scenario_overrides`) and records the adopted share and the
word-of-mouth pressure after every step. The checks compare many such runs with the
theory of :mod:`sim.theory.bass`:

* :func:`recursion_check` — the mean over seeds against the exact discrete recursion
  (:func:`sim.theory.bass.bass_discrete`) at every step, in linear-noise standard
  errors (:func:`recursion_z`);
* :func:`closed_form_bass_check` — weekly runs against the Bass closed form within the
  derived step error plus sampling error;
* :func:`step_error_check` — the recursion itself (no runs) against the closed form on
  the grid of :func:`sim.theory.bass.step_error`: weekly steps within
  :data:`WEEKLY_STEP_ERROR`, and the monthly step error stated;
* :func:`spread_check` — the spread over seeds against the linear-noise variance (which
  validates the standard errors of the other checks);
* :func:`sparse_check` — a sparse small-world network (:data:`SPARSE_NETWORK`) falls
  clearly below the fully mixed curve in mid-diffusion.

Typical use::

    from sim.validation.diffusion import bass_runs, recursion_check, recursion_z

    runs = bass_runs(0.03, 0.38, "month", 20_000, seeds=range(6))
    recursion_check(0.03, 0.38, {"month": recursion_z(runs, 0.03, 0.38, "month", 20_000)})

``.venv/bin/python -m sim.validation.diffusion`` prints the step errors
(:func:`sim.theory.bass.explain_steps`) and re-measures the sparse-network numbers quoted
in :data:`sim.theory.bass.SPARSE_EXPLANATION` (:func:`sparse_measurements`; a few
minutes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.engine.model import EngagementModel
from sim.engine.scenario import STEP_UNITS, load_scenario
from sim.theory.bass import (
    GRID_MONTHS,
    GRID_P,
    GRID_Q,
    PAIRS,
    SCENARIO,
    NetworkArg,
    bass_closed_form,
    bass_discrete,
    bass_scenario_overrides,
    bass_variance,
    explain_steps,
    step_error,
)
from sim.validation.checks import Check, K, chi2_z, make_check, step_label

#: Name of the group in the report.
GROUP = "bass"
#: Horizon of the Bass runs (months), and of the sparse-network runs.
BASS_MONTHS = 36
SPARSE_MONTHS = 24
#: The sparse network compared with the fully mixed one.
SPARSE_NETWORK: dict[str, Any] = {"kind": "small_world", "degree": 6, "rewire": 0.05}
#: Largest step error weekly steps may have on the (p, q) grid (engagesim issue 11).
WEEKLY_STEP_ERROR = 0.02


# ----------------------------------------------------------------------------------
# simulation


@dataclass(frozen=True)
class Diffusion:
    """One simulated diffusion, step by step.

    Attributes:
        months: Time of each entry in months (``k / steps_per_month``, from 0).
        adopted: Share of agents who adopted after ``k`` steps (``adopted[0] = 0``).
        pressure: Mean word-of-mouth pressure on the prospects left after ``k`` steps
            (what step ``k + 1`` acts on; ``nan`` when none are left). Equal to
            ``adopted`` on a mixed network, below it on a sparse one.
        steps_per_month: 1 for monthly steps, 52/12 for weekly steps.
    """

    months: np.ndarray
    adopted: np.ndarray
    pressure: np.ndarray
    steps_per_month: float

    def at_months(self, months: np.ndarray) -> np.ndarray:
        """Adopted share at the given months.

        Args:
            months: Times in months.

        Returns:
            The share, linear between steps (exact on steps).
        """
        return np.interp(months, self.months, self.adopted)


def simulate_diffusion(
    p: float, q: float, *, seed: int | np.random.Generator | None = 0, **scenario: Any
) -> Diffusion:
    """Run ``scenarios/bass.toml`` with an :class:`~sim.engine.model.EngagementModel`.

    Args:
        p: Bass innovation coefficient per month (the awareness rate if not ``mapped``).
        q: Bass imitation coefficient per month (the referral if not ``mapped``).
        seed: The run's seed or generator.
        **scenario: Keywords of :func:`sim.theory.bass.bass_scenario_overrides`:
            ``customers``, ``months``, ``step``, ``network``, ``mapped`` (by default
            20,000 agents, 36 months of weekly steps, fully mixed, ``(p, q)`` mapped).

    Returns:
        The adopted share and the mean pressure on the prospects after every step.
    """
    spec = load_scenario(SCENARIO, overrides=bass_scenario_overrides(p, q, **scenario))
    model = EngagementModel(spec, "none", rng=seed)
    adopted = np.zeros(model.horizon + 1)
    pressure = np.full(model.horizon + 1, np.nan)

    def observe(k: int) -> None:
        adopted[k] = np.count_nonzero(model.active) / model.n
        prospects = ~model.active
        if prospects.any():
            pressure[k] = float(model.referral_pressure()[prospects].mean())

    observe(0)
    while model.steps < model.horizon:
        model.step()
        observe(model.steps)
    spm = model.steps_per_month
    return Diffusion(np.arange(model.horizon + 1) / spm, adopted, pressure, spm)


def simulate_adoption(p: float, q: float, *, months: int = 36, **run: Any) -> np.ndarray:
    """Cumulative adopted share per month from a real run of ``scenarios/bass.toml``.

    Args:
        p: Bass innovation coefficient per month (the awareness rate if not ``mapped``).
        q: Bass imitation coefficient per month (the referral if not ``mapped``).
        months: Horizon in months.
        **run: The other keywords of :func:`simulate_diffusion` (``customers``,
            ``step``, ``network``, ``seed``, ``mapped``).

    Returns:
        ``months + 1`` shares: at months 0, 1, …, ``months`` (weekly runs: linear
        between the two weeks around each month; :func:`simulate_diffusion` gives
        every step).
    """
    diffusion = simulate_diffusion(p, q, months=months, **run)
    return diffusion.at_months(np.arange(months + 1, dtype=float))


def bass_runs(
    p: float, q: float, step: str, customers: int, seeds: Iterable[int],
    months: int = BASS_MONTHS, network: NetworkArg = "mixed",
) -> np.ndarray:
    """Adopted share after every step, one row per seed (:func:`simulate_diffusion`).

    Args:
        p: Bass innovation coefficient per month.
        q: Bass imitation coefficient per month.
        step: ``"month"`` or ``"week"``.
        customers: Agents per run.
        seeds: One run per seed.
        months: Horizon in months.
        network: See :func:`sim.theory.bass.bass_scenario_overrides`.

    Returns:
        ``(runs, steps + 1)`` shares.
    """
    return np.array([
        simulate_diffusion(p, q, customers=customers, months=months, step=step,
                           network=network, seed=s).adopted
        for s in seeds
    ])


#: Networks compared in the Bass figure: ``(label, network)``.
FIGURE_NETWORKS: tuple[tuple[str, NetworkArg], ...] = (
    ("fully mixed", "mixed"),
    ("small world, rewire 0.01", {"kind": "small_world", "degree": 6, "rewire": 0.01}),
    ("small world, rewire 0.1", {"kind": "small_world", "degree": 6, "rewire": 0.1}),
    ("random (rewire 1.0)", {"kind": "small_world", "degree": 6, "rewire": 1.0}),
)


@dataclass(frozen=True)
class FigureRuns:
    """The simulations the Bass figure draws (:func:`sim.validation.figures.bass_figure`).

    Attributes:
        customers: Agents per run.
        months: Horizon in months.
        step: ``"month"`` or ``"week"``.
        by_pair: ``((p, q), run)`` on a fully mixed population, one run per pair.
        network_pair: The ``(p, q)`` of the network comparison.
        by_network: ``(label, run)`` of that pair on each network.
    """

    customers: int
    months: int
    step: str
    by_pair: tuple[tuple[tuple[float, float], Diffusion], ...]
    network_pair: tuple[float, float]
    by_network: tuple[tuple[str, Diffusion], ...]


def figure_runs(
    pairs: Sequence[tuple[float, float]] = PAIRS,
    *,
    customers: int = 20_000,
    months: int = 36,
    step: str = "week",
    seed: int = 0,
    network_pair: tuple[float, float] = (0.03, 0.38),
    networks: Sequence[tuple[str, NetworkArg]] = FIGURE_NETWORKS,
) -> FigureRuns:
    """Simulate what the Bass figure shows: each pair mixed, one pair on each network.

    Args:
        pairs: ``(p, q)`` pairs (Bass coefficients per month), fully mixed.
        customers: Agents per run.
        months: Horizon in months.
        step: ``"week"`` (default) or ``"month"``.
        seed: Seed of every run (each run is independent of the others' draws).
        network_pair: The ``(p, q)`` run on every network.
        networks: ``(label, network)`` pairs (see
            :func:`sim.theory.bass.bass_scenario_overrides`).

    Returns:
        The runs.
    """
    run = {"customers": customers, "months": months, "step": step, "seed": seed}
    p, q = network_pair
    return FigureRuns(
        customers, months, step,
        by_pair=tuple(((pp, qq), simulate_diffusion(pp, qq, **run)) for pp, qq in pairs),
        network_pair=network_pair,
        by_network=tuple((label, simulate_diffusion(p, q, network=network, **run))
                         for label, network in networks),
    )


# ----------------------------------------------------------------------------------
# checks


def recursion_z(runs: np.ndarray, p: float, q: float, step: str, customers: int,
                expected: np.ndarray | None = None) -> np.ndarray:
    """z-scores of the mean over runs against the discrete recursion, per step.

    One agent of the gap is forgiven (``|gap| − 1/n``, as ``tests/theory/test_bass.py``
    allows its ``RESOLUTION``): in the tail only a handful of prospects are left per
    run, the count is Poisson-like and skewed, and the normal approximation behind the
    linear-noise SE no longer holds to within a fraction of an agent.

    Args:
        runs: ``(seeds, steps + 1)`` adopted shares (:func:`bass_runs`).
        p: Bass innovation coefficient per month.
        q: Bass imitation coefficient per month.
        step: ``"month"`` or ``"week"``.
        customers: Agents per run.
        expected: The theory curve (default :func:`sim.theory.bass.bass_discrete`); pass
            another to see the check reject it.

    Returns:
        ``(steps + 1,)`` z-scores (0 where the SE is 0: step 0).
    """
    steps = runs.shape[1] - 1
    spm = STEP_UNITS[step]
    if expected is None:
        expected = bass_discrete(p, q, steps, spm)
    se = np.sqrt(bass_variance(p, q, steps, spm, customers) / runs.shape[0])
    gap = runs.mean(axis=0) - expected
    excess = np.sign(gap) * np.maximum(np.abs(gap) - 1.0 / customers, 0.0)
    return np.divide(excess, se, out=np.where(excess != 0, np.inf, 0.0), where=se > 0)


def recursion_check(p: float, q: float, z_by_step: dict[str, np.ndarray]) -> Check:
    """Simulation against the exact discrete recursion: the worst ``|z|`` at any step.

    Args:
        p: Bass innovation coefficient per month.
        q: Bass imitation coefficient per month.
        z_by_step: ``"month"``/``"week"`` → :func:`recursion_z`.

    Returns:
        A check held to :data:`~sim.validation.checks.K` SE.
    """
    parts = {step: float(np.max(np.abs(z))) for step, z in z_by_step.items()}
    detail = "max |z| over every step (one agent forgiven): " + ", ".join(
        f"{step_label(s)} {v:.2f}" for s, v in parts.items())
    return make_check(f"recursion, p = {p:g}, q = {q:g}", GROUP, max(parts.values()), K,
                      "SE", detail)


def closed_form_bass_check(p: float, q: float, weekly: np.ndarray, monthly: np.ndarray,
                           customers: int) -> Check:
    """Weekly simulation against the Bass closed form within the derived tolerance.

    The tolerance is the deterministic step error (largest ``|recursion − closed
    form|`` of this pair, ``O(Δ²)``: :mod:`sim.theory.bass`) plus
    :data:`~sim.validation.checks.K` standard errors of the mean over runs plus one
    agent.

    Args:
        p: Bass innovation coefficient per month.
        q: Bass imitation coefficient per month.
        weekly: ``(seeds, steps + 1)`` weekly adopted shares.
        monthly: ``(seeds, steps + 1)`` monthly adopted shares (for the detail only).
        customers: Agents per run.

    Returns:
        A check in shares of the population.
    """
    dev = {}
    for step, runs in (("week", weekly), ("month", monthly)):
        steps, spm = runs.shape[1] - 1, STEP_UNITS[step]
        closed = bass_closed_form(np.arange(steps + 1) / spm, p, q)
        expected = bass_discrete(p, q, steps, spm)
        se = np.sqrt(bass_variance(p, q, steps, spm, customers) / runs.shape[0])
        dev[step] = (float(np.max(np.abs(runs.mean(axis=0) - closed))),
                     float(np.max(np.abs(expected - closed))), float(np.max(se)))
    deviation, model_error, se = dev["week"]
    tolerance = model_error + K * se + 1.0 / customers
    detail = (f"weekly |sim − closed form| ≤ {100 * deviation:.2f} pp (monthly "
              f"{100 * dev['month'][0]:.2f} pp, step error {100 * dev['month'][1]:.2f} pp); "
              f"tolerance = step error {100 * model_error:.2f} pp + 4 SE "
              f"{100 * K * se:.2f} pp + 1 agent")
    return make_check(f"closed form (weekly), p = {p:g}, q = {q:g}", GROUP, deviation,
                      tolerance, "share", detail)


def step_error_check() -> Check:
    """The recursion against the Bass closed form on the whole (p, q) grid, no runs.

    Weekly steps must stay within :data:`WEEKLY_STEP_ERROR` of the closed form for every
    ``(p, q)`` of :data:`sim.theory.bass.GRID_P` × :data:`sim.theory.bass.GRID_Q`
    (:func:`sim.theory.bass.step_error`); the detail states the monthly step error,
    which no tolerance bounds (monthly steps are too coarse for fast imitation), and
    the first-order error of the pressure at the start of the step for comparison.
    The simulation follows the recursion within sampling error (:func:`recursion_check`),
    so this is how far the runs are from the closed form because of the step alone.

    Returns:
        A check in shares of the population.
    """
    week, month = step_error(STEP_UNITS["week"]), step_error(STEP_UNITS["month"])
    start = step_error(STEP_UNITS["week"], scheme="start")
    detail = (f"max |recursion − closed form| for p = {_grid_words()}: weekly "
              f"{100 * week.error:.2f} pp (p = {week.p:g}, q = {week.q:g}, month "
              f"{week.month:.1f}); monthly {100 * month.error:.2f} pp (p = {month.p:g}, "
              f"q = {month.q:g}); pressure at the step's start would give weekly "
              f"{100 * start.error:.2f} pp")
    return make_check("step error on the (p, q) grid (weekly)", GROUP, week.error,
                      WEEKLY_STEP_ERROR, "share", detail)


def _grid_words() -> str:
    """The step-error grid in words (for check details)."""
    return (f"{GRID_P[0]:g}…{GRID_P[-1]:g}, q = {GRID_Q[0]:g}…{GRID_Q[-1]:g} over "
            f"{GRID_MONTHS} months")


def spread_check(runs: dict[tuple[float, float, str], np.ndarray], customers: int) -> Check:
    """The spread over seeds against the linear-noise variance.

    At each run family's widest step, ``(S − 1)·s²/V`` is chi-square with ``S − 1``
    degrees of freedom (``V``: :func:`sim.theory.bass.bass_variance`); the sum over
    families is turned into the equivalent normal z-score, so a wrong variance (hence
    wrong standard errors everywhere in this group) shows as a large ``|z|``.

    Args:
        runs: ``(p, q, step)`` → ``(seeds, steps + 1)`` adopted shares.
        customers: Agents per run.

    Returns:
        A check held to :data:`~sim.validation.checks.K` SE (equivalent normal).
    """
    statistic, dof = 0.0, 0
    for (p, q, step), family in runs.items():
        steps = family.shape[1] - 1
        var = bass_variance(p, q, steps, STEP_UNITS[step], customers)
        k = int(np.argmax(var))
        statistic += (family.shape[0] - 1) * family[:, k].var(ddof=1) / var[k]
        dof += family.shape[0] - 1
    z = chi2_z(statistic, dof)
    detail = (f"Σ (S − 1)s²/V = {statistic:.1f} on {dof} degrees of freedom (expected "
              f"{dof}); equivalent z = {z:+.2f}")
    return make_check("seed spread = linear-noise variance", GROUP, abs(z), K, "SE", detail)


@dataclass
class SparseRuns:
    """Mixed and sparse-network runs of the same ``(p, q)``.

    Attributes:
        months: Month of each step.
        mixed: ``(seeds, steps + 1)`` adopted shares, fully mixed.
        sparse: The same on :data:`SPARSE_NETWORK`.
    """

    months: np.ndarray
    mixed: np.ndarray
    sparse: np.ndarray


def sparse_runs(customers: int, seeds: Iterable[int], p: float = PAIRS[0][0],
                q: float = PAIRS[0][1]) -> SparseRuns:
    """Weekly runs on a fully mixed population and on :data:`SPARSE_NETWORK`.

    Args:
        customers: Agents per run.
        seeds: One run per seed and network (the same seeds for both networks).
        p: Bass innovation coefficient per month.
        q: Bass imitation coefficient per month.

    Returns:
        The runs, :data:`SPARSE_MONTHS` months of weekly steps.
    """
    seeds = list(seeds)
    mixed = bass_runs(p, q, "week", customers, seeds, SPARSE_MONTHS)
    sparse = bass_runs(p, q, "week", customers, seeds, SPARSE_MONTHS, network=SPARSE_NETWORK)
    months = np.arange(mixed.shape[1]) / STEP_UNITS["week"]
    return SparseRuns(months, mixed, sparse)


def sparse_check(runs: SparseRuns) -> Check:
    """The sparse network lags the mixed curve in mid-diffusion by more than K SE.

    "Mid-diffusion" is every step where the mixed curve is between 40 % and 80 %; the
    SE of the gap combines the two curves' standard errors over seeds.

    Args:
        runs: :func:`sparse_runs`.

    Returns:
        A ``bound = "min"`` check: the smallest gap in SE must reach
        :data:`~sim.validation.checks.K`.
    """
    mixed, sparse = runs.mixed.mean(axis=0), runs.sparse.mean(axis=0)
    s = runs.mixed.shape[0]
    se = np.hypot(runs.mixed.std(axis=0, ddof=1), runs.sparse.std(axis=0, ddof=1)) / math.sqrt(s)
    middle = (mixed >= 0.4) & (mixed <= 0.8)
    gap = mixed - sparse
    if not middle.any():
        return make_check("sparse network lags mixed", GROUP, math.nan, K, "SE",
                          "the mixed curve never reaches 40-80 %", bound="min")
    z = gap[middle] / se[middle]
    k = int(np.argmax(gap))
    detail = (f"degree 6, rewire 0.05: below the mixed curve by up to {100 * gap[k]:.1f} pp "
              f"(month {runs.months[k]:.1f}); smallest gap in mid-diffusion "
              f"{100 * gap[middle].min():.1f} pp")
    return make_check("sparse network lags mixed", GROUP, float(z.min()), K, "SE", detail,
                      bound="min")


# ----------------------------------------------------------------------------------
# the measurements quoted in sim.theory.bass.SPARSE_EXPLANATION

#: Networks of :func:`sparse_measurements`: ``(label, network)``.
MEASURED_NETWORKS: tuple[tuple[str, NetworkArg], ...] = (
    ("mixed", "mixed"),
    *((f"degree 6, rewire {r:g}", {"kind": "small_world", "degree": 6, "rewire": r})
      for r in (0.0, 0.05, 0.1, 1.0)),
    *((f"degree {d}, rewire 1", {"kind": "small_world", "degree": d, "rewire": 1.0})
      for d in (20, 60)),
)


def sparse_measurements(customers: int = 20_000, seeds: Iterable[int] = range(4),
                        months: int = SPARSE_MONTHS) -> str:
    """Measure what :data:`sim.theory.bass.SPARSE_EXPLANATION` quotes.

    Weekly runs of the first pair of :data:`~sim.theory.bass.PAIRS` on each of
    :data:`MEASURED_NETWORKS`, the same seeds on each.

    Args:
        customers: Agents per run.
        seeds: One run per seed and network.
        months: Horizon in months.

    Returns:
        One line per network: the largest shortfall below the mixed curve (with the
        standard error of the mean gap there), the mean pressure on the prospects over
        the adopted share while 25-75 % have adopted, and the month 95 % is reached.
    """
    p, q = PAIRS[0]
    seeds = list(seeds)
    curves = {label: [simulate_diffusion(p, q, customers=customers, months=months,
                                         step="week", network=network, seed=s)
                      for s in seeds]
              for label, network in MEASURED_NETWORKS}
    mixed = np.array([r.adopted for r in curves["mixed"]])
    lines = [f"p = {p:g}, q = {q:g}, {customers:,} agents, weekly steps, {len(seeds)} seeds, "
             f"{months} months:"]
    for label, runs in curves.items():
        adopted = np.array([r.adopted for r in runs])
        pressure = np.array([r.pressure for r in runs])
        mean = adopted.mean(axis=0)
        gap = mixed - adopted
        k = int(np.argmax(gap.mean(axis=0)))
        se = gap[:, k].std(ddof=1) / math.sqrt(len(seeds))
        middle = (mean >= 0.25) & (mean <= 0.75)
        ratio = float(np.nanmean(pressure.mean(axis=0)[middle] / mean[middle]))
        reached = np.flatnonzero(mean >= 0.95)
        when = f"{runs[0].months[reached[0]]:.1f}" if reached.size else f"> {months}"
        lines.append(f"  {label:22s} shortfall {100 * gap.mean(axis=0)[k]:5.1f} pp "
                     f"(SE {100 * se:.1f}), pressure/F {ratio:.2f}, 95 % at month {when}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(explain_steps())
    print(sparse_measurements())
