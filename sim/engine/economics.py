"""Money: revenue, margin, acquisition, discounting and per-customer value.

Revenue is booked at the end of each step for every customer who was already a
customer at its start and is still one at its end ("margin at period end"), so a
customer retained with probability ``r`` per period at margin ``m`` is worth, in
expectation, ``Σ_k m r^k / (1 + d)^k = m r / (1 + d − r)`` (Pfeifer & Carraway, 2000).
Value and cost are discounted from the customer's conversion (installed-base customers:
from the start of the run) at the annual rate, compounded per step.

Revenue is a subscription (each customer pays its monthly contract) or, with
``revenue_model = "repeat_purchase"``, the orders a customer places in the step
(:mod:`sim.engine.purchases`, which states the rule and the subscription as its special
case); :func:`book` takes that spend as given.

The step's money phase: :func:`book` (revenue, margin, discounted value and cost of
the step; :func:`accrue` adds them to the running totals in place), :func:`expand`
(contracts grow in expanding stages) and :func:`marketing_cost` (spend on the prospects
marketing reached).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EconomicsSpec:
    """The company's economics.

    Attributes:
        gross_margin: Share of revenue kept after the cost of goods.
        annual_discount_rate: Rate used to discount future cash flows.
        expansion_rate: Monthly revenue growth of a customer in an expanding stage, at
            expansion potential 1 and full engagement.
        max_expansion: Cap on revenue as a multiple of the starting contract.
        revenue_model: ``"subscription"`` (monthly revenue per customer) or
            ``"repeat_purchase"`` (orders × basket; :mod:`sim.engine.purchases`).
    """

    gross_margin: float = 0.8
    annual_discount_rate: float = 0.1
    expansion_rate: float = 0.02
    max_expansion: float = 2.0
    revenue_model: str = "subscription"


@dataclass(frozen=True)
class MarketingSpec:
    """Acquisition through marketing.

    Attributes:
        awareness_rate: Monthly probability that marketing makes an unaware prospect
            aware (as a rate, the Bass model's innovation coefficient
            ``p = −ln(1 − rate)``); edges whose base is ``"marketing"`` use it.
        cost_per_prospect_month: Marketing spend per unaware prospect per month.
    """

    awareness_rate: float = 0.02
    cost_per_prospect_month: float = 0.0


def discount_factors(annual_rate: float, steps_per_month: float, horizon: int) -> np.ndarray:
    """Discount factor of each step since conversion.

    Args:
        annual_rate: Annual discount rate ``d``.
        steps_per_month: Steps in a month.
        horizon: Largest number of steps.

    Returns:
        ``(1 + d) ** (−k / steps_per_year)`` for ``k = 0..horizon``.
    """
    steps_per_year = 12.0 * steps_per_month
    return (1.0 + annual_rate) ** (-np.arange(horizon + 1) / steps_per_year)


def payback_months(cac: float, monthly_net: float) -> float | None:
    """Months of net margin needed to earn back the acquisition cost.

    Args:
        cac: Acquisition cost per customer.
        monthly_net: Net margin per customer per month.

    Returns:
        ``cac / monthly_net``; 0 when nothing is to be earned back, ``None`` if never.
    """
    if cac <= 0:
        return 0.0
    if monthly_net <= 0:
        return None
    return cac / monthly_net


@dataclass(frozen=True)
class Booking:
    """One step's money, per customer.

    Attributes:
        revenue: Revenue booked (customers who were customers all step).
        margin: ``gross_margin × revenue``.
        value: Discounted margin (what the step adds to the LTV).
        cost: Cost to serve.
        cost_discounted: Discounted cost to serve.
    """

    revenue: np.ndarray
    margin: np.ndarray
    value: np.ndarray
    cost: np.ndarray
    cost_discounted: np.ndarray


def book(
    spec: EconomicsSpec,
    steps_per_month: float,
    *,
    payers: np.ndarray,
    monthly_revenue: np.ndarray,
    cost: np.ndarray,
    age: np.ndarray,
    discount: np.ndarray,
    price_discount: np.ndarray | None = None,
    spend: np.ndarray | None = None,
) -> Booking:
    """Book one step's revenue, margin and cost, discounted from conversion.

    Args:
        spec: The economics.
        steps_per_month: Steps in a month.
        payers: Customers at both the start and the end of the step (margin at
            period end).
        monthly_revenue: Each customer's monthly revenue.
        cost: Each customer's cost to serve in the step.
        age: Steps since each customer's conversion (installed base: since the start).
        discount: :func:`discount_factors` (ages past its end use its last factor).
        price_discount: Per-customer share of the revenue given away by programs
            aimed at ``price``, in [0, 1] (``None``: none).
        spend: Each customer's spend in the step before discounts, when revenue is not a
            subscription (repeat purchases: orders × basket, which already says who
            paid: the payers and the first orders of new customers; ``payers`` is then
            not read); ``None``: the subscription, ``monthly_revenue / steps_per_month``
            of the payers.

    Returns:
        The :class:`Booking`.
    """
    revenue = _revenue(steps_per_month, payers, monthly_revenue, price_discount, spend)
    margin = spec.gross_margin * revenue
    factor = _discount_factor(age, discount)
    return Booking(revenue, margin, margin * factor, cost, cost * factor)


def accrue(
    spec: EconomicsSpec,
    steps_per_month: float,
    *,
    payers: np.ndarray,
    monthly_revenue: np.ndarray,
    cost: np.ndarray,
    age: np.ndarray,
    discount: np.ndarray,
    revenue_cum: np.ndarray,
    value_cum: np.ndarray,
    cost_cum: np.ndarray,
    cost_discounted_cum: np.ndarray,
    price_discount: np.ndarray | None = None,
    spend: np.ndarray | None = None,
) -> tuple[float, float]:
    """Add one step's :func:`book` to each customer's running totals, in place.

    The same numbers as adding :func:`book`'s arrays, but its five per-customer arrays
    are never held at once: the margin and its discounted value are computed in the
    revenue's memory once the revenue is added, and the discounted cost in the discount
    factors' (a run's peak memory, issue 15).

    Args:
        spec: The economics.
        steps_per_month: Steps in a month.
        payers: As :func:`book`.
        monthly_revenue: As :func:`book`.
        cost: As :func:`book`.
        age: As :func:`book`.
        discount: As :func:`book`.
        revenue_cum: Revenue so far (the step's revenue is added).
        value_cum: Discounted margin so far (the LTV: the step's value is added).
        cost_cum: Cost to serve so far (``cost`` is added).
        cost_discounted_cum: Discounted cost to serve so far.
        price_discount: As :func:`book`.
        spend: As :func:`book` (not modified).

    Returns:
        ``(revenue, margin)``: the step's totals (the sums of :func:`book`'s arrays).
    """
    revenue = _revenue(steps_per_month, payers, monthly_revenue, price_discount, spend)
    revenue_total = float(revenue.sum())
    revenue_cum += revenue
    # gross_margin × revenue (the same product), in the revenue's memory if it is ours
    margin = np.multiply(revenue, spec.gross_margin, out=None if revenue is spend else revenue)
    margin_total = float(margin.sum())
    factor = _discount_factor(age, discount)
    value_cum += np.multiply(margin, factor, out=margin)
    del margin
    cost_cum += cost
    cost_discounted_cum += np.multiply(cost, factor, out=factor)
    return revenue_total, margin_total


def _revenue(
    steps_per_month: float,
    payers: np.ndarray,
    monthly_revenue: np.ndarray,
    price_discount: np.ndarray | None,
    spend: np.ndarray | None,
) -> np.ndarray:
    """The step's revenue of each customer (:func:`book`): ``spend`` itself or a new array."""
    if spend is None:  # the payers' monthly revenue / steps_per_month, 0 elsewhere
        revenue = np.zeros(payers.size)
        np.divide(monthly_revenue, steps_per_month, out=revenue, where=payers)
    else:
        revenue = spend
    if price_discount is not None:
        revenue = revenue * (1.0 - price_discount)
    return revenue


def _discount_factor(age: np.ndarray, discount: np.ndarray) -> np.ndarray:
    """Each customer's discount factor at ``age`` steps (past the table: its last)."""
    return discount[np.minimum(age, discount.size - 1)]


def expand(
    spec: EconomicsSpec,
    steps_per_month: float,
    monthly_revenue: np.ndarray,
    *,
    growing: np.ndarray,
    potential: np.ndarray,
    engagement: np.ndarray,
    contract: np.ndarray,
    rate_factor: np.ndarray | None = None,
    in_place: bool = False,
) -> np.ndarray:
    """Grow the contracts of customers in expanding stages.

    Args:
        spec: The economics (``expansion_rate``, ``max_expansion``).
        steps_per_month: Steps in a month.
        monthly_revenue: Each customer's monthly revenue now.
        growing: Customers in an expanding customer stage.
        potential: Each customer's ``expansion_potential`` trait.
        engagement: Engagement.
        contract: Each customer's starting contract revenue.
        rate_factor: Per-customer multiplier of the expansion rate (programs aimed at
            ``expansion``; ``None``: 1).
        in_place: Write the grown revenue into ``monthly_revenue`` (the model's own
            array, which it replaces anyway: no new array each step) instead of a copy.

    Returns:
        ``monthly_revenue × (1 + rate · potential · engagement)``, at most
        ``max_expansion × contract``, for the growing customers (the others unchanged;
        ``monthly_revenue`` itself when nobody grows or ``in_place``).
    """
    rows = growing.nonzero()[0]  # only their rows are computed (the same numbers)
    if rows.size == 0:
        return monthly_revenue
    rate = spec.expansion_rate / steps_per_month
    if rate_factor is None:
        factor = rate * potential[rows]
    else:
        factor = rate * rate_factor[rows]
        factor *= potential[rows]
    factor *= engagement[rows]
    factor += 1.0  # 1 + rate · potential · engagement
    grown = monthly_revenue[rows]
    grown *= factor
    np.minimum(grown, spec.max_expansion * contract[rows], out=grown)
    revenue = monthly_revenue if in_place else monthly_revenue.copy()
    revenue[rows] = grown
    return revenue


def marketing_cost(spec: MarketingSpec, prospects: int, steps_per_month: float) -> float:
    """Marketing spend of one step.

    Args:
        spec: The marketing.
        prospects: Prospects marketing reached this step (in a marketed stage at its
            start).
        steps_per_month: Steps in a month.

    Returns:
        ``cost_per_prospect_month × prospects / steps_per_month``.
    """
    return spec.cost_per_prospect_month * prospects / steps_per_month


def revenue_retention(start: np.ndarray, later: np.ndarray) -> tuple[float, float]:
    """Net and gross revenue retention of a cohort of accounts.

    Args:
        start: Each account's monthly revenue at the start (0: not in the cohort).
        later: Its monthly revenue later (0 once churned; accounts not in the cohort
            are ignored).

    Returns:
        ``(net, gross)``: ``Σ later / Σ start`` (expansion counts) and
        ``Σ min(later, start) / Σ start`` (only churn and contraction count); ``nan``
        when the cohort has no revenue.
    """
    base = float(start.sum())
    if base <= 0:
        return math.nan, math.nan
    later = np.where(start > 0, later, 0.0)
    return float(later.sum()) / base, float(np.minimum(later, start).sum()) / base
