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

Two levers switch tactics on and off, per policy:

* ``programs_off``: programs a policy runs without, removed by the knockout rule
  (:func:`sim.engine.knockout.knock_out`): policy ``P`` without program ``X`` here runs
  exactly as ``knockout:P/X`` does (its teams only ``X`` used are not hired).
* ``tactics_on``: tactics of the library (``scenarios/tactics/library.toml``) a policy
  adds to its ``tactics = [...]`` list, composed as a scenario composes them
  (:func:`sim.engine.tactics_library.with_tactics`); :func:`available_tactics` lists
  those a policy can add. The multipliers above reach these programs too.

The page passes the switches as keywords (:func:`program_key`, :func:`tactic_key`);
:func:`parse_controls` turns them back into levers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sim.engine import knockout
from sim.engine.policies import CHANNEL_TEAM
from sim.engine.scenario import Scenario
from sim.engine.tactics_library import Tactic, load_library, with_tactics
from sim.schema import Table, suggest

PROGRAM_PREFIX = "program:"
"""How a program switch's keyword starts: ``program:POLICY/PROGRAM`` (True: on)."""
TACTIC_PREFIX = "tactic:"
"""How a tactic choice's keyword starts: ``tactic:POLICY`` (a tactic name or NO_TACTIC)."""
WEIGHT_PREFIX = "weight_"
"""How a segment weight's keyword starts: ``weight_SEGMENT``."""
NO_TACTIC = "(none)"
"""The tactic choice that adds no tactic."""


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
        programs_off: Policy name → names of programs it runs without (missing: all on).
        tactics_on: Policy name → names of library tactics it adds (missing: none).
    """

    book_scale: float = 1.0
    escalation_scale: float = 1.0
    cadence_scale: float = 1.0
    marketing_scale: float = 1.0
    referral_scale: float = 1.0
    segment_weights: Mapping[str, float] = field(default_factory=dict)
    customers: int | None = None
    months: int | None = None
    programs_off: Mapping[str, frozenset[str]] = field(default_factory=dict)
    tactics_on: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


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
    added = _checked_tactics(scenario, levers.tactics_on)
    for pname, names in added.items():
        out[f"policies.{pname}.tactics"] = [*raw["policies"][pname].get("tactics", []), *names]
    scaling = levers.cadence_scale != 1.0 or levers.escalation_scale != 1.0
    for pname, policy in raw.get("policies", {}).items() if scaling else ():
        own = policy.get("programs", {})
        for gname, program in _programs(scenario, pname, added.get(pname, ())).items():
            scaled = {}
            if levers.cadence_scale != 1.0:
                scaled["touches_per_month"] = (
                    float(program["touches_per_month"]) * levers.cadence_scale
                )
            if levers.escalation_scale != 1.0 and "health_below" in program:
                scaled["health_below"] = min(
                    1.0, float(program["health_below"]) * levers.escalation_scale
                )
            key = f"policies.{pname}.programs"
            if gname in own:
                out.update({f"{key}.{gname}.{k}": v for k, v in scaled.items()})
            elif scaled:  # a tactic's program: its own table overrides the tactic's keys
                if "programs" not in policy:
                    out.setdefault(key, {})
                out[f"{key}.{gname}"] = scaled
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


def _programs(scenario: Scenario, policy: str, added: tuple[str, ...]) -> dict[str, Any]:
    """A policy's program tables as it runs them, its tactics and ``added`` written out."""
    raw = dict(scenario.raw["policies"][policy])
    if added:
        raw["tactics"] = [*raw.get("tactics", []), *added]
    table = Table(raw, scenario.source, f"policies.{policy}")
    return with_tactics(table, scenario.lifecycle, policy).data.get("programs", {})


def _runs(scenario: Scenario, policy: str, tactic: Tactic) -> bool:
    """Whether ``policy`` already runs ``tactic`` (or a program or table of its name)."""
    spec = scenario.policies[policy]
    if tactic.kind == "community":
        return spec.community is not None
    if tactic.kind == "roadmap":
        return spec.roadmap is not None
    return tactic.name in {p.name for p in spec.programs}


def available_tactics(scenario: Scenario, policy: str) -> list[str]:
    """The library tactics ``policy`` can add: those it does not run that fit the scenario.

    A tactic fits when its stages are the lifecycle's, the team its channel needs is
    defined (top level or the policy's own), and, for a community, customers have
    neighbours (``network.kind = "small_world"``).

    Args:
        scenario: The scenario.
        policy: One of its policies.

    Returns:
        Tactic names in the library's order.
    """
    teams = set(scenario.raw.get("teams", {})) | set(scenario.policies[policy].teams)
    names = set(scenario.lifecycle.names)
    fits = []
    for name, tactic in load_library().items():
        if _runs(scenario, policy, tactic):
            continue
        if tactic.kind == "community" and scenario.network.kind != "small_world":
            continue
        if tactic.kind == "program":
            team = CHANNEL_TEAM.get(tactic.body.get("channel", "digital"))
            if not set(tactic.body.get("stages", ())) <= names or team not in (None, *teams):
                continue
        fits.append(name)
    return fits


def _checked_tactics(
    scenario: Scenario, tactics_on: Mapping[str, tuple[str, ...]]
) -> dict[str, tuple[str, ...]]:
    """``tactics_on`` without empty entries, each tactic checked against the scenario."""
    out = {}
    for policy, names in tactics_on.items():
        if policy not in scenario.policies:
            raise ValueError(f"tactics_on: no policy named {policy!r}"
                             + suggest(policy, scenario.policies))
        fits = available_tactics(scenario, policy)
        for name in names:
            if name not in fits:
                raise ValueError(
                    f"tactics_on: policy {policy!r} cannot add tactic {name!r}"
                    + suggest(name, fits) + f"; it can add: {', '.join(fits) or 'none'}"
                )
        if len(set(names)) != len(names):
            raise ValueError(f"tactics_on: policy {policy!r} lists a tactic twice")
        if names:
            out[policy] = tuple(names)
    return out


def apply(scenario: Scenario, levers: Levers) -> Scenario:
    """Return ``scenario`` with ``levers`` in effect (itself when all are neutral).

    The overrides first (tactics added, multipliers), then the programs switched off
    (:func:`sim.engine.knockout.knock_out`).

    Raises:
        ValueError: A lever is out of range, or (an ``InputError``) names a policy or
            program the scenario lacks.
    """
    changes = overrides(scenario, levers)
    changed = scenario.with_overrides(changes) if changes else scenario
    return knockout.knock_out(changed, levers.programs_off)


def program_key(policy: str, program: str) -> str:
    """The page's keyword of the switch of ``policy``'s program ``program``."""
    return f"{PROGRAM_PREFIX}{policy}{knockout.SEPARATOR}{program}"


def tactic_key(policy: str) -> str:
    """The page's keyword of the library tactic ``policy`` adds."""
    return f"{TACTIC_PREFIX}{policy}"


def parse_controls(controls: Mapping[str, Any]) -> dict[str, Any]:
    """The levers of the page's keyword controls (segment weights and switches).

    Args:
        controls: ``weight_SEGMENT`` → weight, ``program:POLICY/PROGRAM`` → on (bool),
            ``tactic:POLICY`` → a tactic name or :data:`NO_TACTIC`.

    Returns:
        ``segment_weights``, ``programs_off`` and ``tactics_on`` for :class:`Levers`.

    Raises:
        TypeError: A keyword of none of these forms.
    """
    weights: dict[str, float] = {}
    off: dict[str, set[str]] = {}
    on: dict[str, tuple[str, ...]] = {}
    for key, value in controls.items():
        if key.startswith(WEIGHT_PREFIX):
            weights[key.removeprefix(WEIGHT_PREFIX)] = value
        elif key.startswith(PROGRAM_PREFIX):
            policy, _, program = key.removeprefix(PROGRAM_PREFIX).rpartition(knockout.SEPARATOR)
            if not value:
                off.setdefault(policy, set()).add(program)
        elif key.startswith(TACTIC_PREFIX):
            if value not in (None, "", NO_TACTIC):
                on[key.removeprefix(TACTIC_PREFIX)] = (value,)
        else:
            raise TypeError(f"unexpected keyword argument {key!r}")
    return {
        "segment_weights": weights,
        "programs_off": {policy: frozenset(names) for policy, names in off.items()},
        "tactics_on": on,
    }


def composed_from(scenario: Scenario, policy: str) -> dict[str, Tactic]:
    """The library tactics ``policy`` lists, by the program (or table) each became.

    Args:
        scenario: The scenario (with the levers applied: tactics added are listed).
        policy: One of its policies.

    Returns:
        Program name → tactic for program tactics; ``"community"`` / ``"roadmap"`` →
        tactic for the others.
    """
    library = load_library()
    tactics = (library[n] for n in scenario.raw["policies"][policy].get("tactics", []))
    return {t.name if t.kind == "program" else t.kind: t for t in tactics}


def _tactic_note(tactic: Tactic | None) -> str:
    if tactic is None:
        return ""
    low, high = tactic.effect_range
    return f"; library tactic, {tactic.range_of} {low:g} to {high:g} (source: {tactic.source})"


def describe(scenario: Scenario, policy: str, levers: Levers | None = None) -> list[str]:
    """The programs on and off and the levers' absolute values for one policy, as lines.

    Args:
        scenario: The scenario with the levers applied.
        policy: A policy name defined in the scenario.
        levers: The levers applied (for the programs switched off and tactics added).

    Returns:
        Lines such as ``"programs on: automated, escalation"``,
        ``"named team: 25 accounts per CSM"`` and, for a program composed from the
        tactics library, its effect range and source.
    """
    spec = scenario.policies[policy]
    levers = levers or Levers()
    tactics = composed_from(scenario, policy)
    on = [p.name for p in spec.programs]
    lines = [f"programs on: {', '.join(on) or 'none'}"]
    off = sorted(levers.programs_off.get(policy, ()))
    if off:
        lines.append(f"switched off: {', '.join(off)}")
    added = levers.tactics_on.get(policy, ())
    if added:
        lines.append(f"added from the tactics library: {', '.join(added)}")
    lines += [
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
            f" ({program.channel})" + _tactic_note(tactics.get(program.name))
        )
    if spec.community is not None:
        lines.append(f"community: strength {spec.community.strength:g}"
                     + _tactic_note(tactics.get("community")))
    if spec.roadmap is not None:
        lines.append(f"roadmap: feedback rate {spec.roadmap.feedback_rate:g}/month"
                     + _tactic_note(tactics.get("roadmap")))
    return lines
