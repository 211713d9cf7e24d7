"""Finding rows of customers among other rows, both in ascending order.

A step often holds values for some customers only (the rows a phase moved, the rows that
asked a team for touches, the accounts a team covers) and reads them at other rows: a
binary search of the ones in the others, instead of a full-length array per lookup.
"""

from __future__ import annotations

import numpy as np


def locate(keys: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``rows`` are among ``keys``, and where.

    Args:
        keys: Distinct values, ascending.
        rows: The values looked for.

    Returns:
        ``(found, at)``: whether each of ``rows`` is in ``keys``, and the positions in
        ``keys`` of those found (in the order of ``rows``), so that
        ``keys[at]`` is ``rows[found]``.
    """
    at = np.searchsorted(keys, rows)
    found = at < keys.size
    found[found] = keys[at[found]] == rows[found]
    return found, at[found]
