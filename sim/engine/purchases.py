"""Repeat purchases: revenue from orders instead of a subscription (B2C).

A scenario's ``[economics] revenue_model`` is ``"subscription"`` (the default: every
customer pays its monthly contract) or ``"repeat_purchase"`` (online retail, food
delivery: customers place orders). In a repeat-purchase scenario each segment states
two traits instead of ``revenue`` / ``acv``, drawn per customer like the others:

* ``order_frequency`` ``f`` — orders a month at full engagement (engagement 1);
* ``basket`` ``b`` — the average order value (currency).

**The rule.** A prospect converts by placing its first order (one order of its basket,
booked in the step it converts). After that, each step, a customer who was a customer
at its start and still is at its end (the subscription's "margin at period end") places

    ``orders ~ Poisson(λ)``,  ``λ = f · e · v / k``

orders worth ``revenue = orders × b · g`` (before a ``price`` discount), where ``e`` is
its engagement (the step's, as the visits use), ``v`` the visit factor of programs
aimed at ``visits`` (1 without one: a program that brings customers back more often
brings more orders), ``k`` the steps in a month and ``g`` the basket's growth in
expanding stages (``economics.expansion_rate`` grows the basket up to
``max_expansion``). Orders are then visits that convert at ``f / visits_per_month``
per visit in expectation. A customer's expected margin a month is

    ``gross_margin · f · e · v · b · g``.

The model keeps ``monthly_revenue`` (what tiering by ``min_revenue``, a CSM team's
``highest_revenue`` priority and expansion read) as the spend at full engagement,
``f · b · g``; the ``revenue`` trait (``contract_revenue`` in ``customers.csv``) is
``f · b``.

**Subscription as a special case.** The subscription is the degenerate repeat
purchase of one "order" worth the monthly contract each month, whatever the
engagement: ``λ`` replaced by exactly ``1 / k`` orders a step (no Poisson noise),
``e · v ≡ 1``, ``b = revenue`` and no first order at conversion; its expected margin a
month is ``gross_margin · revenue``.

**Churn is latent.** Nobody cancels a retail relationship: a customer simply stops
buying. The lifecycle's churned stage is that moment, the customer lapsing for good
(moving to a competitor, no longer needing the product); from then on it orders
nothing. The churn edges' hazards (low engagement and satisfaction raise them) say
when. A customer who orders nothing for a few months is *not* churned: with ``λ`` of
0.5 a month a live customer goes three months without an order ``e^(−1.5)`` ≈ 22 % of
the time. A company that counts "no order in 90 days" as churn sees more churn than
this model's churned stage, and some of it come back.

**Random numbers.** The purchase traits and the orders are drawn from the run's own
purchase stream, spawned from its seed sequence after the policy's
(:meth:`Purchases.start`); subscription runs never spawn it, so their random numbers,
and so their outputs, are those of a model without this module, and policies compared
on one seed see the same orders for the same customers (common random numbers).

**Metrics** (:func:`purchase_metrics`; the run summary and ``timeseries.csv``): orders,
average order value (AOV = revenue / orders), purchase frequency (orders per active
customer per month), repeat-purchase rate (share of buyers with at least two orders),
revenue per customer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.engine.dynamics import poisson_from_uniform
from sim.engine.segments import Segment

#: The revenue models a scenario may name (``economics.revenue_model``).
REVENUE_MODELS = ("subscription", "repeat_purchase")
#: The traits of a repeat-purchase segment, in output column order.
PURCHASE_TRAITS = ("order_frequency", "basket")
#: What summary.json says of net and gross revenue retention in a repeat-purchase run.
NO_REVENUE_RETENTION = (
    "not defined for repeat purchases: no customer holds a contract whose revenue could "
    "be compared a year apart (one month's orders are Poisson noise per customer); see "
    "repeat_purchase_rate, purchase_frequency and the retention curve"
)
#: Columns ``timeseries.csv`` gains in a repeat-purchase run.
PURCHASE_COLUMNS = (
    "orders", "buyers", "aov", "purchase_frequency", "repeat_purchase_rate",
    "revenue_per_active",
)


def order_rate(
    frequency: np.ndarray,
    engagement: np.ndarray,
    steps_per_month: float,
    visit_factor: np.ndarray | None = None,
) -> np.ndarray:
    """Expected orders of each customer in one step, ``λ = f · e · v / k``.

    Args:
        frequency: Each customer's ``order_frequency`` (orders a month at engagement 1).
        engagement: Engagement.
        steps_per_month: Steps in a month ``k``.
        visit_factor: Per-customer multiplier ``v`` of programs aimed at ``visits``
            (``None``: 1).

    Returns:
        ``λ``, one per customer.
    """
    lam = frequency * engagement / steps_per_month
    return lam if visit_factor is None else lam * visit_factor


def spend_potential(traits: dict[str, np.ndarray]) -> np.ndarray:
    """Monthly spend at full engagement, ``order_frequency × basket`` (the revenue trait)."""
    return traits["order_frequency"] * traits["basket"]


def sample_purchase_traits(
    rng: np.random.Generator, segments: tuple[Segment, ...], segment: np.ndarray
) -> dict[str, np.ndarray]:
    """Draw every customer's ``order_frequency`` and ``basket`` from its segment's.

    Args:
        rng: The purchase stream.
        segments: The scenario's segments (each with :attr:`Segment.purchases`).
        segment: Each customer's segment index.

    Returns:
        Trait name → ``float64`` array, clipped at 0.
    """
    out = {name: np.zeros(segment.size) for name in PURCHASE_TRAITS}
    for k, seg in enumerate(segments):
        rows = np.flatnonzero(segment == k)
        for name in PURCHASE_TRAITS:
            out[name][rows] = seg.purchases[name].sample(rng, rows.size)
    for values in out.values():
        np.maximum(values, 0.0, out=values)
    return out


@dataclass
class Purchases:
    """A repeat-purchase run's orders: the draws and what the metrics count.

    Attributes:
        rng: The purchase stream (spawned from the run's seed sequence).
        traits: ``order_frequency`` and ``basket`` of every customer.
        steps_per_month: Steps in a month.
        orders: Orders of each customer so far.
        exposure: Steps each customer was a customer all step (could order) so far.
        rate: Each customer's order rate in the last step (``λ`` at its engagement and
            programs then, whether or not it could order), net of the step's price
            discount (what an order was worth to us, as a share of its basket).
        basket: Each customer's order value in the last step (``b · g``).
        per_step: One dict per step: ``orders``, ``revenue`` and ``customers`` (the
            customers who were customers all step).
    """

    rng: np.random.Generator
    traits: dict[str, np.ndarray]
    steps_per_month: float
    orders: np.ndarray = field(init=False)
    exposure: np.ndarray = field(init=False)
    rate: np.ndarray = field(init=False)
    basket: np.ndarray = field(init=False)
    per_step: list[dict[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = self.traits["basket"].size
        self.orders = np.zeros(n, dtype=np.int64)
        self.exposure = np.zeros(n, dtype=np.int64)
        self.rate = np.zeros(n)
        self.basket = self.traits["basket"].copy()

    @classmethod
    def start(cls, rng: np.random.Generator, segments: tuple[Segment, ...],
              segment: np.ndarray, steps_per_month: float) -> Purchases:
        """Draw the purchase traits of a run's customers from its purchase stream.

        Args:
            rng: The run's generator: the purchase stream is spawned from it (this does
                not advance its own stream).
            segments: The scenario's segments.
            segment: Each customer's segment index.
            steps_per_month: Steps in a month.
        """
        stream = rng.spawn(1)[0]
        return cls(stream, sample_purchase_traits(stream, segments, segment), steps_per_month)

    def step(
        self,
        payers: np.ndarray,
        engagement: np.ndarray,
        monthly_revenue: np.ndarray,
        visit_factor: np.ndarray | None = None,
        first: np.ndarray | None = None,
        discount: np.ndarray | None = None,
    ) -> np.ndarray:
        """Draw one step's orders and return each customer's spend (before discounts).

        Draws one uniform per customer whatever the rates and inverts the Poisson CDF
        (:func:`sim.engine.dynamics.poisson_from_uniform`), so two policies see the
        same stream for the same customers (common random numbers).

        Args:
            payers: Customers at both the start and the end of the step.
            engagement: Engagement.
            monthly_revenue: Spend at full engagement, ``f · b · g`` (grown by expansion).
            visit_factor: Programs aimed at ``visits`` (``None``: 1).
            first: Customers who converted this step: converting is their first order
                (one order of their basket; ``None``: nobody).
            discount: The share of the spend programs aimed at ``price`` give away this
                step (:func:`sim.engine.targets.price_discount`; applied by
                :func:`sim.engine.economics.book`, remembered here for
                :meth:`expected_spend`; ``None``: none).

        Returns:
            ``orders × b · g``, one per customer (0 for everyone else).
        """
        f = self.traits["order_frequency"]
        u = self.rng.random(f.size)
        rate = order_rate(f, engagement, self.steps_per_month, visit_factor)
        orders = poisson_from_uniform(np.where(payers, rate, 0.0), u)
        if first is not None:
            orders = orders + first
        with np.errstate(divide="ignore", invalid="ignore"):
            self.basket = np.where(f > 0, monthly_revenue / f, self.traits["basket"])
        self.rate = rate if discount is None else rate * (1.0 - discount)
        self.orders += orders
        self.exposure += payers
        self.per_step.append({
            "orders": float(orders.sum()),
            "customers": float(np.count_nonzero(payers)),
            "buyers": float(np.count_nonzero(self.orders)),
            "repeat_buyers": float(np.count_nonzero(self.orders >= 2)),
        })
        return orders * self.basket

    def expected_spend(self) -> np.ndarray:
        """Each customer's expected spend a step at the last step's rate, ``λ · b · g``.

        Net of the last step's price discount. What a step of a customer active at the
        horizon is worth beyond it (:func:`sim.engine.results.lifetime`), held at today's
        engagement, programs, discount and basket like the subscription's revenue is
        held at today's contract.
        """
        return self.rate * self.basket


def timeseries_columns(purchases: Purchases, revenue: np.ndarray) -> dict[str, np.ndarray]:
    """The :data:`PURCHASE_COLUMNS` of every step.

    Args:
        purchases: The run's purchases.
        revenue: Each step's booked revenue (after discounts).

    Returns:
        Column name → one value per step: ``orders``, ``buyers`` (customers with an
        order so far), ``aov`` (revenue / orders), ``purchase_frequency`` (orders per
        customer per month, over the customers who were customers all step),
        ``repeat_purchase_rate`` (share of the buyers so far with ≥ 2 orders),
        ``revenue_per_active`` (revenue per such customer per month); ``nan`` where
        undefined.
    """
    steps = purchases.per_step
    orders = np.array([s["orders"] for s in steps])
    customers = np.array([s["customers"] for s in steps])
    buyers = np.array([s["buyers"] for s in steps])
    repeat = np.array([s["repeat_buyers"] for s in steps])
    spm = purchases.steps_per_month
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "orders": orders,
            "buyers": buyers,
            "aov": np.where(orders > 0, revenue / orders, np.nan),
            "purchase_frequency": np.where(customers > 0, orders / customers * spm, np.nan),
            "repeat_purchase_rate": np.where(buyers > 0, repeat / buyers, np.nan),
            "revenue_per_active": np.where(customers > 0, revenue / customers * spm, np.nan),
        }


def purchase_metrics(
    purchases: Purchases, revenue: np.ndarray, who: np.ndarray
) -> dict[str, float]:
    """A run's repeat-purchase metrics over the customers ``who``.

    Args:
        purchases: The run's purchases (orders and exposure of each customer).
        revenue: Each customer's revenue over the run (after discounts).
        who: Which customers (the converted ones, of one segment or all).

    Returns:
        ``orders``, ``buyers``, ``aov`` (revenue / orders), ``purchase_frequency``
        (orders per customer-month), ``repeat_purchase_rate`` (buyers with ≥ 2 orders /
        buyers) and ``revenue_per_customer`` (revenue over the run per customer of
        ``who``); ``nan`` where undefined.
    """
    o, r = purchases.orders[who], revenue[who]
    customer_months = float(purchases.exposure[who].sum()) / purchases.steps_per_month
    total, buyers = int(o.sum()), int(np.count_nonzero(o))
    return {
        "orders": total,
        "buyers": buyers,
        "aov": float(r.sum()) / total if total else math.nan,
        "purchase_frequency": total / customer_months if customer_months > 0 else math.nan,
        "repeat_purchase_rate": int(np.count_nonzero(o >= 2)) / buyers if buyers else math.nan,
        "revenue_per_customer": float(r.mean()) if o.size else math.nan,
    }


__all__ = [
    "NO_REVENUE_RETENTION", "PURCHASE_COLUMNS", "PURCHASE_TRAITS", "REVENUE_MODELS",
    "Purchases", "order_rate", "purchase_metrics", "sample_purchase_traits", "spend_potential",
    "timeseries_columns",
]
