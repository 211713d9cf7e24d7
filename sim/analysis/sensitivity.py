"""Which assumptions matter: variance-based sensitivity indices and the value of information.

Concept. An experiment varies uncertain assumptions (the factors of
:mod:`sim.sweep.design`) and measures an outcome — say the profit difference between
two policies — at every design point. The outcome varies from point to point; the
**sensitivity indices** of Sobol' split that variance among the assumptions:

* the **first-order** index of an assumption is the share of the variance of the
  outcome explained by this assumption alone: ``Var(E[y | x_i]) / Var(y)`` — how much
  of the uncertainty would go if we learnt this assumption's true value;
* the **total-order** index is the share explained by the assumption together with all
  its interactions with the others: ``1 − Var(E[y | x_~i]) / Var(y)`` — how much would
  remain unexplained if we learnt everything *but* this assumption. An assumption whose
  total index is near 0 can be fixed anywhere in its range without changing the answer.

Two ways to estimate them:

* :func:`saltelli_indices` — from a ``saltelli`` design (blocks ``A``, ``B``, ``AB_i``,
  :func:`sim.sweep.design.saltelli_blocks`): the estimators of Saltelli et al. (2010) as
  implemented by :func:`scipy.stats.sobol_indices` (first order) and Jansen (total
  order), with BCa bootstrap confidence intervals over the ``n`` base samples
  (:func:`scipy.stats.bootstrap` resampling what ``SobolResult.bootstrap`` resamples,
  but with a seeded :class:`numpy.random.Generator`: scipy's method draws from numpy's
  global random state, so its intervals could not be reproduced);
* :func:`given_data_indices` — from any plain sample (``lhs``, ``sobol``, ``grid``): the
  first-order index of ``x_i`` is the variance of the nonparametric regression
  ``E[y | x_i]`` (:func:`smoother`, a penalised cubic smoothing spline) over the
  variance of ``y``, with a percentile bootstrap interval over the sample's rows. It
  gives no total-order index (``nan``).

**Simulation noise is not an assumption's effect.** Every ``y`` is a mean over ``R``
replications, so ``Var(y) = V + σ²`` where ``V`` is the variance due to the assumptions
and ``σ²`` the noise variance of a point mean (:func:`noise_variance`, estimated from the
replications). Both methods divide by ``V = Var(y) − σ²`` instead of ``Var(y)``. The
Saltelli first-order numerator ``E[f_B (f_AB_i − f_A)]`` does not contain the noise (it
pairs points with independent noise); a smoother keeps part of it — ``(levels − 1)/n``
of ``σ²`` for level means — which is subtracted; the Jansen total-order numerator
``E[(f_A − f_AB_i)²] / 2`` contains ``σ²`` once (every design point has its own seeds),
so ``σ²`` is subtracted from it. In the bootstrap ``σ²`` is held fixed (its own
uncertainty is not in the intervals), and a resample that does not vary beyond the
noise counts as an index of ``+∞`` (an upper bound may then be ``inf``). When
``σ² ≥ Var(y)`` the outcome's variation is all noise and every index is ``nan``.

:func:`evppi` is the expected value of partial perfect information of one assumption
by the regression method of Strong, Oakley & Brennan (2014, *Med Decis Making*
34:311–326): how much the expected net benefit of the decision would rise if the
assumption's value were known before choosing.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.interpolate import CubicSpline, make_smoothing_spline
from scipy.linalg import solve_triangular
from scipy.optimize import minimize_scalar
from scipy.stats import bootstrap, sobol_indices

MIN_SPLINE = 5
"""Distinct input values a smoothing spline needs; with fewer, :func:`smoother` uses the
mean at each level."""
MAX_GROUPS = 64
"""Most groups the smoother fits: larger samples are pooled into this many
equal-count groups of neighbouring ``x`` (weighted by their counts), which keeps a fit
fast and well conditioned and changes ``E[y | x]`` by much less than its noise."""
LOG_LAM_BOUNDS = (-9.0, 3.0)
"""Range of ``log10`` of the smoothing penalty searched by GCV (``x`` scaled to [0, 1],
``y`` standardised, weights of mean 1): from near interpolation to a straight line."""


@dataclass(frozen=True)
class Index:
    """Sensitivity indices of one input, with confidence intervals.

    Attributes:
        name: The input (factor path).
        first: First-order index: the share of the output's variance explained by this
            input alone.
        first_low: Lower confidence bound of ``first``.
        first_high: Upper confidence bound of ``first``.
        total: Total-order index: the share explained by this input with all its
            interactions (``nan`` when the method gives none).
        total_low: Lower confidence bound of ``total``.
        total_high: Upper confidence bound of ``total``.
    """

    name: str
    first: float
    first_low: float
    first_high: float
    total: float = math.nan
    total_low: float = math.nan
    total_high: float = math.nan


def _nan_indices(names: Sequence[str]) -> list[Index]:
    """All-``nan`` indices (no variance to explain)."""
    return [Index(str(name), math.nan, math.nan, math.nan) for name in names]


def _check_noise(noise_var: float) -> float:
    """``noise_var`` as a float, refusing ``nan`` and negative values."""
    noise_var = float(noise_var)
    if not (math.isfinite(noise_var) and noise_var >= 0.0):
        raise ValueError(f"noise_var must be finite and ≥ 0, got {noise_var} (with fewer "
                         "than 2 replications there is no estimate: pass 0.0 to leave the "
                         "noise in)")
    return noise_var


def _interval(result: Any, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The bootstrap interval of each index, robust to resamples that are all noise.

    ``result`` is a :func:`scipy.stats.bootstrap` result. A resample whose outputs do
    not vary beyond the noise has no index (``nan``), and a single one leaves scipy's
    interval undefined. Then the interval is the percentile interval of the bootstrap
    distribution with those resamples counted as ``+∞`` (the ratio's limit as the
    signal variance falls to 0): while they are fewer than ``(1 − level) / 2`` of the
    resamples the bounds stay finite; more open the interval upwards (an upper bound of
    ``inf``), the cautious reading.
    """
    low = np.atleast_1d(np.asarray(result.confidence_interval.low, dtype=float)).copy()
    high = np.atleast_1d(np.asarray(result.confidence_interval.high, dtype=float)).copy()
    bad = ~(np.isfinite(low) & np.isfinite(high))
    if bad.any():
        dist = np.asarray(result.bootstrap_distribution, dtype=float).reshape(low.size, -1)
        dist = np.where(np.isnan(dist), np.inf, dist)[bad]
        tail = (1.0 - level) / 2.0
        low[bad] = np.quantile(dist, tail, axis=1, method="lower")
        high[bad] = np.quantile(dist, 1.0 - tail, axis=1, method="higher")
    return low, high


# -- Saltelli design -----------------------------------------------------------------------
def _jansen(noise_var: float) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """Saltelli (2010) first-order and Jansen total-order estimators, noise corrected.

    The returned function has the signature :func:`scipy.stats.sobol_indices` wants of a
    ``method`` (``f_A``, ``f_B`` of shape ``(s, n)``, ``f_AB`` of shape ``(d, s, n)``,
    all centred) and returns first and total indices of shape ``(s, d)``; without
    noise it is scipy's ``saltelli_2010``.
    """

    def method(f_A: np.ndarray, f_B: np.ndarray, f_AB: np.ndarray):
        signal = np.var([f_A, f_B], axis=(0, -1)) - noise_var
        first = np.mean(f_B * (f_AB - f_A), axis=-1) / signal
        total = (0.5 * np.mean((f_A - f_AB) ** 2, axis=-1) - noise_var) / signal
        return first.T, total.T

    return method


def saltelli_indices(
    y: Sequence[float] | np.ndarray,
    n: int,
    names: Sequence[str],
    *,
    noise_var: float = 0.0,
    level: float = 0.95,
    resamples: int = 999,
    rng: np.random.Generator | int | None = None,
) -> list[Index]:
    """First- and total-order indices from the outputs of a ``saltelli`` design.

    Args:
        y: Outputs in the design's point order: ``n`` points of block ``A``, ``n`` of
            ``B``, then ``n`` of each ``AB_i`` (length ``n·(d + 2)``).
        n: Base samples (a power of two).
        names: The ``d`` inputs, in the design's factor order.
        noise_var: Variance of the simulation noise in one ``y`` (see
            :func:`noise_variance`); removed from the variance to explain.
        level: Confidence level of the intervals.
        resamples: Bootstrap resamples of the ``n`` base samples (BCa intervals).
        rng: Generator (or seed) of the bootstrap.

    Returns:
        One :class:`Index` per input; every value ``nan`` when the outputs do not vary
        beyond the noise.

    Raises:
        ValueError: ``y`` has the wrong length or is not finite, ``n`` is not a power
            of two, or ``noise_var`` is ``nan`` or negative.
    """
    noise_var = _check_noise(noise_var)
    d = len(names)
    y = np.asarray(y, dtype=float).ravel()
    if y.size != n * (d + 2):
        raise ValueError(f"a saltelli design of {n} base samples and {d} inputs has "
                         f"{n * (d + 2)} points, got {y.size} outputs")
    if not np.isfinite(y).all():
        raise ValueError("every output of a saltelli design must be finite")
    blocks = y.reshape(d + 2, n)
    f_A, f_B = blocks[0][np.newaxis], blocks[1][np.newaxis]
    f_AB = blocks[2:][:, np.newaxis, :]
    mean = np.mean([f_A, f_B])
    f_A, f_B, f_AB = f_A - mean, f_B - mean, f_AB - mean
    if not np.var([f_A, f_B]) - noise_var > 0.0:
        return _nan_indices(names)
    method = _jansen(noise_var)
    result = sobol_indices(func={"f_A": f_A, "f_B": f_B, "f_AB": f_AB}, n=n, method=method)
    first = np.asarray(result.first_order, dtype=float).reshape(d)
    total = np.asarray(result.total_order, dtype=float).reshape(d)

    def statistic(idx: np.ndarray) -> np.ndarray:
        a, b = f_A[:, idx], f_B[:, idx]
        if not np.var([a, b]) - noise_var > 0.0:
            return np.full(2 * d, np.nan)
        s, st = method(a, b, f_AB[..., idx])
        return np.concatenate([np.ravel(s), np.ravel(st)])

    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")  # degenerate resamples: handled by _interval
        result = bootstrap((np.arange(n),), statistic, n_resamples=resamples,
                           confidence_level=level, method="BCa", vectorized=False,
                           rng=np.random.default_rng(rng))
    low, high = _interval(result, level)
    return [Index(str(name), float(first[i]), float(low[i]), float(high[i]),
                  float(total[i]), float(low[d + i]), float(high[d + i]))
            for i, name in enumerate(names)]


# -- given data ----------------------------------------------------------------------------
def _groups(x: np.ndarray, y: np.ndarray, repeats: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct ``x`` with the mean ``y`` and count at each, pooled to :data:`MAX_GROUPS`.

    Pooling joins neighbouring distinct values into groups of about equal count (ties
    are never split); a group sits at its weighted mean ``x``. The fourth array is the
    variance of each group mean's noise per unit of one row's noise variance:
    ``1 / count`` when the rows' noises are independent; ``repeats`` (how often each
    row's source row occurs, for a bootstrap resample) accounts for repeated rows
    sharing one noise draw. The fifth is the group of each row.
    """
    xu, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    sums = np.bincount(inverse, weights=y)
    shared = (counts.astype(float) if repeats is None
              else np.bincount(inverse, weights=repeats))
    row_group = inverse
    if xu.size > MAX_GROUPS:
        before = np.cumsum(counts) - counts
        group = np.minimum((before * MAX_GROUPS) // x.size, MAX_GROUPS - 1).astype(int)
        weight = np.bincount(group, weights=counts)
        keep = weight > 0
        xu = (np.bincount(group, weights=xu * counts) / np.where(keep, weight, 1))[keep]
        sums = np.bincount(group, weights=sums)[keep]
        shared = np.bincount(group, weights=shared)[keep]
        counts = weight[keep]
        row_group = (np.cumsum(keep) - 1)[group][inverse]
    counts = counts.astype(float)
    return xu, sums / counts, counts, shared / counts**2, row_group


def _spline_basis(s: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """A basis of the natural cubic splines with knots ``s`` in which their penalty is diagonal.

    A spline is given by its values ``f`` at the (increasing, 3 or more) knots ``s``,
    and its roughness is ``∫ g''² = f·K·f`` with ``K = Q R⁻¹ Qᵀ`` (Green & Silverman
    1994, *Nonparametric Regression and Generalized Linear Models*, §2.1.2; ``Q`` the
    second differences over the knot spacings, ``R`` their tridiagonal Gram matrix).
    ``K`` is not formed: close knots make it too ill-conditioned for the straight lines
    it should leave unpenalised. Instead the basis is the straight lines (orthonormal,
    exact) and the eigenvectors of ``K`` on their orthogonal complement, each column
    scaled by ``1 / √(1 + lam·eigenvalue)`` so that every weighted fit in it is
    well-conditioned.

    Returns:
        ``(basis, ridge)``: ``f = basis @ c``, and the penalty ``lam·f·K·f`` is
        ``Σ ridge·c²``. The weighted smoothing spline of
        :func:`scipy.interpolate.make_smoothing_spline` with penalty ``lam`` solves
        ``(basisᵀ diag(w) basis + diag(ridge)) c = basisᵀ diag(w) y``; weights may be 0.
    """
    h = np.diff(s)
    inner = np.arange(s.size - 2)
    q = np.zeros((s.size, s.size - 2))
    q[inner, inner] = 1.0 / h[:-1]
    q[inner + 1, inner] = -1.0 / h[:-1] - 1.0 / h[1:]
    q[inner + 2, inner] = 1.0 / h[1:]
    gram = np.diag((h[:-1] + h[1:]) / 3.0) + np.diag(h[1:-1] / 6.0, 1) + np.diag(h[1:-1] / 6.0, -1)
    lines_and_rest, _ = np.linalg.qr(np.column_stack([np.ones(s.size), s]), mode="complete")
    rest = lines_and_rest[:, 2:]
    root = solve_triangular(np.linalg.cholesky(gram), q.T @ rest, lower=True)
    eigenvalues, vectors = np.linalg.eigh(root.T @ root)
    penalty = lam * np.concatenate([[0.0, 0.0], np.maximum(eigenvalues, 0.0)])
    shrink = 1.0 / np.sqrt(1.0 + penalty)
    basis = np.column_stack([lines_and_rest[:, :2], rest @ vectors]) * shrink
    return basis, penalty * shrink**2


def _hat_trace_gcv(s: np.ndarray, y: np.ndarray, w: np.ndarray, log_lam: float) -> float:
    """Weighted GCV score of a smoothing spline with penalty ``10**log_lam``."""
    m = s.size
    hat = make_smoothing_spline(s, np.eye(m), w=w, lam=10.0**log_lam)(s)
    residual = y - hat @ y
    left = 1.0 - np.trace(hat) / m
    if left <= 0.0:
        return math.inf
    denominator = left**2
    return float(np.mean(w * residual**2) / denominator)


def _gcv_log_lam(s: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """``log10`` of the GCV-optimal penalty: a coarse grid, then Brent around its best."""
    grid = np.linspace(*LOG_LAM_BOUNDS, 13)
    scores = [_hat_trace_gcv(s, y, w, g) for g in grid]
    best = int(np.argmin(scores))
    low, high = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
    found = minimize_scalar(lambda g: _hat_trace_gcv(s, y, w, g), bounds=(low, high),
                            method="bounded", options={"xatol": 0.05})
    return float(found.x) if found.fun <= scores[best] else float(grid[best])


@dataclass(frozen=True)
class _Fit:
    """A :func:`smoother` fit with what :func:`given_data_indices` needs besides.

    Attributes:
        predict: ``E[y | x]`` as a function of an array of ``x``.
        log_lam: ``log10`` of the spline's penalty (``nan``: no spline was fitted).
        counts: Rows in each group the fit is made of.
        noise: Noise variance of each group mean per unit of a row's (see
            :func:`_groups`).
        hat: The linear map from group means to fitted group values (``None``: a
            constant fit, which carries no noise).
    """

    predict: Callable[[np.ndarray], np.ndarray]
    log_lam: float = math.nan
    counts: np.ndarray | None = None
    noise: np.ndarray | None = None
    hat: np.ndarray | None = None

    def kept(self) -> float:
        """Share of a row-level noise variance that stays in the fitted values.

        A fit cannot tell the noise of each row from signal, so some of it stays in the
        fitted values: group means carry ``1 / count`` of it (more for a bootstrap
        resample's repeated rows, which share one draw), the fit maps them by
        :attr:`hat`, and this is the expected count-weighted variance of the fitted
        group values per unit of noise variance — ``(levels − 1) / n`` for the mean at
        each level.
        """
        if self.hat is None or self.counts is None or self.noise is None:
            return 0.0
        share = self.counts / self.counts.sum()
        cov = (self.hat * self.noise) @ self.hat.T
        return float(share @ np.diag(cov) - share @ cov @ share)


def _fit(x: np.ndarray, y: np.ndarray, log_lam: float | None = None,
         hat: bool = False, repeats: np.ndarray | None = None) -> _Fit:
    """:func:`smoother`'s fit (with the penalty ``10**log_lam`` when given).

    ``hat``: also compute the map from group means to fitted values (for
    :meth:`_Fit.kept`); ``repeats``: see :func:`_groups`.
    """
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x.size != y.size or x.size == 0:
        raise ValueError(f"x and y must be non-empty and of equal length, got {x.size}, "
                         f"{y.size}")
    xg, yg, wg, noise, _ = _groups(x, y, repeats)
    if xg.size == 1:
        value = float(yg[0])
        return _Fit(lambda t: np.full(np.shape(t), value))
    if xg.size < MIN_SPLINE:
        return _Fit(lambda t: np.interp(t, xg, yg), counts=wg, noise=noise,
                    hat=np.eye(xg.size))
    low, span = xg[0], xg[-1] - xg[0]
    centre, scale = np.average(yg, weights=wg), float(np.std(yg))
    if scale == 0.0:
        return _Fit(lambda t: np.full(np.shape(t), centre))
    s, z, w = (xg - low) / span, (yg - centre) / scale, wg / wg.mean()
    if log_lam is None:
        log_lam = _gcv_log_lam(s, z, w)
    spline = make_smoothing_spline(s, z, w=w, lam=10.0**log_lam)

    def predict(t: np.ndarray) -> np.ndarray:
        return centre + scale * spline(np.clip((np.asarray(t, dtype=float) - low) / span,
                                               0.0, 1.0))

    matrix = (make_smoothing_spline(s, np.eye(s.size), w=w, lam=10.0**log_lam)(s)
              if hat else None)
    return _Fit(predict, log_lam, wg, noise, matrix)


def smoother(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray,
             log_lam: float | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """Nonparametric regression ``E[y | x]`` of ``y`` on one input.

    A penalised cubic smoothing spline (:func:`scipy.interpolate.make_smoothing_spline`)
    whose penalty minimises the generalised cross-validation score (searched here
    rather than inside scipy so the bootstrap of :func:`given_data_indices` can reuse
    it). Tied ``x`` are merged into their mean ``y``, weighted by their count; more
    than :data:`MAX_GROUPS` distinct values are pooled into that many groups. With
    fewer than :data:`MIN_SPLINE` distinct values the fit is the mean of ``y`` at each
    level, interpolated linearly between levels; a constant ``x`` gives the mean of
    ``y``. Outside the observed range the fit is held at its end values.

    Args:
        x: The input's values, shape ``(n,)``.
        y: The output's values, shape ``(n,)``.
        log_lam: ``log10`` of the spline's penalty (default: chosen by GCV; a bootstrap
            passes :func:`smoothing_penalty` of the full sample).

    Returns:
        A function of an array of ``x`` returning ``E[y | x]`` of the same shape.

    Raises:
        ValueError: ``x`` and ``y`` differ in length or are empty.
    """
    return _fit(np.asarray(x), np.asarray(y), log_lam).predict


def smoothing_penalty(x: Sequence[float] | np.ndarray,
                      y: Sequence[float] | np.ndarray) -> float | None:
    """``log10`` of the penalty GCV chooses for :func:`smoother` (``None``: no spline)."""
    log_lam = _fit(np.asarray(x), np.asarray(y)).log_lam
    return None if math.isnan(log_lam) else log_lam


def given_data_indices(
    x: np.ndarray,
    y: Sequence[float] | np.ndarray,
    names: Sequence[str],
    *,
    noise_var: float = 0.0,
    level: float = 0.95,
    resamples: int = 200,
    rng: np.random.Generator | int | None = None,
) -> list[Index]:
    """First-order indices from a plain sample (``lhs``, ``sobol`` or ``grid`` design).

    The index of input ``i`` is ``(Var(g_i) − k_i·σ²) / (Var(y) − σ²)`` where ``g_i`` is
    the :func:`smoother` fit of ``y`` on ``x_i`` and ``k_i·σ²`` the part of the noise the
    fit keeps (a smoother cannot tell noise from signal; ``k_i`` is ``(L − 1)/n`` for
    the means at ``L`` levels, about ``edf/n`` for a spline). In a random sample (not a
    balanced grid) the fit also keeps about ``k_i`` of the *other* inputs' variance,
    which is not removed (in a balanced grid it cancels, so no one correction fits
    both): a dummy input of a small random sample gets a small positive index (in
    trials 0.2–0.3 on average for 16 points, 0.06 for 64), so read small indices of
    small samples with their intervals. The interval is the percentile bootstrap over
    rows (:func:`scipy.stats.bootstrap`): a resample re-weights the full sample's groups
    by the rows it drew and refits each spline at the penalty GCV chose for the full
    sample, all resamples in one batched solve (:func:`_resampled_spline_variance`),
    holding the kept noise share at the full sample's.

    Args:
        x: Sampled inputs, shape ``(n, d)``.
        y: Outputs, shape ``(n,)``.
        names: The ``d`` inputs.
        noise_var: Variance of the simulation noise in one ``y`` (see
            :func:`noise_variance`).
        level: Confidence level of the intervals.
        resamples: Bootstrap resamples.
        rng: Generator (or seed) of the bootstrap.

    Returns:
        One :class:`Index` per input, ``total`` ``nan``; every value ``nan`` when ``y``
        does not vary beyond the noise.

    Raises:
        ValueError: Shapes disagree, values are not finite, or ``noise_var`` is
            ``nan`` or negative.
    """
    noise_var = _check_noise(noise_var)
    x = np.asarray(x, dtype=float)
    x = x.reshape(-1, 1) if x.ndim == 1 else x
    y = np.asarray(y, dtype=float).ravel()
    n, d = x.shape
    if y.size != n or d != len(names):
        raise ValueError(f"x has shape {x.shape}, y {y.size} values and there are "
                         f"{len(names)} names")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite")
    if n < 2 or not np.var(y) - noise_var > 0.0:
        return _nan_indices(names)
    fits = [_fit(x[:, i], y) for i in range(d)]
    log_lams = [None if math.isnan(f.log_lam) else f.log_lam for f in fits]
    # the share of the noise each fit keeps, from the full sample (a resample's differs
    # a little: it is held fixed so a resample costs one spline solve per input)
    kept = [_fit(x[:, i], y, log_lams[i], hat=noise_var > 0.0).kept() for i in range(d)]
    first = _shares(x, y, log_lams, kept, noise_var)

    def statistic(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        # vectorised: idx holds every resample, one a row
        rows = np.asarray(idx).reshape(-1, n)
        shares = _resample_shares(x, y, rows, log_lams, kept, noise_var)
        return shares.T.reshape((d, *np.shape(idx)[:-1]))

    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        result = bootstrap((np.arange(n),), statistic, n_resamples=resamples,
                           confidence_level=level, method="percentile", vectorized=True,
                           rng=np.random.default_rng(rng))
    low, high = _interval(result, level)
    return [Index(str(name), float(first[i]), float(low[i]), float(high[i]))
            for i, name in enumerate(names)]


def _shares(x: np.ndarray, y: np.ndarray, log_lams: Sequence[float | None],
            kept: Sequence[float], noise_var: float) -> np.ndarray:
    """First-order indices of every input of one sample at fixed penalties and kept noise."""
    d = x.shape[1]
    signal = np.var(y) - noise_var
    if not signal > 0.0:
        return np.full(d, np.nan)
    out = np.empty(d)
    for i in range(d):
        fit = _fit(x[:, i], y, log_lams[i])
        out[i] = (np.var(fit.predict(x[:, i])) - kept[i] * noise_var) / signal
    return out


def _resample_shares(x: np.ndarray, y: np.ndarray, rows: np.ndarray,
                     log_lams: Sequence[float | None], kept: Sequence[float],
                     noise_var: float) -> np.ndarray:
    """First-order indices of each bootstrap resample, shape ``(resamples, inputs)``.

    ``rows`` holds one resample a row (indices into ``x`` and ``y``). An input whose
    full-sample fit is a spline is refitted by :func:`_resampled_spline_variance`; one
    fitted by its level means or a constant is refitted on the resample by :func:`_fit`.
    As in :func:`_shares`, the kept noise share is the full sample's.
    """
    signal = np.var(y[rows], axis=1) - noise_var
    out = np.empty((rows.shape[0], x.shape[1]))
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        for i, log_lam in enumerate(log_lams):
            if log_lam is None:
                fitted = np.array([np.var(_fit(x[idx, i], y[idx]).predict(x[idx, i]))
                                   for idx in rows])
            else:
                fitted = _resampled_spline_variance(x[:, i], y, rows, log_lam)
            out[:, i] = (fitted - kept[i] * noise_var) / signal
    out[~(signal > 0.0)] = np.nan
    return out


def _resampled_spline_variance(x: np.ndarray, y: np.ndarray, rows: np.ndarray,
                               log_lam: float) -> np.ndarray:
    """Variance over each resample's rows of its smoothing-spline fit of ``y`` on ``x``.

    A resample re-weights the full sample's groups (:func:`_groups`): a group's weight
    is the number of its rows drawn and its value their mean ``y``, and the spline keeps
    the full sample's knots, scaling and penalty per row (:func:`_fit`). A group not
    drawn has weight 0, which leaves the fit through the others as it would be without
    that knot, so every resample's fit solves one small linear system in the same
    basis (:func:`_spline_basis`), all of them at once. The fit is evaluated at each
    drawn row's own ``x``, as :func:`_shares` evaluates it.

    Args:
        x: One input's values in the full sample, shape ``(n,)``.
        y: The outputs, shape ``(n,)``.
        rows: The resamples, shape ``(resamples, n)``.
        log_lam: ``log10`` of the full sample's penalty (:func:`smoothing_penalty`).

    Returns:
        Shape ``(resamples,)``.
    """
    xg, _, counts_full, _, row_group = _groups(x, y)
    n, m = x.size, xg.size
    s = (xg - xg[0]) / (xg[-1] - xg[0])
    scale = float(np.std(y)) or 1.0  # the spline is linear in y: scaled for conditioning
    per_row = m / n  # a group's weight in the full sample's fit is its count / mean count
    keys = (row_group[rows] + m * np.arange(rows.shape[0])[:, None]).ravel()
    counts = np.bincount(keys, minlength=rows.shape[0] * m).reshape(-1, m)
    sums = np.bincount(keys, weights=(y[rows] / scale).ravel(),
                       minlength=counts.size).reshape(-1, m)
    weights = counts * per_row
    # a resample drawn from one group has a constant fit (variance 0, set below): the
    # full sample's weights keep its system regular
    single = (counts > 0).sum(axis=1) < 2
    weights[single] = counts_full * per_row
    basis, ridge = _spline_basis(s, 10.0**log_lam)
    system = (basis.T * weights[:, None, :]) @ basis + np.diag(ridge)
    coefficients = np.linalg.solve(system, (sums * per_row @ basis)[:, :, None])[:, :, 0]
    # the fit at each row's own x (held at its end values outside the knots, as _fit's)
    at_rows = CubicSpline(s, np.eye(m), bc_type="natural")(
        np.clip((x - xg[0]) / (xg[-1] - xg[0]), 0.0, 1.0))
    fitted = coefficients @ (at_rows @ basis).T
    variance = scale**2 * np.var(np.take_along_axis(fitted, rows, axis=1), axis=1)
    variance[single] = 0.0
    return variance


# -- noise and value of information --------------------------------------------------------
def noise_variance(values: np.ndarray) -> float:
    """Variance of the simulation noise in a point mean, from replications.

    Args:
        values: Shape ``(points, replications)``: the outcome of every replication at
            every design point (``nan`` for a failed run).

    Returns:
        The mean over points of the within-point sample variance divided by the
        point's number of replications (points with fewer than 2 finite values are
        left out); ``nan`` when no point has 2.
    """
    values = np.asarray(values, dtype=float)
    values = values.reshape(-1, 1) if values.ndim == 1 else values
    counts = np.isfinite(values).sum(axis=1)
    usable = counts >= 2
    if not usable.any():
        return math.nan
    rows = values[usable]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        within = np.nanvar(rows, axis=1, ddof=1)
    return float(np.mean(within / counts[usable]))


def evppi(x: Sequence[float] | np.ndarray, values: np.ndarray) -> float:
    """Expected value of partial perfect information of one input (regression method).

    Strong, Oakley & Brennan (2014): regress each option's net benefit on the input
    (:func:`smoother`), ``g_k(x) ≈ E[NB_k | x]``; then
    ``EVPPI = mean_j max_k g_k(x_j) − max_k mean_j g_k(x_j)``. As the paper recommends,
    the regressions are of the *incremental* net benefit ``NB_k − NB_0`` (option 0's
    regression is then 0), which is the same quantity with less noise. The regression
    keeps a little of the noise, which can only raise the first term, so the estimate is
    biased slightly upwards; a sampling error below 0 is clipped to 0 (EVPPI is never
    negative).

    Args:
        x: The input's sampled values, shape ``(n,)``.
        values: Net benefit of each of ``k`` options at each sample, shape ``(n, k)``.

    Returns:
        The EVPPI, in the units of ``values`` (0 with a single option).
    """
    x = np.asarray(x, dtype=float).ravel()
    values = np.asarray(values, dtype=float)
    values = values.reshape(-1, 1) if values.ndim == 1 else values
    if values.shape[0] != x.size:
        raise ValueError(f"x has {x.size} values but values has {values.shape[0]} rows")
    if values.shape[1] < 2:
        return 0.0
    increments = values[:, 1:] - values[:, :1]
    fitted = np.column_stack([np.zeros(x.size),
                              *(smoother(x, column)(x) for column in increments.T)])
    value = float(np.mean(fitted.max(axis=1)) - fitted.mean(axis=0).max())
    return max(value, 0.0)
