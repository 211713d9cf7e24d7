"""The outcome registry: what every summary metric of a run is called, measured in and aims for.

A run's summary (:func:`sim.engine.results.summary`), flattened into ``runs.csv`` columns
by :func:`sim.sweep.store.flatten`, holds one value per **outcome** — ``ltv_mean``,
``retention_12``, ``payback_months``, … — for all customers, and some of them again per
segment as ``segments_<segment>_<outcome>`` (``segments_mid_market_profit_per_customer``).
This module is the one place that knows, for each outcome:

* its ``label`` — the short column header of the report (``"LTV / customer"``);
* its ``axis`` — the longer noun phrase of figure axes and the live page
  (``"LTV per customer"``), see :attr:`Outcome.axis_label` and :attr:`Outcome.heading`;
* its ``unit`` — one of :data:`UNITS`, which decides how values are written
  (:meth:`Outcome.format`: shares as ``91.2 %``, differences of shares as ``+1.4 pp``,
  everything else with :func:`sim.formatting.number`);
* whether **higher is better** (costs, payback and churn are better lower), which
  decides ``better_if`` and ``share_better`` of ``summary.csv``
  (:mod:`sim.analysis.statistics`).

The funnel's conversion rates are named after the scenario's own stages,
``conversion_<from>_to_<to>`` (:func:`sim.engine.metrics.funnel_conversion`): each is a
monthly share, higher is better (:func:`conversion_outcome`).

:func:`outcome` resolves any column, per-segment ones included, to its :class:`Outcome`
(``None`` for a column that is not an outcome: ids, factors, :data:`SETTING_COLUMNS`).
The report (:mod:`sim.analysis.report`), the figures (:mod:`sim.analysis.plots`), the
statistics and the live page (:mod:`sim.explore.charts`) all read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from sim.engine.metrics import COST_COLUMNS, RETENTION_MONTHS
from sim.formatting import number, percent, points

MONEY, SHARE, COUNT, MONTHS, RATIO, SCORE = "money", "share", "count", "months", "ratio", "score"
UNITS = (MONEY, SHARE, COUNT, MONTHS, RATIO, SCORE)
"""The units of outcomes: scenario currency, a share in [0, 1], a number of customers or
events, months, a dimensionless ratio, a score (NPS, satisfaction, engagement index)."""

_AXIS_UNIT = {MONEY: "currency", SHARE: "%"}
"""What an axis of a unit says in brackets (units not listed say nothing)."""

SEGMENT_PREFIX = "segments_"
"""Prefix of the per-segment columns: ``segments_<segment>_<outcome>``."""

CONVERSION_PREFIX = "conversion_"
"""Prefix of the funnel's conversion rates: ``conversion_<from>_to_<to>``."""

SETTING_COLUMNS = ("customers", "agents", "months")
"""Summary columns that restate the run's settings: not outcomes."""


@dataclass(frozen=True)
class Outcome:
    """One outcome of a run.

    Attributes:
        name: The summary key / ``runs.csv`` column (``"retention_12"``).
        label: Short column header of the report (``"retention 12 mo"``).
        unit: One of :data:`UNITS`.
        higher_is_better: ``False`` for costs, payback and churn.
        axis: Noun phrase for figure axes and the live page (``"12-month retention"``).
    """

    name: str
    label: str
    unit: str
    higher_is_better: bool = True
    axis: str = ""

    def __post_init__(self) -> None:
        """Check the unit; the axis phrase defaults to the label."""
        if self.unit not in UNITS:
            raise ValueError(f"outcome {self.name}: unknown unit {self.unit!r}")
        if not self.axis:
            object.__setattr__(self, "axis", self.label)

    @property
    def better_if(self) -> str:
        """``"higher"`` or ``"lower"`` (the ``better_if`` column of ``summary.csv``)."""
        return "higher" if self.higher_is_better else "lower"

    @property
    def is_share(self) -> bool:
        """Whether values are shares in [0, 1] (written and drawn as percentages)."""
        return self.unit == SHARE

    @property
    def scale(self) -> float:
        """Factor from a stored value to a displayed one (shares are shown ×100)."""
        return 100.0 if self.is_share else 1.0

    @property
    def axis_label(self) -> str:
        """Axis title with its unit: ``"LTV per customer (currency)"``."""
        unit = _AXIS_UNIT.get(self.unit)
        return f"{self.axis} ({unit})" if unit else self.axis

    @property
    def heading(self) -> str:
        """Heading of a number shown at :attr:`Outcome.scale` (``"12-month retention (%)"``)."""
        return f"{self.axis} (%)" if self.is_share else self.axis

    def formatter(self, difference: bool = False) -> Callable[..., str]:
        """How a value (or, with ``difference``, a difference of two values) is written."""
        if self.is_share:
            return points if difference else percent
        return number

    def format(self, value: float | None, signed: bool = False) -> str:
        """A value as the report writes it (``91.2 %``, ``28,097``)."""
        return self.formatter()(value, signed=signed)


def _retention(months: int) -> Outcome:
    """The outcome of cohort retention ``months`` after conversion."""
    return Outcome(f"retention_{months}", f"retention {months} mo", SHARE,
                   axis=f"{months}-month retention")


_REGISTRY = (
    # cohort retention after conversion
    *(_retention(m) for m in RETENTION_MONTHS),
    # the installed base's revenue a year in, with and without expansion
    Outcome("nrr_12", "NRR 12 mo", SHARE, axis="net revenue retention after 12 months"),
    Outcome("grr_12", "GRR 12 mo", SHARE, axis="gross revenue retention after 12 months"),
    # customers lost per month at risk, pooled over the run
    Outcome("churn_rate_monthly", "churn / mo", SHARE, False, axis="monthly churn rate"),
    # value per converted customer (discounted)
    Outcome("ltv_mean", "LTV / customer", MONEY, axis="LTV per customer"),
    Outcome("cost_per_customer", "cost / customer", MONEY, False,
            axis="cost to serve per customer"),
    Outcome("profit_per_customer", "profit / customer", MONEY, axis="profit per customer"),
    # the same with what customers active at the horizon are still worth (lifetime)
    Outcome("ltv_lifetime_mean", "lifetime LTV / customer", MONEY,
            axis="lifetime LTV per customer"),
    Outcome("cost_lifetime_per_customer", "lifetime cost / customer", MONEY, False,
            axis="lifetime cost to serve per customer"),
    Outcome("profit_lifetime_per_customer", "lifetime profit / customer", MONEY,
            axis="lifetime profit per customer"),
    # the company's totals over the horizon (undiscounted; the sample × its weight)
    Outcome("revenue_total", "revenue total", MONEY, axis="revenue"),
    Outcome("cost_total", "cost total", MONEY, False, axis="cost"),
    Outcome("profit_total", "profit total", MONEY, axis="profit"),
    *(Outcome(f"{column}_total", f"{column[5:]} cost total", MONEY, False,
              axis=f"{column[5:]} cost") for column in COST_COLUMNS),
    # acquisition economics of the customers acquired during the run
    Outcome("payback_months", "payback months", MONTHS, False, axis="payback"),
    Outcome("cac", "CAC", MONEY, False, axis="acquisition cost per new customer"),
    Outcome("ltv_to_cac", "LTV:CAC", RATIO),
    # how customers feel, at the last step
    Outcome("nps", "NPS", SCORE),
    Outcome("satisfaction", "satisfaction", SCORE, axis="mean satisfaction"),
    Outcome("engagement_index", "engagement index", SCORE),
    Outcome("csat", "CSAT", SHARE, axis="CSAT (satisfied customers)"),
    Outcome("dau_mau", "DAU/MAU", SHARE, axis="stickiness (DAU/MAU)"),
    # customer success managers
    Outcome("csm_utilisation", "CSM utilisation", SHARE),
    Outcome("csm_headcount_mean", "CSM headcount", COUNT, axis="mean CSM headcount"),
    Outcome("csm_headcount_peak", "CSMs to hire", COUNT, axis="peak CSM headcount"),
    # repeat purchases (sim.engine.purchases; only runs of a repeat-purchase scenario)
    Outcome("orders", "orders", COUNT, axis="orders placed"),
    Outcome("buyers", "buyers", COUNT, axis="customers with an order"),
    Outcome("aov", "AOV", MONEY, axis="average order value"),
    Outcome("purchase_frequency", "orders / customer / mo", RATIO,
            axis="orders per active customer per month"),
    Outcome("repeat_purchase_rate", "repeat-purchase rate", SHARE,
            axis="buyers with two or more orders"),
    Outcome("repeat_purchase_rate_new", "repeat rate, new", SHARE,
            axis="new buyers with two or more orders"),
    Outcome("revenue_per_customer", "revenue / customer", MONEY,
            axis="revenue per converted customer"),
    # customer counts at the end of the run
    Outcome("converted", "converted", COUNT, axis="customers ever converted"),
    Outcome("new_customers", "new customers", COUNT),
    Outcome("active", "active", COUNT, axis="active customers"),
    Outcome("churned", "churned", COUNT, False, axis="churned customers"),
    Outcome("referrals", "referrals", COUNT),
)

OUTCOMES: dict[str, Outcome] = {o.name: o for o in _REGISTRY}
"""Every outcome by name, in registry order (which orders :func:`lower_is_better_names`)."""

RETENTION = {m: f"retention_{m}" for m in RETENTION_MONTHS}
"""The retention outcomes by months after conversion, shortest first."""

# longest names first, so ``segments_x_ltv_to_cac`` is LTV:CAC, not CAC
_BY_LENGTH = sorted(OUTCOMES, key=len, reverse=True)


def segment_column(segment: str | None, name: str) -> str:
    """The column of outcome ``name`` for ``segment`` (``None``: all customers)."""
    return name if segment is None else f"{SEGMENT_PREFIX}{segment}_{name}"


@cache
def conversion_outcome(name: str) -> Outcome | None:
    """The outcome of a funnel conversion rate ``conversion_<from>_to_<to>`` (else ``None``)."""
    source, sep, target = name.removeprefix(CONVERSION_PREFIX).partition("_to_")
    if not name.startswith(CONVERSION_PREFIX) or not (source and sep and target):
        return None
    return Outcome(name, f"{source} → {target} / mo", SHARE,
                   axis=f"monthly conversion {source} → {target}")


def _named(name: str) -> Outcome | None:
    """The registry's outcome of ``name``, or a funnel conversion rate's."""
    return OUTCOMES.get(name) or conversion_outcome(name)


@cache
def split_column(column: str) -> tuple[str | None, str] | None:
    """``(segment, outcome name)`` of a column (segment ``None`` for all customers).

    ``None`` when the column is not an outcome.
    """
    column = str(column)
    if _named(column) is not None:
        return None, column
    if column.startswith(SEGMENT_PREFIX):
        rest = column[len(SEGMENT_PREFIX):]
        for name in _BY_LENGTH:
            segment = rest[: -len(name) - 1]
            if segment and rest.endswith(f"_{name}"):
                return segment, name
    return None


def outcome(column: str) -> Outcome | None:
    """The outcome of a column, per-segment columns included; ``None`` if it is none."""
    split = split_column(column)
    return _named(split[1]) if split else None


def lower_is_better_names() -> tuple[str, ...]:
    """Outcomes where a lower value is better, in registry order (as the report lists them)."""
    return tuple(o.name for o in _REGISTRY if not o.higher_is_better)


def lower_is_better(column: str) -> bool:
    """Whether a lower value of ``column`` is better (an unknown column: no)."""
    found = outcome(column)
    return found is not None and not found.higher_is_better


def label(column: str) -> str:
    """Report column header of ``column`` (an unknown column: its name, spaced)."""
    found = outcome(column)
    return found.label if found else str(column).replace("_", " ")


def formatter(column: str, difference: bool = False) -> Callable[..., str]:
    """How the report writes values (or differences) of ``column``."""
    found = outcome(column)
    return found.formatter(difference) if found else number
