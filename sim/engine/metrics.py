"""Metrics: NPS, the engagement index, cohort retention and the run summary.

Definitions (also in the README):

* **Engagement index** = (active customers / all customers ever acquired) × mean visits
  per active customer per month; 500 active of 1000 at 4 visits a month gives 2.0.
* **NPS** = % promoters (score 9–10) − % detractors (0–6) on −100..100, where each
  active customer's would-recommend score is its satisfaction on a 0–10 scale, rounded.
* **Retention at month m** = share of converted customers still customers ``m`` months
  after conversion, estimated with Kaplan–Meier (later cohorts are observed for
  fewer months: each customer counts for as long as it is observed).
"""

from __future__ import annotations

import math

import numpy as np

#: Per-step metrics recorded by the DataCollector (besides one count per stage).
STEP_METRICS = (
    "month",
    "prospects",
    "active",
    "churned",
    "new_customers",
    "churned_this_step",
    "revenue",
    "margin",
    "cost_fixed",
    "cost_touch",
    "cost_setup",
    "cost_staff",
    "cost_acquisition",
    "cost_marketing",
    "cost_total",
    "profit",
    "engagement_index",
    "visits_per_active",
    "nps",
    "satisfaction_mean",
    "engagement_mean",
    "touches",
    "referrals",
    "csm_headcount",
    "csm_utilisation",
)

#: Retention horizons (months) reported when within the run's horizon.
RETENTION_MONTHS = (3, 6, 12, 24)


def nps(scores: np.ndarray) -> float:
    """Net Promoter Score of 0–10 scores: % promoters (9–10) − % detractors (0–6).

    Returns ``nan`` for an empty array.
    """
    scores = np.asarray(scores)
    if scores.size == 0:
        return math.nan
    promoters = np.count_nonzero(scores >= 9)
    detractors = np.count_nonzero(scores <= 6)
    return 100.0 * (promoters - detractors) / scores.size


def recommend_scores(satisfaction: np.ndarray) -> np.ndarray:
    """Would-recommend scores 0–10 from satisfaction in [0, 1]."""
    return np.rint(10.0 * np.asarray(satisfaction)).astype(np.int64)


def engagement_index(active: int, total: int, visits_per_active: float) -> float:
    """(active / total customers) × mean visits per active customer per month."""
    if total <= 0:
        return 0.0
    return active / total * visits_per_active


def retention(
    converted_step: np.ndarray,
    churn_step: np.ndarray,
    steps: int,
    steps_per_month: float,
    months: tuple[int, ...] = RETENTION_MONTHS,
) -> dict[str, float]:
    """Cohort retention at fixed months after conversion (Kaplan–Meier).

    Args:
        converted_step: Step of conversion (0 for the installed base, −1 if never).
        churn_step: Step of (first) churn (−1 if never churned).
        steps: Steps simulated.
        steps_per_month: Steps in a month.
        months: Months at which to report.

    Returns:
        ``{"3": share, ...}`` for each month within the horizon with anyone observed
        that long.
    """
    curve, observed = retention_curve(converted_step, churn_step, steps)
    out: dict[str, float] = {}
    for m in months:
        k = round(m * steps_per_month)
        if k <= steps and observed[k] > 0:
            out[str(m)] = float(curve[k])
    return out


def retention_curve(
    converted_step: np.ndarray, churn_step: np.ndarray, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Share of converted customers still active ``k`` steps after conversion.

    Customers convert at different times, so later cohorts are observed for fewer
    steps (right-censored). The Kaplan–Meier product-limit estimator uses every
    customer for as long as it is observed, and its curve never rises. When everyone
    converts at the same step it equals the plain share still active.

    Returns:
        ``(share, observed)`` arrays over ``k = 0..steps``: the retained share and the
        number of customers observed for at least ``k`` steps.
    """
    conv = converted_step[converted_step >= 0]
    churn = churn_step[converted_step >= 0]
    horizon = steps - conv  # steps observed after conversion
    lifetime = np.where(churn >= 0, churn - conv, steps + 1)
    k = np.arange(steps + 1)
    observed = conv.size - np.searchsorted(np.sort(horizon), k, side="left")
    # at risk just before k: lifetime ≥ k and observed at k; churned at k: lifetime == k
    at_risk = conv.size - np.searchsorted(np.sort(np.minimum(lifetime, horizon)), k, "left")
    seen_churn = lifetime[lifetime <= horizon]
    churned = np.bincount(seen_churn, minlength=steps + 1)[: steps + 1]
    hazard = np.divide(churned, at_risk, out=np.zeros(k.size), where=at_risk > 0)
    share = np.cumprod(1.0 - hazard)
    share[observed == 0] = np.nan
    return share, observed


def mean_or_nan(values: np.ndarray) -> float:
    """Mean of ``values``, ``nan`` when empty."""
    return float(values.mean()) if values.size else math.nan
