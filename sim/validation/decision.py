"""Decision checks: ``engagesim decide``'s analysis against answers known in closed form.

* **The churn-nudge toy** (:mod:`sim.theory.nudge`): the decide design (the sweep runner
  on the toy's uncertainties) and the decision analysis must recover the break-even
  ``β*`` (within :data:`~sim.validation.checks.K` bootstrap SE), the probability the
  nudge is best (within K binomial SE), the EVPI (within :data:`EVPI_RTOL` of the closed
  form), and give an assumption that cannot matter an EVPPI ≈ 0.
* **Ishigami** (``a = 7, b = 0.1``, inputs uniform on ``[−π, π]``): first-order and total
  indices through the saltelli design of :class:`sim.sweep.design.Experiment` and
  :func:`sim.analysis.sensitivity.saltelli_indices`, within K bootstrap SE of the
  analytic values.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile

import numpy as np

from sim.analysis.decision import (
    COMPANY,
    break_even,
    choice,
    evpi,
    sampled_values,
    scope_values,
)
from sim.analysis.sensitivity import evppi, saltelli_indices
from sim.engine.scenario import load_scenario
from sim.sweep.design import DECIDE_SAMPLES, Factor, decision_experiment, experiment_from_dict
from sim.sweep.runner import sweep
from sim.sweep.store import ResultStore
from sim.theory.nudge import EFFECT_PATH, NUDGE, NudgeToy, nudge_answer
from sim.validation.checks import Check, K, make_check, z_score

GROUP = "decision"
EVPI_RTOL = 0.05
"""Relative tolerance of the EVPI (the issue's 5 %)."""
CONTROL_SHARE = 0.01
"""Largest EVPPI of the control assumption, as a share of the EVPI."""
CONTROL_PATH = "marketing.cost_per_prospect_month"
ISHIGAMI_FIRST = (0.3139, 0.4424, 0.0)
ISHIGAMI_TOTAL = (0.5576, 0.4424, 0.2437)
ISHIGAMI_SAMPLES = 1024


def toy_checks(customers: int, replications: int, seed: int, jobs: int = 1) -> list[Check]:
    """Run decide's design on the churn-nudge toy and compare with the closed forms.

    Args:
        customers: Customers each run simulates (a sample of the toy's company).
        replications: Runs per policy and sample.
        seed: Root seed of the design.
        jobs: Worker processes.

    Returns:
        Four checks: break-even, probability best, EVPI, the control's EVPPI.
    """
    scenario = load_scenario("churn_nudge")
    truth = nudge_answer(NudgeToy.of(scenario))
    experiment = decision_experiment(scenario, samples=DECIDE_SAMPLES,
                                     replications=replications, agents=customers, seed=seed)
    with tempfile.TemporaryDirectory(prefix="engagesim-decide-") as folder:
        sweep(experiment, folder, jobs=jobs, progress=False)
        runs = ResultStore(folder).read_runs()
    values = scope_values(runs, COMPANY, 1.0 / customers)   # per customer
    rng = np.random.default_rng(seed)
    beta, control_values = sampled_values(runs, values.points, [EFFECT_PATH, CONTROL_PATH]).T
    support = next(u for u in scenario.uncertainties if u.path == EFFECT_PATH).support()
    even = break_even(beta, values, EFFECT_PATH, NUDGE, "none", support, rng)
    se = (even.high - even.low) / (2 * 1.96)
    p_best = next(c.p_best for c in choice(values) if c.policy == NUDGE)
    p_se = math.sqrt(truth.p_nudge_best * (1 - truth.p_nudge_best) / DECIDE_SAMPLES)
    info = evpi(values, rng)
    control = evppi(control_values, values.values)
    return [
        make_check("toy break-even β*", GROUP, abs(z_score(even.value, truth.break_even, se)),
                   K, "SE", f"β* {even.value:.4f} (95 % CI {even.low:.4f} to {even.high:.4f}) "
                   f"vs closed form {truth.break_even:.4f}"),
        make_check("toy P(nudge best)", GROUP, abs(z_score(p_best, truth.p_nudge_best, p_se)),
                   K, "SE", f"{p_best:.3f} vs closed form {truth.p_nudge_best:.3f} "
                   f"({DECIDE_SAMPLES} samples)"),
        make_check("toy EVPI", GROUP, abs(info.value / truth.evpi - 1), EVPI_RTOL, "relative",
                   f"{info.value:.2f} per customer (noise bias {info.noise_bias:.2f} removed) "
                   f"vs closed form {truth.evpi:.2f}"),
        make_check("toy EVPPI of an assumption that cannot matter", GROUP,
                   control / truth.evpi, CONTROL_SHARE, "relative",
                   f"{control:.3f} per customer = {control / truth.evpi:.2%} of the EVPI"),
    ]


def ishigami(x: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    """The Ishigami function of rows ``(x1, x2, x3)``."""
    return (np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2
            + b * x[:, 2] ** 4 * np.sin(x[:, 0]))


def ishigami_check(seed: int) -> Check:
    """Saltelli indices of the Ishigami function against their analytic values.

    The points come from a real ``saltelli`` :class:`~sim.sweep.design.Experiment`
    (three factors uniform on ``[−π, π]``), so the design's block order is checked too.
    """
    base = experiment_from_dict({"customers": 1, "months": 1, "replications": 1,
                                 "seed": seed}, "ishigami")
    factors = tuple(Factor(f"x{i}", low=-math.pi, high=math.pi) for i in range(3))
    experiment = dataclasses.replace(base, factors=factors, design="saltelli",
                                     samples=ISHIGAMI_SAMPLES)
    unit = experiment.unit_points()
    x = -math.pi + 2 * math.pi * unit
    indices = saltelli_indices(ishigami(x), ISHIGAMI_SAMPLES, ["x1", "x2", "x3"], rng=seed)
    worst, where = 0.0, ""
    for index, first, total in zip(indices, ISHIGAMI_FIRST, ISHIGAMI_TOTAL, strict=True):
        for kind, value, low, high, known in (
                ("S1", index.first, index.first_low, index.first_high, first),
                ("ST", index.total, index.total_low, index.total_high, total)):
            z = abs(z_score(value, known, (high - low) / (2 * 1.96)))
            if not z <= worst:
                worst, where = z, f"{kind}({index.name}) {value:.3f} vs {known:.4f}"
    return make_check("Ishigami Sobol' indices", GROUP, worst, K, "SE",
                      f"worst: {where} (n = {ISHIGAMI_SAMPLES}, bootstrap SE)")
