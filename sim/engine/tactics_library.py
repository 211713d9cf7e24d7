"""The tactics library: ready programs a policy composes by name.

``scenarios/tactics/library.toml`` holds one table per tactic (personalization, loyalty
points, nurture e-mails, community, ...), each with a ``source``, an ``effect_range``
and the table it becomes: a ``program`` (a program of the policy named after the
tactic), a ``community`` or a ``roadmap`` (the policy-level tables). A policy lists
``tactics = ["nurture_emails", "loyalty_points"]``; its own
``[policies.X.programs.<tactic>]`` (or ``[policies.X.community]`` /
``[policies.X.roadmap]``) table overrides the tactic key by key.

A scenario's tactics are written out in its raw table as it is read
(:func:`write_out`), before overrides and ``[uncertainties]`` paths are checked: so a
dotted override (``policies.X.programs.loyalty_points.decay``) or an uncertainty path
reaches a program that came from a tactic, and ``Scenario.raw`` is the scenario with
its programs written out. The same step adds each tactic's ``effect_range`` as an
uncertain assumption (:func:`tactic_uncertainties`), so ``engagesim decide`` weighs it.
"""

from __future__ import annotations

import copy
import functools
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.engine.lifecycle import Lifecycle
from sim.engine.paths import get_path, split_path
from sim.engine.targets import FACTOR_TARGETS
from sim.engine.uncertainties import FROM_TACTICS
from sim.schema import Table, suggest

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "tactics" / "library.toml"
KINDS = ("program", "community", "roadmap")
"""What a tactic becomes; "program" goes to the policy's ``programs`` table."""


@dataclass(frozen=True)
class Tactic:
    """One tactic of the library.

    Attributes:
        name: The tactic's name (a program of this name when ``kind`` is "program").
        kind: "program", "community" or "roadmap".
        body: The keys of the table it becomes.
        source: Where its numbers come from (a benchmark, or "judgement").
        effect_range: Low and high of its main effect.
        range_of: What ``effect_range`` bounds ("effect" or a key path in ``body``).
    """

    name: str
    kind: str
    body: dict[str, Any]
    source: str
    effect_range: tuple[float, float]
    range_of: str

    @property
    def range_key(self) -> str | None:
        """The dotted key inside :attr:`body` that :attr:`effect_range` bounds.

        ``range_of`` itself for a program (``effect``, ``targets.churn``); for a
        community or roadmap, ``range_of`` less its ``community.`` / ``roadmap.`` prefix
        (``community.strength`` → ``strength``). ``None`` when ``range_of`` names no key
        of the table: a community or roadmap tactic left at the default ``effect``.
        """
        if self.kind == "program":
            return self.range_of
        prefix = f"{self.kind}."
        return self.range_of.removeprefix(prefix) if self.range_of.startswith(prefix) else None

    def table_path(self, policy: str) -> str:
        """The dotted path of the table this tactic becomes in ``policy``."""
        if self.kind == "program":
            return f"policies.{policy}.programs.{self.name}"
        return f"policies.{policy}.{self.kind}"


@functools.cache
def load_library(path: Path = LIBRARY) -> dict[str, Tactic]:
    """Read and check the tactics library.

    Args:
        path: The library file.

    Returns:
        The tactics by name, in the file's order.

    Raises:
        InputError: A tactic lacks its source, range or table.
    """
    with open(path, "rb") as f:
        root = Table(tomllib.load(f), path)
    tactics = {}
    for name in list(root.keys()):
        t = root.table(name)
        kinds = [k for k in KINDS if k in t]
        if len(kinds) != 1:
            raise t.error("", f"a tactic has exactly one of the tables {', '.join(KINDS)}")
        low, high = (float(v) for v in t.raw("effect_range"))
        if low > high:
            raise t.error("effect_range", f"expected [low, high], got [{low}, {high}]")
        tactic = Tactic(
            name=name,
            kind=kinds[0],
            body=t.table(kinds[0]).data,
            source=t.string("source"),
            effect_range=(low, high),
            range_of=t.string("range_of", "effect"),
        )
        _check_range(t, tactic)
        tactics[name] = tactic
        t.finish()
    return tactics


def _check_range(t: Table, tactic: Tactic) -> None:
    """The key ``range_of`` names is a number of the tactic's table, inside its range."""
    key = tactic.range_key
    if key is None:
        return
    try:
        value = get_path(tactic.body, key)
    except (KeyError, IndexError, TypeError):
        raise t.error("range_of", f"{tactic.range_of!r} names no key of the tactic's "
                      f"[{tactic.name}.{tactic.kind}] table") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise t.error("range_of", f"{tactic.range_of!r} is {value!r}, not a number")
    low, high = tactic.effect_range
    if not low <= value <= high:
        raise t.error("effect_range", f"the value used ({tactic.range_of} = {value:g}) lies "
                      f"outside [{low:g}, {high:g}]")


def with_tactics(
    p: Table, lifecycle: Lifecycle | Collection[str] | None, policy: str
) -> Table:
    """A policy's table with the tactics it lists written out as its own tables.

    Each listed tactic becomes ``programs.<tactic>`` (the tactics first, in the listed
    order, then the policy's own programs), ``community`` or ``roadmap``; a table the
    policy gives itself under that name overrides the tactic's keys one by one. The
    ``tactics`` list stays, a record of what was composed: writing out a table already
    written out changes nothing (each table it became overrides every key of its
    tactic), so the step can run again after overrides.

    Args:
        p: The policy's table (``[policies.NAME]``); it is not changed.
        lifecycle: The scenario's lifecycle, or its stage names (a tactic's stages must
            exist in it); ``None`` checks no stages.
        policy: The policy's name, for messages.

    Returns:
        ``p`` itself when it lists no tactics, else a new table.

    Raises:
        InputError: An unknown or repeated tactic, or one reaching a stage the
            lifecycle lacks.
    """
    if "tactics" not in p:
        return p
    names = p.strings("tactics")
    library = load_library()
    stages = lifecycle.names if isinstance(lifecycle, Lifecycle) else lifecycle
    data = copy.deepcopy(p.data)
    own_programs = data.pop("programs", {})
    if not isinstance(own_programs, dict):
        raise p.error("programs", f"expected a table, got {own_programs!r}")
    programs: dict[str, Any] = {}
    seen: set[str] = set()
    for name in names:
        if name not in library:
            raise p.error("tactics", f"unknown tactic {name!r}" + suggest(name, library)
                          + f"; tactics are {', '.join(library)}")
        tactic = library[name]
        if name in seen:
            raise p.error("tactics", f"tactic {name!r} is listed twice")
        seen.add(name)
        if tactic.kind == "program":
            own = own_programs.pop(name, {})
            merged = {**copy.deepcopy(tactic.body), **own}
            for stage in merged.get("stages", ()) if stages is not None else ():
                if stage not in stages and "stages" not in own:
                    raise p.error(
                        "tactics",
                        f"tactic {name!r} reaches stage {stage!r}, which this scenario's "
                        "lifecycle does not have; give its stages in "
                        f"[policies.{policy}.programs.{name}] stages = [...]",
                    )
            programs[name] = merged
        else:
            data[tactic.kind] = {**copy.deepcopy(tactic.body), **data.get(tactic.kind, {})}
    programs.update(own_programs)
    if programs:
        data["programs"] = programs
    return Table(data, p.file, p.path)



# ----------------------------------------------------------------------------------
# a scenario's raw table: the tactics written out, their ranges as uncertainties


def write_out(data: dict[str, Any], file: str | Path | None) -> None:
    """Write every policy's tactics out in a raw scenario table, with their ranges.

    Each policy that lists ``tactics`` gets the tables they become
    (:func:`with_tactics`, stages checked against ``lifecycle.stages``); then the
    tactics' effect ranges not yet uncertain join ``[uncertainties]``
    (:func:`tactic_uncertainties`). Running it again changes nothing, so a scenario
    re-read from its written-out table is the same scenario, with the same digest.

    Args:
        data: The raw scenario table (as parsed from TOML); changed in place.
        file: The scenario's file, for messages.

    Raises:
        InputError: A tactic list is invalid (see :func:`with_tactics`).
    """
    policies = data.get("policies")
    if not isinstance(policies, dict):
        return  # the scenario's parser says what is wrong
    lifecycle = data.get("lifecycle")
    stages = lifecycle.get("stages") if isinstance(lifecycle, dict) else None
    names = tuple(stages) if isinstance(stages, dict) else None
    uses: dict[str, list[str]] = {}
    for policy, table in list(policies.items()):
        if not isinstance(table, dict) or "tactics" not in table:
            continue
        composed = with_tactics(Table(table, file, f"policies.{policy}"), names, policy).data
        policies[policy] = composed
        for tactic in composed["tactics"]:
            uses.setdefault(tactic, []).append(policy)
    uncertain = data.get("uncertainties", {})
    if not isinstance(uncertain, dict) or uncertain.get(FROM_TACTICS, True) is False:
        return
    added = tactic_uncertainties(data, uses, uncertain)
    if added:
        data["uncertainties"] = {**uncertain, **added}


def tactic_uncertainties(
    data: Mapping[str, Any], uses: Mapping[str, Sequence[str]], declared: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The ``[uncertainties]`` entries the library tactics of a scenario contribute.

    One entry per tactic whose ``range_of`` names a key (a community or roadmap tactic
    left at ``range_of = "effect"`` names none and contributes nothing), at
    ``policies.<P>.<table>.<key>`` of the first policy using it, the other policies'
    same key in ``also`` (one real-world effect). A policy joins only where its value is
    the library's: one that sets the key itself states its own value, and ranges it
    itself if it wants. A path an entry of ``declared`` already varies (as its key,
    ``also`` or ``complement``) keeps that entry: the declared range wins. The
    distribution is ``triangular(low, value, high)``, or ``uniform(low, high)`` when
    the value is at an end of the range; a range of one value contributes nothing.

    Args:
        data: The raw scenario table, its tactics written out.
        uses: Tactic name → the policies listing it, in order.
        declared: The scenario's ``[uncertainties]`` table.

    Returns:
        Path → entry (the keys of a scenario's ``[uncertainties]`` entry), in the order
        of ``uses``.
    """
    varied = _varied(declared)
    library = load_library()
    entries: dict[str, dict[str, Any]] = {}
    for name, policies in uses.items():
        tactic = library.get(name)
        key = tactic.range_key if tactic else None
        low, high = tactic.effect_range if tactic else (0.0, 0.0)
        if tactic is None or key is None or not low < high:
            continue
        value = get_path(tactic.body, key)
        paths = []
        for policy in policies:
            path = f"{tactic.table_path(policy)}.{key}"
            if tuple(split_path(path)) in varied:
                continue
            try:
                own = get_path(data, path)
            except (KeyError, IndexError, TypeError):
                continue
            if own == value and not isinstance(own, bool):
                paths.append(path)
        if not paths:
            continue
        if value in (low, high):
            dist: dict[str, Any] = {"dist": "uniform", "low": low, "high": high}
        else:
            dist = {"dist": "triangular", "low": low, "mode": float(value), "high": high}
        entries[paths[0]] = {
            **dist,
            **({"also": paths[1:]} if len(paths) > 1 else {}),
            "source": tactic.source,
            "label": f"{name.replace('_', ' ').capitalize()}: {_what(key)}",
            "display": _display(key),
        }
    return entries


def _varied(declared: Mapping[str, Any]) -> set[tuple[str | int, ...]]:
    """The paths the entries of an ``[uncertainties]`` table vary."""
    out = set()
    for path, entry in declared.items():
        if not isinstance(entry, dict):
            continue
        others = entry.get("also", [])
        complement = entry.get("complement")
        for other in (path, *(others if isinstance(others, list) else []), complement):
            if isinstance(other, str):
                out.add(tuple(split_path(other)))
    return out


def _what(key: str) -> str:
    """What a tactic's range bounds, in words (``churn effect (at full response)``)."""
    if key == "effect":
        return "effect per touch"
    parts = key.split(".")
    if parts[0] == "targets" and len(parts) > 1:
        return f"{' '.join(parts[1:]).replace('_', ' ')} effect (at full response)"
    return key.replace("_", " ").replace(".", " ")


def _display(key: str) -> str:
    """How a tactic's range is shown (a display of :mod:`sim.engine.uncertainties`)."""
    parts = key.split(".")
    if parts[0] == "targets" and len(parts) > 1:
        if parts[1] == "churn":
            return "odds_cut"  # a logit coefficient on every churn edge
        if parts[1] == "conversion":
            return "odds"
        if parts[1] == "price" or parts[1] in FACTOR_TARGETS:
            return "percent"  # a discount; a rate × (1 + x)
    if parts[-1].endswith("_rate"):
        return "percent"
    return "number"
