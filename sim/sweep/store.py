"""The results store of a sweep: atomic per-run records, ``runs.csv``, series, manifest.

Layout of an output folder::

    manifest.json      versions, experiment and scenario hashes, root seed, command
    rows/000017.json   one finished run: identity, factor values, flattened summary or error
    series/000017.npz  its per-step series, one array per column (columnar)
    runs.csv           every finished run, one row each, sorted by run_id

Every file is written to a temporary name and renamed into place, so a crash or a
SIGKILL at any moment leaves only complete records; ``runs.csv`` is rebuilt from the
records (atomically) as runs finish. ``--resume`` reads ``rows/`` to find what is done.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.files import atomic_write, atomic_write_bytes
from sim.schema import InputError

ID_COLUMNS = ("run_id", "point", "policy", "replication", "seed")
DEPENDENCIES = ("mesa", "numpy", "scipy", "pandas", "matplotlib", "joblib", "networkx")


def flatten(summary: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested summary dicts into ``runs.csv`` columns.

    ``retention.12`` → ``retention_12``; ``segments.smb.profit_per_customer`` →
    ``segments_smb_profit_per_customer`` (:func:`sim.analysis.outcomes.outcome` resolves
    each to its outcome).

    Args:
        summary: A run summary (or a part of one).
        prefix: Prepended to every key (the path so far, ``_``-terminated).

    Returns:
        Column name → value, in the summary's order.
    """
    out: dict[str, Any] = {}
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}_"))
        else:
            out[name] = value
    return out


def versions() -> dict[str, str]:
    """Versions of engagesim, Python and the dependencies."""
    out = {"python": platform.python_version()}
    for name in ("engagesim", *DEPENDENCIES):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


class ResultStore:
    """An output folder of a sweep (the layout is in the module docstring).

    Args:
        root: The folder.

    Attributes:
        root: The folder.
        rows: ``root/rows``, one JSON record per finished run.
        series: ``root/series``, one ``.npz`` of per-step series per successful run.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.rows = self.root / "rows"
        self.series = self.root / "series"

    # -- set-up ---------------------------------------------------------------------
    def open(self, manifest: dict[str, Any], resume: bool) -> None:
        """Create the folder, or check it may be resumed, and write the manifest.

        Raises:
            InputError: The folder has results and ``resume`` is false, or it holds a
                different experiment.
        """
        manifest_path = self.root / "manifest.json"
        has_content = self.root.exists() and any(self.root.iterdir())
        if has_content and not resume:
            raise InputError(
                self.root, "", "output folder is not empty: pass --resume to finish that "
                "sweep, or choose another --out"
            )
        if resume and manifest_path.exists():
            old = json.loads(manifest_path.read_text())
            if old.get("experiment_hash") != manifest["experiment_hash"]:
                raise InputError(
                    self.root, "", "--resume: this folder holds a different experiment "
                    "(experiment hash differs); choose another --out"
                )
            manifest = {**manifest, "started": old.get("started", manifest.get("started"))}
        self.rows.mkdir(parents=True, exist_ok=True)
        self.series.mkdir(exist_ok=True)
        atomic_write_bytes(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())

    def manifest(self) -> dict[str, Any]:
        """The folder's manifest."""
        path = self.root / "manifest.json"
        if not path.is_file():
            raise InputError(self.root, "", "not a results folder (no manifest.json)")
        return json.loads(path.read_text())

    # -- records --------------------------------------------------------------------
    def done(self) -> set[int]:
        """Run ids with a successful record."""
        ids = set()
        for path in self.rows.glob("*.json"):
            record = json.loads(path.read_text())
            if not record.get("error"):
                ids.add(int(record["run_id"]))
        return ids

    def save(self, record: dict[str, Any], series: Mapping[str, np.ndarray] | None) -> None:
        """Store one finished run (series first, so a record implies its series)."""
        name = f"{int(record['run_id']):06d}"
        if series is not None:
            atomic_write(self.series / f"{name}.npz",
                         lambda fh: np.savez_compressed(fh, **series), suffix=".npz")
        data = json.dumps(record, sort_keys=False).encode()
        atomic_write_bytes(self.rows / f"{name}.json", data)

    def records(self) -> list[dict[str, Any]]:
        """Every stored record, sorted by run id."""
        records = [json.loads(p.read_text()) for p in self.rows.glob("*.json")]
        return sorted(records, key=lambda r: r["run_id"])

    def write_runs_csv(self, factor_names: Iterable[str]) -> pd.DataFrame:
        """Rebuild ``runs.csv`` from the records (atomically) and return it."""
        frame = pd.DataFrame(self.records())
        factor_names = list(factor_names)
        if frame.empty:
            frame = pd.DataFrame(columns=[*ID_COLUMNS, *factor_names, "error"])
        if "error" not in frame:
            frame["error"] = ""
        first = [*ID_COLUMNS, *factor_names]
        rest = [c for c in frame.columns if c not in first and c != "error"]
        frame = frame[[*first, *rest, "error"]]
        frame["error"] = frame["error"].fillna("")
        atomic_write_bytes(
            self.root / "runs.csv", frame.to_csv(index=False, lineterminator="\n").encode()
        )
        return frame

    def read_runs(self) -> pd.DataFrame:
        """Read ``runs.csv``."""
        path = self.root / "runs.csv"
        if not path.is_file():
            raise InputError(self.root, "", "no runs.csv: nothing has been run here")
        frame = pd.read_csv(path, dtype={"error": object})
        frame["error"] = frame["error"].fillna("")
        return frame

    def read_series(self, run_ids: Iterable[int] | None = None) -> pd.DataFrame:
        """Per-step series of the given runs (all when ``None``), long format."""
        frames = []
        paths = sorted(self.series.glob("*.npz"))
        wanted = None if run_ids is None else {int(i) for i in run_ids}
        for path in paths:
            run_id = int(path.stem)
            if wanted is not None and run_id not in wanted:
                continue
            with np.load(path) as data:
                frame = pd.DataFrame({k: data[k] for k in data.files})
            frame.insert(0, "run_id", run_id)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
