"""Shared data and helpers of the cohort-table, sBG and calibration tests.

Tolerances are K = 4 standard errors: of the parameters (observed information), of a
binomial share at the cohort's size, or both combined where two independent errors add.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.engine.scenario import SCENARIO_DIR

K = 4.0
#: The shipped example table (``sim.theory.calibration.example_cohorts``).
EXAMPLE = SCENARIO_DIR / "cohorts_example.csv"

# Fader & Hardie (2007), "How to project customer retention", Table 1: % of an initial
# cohort of 1000 still customers after 0..12 years; the model is fitted to years 0..7.
FH_REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241, 221, 207, 194, 183, 173]
FH_HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491, 468, 445, 427, 409, 394]


def binomial_se(p: np.ndarray, n: int) -> np.ndarray:
    """Standard error of a binomial share ``p`` of ``n``."""
    return np.sqrt(p * (1 - p) / n)


def write_table(tmp_path: Path, text: str, name: str = "cohorts.csv") -> Path:
    """Write ``text`` to ``tmp_path / name`` and return the path."""
    path = tmp_path / name
    path.write_text(text)
    return path


def table_text(cohorts: dict[str, list[int]]) -> str:
    """A ``segment,period,alive`` table of the given alive counts."""
    lines = ["segment,period,alive"]
    for name, alive in cohorts.items():
        lines += [f"{name},{t},{n}" for t, n in enumerate(alive)]
    return "\n".join(lines) + "\n"
