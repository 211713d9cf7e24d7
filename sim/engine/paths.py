"""Key paths: how a dotted path (``lifecycle.edges[3].base``) addresses a scenario value.

Overrides, experiment factors and uncertain assumptions all name scenario values this
way; this module reads (:func:`get_path`) and writes (:func:`apply_overrides`) them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sim.schema import InputError, suggest


def split_path(dotted: str) -> list[str | int]:
    """Split ``lifecycle.edges[3].base`` into ``["lifecycle", "edges", 3, "base"]``."""
    parts: list[str | int] = []
    for part in dotted.split("."):
        name, *indices = part.split("[")
        if name:
            parts.append(name)
        for index in indices:
            text = index.rstrip("]")
            parts.append(int(text) if text.isdigit() else text)
    return parts


def get_path(raw: Mapping[str, Any], dotted: str) -> Any:
    """Return the value at a dotted key path (``KeyError``/``IndexError`` if absent).

    An empty path (``""``, ``"."``) names no value: ``KeyError``, not the whole table.
    """
    node: Any = raw
    parts = split_path(dotted)
    if not parts:
        raise KeyError(dotted)
    for part in parts:
        if isinstance(part, int) != isinstance(node, list):
            raise KeyError(dotted)
        node = node[part]
    return node


def apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any], file: str) -> None:
    """Set dotted-key ``overrides`` in ``raw`` in place; the parent tables must exist.

    Paths may index arrays of tables: ``lifecycle.edges[3].base``.
    """
    for dotted, value in overrides.items():
        parts = split_path(dotted)
        if not parts:
            raise InputError(file, dotted, "an empty key path names no value to override")
        node: Any = raw
        for depth, part in enumerate(parts[:-1]):
            where = ".".join(str(p) for p in parts[: depth + 1])
            if isinstance(part, int):
                if not isinstance(node, list) or not 0 <= part < len(node):
                    size = len(node) if isinstance(node, list) else 0
                    raise InputError(file, dotted, f"no element [{part}] to override "
                                     f"(there are {size})")
            elif not isinstance(node, dict) or part not in node:
                known = node.keys() if isinstance(node, dict) else []
                raise InputError(file, where, "no such table to override" + suggest(part, known))
            node = node[part]
        if not isinstance(node, dict) or isinstance(parts[-1], int):
            raise InputError(file, dotted, "cannot override inside a non-table value")
        node[parts[-1]] = value
