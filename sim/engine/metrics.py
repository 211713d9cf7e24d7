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
* **Churn rate** of a step = customers who entered a churned stage during the step /
  customers active at its start (:func:`churn_rate`). Over a run (overall or per
  segment) it is pooled: all churned customer-steps over all active customer-steps at
  risk, the exposure-weighted mean of the steps' rates and the maximum-likelihood
  estimate of a constant churn, as a monthly probability (:func:`monthly_probability`:
  ``1 − (1 − r)^k`` for ``k`` steps a month; the rate itself for monthly steps).
* **CSAT** = % satisfied: the share of active customers who would answer 4 or 5 on
  the usual 1–5 satisfaction question (top two boxes). The answer is the customer's
  own satisfaction ``s`` on that scale, ``1 + round(4 · s)`` (:func:`csat_scores`), so
  a customer is satisfied from ``s ≥ 0.625``. It is the satisfaction itself, not the
  would-recommend score of NPS: that one adds the stage's willingness to recommend
  (an advocate scores 10 whatever it thinks of the product), which is what NPS asks
  and CSAT does not. The threshold sits near NPS's passive line (``s ≥ 0.65``): a
  satisfied customer is about one who is not a detractor.
* **DAU/MAU (stickiness)** is derived from the visit model in expectation (no random
  draws, so runs keep their random streams): an active customer visits as a Poisson
  process of rate ``λ = visits_per_month · engagement`` a month
  (:func:`sim.engine.dynamics.observe`). Thinned to days, it visits on a given day with
  probability ``1 − e^(−λ/30)`` (:data:`DAYS_PER_MONTH`, the usual 30-day window of a
  monthly-active count) and is a monthly active user if it visits at least once in the
  month, ``1 − e^(−λ)``. Summed over the active customers these are the expected daily
  and monthly actives, and DAU/MAU = E[daily actives] / E[monthly actives]
  (:func:`dau_mau`). A customer at ``λ`` = 20 visits a month gives
  ``(1 − e^(−2/3)) / (1 − e^(−20)) = 0.487``; one visiting daily (``λ`` → ∞) gives 1.
* **Conversion rate** of a lifecycle edge ``a → b`` = agents (prospects and customers)
  in ``a`` at a step's start who moved to ``b`` during the step / agents in ``a`` at
  the steps' starts, pooled over the run, as a monthly probability
  (:func:`conversion_rates`). The funnel edges (:func:`funnel_edges`) are the edges to a
  later stage of the lifecycle's order that is not a churned stage.
* **Repeat purchases** (a scenario whose revenue is orders × basket): orders, average
  order value (revenue / orders), purchase frequency (orders per customer-month of the
  customers who could order), repeat-purchase rate (buyers with ≥ 2 orders / buyers) and
  revenue per customer are defined in :mod:`sim.engine.purchases`, next to the rule
  that draws the orders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.engine.lifecycle import Edge, Lifecycle

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
    "churn_rate",
    "csat",
    "dau_mau",
)

#: Days in the month of a monthly-active count (the usual 30-day MAU window).
DAYS_PER_MONTH = 30.0

#: The lowest answer on the 1–5 satisfaction scale that counts as satisfied (top two boxes).
CSAT_SATISFIED = 4

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


def csat_scores(satisfaction: np.ndarray) -> np.ndarray:
    """Answers 1–5 to the satisfaction question: ``1 + round(4 · s)`` for satisfaction ``s``.

    Args:
        satisfaction: Each customer's satisfaction in [0, 1].

    Returns:
        Integer answers 1..5.
    """
    return 1 + np.rint(4.0 * np.asarray(satisfaction, dtype=float)).astype(np.int64)


def csat(satisfaction: np.ndarray) -> float:
    """CSAT: the share of customers answering 4 or 5 (:func:`csat_scores`); ``nan`` if none."""
    scores = csat_scores(satisfaction)
    if scores.size == 0:
        return math.nan
    return np.count_nonzero(scores >= CSAT_SATISFIED) / scores.size


def daily_active_probability(visit_rate: np.ndarray) -> np.ndarray:
    """Probability of at least one visit in a day at ``visit_rate`` visits a month.

    ``1 − e^(−λ/30)``: the month's Poisson visits thinned to one of
    :data:`DAYS_PER_MONTH` days.
    """
    return -np.expm1(-np.asarray(visit_rate, dtype=float) / DAYS_PER_MONTH)


def monthly_active_probability(visit_rate: np.ndarray) -> np.ndarray:
    """Probability of at least one visit in a month at ``visit_rate`` visits a month.

    ``1 − e^(−λ)``: a monthly active user.
    """
    return -np.expm1(-np.asarray(visit_rate, dtype=float))


def dau_mau(visit_rate: np.ndarray) -> float:
    """Stickiness: expected daily actives over expected monthly actives.

    Args:
        visit_rate: Each active customer's visits a month, ``λ = visits_per_month ·
            engagement`` (:func:`sim.engine.dynamics.observe`).

    Returns:
        ``Σ (1 − e^(−λ/30)) / Σ (1 − e^(−λ))``; ``nan`` when nobody is expected to visit.
    """
    # the sums of −expm1(−x) as −(Σ expm1(−x)), in one array (negation is exact: the
    # same numbers as summing the probabilities of the functions above)
    rate = np.asarray(visit_rate, dtype=float)
    terms = np.negative(rate)
    monthly = -float(np.expm1(terms, out=terms).sum())
    if monthly <= 0.0:
        return math.nan
    np.negative(rate, out=terms)
    terms /= DAYS_PER_MONTH
    return -float(np.expm1(terms, out=terms).sum()) / monthly


def churn_rate(churned: int, at_risk: int) -> float:
    """Churned customers over the customers at risk (active at the start); ``nan`` if none."""
    return churned / at_risk if at_risk > 0 else math.nan


def monthly_probability(per_step: float | np.ndarray, steps_per_month: float) -> float | np.ndarray:
    """A probability per step as a probability per month, ``1 − (1 − p)^k`` for ``k`` steps.

    Monthly steps return ``p`` itself (exactly, not through the power).
    """
    if steps_per_month == 1:
        return per_step
    with np.errstate(divide="ignore"):  # p = 1: log1p(−1) = −inf gives exactly 1
        return -np.expm1(steps_per_month * np.log1p(-np.asarray(per_step, dtype=float)))


def churn_rate_monthly(counts: np.ndarray, customer: np.ndarray, churned: np.ndarray,
                       steps_per_month: float) -> float:
    """The pooled monthly churn rate of customers from their stage-move counts.

    Args:
        counts: ``(stages, stages)`` moves of customers from a customer stage at a step's
            start to a stage at its end, summed over the run (a segment's slice of the
            model's ``moves_count``, or their sum).
        customer: Which stages are customer stages.
        churned: Which stages are churned stages.
        steps_per_month: Steps in a month.

    Returns:
        Σ churned / Σ at risk as a monthly probability (:func:`monthly_probability`);
        ``nan`` when no customer was ever at risk.
    """
    at_risk = int(counts[customer].sum())
    lost = int(counts[np.ix_(customer, churned)].sum())
    rate = churn_rate(lost, at_risk)
    return rate if math.isnan(rate) else float(monthly_probability(rate, steps_per_month))


def funnel_edges(lifecycle: Lifecycle) -> tuple[Edge, ...]:
    """The lifecycle's funnel: edges to a later stage (in its order) that is not churned."""
    churned = lifecycle.kind_mask("churned").tolist()  # Python booleans: no numpy scalars
    return tuple(e for e in lifecycle.edges if e.target > e.source and not churned[e.target])


#: Columns of the conversion table (:func:`conversion_rates`, ``conversion.csv``).
CONVERSION_COLUMNS = ("from", "to", "moved", "exposed", "rate_per_month")


def conversion_rates(flows: np.ndarray, lifecycle: Lifecycle,
                     steps_per_month: float) -> pd.DataFrame:
    """Every lifecycle edge's conversion rate, pooled over the run.

    The exits of a stage are competing risks drawn once a step
    (:mod:`sim.engine.lifecycle`), so a stage left with probability ``P`` a step is
    left with ``1 − (1 − P)^k`` over the ``k`` steps of a month, and each exit takes
    its share of the moves out of the stage.

    Args:
        flows: ``(stages, stages)`` agents in a stage at a step's start (row) and in a
            stage at its end (column), summed over the run's steps.
        lifecycle: The stage graph.
        steps_per_month: Steps in a month.

    Returns:
        One row per edge, in the lifecycle's order: ``from``, ``to``, ``moved`` (agents
        that took the edge), ``exposed`` (agent-steps in ``from`` at a step's start),
        ``rate_per_month`` (monthly probability of taking the edge; ``moved / exposed``
        for monthly steps; ``nan`` when nobody was ever exposed).
    """
    rows = conversion_rows(flows, lifecycle, steps_per_month)
    return pd.DataFrame(rows, columns=list(CONVERSION_COLUMNS))


def conversion_rows(flows: np.ndarray, lifecycle: Lifecycle,
                    steps_per_month: float) -> list[tuple[str, str, int, int, float]]:
    """The rows of :func:`conversion_rates` as tuples (no data frame built)."""
    names = lifecycle.names
    rows = []
    for e in lifecycle.edges:
        exposed = int(flows[e.source].sum())
        moved = int(flows[e.source, e.target])
        left = exposed - int(flows[e.source, e.source])
        if exposed == 0:
            rate = math.nan
        elif steps_per_month == 1 or left == 0:
            rate = moved / exposed
        else:
            rate = moved / left * float(monthly_probability(left / exposed, steps_per_month))
        rows.append((names[e.source], names[e.target], moved, exposed, rate))
    return rows


def funnel_conversion(
    rows: list[tuple[str, str, int, int, float]], lifecycle: Lifecycle
) -> dict[str, float]:
    """The funnel edges' monthly conversion rates, ``{"<from>_to_<to>": rate}``.

    Args:
        rows: The run's :func:`conversion_rows` (one per edge, in order).
        lifecycle: Its stage graph (whose :func:`funnel_edges` are reported).
    """
    funnel = {id(edge) for edge in funnel_edges(lifecycle)}  # the lifecycle's own edges
    return {f"{a}_to_{b}": float(rate)
            for edge, (a, b, _, _, rate) in zip(lifecycle.edges, rows, strict=True)
            if id(edge) in funnel}


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
        group = np.zeros(converted_step.size, dtype=np.intp)
        return cls.by_group(converted_step, churn_step, steps, group, 1)[0]

    @classmethod
    def by_group(cls, converted_step: np.ndarray, churn_step: np.ndarray, steps: int,
                 group: np.ndarray, n_groups: int) -> list[RiskTable]:
        """Count the table of each group's customers in one pass (a segment's, say).

        The counts are integers, so the tables of the groups add up to the table of
        them all, exactly.

        Args:
            converted_step: Step of conversion per customer (−1: never).
            churn_step: Step of first churn per customer (−1: never).
            steps: Steps simulated.
            group: Each customer's group, ``0 .. n_groups − 1``.
            n_groups: Number of groups.

        Returns:
            One table per group, in group order.
        """
        mine = converted_step >= 0
        conv, churn = converted_step[mine], churn_step[mine]
        offset = group[mine].astype(np.intp) * (steps + 2)  # a row of steps + 2 per group
        horizon = steps - conv  # steps observed after conversion
        lifetime = np.where(churn >= 0, churn - conv, steps + 1)
        size = n_groups * (steps + 2)

        def counts(values: np.ndarray) -> np.ndarray:
            return np.bincount(values, minlength=size).reshape(n_groups, steps + 2)

        def at_least(values: np.ndarray) -> np.ndarray:
            """``#{values ≥ k}`` for ``k = 0..steps``, per group."""
            below = counts(np.clip(values, -1, steps) + 1 + offset).cumsum(axis=1)
            return below[:, -1:] - below[:, : steps + 1]  # a group's size − #{values < k}

        observed = at_least(horizon)
        at_risk = at_least(np.minimum(lifetime, horizon))
        seen = lifetime <= horizon
        churned = counts(lifetime[seen] + offset[seen])[:, : steps + 1]
        return [cls(at_risk[g], churned[g], observed[g]) for g in range(n_groups)]

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
