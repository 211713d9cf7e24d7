"""Typed, path-aware reading of raw TOML tables.

Scenario and experiment files are parsed once, at the edge, into frozen dataclasses.
:class:`Table` wraps one raw TOML table and hands out typed values; every problem
becomes an :class:`InputError` naming the file, the key path and what was expected,
and unknown keys are reported with a "did you mean" suggestion.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

_MISSING = object()
INT64_MAX = 2**63 - 1
"""The largest integer a setting may hold (TOML's own limit; numpy's ``int64``)."""


class InputError(ValueError):
    """A user-supplied file or value is invalid.

    Attributes:
        file: The file the problem is in (or ``None`` for values built in Python).
        key: The dotted key path of the offending value (``""`` for the whole file).
        problem: What is wrong and what was expected.
    """

    def __init__(self, file: str | Path | None, key: str, problem: str):
        self.file = str(file) if file is not None else None
        self.key = key
        self.problem = problem
        parts = [p for p in (self.file, key, problem) if p]
        super().__init__(": ".join(parts))


def read_text(path: Path, not_utf8: str, encoding: str = "utf-8") -> str:
    """Read a UTF-8 text file; problems become :class:`InputError`.

    Args:
        path: The file.
        not_utf8: How the message about non-UTF-8 bytes starts ("not valid TOML").
        encoding: ``"utf-8"``, or ``"utf-8-sig"`` to accept a byte-order mark.
    """
    try:
        return path.read_bytes().decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(
            path, "", f"{not_utf8}: not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from None
    except OSError as exc:
        raise InputError(path, "", f"cannot read: {exc.strerror}") from None


def suggest(word: str, choices: Iterable[str]) -> str:
    """Return a " (did you mean 'x'?)" hint for a misspelt name, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


class Table:
    """A raw TOML table plus where it came from.

    Each accessor removes nothing: keys read are remembered so that :meth:`finish`
    can report the keys nobody asked for (the typos).

    Args:
        data: The raw table.
        file: The file it was read from, for messages.
        path: The dotted key path of this table inside the file.
    """

    def __init__(self, data: dict[str, Any], file: str | Path | None, path: str = ""):
        if not isinstance(data, dict):
            raise InputError(file, path, f"expected a table, got {_type_name(data)}")
        self.data = data
        self.file = file
        self.path = path
        self._seen: set[str] = set()

    # -- helpers -------------------------------------------------------------------
    def key(self, name: str) -> str:
        """Return the dotted path of ``name`` inside this table."""
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, problem: str) -> InputError:
        """Build an :class:`InputError` for key ``name`` of this table."""
        return InputError(self.file, self.key(name) if name else self.path, problem)

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def keys(self) -> Iterator[str]:
        """Iterate over the keys present in the table, marking them as read."""
        for name in self.data:
            self._seen.add(name)
            yield name

    def raw(self, name: str, default: Any = _MISSING) -> Any:
        """Return the raw value of ``name`` (required unless a default is given)."""
        self._seen.add(name)
        if name in self.data:
            return self.data[name]
        if default is _MISSING:
            # a misspelt required key shows up as this one missing: name the likely typo
            typo = difflib.get_close_matches(name, list(self.data), n=1, cutoff=0.6)
            hint = f" (found {typo[0]!r}: did you mean {name!r}?)" if typo else ""
            raise self.error(name, "required key is missing" + hint)
        return default

    def finish(self, allowed: Iterable[str] | None = None) -> None:
        """Fail on keys that were never read (or are not in ``allowed``)."""
        known = set(allowed) if allowed is not None else self._seen
        for name in self.data:
            if name not in known:
                raise self.error(name, "unknown key" + suggest(name, known))

    # -- typed accessors -------------------------------------------------------------
    def number(
        self,
        name: str,
        default: Any = _MISSING,
        *,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
        what: str = "a number",
        what_states_bounds: bool = False,
    ) -> float:
        """Return a finite number within optional bounds.

        ``what`` describes the expected value in messages; when it already states the
        bounds (``what_states_bounds``), they are not repeated after it.
        """
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(name, f"expected {what}, got {_type_name(value)} {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise self.error(name, f"expected {what}, got {value}")
        if low is not None and (value < low or (low_open and value == low)):
            relation = "" if what_states_bounds else f" {'>' if low_open else '≥'} {low:g}"
            raise self.error(name, f"expected {what}{relation}, got {value:g}")
        if high is not None and value > high:
            relation = "" if what_states_bounds else f" ≤ {high:g}"
            raise self.error(name, f"expected {what}{relation}, got {value:g}")
        return value

    def probability(self, name: str, default: Any = _MISSING) -> float:
        """Return a probability in [0, 1]."""
        what = "a probability in [0, 1]"
        return self.number(name, default, low=0.0, high=1.0, what=what, what_states_bounds=True)

    def share(self, name: str, default: Any = _MISSING) -> float:
        """Return a share (fraction) in [0, 1]."""
        return self.number(
            name, default, low=0.0, high=1.0, what="a share in [0, 1]", what_states_bounds=True
        )

    def cost(self, name: str, default: Any = _MISSING) -> float:
        """Return a non-negative amount of money."""
        return self.number(
            name, default, low=0.0, what="a non-negative cost", what_states_bounds=True
        )

    def nonneg(self, name: str, default: Any = _MISSING) -> float:
        """Return a non-negative number."""
        return self.number(
            name, default, low=0.0, what="a non-negative number", what_states_bounds=True
        )

    def positive(self, name: str, default: Any = _MISSING) -> float:
        """Return a strictly positive number."""
        return self.number(
            name, default, low=0.0, low_open=True, what="a positive number", what_states_bounds=True
        )

    def integer(
        self, name: str, default: Any = _MISSING, *, low: int | None = None, high: int | None = None
    ) -> int:
        """Return an integer within optional bounds, and within 64 bits.

        TOML integers are 64-bit, but Python's reader (and a command-line override)
        accepts any size: one beyond :data:`INT64_MAX` would overflow the arrays it
        sizes or counts, so it is refused here.
        """
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise self.error(name, f"expected an integer, got {_type_name(value)} {value!r}")
        if abs(value) > INT64_MAX:
            raise self.error(name, f"expected an integer that fits in 64 bits (at most "
                             f"{INT64_MAX:,} in size), got {value:.3g}")
        if low is not None and value < low:
            raise self.error(name, f"expected an integer ≥ {low}, got {value}")
        if high is not None and value > high:
            raise self.error(name, f"expected an integer ≤ {high}, got {value}")
        return int(value)

    def boolean(self, name: str, default: Any = _MISSING) -> bool:
        """Return a boolean."""
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"expected true or false, got {_type_name(value)} {value!r}")
        return value

    def string(
        self, name: str, default: Any = _MISSING, *, choices: Iterable[str] | None = None
    ) -> str:
        """Return a string, optionally one of ``choices``."""
        value = self.raw(name, default)
        if not isinstance(value, str):
            raise self.error(name, f"expected a string, got {_type_name(value)} {value!r}")
        if choices is not None:
            options = list(choices)
            if value not in options:
                listed = ", ".join(repr(c) for c in options)
                raise self.error(
                    name, f"expected one of {listed}, got {value!r}" + suggest(value, options)
                )
        return value

    def strings(self, name: str, default: Any = _MISSING) -> tuple[str, ...]:
        """Return a list of strings as a tuple."""
        value = self.raw(name, default)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise self.error(name, f"expected a list of strings, got {value!r}")
        return tuple(value)

    def table(self, name: str, default: Any = _MISSING) -> Table:
        """Return the sub-table ``name``."""
        value = self.raw(name, default)
        if not isinstance(value, dict):
            raise self.error(name, f"expected a table, got {_type_name(value)} {value!r}")
        return Table(value, self.file, self.key(name))

    def tables(self, name: str, default: Any = _MISSING) -> list[Table]:
        """Return an array of tables (``[[name]]``)."""
        value = self.raw(name, default)
        if not isinstance(value, list):
            raise self.error(name, f"expected an array of tables ([[{name}]]), "
                             f"got {_type_name(value)} {value!r}")
        for i, item in enumerate(value):
            if not isinstance(item, dict):  # name the item, not the whole list
                raise self.error(name, f"expected an array of tables ([[{name}]]), "
                                 f"item {i} is {_type_name(item)} {item!r}")
        return [Table(v, self.file, f"{self.key(name)}[{i}]") for i, v in enumerate(value)]
