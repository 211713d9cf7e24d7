"""Default sizes of experiments and decisions.

A module of plain numbers, so that the command line can show them in ``--help``
without importing the sweep machinery (NumPy, SciPy); :mod:`sim.sweep.design` uses
them.
"""

EXPERIMENT_AGENTS = 5000
"""Most customers an experiment's run simulates unless the file says ``agents``."""

DECIDE_SAMPLES = 128
"""Default assumption samples of ``engagesim decide``."""
DECIDE_REPLICATIONS = 3
"""Default runs per policy and sample (≥ 2 lets the report remove simulation noise)."""
DECIDE_AGENTS = 5000
"""Most customers a ``decide`` run simulates by default (a sample of the company)."""
