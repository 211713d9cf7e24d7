"""Checks, verdicts and z-score helpers (sim/validation/checks.py)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from sim.validation.checks import (
    MAX_NAMED,
    K,
    binomial_se,
    chi2_z,
    fixed_trait,
    make_check,
    verdict,
    worst,
    z_score,
)


def test_make_check_and_verdict():
    ok = make_check("a", "bass", 3.9, K, "SE", "fine")
    bad = make_check("b", "bass", 4.1, K, "SE", "too far")
    nan = make_check("c", "analytic", float("nan"), K, "SE", "undefined")
    far = make_check("d", "bass", 12.0, K, "SE", "well apart", bound="min")
    near = make_check("e", "bass", 2.0, K, "SE", "too close", bound="min")
    assert ok.passed and not bad.passed and not nan.passed and far.passed and not near.passed
    assert ok.tolerance_text() == "≤ 4.00 SE" and far.tolerance_text() == "≥ 4.00 SE"
    assert make_check("f", "bass", 0.0123, 0.02, "share", "").measured_text() == "1.23 pp"
    assert verdict([ok, far]) == "All 2 checks passed"
    line = verdict([ok, bad, nan])
    assert line.startswith("2 of 3 checks FAILED: bass · b (4.10 SE, needs ≤ 4.00 SE)")
    assert "analytic · c (nan" in line
    with pytest.raises(ValueError, match="bound"):
        make_check("g", "bass", 1.0, K, "SE", "", bound="between")


def test_verdict_names_at_most_max_named_failures():
    failed = [make_check(f"c{i}", "bass", 9.0, K, "SE", "") for i in range(MAX_NAMED + 2)]
    line = verdict(failed)
    assert line.startswith(f"{MAX_NAMED + 2} of {MAX_NAMED + 2} checks FAILED")
    assert line.endswith(" and 2 more")
    assert f"c{MAX_NAMED - 1}" in line and f"c{MAX_NAMED}" not in line


def test_measured_text_of_other_units_and_infinities():
    rel = make_check("r", "analytic", 3e-12, 1e-9, "relative", "")
    assert rel.measured_text() == "3.0e-12 relative" and rel.passed
    assert make_check("i", "bass", math.inf, K, "SE", "").measured_text() == "∞"


def test_z_score_worst_and_binomial_se():
    assert z_score(12.0, 10.0, 0.5) == 4.0
    assert z_score(1.0, 1.0, 0.0) == 0.0
    assert z_score(1.1, 1.0, 0.0) == math.inf
    assert worst({"a": 1.0, "b": -3.0, "c": 2.0}) == ("b", -3.0)
    label, value = worst({"a": 100.0, "b": math.nan})
    assert label == "b" and math.isnan(value)
    assert binomial_se(0.5, 100) == pytest.approx(0.05)
    np.testing.assert_allclose(binomial_se(np.array([0.0, 0.5]), 4), [0.0, 0.25])


def test_chi2_z_is_the_equivalent_normal_score():
    dof = 50
    assert abs(chi2_z(stats.chi2.median(dof), dof)) < 1e-9
    high = stats.chi2.isf(stats.norm.sf(3.0), dof)
    low = stats.chi2.ppf(stats.norm.cdf(-3.0), dof)
    assert chi2_z(high, dof) == pytest.approx(3.0, rel=1e-6)
    assert chi2_z(low, dof) == pytest.approx(-3.0, rel=1e-6)
    assert math.isnan(chi2_z(1.0, 0))


def test_fixed_trait_reads_only_fixed_traits():
    def segment(kind, params):
        churn = SimpleNamespace(kind=kind, params=params)
        return SimpleNamespace(traits={"churn_propensity": churn})

    assert fixed_trait(segment("fixed", (0.05,)), "churn_propensity") == 0.05
    with pytest.raises(ValueError, match="fixed"):
        fixed_trait(segment("beta", (1.0, 2.0)), "churn_propensity")
