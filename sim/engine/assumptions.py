"""The key assumptions of a scenario, in the words a report states them.

A comparison is only as good as what it assumes: the horizon, the discount rate, the
company's size, what a CSM costs and covers, what each program's touches do, how much a
touch cuts churn. :func:`key_assumptions` lists them with their values and where each
comes from: a range the scenario declares uncertain (its ``[uncertainties]`` entry and
``source``), or a fixed value of the scenario file. The sweep runner records them in
the manifest and the report prints them, so a reader sees what the answer rests on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sim.engine.paths import get_path
from sim.engine.scenario import Scenario


@dataclass(frozen=True)
class Assumption:
    """One key assumption.

    Attributes:
        path: Its dotted key path in the scenario.
        label: What it is, in words.
        value: Its value in the scenario.
        source: Where it comes from.
    """

    path: str
    label: str
    value: float
    source: str


def _candidates(raw: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(path, label)`` of every key assumption the raw scenario has, in report order."""
    yield "time.months", "horizon (months)"
    yield "population.customers", "company size (customers and prospects)"
    yield "economics.annual_discount_rate", "annual discount rate"
    yield "economics.gross_margin", "gross margin"
    for i, edge in enumerate(raw.get("lifecycle", {}).get("edges", [])):
        if "touch" in edge.get("drivers", {}):
            yield (f"lifecycle.edges[{i}].drivers.touch",
                   f"touch effect on {edge['from']} → {edge['to']} (logit)")
    for team in raw.get("teams", {}):  # the team defaults every policy inherits
        yield f"teams.{team}.accounts_per_csm", f"{team} CSM book size"
        yield f"teams.{team}.annual_cost", f"{team} CSM cost per year"
        yield f"teams.{team}.monthly_cost", f"{team} CSM cost per month"
    for name, policy in raw.get("policies", {}).items():
        base = f"policies.{name}"
        if "fixed_cost_per_month" in policy:
            yield f"{base}.fixed_cost_per_month", f"{name}: platform cost per month"
        teams = policy.get("teams", {})
        for team in teams if isinstance(teams, dict) else ():  # a policy's own values
            yield f"{base}.teams.{team}.accounts_per_csm", f"{name}: {team} CSM book size"
            yield f"{base}.teams.{team}.annual_cost", f"{name}: {team} CSM cost per year"
            yield f"{base}.teams.{team}.monthly_cost", f"{name}: {team} CSM cost per month"
        for program in policy.get("programs", {}):
            yield f"{base}.programs.{program}.effect", f"{name}: {program} effect per touch"


def key_assumptions(scenario: Scenario) -> list[Assumption]:
    """The scenario's key assumptions with their values and sources.

    Args:
        scenario: The scenario.

    Returns:
        One entry per key assumption the scenario has (a policy without teams has no
        CSM rows), in report order.
    """
    declared = {}
    for uncertainty in scenario.uncertainties:
        for path in (uncertainty.path, *uncertainty.also):
            declared[path] = uncertainty
    out = []
    for path, label in _candidates(scenario.raw):
        try:
            value = get_path(scenario.raw, path)
        except (KeyError, IndexError, TypeError):
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        uncertainty = declared.get(path)
        source = (f"uncertain: {uncertainty.describe()} — {uncertainty.source}"
                  if uncertainty else f"scenario `{scenario.name}` (fixed)")
        out.append(Assumption(path, label, float(value), source))
    return out
