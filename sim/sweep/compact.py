"""The compacted series of a finished sweep: one columnar ``series.parquet``.

Concept. Each run's per-step series is journalled as its own ``series/NNNNNN.npz``
(crash-safe, written as the run finishes). Thousands of small files are slow to read and
strain shared file systems, and only :meth:`sim.sweep.store.ResultStore.read_series`
reads them. When a sweep (or ``compare``) finishes, :func:`compact` writes every
successful run's series into one Parquet file, long ("tidy") format, one row per run
and step::

    run_id  point  policy  replication  <series columns of the run, in its order>

``point``, ``policy`` and ``replication`` come from the run's record; the series columns
are those of the ``.npz`` (``step``, ``active``…), with their dtypes. pandas
(``pd.read_parquet``), polars, duckdb and R (``arrow::read_parquet``) read it directly.

The journal stays the truth: the file is derived, and its SHA-256 is in the manifest's
integrity record (``series_parquet_sha256``). :func:`read` uses it only when it matches;
a missing, stale (the folder was resumed since) or damaged file is ignored and the
series are read from the journal, and :func:`compact` rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sim.files import atomic_write

FILE = "series.parquet"
"""The compacted series, in the sweep folder."""
CHECKSUM = "series_parquet_sha256"
"""Key of the file's SHA-256 in the manifest's integrity record."""
IDENTITY = ("point", "policy", "replication")
"""Columns from each run's record, after ``run_id`` and before its series."""
METADATA_KEY = b"engagesim.series_columns"
"""Schema metadata: the JSON list of the series columns (what :func:`read` returns)."""


def sha256(path: Path) -> str:
    """SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write(path: Path, series: pd.DataFrame, records: Iterable[dict]) -> str:
    """Write the long series of a sweep (``read_series``' frame) as Parquet.

    Args:
        path: The destination (written atomically).
        series: Per-step series with a leading ``run_id`` column (may be empty).
        records: The runs' records (``run_id``, ``point``, ``policy``, ``replication``).

    Returns:
        The written file's SHA-256.
    """
    columns = [c for c in series.columns if c != "run_id"]
    frame = series.copy() if not series.empty else pd.DataFrame({"run_id": pd.Series(
        dtype="int64")})
    identity = pd.DataFrame([{k: r.get(k) for k in ("run_id", *IDENTITY)} for r in records],
                            columns=["run_id", *IDENTITY])
    for name in reversed(IDENTITY):
        values = frame["run_id"].map(identity.set_index("run_id")[name]) if len(identity) \
            else pd.Series(index=frame.index, dtype=object)
        frame.insert(1, name, values)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           METADATA_KEY: json.dumps(columns).encode()})
    atomic_write(path, lambda fh: pq.write_table(table, fh, compression="zstd"),
                 suffix=".parquet")
    return sha256(path)


def read(path: Path, checksum: str | None, run_ids: Iterable[int] | None = None
         ) -> pd.DataFrame | None:
    """The series of ``run_ids`` (all when ``None``) from a compacted file, if valid.

    Args:
        path: The compacted file.
        checksum: Its SHA-256 as the integrity record has it (``None``: not recorded,
            so the file is stale or foreign and not used).
        run_ids: The runs wanted.

    Returns:
        The frame :meth:`~sim.sweep.store.ResultStore.read_series` returns (``run_id``
        then the series columns), or ``None`` when the file is missing, does not match
        its checksum or cannot be read (the caller reads the journal).
    """
    if checksum is None or not path.is_file() or sha256(path) != checksum:
        return None
    try:
        table = pq.read_table(path)
        columns = json.loads(table.schema.metadata[METADATA_KEY])
    except (pa.ArrowException, OSError, KeyError, ValueError, TypeError):
        return None
    if run_ids is not None:
        wanted = pa.array(sorted({int(i) for i in run_ids}), type=table["run_id"].type)
        table = table.filter(pc.is_in(table["run_id"], value_set=wanted))
    if table.num_rows == 0:
        return pd.DataFrame()
    return table.select(["run_id", *columns]).to_pandas()
