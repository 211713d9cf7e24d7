"""Deciding under uncertainty: expected profit, regret, value of information, break-evens.

Concept: ``engagesim decide`` runs every policy at every sample of the scenario's
uncertain assumptions (on common random numbers); this module turns those runs into the
answer a strategist needs, the way health economics appraises a treatment
(probabilistic sensitivity analysis) and EMA Workbench a policy (regret):

* **Net benefit.** The value of a policy at one assumption sample is the company's
  discounted lifetime profit from its customers — lifetime profit per customer (what
  customers still active at the horizon are worth included, see
  :mod:`sim.engine.continuation`) × customers who were ever customers, scaled from the
  simulated population to the scenario's company size — averaged over the sample's
  replications (:func:`scope_values`). The same for each segment.
* **What to choose** (:func:`choice`). For each policy: its expected value over the
  assumptions, the probability it is the best, and its *expected regret* — what choosing
  it loses on average against the best policy for the true assumptions. The least
  expected regret is the greatest expected value (regret = E[max] − E[value]), so both
  rules recommend the same policy; the regret says how much is at stake.
* **What to learn first.** The expected value of perfect information,
  ``EVPI = E[max_d V_d] − max_d E[V_d]`` (:func:`evpi`), and, per assumption, the
  expected value of *partial* perfect information by the regression method of Strong,
  Oakley & Brennan (2014) (:func:`sim.analysis.sensitivity.evppi`).
* **When the choice flips** (:func:`break_even`): the values of one assumption at which
  the leading policy's expected advantage over the runner-up, given that assumption
  alone, crosses zero.

**Simulation noise is not uncertainty about the world.** Each value is a mean over
replications; its noise would inflate ``E[max]`` (a maximum of noisy numbers is biased
up). :func:`evpi` therefore subtracts that bias, estimated by a parametric bootstrap:
the noise covariance of a sample's values is estimated from its replications, and the
bias is the average rise of the EVPI when that much noise is added again. The
regression (EVPPI, break-even) smooths the noise away. With one replication no noise
can be estimated, and the report says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from sim.analysis.outcomes import segment_column
from sim.analysis.sensitivity import smoother, smoothing_penalty
from sim.analysis.statistics import failed_mask, verdict_metric

CUSTOMERS = "converted"
COMPANY = "all"
BOOTSTRAP_DRAWS = 200
"""Draws of the parametric bootstrap of :func:`evpi`'s noise bias."""
BREAK_EVEN_DRAWS = 200
"""Bootstrap resamples of a break-even's interval."""
GRID = 401
"""Points at which a regression curve is searched for sign changes."""


@dataclass(frozen=True)
class ScopeValues:
    """The values of every policy at every assumption sample, for one scope.

    Attributes:
        scope: ``"all"`` (the company) or a segment.
        policies: The policies, in column order.
        points: The sample (design point) ids, in row order.
        values: ``(points, policies)`` company profit (currency), replication means.
        per_customer: ``(points, policies)`` profit per customer, replication means.
        noise_cov: ``(policies, policies)`` covariance of the simulation noise of one
            row of ``values`` (pooled over samples), or ``None`` with one replication.
        replications: Replications per sample (the smallest number any sample has).
    """

    scope: str
    policies: tuple[str, ...]
    points: np.ndarray
    values: np.ndarray
    per_customer: np.ndarray
    noise_cov: np.ndarray | None
    replications: int


def scope_values(runs: pd.DataFrame, scope: str, scale: float) -> ScopeValues:
    """Company profit of each policy at each sample, for the company or one segment.

    Args:
        runs: ``runs.csv`` of a decide folder (failed runs are left out).
        scope: ``"all"`` or a segment name.
        scale: Company customers per simulated customer.

    Returns:
        The values; a sample where a policy has no successful run is dropped.
    """
    segment = None if scope == COMPANY else scope
    metric = verdict_metric(runs)
    profit_col, count_col = segment_column(segment, metric), segment_column(segment, CUSTOMERS)
    ok = runs.loc[~failed_mask(runs)].copy()
    ok["_value"] = ok[profit_col].astype(float).fillna(0.0) * ok[count_col] * scale
    ok["_per_customer"] = ok[profit_col].astype(float)
    policies = tuple(dict.fromkeys(ok["policy"]))
    wide = ok.pivot_table(index=["point", "replication"], columns="policy",
                          values="_value", aggfunc="first")[list(policies)].dropna()
    per_customer = ok.pivot_table(index="point", columns="policy", values="_per_customer",
                                  aggfunc="mean")[list(policies)]
    by_point = wide.groupby(level="point")
    means = by_point.mean()
    counts = by_point.size()
    replications = int(counts.min()) if len(counts) else 0
    noise_cov = None
    if replications >= 2:
        centred = wide - means.reindex(wide.index.get_level_values("point")).to_numpy()
        dof = int((counts - 1).sum())
        within = centred.to_numpy().T @ centred.to_numpy() / dof
        noise_cov = within / counts.mean()
    return ScopeValues(
        scope=scope,
        policies=policies,
        points=means.index.to_numpy(),
        values=means.to_numpy(),
        per_customer=per_customer.reindex(means.index).to_numpy(),
        noise_cov=noise_cov,
        replications=replications,
    )


def sampled_values(runs: pd.DataFrame, points: np.ndarray, paths: Sequence[str]) -> np.ndarray:
    """``(points, assumptions)``: each sample's assumption values, in the order of ``points``.

    Args:
        runs: ``runs.csv`` of a decide folder (every run of a point has its values).
        points: The samples wanted (:attr:`ScopeValues.points`).
        paths: The assumptions' key paths (``runs.csv`` columns).
    """
    first = runs.drop_duplicates("point").set_index("point")
    return first.loc[points, list(paths)].to_numpy(float)


@dataclass(frozen=True)
class PolicyChoice:
    """One policy's standing under uncertainty.

    Attributes:
        policy: The policy.
        expected: Expected company profit over the assumptions.
        expected_low: Lower end of its 95 % interval (sampling of the assumptions).
        expected_high: Upper end.
        per_customer: Expected profit per customer.
        p_best: Probability it is the best policy (ties shared).
        regret: Expected regret: mean of (best value − its value).
        regret_p95: 95th percentile of its regret (a bad case).
    """

    policy: str
    expected: float
    expected_low: float
    expected_high: float
    per_customer: float
    p_best: float
    regret: float
    regret_p95: float


def choice(values: ScopeValues, noise_bias: float = 0.0) -> list[PolicyChoice]:
    """Expected value, probability of being best and regret of every policy.

    Args:
        values: The scope's values.
        noise_bias: What simulation noise adds to ``E[max_d V_d]`` (:attr:`Evpi.noise_bias`;
            ``nan`` or 0: nothing removed). Every expected regret has that term, so it is
            removed from each (down to 0).

    Returns:
        One entry per policy, best (least expected regret) first.
    """
    bias = noise_bias if math.isfinite(noise_bias) else 0.0
    v = values.values
    n = v.shape[0]
    best = v.max(axis=1, keepdims=True)
    is_best = np.isclose(v, best, rtol=0.0, atol=1e-9 * max(1.0, float(np.abs(v).max())))
    share = is_best / is_best.sum(axis=1, keepdims=True)
    regret = best - v
    out = []
    for k, policy in enumerate(values.policies):
        mean = float(v[:, k].mean())
        half = 1.96 * float(v[:, k].std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan
        out.append(PolicyChoice(
            policy=policy,
            expected=mean,
            expected_low=mean - half,
            expected_high=mean + half,
            per_customer=float(np.nanmean(values.per_customer[:, k])),
            p_best=float(share[:, k].mean()),
            regret=max(float(regret[:, k].mean()) - bias, 0.0),
            regret_p95=float(np.quantile(regret[:, k], 0.95)),
        ))
    return sorted(out, key=lambda c: c.regret)


def _evpi_raw(v: np.ndarray) -> float:
    """``E[max_d V_d] − max_d E[V_d]`` of a sample of value rows."""
    return float(v.max(axis=1).mean() - v.mean(axis=0).max())


@dataclass(frozen=True)
class Evpi:
    """Expected value of perfect information.

    Attributes:
        value: The EVPI, less the estimated noise bias (≥ 0).
        raw: The EVPI of the replication means as they are.
        noise_bias: The bias that simulation noise adds (``nan``: not estimated).
    """

    value: float
    raw: float
    noise_bias: float


def evpi(values: ScopeValues, rng: np.random.Generator) -> Evpi:
    """EVPI of a scope, corrected for simulation noise by a parametric bootstrap.

    Args:
        values: The scope's values.
        rng: Generator of the bootstrap's noise.
    """
    v = values.values
    raw = _evpi_raw(v)
    if values.noise_cov is None:
        return Evpi(raw, raw, math.nan)
    cov = values.noise_cov
    lifts = []
    for _ in range(BOOTSTRAP_DRAWS):
        noise = rng.multivariate_normal(np.zeros(len(cov)), cov, size=v.shape[0],
                                        method="eigh")
        lifts.append(_evpi_raw(v + noise) - raw)
    bias = float(np.mean(lifts))
    return Evpi(max(raw - bias, 0.0), raw, bias)


@dataclass(frozen=True)
class BreakEven:
    """Where one assumption flips the choice between two policies.

    Attributes:
        assumption: The assumption's key path.
        leader: The policy with the higher expected value.
        other: The runner-up.
        value: The assumption's value where the expected advantage of ``leader`` over
            ``other`` (given this assumption alone) crosses zero; ``nan`` when it does
            not cross within the assumption's range.
        low: Lower end of its bootstrap 95 % interval (``nan`` if unavailable).
        high: Upper end.
        leader_wins_above: ``True`` when ``leader`` is better above ``value``.
        always: With no crossing: ``leader`` or ``other``, whichever wins on the whole
            range.
    """

    assumption: str
    leader: str
    other: str
    value: float
    low: float
    high: float
    leader_wins_above: bool
    always: str | None


def _crossing(x: np.ndarray, y: np.ndarray, low: float, high: float,
              log_lam: float | None = None) -> tuple[float, bool]:
    """The crossing of zero of ``E[y | x]`` nearest the middle of the data, and its direction.

    Args:
        x: The assumption's values.
        y: The advantage at each.
        low: Lower end of the range searched.
        high: Upper end.
        log_lam: The smoother's penalty (default: chosen by GCV).

    Returns:
        ``(value, rises)``: ``nan`` when the curve keeps one sign on ``[low, high]``.
    """
    curve = smoother(x, y, log_lam)
    grid = np.linspace(low, high, GRID)
    fitted = curve(grid)
    signs = np.sign(fitted)
    changes = np.flatnonzero(signs[:-1] * signs[1:] < 0)
    if changes.size == 0:
        return math.nan, bool(fitted[-1] > fitted[0])
    middle = np.median(x)
    j = changes[np.argmin(np.abs(grid[changes] - middle))]
    root = optimize.brentq(lambda t: float(curve(np.asarray([t]))[0]), grid[j], grid[j + 1])
    return float(root), bool(fitted[j + 1] > fitted[j])


def break_even(x: np.ndarray, values: ScopeValues, assumption: str, leader: str, other: str,
               support: tuple[float, float], rng: np.random.Generator) -> BreakEven:
    """The break-even value of one assumption between two policies.

    The advantage ``V_leader − V_other`` is regressed on the assumption (the others
    averaged over, :func:`sim.analysis.sensitivity.smoother`); the break-even is where
    the fit crosses zero inside the assumption's range, with a bootstrap interval
    (samples resampled with replacement and refitted at the full sample's penalty;
    resamples without a crossing are left out).

    Args:
        x: The assumption's sampled values, one per row of ``values``.
        values: The scope's values.
        assumption: The assumption's key path.
        leader: The policy with the higher expected value.
        other: The policy compared with it.
        support: The assumption's range.
        rng: Generator of the bootstrap.
    """
    k = values.policies.index(leader)
    j = values.policies.index(other)
    y = values.values[:, k] - values.values[:, j]
    low, high = support
    root, rises = _crossing(x, y, low, high)
    if math.isnan(root):
        return BreakEven(assumption, leader, other, math.nan, math.nan, math.nan, rises,
                         leader if y.mean() > 0 else other)
    roots = []
    log_lam = smoothing_penalty(x, y)
    for _ in range(BREAK_EVEN_DRAWS):
        rows = rng.integers(0, len(x), len(x))
        if np.unique(x[rows]).size < 4:
            continue
        r, _ = _crossing(x[rows], y[rows], low, high, log_lam)
        if not math.isnan(r):
            roots.append(r)
    lo, hi = (np.quantile(roots, [0.025, 0.975]) if len(roots) >= 20 else (math.nan, math.nan))
    return BreakEven(assumption, leader, other, root, float(lo), float(hi), rises, None)


def decision_grid(x: np.ndarray, values: ScopeValues, supports: Sequence[tuple[float, float]],
                  size: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which policy wins where, over two assumptions (the others averaged over).

    Each policy's value is regressed on the two assumptions by least squares on a
    full cubic polynomial in the standardised inputs (10 terms), and the winner is the
    policy with the highest fitted value at each grid cell.

    Args:
        x: ``(points, 2)`` the two assumptions' sampled values.
        values: The scope's values.
        supports: The two assumptions' ranges.
        size: Grid cells per axis.

    Returns:
        ``(grid_x, grid_y, winner)``: the axes and the index of the winning policy
        (``(size, size)``, rows along ``grid_y``).
    """
    centre, spread = x.mean(axis=0), x.std(axis=0)
    spread = np.where(spread > 0, spread, 1.0)

    def design(points: np.ndarray) -> np.ndarray:
        a, b = ((points - centre) / spread).T
        return np.column_stack([np.ones_like(a), a, b, a * a, a * b, b * b,
                                a ** 3, a * a * b, a * b * b, b ** 3])

    coef, *_ = np.linalg.lstsq(design(x), values.values, rcond=None)
    gx = np.linspace(*supports[0], size)
    gy = np.linspace(*supports[1], size)
    mesh = np.column_stack([np.repeat(gx[None, :], size, 0).ravel(),
                            np.repeat(gy[:, None], size, 1).ravel()])
    fitted = design(mesh) @ coef
    return gx, gy, fitted.argmax(axis=1).reshape(size, size)


def acceptability(values: ScopeValues, retained: np.ndarray,
                  levels: np.ndarray) -> np.ndarray:
    """Probability each policy is best as the value put on a retained customer grows.

    The net benefit at level ``λ`` is ``value + λ × retained``: what each customer still
    with the company at the horizon is worth beyond the profit counted (the years after
    the horizon, or a willingness to trade profit for retention). This is the
    acceptability curve of health economics with retention in place of health.

    Args:
        values: The scope's values.
        retained: ``(points, policies)`` customers still active at the horizon (company
            scale), replication means.
        levels: The values of ``λ`` (currency per retained customer).

    Returns:
        ``(levels, policies)`` probability of being best.
    """
    out = np.empty((len(levels), len(values.policies)))
    for i, lam in enumerate(levels):
        nb = values.values + lam * retained
        best = nb == nb.max(axis=1, keepdims=True)
        out[i] = (best / best.sum(axis=1, keepdims=True)).mean(axis=0)
    return out
