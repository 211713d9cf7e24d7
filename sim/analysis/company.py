"""The company's totals: what each policy means for the whole company, not per customer.

A run simulates a sample of the company (``population.agents`` of its
``population.customers``); its summary already gives the company's totals over the
horizon (revenue, cost by type, profit; :func:`sim.engine.results.company_totals`) and
the CSMs the company would employ. This module adds the company's lifetime profit
(lifetime profit per converted customer × the company's converted customers) and writes
the report's *Company totals* table: means over replications, one row per policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.names import label
from sim.analysis.statistics import policies_of
from sim.engine.metrics import COST_COLUMNS
from sim.formatting import markdown_table, money_short, number

#: Columns of the table: (runs.csv column or derived name, header).
_COLUMNS = (
    ("profit_lifetime_company", "lifetime profit"),
    ("profit_total", "profit in horizon"),
    ("revenue_total", "revenue in horizon"),
    *((f"{column}_total", column.removeprefix("cost_")) for column in COST_COLUMNS),
    ("csm_headcount_peak", "CSMs to hire"),
    ("payback_months", "payback (months)"),
    ("ltv_to_cac", "LTV:CAC"),
)


def weights(runs: pd.DataFrame) -> pd.Series:
    """Company customers each simulated customer of a run stands for (``customers / agents``).

    Runs recorded before the company and its sample were separate have no ``agents``
    column: there the sample was the company (weight 1).
    """
    if "agents" not in runs.columns or "customers" not in runs.columns:
        return pd.Series(1.0, index=runs.index)
    return runs["customers"].astype(float) / runs["agents"].astype(float)


def lifetime_profit(runs: pd.DataFrame) -> pd.Series:
    """The company's lifetime profit of each run: per converted customer × converted × weight."""
    per_customer = runs["profit_lifetime_per_customer"].astype(float).fillna(0.0)
    return per_customer * runs["converted"].astype(float) * weights(runs)


def totals_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean company totals per policy (rows in the order policies first appear).

    Args:
        runs: Successful runs of one design point.

    Returns:
        One row per policy, the columns of :data:`_COLUMNS` that the runs have.
    """
    frame = runs.copy()
    if {"profit_lifetime_per_customer", "converted"} <= set(frame.columns):
        frame["profit_lifetime_company"] = lifetime_profit(frame)
    present = [name for name, _ in _COLUMNS if name in frame.columns]
    means = frame.groupby("policy", sort=False)[present].mean()
    return means.reindex(policies_of(frame))


def company_section(manifest: Mapping[str, Any], ok: pd.DataFrame,
                    factors: Sequence[str]) -> list[str]:
    """The report's *Company totals* section (empty for a sweep or an empty folder).

    Args:
        manifest: The folder's manifest (its ``customers`` and ``agents``).
        ok: The successful runs.
        factors: The factor columns; with factors the totals differ from point to point
            and the section points to ``runs.csv`` instead.
    """
    if ok.empty or "revenue_total" not in ok.columns:
        return []
    head = ["## Company totals", ""]
    customers, agents = manifest.get("customers"), manifest.get("agents")
    scale = (f"for the company's {number(customers)} customers and prospects, each run "
             f"simulating {number(agents)} of them" if agents not in (None, customers) else
             f"for the company's {number(customers)} customers and prospects")
    if factors:
        return [*head, f"The company totals ({scale}) differ from design point to design "
                "point: `runs.csv` has them per run (`revenue_total`, `cost_total`, "
                "`profit_total`, `cost_<type>_total`, `csm_headcount_peak`).", ""]
    table = totals_table(ok)
    headers = ["policy", *(h for name, h in _COLUMNS if name in table.columns)]
    rows = []
    for policy, row in table.iterrows():
        cells = [label(str(policy))]
        for name, _ in _COLUMNS:
            if name not in table.columns:
                continue
            value = row[name]
            if name in ("payback_months", "ltv_to_cac"):
                cells.append(f"{value:.1f}" if np.isfinite(value) else "–")
            elif name == "csm_headcount_peak":
                cells.append(f"{value:.0f}")
            else:
                cells.append(money_short(value))
        rows.append(cells)
    return [*head,
            f"What each policy means {scale}: means over the replications. Lifetime profit "
            "counts what customers active at the horizon are still worth; the other money "
            "is undiscounted, over the horizon. Costs by type: `fixed` platform, `touch` "
            "per-touch, `setup` one-off per customer, `staff` CSM teams, `acquisition` "
            "sales per new customer, `marketing`. *CSMs to hire* is the most CSMs the "
            "policy employs in any month.", "",
            *markdown_table(headers, rows), ""]
