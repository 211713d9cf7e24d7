"""Validation: every check of the simulation against theory, in one report.

**Concept.** engagesim's claims rest on comparisons of real simulation runs with
answers known independently of the simulation code: the exact Markov-chain
expectations of :mod:`sim.theory.markov`, the Bass diffusion recursion and closed form of
:mod:`sim.theory.bass`, the shifted-beta-geometric cohort model of :mod:`sim.theory.sbg`, and
a few toy cases whose answer is arithmetic. :func:`run_validation` runs them all,
each with fixed seeds, and writes ``report.md`` (a verdict line, a pass/fail table, one
section per group with its figures, the method) and ``figures/*.png``.

This module only orchestrates: the sizes of a run (:data:`FAST`, :data:`FULL`), the
seeds (:data:`SEEDS`), the order of the groups (:data:`GROUPS`) and what each group
runs. The parts live in their own modules:

* :mod:`sim.validation.checks` — the :class:`~sim.validation.checks.Check` type, its
  verdict, the tolerance :data:`~sim.validation.checks.K` = 4 SE and the z-score
  helpers. Every tolerance is derived, never hand-picked: a simulated quantity is
  compared with its expectation in standard errors computed from the run itself or
  from the theory, and a check passes when the worst deviation is within K of them.
  With a few hundred comparisons in all, a correct model fails a 4-SE check by chance
  with probability of a few per cent at most; the seeds are fixed, so the outcome is
  reproducible. Deterministic identities (closed forms) use a relative tolerance at
  rounding level.
* ``analytic`` — :mod:`sim.validation.markov`: the runs of its ``CHAIN_RUNS`` against
  :func:`sim.theory.markov.analyse` (stage counts, Kaplan–Meier retention, mean LTV
  and tenure) and ``m·r/(1 + d − r)`` against the chain's ``clv_infinite``.
* ``bass`` — :mod:`sim.validation.diffusion`: the fully mixed diffusion against the
  exact discrete recursion at every step, weekly runs against the Bass closed form,
  the spread over seeds against the linear-noise variance, the step error of the
  recursion on a (p, q) grid (weekly within 2 pp; monthly stated), and a sparse
  small-world network below the mixed curve.
* ``calibration`` — :mod:`sim.validation.calibration`: synthetic sBG cohorts with known
  (α, β) fitted and forecast, the fit's standard errors, and a simulated segment with
  the fitted Beta churn propensity.
* ``known answers`` — :mod:`sim.validation.known_answers`: geometric retention,
  discounted value, pure advertising, competing risks and the logit-linear edge
  probability.
* :mod:`sim.validation.figures` draws every figure, :mod:`sim.validation.report`
  writes the prose of ``report.md``.

Typical use::

    from sim.validation.suite import run_validation

    result = run_validation("results/validation", fast=True)
    result.passed, result.verdict, result.report
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.files import atomic_write_bytes
from sim.theory.bass import PAIRS
from sim.validation import calibration, decision, diffusion, known_answers, markov
from sim.validation.checks import Check, verdict
from sim.validation.figures import (
    analytic_figure,
    bass_figure,
    bass_z_figure,
    calibration_figure,
)
from sim.validation.report import render

__all__ = [
    "FAST",
    "FULL",
    "GROUPS",
    "SEEDS",
    "Sizes",
    "ValidationResult",
    "run_validation",
]


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
    "decision": 7_000,
}
#: The seeding rules in words (the report's method section).
SEED_RULES = (
    f"chain run i (in the order below) {SEEDS['chain']} + i; Bass pair j, run i "
    f"{SEEDS['bass']} + 100·j + i (the same seeds monthly and weekly); sparse-network run i "
    f"{SEEDS['sparse']} + i (the same seeds for both networks); Bass figure "
    f"{SEEDS['bass_figure']}; cohort set j, replicate i {SEEDS['cohort']} + 10·j + i; "
    f"its simulated segment {SEEDS['cohort_sim']} + its index; standard-error replicates "
    f"one generator seeded {SEEDS['se']}; known answers {SEEDS['known']} + 0..4; decision "
    f"toy design root seed {SEEDS['decision']}, Ishigami design {SEEDS['decision']} + 1."
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
        figure_customers: Agents per run of :func:`sim.validation.figures.bass_figure`.
        cohort_replicates: Synthetic cohorts per ``(α, β)`` of
            :data:`sim.validation.calibration.COHORTS`.
        se_replicates: Cohorts fitted in the standard-error calibration check.
        known_customers: Customers per constant-churn run of the known answers.
        exit_draws: Draws in the competing-risks check.
        decide_customers: Customers per run of the decision toy.
        decide_replications: Runs per policy and sample of the decision toy.
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
    decide_customers: int
    decide_replications: int


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
    decide_customers=1_000,
    decide_replications=2,
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
    decide_customers=5_000,
    decide_replications=3,
)



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


# ----------------------------------------------------------------------------------
# the groups: what each runs, with which sizes and seeds

#: A group runner: ``(sizes, figures folder, emit) → (checks, figures written)``.
GroupRunner = Callable[[Sizes, Path, Callable[[Check], Check]], tuple[list[Check], list[Path]]]


def _analytic_group(sizes: Sizes, figures: Path, emit: Callable[[Check], Check]
                    ) -> tuple[list[Check], list[Path]]:
    checks, runs = [], []
    for i, (scenario, policy, step) in enumerate(markov.CHAIN_RUNS):
        model = markov.simulate_chain_run(scenario, policy, step, sizes.chain_customers,
                                          SEEDS["chain"] + i)
        run = markov.compare_with_chain(model, policy)
        runs.append(run)
        checks.append(emit(markov.chain_check(run.name, run.z)))
    for step in ("month", "week"):
        checks.append(emit(markov.closed_form_check(step)))
    return checks, [analytic_figure(runs, figures / "analytic.png")]


def _bass_group(sizes: Sizes, figures: Path, emit: Callable[[Check], Check]
                ) -> tuple[list[Check], list[Path]]:
    n = sizes.bass_customers
    checks = []
    runs: dict[tuple[float, float, str], np.ndarray] = {}
    zs: dict[tuple[float, float], dict[str, np.ndarray]] = {}
    for i, (p, q) in enumerate(PAIRS):
        seeds = [SEEDS["bass"] + 100 * i + s for s in range(sizes.bass_seeds)]
        zs[p, q] = {}
        for step in ("month", "week"):
            runs[p, q, step] = diffusion.bass_runs(p, q, step, n, seeds)
            zs[p, q][step] = diffusion.recursion_z(runs[p, q, step], p, q, step, n)
        checks.append(emit(diffusion.recursion_check(p, q, zs[p, q])))
        checks.append(emit(diffusion.closed_form_bass_check(
            p, q, runs[p, q, "week"], runs[p, q, "month"], n)))
    checks.append(emit(diffusion.spread_check(runs, n)))
    checks.append(emit(diffusion.step_error_check()))
    sparse = diffusion.sparse_runs(sizes.sparse_customers,
                                   [SEEDS["sparse"] + i for i in range(sizes.sparse_seeds)])
    checks.append(emit(diffusion.sparse_check(sparse)))
    paths = [
        bass_figure(diffusion.figure_runs(customers=sizes.figure_customers,
                                          months=diffusion.BASS_MONTHS, step="week",
                                          seed=SEEDS["bass_figure"]),
                    figures / "bass.png"),
        bass_z_figure(zs, figures / "bass_recursion.png"),
    ]
    return checks, paths


def _calibration_group(sizes: Sizes, figures: Path, emit: Callable[[Check], Check]
                       ) -> tuple[list[Check], list[Path]]:
    cohorts = calibration.make_cohorts(sizes.cohort_replicates, SEEDS["cohort"])
    simulated = [calibration.simulate_segment(c, SEEDS["cohort_sim"] + i)
                 for i, c in enumerate(cohorts)]
    checks = [
        emit(calibration.recovery_check(cohorts)),
        emit(calibration.forecast_check(cohorts)),
        emit(calibration.se_calibration_check(sizes.se_replicates, SEEDS["se"])),
        emit(calibration.simulation_fit_check(cohorts, simulated)),
        emit(calibration.simulation_table_check(cohorts, simulated)),
        emit(calibration.simulated_calibration_check()),
    ]
    first = {}
    for c, alive in zip(cohorts, simulated, strict=True):
        first.setdefault((c.alpha, c.beta), (c, alive))
    return checks, [calibration_figure(list(first.values()), figures / "calibration.png")]


def _known_group(sizes: Sizes, figures: Path, emit: Callable[[Check], Check]
                 ) -> tuple[list[Check], list[Path]]:
    seed = SEEDS["known"]
    n = sizes.known_customers
    checks = [
        emit(known_answers.geometric_retention_check("month", n, seed)),
        emit(known_answers.geometric_retention_check("week", n, seed + 1)),
        emit(known_answers.discounted_value_check(n, seed + 2)),
        emit(known_answers.pure_advertising_check(n, seed + 3)),
        emit(known_answers.competing_exits_check(sizes.exit_draws, seed + 4)),
        emit(known_answers.logit_linear_check()),
    ]
    return checks, []


def _decision_group(sizes: Sizes, figures: Path, emit: Callable[[Check], Check]
                    ) -> tuple[list[Check], list[Path]]:
    seed = SEEDS["decision"]
    checks = [emit(c) for c in decision.toy_checks(sizes.decide_customers,
                                                   sizes.decide_replications, seed)]
    checks.append(emit(decision.ishigami_check(seed + 1)))
    return checks, []


#: Group name → its runner, in report order.
GROUP_RUNNERS: dict[str, GroupRunner] = {
    markov.GROUP: _analytic_group,
    diffusion.GROUP: _bass_group,
    calibration.GROUP: _calibration_group,
    known_answers.GROUP: _known_group,
    decision.GROUP: _decision_group,
}
#: Check groups, in report order.
GROUPS = tuple(GROUP_RUNNERS)


# ----------------------------------------------------------------------------------
# entry point


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
        group_checks, group_figures = GROUP_RUNNERS[group](sizes, figures_dir, emit)
        checks += group_checks
        figures += group_figures
        seconds[group] = time.perf_counter() - t0
    text = render(checks, figures, fast=fast, sizes=sizes, seconds=seconds, report_dir=out,
                  seed_rules=SEED_RULES)
    report = out / "report.md"
    atomic_write_bytes(report, text.encode())
    elapsed = time.perf_counter() - start
    if progress:
        print(f"[validate] {verdict(checks)} ({elapsed:.1f} s) → {report}", file=sys.stderr,
              flush=True)
    return ValidationResult(report=report, checks=checks, passed=all(c.passed for c in checks),
                            figures=figures, seconds=elapsed)
