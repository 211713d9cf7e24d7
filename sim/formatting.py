"""How numbers are written for people: one formatter set for every report and screen.

* :func:`fixed` — a fixed number of decimals with thousands separators (command-line
  summaries, the analytic tables);
* :func:`number`, :func:`percent`, :func:`points` — prose and tables of the report
  (few significant decimals, shares as ``91.2 %``, differences of shares as ``+1.4 pp``);
* :func:`compact` — the live page's small tables (whole numbers from 100 up, three
  significant digits below);
* :func:`money_short` — axis labels (``1.2M``, ``35k``, ``420``);
* :func:`markdown_table` — the tables of the reports.

An undefined value (``None`` or NaN) is written :data:`MISSING` everywhere, never
``nan``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: How an undefined value is written.
MISSING = "–"


def _undefined(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fixed(value: float | None, digits: int = 0, *, thousands: bool = True,
          missing: str = MISSING) -> str:
    """``value`` with ``digits`` decimals (``1,234.5``); ``∞`` for +inf, never ``-0``.

    Args:
        value: The number (``None`` and NaN are undefined).
        digits: Decimals.
        thousands: Group thousands with commas.
        missing: Text for an undefined value or −inf.

    Returns:
        The text.
    """
    if _undefined(value) or value == -math.inf:
        return missing
    if value == math.inf:
        return "∞"
    text = format(value, f"{',' if thousands else ''}.{digits}f")
    return text[1:] if text.startswith("-") and float(text.replace(",", "")) == 0 else text


def number(value: float | None, signed: bool = False) -> str:
    """A number for prose and tables: thousands separators, few decimals."""
    if value is None or not math.isfinite(value):
        return MISSING
    a = abs(value)
    text = f"{value:,.0f}" if a >= 100 else f"{value:,.1f}" if a >= 10 else f"{value:.2f}"
    return f"+{text}" if signed and value > 0 else text


def percent(value: float | None, signed: bool = False, digits: int = 1,
            space: bool = True) -> str:
    """A share as a percentage (``0.912`` → ``91.2 %``; ``space=False``: ``91.2%``)."""
    if value is None or not math.isfinite(value):
        return MISSING
    sign = "+" if signed and value > 0 else ""
    return f"{sign}{100 * value:.{digits}f}{' ' if space else ''}%"


def points(value: float | None, signed: bool = False) -> str:
    """A difference of shares in percentage points (``0.014`` → ``+1.4 pp``)."""
    return percent(value, signed).replace(" %", " pp")


def compact(value: Any) -> str:
    """A value for a small table: whole numbers from 100 up, three digits below."""
    if _undefined(value):
        return MISSING
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def money_short(value: float, _pos: int | None = None) -> str:
    """Short money label: ``1.2M``, ``35k``, ``420`` (a matplotlib tick formatter too)."""
    if not math.isfinite(value):
        return ""
    a = abs(value)
    if a >= 1e6:
        return f"{value / 1e6:.3g}M"
    if a >= 1e3:
        return f"{value / 1e3:.3g}k"
    return f"{value:.3g}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table: header, separator and one line per row (cells as ``str``)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines
