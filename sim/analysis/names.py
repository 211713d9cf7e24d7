"""How the report and the figures name policies, segments and the funnel's stages.

Kept apart from :mod:`sim.analysis.plots` so that the report's text can name things
without importing Matplotlib: when the figures are drawn on the worker pool, the
process writing ``report.md`` never needs it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sim.analysis.statistics import ALL
from sim.engine.plan import is_plan, plan_entries
from sim.engine.policy_files import is_policy_file

REACHED = "reached_"
"""Prefix of the funnel's ``runs.csv`` columns: ``reached_<stage>`` (:mod:`sim.engine.funnel`)."""


def label(name: str) -> str:
    """Display name of a policy or segment (``mid_market`` → ``mid market``).

    A policy in a Python file (``path/to/file.py:ClassName``) shows as its class name;
    a plan (``plan:enterprise=high_touch,smb=no_touch``) as ``plan: high touch / no
    touch``, its policies in segment order (the report spells out the mapping).
    """
    if name == ALL:
        return "all customers"
    if is_plan(name):
        return "plan: " + " / ".join(label(policy) for _, policy in plan_entries(name))
    if is_policy_file(name):
        return str(name).rpartition(":")[2]
    return str(name).replace("_", " ")


def funnel_stages(columns: Iterable[str]) -> list[str]:
    """The funnel stages of a ``runs.csv`` table's columns, in the lifecycle's order.

    None without user stages: only such runs report how far their agents got.
    """
    return [c.removeprefix(REACHED) for c in columns if c.startswith(REACHED)]
