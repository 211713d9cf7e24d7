"""Customer state dynamics: onboarding, engagement, satisfaction, usage, health.

Each step, for every active customer (``r`` = response to this step's touches):

* onboarding progress ``o += (rate · (1 − complexity) + gain_o · r) · (1 − o)`` —
  complex products are slow to adopt alone, touches speed them up;
* engagement moves toward the value the product delivers,
  ``target_e = product_value · (0.3 + 0.7 · o) · (1 − complexity_drag · complexity)``
  (complex accounts realise less value unaided) (+ a pull toward the neighbours'
  engagement when ``community_strength`` > 0), ``e += κ_e (target_e − e) + gain_e · r (1 − e)``:
  it decays without value;
* satisfaction follows engagement, ``target_s = base_s + slope_s · e``,
  ``s += κ_s (target_s − s) + gain_s · r (1 − s)``;
* usage: visits ~ Poisson(visits_per_month · e) per month;
* health, what the company observes: ``0.8 · visits / visits_per_month + 0.2 · o`` plus
  Gaussian noise, clipped to [0, 1] — usage-based and noisy, not the true churn risk.

Monthly rates are converted to per-step rates for weekly steps (``1 − (1 − κ)^(1/k)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DynamicsSpec:
    """Parameters of the state dynamics (all rates per month)."""

    product_value: float = 0.7
    engagement_adjust: float = 0.3
    satisfaction_adjust: float = 0.3
    satisfaction_base: float = 0.2
    satisfaction_slope: float = 0.7
    touch_engagement_gain: float = 0.3
    touch_satisfaction_gain: float = 0.2
    complexity_drag: float = 0.3
    onboarding_rate: float = 0.35
    touch_onboarding_gain: float = 0.8
    visits_per_month: float = 20.0
    health_noise: float = 0.1
    community_strength: float = 0.0
    feedback_rate: float = 0.0
    new_customer_engagement: float = 0.5
    new_customer_satisfaction: float = 0.6


def per_step(rate_per_month: float, steps_per_month: float) -> float:
    """Convert a monthly share-of-gap rate to a per-step rate."""
    return 1.0 - (1.0 - rate_per_month) ** (1.0 / steps_per_month)


def engagement_target(
    product_value: float, onboarding: np.ndarray, complexity: np.ndarray, drag: float
) -> np.ndarray:
    """Engagement a customer settles at without touches."""
    return product_value * (0.3 + 0.7 * onboarding) * (1.0 - drag * complexity)


def satisfaction_target(spec: DynamicsSpec, engagement: np.ndarray) -> np.ndarray:
    """Satisfaction a customer settles at for a given engagement."""
    return np.clip(spec.satisfaction_base + spec.satisfaction_slope * engagement, 0.0, 1.0)


def poisson_from_uniform(lam: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Poisson draws by inversion of the CDF, one uniform each.

    Inversion (rather than ``Generator.poisson``) consumes exactly one uniform per
    customer whatever the rates, which keeps the random streams of two policies in
    lockstep (common random numbers).
    """
    k = np.zeros(lam.size, dtype=np.int64)
    rows = np.flatnonzero(lam > 0)
    if rows.size == 0:
        return k
    lam_r, u_r = lam[rows], u[rows]
    pmf = np.exp(-lam_r)
    cdf = pmf.copy()
    k_r = np.zeros(rows.size, dtype=np.int64)
    # k = number of j with u > CDF(j - 1): count while any draw is still above the CDF
    for j in range(1, 1000):
        more = u_r > cdf
        if not more.any():
            break
        k_r += more
        pmf *= lam_r / j
        cdf += pmf
    k[rows] = k_r
    return k


def observed_health(
    visits: np.ndarray, onboarding: np.ndarray, visits_per_step: float, noise: np.ndarray
) -> np.ndarray:
    """Health score the company sees (usage-based, noisy)."""
    usage = np.minimum(visits / max(visits_per_step, 1e-12), 1.0)
    return np.clip(0.8 * usage + 0.2 * onboarding + noise, 0.0, 1.0)


__all__ = [
    "DynamicsSpec",
    "engagement_target",
    "observed_health",
    "per_step",
    "poisson_from_uniform",
    "satisfaction_target",
]
