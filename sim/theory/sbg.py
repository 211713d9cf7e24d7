"""The shifted-beta-geometric (sBG) model of cohort retention, and its maximum-likelihood fit.

The sBG model of Fader & Hardie (2007, "How to project customer retention", *Journal of
Interactive Marketing* 21(1)) explains a cohort's retention curve by heterogeneity: each
customer churns in each period with its own probability θ, and θ varies across customers
as a Beta(α, β) distribution. A customer's lifetime ``T`` (the period in which it
churns) is then shifted-geometric given θ, and over the cohort::

    P(T = t) = B(α + 1, β + t − 1) / B(α, β)            t = 1, 2, …
    S(t)     = P(T > t) = B(α, β + t) / B(α, β)          (share alive at period t)
    r(t)     = S(t) / S(t − 1) = (β + t − 1) / (α + β + t − 1)

so the retention rate ``r(t)`` rises over time as the riskiest customers leave first.
With ``n_t`` customers alive at period t, ``d_t = n_{t−1} − n_t`` churn in period t, and
the survivors of the last fitted period K are right-censored::

    LL(α, β) = Σ_{t=1..K} d_t · ln P(T = t) + n_K · ln S(K)

which :func:`fit_sbg` maximises over (ln α, ln β) with ``scipy.optimize`` (bounded
truncated Newton from several starts, analytic gradient, then Newton steps with the
exact Hessian; every beta function through ``scipy.special.betaln``). Standard
errors come from the observed information: the analytic Hessian of −LL in (α, β) at the
optimum (digamma / trigamma terms), inverted.

This module is the model alone, on arrays of alive counts: :func:`survival`,
:func:`retention_rate`, :func:`log_likelihood`, :func:`loglik_hessian`, :func:`fit_sbg`
and its result :class:`SBGFit`. Reading cohort tables is :mod:`sim.theory.cohorts`;
fitting a whole table, forecasting and writing a scenario fragment is
:mod:`sim.theory.calibration`.

Typical use::

    from sim.theory.sbg import fit_sbg

    fit = fit_sbg(np.array([1000, 631, 468, 382, 326, 289, 262, 241]))
    fit.alpha, fit.beta, fit.alpha_se, fit.survival(12)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from sim.schema import InputError

#: Fewest periods (0, 1, 2) that identify the two parameters.
MIN_PERIODS = 3
#: Bounds of α and β during the fit (a fit on a bound is reported as such).
PARAM_BOUNDS = (1e-4, 1e7)
#: The same bounds on (ln α, ln β), the scale the fit works on.
LOG_BOUNDS = (math.log(PARAM_BOUNDS[0]), math.log(PARAM_BOUNDS[1]))


def survival(alpha: float, beta: float, horizon: int) -> np.ndarray:
    """Return the sBG survival curve ``S(t) = B(α, β + t) / B(α, β)`` for t = 0..horizon."""
    t = np.arange(int(horizon) + 1, dtype=float)
    return np.exp(special.betaln(alpha, beta + t) - special.betaln(alpha, beta))


def retention_rate(alpha: float, beta: float, horizon: int) -> np.ndarray:
    """Return ``r(t) = S(t)/S(t−1) = (β + t − 1)/(α + β + t − 1)`` for t = 1..horizon."""
    t = np.arange(1, int(horizon) + 1, dtype=float)
    return (beta + t - 1.0) / (alpha + beta + t - 1.0)




def _terms(alive: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The log-likelihood as ``Σ_j w_j · betaln(α + a_j, β + b_j)``.

    Churners of period t contribute ``ln B(α + 1, β + t − 1)``, the censored survivors of
    period K ``ln B(α, β + K)``, and every customer ``−ln B(α, β)``.
    """
    k = alive.size - 1
    t = np.arange(1, k + 1, dtype=float)
    churned = (alive[:-1] - alive[1:]).astype(float)
    a = np.concatenate([np.ones(k), [0.0, 0.0]])
    b = np.concatenate([t - 1.0, [float(k), 0.0]])
    w = np.concatenate([churned, [float(alive[-1]), -float(alive[0])]])
    keep = w != 0
    return a[keep], b[keep], w[keep]


def _loglik(
    alpha: float, beta: float, terms: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, its gradient and its Hessian in (α, β)."""
    a, b, w = terms
    x, y = alpha + a, beta + b
    s = x + y
    value = float(w @ special.betaln(x, y))
    psi_s = special.digamma(s)
    grad = np.array([w @ (special.digamma(x) - psi_s), w @ (special.digamma(y) - psi_s)])
    tri_s = special.polygamma(1, s)
    h_ab = -float(w @ tri_s)
    hess = np.array(
        [
            [float(w @ (special.polygamma(1, x) - tri_s)), h_ab],
            [h_ab, float(w @ (special.polygamma(1, y) - tri_s))],
        ]
    )
    return value, grad, hess


def log_likelihood(alpha: float, beta: float, alive: np.ndarray) -> float:
    """Return the sBG log-likelihood of a cohort's alive counts (survivors censored)."""
    return _loglik(alpha, beta, _terms(np.asarray(alive, dtype=np.int64)))[0]


def loglik_hessian(alpha: float, beta: float, alive: np.ndarray) -> np.ndarray:
    """Return the analytic Hessian of the log-likelihood in (α, β) (2 × 2)."""
    return _loglik(alpha, beta, _terms(np.asarray(alive, dtype=np.int64)))[2]


@dataclass(frozen=True, eq=False)
class SBGFit:
    """A maximum-likelihood sBG fit to one cohort.

    Attributes:
        alpha: Fitted α.
        beta: Fitted β.
        alpha_se: Standard error of α (observed information; NaN when undefined).
        beta_se: Standard error of β.
        covariance: 2 × 2 covariance of (α, β) (NaN when undefined).
        log_likelihood: Maximised log-likelihood.
        fit_periods: Periods 0..fit_periods were used.
        alive: The cohort's alive counts at periods 0..K (all of them, fitted or not).
        at_bound: The optimum lies on a bound of :data:`PARAM_BOUNDS` (e.g. a cohort
            with no sign of heterogeneity: α and β run off to infinity).
        converged: The optimiser reported success.
    """

    alpha: float
    beta: float
    alpha_se: float
    beta_se: float
    covariance: np.ndarray
    log_likelihood: float
    fit_periods: int
    alive: np.ndarray
    at_bound: bool
    converged: bool

    @property
    def cohort_size(self) -> int:
        """Customers alive at period 0."""
        return int(self.alive[0])

    @property
    def mean_churn(self) -> float:
        """Mean churn probability per period, ``α / (α + β)``."""
        return self.alpha / (self.alpha + self.beta)

    def survival(self, horizon: int) -> np.ndarray:
        """Fitted share alive at periods 0..horizon."""
        return survival(self.alpha, self.beta, horizon)

    def retention_rate(self, horizon: int) -> np.ndarray:
        """Fitted retention rate ``S(t)/S(t−1)`` for t = 1..horizon."""
        return retention_rate(self.alpha, self.beta, horizon)

    def survival_se(self, horizon: int) -> np.ndarray:
        """Standard error of the fitted survival at periods 0..horizon (delta method)."""
        t = np.arange(int(horizon) + 1, dtype=float)
        a, b = self.alpha, self.beta
        s = survival(a, b, horizon)
        psi_ab = special.digamma(a + b)
        psi_abt = special.digamma(a + b + t)
        d_alpha = s * (psi_ab - psi_abt)
        d_beta = s * (special.digamma(b + t) - special.digamma(b) + psi_ab - psi_abt)
        g = np.stack([d_alpha, d_beta])
        var = np.einsum("it,ij,jt->t", g, self.covariance, g)
        return np.sqrt(np.maximum(var, 0.0))

    def observed(self) -> np.ndarray:
        """Observed share alive at every period of the table."""
        return self.alive / self.alive[0]

    def warning(self) -> str | None:
        """Sentences on why the fit needs care, or ``None``."""
        notes = []
        low, high = PARAM_BOUNDS
        if self.at_bound:
            if max(self.alpha, self.beta) >= high * (1 - 1e-6):
                why = "every customer seems to churn at the same rate (alpha, beta → ∞)"
            elif self.alpha <= low * (1 + 1e-6):
                why = "part of the cohort seems never to churn (alpha → 0)"
            else:
                why = "the cohort seems to churn all at once (beta → 0)"
            notes.append(
                f"the fit reached a parameter bound (alpha = {self.alpha:.4g}, beta = "
                f"{self.beta:.4g}): {why}; the mean churn alpha/(alpha+beta) = "
                f"{self.mean_churn:.4g} is meaningful, the separate parameters and their "
                "standard errors are not"
            )
        elif not (self.alpha_se < self.alpha and self.beta_se < self.beta):
            notes.append(
                "alpha and beta are poorly determined (a standard error exceeds its "
                "estimate, or is undefined): the cohort shows little heterogeneity in the "
                f"fitted periods; the mean churn alpha/(alpha+beta) = {self.mean_churn:.4g} "
                "is well determined, the forecast far ahead less so"
            )
        if not self.converged:
            notes.append("the optimiser did not converge: treat the parameters with caution")
        return "; ".join(notes) or None


def _cohort_problem(alive: np.ndarray) -> str | None:
    """What is wrong with an array of alive counts, or ``None``."""
    if alive.ndim != 1:
        return f"expected a 1-D array of counts, got shape {alive.shape}"
    if alive.size < MIN_PERIODS:
        return (
            f"only {alive.size} period(s): at least {MIN_PERIODS} (periods 0, 1, 2) are "
            "needed to fit the two sBG parameters"
        )
    if alive[0] <= 0:
        return f"the cohort size (alive at period 0) must be positive, got {alive[0]}"
    if np.any(alive < 0):
        t = int(np.flatnonzero(alive < 0)[0])
        return f"alive must be ≥ 0, got {alive[t]} at period {t}"
    rises = np.flatnonzero(np.diff(alive) > 0)
    if rises.size:
        t = int(rises[0])
        return f"alive increases from {alive[t]} to {alive[t + 1]} (period {t} to {t + 1})"
    return None


def fit_sbg(alive: np.ndarray, fit_periods: int | None = None) -> SBGFit:
    """Fit the sBG model to a cohort by maximum likelihood.

    Args:
        alive: Customers alive at the start of periods 0..K (whole numbers,
            non-increasing, ``alive[0] > 0``, K ≥ 2).
        fit_periods: Fit periods 0..fit_periods only (2 ≤ fit_periods ≤ K; the
            survivors of the last one are censored); all periods when ``None``.

    Returns:
        The fit, with standard errors from the observed information.

    Raises:
        InputError: The counts are invalid, ``fit_periods`` is out of range, or nobody
            churned in the fitted periods (the likelihood then has no maximum).
    """
    raw = np.asarray(alive)
    if raw.size and not np.all(np.isfinite(raw.astype(float))):
        raise InputError(None, "alive", "expected finite whole numbers")
    if raw.size and not np.array_equal(raw.astype(float), np.round(raw.astype(float))):
        raise InputError(None, "alive", "expected whole numbers (counts of customers)")
    counts = raw.astype(np.int64)
    problem = _cohort_problem(counts)
    if problem:
        raise InputError(None, "alive", problem)
    last = counts.size - 1
    k = last if fit_periods is None else fit_periods
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise InputError(None, "fit_periods", f"expected a whole number, got {k!r}")
    k = int(k)
    if not 2 <= k <= last:
        raise InputError(
            None,
            "fit_periods",
            f"expected a number of periods from 2 to {last} (the table's last period), got {k}",
        )
    used = counts[: k + 1]
    if used[-1] == used[0]:
        raise InputError(
            None,
            "alive",
            f"nobody churned in periods 0..{k}: the sBG likelihood has no maximum "
            "(the churn rate would be 0)",
        )
    terms = _terms(used)
    n0 = float(used[0])

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        # −LL per customer over (ln α, ln β): well scaled whatever the cohort size
        value, grad, _ = _loglik(*np.exp(x), terms)
        return -value / n0, -grad * np.exp(x) / n0

    best = None
    for start in _starts(used):
        res = optimize.minimize(
            objective,
            np.clip(np.log(start), *LOG_BOUNDS),
            jac=True,
            method="TNC",
            bounds=[LOG_BOUNDS, LOG_BOUNDS],
            options={"ftol": 1e-14, "gtol": 1e-10, "maxfun": 2000},
        )
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    x, converged = _polish(best.x, terms, n0)
    a, b = (float(v) for v in np.exp(x))
    at_bound = bool(np.any(np.abs(x - np.array(LOG_BOUNDS)[:, None]) < 1e-6))
    value, _, hess = _loglik(a, b, terms)
    cov = np.full((2, 2), np.nan)
    if not at_bound:
        info = -hess  # observed information in (α, β)
        if np.all(np.isfinite(info)) and np.all(np.linalg.eigvalsh(info) > 0):
            cov = np.linalg.inv(info)
    return SBGFit(
        alpha=a,
        beta=b,
        alpha_se=float(np.sqrt(cov[0, 0])),
        beta_se=float(np.sqrt(cov[1, 1])),
        covariance=cov,
        log_likelihood=value,
        fit_periods=k,
        alive=counts,
        at_bound=at_bound,
        converged=converged,
    )


def _polish(x: np.ndarray, terms: tuple, n0: float) -> tuple[np.ndarray, bool]:
    """Newton steps on −LL/n0 over (ln α, ln β) from the optimiser's answer.

    The optimiser stops when it can no longer measure progress in the objective; the
    exact Hessian takes the gradient to rounding level. Returns the point and whether its
    (projected) gradient vanishes.
    """
    low, high = LOG_BOUNDS

    def derivs(x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        e = np.exp(x)
        value, grad, hess = _loglik(*e, terms)
        g = grad * e
        h = hess * np.outer(e, e) + np.diag(g)  # chain rule for θ = exp(x)
        return -value / n0, -g / n0, -h / n0

    def projected(x: np.ndarray, g: np.ndarray) -> np.ndarray:
        # a component on a bound whose gradient pushes outwards is optimal
        out = g.copy()
        out[(x <= low + 1e-9) & (g > 0)] = 0.0
        out[(x >= high - 1e-9) & (g < 0)] = 0.0
        return out

    f, g, h = derivs(x)
    for _ in range(50):
        if np.max(np.abs(projected(x, g))) < 1e-10:
            break
        if not np.all(np.linalg.eigvalsh(h) > 0):
            break
        step = np.linalg.solve(h, g)
        for shrink in 0.5 ** np.arange(30):
            x_new = np.clip(x - shrink * step, low, high)
            f_new, g_new, h_new = derivs(x_new)
            if f_new <= f:
                break
        else:
            break
        if np.array_equal(x_new, x):
            break
        x, f, g, h = x_new, f_new, g_new, h_new
    return x, bool(np.max(np.abs(projected(x, g))) < 1e-7)


def _starts(alive: np.ndarray) -> list[tuple[float, float]]:
    """Starting points: a moment match of the first two retention rates, and neutral ones."""
    r1 = alive[1] / alive[0]
    r1 = min(max(r1, 1e-3), 1 - 1e-3)
    starts = [(1.0, 1.0), (1.0, r1 / (1 - r1))]
    if alive[1] > 0:
        r2 = alive[2] / alive[1]
        if 0 < r1 < r2 < 1:
            # r1 = β/(α+β), r2 = (β+1)/(α+β+1)  ⇒  α+β = (1 − r2)/(r2 − r1)
            total = (1 - r2) / (r2 - r1)
            starts.append((total * (1 - r1), total * r1))
    return starts


