"""Validation: every check of the simulation against theory, in one report.

**Concept.** engagesim's claims rest on comparisons of real simulation runs with
answers known independently of the simulation code: the exact Markov-chain
expectations of :mod:`sim.theory.markov`, the Bass diffusion recursion and closed form of
:mod:`sim.theory.bass`, the shifted-beta-geometric cohort model of :mod:`sim.theory.sbg`, and
a few toy cases whose answer is arithmetic. :func:`run_validation` runs them all,
each with fixed seeds, and writes ``report.md`` (a verdict line, a pass/fail table, one
section per group with its figures, the method) and ``figures/*.png``.

Every tolerance is derived, never hand-picked: a simulated quantity is compared with
its expectation in **standard errors** computed from the run itself or from the theory
(binomial counts, Greenwood's variance of a Kaplan–Meier estimate, the sample variance
of a mean, the linear-noise variance of a diffusion, the observed information of a
maximum-likelihood fit), and a check passes when the worst deviation is within
:data:`K` = 4 of them. With a few hundred comparisons in all, a correct model fails a
4-SE check by chance with probability of a few per cent at most; the seeds are fixed,
so the outcome is reproducible. Deterministic identities (closed forms) use a relative
tolerance at rounding level.

Groups:

* ``analytic`` — :func:`chain_check`: ``scenarios/markov_saas.toml`` under its four
  policies (and weekly steps) and ``scenarios/constant_churn.toml`` (monthly and
  weekly), simulated against :func:`sim.theory.markov.analyse`: stage counts, Kaplan–Meier
  retention, mean LTV and tenure; :func:`closed_form_check`: ``m·r/(1 + d − r)``
  against the chain's ``clv_infinite``.
* ``bass`` — :func:`recursion_check`: the fully mixed diffusion against the exact
  discrete recursion at every step; :func:`closed_form_bass_check`: weekly runs against
  the Bass closed form within the derived model error plus sampling error;
  :func:`spread_check`: the spread over seeds against the linear-noise variance;
  :func:`sparse_check`: a sparse small-world network falls below the mixed curve.
* ``calibration`` — synthetic sBG cohorts with known (α, β): :func:`recovery_check`,
  :func:`forecast_check`, :func:`se_calibration_check`, and a simulated segment with
  the fitted Beta churn propensity (:func:`simulation_fit_check`,
  :func:`simulation_table_check`).
* ``known answers`` — geometric retention, discounted value, pure advertising,
  competing risks and the logit-linear edge probability.

Typical use::

    from sim.validation.suite import run_validation

    result = run_validation("results/validation", fast=True)
    result.passed, result.verdict, result.report
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter
from scipy import stats

from sim.analysis.plots import MONEY, PALETTE, STYLE, save_png
from sim.engine.lifecycle import Edge, choose_exits, edge_rate
from sim.engine.metrics import RiskTable, retention_curve
from sim.engine.model import EngagementModel
from sim.engine.scenario import STEP_UNITS, load_scenario
from sim.files import atomic_write_bytes
from sim.sweep.store import versions
from sim.theory import markov as analytic
from sim.theory.bass import (
    PAIRS,
    bass_closed_form,
    bass_discrete,
    bass_figure,
    bass_variance,
    simulate_adoption,
    simulate_diffusion,
)
from sim.theory.calibration import scenario_overrides, simulate_cohort
from sim.theory.sbg import fit_sbg, survival

__all__ = [
    "FAST",
    "FULL",
    "GROUPS",
    "Check",
    "K",
    "Sizes",
    "ValidationResult",
    "run_validation",
]

#: Tolerance in standard errors.
K = 4.0
#: Check groups, in report order.
GROUPS = ("analytic", "bass", "calibration", "known answers")
#: Relative tolerance of deterministic identities (closed forms).
CLOSED_FORM_RTOL = 1e-9

#: (scenario, policy, step) of the runs compared with the Markov chain.
CHAIN_RUNS: tuple[tuple[str, str, str], ...] = (
    ("markov_saas", "no_touch", "month"),
    ("markov_saas", "low_touch", "month"),
    ("markov_saas", "high_touch", "month"),
    ("markov_saas", "hybrid", "month"),
    ("markov_saas", "high_touch", "week"),
    ("constant_churn", "none", "month"),
    ("constant_churn", "email", "week"),
)
#: Horizon of the Bass runs (months), and of the sparse-network runs.
BASS_MONTHS = 36
SPARSE_MONTHS = 24
#: The sparse network compared with the fully mixed one.
SPARSE_NETWORK = {"kind": "small_world", "degree": 6, "rewire": 0.05}
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

#: Fixed seeds: run ``i`` of a family uses ``SEEDS[family] + i``.
SEEDS = {
    "chain": 101,
    "bass": 1_000,
    "sparse": 2_000,
    "bass_figure": 0,
    "cohort": 3_000,
    "se": 4_000,
    "cohort_sim": 5_000,
    "known": 6_000,
}


SEED_RULES = (
    f"chain run i (in the order below) {SEEDS['chain']} + i; Bass pair j, run i "
    f"{SEEDS['bass']} + 100·j + i (the same seeds monthly and weekly); sparse-network run i "
    f"{SEEDS['sparse']} + i (the same seeds for both networks); Bass figure "
    f"{SEEDS['bass_figure']}; cohort set j, replicate i {SEEDS['cohort']} + 10·j + i; "
    f"its simulated segment {SEEDS['cohort_sim']} + its index; standard-error replicates "
    f"one generator seeded {SEEDS['se']}; known answers {SEEDS['known']} + 0..4."
)


@dataclass(frozen=True)
class Sizes:
    """Population sizes and replications of a validation run.

    Attributes:
        chain_customers: Customers per run compared with the Markov chain.
        bass_customers: Agents per Bass diffusion run.
        bass_seeds: Runs (seeds) per ``(p, q)`` pair and step length.
        sparse_customers: Agents per sparse-network run.
        sparse_seeds: Runs per network in the sparse-network check.
        figure_customers: Agents per run of :func:`sim.theory.bass.bass_figure`.
        cohort_replicates: Synthetic cohorts per ``(α, β)`` of :data:`COHORTS`.
        se_replicates: Cohorts fitted in the standard-error calibration check.
        known_customers: Customers per constant-churn run of the known answers.
        exit_draws: Draws in the competing-risks check.
    """

    chain_customers: int
    bass_customers: int
    bass_seeds: int
    sparse_customers: int
    sparse_seeds: int
    figure_customers: int
    cohort_replicates: int
    se_replicates: int
    known_customers: int
    exit_draws: int


#: Sizes of ``fast=True`` (CI: well under a minute on two cores).
FAST = Sizes(
    chain_customers=40_000,
    bass_customers=20_000,
    bass_seeds=6,
    sparse_customers=20_000,
    sparse_seeds=4,
    figure_customers=10_000,
    cohort_replicates=1,
    se_replicates=100,
    known_customers=20_000,
    exit_draws=200_000,
)
#: Sizes of the full validation (a few minutes).
FULL = Sizes(
    chain_customers=300_000,
    bass_customers=50_000,
    bass_seeds=16,
    sparse_customers=50_000,
    sparse_seeds=8,
    figure_customers=20_000,
    cohort_replicates=8,
    se_replicates=1_000,
    known_customers=500_000,
    exit_draws=5_000_000,
)


# ----------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class Check:
    """The outcome of one validation check.

    Attributes:
        name: Short name, unique within its group.
        group: One of :data:`GROUPS`.
        measured: The deviation found (e.g. the largest ``|z|``, a largest absolute
            difference); for ``bound = "min"`` the separation found.
        tolerance: The bound it is held to.
        unit: Unit of ``measured`` and ``tolerance``: ``"SE"`` (standard errors),
            ``"share"`` (a fraction of the population), ``"relative"``,
            ``"probability"``.
        passed: ``measured ≤ tolerance`` (``bound = "max"``) or ``measured ≥
            tolerance`` (``bound = "min"``); ``False`` when ``measured`` is NaN.
        detail: One line: where the worst deviation is, or what was compared.
        bound: ``"max"`` (a deviation that must stay small) or ``"min"`` (a
            departure that must be large, e.g. the sparse-network lag).
    """

    name: str
    group: str
    measured: float
    tolerance: float
    unit: str
    passed: bool
    detail: str
    bound: str = "max"

    @property
    def label(self) -> str:
        """``group · name``."""
        return f"{self.group} · {self.name}"

    def measured_text(self) -> str:
        """The measured value, formatted for its unit."""
        return _format(self.measured, self.unit)

    def tolerance_text(self) -> str:
        """The bound, e.g. ``≤ 4 SE`` or ``≥ 4 SE``."""
        sign = "≤" if self.bound == "max" else "≥"
        return f"{sign} {_format(self.tolerance, self.unit)}"


def make_check(
    name: str, group: str, measured: float, tolerance: float, unit: str, detail: str,
    bound: str = "max",
) -> Check:
    """Build a :class:`Check`, deciding ``passed`` from the bound.

    Args:
        name: Short name.
        group: One of :data:`GROUPS`.
        measured: The deviation (or separation, ``bound = "min"``).
        tolerance: The bound.
        unit: Unit of both.
        detail: One line of explanation.
        bound: ``"max"`` or ``"min"``.

    Returns:
        The check; NaN never passes.
    """
    measured = float(measured)
    if bound == "max":
        passed = measured <= tolerance
    elif bound == "min":
        passed = measured >= tolerance
    else:
        raise ValueError(f"bound must be 'max' or 'min', got {bound!r}")
    return Check(name, group, measured, float(tolerance), unit, bool(passed), detail, bound)


def _format(value: float, unit: str) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    match unit:
        case "SE":
            return f"{value:.2f} SE"
        case "share":
            return f"{100 * value:.2f} pp"
        case _:
            return f"{value:.1e} {unit}"


@dataclass(frozen=True)
class ValidationResult:
    """What :func:`run_validation` did.

    Attributes:
        report: Path of ``report.md``.
        checks: Every check, in report order.
        passed: Whether every check passed.
        figures: The figures written (under ``figures/`` next to the report).
        seconds: Wall-clock time of the whole validation.
    """

    report: Path
    checks: list[Check]
    passed: bool
    figures: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[Check]:
        """The checks that failed."""
        return [c for c in self.checks if not c.passed]

    @property
    def verdict(self) -> str:
        """``All N checks passed`` or ``K of N checks FAILED: …``."""
        return verdict(self.checks)


#: Failed checks named in the verdict line (the table lists them all).
MAX_NAMED = 6


def verdict(checks: Sequence[Check]) -> str:
    """One line: ``All N checks passed`` or ``K of N checks FAILED: name (value), …``.

    Args:
        checks: The checks.

    Returns:
        The verdict line.
    """
    failed = [c for c in checks if not c.passed]
    if not failed:
        return f"All {len(checks)} checks passed"
    names = ", ".join(
        f"{c.label} ({c.measured_text()}, needs {c.tolerance_text()})"
        for c in failed[:MAX_NAMED]
    )
    if len(failed) > MAX_NAMED:
        names += f" and {len(failed) - MAX_NAMED} more"
    return f"{len(failed)} of {len(checks)} checks FAILED: {names}"


# ----------------------------------------------------------------------------------
# analytic: simulation against the Markov chain


def _step_label(step: str) -> str:
    return "monthly" if step == "month" else "weekly"


def simulate_chain_run(
    scenario: str, policy: str, step: str, customers: int, seed: int
) -> EngagementModel:
    """A finished run of a shipped scenario (the run :func:`chain_check` compares).

    Args:
        scenario: Shipped scenario name (expressible by :mod:`sim.theory.markov`).
        policy: Policy name.
        step: ``"month"`` or ``"week"``.
        customers: Customers.
        seed: The run's seed.

    Returns:
        The model after its whole horizon.
    """
    spec = load_scenario(
        scenario, overrides={"population.customers": customers, "time.step": step}
    )
    return EngagementModel(spec, policy, rng=seed).run()


def _z(observed: float, expected: float, se: float) -> float:
    """``(observed − expected) / se``; with ``se = 0`` an exact match is 0, else ∞."""
    if se > 0:
        return (observed - expected) / se
    return 0.0 if abs(observed - expected) <= 1e-9 * max(1.0, abs(expected)) else math.inf


def chain_z_scores(model: EngagementModel, result: analytic.AnalyticResult) -> dict[str, float]:
    """Every comparison of a finished run with the chain's expectations, as z-scores.

    Stage counts after the last step (per segment and overall) and overall after a third
    of the horizon are sums of independent binomials (segment sizes are fixed);
    retention at the reported months is a Kaplan–Meier estimate (Greenwood's SE); LTV
    and tenure are means over converted customers (sample SE).

    Args:
        model: The finished run.
        result: :func:`sim.theory.markov.analyse` of the same scenario and policy.

    Returns:
        Label → z-score.
    """
    out: dict[str, float] = {}
    spec = model.spec
    stages = spec.lifecycle.names
    summary = model.summary()
    series = model.timeseries()
    mid = model.horizon // 3
    groups = [(name, model.segment == k) for k, name in enumerate(spec.segment_names)]
    groups.append(("overall", np.ones(model.n, dtype=bool)))
    segs = {**result.segments, "overall": result.overall}
    for name, rows in groups:
        parts = list(result.segments.values()) if name == "overall" else [segs[name]]
        final = np.bincount(model.stage[rows], minlength=len(stages)).astype(float)
        moments = [(model.horizon, final)]
        if name == "overall" and mid >= 1:
            moments.append((mid, series.loc[mid - 1, list(stages)].to_numpy(float)))
        for t, counts in moments:
            for s, stage in enumerate(stages):
                var = 0.0
                for part in parts:
                    p = part.occupancy[t, s] / part.customers if part.customers else 0.0
                    var += part.customers * p * (1 - p)
                out[f"{name} {stage} @ step {t}"] = _z(
                    counts[s], segs[name].occupancy[t, s], math.sqrt(var))
    for name, rows in groups:
        conv = rows & (model.converted_step >= 0)
        measured = (summary["retention"] if name == "overall"
                    else summary["segments"][name]["retention"])
        expected = segs[name].retention
        if set(measured) != set(expected):
            out[f"{name} retention months {sorted(measured)} ≠ {sorted(expected)}"] = math.inf
        for month in set(measured) & set(expected):
            k = round(int(month) * model.steps_per_month)
            se = RiskTable.of(model.converted_step[conv], model.churn_step[conv],
                              model.steps).greenwood_se(k)
            out[f"{name} retention {month} mo"] = _z(measured[month], expected[month], se)
        if np.count_nonzero(conv) > 1:
            ltv = model.ltv[conv]
            out[f"{name} LTV"] = _z(ltv.mean(), segs[name].ltv_mean,
                                    ltv.std(ddof=1) / math.sqrt(ltv.size))
            tenure = model.tenure_months[conv]
            out[f"{name} tenure"] = _z(tenure.mean(), segs[name].tenure_months,
                                       tenure.std(ddof=1) / math.sqrt(tenure.size))
    return out


def worst(z: dict[str, float]) -> tuple[str, float]:
    """The label and value of the largest ``|z|`` (NaN counts as largest)."""
    label = max(z, key=lambda k: math.inf if math.isnan(z[k]) else abs(z[k]))
    return label, z[label]


def chain_check(name: str, z: dict[str, float]) -> Check:
    """The analytic check of one run: the worst ``|z|`` of :func:`chain_z_scores`.

    Args:
        name: The check's name (scenario · policy · step).
        z: The run's z-scores.

    Returns:
        A check held to :data:`K` SE.
    """
    label, value = worst(z)
    detail = f"worst of {len(z)} comparisons: {label}, z = {value:+.2f}"
    return make_check(name, "analytic", abs(value), K, "SE", detail)


def closed_form_check(step: str) -> Check:
    """The constant-retention closed form ``m·r/(1 + d − r)`` against ``clv_infinite``.

    ``r`` is the per-step retention, ``m`` the margin per step and ``d`` the per-step
    discount rate of ``scenarios/constant_churn.toml``, read from the scenario.

    Args:
        step: ``"month"`` or ``"week"``.

    Returns:
        A check of the relative difference, held to :data:`CLOSED_FORM_RTOL`.
    """
    scenario = load_scenario("constant_churn", overrides={"time.step": step})
    seg_spec = scenario.segments[0]
    churn = _fixed(seg_spec.traits["churn_propensity"])
    revenue = _fixed(seg_spec.traits["revenue"])
    spm = scenario.time.steps_per_month
    r = (1.0 - churn) ** (1.0 / spm)
    m = scenario.economics.gross_margin * revenue / spm
    v = (1.0 + scenario.economics.annual_discount_rate) ** (-1.0 / (12.0 * spm))
    d = 1.0 / v - 1.0
    closed = m * r / (1.0 + d - r)
    chain = analytic.analyse(scenario, "none").segments[seg_spec.name].clv_infinite
    rel = abs(chain - closed) / abs(closed)
    detail = f"m·r/(1 + d − r) = {closed:,.6f}, chain clv_infinite = {chain:,.6f}"
    return make_check(f"closed form m·r/(1+d−r), {_step_label(step)}", "analytic", rel,
                      CLOSED_FORM_RTOL, "relative", detail)


def _fixed(dist) -> float:
    if dist.kind != "fixed":
        raise ValueError(f"expected a fixed trait, got {dist.kind}")
    return float(dist.params[0])


@dataclass
class _ChainRun:
    name: str
    policy: str
    model: EngagementModel
    result: analytic.AnalyticResult
    z: dict[str, float]


def _analytic_group(sizes: Sizes, figures: Path, emit: Callable[[Check], None]
                    ) -> tuple[list[Check], list[Path]]:
    checks, runs = [], []
    for i, (scenario, policy, step) in enumerate(CHAIN_RUNS):
        model = simulate_chain_run(scenario, policy, step, sizes.chain_customers,
                                   SEEDS["chain"] + i)
        result = analytic.analyse(model.spec, policy)
        z = chain_z_scores(model, result)
        name = f"{scenario} · {policy} · {_step_label(step)}"
        runs.append(_ChainRun(name, policy, model, result, z))
        checks.append(emit(chain_check(name, z)))
    for step in ("month", "week"):
        checks.append(emit(closed_form_check(step)))
    path = analytic_figure(runs, figures / "analytic.png")
    return checks, [path]


# ----------------------------------------------------------------------------------
# bass: diffusion against the recursion and the closed form


def bass_runs(
    p: float, q: float, step: str, customers: int, seeds: Iterable[int],
    months: int = BASS_MONTHS, network: str | dict = "mixed",
) -> np.ndarray:
    """Adopted share after every step, one row per seed (``scenarios/bass.toml``).

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


def recursion_z(runs: np.ndarray, p: float, q: float, step: str, customers: int,
                expected: np.ndarray | None = None) -> np.ndarray:
    """z-scores of the mean over runs against the discrete recursion, per step.

    One agent of the gap is forgiven (``|gap| − 1/n``, as ``tests/test_bass.py`` allows
    its ``RESOLUTION``): in the tail only a handful of prospects are left per run, the
    count is Poisson-like and skewed, and the normal approximation behind the
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
        A check held to :data:`K` SE.
    """
    parts = {step: float(np.max(np.abs(z))) for step, z in z_by_step.items()}
    detail = "max |z| over every step (one agent forgiven): " + ", ".join(
        f"{_step_label(s)} {v:.2f}" for s, v in parts.items())
    return make_check(f"recursion, p = {p:g}, q = {q:g}", "bass", max(parts.values()), K,
                      "SE", detail)


def closed_form_bass_check(p: float, q: float, weekly: np.ndarray, monthly: np.ndarray,
                           customers: int) -> Check:
    """Weekly simulation against the Bass closed form within the derived tolerance.

    The tolerance is the deterministic model error (largest ``|recursion − closed
    form|``: discretisation and the O(q²) imitation rate, :mod:`sim.theory.bass`) plus
    :data:`K` standard errors of the mean over runs plus one agent.

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
              f"{100 * dev['month'][0]:.2f} pp); tolerance = model error "
              f"{100 * model_error:.2f} pp + 4 SE {100 * K * se:.2f} pp + 1 agent")
    return make_check(f"closed form (weekly), p = {p:g}, q = {q:g}", "bass", deviation,
                      tolerance, "share", detail)


def spread_check(runs: dict[tuple[float, float, str], np.ndarray], customers: int) -> Check:
    """The spread over seeds against the linear-noise variance (:func:`bass_variance`).

    At each run family's widest step, ``(S − 1)·s²/V`` is chi-square with ``S − 1``
    degrees of freedom; the sum over families is turned into the equivalent normal
    z-score, so a wrong variance (hence wrong standard errors everywhere in this group)
    shows as a large ``|z|``.

    Args:
        runs: ``(p, q, step)`` → ``(seeds, steps + 1)`` adopted shares.
        customers: Agents per run.

    Returns:
        A check held to :data:`K` SE (equivalent normal).
    """
    statistic, dof = 0.0, 0
    for (p, q, step), family in runs.items():
        steps = family.shape[1] - 1
        var = bass_variance(p, q, steps, STEP_UNITS[step], customers)
        k = int(np.argmax(var))
        statistic += (family.shape[0] - 1) * family[:, k].var(ddof=1) / var[k]
        dof += family.shape[0] - 1
    z = _chi2_z(statistic, dof)
    detail = (f"Σ (S − 1)s²/V = {statistic:.1f} on {dof} degrees of freedom (expected "
              f"{dof}); equivalent z = {z:+.2f}")
    return make_check("seed spread = linear-noise variance", "bass", abs(z), K, "SE", detail)


def _chi2_z(statistic: float, dof: int) -> float:
    """The normal z-score with the same tail probability as a chi-square statistic."""
    if dof <= 0:
        return math.nan
    low = stats.chi2.cdf(statistic, dof)
    if low < 0.5:
        return float(stats.norm.ppf(low))
    return float(stats.norm.isf(stats.chi2.sf(statistic, dof)))


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


def sparse_runs(customers: int, seeds: int, p: float = PAIRS[0][0], q: float = PAIRS[0][1]
                ) -> SparseRuns:
    """Weekly runs on a fully mixed population and on :data:`SPARSE_NETWORK`.

    Args:
        customers: Agents per run.
        seeds: Runs per network (seeds ``SEEDS["sparse"] + i``).
        p: Bass innovation coefficient per month.
        q: Bass imitation coefficient per month.

    Returns:
        The runs.
    """
    ids = [SEEDS["sparse"] + i for i in range(seeds)]
    mixed = bass_runs(p, q, "week", customers, ids, SPARSE_MONTHS)
    sparse = bass_runs(p, q, "week", customers, ids, SPARSE_MONTHS, network=SPARSE_NETWORK)
    months = np.arange(mixed.shape[1]) / STEP_UNITS["week"]
    return SparseRuns(months, mixed, sparse)


def sparse_check(runs: SparseRuns) -> Check:
    """The sparse network lags the mixed curve in mid-diffusion by more than K SE.

    "Mid-diffusion" is every step where the mixed curve is between 40 % and 80 %; the
    SE of the gap combines the two curves' standard errors over seeds.

    Args:
        runs: :func:`sparse_runs`.

    Returns:
        A ``bound = "min"`` check: the smallest gap in SE must reach :data:`K`.
    """
    mixed, sparse = runs.mixed.mean(axis=0), runs.sparse.mean(axis=0)
    s = runs.mixed.shape[0]
    se = np.hypot(runs.mixed.std(axis=0, ddof=1), runs.sparse.std(axis=0, ddof=1)) / math.sqrt(s)
    middle = (mixed >= 0.4) & (mixed <= 0.8)
    gap = mixed - sparse
    if not middle.any():
        return make_check("sparse network lags mixed", "bass", math.nan, K, "SE",
                          "the mixed curve never reaches 40-80 %", bound="min")
    z = gap[middle] / se[middle]
    k = int(np.argmax(gap))
    detail = (f"degree 6, rewire 0.05: below the mixed curve by up to {100 * gap[k]:.1f} pp "
              f"(month {runs.months[k]:.1f}); smallest gap in mid-diffusion "
              f"{100 * gap[middle].min():.1f} pp")
    return make_check("sparse network lags mixed", "bass", float(z.min()), K, "SE", detail,
                      bound="min")


def _bass_group(sizes: Sizes, figures: Path, emit: Callable[[Check], None]
                ) -> tuple[list[Check], list[Path]]:
    checks = []
    runs: dict[tuple[float, float, str], np.ndarray] = {}
    zs: dict[tuple[float, float], dict[str, np.ndarray]] = {}
    for i, (p, q) in enumerate(PAIRS):
        seeds = [SEEDS["bass"] + 100 * i + s for s in range(sizes.bass_seeds)]
        zs[p, q] = {}
        for step in ("month", "week"):
            runs[p, q, step] = bass_runs(p, q, step, sizes.bass_customers, seeds)
            zs[p, q][step] = recursion_z(runs[p, q, step], p, q, step, sizes.bass_customers)
        checks.append(emit(recursion_check(p, q, zs[p, q])))
        checks.append(emit(closed_form_bass_check(p, q, runs[p, q, "week"],
                                                  runs[p, q, "month"], sizes.bass_customers)))
    checks.append(emit(spread_check(runs, sizes.bass_customers)))
    checks.append(emit(sparse_check(sparse_runs(sizes.sparse_customers, sizes.sparse_seeds))))
    paths = [
        bass_figure(figures / "bass.png", customers=sizes.figure_customers,
                    months=BASS_MONTHS, step="week", seed=SEEDS["bass_figure"]),
        bass_z_figure(zs, figures / "bass_recursion.png"),
    ]
    return checks, paths


# ----------------------------------------------------------------------------------
# calibration: sBG cohorts with known parameters


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


def make_cohorts(replicates: int) -> list[Cohort]:
    """Draw and fit ``replicates`` cohorts per ``(α, β, n)`` of :data:`COHORTS`.

    Args:
        replicates: Cohorts per parameter set (seeds ``SEEDS["cohort"] + 10·set + r``).

    Returns:
        The cohorts, parameter set by parameter set.
    """
    out = []
    for i, (alpha, beta, n) in enumerate(COHORTS):
        for r in range(replicates):
            seed = SEEDS["cohort"] + 10 * i + r
            alive = simulate_cohort(alpha, beta, n, HORIZON, np.random.default_rng(seed))
            out.append(Cohort(alpha, beta, seed, alive, fit_sbg(alive, FIT_PERIODS)))
    return out


def recovery_check(cohorts: Sequence[Cohort]) -> Check:
    """The fit recovers the generating (α, β): worst ``|z|`` over cohorts and parameters.

    Args:
        cohorts: :func:`make_cohorts`.

    Returns:
        A check held to :data:`K` SE (observed-information standard errors).
    """
    rows = []
    for c in cohorts:
        f = c.fit
        rows.append(((f.alpha - c.alpha) / f.alpha_se, "α", c, f.alpha))
        rows.append(((f.beta - c.beta) / f.beta_se, "β", c, f.beta))
    z, which, c, estimate = max(rows, key=lambda r: math.inf if math.isnan(r[0]) else abs(r[0]))
    detail = (f"{len(cohorts)} cohorts fitted on periods 0..{FIT_PERIODS}; worst: {c.label}, "
              f"{which} = {estimate:.3g}, z = {z:+.2f}")
    return make_check("fit recovers (α, β)", "calibration", abs(z), K, "SE", detail)


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
        A check held to :data:`K` SE of the fitted curve, periods 1..HORIZON.
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
    return make_check("forecast = generating S(t)", "calibration", abs(z), K, "SE", detail)


def se_calibration_check(replicates: int, seed: int = SEEDS["se"]) -> Check:
    """The fit's standard errors are calibrated: ``Σ z²`` over replicate cohorts.

    For each of α and β, ``Σ z²`` over ``replicates`` independent cohorts is chi-square
    with ``replicates`` degrees of freedom when the SEs are right; the larger
    equivalent normal ``|z|`` is reported (too small or too large SEs both fail).

    Args:
        replicates: Cohorts of :data:`SE_COHORT` to fit.
        seed: Seed of the generator all cohorts are drawn from.

    Returns:
        A check held to :data:`K` SE (equivalent normal).
    """
    alpha, beta, n, periods = SE_COHORT
    rng = np.random.default_rng(seed)
    z = []
    for _ in range(replicates):
        fit = fit_sbg(simulate_cohort(alpha, beta, n, periods, rng))
        z.append(((fit.alpha - alpha) / fit.alpha_se, (fit.beta - beta) / fit.beta_se))
    z = np.array(z)
    sums = (z**2).sum(axis=0)
    equiv = [_chi2_z(float(s), replicates) for s in sums]
    detail = (f"{replicates} cohorts (α = {alpha:g}, β = {beta:g}, n = {n:,}): mean z² = "
              f"{sums[0] / replicates:.2f} (α), {sums[1] / replicates:.2f} (β), expected 1")
    return make_check("standard errors calibrated", "calibration",
                      max(abs(e) for e in equiv), K, "SE", detail)


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


def _binomial_se(p: np.ndarray, n: int) -> np.ndarray:
    return np.sqrt(p * (1.0 - p) / n)


def _worst_z(cohorts: Sequence[Cohort], z_per_cohort: Sequence[np.ndarray]
             ) -> tuple[float, int, Cohort]:
    """The largest |z| over cohorts and periods 1..H: ``(z, period, cohort)``."""
    best = None
    for c, z in zip(cohorts, z_per_cohort, strict=True):
        t = int(np.argmax(np.abs(z[1:]))) + 1
        if best is None or abs(z[t]) > abs(best[0]):
            best = (float(z[t]), t, c)
    return best


def simulation_fit_check(cohorts: Sequence[Cohort], simulated: Sequence[np.ndarray]) -> Check:
    """The simulated segment follows the fitted ``S(t)`` within K binomial SE.

    Args:
        cohorts: :func:`make_cohorts`.
        simulated: :func:`simulate_segment` of each cohort.

    Returns:
        A check held to :data:`K` SE.
    """
    zs = []
    for c, alive in zip(cohorts, simulated, strict=True):
        curve = c.fit.survival(HORIZON)
        se = _binomial_se(curve, c.n)  # 0 at period 0 (everyone alive): skipped below
        zs.append((alive / c.n - curve) / np.where(se > 0, se, 1.0))
    z, t, c = _worst_z(cohorts, zs)
    detail = f"{len(cohorts)} simulated segments; worst: {c.label}, month {t}, z = {z:+.2f}"
    return make_check("simulation = fitted S(t)", "calibration", abs(z), K, "SE", detail)


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
        A check held to :data:`K` SE.
    """
    zs = []
    for c, alive in zip(cohorts, simulated, strict=True):
        curve = c.fit.survival(HORIZON)
        param = np.where(np.arange(HORIZON + 1) > FIT_PERIODS, c.fit.survival_se(HORIZON), 0.0)
        se = np.sqrt(2.0 * _binomial_se(curve, c.n) ** 2 + param**2)
        zs.append((alive - c.alive) / c.n / np.where(se > 0, se, 1.0))
    z, t, c = _worst_z(cohorts, zs)
    detail = (f"SE = √2 × binomial (+ forecast SE after period {FIT_PERIODS}); worst: "
              f"{c.label}, month {t}, z = {z:+.2f}")
    return make_check("simulation = cohort table", "calibration", abs(z), K, "SE", detail)


def _calibration_group(sizes: Sizes, figures: Path, emit: Callable[[Check], None]
                       ) -> tuple[list[Check], list[Path]]:
    cohorts = make_cohorts(sizes.cohort_replicates)
    simulated = [simulate_segment(c, SEEDS["cohort_sim"] + i) for i, c in enumerate(cohorts)]
    checks = [
        emit(recovery_check(cohorts)),
        emit(forecast_check(cohorts)),
        emit(se_calibration_check(sizes.se_replicates)),
        emit(simulation_fit_check(cohorts, simulated)),
        emit(simulation_table_check(cohorts, simulated)),
    ]
    first = {}
    for c, alive in zip(cohorts, simulated, strict=True):
        first.setdefault((c.alpha, c.beta), (c, alive))
    return checks, [calibration_figure(list(first.values()), figures / "calibration.png")]


# ----------------------------------------------------------------------------------
# known answers


def geometric_retention_check(step: str, customers: int, seed: int) -> Check:
    """Constant churn: the whole retention curve is ``(1 − p)^m``, step by step.

    Args:
        step: ``"month"`` or ``"week"`` (the rate is rescaled exactly).
        customers: Customers (all installed base).
        seed: The run's seed.

    Returns:
        A check held to :data:`K` binomial SE at every step.
    """
    model = simulate_chain_run("constant_churn", "none", step, customers, seed)
    churn = _fixed(model.spec.segments[0].traits["churn_propensity"])
    share, _ = retention_curve(model.converted_step, model.churn_step, model.steps)
    k = np.arange(share.size)
    expected = (1.0 - churn) ** (k / model.steps_per_month)
    se = _binomial_se(expected, model.n)
    gap = share - expected
    z = np.divide(gap, se, out=np.where(np.abs(gap) > 1e-12, np.inf, 0.0), where=se > 0)
    j = int(np.argmax(np.abs(z)))
    detail = (f"{model.n:,} customers, {share.size - 1} steps; worst: month "
              f"{j / model.steps_per_month:.1f}, z = {z[j]:+.2f}")
    return make_check(f"geometric retention, {_step_label(step)}", "known answers",
                      abs(float(z[j])), K, "SE", detail)


def discounted_value_check(customers: int, seed: int) -> Check:
    """Constant churn: mean LTV = ``Σ_k m·(r·v)^k`` over the horizon (monthly steps).

    Args:
        customers: Customers.
        seed: The run's seed.

    Returns:
        A check held to :data:`K` SE of the mean.
    """
    model = simulate_chain_run("constant_churn", "none", "month", customers, seed)
    spec = model.spec
    seg = spec.segments[0]
    r = 1.0 - _fixed(seg.traits["churn_propensity"])
    m = spec.economics.gross_margin * _fixed(seg.traits["revenue"])
    v = (1.0 + spec.economics.annual_discount_rate) ** (-1.0 / 12.0)
    expected = sum(m * (r * v) ** k for k in range(1, spec.time.months + 1))
    ltv = model.ltv
    z = _z(float(ltv.mean()), expected, float(ltv.std(ddof=1)) / math.sqrt(ltv.size))
    detail = f"mean LTV {ltv.mean():,.2f} vs Σ m(rv)^k = {expected:,.2f}, z = {z:+.2f}"
    return make_check("discounted value", "known answers", abs(z), K, "SE", detail)


def pure_advertising_check(customers: int, seed: int, p: float = 0.05) -> Check:
    """Without word of mouth adoption is ``F(t) = 1 − e^{−pt}`` (monthly steps).

    Args:
        customers: Agents.
        seed: The run's seed.
        p: Advertising rate per month.

    Returns:
        A check held to :data:`K` binomial SE at every month.
    """
    months = 24
    shares = simulate_adoption(p, 0.5, customers=customers, months=months, step="month",
                               network="none", seed=seed)
    expected = -np.expm1(-p * np.arange(months + 1))
    se = _binomial_se(expected, customers)
    gap = shares - expected
    z = np.divide(gap, se, out=np.where(np.abs(gap) > 1e-12, np.inf, 0.0), where=se > 0)
    j = int(np.argmax(np.abs(z)))
    detail = f"network none, p = {p:g}: worst month {j}, z = {z[j]:+.2f}"
    return make_check("pure advertising 1 − e^(−pt)", "known answers", abs(float(z[j])), K,
                      "SE", detail)


def competing_exits_check(draws: int, seed: int, p1: float = 0.3, p2: float = 0.2) -> Check:
    """Competing exits (:func:`sim.engine.lifecycle.choose_exits`) match competing risks.

    Two edges with monthly probabilities ``p1`` and ``p2`` are left with probability
    ``1 − (1 − p1)(1 − p2)``, shared in proportion to their rates.

    Args:
        draws: Customers drawn.
        seed: Seed of the uniforms.
        p1: Probability of the first edge alone.
        p2: Probability of the second edge alone.

    Returns:
        A check held to :data:`K` binomial SE.
    """
    u = np.random.default_rng(seed).random(draws)
    rates = [-math.log1p(-p1), -math.log1p(-p2)]
    choice, _ = choose_exits(rates, draws, 1.0, u)
    leave = 1.0 - (1.0 - p1) * (1.0 - p2)
    shares = {"leave": leave, "edge 1": rates[0] / sum(rates) * leave,
              "edge 2": rates[1] / sum(rates) * leave}
    observed = {"leave": np.mean(choice >= 0), "edge 1": np.mean(choice == 0),
                "edge 2": np.mean(choice == 1)}
    z = {k: _z(float(observed[k]), v, float(_binomial_se(v, draws))) for k, v in shares.items()}
    label, value = worst(z)
    detail = f"{draws:,} draws, p = {p1:g} and {p2:g}: worst {label}, z = {value:+.2f}"
    return make_check("competing risks", "known answers", abs(value), K, "SE", detail)


def logit_linear_check() -> Check:
    """An edge's probability is ``sigmoid(logit(base) + β·driver)`` exactly.

    Returns:
        A check of the largest absolute difference, held to 1e-12.
    """
    edge = Edge(source=0, target=1, base=0.1, drivers=(("engagement", 2.0),))
    rows = np.arange(5)
    drivers = {"engagement": np.array([0.0, 0.5, -0.5, 1.0, -1.0])}
    rate, _ = edge_rate(edge, rows, drivers, {}, None)
    p = -np.expm1(-np.asarray(rate))
    z = math.log(0.1 / 0.9) + 2.0 * drivers["engagement"]
    diff = float(np.max(np.abs(p - 1.0 / (1.0 + np.exp(-z)))))
    return make_check("logit-linear edge probability", "known answers", diff, 1e-12,
                      "probability", "base 0.1, engagement coefficient 2 at five values")


def _known_group(sizes: Sizes, figures: Path, emit: Callable[[Check], None]
                 ) -> tuple[list[Check], list[Path]]:
    seed = SEEDS["known"]
    n = sizes.known_customers
    checks = [
        emit(geometric_retention_check("month", n, seed)),
        emit(geometric_retention_check("week", n, seed + 1)),
        emit(discounted_value_check(n, seed + 2)),
        emit(pure_advertising_check(n, seed + 3)),
        emit(competing_exits_check(sizes.exit_draws, seed + 4)),
        emit(logit_linear_check()),
    ]
    return checks, []


# ----------------------------------------------------------------------------------
# figures


def _new_figure(nrows: int, ncols: int, size: tuple[float, float]):
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _band(ax, label: str = f"±{K:g} SE") -> None:
    ax.axhspan(-K, K, color="0.85", alpha=0.6, linewidth=0, label=label)
    ax.axhline(0.0, color="0.4", linewidth=1)


def analytic_figure(runs: Sequence[_ChainRun], path: Path) -> Path:
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


def _sim_vs_theory(theory: str) -> list[Line2D]:
    return [
        Line2D([], [], color="0.3", label=theory),
        Line2D([], [], color="0.3", marker="o", linestyle="none", markerfacecolor="none",
               label="simulated"),
    ]


def bass_z_figure(zs: dict[tuple[float, float], dict[str, np.ndarray]], path: Path) -> Path:
    """z-scores of the mean simulated diffusion against the recursion, step by step.

    Args:
        zs: ``(p, q)`` → ``{"month": z, "week": z}`` (:func:`recursion_z`).
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
            ax.set(title=f"{_step_label(step).capitalize()} steps", xlabel="time (months)",
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


# ----------------------------------------------------------------------------------
# the report

EXPLANATIONS = {
    "analytic": (
        "Analytic cross-check",
        "When a customer's chance of moving between lifecycle stages depends only on its "
        "segment and stage, each segment is a Markov chain, and everything the simulation "
        "reports has an exact expectation (`sim/analytic.py`): customers per stage, "
        "Kaplan–Meier retention, mean LTV and tenure. `scenarios/markov_saas.toml` is "
        "built to be such a chain under all four policies, and `constant_churn.toml` is "
        "the simplest one. Each run is compared with the chain on every such quantity "
        "(per segment and overall), each difference divided by its standard error "
        "(binomial for stage counts, Greenwood for retention, the sample SE for means); "
        "the check reports the worst |z|. The chain's infinite-horizon value is also "
        "checked against the textbook closed form m·r/(1 + d − r) for a constant "
        "retention r. They agree because the chain uses the very same per-step hazards "
        "(`sim.engine.lifecycle.edge_rate`) and competing-risk rule as the simulation; a wrong "
        "transition, response or bookkeeping in either would show as many-SE deviations.",
    ),
    "bass": (
        "Bass diffusion",
        "`scenarios/bass.toml` holds the Bass (1969) adoption model as data: advertising "
        "p and word of mouth q on a fully mixed population. Given the adopted share, the "
        "next step's adopters are binomial, so the mean over runs follows an exact "
        "discrete recursion and its spread a linear-noise variance (`sim/bass.py`); the "
        "simulation is compared with the recursion at every step in those standard "
        "errors, and the spread over seeds with the variance itself (which validates the "
        "standard errors). The recursion differs from the continuous Bass closed form "
        "only by a known, deterministic model error (step length and the O(q²) "
        "convexity of the imitation rate), so the weekly simulation must lie within that "
        "error plus 4 SE of the closed form. On a sparse small-world network prospects "
        "hear fewer adopters than the population share, so the curve must fall "
        "clearly below the mixed one in mid-diffusion.",
    ),
    "calibration": (
        "Calibration to cohort tables",
        "Cohort tables are drawn from the shifted-beta-geometric model with known "
        "(α, β) (each customer churns with its own probability θ ~ Beta(α, β)), and "
        "`sim.theory.sbg.fit_sbg` is fitted to the first "
        f"{FIT_PERIODS} periods. Maximum likelihood must recover (α, β) within 4 of its "
        "own standard errors, the fitted and forecast survival must match the generating "
        "S(t) within 4 delta-method SE, and, over many replicate cohorts, the z-scores "
        "must have unit variance (so the SEs are honest). Finally the fitted Beta churn "
        "propensity is put into `constant_churn.toml` (`scenario_overrides`) and "
        "simulated: the simulated segment must follow the fitted S(t) within 4 binomial "
        "SE, and reproduce the original table within 4·√2 binomial SE (two independent "
        "draws around the same curve; beyond the fitted periods the forecast's own SE is "
        "added).",
    ),
    "known answers": (
        "Known answers",
        "Toy cases whose answer is arithmetic: with a constant monthly churn p the "
        "retention curve is (1 − p)^m at every step, monthly and weekly (the rate is "
        "rescaled exactly), and the mean discounted LTV is Σ m·(r·v)^k; without word of "
        "mouth, adoption is pure advertising, 1 − e^(−pt); two competing exits with "
        "probabilities p1 and p2 are left with probability 1 − (1 − p1)(1 − p2), shared in "
        "proportion to their rates; and an edge's probability is logit-linear in its "
        "drivers. Each is held to 4 binomial or sample SE (the last, deterministic, to "
        "rounding).",
    ),
}

FIGURE_CAPTIONS = {
    "analytic.png": "Simulated (circles, points) against the exact Markov-chain "
                    "expectations (lines): (a) retention per policy, (b) customers per stage "
                    "under the hybrid policy, (c) mean LTV difference with ±4 SE, (d) every "
                    "comparison of every run as a z-score, with the ±4 SE band.",
    "bass.png": "Bass diffusion (`sim.theory.bass.bass_figure`): (a) simulated adoption on the "
                "closed form, (b) the difference and its expected value, (c) mixed vs "
                "small-world networks, (d) why they differ.",
    "bass_recursion.png": "Mean of the runs against the exact discrete recursion at every "
                          "step, in standard errors, with the ±4 SE band.",
    "calibration.png": "Synthetic cohorts (circles), the sBG fit on the first "
                       f"{FIT_PERIODS} periods (line) and its forecast (dashed) with ±2 SE, "
                       "the generating curve (dotted) and the simulated segment with the "
                       "fitted Beta churn (squares).",
}


def render(checks: Sequence[Check], figures: Sequence[Path], *, fast: bool, sizes: Sizes,
           seconds: dict[str, float], report_dir: Path) -> str:
    """The text of ``report.md``.

    Args:
        checks: Every check.
        figures: Figures written (linked relative to ``report_dir``).
        fast: Whether the fast sizes were used.
        sizes: The sizes used.
        seconds: Wall-clock seconds per group.
        report_dir: Folder of the report.

    Returns:
        Markdown, starting with the verdict line.
    """
    lines = [f"# {verdict(checks)}", ""]
    lines += [
        f"engagesim validation ({'fast' if fast else 'full'} mode): every simulation "
        "check against theory, with tolerances derived from standard errors (4 SE "
        "unless stated).",
        "",
        "| check | group | measured deviation | tolerance | result |",
        "|---|---|---|---|---|",
    ]
    for c in checks:
        result = "pass" if c.passed else "**FAIL**"
        lines.append(f"| {c.name} | {c.group} | {c.measured_text()} | {c.tolerance_text()} | "
                     f"{result} |")
    by_name = {p.name: p for p in figures}
    group_figures = {"analytic": ["analytic.png"], "bass": ["bass.png", "bass_recursion.png"],
                     "calibration": ["calibration.png"], "known answers": []}
    for group in GROUPS:
        mine = [c for c in checks if c.group == group]
        if not mine:
            continue
        title, text = EXPLANATIONS[group]
        lines += ["", f"## {title}", "", text, ""]
        for c in mine:
            mark = "pass" if c.passed else "FAIL"
            lines.append(f"- **{c.name}** ({mark}, {c.measured_text()} "
                         f"{c.tolerance_text()}): {c.detail}")
        for name in group_figures[group]:
            if name in by_name:
                rel = os.path.relpath(by_name[name], report_dir).replace(os.sep, "/")
                lines += ["", f"![{name}]({rel})", "", f"*{FIGURE_CAPTIONS[name]}*"]
    lines += ["", *_method(sizes, fast, seconds)]
    return "\n".join(lines) + "\n"


def _method(sizes: Sizes, fast: bool, seconds: dict[str, float]) -> list[str]:
    lines = [
        "## Method",
        "",
        f"- Mode: {'fast (`--fast`, CI)' if fast else 'full'}; tolerance K = {K:g} standard "
        f"errors; closed forms to a relative {CLOSED_FORM_RTOL:g}.",
        "- Sizes: " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in asdict(sizes).items())
        + ".",
        "- Seeds (fixed): " + SEED_RULES,
        f"- Chain runs: {', '.join(' · '.join(r) for r in CHAIN_RUNS)}. Bass pairs "
        f"(p, q): {', '.join(f'({p:g}, {q:g})' for p, q in PAIRS)}, {BASS_MONTHS} months, "
        f"monthly and weekly; sparse network {SPARSE_NETWORK}, {SPARSE_MONTHS} months "
        f"weekly. Cohorts (α, β, n): {', '.join(str(c) for c in COHORTS)}, fitted on "
        f"periods 0..{FIT_PERIODS}, forecast to {HORIZON}.",
        "- No global random state: every run draws from its own seeded generator.",
        "- Runtime: " + ", ".join(f"{g} {s:.1f} s" for g, s in seconds.items()) + ".",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".",
    ]
    return lines


# ----------------------------------------------------------------------------------
# entry point

_GROUP_RUNNERS = {
    "analytic": _analytic_group,
    "bass": _bass_group,
    "calibration": _calibration_group,
    "known answers": _known_group,
}


def run_validation(
    out_dir: str | Path = "results/validation",
    *,
    fast: bool = False,
    progress: bool = True,
    groups: Sequence[str] | None = None,
    sizes: Sizes | None = None,
) -> ValidationResult:
    """Run every validation check and write ``out_dir/report.md`` and its figures.

    Args:
        out_dir: Folder of ``report.md``; figures go to ``out_dir/figures/``.
        fast: Use :data:`FAST` sizes (CI, under a minute) instead of :data:`FULL`.
        progress: Print one line per check on stderr.
        groups: Run only these groups of :data:`GROUPS` (default: all).
        sizes: Override the sizes (default: :data:`FAST` or :data:`FULL`).

    Returns:
        The checks, whether all passed, and the report's path.

    Raises:
        ValueError: ``groups`` names an unknown group.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    figures_dir = out / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    chosen = list(GROUPS if groups is None else groups)
    unknown = [g for g in chosen if g not in GROUPS]
    if unknown:
        raise ValueError(f"unknown validation group(s) {unknown}; choose from {GROUPS}")
    sizes = sizes or (FAST if fast else FULL)

    def emit(check: Check) -> Check:
        if progress:
            mark = "ok  " if check.passed else "FAIL"
            print(f"[validate] {mark} {check.group:<13} {check.name}: {check.measured_text()}"
                  f" ({check.tolerance_text()})", file=sys.stderr, flush=True)
        return check

    checks: list[Check] = []
    figures: list[Path] = []
    seconds: dict[str, float] = {}
    for group in GROUPS:
        if group not in chosen:
            continue
        t0 = time.perf_counter()
        group_checks, group_figures = _GROUP_RUNNERS[group](sizes, figures_dir, emit)
        checks += group_checks
        figures += group_figures
        seconds[group] = time.perf_counter() - t0
    text = render(checks, figures, fast=fast, sizes=sizes, seconds=seconds, report_dir=out)
    report = out / "report.md"
    atomic_write_bytes(report, text.encode())
    elapsed = time.perf_counter() - start
    if progress:
        print(f"[validate] {verdict(checks)} ({elapsed:.1f} s) → {report}", file=sys.stderr,
              flush=True)
    return ValidationResult(report=report, checks=checks, passed=all(c.passed for c in checks),
                            figures=figures, seconds=elapsed)
