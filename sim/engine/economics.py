"""Money: revenue, margin, acquisition, discounting and per-customer value.

Revenue is booked at the end of each step for every customer who was already a
customer at its start and is still one at its end ("margin at period end"), so a
customer retained with probability ``r`` per period at margin ``m`` is worth, in
expectation, ``Σ_k m r^k / (1 + d)^k = m r / (1 + d − r)`` (Pfeifer & Carraway, 2000).
Value and cost are discounted from the customer's conversion (installed-base customers:
from the start of the run) at the annual rate, compounded per step.
"""

from __future__ import annotations

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
    """

    gross_margin: float = 0.8
    annual_discount_rate: float = 0.1
    expansion_rate: float = 0.02
    max_expansion: float = 2.0


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
    """Return ``(1 + d) ** (−k / steps_per_year)`` for ``k = 0..horizon``."""
    steps_per_year = 12.0 * steps_per_month
    return (1.0 + annual_rate) ** (-np.arange(horizon + 1) / steps_per_year)


def payback_months(cac: float, monthly_net: float) -> float | None:
    """Months of net margin needed to earn back the acquisition cost (None if never)."""
    if cac <= 0:
        return 0.0
    if monthly_net <= 0:
        return None
    return cac / monthly_net
