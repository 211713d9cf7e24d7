"""The growth funnel of a lifecycle with user stages (AARRR): activation before revenue.

A lifecycle with **user** stages (:mod:`sim.engine.lifecycle`: using the product, not
paying) separates *activation* (first entering a user or customer stage) from
*conversion* (first entering a customer, i.e. paying, stage). For such a run:

* **flow** — the agents that took each edge at each step (``flow.csv``: ``step``,
  ``from``, ``to``, ``moved``; :func:`flow_frame`), the per-step counterpart of the
  pooled ``conversion.csv``;
* **time to convert** — months from activation to first paying, over the agents that
  converted during the run (the installed base, paying from the start, is left out);
  an agent that converts straight from a prospect stage takes 0 months
  (:func:`time_to_convert`);
* **reached** — how far down the funnel each agent got: the agents whose deepest stage
  so far (in the lifecycle's order, churned stages left out; an agent starting in a
  stage counts as having come through the ones before it) is that stage or a later one
  (:func:`reached`). Monotone down the funnel by construction; what the funnel figure
  draws (:func:`sim.analysis.plots.growth_funnel`);
* **activated_month** — in ``customers.csv``, the month each agent was activated
  (empty: never; 0: from the start), beside ``converted_month``;
* **users** — agents in a user stage at each step (a ``users`` column) and at the end,
  beside ``active`` (paying customers only), and ``activations`` (agents first
  activated during the run: each step's in an ``activations`` column, the run's in the
  summary).

Lifecycles without user stages get none of these (their outputs are unchanged).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.engine.lifecycle import Lifecycle

if TYPE_CHECKING:
    from sim.engine.model import EngagementModel

#: Columns of ``flow.csv`` (:func:`flow_frame`).
FLOW_COLUMNS = ("step", "from", "to", "moved")


def has_users(lifecycle: Lifecycle) -> bool:
    """Whether the lifecycle has a user stage (and so a growth funnel)."""
    return bool(lifecycle.kind_mask("user").any())


def step_flow(before: np.ndarray, after: np.ndarray, n_stages: int) -> np.ndarray:
    """One step's ``(stages, stages)`` counts of agents by stage at its start and end.

    Args:
        before: Every agent's stage at the start of the step.
        after: Every agent's stage at its end.
        n_stages: Number of stages.
    """
    cell = before.astype(np.intp) * n_stages + after
    return np.bincount(cell, minlength=n_stages * n_stages).reshape(n_stages, n_stages)


def flow_frame(flows: list[np.ndarray], lifecycle: Lifecycle) -> pd.DataFrame:
    """Agents that took each edge at each step, one row per step and edge.

    Args:
        flows: Each step's :func:`step_flow`, in order (step 1 first).
        lifecycle: The stage graph (its edges, in order, within each step).

    Returns:
        ``step``, ``from``, ``to``, ``moved`` (the contents of ``flow.csv``).
    """
    names = lifecycle.names
    rows = [(t, names[e.source], names[e.target], int(f[e.source, e.target]))
            for t, f in enumerate(flows, start=1) for e in lifecycle.edges]
    return pd.DataFrame(rows, columns=list(FLOW_COLUMNS))


def depth(stage: np.ndarray, churned: np.ndarray, deepest: np.ndarray | None) -> np.ndarray:
    """Each agent's deepest funnel stage so far (−1: only churned stages so far).

    Args:
        stage: Every agent's stage now.
        churned: Whether each stage is a churned stage (not part of the funnel).
        deepest: The depths so far (``None`` at the start).
    """
    now = np.where(churned[stage], -1, stage.astype(np.int64))
    return now if deepest is None else np.maximum(deepest, now)


def reached(deepest: np.ndarray, lifecycle: Lifecycle) -> dict[str, int]:
    """Agents that got at least as far as each funnel stage, in the lifecycle's order.

    Args:
        deepest: Each agent's :func:`depth`.
        lifecycle: The stage graph (its churned stages are not funnel stages).

    Returns:
        ``{stage: agents whose deepest stage is it or a later one}``.
    """
    churned = lifecycle.kind_mask("churned")
    return {name: int(np.count_nonzero(deepest >= i))
            for i, name in enumerate(lifecycle.names) if not churned[i]}


def time_to_convert(activated_step: np.ndarray, converted_step: np.ndarray,
                    steps_per_month: float) -> dict[str, float]:
    """Months from activation to first paying, over the agents converted during the run.

    Args:
        activated_step: Step each agent first entered a user or customer stage (−1:
            never; 0: from the start).
        converted_step: Step each agent first entered a customer stage (−1: never; 0:
            the installed base).
        steps_per_month: Steps in a month.

    Returns:
        ``mean`` and ``median`` months (``nan`` with no converter) and ``converters``.
    """
    new = converted_step > 0
    months = (converted_step[new] - activated_step[new]) / steps_per_month
    if months.size == 0:
        return {"mean": float("nan"), "median": float("nan"), "converters": 0}
    return {"mean": float(months.mean()), "median": float(np.median(months)),
            "converters": int(months.size)}


def summary_part(model: EngagementModel) -> dict[str, Any]:
    """The funnel's entries of the run summary (empty without user stages).

    Args:
        model: The model.

    Returns:
        ``users`` (in a user stage now), ``activations`` (activated during the run),
        ``time_to_convert`` (:func:`time_to_convert`) and ``reached`` (:func:`reached`).
    """
    lc = model.spec.lifecycle
    if model.step_flows is None:
        return {}
    return {
        "users": int(np.count_nonzero(model.stage_tables.user[model.stage])),
        "activations": int(np.count_nonzero(model.activated_step > 0)),
        "time_to_convert": time_to_convert(
            model.activated_step, model.converted_step, model.steps_per_month
        ),
        "reached": reached(model.depth, lc),
    }


def timeseries_columns(
    model: EngagementModel, columns: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The per-step ``users`` and ``activations`` columns (with user stages).

    Args:
        model: The model.
        columns: Its per-step series (a ``step`` column and one count per stage).

    Returns:
        ``users`` (agents in a user stage after the step) and ``activations`` (agents
        first activated in the step), or nothing without user stages.
    """
    if model.step_flows is None:
        return {}
    lc = model.spec.lifecycle
    user_stages = [n for n, u in zip(lc.names, model.stage_tables.user, strict=True) if u]
    steps = len(columns["step"])
    users = np.zeros(steps, dtype=np.int64)
    for name in user_stages:
        users += columns[name]
    counts = np.bincount(model.activated_step[model.activated_step > 0],
                         minlength=steps + 1)
    return {"users": users, "activations": counts[1 : steps + 1]}


def customers_columns(model: EngagementModel, frame: pd.DataFrame) -> pd.DataFrame:
    """The per-customer frame with an ``activated_month`` column (with user stages).

    Args:
        model: The model.
        frame: Its one-row-per-customer frame (with a ``converted_month`` column).

    Returns:
        ``frame`` with ``activated_month`` (month of activation, ``nan``: never) right
        after ``converted_month``, or ``frame`` as it is without user stages.
    """
    if model.step_flows is None:
        return frame
    out = frame.copy()
    month = np.where(model.activated_step >= 0,
                     model.activated_step / model.steps_per_month, np.nan)
    out.insert(out.columns.get_loc("converted_month") + 1, "activated_month", month)
    return out
