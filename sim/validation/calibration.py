"""The calibration check group: sBG cohorts with known parameters, fitted and simulated.

**Concept.** Cohort tables are drawn from the shifted-beta-geometric model with known
``(α, β)`` (:data:`COHORTS`; each customer churns with its own probability
``θ ~ Beta(α, β)``) and :func:`sim.theory.sbg.fit_sbg` is fitted to the first
:data:`FIT_PERIODS` periods (:func:`make_cohorts`). The checks:

* :func:`recovery_check` — maximum likelihood recovers ``(α, β)`` within K of its own
  standard errors;
* :func:`forecast_check` — the fitted and forecast survival match the generating
  ``S(t)`` within K delta-method SE (:func:`forecast_z`);
* :func:`se_calibration_check` — over many replicate cohorts the z-scores have unit
  variance, so the standard errors are honest;
* :func:`simulation_fit_check`, :func:`simulation_table_check` — the fitted Beta churn
  propensity, put into ``scenarios/constant_churn.toml`` and simulated
  (:func:`simulate_segment`), follows the fitted ``S(t)`` and reproduces the table;
* :func:`simulated_calibration_check` — on the default scenario's edges (drivers,
  touches), a table drawn from the simulation with a known churn Beta is calibrated
  through the simulation (:mod:`sim.theory.simulated_calibration`) and the fitted
  scenario, run on a fresh seed, reproduces it.

Typical use::

    from sim.validation.calibration import make_cohorts, recovery_check

    recovery_check(make_cohorts(1, first_seed=3_000)).passed
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from sim.engine.model import EngagementModel
from sim.engine.scenario import load_scenario
from sim.theory.calibration import scenario_overrides, simulate_cohort
from sim.theory.sbg import fit_sbg, survival
from sim.theory.simulated_calibration import cohort, fit_segment, simulate_table
from sim.validation.checks import Check, K, binomial_se, chi2_z, make_check

#: Name of the group in the report.
GROUP = "calibration"
#: Synthetic cohorts (α, β, size) of the calibration checks, fitted on periods
#: 0..FIT_PERIODS and forecast to HORIZON.
COHORTS: tuple[tuple[float, float, int], ...] = (
    (0.7, 1.2, 5000),
    (0.7, 3.0, 10000),
    (3.0, 12.0, 10000),
    (2.0, 40.0, 20000),
)
FIT_PERIODS = 12
HORIZON = 24
#: Cohort of the standard-error calibration check (α, β, size, periods).
SE_COHORT = (0.7, 3.0, 5000, 12)
#: The simulated-calibration check: scenario, policy, segment, generating churn Beta
#: (α, β), periods, agents of the table's run and of the fit's runs, root seed (the
#: table is drawn with SeedSequence(seed), the fit's runs spawn from seed + 1).
SIMULATED_CALIBRATION = {
    "scenario": "default", "policy": "no_touch", "segment": "smb", "alpha": 1.5,
    "beta": 8.0, "periods": 8, "table_agents": 6000, "agents": 4000, "seed": 5_100,
}


@dataclass
class Cohort:
    """A synthetic cohort drawn from the sBG model and its fit.

    Attributes:
        alpha: Generating α.
        beta: Generating β.
        seed: Seed of :func:`sim.theory.calibration.simulate_cohort`.
        alive: Alive counts at periods 0..:data:`HORIZON`.
        fit: :func:`sim.theory.sbg.fit_sbg` on periods 0..:data:`FIT_PERIODS`.
    """

    alpha: float
    beta: float
    seed: int
    alive: np.ndarray
    fit: object

    @property
    def n(self) -> int:
        """Cohort size."""
        return int(self.alive[0])

    @property
    def label(self) -> str:
        """``α = …, β = …, n = …``."""
        return f"α = {self.alpha:g}, β = {self.beta:g}, n = {self.n:,}"


def make_cohorts(replicates: int, first_seed: int) -> list[Cohort]:
    """Draw and fit ``replicates`` cohorts per ``(α, β, n)`` of :data:`COHORTS`.

    Args:
        replicates: Cohorts per parameter set.
        first_seed: Replicate ``r`` of parameter set ``i`` is drawn with seed
            ``first_seed + 10·i + r``.

    Returns:
        The cohorts, parameter set by parameter set.
    """
    out = []
    for i, (alpha, beta, n) in enumerate(COHORTS):
        for r in range(replicates):
            seed = first_seed + 10 * i + r
            alive = simulate_cohort(alpha, beta, n, HORIZON, np.random.default_rng(seed))
            out.append(Cohort(alpha, beta, seed, alive, fit_sbg(alive, FIT_PERIODS)))
    return out


def recovery_check(cohorts: Sequence[Cohort]) -> Check:
    """The fit recovers the generating (α, β): worst ``|z|`` over cohorts and parameters.

    Args:
        cohorts: :func:`make_cohorts`.

    Returns:
        A check held to :data:`~sim.validation.checks.K` SE (observed-information
        standard errors).
    """
    rows = []
    for c in cohorts:
        f = c.fit
        rows.append(((f.alpha - c.alpha) / f.alpha_se, "α", c, f.alpha))
        rows.append(((f.beta - c.beta) / f.beta_se, "β", c, f.beta))
    z, which, c, estimate = max(rows, key=lambda r: math.inf if math.isnan(r[0]) else abs(r[0]))
    detail = (f"{len(cohorts)} cohorts fitted on periods 0..{FIT_PERIODS}; worst: {c.label}, "
              f"{which} = {estimate:.3g}, z = {z:+.2f}")
    return make_check("fit recovers (α, β)", GROUP, abs(z), K, "SE", detail)


def forecast_z(cohort: Cohort, truth: np.ndarray | None = None) -> np.ndarray:
    """z-scores of the fitted survival against the generating one, periods 1..HORIZON.

    Args:
        cohort: A fitted cohort.
        truth: The curve to compare with (default: the generating ``S(t)``).

    Returns:
        ``(fitted − truth) / SE`` (delta-method SE of the fitted curve).
    """
    if truth is None:
        truth = survival(cohort.alpha, cohort.beta, HORIZON)
    fitted = cohort.fit.survival(HORIZON)[1:]
    se = cohort.fit.survival_se(HORIZON)[1:]
    return (fitted - truth[1:]) / se


def forecast_check(cohorts: Sequence[Cohort]) -> Check:
    """The fitted and forecast survival against the generating ``S(t)``.

    Args:
        cohorts: :func:`make_cohorts`.

    Returns:
        A check held to :data:`~sim.validation.checks.K` SE of the fitted curve,
        periods 1..HORIZON.
    """
    best = None
    for c in cohorts:
        z = forecast_z(c)
        t = int(np.argmax(np.abs(z)))
        if best is None or abs(z[t]) > abs(best[0]):
            best = (float(z[t]), t + 1, c)
    z, t, c = best
    detail = (f"fit on periods 0..{FIT_PERIODS}, forecast to {HORIZON}; worst: {c.label}, "
              f"period {t}, z = {z:+.2f}")
    return make_check("forecast = generating S(t)", GROUP, abs(z), K, "SE", detail)


def se_calibration_check(replicates: int, seed: int) -> Check:
    """The fit's standard errors are calibrated: ``Σ z²`` over replicate cohorts.

    For each of α and β, ``Σ z²`` over ``replicates`` independent cohorts is chi-square
    with ``replicates`` degrees of freedom when the SEs are right; the larger
    equivalent normal ``|z|`` is reported (too small or too large SEs both fail).

    Args:
        replicates: Cohorts of :data:`SE_COHORT` to fit.
        seed: Seed of the generator all cohorts are drawn from.

    Returns:
        A check held to :data:`~sim.validation.checks.K` SE (equivalent normal).
    """
    alpha, beta, n, periods = SE_COHORT
    rng = np.random.default_rng(seed)
    z = []
    for _ in range(replicates):
        fit = fit_sbg(simulate_cohort(alpha, beta, n, periods, rng))
        z.append(((fit.alpha - alpha) / fit.alpha_se, (fit.beta - beta) / fit.beta_se))
    z = np.array(z)
    sums = (z**2).sum(axis=0)
    equiv = [chi2_z(float(s), replicates) for s in sums]
    detail = (f"{replicates} cohorts (α = {alpha:g}, β = {beta:g}, n = {n:,}): mean z² = "
              f"{sums[0] / replicates:.2f} (α), {sums[1] / replicates:.2f} (β), expected 1")
    return make_check("standard errors calibrated", GROUP, max(abs(e) for e in equiv), K,
                      "SE", detail)


def simulate_segment(cohort: Cohort, seed: int) -> np.ndarray:
    """Run ``constant_churn`` with the cohort's fitted Beta churn propensity.

    The overrides come from :func:`sim.theory.calibration.scenario_overrides` (monthly
    periods); the run has ``n`` customers and :data:`HORIZON` months.

    Args:
        cohort: A fitted cohort.
        seed: The run's seed.

    Returns:
        Customers still active at the end of steps 0..HORIZON.
    """
    overrides = scenario_overrides({"everyone": cohort.fit})
    scenario = load_scenario("constant_churn", overrides={
        **overrides, "population.customers": cohort.n, "time.months": HORIZON,
        "time.step": "month"})
    model = EngagementModel(scenario, "none", rng=seed).run()
    t = np.arange(model.horizon + 1)
    churn = model.churn_step
    return ((churn[None, :] < 0) | (churn[None, :] > t[:, None])).sum(axis=1)


#: ``(cohort, its simulated alive counts, its fitted S(t)) → (share gap, its SE)``,
#: periods 0..HORIZON.
GapAndSE = Callable[[Cohort, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _simulation_check(name: str, cohorts: Sequence[Cohort], simulated: Sequence[np.ndarray],
                      gap_and_se: GapAndSE, describe: str) -> Check:
    """The largest ``|gap / SE|`` over cohorts and periods 1..HORIZON, held to K SE.

    Args:
        name: The check's name.
        cohorts: :func:`make_cohorts`.
        simulated: :func:`simulate_segment` of each cohort.
        gap_and_se: The compared gap and its SE, per cohort, given its fitted
            ``S(t)`` to :data:`HORIZON` (an SE of 0, at period 0 where everyone is
            alive, is skipped).
        describe: The detail's opening words.

    Returns:
        A check held to :data:`~sim.validation.checks.K` SE.
    """
    best = None
    for c, alive in zip(cohorts, simulated, strict=True):
        gap, se = gap_and_se(c, alive, c.fit.survival(HORIZON))
        z = gap / np.where(se > 0, se, 1.0)
        t = int(np.argmax(np.abs(z[1:]))) + 1
        if best is None or abs(z[t]) > abs(best[0]):
            best = (float(z[t]), t, c)
    z, t, c = best
    detail = f"{describe}; worst: {c.label}, month {t}, z = {z:+.2f}"
    return make_check(name, GROUP, abs(z), K, "SE", detail)


def simulation_fit_check(cohorts: Sequence[Cohort], simulated: Sequence[np.ndarray]) -> Check:
    """The simulated segment follows the fitted ``S(t)`` within K binomial SE.

    Args:
        cohorts: :func:`make_cohorts`.
        simulated: :func:`simulate_segment` of each cohort.

    Returns:
        A check held to :data:`~sim.validation.checks.K` SE.
    """
    return _simulation_check(
        "simulation = fitted S(t)", cohorts, simulated,
        lambda c, alive, curve: (alive / c.n - curve, binomial_se(curve, c.n)),
        f"{len(cohorts)} simulated segments")


def simulation_table_check(cohorts: Sequence[Cohort], simulated: Sequence[np.ndarray]
                           ) -> Check:
    """The simulated segment reproduces the cohort table.

    The two are independent binomial draws around (nearly) the same curve, so within
    the fitted periods the SE of their difference is ``√2`` binomial SE (the brief's
    4·√2 binomial SE); beyond them the forecast's own parameter SE is added.

    Args:
        cohorts: :func:`make_cohorts`.
        simulated: :func:`simulate_segment` of each cohort.

    Returns:
        A check held to :data:`~sim.validation.checks.K` SE.
    """
    def gap_and_se(c: Cohort, alive: np.ndarray, curve: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
        param = np.where(np.arange(HORIZON + 1) > FIT_PERIODS, c.fit.survival_se(HORIZON), 0.0)
        return (alive - c.alive) / c.n, np.sqrt(2.0 * binomial_se(curve, c.n) ** 2 + param**2)

    return _simulation_check("simulation = cohort table", cohorts, simulated, gap_and_se,
                             f"SE = √2 × binomial (+ forecast SE after period {FIT_PERIODS})")


def simulated_calibration_check(case: dict | None = None) -> Check:
    """Calibration through the simulation reproduces a table the simulation drew.

    A cohort table is drawn from the simulation itself
    (:func:`sim.theory.simulated_calibration.simulate_table`: new customers of one
    segment of the default scenario under a policy, churn propensity Beta(α, β)
    known), then :func:`sim.theory.simulated_calibration.fit_segment` calibrates the
    segment's churn to it from the table's sBG fit; the fitted Beta, run with a fresh
    seed, must reproduce the table at every period: ``max |z|`` with the table's
    binomial SE and the run's Greenwood SE.

    Args:
        case: :data:`SIMULATED_CALIBRATION` or a variant of it.

    Returns:
        A check held to :data:`~sim.validation.checks.K` SE.
    """
    c = dict(SIMULATED_CALIBRATION if case is None else case)
    spec = load_scenario(c["scenario"])
    table_run = cohort(spec, c["policy"], c["segment"], c["periods"], agents=c["table_agents"])
    alive = simulate_table(table_run, c["alpha"], c["beta"], np.random.SeedSequence(c["seed"]))
    fit_run = cohort(spec, c["policy"], c["segment"], c["periods"], agents=c["agents"])
    fit = fit_segment(alive, fit_run, np.random.SeedSequence(c["seed"] + 1),
                      table_segment=c["segment"])
    z = np.array(fit.check.z)
    t = int(np.argmax(np.abs(z)))
    detail = (f"{c['scenario']}/{c['segment']} under {c['policy']}, Beta({c['alpha']:g}, "
              f"{c['beta']:g}), {int(alive[0]):,} customers over {c['periods']} months; "
              f"fitted Beta({fit.alpha:.3g}, {fit.beta:.3g}) in {fit.evaluations} runs of "
              f"{c['agents']:,} agents (mean churn {fit.alpha / (fit.alpha + fit.beta):.1%} "
              f"vs {c['alpha'] / (c['alpha'] + c['beta']):.1%}); fresh seed, worst month "
              f"{t}, z = {z[t]:+.2f}")
    return make_check("calibrated through the simulation = table", GROUP, abs(z[t]), K, "SE",
                      detail)
