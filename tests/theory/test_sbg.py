"""The shifted-beta-geometric model (sim.theory.sbg): survival, likelihood and its
derivatives, the maximum-likelihood fit and its standard errors.

The statistical claims about the fit (it recovers known parameters, forecasts the
generating curve, and its standard errors are honest) are the validation suite's
calibration checks; the tests here assert those checks' own verdicts at the suite's
--fast sizes and seeds.
"""

from __future__ import annotations

import numpy as np
import pytest
from cohort_cases import FH_HIGH_END, FH_REGULAR, K, binomial_se
from scipy import stats
from scipy.special import betaln

from sim import InputError
from sim.theory.sbg import fit_sbg, log_likelihood, loglik_hessian, retention_rate, survival
from sim.validation.calibration import (
    FIT_PERIODS,
    HORIZON,
    forecast_check,
    make_cohorts,
    recovery_check,
    se_calibration_check,
)
from sim.validation.suite import FAST, SEEDS

# ----------------------------------------------------------------------------------
# the model


def test_survival_is_the_beta_mixture_of_geometric_survival():
    a, b, h = 0.7, 3.0, 10
    s = survival(a, b, h)
    assert s[0] == 1.0
    for t in (1, 2, 5, 10):  # S(t) = E[(1 − θ)^t], θ ~ Beta(α, β)
        assert s[t] == pytest.approx(stats.beta(a, b).expect(lambda x, t=t: (1 - x) ** t))
    # P(T = t) = B(α + 1, β + t − 1) / B(α, β) = S(t − 1) − S(t)
    t = np.arange(1, h + 1)
    pmf = np.exp(betaln(a + 1, b + t - 1) - betaln(a, b))
    np.testing.assert_allclose(s[:-1] - s[1:], pmf, rtol=1e-12)
    np.testing.assert_allclose(retention_rate(a, b, h), s[1:] / s[:-1], rtol=1e-12)
    assert np.all(np.diff(retention_rate(a, b, h)) > 0)  # the riskiest leave first


def test_analytic_hessian_matches_finite_differences():
    alive = np.array(FH_REGULAR[:8])
    for point in [(0.704, 1.182), (2.0, 5.0)]:
        x0 = np.array(point)
        step = 1e-4 * x0

        def ll(shift: np.ndarray, x0=x0, step=step) -> float:
            return log_likelihood(*(x0 + shift * step), alive)

        num = np.empty((2, 2))
        for i, j in np.ndindex(2, 2):
            ei, ej = np.eye(2)[i], np.eye(2)[j]
            num[i, j] = (ll(ei + ej) - ll(ei - ej) - ll(ej - ei) + ll(-ei - ej)) / (
                4 * step[i] * step[j]
            )
        np.testing.assert_allclose(loglik_hessian(*x0, alive), num, rtol=1e-5)


def test_fit_is_the_maximum():
    alive = np.array(FH_HIGH_END[:8])
    fit = fit_sbg(alive)
    assert fit.converged and not fit.at_bound
    for da, db in [(1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3), (1e-3, 1e-3)]:
        other = log_likelihood(fit.alpha * (1 + da), fit.beta * (1 + db), alive)
        assert other < fit.log_likelihood
    # the covariance is the inverse observed information
    info = -loglik_hessian(fit.alpha, fit.beta, alive)
    np.testing.assert_allclose(fit.covariance @ info, np.eye(2), atol=1e-9)
    assert fit.alpha_se == pytest.approx(np.sqrt(fit.covariance[0, 0]))


# ----------------------------------------------------------------------------------
# the fit on known parameters


def test_fit_recovers_generating_parameters_and_forecasts():
    """The validation's recovery and forecast checks pass (its --fast cohorts)."""
    cohorts = make_cohorts(FAST.cohort_replicates, SEEDS["cohort"])
    for c in cohorts:
        assert c.fit.converged and not c.fit.at_bound and c.fit.warning() is None, c.label
    assert recovery_check(cohorts).passed
    assert forecast_check(cohorts).passed
    # beyond the validation: the forecast against the held-out observations
    # (binomial noise + parameter uncertainty)
    t = np.arange(FIT_PERIODS + 1, HORIZON + 1)
    for c in cohorts:
        forecast, se = c.fit.survival(HORIZON)[t], c.fit.survival_se(HORIZON)[t]
        truth = survival(c.alpha, c.beta, HORIZON)[t]
        total = np.sqrt(binomial_se(truth, c.n) ** 2 + se**2)
        assert np.all(np.abs(forecast - c.alive[t] / c.n) < K * total), c.label


def test_standard_errors_are_calibrated():
    """Across replicate cohorts the z-scores of α and β have unit variance (the
    validation's check at its --fast size)."""
    assert se_calibration_check(FAST.se_replicates, SEEDS["se"]).passed


# ----------------------------------------------------------------------------------
# bad input and degenerate cohorts


@pytest.mark.parametrize(
    ("alive", "fit_periods", "key", "expected"),
    [
        ([100, 80], None, "alive", "only 2 period(s)"),
        ([100, 80, 85], None, "alive", "alive increases from 80 to 85"),
        ([100, 80.5, 70], None, "alive", "whole numbers"),
        ([100, 80, -1], None, "alive", "alive must be ≥ 0"),
        ([0, 0, 0], None, "alive", "cohort size"),
        ([100, 100, 100, 90], 2, "alive", "nobody churned in periods 0..2"),
        ([100, 80, 70], 3, "fit_periods", "from 2 to 2"),
        ([100, 80, 70], 1, "fit_periods", "got 1"),
    ],
)
def test_fit_sbg_validates_arrays(alive, fit_periods, key, expected):
    with pytest.raises(InputError) as info:
        fit_sbg(np.array(alive), fit_periods)
    assert info.value.key == key and expected in str(info.value), str(info.value)


def test_degenerate_cohorts_fit_with_a_warning():
    homogeneous = fit_sbg(np.array([1000, 500, 250, 125, 62]))  # no heterogeneity at all
    assert homogeneous.warning() is not None
    assert homogeneous.mean_churn == pytest.approx(0.5, abs=0.01)
    never = fit_sbg(np.array([100, 60, 60, 60, 60]))  # 40 % leave, the rest never do
    assert never.at_bound and np.isnan(never.alpha_se)
    assert "never to churn" in never.warning()
