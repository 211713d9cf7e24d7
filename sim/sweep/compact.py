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


ROW_GROUP_ROWS = 1024 * 1024
"""Rows of each Parquet row group: pyarrow's default for one ``write_table`` call, so
writing the series part by part gives the bytes one call over the whole frame gave."""


class ColumnsDiffer(Exception):
    """A part's columns (or their dtypes) differ from the first part's.

    :func:`write` streams only alike parts.
    """


def write(path: Path, parts: Iterable[pd.DataFrame], records: Iterable[dict]) -> str:
    """Write the long series of a sweep (``read_series``' frame, in parts) as Parquet.

    The parts are written as they come, so memory holds at most a row group
    (:data:`ROW_GROUP_ROWS`) and a part, not the whole series (a 100,000-run sweep's is
    gigabytes); the file is the same, byte for byte, as one write of the parts
    concatenated.

    Args:
        path: The destination (written atomically).
        parts: Consecutive slices of the per-step series, each with a leading
            ``run_id`` column and the same columns (empty parts are skipped).
        records: The runs' records (``run_id``, ``point``, ``policy``, ``replication``).

    Returns:
        The written file's SHA-256.

    Raises:
        ColumnsDiffer: A part has other columns or dtypes than the first (nothing is
            written: concatenate the parts into one, as pandas aligns them).
    """
    identity = pd.DataFrame([{k: r.get(k) for k in ("run_id", *IDENTITY)} for r in records],
                            columns=["run_id", *IDENTITY]).set_index("run_id")

    def table_of(frame: pd.DataFrame) -> pa.Table:
        frame = frame.copy()
        for name in reversed(IDENTITY):
            values = frame["run_id"].map(identity[name]) if len(identity) \
                else pd.Series(index=frame.index, dtype=object)
            frame.insert(1, name, values)
        return pa.Table.from_pandas(frame, preserve_index=False)

    def stream(handle) -> None:
        writer, columns, dtypes, schema, pending, rows = None, None, None, None, [], 0
        try:
            for part in parts:
                if part.empty:
                    continue
                names = [c for c in part.columns if c != "run_id"]
                if writer is None:
                    columns, dtypes, table = names, list(part.dtypes), table_of(part)
                    schema = table.schema.with_metadata({
                        **(table.schema.metadata or {}),
                        METADATA_KEY: json.dumps(columns).encode()})
                    writer = pq.ParquetWriter(handle, schema, compression="zstd")
                elif names != columns or list(part.dtypes) != dtypes:
                    raise ColumnsDiffer
                else:
                    table = table_of(part)
                pending.append(table.replace_schema_metadata(schema.metadata))
                rows += table.num_rows
                if rows >= ROW_GROUP_ROWS:  # whole row groups now, the rest later
                    pending = _write_row_groups(writer, pending, rows, final=False)
                    rows %= ROW_GROUP_ROWS
            if writer is None:  # no series: a file of no rows, the identity columns only
                empty = table_of(pd.DataFrame({"run_id": pd.Series(dtype="int64")}))
                empty = empty.replace_schema_metadata({**(empty.schema.metadata or {}),
                                                       METADATA_KEY: json.dumps([]).encode()})
                pq.write_table(empty, handle, compression="zstd")
            else:
                _write_row_groups(writer, pending, rows, final=True)
        finally:
            if writer is not None:  # the footer (also before a failed file is removed)
                writer.close()

    atomic_write(path, stream, suffix=".parquet")
    return sha256(path)


def _write_row_groups(writer: pq.ParquetWriter, pending: list[pa.Table], rows: int,
                      final: bool) -> list[pa.Table]:
    """Write the whole row groups of ``pending`` (all of it when ``final``); the rest.

    Each written slice is made contiguous first, as one ``from_pandas`` table is, so
    pages are cut where one write of everything cuts them.
    """
    table = pa.concat_tables(pending)
    whole = rows if final else rows - rows % ROW_GROUP_ROWS
    if whole:
        writer.write_table(table.slice(0, whole).combine_chunks(),
                           row_group_size=ROW_GROUP_ROWS)
    return [table.slice(whole)] if whole < rows else []


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
