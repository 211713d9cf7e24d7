"""Writing a run's results: ``summary.json``, ``timeseries.csv``, ``customers.csv``.

Files are written into a temporary folder beside the destination and moved into place
only when all of them are complete, so an interrupted run never leaves half-written
results. Formatting is fixed (sorted columns as defined, ``repr`` floats, ``null`` for
undefined values), so the same scenario, policy and seed give byte-identical files.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from sim.engine.model import EngagementModel


def jsonable(value: Any) -> Any:
    """Convert numpy scalars and non-finite floats into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def write_run(model: EngagementModel, out_dir: str | Path, seed: int | None) -> Path:
    """Write the three result files of a finished run into ``out_dir`` atomically.

    Returns:
        The output folder.
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        summary = jsonable(model.summary(seed=seed))
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        model.timeseries().to_csv(tmp / "timeseries.csv", index=False, lineterminator="\n")
        model.customers_frame().to_csv(tmp / "customers.csv", index=False, lineterminator="\n")
        out.mkdir(exist_ok=True)
        for f in tmp.iterdir():
            f.replace(out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
