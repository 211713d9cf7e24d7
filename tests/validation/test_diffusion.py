"""The Bass check group (sim/validation/diffusion.py): its runs, and a wrong theory is caught."""

from __future__ import annotations

import numpy as np
import pytest

from sim import EngagementModel, load_scenario
from sim.theory.bass import PAIRS, bass_discrete
from sim.validation.checks import K, verdict
from sim.validation.diffusion import (
    bass_runs,
    recursion_check,
    recursion_z,
    simulate_adoption,
    simulate_diffusion,
)


def test_brief_overrides_and_simulate_adoption_agree_with_a_plain_run():
    p, q = 0.03, 0.38
    overrides = {
        "marketing.awareness_rate": p,
        "lifecycle.edges[0].referral": q,
        "time.step": "week",
        "time.months": 12,
        "population.customers": 4000,
    }
    model = EngagementModel(load_scenario("bass", overrides=overrides), "none", rng=3).run()
    ts = model.timeseries()
    per_step = np.concatenate([[0.0], ts["adopter"].to_numpy() / model.n])
    run = simulate_diffusion(p, q, customers=4000, months=12, step="week", seed=3, mapped=False)
    assert np.array_equal(run.adopted, per_step)
    assert np.allclose(run.months[1:], ts["month"])
    monthly = simulate_adoption(p, q, customers=4000, months=12, step="week", seed=3,
                                mapped=False)
    assert monthly.shape == (13,)
    assert monthly[[0, 3, 6, 9, 12]] == pytest.approx(per_step[[0, 13, 26, 39, 52]])


def test_a_wrong_theory_curve_fails_the_bass_recursion_check():
    p, q = PAIRS[0]
    customers, steps = 20_000, 36
    runs = bass_runs(p, q, "month", customers, seeds=range(3))
    right = recursion_check(p, q, {"month": recursion_z(runs, p, q, "month", customers)})
    assert right.passed, right
    # the closed form is not what the monthly simulation follows
    wrong_curve = bass_discrete(p, q * 1.05, steps)
    wrong = recursion_check(p, q, {"month": recursion_z(runs, p, q, "month", customers,
                                                        expected=wrong_curve)})
    assert not wrong.passed and wrong.measured > K
    assert verdict([right, wrong]).startswith("1 of 2 checks FAILED: bass · recursion")
    # the engine takes the pressure predicted for mid-step: the start-of-step recursion
    # (first order, what the engine did before) is rejected too
    start_curve = bass_discrete(p, q, steps, scheme="start")
    start = recursion_check(p, q, {"month": recursion_z(runs, p, q, "month", customers,
                                                        expected=start_curve)})
    assert not start.passed and start.measured > K
