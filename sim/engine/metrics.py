"""Metrics: NPS, the engagement index and cohort retention (Kaplan–Meier).

Definitions (also in the README):

* **Engagement index** = (active customers / all customers ever acquired) × mean visits
  per active customer per month; 500 active of 1000 at 4 visits a month gives 2.0.
* **NPS** = % promoters (score 9–10) − % detractors (0–6) on −100..100, where each
  active customer's would-recommend score is ``round(10 · (s + w · (1 − s)))``: its
  satisfaction ``s`` lifted toward 10 by how strongly customers of its stage recommend
  us (the stage's ``referral_weight`` ``w``). An advocate (``w = 1``) scores 10, a
  promoter by definition; a customer of a stage that does not recommend (``w = 0``)
  scores its satisfaction on the 0–10 scale, so a satisfied but silent customer
  (``s`` 0.65–0.84) is a passive and a dissatisfied one (``s < 0.65``) a detractor.
* **Retention at month m** = share of converted customers still customers ``m`` months
  after conversion, estimated with Kaplan–Meier (later cohorts are observed for
  fewer months: each customer counts for as long as it is observed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
RETENTION_MONTHS = (3, 6, 12, 24, 36, 60)


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


def recommend_scores(
    satisfaction: np.ndarray, referral_weight: np.ndarray | float = 0.0
) -> np.ndarray:
    """Would-recommend scores 0–10 of customers (see the module's NPS definition).

    Args:
        satisfaction: Each customer's satisfaction in [0, 1].
        referral_weight: The ``referral_weight`` of each customer's stage in [0, 1]
            (0: the score is the satisfaction on the 0–10 scale; 1: the score is 10).

    Returns:
        Integer scores, ``round(10 · (s + w · (1 − s)))``.
    """
    s = np.asarray(satisfaction, dtype=float)
    lifted = s + np.asarray(referral_weight, dtype=float) * (1.0 - s)
    return np.rint(10.0 * lifted).astype(np.int64)


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
    return at_months(curve, observed, steps_per_month, steps, months)


def at_months(
    curve: np.ndarray,
    observed: np.ndarray,
    steps_per_month: float,
    steps: int,
    months: tuple[int, ...] = RETENTION_MONTHS,
) -> dict[str, float]:
    """A retention curve over steps read at whole months (``{"3": share, ...}``).

    Only the months within ``steps`` at which someone is still observed are given.
    """
    out: dict[str, float] = {}
    for m in months:
        k = round(m * steps_per_month)
        if k <= steps and observed[k] > 0:
            out[str(m)] = float(curve[k])
    return out


@dataclass(frozen=True)
class RiskTable:
    """The Kaplan–Meier risk table of converted customers, ``k = 0..steps`` after conversion.

    Customers convert at different times, so later cohorts are observed for fewer steps
    (right-censored); each customer counts for as long as it is observed.

    Attributes:
        at_risk: Customers observed ``k`` steps after conversion and still customers just
            before (their lifetime is at least ``k`` and they are observed at ``k``).
        churned: Customers seen to churn exactly ``k`` steps after conversion.
        observed: Customers observed for at least ``k`` steps.
    """

    at_risk: np.ndarray
    churned: np.ndarray
    observed: np.ndarray

    @classmethod
    def of(cls, converted_step: np.ndarray, churn_step: np.ndarray, steps: int) -> RiskTable:
        """Count the table of a run.

        Args:
            converted_step: Step of conversion per customer (−1: never).
            churn_step: Step of first churn per customer (−1: never).
            steps: Steps simulated.
        """
        conv = converted_step[converted_step >= 0]
        churn = churn_step[converted_step >= 0]
        horizon = steps - conv  # steps observed after conversion
        lifetime = np.where(churn >= 0, churn - conv, steps + 1)
        k = np.arange(steps + 1)
        observed = conv.size - np.searchsorted(np.sort(horizon), k, side="left")
        at_risk = conv.size - np.searchsorted(np.sort(np.minimum(lifetime, horizon)), k, "left")
        seen_churn = lifetime[lifetime <= horizon]
        churned = np.bincount(seen_churn, minlength=steps + 1)[: steps + 1]
        return cls(at_risk, churned, observed)

    def curve(self) -> np.ndarray:
        """The Kaplan–Meier product-limit retention (NaN where nobody is observed)."""
        return kaplan_meier(self.at_risk, self.churned, self.observed)

    def greenwood_se(self, k: int) -> float:
        """Greenwood's standard error of the retention ``k`` steps after conversion.

        Steps where everyone at risk churned are left out (the variance is undefined
        there).
        """
        at_risk, died = self.at_risk[1 : k + 1], self.churned[1 : k + 1]
        ok = (at_risk > 0) & (at_risk > died)
        share = np.prod(1.0 - died[ok] / at_risk[ok])
        var = share**2 * np.sum(died[ok] / (at_risk[ok] * (at_risk[ok] - died[ok])))
        return float(np.sqrt(var))


def kaplan_meier(at_risk: np.ndarray, churned: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """The product of ``1 − churned / at_risk`` over steps; NaN where nobody is observed.

    Simulated counts (:class:`RiskTable`) and expected counts (the Markov chain of
    :mod:`sim.theory.markov`) go through the same product.
    """
    hazard = np.divide(churned, at_risk, out=np.zeros(at_risk.size), where=at_risk > 0)
    curve = np.cumprod(1.0 - hazard)
    curve[observed <= 0] = np.nan
    return curve


def retention_curve(
    converted_step: np.ndarray, churn_step: np.ndarray, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Share of converted customers still active ``k`` steps after conversion.

    The Kaplan–Meier estimate over the run's :class:`RiskTable`; its curve never rises.
    When everyone converts at the same step it equals the plain share still active.

    Returns:
        ``(share, observed)`` arrays over ``k = 0..steps``: the retained share and the
        number of customers observed for at least ``k`` steps.
    """
    table = RiskTable.of(converted_step, churn_step, steps)
    return table.curve(), table.observed


def mean_or_nan(values: np.ndarray) -> float:
    """Mean of ``values``, ``nan`` when empty."""
    return float(values.mean()) if values.size else math.nan


#: The per-step cost columns by type, in the order recorded: the policy's cost types
#: (:data:`sim.engine.policies.COST_TYPES`), then the model's own acquisition and
#: marketing costs (``cost_total`` is their sum).
COST_COLUMNS = tuple(c for c in STEP_METRICS if c.startswith("cost_") and c != "cost_total")
