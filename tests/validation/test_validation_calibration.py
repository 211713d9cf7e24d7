"""The calibration check group (sim/validation/calibration.py) catches a wrong truth."""

from __future__ import annotations

import dataclasses

from sim.validation.calibration import (
    make_cohorts,
    recovery_check,
    simulated_calibration_check,
)
from sim.validation.checks import K
from sim.validation.suite import SEEDS


def test_mislabelled_generating_parameters_fail_the_recovery_check():
    cohorts = make_cohorts(1, SEEDS["cohort"])
    assert recovery_check(cohorts).passed
    shifted = [dataclasses.replace(c, beta=c.beta * 1.25) for c in cohorts]
    check = recovery_check(shifted)
    assert not check.passed and check.measured > K


def test_calibration_through_the_simulation_reproduces_a_drawn_table():
    check = simulated_calibration_check()
    assert check.passed and 0 < check.measured <= K
    assert "Beta(1.5, 8)" in check.detail and "fresh seed" in check.detail

