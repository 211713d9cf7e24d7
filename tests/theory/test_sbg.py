"""The shifted-beta-geometric model (sim.theory.sbg): survival, likelihood and its
derivatives, the maximum-likelihood fit and its standard errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from cohort_cases import FH_HIGH_END, FH_REGULAR, K, binomial_se
from scipy import stats
from scipy.special import betaln

from sim import InputError
from sim.theory.calibration import simulate_cohort
from sim.theory.sbg import fit_sbg, log_likelihood, loglik_hessian, retention_rate, survival

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
# recovery of known parameters


@pytest.mark.parametrize(
    ("alpha", "beta", "n", "seed"),
    [(0.7, 1.2, 5000, 11), (0.7, 3.0, 10000, 12), (3.0, 12.0, 10000, 13), (2.0, 40.0, 20000, 14)],
)
def test_fit_recovers_generating_parameters_and_forecasts(alpha, beta, n, seed):
    fit_periods, horizon = 12, 24
    alive = simulate_cohort(alpha, beta, n, horizon, np.random.default_rng(seed))
    fit = fit_sbg(alive, fit_periods)
    assert fit.converged and not fit.at_bound and fit.warning() is None
    z = ((fit.alpha - alpha) / fit.alpha_se, (fit.beta - beta) / fit.beta_se)
    assert max(map(abs, z)) < K, z
    # forecast beyond the fitted periods: against the generating model, within the
    # parameter uncertainty (delta method) ...
    t = np.arange(fit_periods + 1, horizon + 1)
    forecast, se = fit.survival(horizon)[t], fit.survival_se(horizon)[t]
    truth = survival(alpha, beta, horizon)[t]
    assert np.all(np.abs(forecast - truth) < K * se), (forecast - truth) / se
    # ... and against the held-out observations (binomial noise + parameter uncertainty)
    observed = alive[t] / n
    total = np.sqrt(binomial_se(truth, n) ** 2 + se**2)
    assert np.all(np.abs(forecast - observed) < K * total)


def test_standard_errors_are_calibrated():
    """Across replicate cohorts the z-scores of α and β are close to standard normal."""
    alpha, beta, n = 0.7, 3.0, 5000
    rng = np.random.default_rng(99)
    z = []
    for _ in range(200):
        fit = fit_sbg(simulate_cohort(alpha, beta, n, 12, rng))
        z.append(((fit.alpha - alpha) / fit.alpha_se, (fit.beta - beta) / fit.beta_se))
    z = np.array(z)
    assert np.all(np.abs(z.mean(axis=0)) < 0.25), z.mean(axis=0)
    assert np.all(np.abs(z.std(axis=0) - 1) < 0.15), z.std(axis=0)
    assert np.all(np.mean(np.abs(z) > 1.96, axis=0) < 0.10)


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
