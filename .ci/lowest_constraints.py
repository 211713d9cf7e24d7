"""Print pip constraints that pin each direct requirement to its declared floor.

Usage: ``python .ci/lowest_constraints.py [EXTRA ...] [--also NAME ...]``: every
requirement of ``[build-system] requires`` and ``[project] dependencies``, of the named
extras, and the named packages of the ``dev`` extra, as ``name==floor`` (the version
after ``>=``), one a line. As ``PIP_CONSTRAINT`` (which the isolated build obeys too)
this is the lowest-direct resolution: the floors of what we declare, the newest of
everything they pull in. A requirement without a ``>=`` floor is an error
(a floor nobody tested is a floor that lies). ``engagesim[...]`` self-references are
skipped.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def floor(requirement: str) -> tuple[str, str] | None:
    """``(name, floor)`` of a requirement string, ``None`` for ``engagesim[...]``."""
    match = REQUIREMENT.match(requirement)
    if match is None:
        raise SystemExit(f"cannot read requirement {requirement!r}")
    name, _extras, specifiers = match.groups()
    if name.lower() == "engagesim":
        return None
    floors = [s.strip()[2:].strip() for s in specifiers.split(";")[0].split(",")
              if s.strip().startswith(">=")]
    if len(floors) != 1:
        raise SystemExit(f"requirement {requirement!r} has no single '>=' floor")
    return name.lower(), floors[0]


def main(argv: list[str]) -> int:
    """Print the constraints for the extras and ``--also`` packages in ``argv``."""
    extras, also = [], []
    target = extras
    for arg in argv:
        if arg == "--also":
            target = also
        else:
            target.append(arg)
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    project = pyproject["project"]
    optional = project.get("optional-dependencies", {})
    requirements = [*pyproject["build-system"]["requires"], *project["dependencies"]]
    for extra in extras:
        requirements += optional[extra]
    dev = {pin[0]: pin for r in optional.get("dev", []) if (pin := floor(r))}
    pins: dict[str, str] = {}
    for name, version in [p for r in requirements if (p := floor(r))] + [dev[a] for a in also]:
        if pins.setdefault(name, version) != version:
            raise SystemExit(f"{name}: two floors, {pins[name]} and {version}")
    print("\n".join(f"{name}=={version}" for name, version in pins.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
