"""The validation report: ``report.md``, its prose and its tables.

**Concept.** :func:`render` turns the checks of a validation run into Markdown that
reads from the top: the verdict line (:func:`sim.validation.checks.verdict`), a
pass/fail table of every check, one section per check group (what is compared and why
it must agree, :data:`EXPLANATIONS`, each check's detail line, the group's figures
with :data:`FIGURE_CAPTIONS`), and the method (mode, tolerance, sizes, seeds, runs,
runtime, versions). It writes nothing; :func:`sim.validation.suite.run_validation`
writes the text.

Typical use::

    from sim.validation.report import render

    text = render(checks, figures, fast=True, sizes=FAST, seconds={"bass": 12.0},
                  report_dir=Path("results/validation"), seed_rules=SEED_RULES)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sim.sweep.store import versions
from sim.theory.bass import PAIRS
from sim.validation.calibration import COHORTS, FIT_PERIODS, HORIZON
from sim.validation.checks import CLOSED_FORM_RTOL, Check, K, verdict
from sim.validation.diffusion import BASS_MONTHS, SPARSE_MONTHS, SPARSE_NETWORK
from sim.validation.markov import CHAIN_RUNS

#: Check group → (section title, what is compared and why it must agree).
EXPLANATIONS = {
    "analytic": (
        "Analytic cross-check",
        "When a customer's chance of moving between lifecycle stages depends only on its "
        "segment and stage, each segment is a Markov chain, and everything the simulation "
        "reports has an exact expectation (`sim/theory/markov.py`): customers per stage, "
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
        "p and word of mouth q (an additive rate: the hazard is p + q·F) on a fully mixed "
        "population. Given the adopted shares so far, the "
        "next step's adopters are binomial, so the mean over runs follows an exact "
        "discrete recursion and its spread a linear-noise variance (`sim/theory/bass.py`); the "
        "simulation is compared with the recursion at every step in those standard "
        "errors, and the spread over seeds with the variance itself (which validates the "
        "standard errors). The recursion differs from the continuous Bass closed form "
        "only by a known, deterministic step error, ∝ step² (each step takes the pressure "
        "predicted for its middle): on a grid of p = 0.005–0.05 and q = 0.1–0.6 it must "
        "stay within 2 percentage points for weekly steps, and the monthly error is "
        "stated; the weekly simulation must lie within its pair's step error plus 4 SE "
        "of the closed form. On a sparse small-world network prospects "
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
    "decision": (
        "Decisions under uncertainty",
        "`engagesim decide` on the churn-nudge toy (scenarios/churn_nudge.toml): constant "
        "churn, a nudge at a known cost whose effect on the churn odds is uniform on a "
        "range, so the break-even effect, the probability the nudge is best and the "
        "expected value of perfect information have closed forms (sim.theory.nudge). The "
        "decide design and analysis must recover the break-even within 4 bootstrap SE, the "
        "probability within 4 binomial SE, the EVPI within 5 %, and give an assumption "
        "that cannot matter an EVPPI below 1 % of the EVPI. The Sobol' indices of the "
        "Ishigami function, through the saltelli design and the same estimator, must lie "
        "within 4 bootstrap SE of their analytic values.",
    ),
}

#: Figure file name → its caption under the figure.
FIGURE_CAPTIONS = {
    "analytic.png": "Simulated (circles, points) against the exact Markov-chain "
                    "expectations (lines): (a) retention per policy, (b) customers per stage "
                    "under the hybrid policy, (c) mean LTV difference with ±4 SE, (d) every "
                    "comparison of every run as a z-score, with the ±4 SE band.",
    "bass.png": "Bass diffusion (`sim.validation.figures.bass_figure`): (a) simulated "
                "adoption on the closed form, (b) the difference and its expected value, "
                "(c) mixed vs small-world networks, (d) why they differ.",
    "bass_recursion.png": "Mean of the runs against the exact discrete recursion at every "
                          "step, in standard errors, with the ±4 SE band.",
    "calibration.png": "Synthetic cohorts (circles), the sBG fit on the first "
                       f"{FIT_PERIODS} periods (line) and its forecast (dashed) with ±2 SE, "
                       "the generating curve (dotted) and the simulated segment with the "
                       "fitted Beta churn (squares).",
}
#: Check group → the figures drawn in its section, in order.
GROUP_FIGURES = {
    "analytic": ["analytic.png"],
    "bass": ["bass.png", "bass_recursion.png"],
    "calibration": ["calibration.png"],
    "known answers": [],
    "decision": [],
}


def render(checks: Sequence[Check], figures: Sequence[Path], *, fast: bool, sizes: Any,
           seconds: dict[str, float], report_dir: Path, seed_rules: str) -> str:
    """The text of ``report.md``.

    Args:
        checks: Every check, group by group (sections follow the groups' order here).
        figures: Figures written (linked relative to ``report_dir``).
        fast: Whether the fast sizes were used.
        sizes: The sizes used (a dataclass, :class:`sim.validation.suite.Sizes`).
        seconds: Wall-clock seconds per group.
        report_dir: Folder of the report.
        seed_rules: How every run's seed is chosen (one line of prose).

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
    for group in dict.fromkeys(c.group for c in checks):
        mine = [c for c in checks if c.group == group]
        title, text = EXPLANATIONS[group]
        lines += ["", f"## {title}", "", text, ""]
        for c in mine:
            mark = "pass" if c.passed else "FAIL"
            lines.append(f"- **{c.name}** ({mark}, {c.measured_text()} "
                         f"{c.tolerance_text()}): {c.detail}")
        for name in GROUP_FIGURES[group]:
            if name in by_name:
                rel = os.path.relpath(by_name[name], report_dir).replace(os.sep, "/")
                lines += ["", f"![{name}]({rel})", "", f"*{FIGURE_CAPTIONS[name]}*"]
    lines += ["", *_method(sizes, fast, seconds, seed_rules)]
    return "\n".join(lines) + "\n"


def _method(sizes: Any, fast: bool, seconds: dict[str, float], seed_rules: str) -> list[str]:
    """The report's closing ``## Method`` section, line by line."""
    return [
        "## Method",
        "",
        f"- Mode: {'fast (`--fast`, CI)' if fast else 'full'}; tolerance K = {K:g} standard "
        f"errors; closed forms to a relative {CLOSED_FORM_RTOL:g}.",
        "- Sizes: " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in asdict(sizes).items())
        + ".",
        "- Seeds (fixed): " + seed_rules,
        f"- Chain runs: {', '.join(' · '.join(r) for r in CHAIN_RUNS)}. Bass pairs "
        f"(p, q): {', '.join(f'({p:g}, {q:g})' for p, q in PAIRS)}, {BASS_MONTHS} months, "
        f"monthly and weekly; sparse network {SPARSE_NETWORK}, {SPARSE_MONTHS} months "
        f"weekly. Cohorts (α, β, n): {', '.join(str(c) for c in COHORTS)}, fitted on "
        f"periods 0..{FIT_PERIODS}, forecast to {HORIZON}.",
        "- No global random state: every run draws from its own seeded generator.",
        "- Runtime: " + ", ".join(f"{g} {s:.1f} s" for g, s in seconds.items()) + ".",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".",
    ]
