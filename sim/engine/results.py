"""Writing a run's results: ``summary.json``, ``timeseries.csv``, ``customers.csv``.

Files are written into a temporary folder beside the destination and moved into place
only when all of them are complete, so an interrupted run never leaves half-written
results. Formatting is fixed (sorted columns as defined, ``repr`` floats, ``null`` for
undefined values), so the same scenario, policy and seed give byte-identical files.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from sim.engine.model import EngagementModel
from sim.files import jsonable


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
