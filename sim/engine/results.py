"""A run's results: the per-step record, the run summary and the files they go to.

* :func:`step_record` — the metrics of one step (what the ``DataCollector`` collects);
* :func:`timeseries`, :func:`customers_frame`, :func:`summary` — one row per step, one
  row per customer, the run-level results (the model's methods of the same names
  delegate here); :func:`series_columns` — the per-step rows as numpy columns;
* :func:`conversion_frame` — one row per lifecycle edge: its conversion rate over the run;
* :func:`write_run` — ``summary.json``, ``timeseries.csv``, ``customers.csv`` and
  ``conversion.csv`` (and ``flow.csv`` for a lifecycle with user stages:
  :mod:`sim.engine.funnel`, which also adds the funnel's summary entries and columns).

The metrics themselves (churn rate, CSAT, DAU/MAU, conversion rates, NPS, …) are
defined in :mod:`sim.engine.metrics`.

Files are written into a temporary folder beside the destination and moved into place
only when all of them are complete, so an interrupted run never leaves half-written
results. Formatting is fixed (sorted columns as defined, ``repr`` floats, ``null`` for
undefined values), so the same scenario, policy and seed give byte-identical files.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
import pandas as pd

from sim.engine import funnel, purchases
from sim.engine.continuation import remaining_steps
from sim.engine.economics import payback_months, revenue_retention
from sim.engine.lifecycle import Moves, in_stages
from sim.engine.metrics import (
    COST_COLUMNS,
    STEP_METRICS,
    RiskTable,
    at_months,
    churn_rate,
    churn_rate_monthly,
    conversion_rates,
    conversion_rows,
    csat,
    dau_mau,
    engagement_index,
    funnel_conversion,
    mean_or_nan,
    nps,
    recommend_scores,
)
from sim.engine.policies import COST_TYPES, Engagement
from sim.engine.segments import TRAITS
from sim.files import jsonable
from sim.schema import InputError

if TYPE_CHECKING:
    from sim.engine.model import EngagementModel

#: Output column names of traits whose own name is taken by an outcome column.
TRAIT_COLUMNS = {"revenue": "contract_revenue"}


# ----------------------------------------------------------------------------------
# the per-step record


def collector(
    stage_names: tuple[str, ...], outcomes: dict[str, Callable] | None = None
) -> StepCollector:
    """The ``DataCollector`` of a model: every stage count and step metric.

    Args:
        stage_names: The lifecycle's stage names.
        outcomes: Reporters of run outcomes (``EngagementModel(outcomes=…)``), also
            collected every step (``None``: none).

    Returns:
        A collector whose reporters read ``model.metrics`` (set by :func:`step_record`).
    """
    return StepCollector((*stage_names, *STEP_METRICS), outcomes or {})


class StepCollector(mesa.DataCollector):
    """A ``mesa.DataCollector`` of the step's record, appended as it is.

    Its model reporters read ``model.metrics`` (what :func:`step_record` returned), as
    a plain ``DataCollector``'s would, but :meth:`collect` appends the record's values
    to ``model_vars`` without calling a reporter and deep-copying its value for each of
    the ~40 columns (the values are numbers, immutable: the copies were the same values;
    2 µs a step instead of 25). Run outcomes
    (``EngagementModel(outcomes=…)``) are further reporters, collected as
    ``mesa.DataCollector`` does: ``mesa.batch_run`` reads every reporter's last value,
    while the data frame (what :meth:`EngagementModel.timeseries` reads) stays the
    step metrics alone.

    Args:
        names: The record's keys to collect, in column order (a repeated key, such as
            a stage named like a metric, is one column).
        outcomes: Reporter name → function of the model, collected beside them.
    """

    def __init__(self, names: tuple[str, ...], outcomes: dict[str, Callable]) -> None:
        steps = {name: _reporter(name) for name in names}
        super().__init__(model_reporters={**steps, **outcomes})
        self._step_names = list(steps)
        self._step_columns = [(name, self.model_vars[name]) for name in steps]
        self._outcomes = outcomes

    def collect(self, model: EngagementModel) -> None:
        """Append the step's record of ``model`` and its outcome reporters' values."""
        self._collection_steps.append(model.time)
        metrics = model.metrics
        for name, column in self._step_columns:
            column.append(metrics[name])
        if not self._validated:
            for name, reporter in self._outcomes.items():
                self._validate_model_reporter(name, reporter, model)
            self._validated = True
        for name, reporter in self._outcomes.items():
            self.model_vars[name].append(deepcopy(reporter(model)))

    def get_model_vars_dataframe(self) -> pd.DataFrame:
        """The step metrics, one row per step (any outcomes are left out)."""
        return pd.DataFrame({name: self.model_vars[name] for name in self._step_names})


def _reporter(name: str) -> Callable[[EngagementModel], float]:
    def report(model: EngagementModel) -> float:
        return model.metrics[name]

    report.__name__ = f"report_{name}"
    return report


@dataclass
class StepTally:
    """The totals of one step's arrays that its record needs, taken as each phase ends.

    The record is made once every phase is done; holding the per-customer arrays it sums
    (touches, the booked revenue and margin, the moves' masks) until then would add them
    to the memory of every later phase (issue 15). Each total is the same sum of the
    same array the record used to take, so the same number.

    Attributes:
        touches: Touches delivered (``Engagement.touches.sum()``).
        referrals: Word-of-mouth moves.
        new_customers: Agents who became customers for the first time.
        churned_this_step: Agents who entered a churned stage.
        acquisition: Acquisition cost of the new customers.
        revenue: Revenue booked.
        margin: Margin booked.
        marketing: Marketing spend.
    """

    touches: float = 0.0
    referrals: int = 0
    new_customers: int = 0
    churned_this_step: int = 0
    acquisition: float = 0.0
    revenue: float = 0.0
    margin: float = 0.0
    marketing: float = 0.0

    def count_moves(self, moves: Moves, referrals: int, new_cac: np.ndarray) -> None:
        """Take the counts of the step's ``moves``.

        Args:
            moves: The step's moves.
            referrals: Word-of-mouth moves.
            new_cac: The acquisition cost of each new customer, in row order.
        """
        self.referrals = referrals
        self.acquisition = float(new_cac.sum())
        self.new_customers = int(np.count_nonzero(moves.converted))
        self.churned_this_step = int(np.count_nonzero(moves.churned))


@np.errstate(over="ignore", invalid="ignore")
def step_record(
    model: EngagementModel,
    engaged: Engagement,
    tally: StepTally,
    stage_before: np.ndarray,
) -> dict[str, float]:
    """The metrics of the step being taken, recorded once its phases are done.

    Args:
        model: The model at the end of the step (``model.steps`` is this step's number).
        engaged: What the policy did this step (its cost totals and CSM hours are read).
        tally: The step's totals (touches, moves, money).
        stage_before: Every agent's stage at the start of the step (who was at risk
            of churning).

    Returns:
        One count per lifecycle stage and one value per
        :data:`~sim.engine.metrics.STEP_METRICS` name (an overflowing sum is ``inf``
        here, unwarned: :func:`check_finite` fails the run on it).
    """
    lc, tables = model.spec.lifecycle, model.stage_tables
    act = model.active.nonzero()[0]
    n_active = act.size
    ever = int(np.count_nonzero(model.converted_step >= 0))
    visits_pm = (
        float(np.add.reduce(model.visits[act], dtype=np.float64) / n_active)  # the mean
        * model.steps_per_month if n_active else 0.0
    )
    satisfaction = model.satisfaction[act]
    counts = np.bincount(model.stage, minlength=len(lc.stages))
    costs = {f"cost_{k}": float(engaged.costs_by_type.get(k, 0.0)) for k in COST_TYPES}
    costs["cost_acquisition"] = tally.acquisition
    costs["cost_marketing"] = tally.marketing
    cost_total = sum(costs.values())
    available = engaged.csm_hours_available
    at_risk = in_stages(tables.customer, stage_before)
    churned_now = in_stages(tables.churned, model.stage)
    lost = np.count_nonzero(at_risk & churned_now)
    margin = tally.margin
    m = dict(zip(lc.names, counts.tolist(), strict=True))
    m.update(
        month=model.steps / model.steps_per_month,
        prospects=int(counts[tables.prospect].sum()),
        active=n_active,
        churned=int(np.count_nonzero(churned_now)),
        new_customers=tally.new_customers,
        churned_this_step=tally.churned_this_step,
        revenue=tally.revenue,
        margin=margin,
        **costs,
        cost_total=cost_total,
        profit=margin - cost_total,
        engagement_index=engagement_index(n_active, ever, visits_pm),
        visits_per_active=visits_pm,
        nps=nps(recommend_scores(satisfaction, tables.referral_weight[model.stage[act]])),
        satisfaction_mean=mean_or_nan(satisfaction),
        engagement_mean=mean_or_nan(model.engagement[act]),
        touches=tally.touches,
        referrals=tally.referrals,
        csm_headcount=engaged.csm_headcount,
        csm_utilisation=engaged.csm_hours_used / available if available > 0 else math.nan,
        churn_rate=churn_rate(int(lost), int(np.count_nonzero(at_risk))),
        csat=csat(satisfaction),
        dau_mau=dau_mau(visit_rate(model, act)),
    )
    return m


def visit_rate(model: EngagementModel, who: np.ndarray) -> np.ndarray:
    """Visits a month of the active customers ``who``: ``visits_per_month · engagement``.

    The Poisson mean of a month's visits (:func:`sim.engine.dynamics.observe`), from
    which DAU/MAU is derived (:func:`sim.engine.metrics.dau_mau`).
    """
    return model.spec.dynamics.visits_per_month * model.engagement[who]


# ----------------------------------------------------------------------------------
# the run


def series_columns(model: EngagementModel) -> dict[str, np.ndarray]:
    """One array per column of :func:`timeseries`, in its order (no data frame built).

    What a sweep stores of every run: building the columns with numpy rather than
    through ``DataCollector.get_model_vars_dataframe`` and pandas' column inserts saves
    about 2 ms of a 5k-customer run's harness (issue 15). Each column has the dtype
    pandas would infer from the collected values (int64 counts, float64 metrics).

    Args:
        model: The model.

    Returns:
        Column name → one value per step, starting with ``step``.
    """
    collector = model.datacollector
    names = getattr(collector, "_step_names", None) or list(collector.model_reporters)
    collected = collector.model_vars
    steps = len(collected[names[0]]) if names else 0
    columns = {"step": np.arange(1, steps + 1)}
    for name in names:
        column = np.asarray(collected[name])
        if column.dtype == object:  # e.g. None among numbers: as pandas would read them
            column = pd.Series(collected[name]).to_numpy()
        columns[name] = column
    columns.update(funnel.timeseries_columns(model, columns))
    if model.purchases is not None:  # repeat purchases: orders, AOV, frequency, …
        columns.update(purchases.timeseries_columns(model.purchases, columns["revenue"]))
    return columns


def timeseries(model: EngagementModel) -> pd.DataFrame:
    """One row per step: a ``step`` column, stage counts and the step metrics.

    Args:
        model: The model.

    Returns:
        The ``DataCollector``'s model variables with a ``step`` column first (and the
        funnel's and repeat purchases' columns: :func:`series_columns`).
    """
    return pd.DataFrame(series_columns(model))


def customer_profit(model: EngagementModel) -> np.ndarray:
    """Each customer's profit: LTV − discounted cost to serve − acquisition cost.

    Args:
        model: The model.

    Returns:
        One profit per customer.
    """
    return model.ltv - model.cost_disc - model.acquisition


def customers_frame(model: EngagementModel) -> pd.DataFrame:
    """One row per customer: id, segment, traits and outcomes.

    Args:
        model: The model.

    Returns:
        The frame written to ``customers.csv``.
    """
    lc = model.spec.lifecycle
    frame = pd.DataFrame(
        {
            "id": np.arange(model.n),
            "segment": np.array(model.spec.segment_names)[model.segment],
            **{TRAIT_COLUMNS.get(k, k): model.traits[k] for k in TRAITS},
            "final_stage": np.array(lc.names)[model.stage],
            "converted_month": np.where(
                model.converted_step >= 0, model.converted_step / model.steps_per_month, np.nan
            ),
            "tenure": model.tenure_months,
            "revenue": model.revenue_cum,
            "cost_to_serve": model.cost_cum,
            "acquisition_cost": model.acquisition,
            "ltv": model.ltv,
            "profit": customer_profit(model),
            "referrals": model.referrals.astype(np.int64),  # held as int32
        }
    )
    if model.purchases is not None:  # repeat purchases: the traits and the orders
        frame = frame.assign(
            **{k: model.traits[k] for k in purchases.PURCHASE_TRAITS},
            orders=model.purchases.orders,
        )
    return funnel.customers_columns(model, frame)


def summary(model: EngagementModel, seed: int | None, version: str) -> dict[str, Any]:
    """Run-level results (the contents of ``summary.json``).

    Args:
        model: The model (run or part-run).
        seed: The seed to report.
        version: The engine's version to report.

    Returns:
        The summary (JSON-ready after :func:`~sim.files.jsonable`).
    """
    # float64 overflow is caught below (check_finite), not warned about on the way
    with np.errstate(over="ignore", invalid="ignore"):
        out = _summary(model, seed, version)
    check_finite(model, out)
    return out


def _summary(model: EngagementModel, seed: int | None, version: str) -> dict[str, Any]:
    ts = model.series_columns()
    steps = len(ts["step"])
    conv = model.converted_step >= 0
    new = np.flatnonzero(model.converted_step > 0)
    # what several entries read, computed once
    moves, tenure = model.moves_count, model.tenure_months
    profit = customer_profit(model)
    life = _lifetime(model, moves, tenure)
    retained = RiskTable.by_group(model.converted_step, model.churn_step, model.steps,
                                  model.segment, len(model.spec.segments))
    everyone = RiskTable(*(sum(getattr(table, part) for table in retained)
                           for part in ("at_risk", "churned", "observed")))
    n_new = new.size
    ltv_new = model.ltv[new]
    acq_total = float(model.acquisition[new].sum()) + _total(ts["cost_marketing"])
    cac = acq_total / n_new if n_new else math.nan
    months_active_new = float(tenure[new].sum())
    net_new = float((ltv_new - model.cost_disc[new]).sum())
    monthly_net = net_new / months_active_new if months_active_new > 0 else 0.0
    payback = payback_months(cac, monthly_net) if n_new else None
    used, available = model.csm_hours_used, model.csm_hours_available
    out: dict[str, Any] = {
        "scenario": model.spec.name,
        "policy": model.policy.name,
        "seed": seed,
        "customers": model.spec.population.customers,
        "agents": model.n,
        "months": model.spec.time.months,
        "step": model.spec.time.step,
        "retention": _retention(model, everyone),
        **revenue_retention_12(model),
        "churn_rate_monthly": segment_churn(model, moves.sum(axis=0)),
        "converted": int(np.count_nonzero(conv)),
        "new_customers": n_new,
        "active": int(np.count_nonzero(model.active)),
        "churned": int(np.count_nonzero(model.stage_tables.churned[model.stage])),
        **customer_values(model, profit, life, np.flatnonzero(conv)),
        **company_totals(model, ts),
        "cac": cac,
        "ltv_to_cac": float(ltv_new.mean()) / cac if n_new and cac > 0 else math.nan,
        "payback_months": payback if n_new else math.nan,
        "nps": float(ts["nps"][-1]) if steps else math.nan,
        "satisfaction": float(ts["satisfaction_mean"][-1]) if steps else math.nan,
        "engagement_index": float(ts["engagement_index"][-1]) if steps else 0.0,
        "csat": float(ts["csat"][-1]) if steps else math.nan,
        "dau_mau": float(ts["dau_mau"][-1]) if steps else math.nan,
        "csm_utilisation": used / available if available > 0 else math.nan,
        "csm_headcount_mean": float(np.nanmean(ts["csm_headcount"])) if steps else 0.0,
        "csm_headcount_peak": int(np.nanmax(ts["csm_headcount"])) if steps else 0,
        "referrals": int(model.referrals.sum()),
        "conversion": funnel_conversion(
            conversion_rows(model.flow_count.sum(axis=0), model.spec.lifecycle,
                            model.steps_per_month), model.spec.lifecycle),
        **funnel.summary_part(model),
        **purchase_part(model, conv),
        "segments": segment_summary(model, profit, life, moves, retained),
        "version": version,
    }
    return out


def _retention(model: EngagementModel, table: RiskTable) -> dict[str, float]:
    """The retention entries of a group's risk table (:func:`sim.engine.metrics.retention`)."""
    return at_months(table.curve(), table.observed, model.steps_per_month, model.steps)


class NonFiniteResult(InputError):
    """A run's money or key metrics are not finite numbers: the run failed.

    An :class:`~sim.schema.InputError` (the cause is the input: a scenario's magnitudes
    that overflow float64, such as a revenue mean of ``1e308``), so ``engagesim run``
    reports it in one line (exit 2) and a sweep records the run as failed with it.
    """


#: Per-customer arrays of the model that every result is built from: always finite.
FINITE_ARRAYS = ("ltv", "cost_disc", "cost_cum", "revenue_cum", "acquisition",
                 "monthly_revenue", "engagement", "satisfaction", "onboarding")
#: Summary entries that are always defined (sums): ``nan`` there is a failure too.
ALWAYS_DEFINED = ("revenue_total", "cost_total", "profit_total",
                  *(f"{column}_total" for column in COST_COLUMNS))


def _non_finite(tree: dict[str, Any], path: str = "") -> list[tuple[str, float]]:
    """``(dotted key, value)`` of every infinite number in ``tree`` (nested dicts).

    A key's dotted path is only spelled out for what is reported or descended into.
    """
    bad = []
    for key, value in tree.items():
        if isinstance(value, dict):
            bad += _non_finite(value, f"{path}{key}.")
        elif isinstance(value, float | np.floating) and math.isinf(value):
            bad.append((f"{path}{key}", float(value)))
    return bad


def check_finite(model: EngagementModel, out: dict[str, Any]) -> None:
    """Raise :class:`NonFiniteResult` if a run's results are not finite numbers.

    Undefined metrics stay ``nan`` (LTV:CAC without new customers); but an infinite
    value anywhere, a ``nan`` money total, or a non-finite value in the per-customer
    arrays (:data:`FINITE_ARRAYS`) means float64 overflowed or garbage got in, and the
    run's numbers mean nothing: they must not be reported as results.

    Args:
        model: The model.
        out: Its summary.
    """
    bad = _non_finite(out)
    bad += [(key, out[key]) for key in ALWAYS_DEFINED
            if key in out and not math.isfinite(out[key]) and (key, out[key]) not in bad]
    for name in FINITE_ARRAYS:
        values = getattr(model, name)
        with np.errstate(over="ignore", invalid="ignore"):
            if math.isfinite(np.add.reduce(values)):  # then so is every value (no scan)
                continue
        wrong = np.flatnonzero(~np.isfinite(values))
        if wrong.size:  # else finite values whose sum overflowed
            bad.append((f"{name}[{wrong[0]}]", float(values[wrong[0]])))
    if bad:
        shown = ", ".join(f"{key} = {value}" for key, value in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise NonFiniteResult(
            model.spec.source, "",
            f"policy {model.policy.name!r}: the run's results are not finite numbers "
            f"({shown}{more}): float64 overflowed; check the scenario's magnitudes "
            "(revenues, costs, customers)",
        )


def company_totals(model: EngagementModel, ts: dict[str, np.ndarray]) -> dict[str, float]:
    """The company's revenue, cost by type and profit over the horizon (undiscounted).

    The run's customers are a sample of the company, each standing for
    ``model.weight`` of its customers, and carry that share of the company's fixed and
    staff costs (:mod:`sim.engine.policies`), so the sample's sums × weight are the
    company's totals.

    Args:
        model: The model.
        ts: Its :func:`series_columns` (the sample's sums per step).

    Returns:
        ``revenue_total``, ``cost_total``, ``profit_total`` and ``cost_<type>_total``
        for each cost column, in the company's currency.
    """
    w = model.weight
    out = {
        "revenue_total": float(model.revenue_cum.sum()) * w,
        "cost_total": _total(ts["cost_total"]) * w,
        "profit_total": _total(ts["profit"]) * w,
    }
    for column in COST_COLUMNS:
        out[f"{column}_total"] = _total(ts[column]) * w
    return out


def _total(column: np.ndarray) -> float:
    """A series column's sum over the steps, skipping ``nan`` as pandas' ``sum`` does.

    Without a ``nan`` it is the plain sum (``np.nansum`` sums the same values, in the
    same order, after a copy that replaces ``nan`` by 0).
    """
    total = float(np.add.reduce(column))
    return float(np.nansum(column)) if math.isnan(total) else total


@dataclass(frozen=True)
class Lifetime:
    """Each customer's value with what it is still worth beyond the horizon.

    Attributes:
        ltv: Discounted margin within the horizon plus the expected remaining discounted
            margin of a customer active at the horizon (:mod:`sim.engine.continuation`).
        cost: Discounted cost to serve, likewise continued.
        profit: ``ltv − cost − acquisition``.
    """

    ltv: np.ndarray
    cost: np.ndarray
    profit: np.ndarray


def lifetime(model: EngagementModel) -> Lifetime:
    """Lifetime value, cost and profit of every customer (the horizon's plus the rest).

    A customer active at the horizon keeps its current margin per step and its average
    cost to serve per step so far, for as long as the run's own stage-to-stage moves of
    its segment say it stays (:func:`sim.engine.continuation.remaining_steps`),
    discounted from its conversion like the run's cash flows.

    Args:
        model: A model that has run.
    """
    return _lifetime(model, model.moves_count, model.tenure_months)


def _lifetime(model: EngagementModel, moves: np.ndarray, tenure: np.ndarray) -> Lifetime:
    """:func:`lifetime` from the model's :attr:`moves_count` and :attr:`tenure_months`."""
    spm = model.steps_per_month
    step_discount = (1.0 + model.spec.economics.annual_discount_rate) ** (-1.0 / (12 * spm))
    weights = remaining_steps(moves, model.stage_tables.customer, step_discount)
    ltv, cost = model.ltv.copy(), model.cost_disc.copy()
    live = np.flatnonzero(model.active)
    if live.size:
        age = model.steps - np.maximum(model.converted_step[live], 0)
        at_age = step_discount ** age.astype(float)
        seg, stage = model.segment[live], model.stage[live]
        gross_margin = model.spec.economics.gross_margin
        if model.purchases is None:  # the contract, held at today's level
            margin = gross_margin * model.monthly_revenue[live] / spm
            if model.price_discount is not None:  # and so is its discount
                margin = margin * (1.0 - model.price_discount[live])
        else:  # the expected orders × basket at the last step's rate
            margin = gross_margin * model.purchases.expected_spend()[live]
        served = np.maximum(tenure[live] * spm, 1.0)
        cost_per_step = model.cost_cum[live] / served
        ltv[live] += at_age * margin * weights.paid[seg, stage]
        cost[live] += at_age * cost_per_step * weights.served[seg, stage]
    return Lifetime(ltv, cost, ltv - cost - model.acquisition)


def customer_values(model: EngagementModel, profit: np.ndarray, life: Lifetime,
                    who: np.ndarray) -> dict[str, float]:
    """Mean value, cost and profit per customer of ``who``, within the horizon and lifetime.

    Args:
        model: The model.
        profit: Each customer's profit within the horizon (:func:`customer_profit`).
        life: Each customer's lifetime values (:func:`lifetime`).
        who: The rows of the customers (the converted ones, of one segment or all), in
            increasing order (a mask would be scanned once per entry).
    """
    return {
        "ltv_mean": mean_or_nan(model.ltv[who]),
        "cost_per_customer": mean_or_nan(model.cost_disc[who]),
        "profit_per_customer": mean_or_nan(profit[who]),
        "ltv_lifetime_mean": mean_or_nan(life.ltv[who]),
        "cost_lifetime_per_customer": mean_or_nan(life.cost[who]),
        "profit_lifetime_per_customer": mean_or_nan(life.profit[who]),
    }


def segment_summary(model: EngagementModel, profit: np.ndarray, life: Lifetime,
                    moves: np.ndarray, retained: list[RiskTable]) -> dict[str, dict[str, Any]]:
    """Per-segment results of the customers who ever converted.

    Args:
        model: The model.
        profit: Each customer's profit (see :func:`customer_profit`).
        life: Their lifetime values (:func:`lifetime`).
        moves: The model's :attr:`~sim.engine.model.EngagementModel.moves_count`.
        retained: Each segment's risk table
            (:meth:`~sim.engine.metrics.RiskTable.by_group`).

    Returns:
        Segment name → converted count, retention, net and gross revenue retention,
        the pooled monthly churn rate, mean LTV, cost and profit (within the horizon,
        then lifetime), and at the last step CSAT and DAU/MAU of its active customers.
    """
    conv, active = model.converted_step >= 0, model.active
    out = {}
    for k, name in enumerate(model.spec.segment_names):
        ours = model.segment == k
        mine = ours & conv
        out[name] = {
            "converted": int(np.count_nonzero(mine)),
            "retention": _retention(model, retained[k]),
            **revenue_retention_12(model, np.flatnonzero(ours)),
            "churn_rate_monthly": segment_churn(model, moves[k]),
            **customer_values(model, profit, life, np.flatnonzero(mine)),
            **csat_and_stickiness(model, ours & active),
            **purchase_part(model, mine),
        }
    return out


def purchase_part(model: EngagementModel, who: np.ndarray) -> dict[str, Any]:
    """A repeat-purchase run's metrics of the customers ``who`` (empty for a subscription).

    The revenue model, orders, buyers, AOV, purchase frequency, repeat-purchase rate
    and revenue per customer (:func:`sim.engine.purchases.purchase_metrics`), and the
    repeat-purchase rate of the customers acquired during the run
    (``repeat_purchase_rate_new``: the cohort figure benchmarks quote, without an
    installed base of habitual buyers).
    """
    if model.purchases is None:
        return {}
    new = who & (model.converted_step > 0)
    return {
        "revenue_model": "repeat_purchase",
        **purchases.purchase_metrics(model.purchases, model.revenue_cum, who),
        "repeat_purchase_rate_new": purchases.purchase_metrics(
            model.purchases, model.revenue_cum, new)["repeat_purchase_rate"],
    }


def segment_churn(model: EngagementModel, counts: np.ndarray) -> float:
    """The pooled monthly churn rate of the customer moves ``counts`` (``(stages, stages)``).

    See :func:`sim.engine.metrics.churn_rate_monthly`.
    """
    tables = model.stage_tables
    return churn_rate_monthly(counts, tables.customer, tables.churned, model.steps_per_month)


def csat_and_stickiness(model: EngagementModel, who: np.ndarray) -> dict[str, float]:
    """CSAT and DAU/MAU now of the active customers ``who`` (all, or one segment's).

    A segment's at the end (:func:`sim.engine.metrics.csat`,
    :func:`sim.engine.metrics.dau_mau`); the step's ``csat`` and ``dau_mau`` columns
    are the same of all the active (:func:`step_record`).
    """
    rows = np.flatnonzero(who)  # the rows, to index two arrays
    return {"csat": csat(model.satisfaction[rows]), "dau_mau": dau_mau(visit_rate(model, rows))}


def conversion_frame(model: EngagementModel) -> pd.DataFrame:
    """One row per lifecycle edge: agents that took it, agent-steps exposed, monthly rate.

    Pooled over the run and over every agent, prospects included (the model's
    ``flow_count``; :func:`sim.engine.metrics.conversion_rates`). The contents of
    ``conversion.csv``.

    Args:
        model: The model.
    """
    flows = model.flow_count.sum(axis=0)
    return conversion_rates(flows, model.spec.lifecycle, model.steps_per_month)


def revenue_retention_12(model: EngagementModel,
                         who: np.ndarray | None = None) -> dict[str, float]:
    """Net and gross revenue retention of the installed base a year in (``nrr_12``, ``grr_12``).

    What a company reports about its existing customers: their monthly revenue 12
    months after the start over their revenue at the start, with expansion (net) and
    without (gross: churn and contraction only;
    :func:`sim.engine.economics.revenue_retention`). Empty for runs shorter than a
    year or without an installed base in ``who``. Repeat purchases have no contract
    to compare: both are ``None`` there, with the reason in ``revenue_retention_note``.

    Args:
        model: The model.
        who: Which customers (a mask or rows; ``None``: all).
    """
    if model.base_revenue_12 is None:
        return {}
    if model.purchases is not None:
        return {"nrr_12": None, "grr_12": None,
                "revenue_retention_note": purchases.NO_REVENUE_RETENTION}
    start, later = model.base_revenue, model.base_revenue_12
    if who is not None:
        start, later = start[who], later[who]
    net, gross = revenue_retention(start, later)
    return {} if math.isnan(net) else {"nrr_12": net, "grr_12": gross}


# ----------------------------------------------------------------------------------
# files


def write_run(model: EngagementModel, out_dir: str | Path, seed: int | None) -> Path:
    """Write the result files of a finished run into ``out_dir`` atomically.

    Args:
        model: The finished model.
        out_dir: Destination folder (created; existing files of the same names are
            replaced).
        seed: The seed to report in ``summary.json``.

    Returns:
        The output folder.
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        summary = jsonable(model.summary(seed=seed))
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        model.timeseries().to_csv(tmp / "timeseries.csv", index=False, lineterminator="\n")
        model.customers_frame().to_csv(tmp / "customers.csv", index=False, lineterminator="\n")
        conversion_frame(model).to_csv(tmp / "conversion.csv", index=False, lineterminator="\n")
        if model.step_flows is not None:  # a growth funnel (user stages)
            funnel.flow_frame(model.step_flows, model.spec.lifecycle).to_csv(
                tmp / "flow.csv", index=False, lineterminator="\n")
        out.mkdir(exist_ok=True)
        for f in tmp.iterdir():
            f.replace(out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
