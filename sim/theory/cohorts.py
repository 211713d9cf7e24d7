"""Cohort retention tables: reading and validating them, and writing one.

A cohort table is a CSV file with a header row and the columns ``period`` and ``alive``
(customers of a cohort still active at the start of each period; period 0 is the cohort
size), and optionally ``segment`` for several cohorts::

    segment,period,alive
    smb,0,5000
    smb,1,4407
    ...

:func:`read_cohorts` turns one into alive counts per segment, or raises
:class:`~sim.schema.InputError` naming the file, the segment and row, and what is wrong;
:func:`write_cohorts` writes one. The shifted-beta-geometric model fitted to such a
table is :mod:`sim.theory.sbg`; fitting a whole table is :mod:`sim.theory.calibration`.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from sim.files import atomic_write_text
from sim.schema import InputError, read_text, suggest
from sim.theory.sbg import MIN_PERIODS

#: Required columns of a cohort table, and the optional one.
COLUMNS = ("period", "alive")
SEGMENT_COLUMN = "segment"
#: Segment name used when the table has no ``segment`` column.
DEFAULT_SEGMENT = "all"


def _whole(text: str, column: str) -> int:
    """Parse a whole number (``12`` or ``12.0``); raise ``ValueError`` with a message."""
    if text == "":
        raise ValueError(f"{column} is empty")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{column}: expected a whole number, got {text!r}") from None
    if not math.isfinite(value) or not value.is_integer():
        raise ValueError(f"{column}: expected a whole number, got {text!r}")
    return int(value)


def location(segment: str | None, line: int | None = None) -> str:
    """The place in a table an error message names (the key of its :class:`InputError`).

    ``segment smb, row 4`` / ``row 4`` / ``segment smb`` / ``""``.
    """
    parts = []
    if segment is not None:
        parts.append(f"segment {segment}")
    if line is not None:
        parts.append(f"row {line}")
    return ", ".join(parts)


def read_cohorts(path: str | Path) -> dict[str, np.ndarray]:
    """Read and validate a cohort table.

    The table is a CSV file with a header row and the columns ``period`` and ``alive``
    (customers still active at the start of each period; period 0 is the cohort size),
    and optionally ``segment`` for several cohorts. Column names are matched ignoring
    case and surrounding spaces; blank lines are skipped. A segment's rows may be
    interleaved with other segments' rows, but within a segment the periods must run
    0, 1, 2, … in file order. Row numbers in messages are line numbers of the file
    (the header is row 1, as in a spreadsheet).

    Args:
        path: The CSV file.

    Returns:
        Segment name → ``int64`` array of alive counts at periods 0..K, in the order
        the segments first appear (a single ``"all"`` entry without a segment column).

    Raises:
        InputError: The file cannot be read or the table is invalid; the message names
            the file, the segment and row, and what is wrong (e.g. ``segment smb, row 4:
            alive increases from 80 to 85``).
    """
    return read_table(path)[0]


def read_table(path: str | Path) -> tuple[dict[str, np.ndarray], bool]:
    """:func:`read_cohorts`, and whether the table has a ``segment`` column.

    Messages about a table with a segment column name the segment; without one the
    single cohort is ``"all"`` and messages name only the row.
    """
    path = Path(path)
    text = read_text(path, "not a CSV text file", encoding="utf-8-sig")

    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    header_line = 0
    rows: dict[str, list[tuple[int, int, int]]] = {}
    expected = "period,alive[,segment]"
    try:
        for fields in reader:
            values = [f.strip() for f in fields]
            if not any(values):
                continue  # blank line
            line = reader.line_num
            if header is None:
                header, header_line = [v.lower() for v in values], line
                _check_header(path, header, line)
                continue
            if len(values) != len(header):
                raise InputError(
                    path,
                    location(None, line),
                    f"expected {len(header)} values ({','.join(header)}), got {len(values)}",
                )
            record = dict(zip(header, values, strict=True))
            segment = record.get(SEGMENT_COLUMN, DEFAULT_SEGMENT)
            named = segment if SEGMENT_COLUMN in record else None
            if segment == "":
                raise InputError(path, location(None, line), "segment is empty")
            try:
                period = _whole(record["period"], "period")
                alive = _whole(record["alive"], "alive")
            except ValueError as exc:
                raise InputError(path, location(named, line), str(exc)) from None
            if alive < 0:
                raise InputError(
                    path, location(named, line), f"alive must be ≥ 0, got {alive}"
                )
            rows.setdefault(segment, []).append((line, period, alive))
    except csv.Error as exc:
        raise InputError(path, location(None, reader.line_num), f"not valid CSV: {exc}") from None

    if header is None:
        raise InputError(
            path, "", f"empty file: expected a header row ({expected}) and one row per period"
        )
    if not rows:
        raise InputError(
            path, "", f"no data rows after the header (row {header_line}): expected one row "
            "per period, starting with period 0 (the cohort size)"
        )
    named = SEGMENT_COLUMN in header
    cohorts = {
        name: _check_rows(path, name if named else None, seg_rows)
        for name, seg_rows in rows.items()
    }
    return cohorts, named


def _check_header(path: Path, header: list[str], line: int) -> None:
    known = (*COLUMNS, SEGMENT_COLUMN)
    if all(re.fullmatch(r"[-+]?[0-9.eE]+", name) for name in header):
        raise InputError(
            path,
            location(None, line),
            f"the first row must be a header naming the columns period, alive (and optionally "
            f"segment), got {','.join(header)!r}",
        )
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise InputError(path, location(None, line), f"column {name!r} appears twice")
        seen.add(name)
        if name not in known:
            raise InputError(
                path,
                location(None, line),
                f"unknown column {name!r}" + suggest(name, known)
                + "; expected the columns period, alive and optionally segment",
            )
    missing = [c for c in COLUMNS if c not in seen]
    if missing:
        listed = " and ".join(repr(c) for c in missing)
        raise InputError(
            path,
            location(None, line),
            f"missing column {listed}: the first row must be a header naming the columns "
            "period, alive (and optionally segment)",
        )


def _check_rows(
    path: Path, segment: str | None, rows: list[tuple[int, int, int]]
) -> np.ndarray:
    """Validate one segment's ``(line, period, alive)`` rows; return the alive counts."""
    first_line, first_period, first_alive = rows[0]
    if first_period != 0:
        raise InputError(
            path,
            location(segment, first_line),
            f"the first period is {first_period}: periods must start at 0 (the cohort size)",
        )
    if first_alive == 0:
        raise InputError(
            path, location(segment, first_line), "the cohort size (alive at period 0) is 0"
        )
    seen = {first_period: first_line}
    for (_, prev_period, prev_alive), (line, period, alive) in itertools.pairwise(rows):
        where = location(segment, line)
        if period in seen:
            raise InputError(
                path, where, f"period {period} appears twice (also row {seen[period]})"
            )
        if period < prev_period:
            raise InputError(
                path, where, f"period {period} follows period {prev_period}: periods must increase"
            )
        if period > prev_period + 1:
            gap = (
                f"period {prev_period + 1} is missing"
                if period == prev_period + 2
                else f"periods {prev_period + 1}..{period - 1} are missing"
            )
            raise InputError(path, where, f"period {period} follows period {prev_period}: {gap}")
        if alive > prev_alive:
            raise InputError(
                path,
                where,
                f"alive increases from {prev_alive} to {alive} (period {prev_period} to "
                f"{period}); alive counts the cohort's customers still active, which can "
                "only fall",
            )
        seen[period] = line
    if len(rows) < MIN_PERIODS:
        raise InputError(
            path,
            location(segment) if segment is not None else "",
            f"only {len(rows)} period(s) (0..{rows[-1][1]}): at least {MIN_PERIODS} (periods "
            "0, 1, 2) are needed to fit the two sBG parameters",
        )
    return np.array([alive for _, _, alive in rows], dtype=np.int64)


def write_cohorts(cohorts: Mapping[str, np.ndarray], path: str | Path) -> Path:
    """Write cohorts as a ``segment,period,alive`` CSV table (atomically).

    Args:
        cohorts: Segment name → alive counts at periods 0..K.
        path: The CSV file to write.

    Returns:
        The path written.
    """
    path = Path(path)
    lines = ["segment,period,alive"]
    for name, alive in cohorts.items():
        lines.extend(f"{name},{t},{int(n)}" for t, n in enumerate(alive))
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path

