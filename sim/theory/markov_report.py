"""The text report of a Markov-chain analysis (``engagesim analytic`` without ``--json``).

:func:`describe` turns an :class:`~sim.theory.markov.AnalyticResult` into aligned tables:
what one run measures in expectation (per segment and overall), what a customer
converting into the entry stage is worth within the horizon and for ever, the expected
customers per stage at the horizon, and the response to touches per stage.

Typical use::

    from sim.theory.markov import analyse
    from sim.theory.markov_report import describe

    print(describe(analyse("markov_saas", "hybrid")))
"""

from __future__ import annotations

import math

import numpy as np

from sim.engine.metrics import RETENTION_MONTHS
from sim.formatting import fixed, percent
from sim.theory.markov import AnalyticResult

__all__ = ["describe"]


def _share(x: float) -> str:
    return percent(x, space=False)


def describe(result: AnalyticResult) -> str:
    """Return a readable text report of ``result`` (tables per segment and overall).

    Args:
        result: What :func:`analyse` returned.
    """
    rows = [*result.segments.values(), result.overall]
    months = [m for m in (str(x) for x in RETENTION_MONTHS) if m in result.overall.retention]
    unit = "monthly" if result.step == "month" else "weekly"
    horizon = result.steps / result.steps_per_month
    lines = [
        f"{result.scenario} · {result.policy} · {horizon:g} months ({unit} steps) · "
        f"{result.overall.customers:,} customers — exact Markov-chain expectations",
        "",
        "The run (what one simulation measures, in expectation):",
    ]
    head = ["segment", "customers", "converted", *[f"ret {m} mo" for m in months],
            "tenure mo", "LTV/customer"]
    body = [
        [r.name, fixed(r.customers), fixed(r.converted, 1),
         *[_share(r.retention.get(m, math.nan)) for m in months],
         fixed(r.tenure_months, 1), fixed(r.ltv_mean)]
        for r in rows
    ]
    lines += _table(head, body)
    lines += ["", f"A customer converting into {result.entry_stage!r} (within the "
              f"{horizon:g}-month horizon, and for ever):"]
    cohort_months = [m for m in RETENTION_MONTHS if round(m * result.steps_per_month)
                     <= result.steps]
    head = ["segment", *[f"ret {m} mo" for m in cohort_months], "tenure mo",
            "tenure mo (∞)", "CLV", "CLV (∞)"]
    body = [
        [r.name,
         *[_share(r.cohort_survival[round(m * result.steps_per_month)]) for m in cohort_months],
         fixed(r.cohort_tenure_horizon_months, 1), fixed(r.cohort_tenure_months, 1),
         fixed(r.clv_horizon), fixed(r.clv_infinite)]
        for r in rows
    ]
    lines += _table(head, body)
    lines += ["", f"Expected customers per stage at month {horizon:g}:"]
    head = ["segment", *result.stages]
    body = [[r.name, *[fixed(x) for x in r.occupancy[-1]]] for r in rows]
    lines += _table(head, body)
    resp = [r for r in result.segments.values() if np.any(r.response > 0)]
    if resp:
        lines += ["", "Response to touches per stage (1 − exp(−dose)):"]
        body = [[r.name, *[f"{x:.3f}" for x in r.response]] for r in resp]
        lines += _table(head, body)
    return "\n".join(lines)


def _table(head: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]

    def line(row: list[str]) -> str:
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        return "  " + "  ".join(cells)

    return [line(head), *[line(r) for r in body]]
