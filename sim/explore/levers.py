"""Levers: the few knobs the live page exposes, turned into scenario overrides.

A scenario says, per policy, how large a CSM's book is, when health triggers an
escalation, how often each program touches a customer, and so on. Policies disagree on
those numbers (the default scenario's pooled team covers 250 accounts per CSM under
low-touch and 400 under hybrid), so one slider cannot set one absolute value without
silently changing some policy's own setting. Every policy lever is therefore a
**multiplier of the scenario's own values** (1.0 = as the scenario says); the page shows
the absolute values in effect for each policy (:func:`describe`).

* ``book_scale``: accounts per CSM, every team (auto-sized teams hire accordingly).
* ``escalation_scale``: the ``health_below`` threshold of every health-triggered program
  (clipped to 1).
* ``cadence_scale``: ``touches_per_month`` of every program.
* ``marketing_scale``: marketing spend per prospect; reach follows spend as a rate, so
  ``awareness_rate`` becomes ``1 − (1 − rate)^scale`` (twice the spend doubles the
  hazard of becoming aware; no saturation is assumed).
* ``referral_scale``: word-of-mouth strength ``referral`` of every edge (clipped to 1).
* ``segment_weights``: relative weights of the segments, normalised to shares.

Customers, horizon and seed are plain values, not multipliers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sim.engine.scenario import Scenario


@dataclass(frozen=True)
class Levers:
    """Settings of the live page's levers.

    Args:
        book_scale: Multiplier of every team's accounts per CSM.
        escalation_scale: Multiplier of every ``health_below`` escalation threshold.
        cadence_scale: Multiplier of every program's touches per month.
        marketing_scale: Multiplier of marketing spend (and of the awareness hazard).
        referral_scale: Multiplier of every edge's word-of-mouth strength.
        segment_weights: Segment name → relative weight (missing: the scenario's share).
        customers: Customers simulated, a sample of the company whose fixed costs and
            teams stay the company's (``None``: the scenario's).
        months: Horizon in months (``None``: the scenario's).
    """

    book_scale: float = 1.0
    escalation_scale: float = 1.0
    cadence_scale: float = 1.0
    marketing_scale: float = 1.0
    referral_scale: float = 1.0
    segment_weights: Mapping[str, float] = field(default_factory=dict)
    customers: int | None = None
    months: int | None = None


#: Slider ranges ``(min, max, step)`` of the multipliers.
SCALE_RANGES: dict[str, tuple[float, float, float]] = {
    "book_scale": (0.2, 4.0, 0.1),
    "escalation_scale": (0.0, 2.5, 0.05),
    "cadence_scale": (0.0, 3.0, 0.1),
    "marketing_scale": (0.0, 4.0, 0.1),
    "referral_scale": (0.0, 4.0, 0.1),
}


def overrides(scenario: Scenario, levers: Levers) -> dict[str, Any]:
    """Dotted-key scenario overrides that put ``levers`` into effect.

    Args:
        scenario: The scenario the levers scale.
        levers: The lever settings.

    Returns:
        Overrides for :meth:`Scenario.with_overrides`; empty when every lever is neutral.

    Raises:
        ValueError: A multiplier is negative or every segment weight is zero.
    """
    for name in SCALE_RANGES:
        if getattr(levers, name) < 0:
            raise ValueError(f"{name} must be ≥ 0, got {getattr(levers, name)}")
    raw = scenario.raw
    out: dict[str, Any] = {}
    tables = [(f"teams.{t}", team) for t, team in raw.get("teams", {}).items()]
    for pname, policy in raw.get("policies", {}).items():
        teams = policy.get("teams", {})
        tables += [(f"policies.{pname}.teams.{t}", team)
                   for t, team in (teams.items() if isinstance(teams, dict) else ())]
    for key, team in tables:  # the top-level team defaults and a policy's own books
        if levers.book_scale != 1.0 and "accounts_per_csm" in team:
            out[f"{key}.accounts_per_csm"] = max(
                1.0, float(team["accounts_per_csm"]) * levers.book_scale
            )
    for pname, policy in raw.get("policies", {}).items():
        for gname, program in policy.get("programs", {}).items():
            key = f"policies.{pname}.programs.{gname}"
            if levers.cadence_scale != 1.0:
                out[f"{key}.touches_per_month"] = (
                    float(program["touches_per_month"]) * levers.cadence_scale
                )
            if levers.escalation_scale != 1.0 and "health_below" in program:
                out[f"{key}.health_below"] = min(
                    1.0, float(program["health_below"]) * levers.escalation_scale
                )
    if levers.marketing_scale != 1.0:
        m = scenario.marketing
        out["marketing.awareness_rate"] = -math.expm1(
            levers.marketing_scale * math.log1p(-m.awareness_rate)
        )
        out["marketing.cost_per_prospect_month"] = (
            m.cost_per_prospect_month * levers.marketing_scale
        )
    if levers.referral_scale != 1.0:
        for i, edge in enumerate(scenario.lifecycle.edges):
            if edge.referral > 0:
                out[f"lifecycle.edges[{i}].referral"] = min(
                    1.0, edge.referral * levers.referral_scale
                )
    out.update(_segment_shares(scenario, levers.segment_weights))
    if levers.customers is not None:
        out["population.agents"] = int(levers.customers)  # the sample; the company stays
    if levers.months is not None:
        out["time.months"] = int(levers.months)
    return out


def _segment_shares(scenario: Scenario, weights: Mapping[str, float]) -> dict[str, float]:
    unknown = set(weights) - set(scenario.segment_names)
    if unknown:
        raise ValueError(f"no segment named {', '.join(sorted(unknown))}")
    w = {s.name: float(weights.get(s.name, s.share)) for s in scenario.segments}
    if any(v < 0 for v in w.values()):
        raise ValueError("segment weights must be ≥ 0")
    total = sum(w.values())
    if total <= 0:
        raise ValueError("at least one segment needs a weight above 0")
    shares = {name: v / total for name, v in w.items()}
    if all(math.isclose(shares[s.name], s.share, abs_tol=1e-12) for s in scenario.segments):
        return {}
    return {f"segments.{name}.share": share for name, share in shares.items()}


def apply(scenario: Scenario, levers: Levers) -> Scenario:
    """Return ``scenario`` with ``levers`` in effect (itself when all are neutral)."""
    changes = overrides(scenario, levers)
    return scenario.with_overrides(changes) if changes else scenario


def describe(scenario: Scenario, policy: str) -> list[str]:
    """The absolute values of the levers in effect for one policy, as short lines.

    Args:
        scenario: The scenario with the levers applied.
        policy: A policy name defined in the scenario.

    Returns:
        Lines such as ``"named team: 25 accounts per CSM"``.
    """
    spec = scenario.policies[policy]
    lines = [
        f"{team.name} team: {team.accounts_per_csm:g} accounts per CSM"
        for team in spec.teams.values()
    ]
    for program in spec.programs:
        when = (
            f" when health < {program.health_below:.2f}"
            if program.health_below is not None
            else ""
        )
        lines.append(
            f"{program.name}: {program.touches_per_month:.2g} touches/month{when}"
            f" ({program.channel})"
        )
    return lines
