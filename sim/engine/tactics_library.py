"""The tactics library: ready programs a policy composes by name.

``scenarios/tactics/library.toml`` holds one table per tactic (personalization, loyalty
points, nurture e-mails, community, ...), each with a ``source``, an ``effect_range``
and the table it becomes: a ``program`` (a program of the policy named after the
tactic), a ``community`` or a ``roadmap`` (the policy-level tables). A policy lists
``tactics = ["nurture_emails", "loyalty_points"]``; its own
``[policies.X.programs.<tactic>]`` (or ``[policies.X.community]`` /
``[policies.X.roadmap]``) table overrides the tactic key by key.
"""

from __future__ import annotations

import copy
import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.engine.lifecycle import Lifecycle
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
        tactics[name] = Tactic(
            name=name,
            kind=kinds[0],
            body=t.table(kinds[0]).data,
            source=t.string("source"),
            effect_range=(low, high),
            range_of=t.string("range_of", "effect"),
        )
        t.finish()
    return tactics


def with_tactics(p: Table, lifecycle: Lifecycle, policy: str) -> Table:
    """A policy's table with the tactics it lists written out as its own tables.

    Each listed tactic becomes ``programs.<tactic>`` (the tactics first, in the listed
    order, then the policy's own programs), ``community`` or ``roadmap``; a table the
    policy gives itself under that name overrides the tactic's keys one by one.

    Args:
        p: The policy's table (``[policies.NAME]``); it is not changed.
        lifecycle: The scenario's lifecycle (a tactic's stages must exist in it).
        policy: The policy's name, for messages.

    Returns:
        ``p`` itself when it lists no tactics, else a new table without ``tactics``.

    Raises:
        InputError: An unknown or repeated tactic, or one reaching a stage the
            lifecycle lacks.
    """
    if "tactics" not in p:
        return p
    names = p.strings("tactics")
    library = load_library()
    data = copy.deepcopy(p.data)
    del data["tactics"]
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
            for stage in merged.get("stages", ()):
                if stage not in lifecycle.names and "stages" not in own:
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

