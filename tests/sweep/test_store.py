"""The results store under attack and bad luck: leftovers, strangers, losses, damage, locks.

Each test breaks a results folder the way a crash, a full disk, a hand or a second
process would, and checks that nothing mixes or rots silently: a one-line error naming
the file (exit 2 for bad input, 3 for the environment), or ``--resume`` recomputing
exactly what is missing and ending byte-identical to an undisturbed sweep.
"""

from __future__ import annotations

import ctypes
import errno
import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sim.files
from sim import InputError
from sim.cli import main
from sim.files import EXIT_ENVIRONMENT, EXIT_INPUT, exit_status
from sim.sweep.design import load_experiment
from sim.sweep.runner import effective_jobs, sweep
from sim.sweep.store import INTEGRITY, LOCK_FILE, ResultStore

EXPERIMENT = """\
scenario = "default"
policies = ["no_touch", "hybrid"]
replications = 2
months = 2
customers = 100
seed = {seed}
"""


@pytest.fixture
def experiment_file(tmp_path):
    """An experiment file of 4 tiny runs (seed 5); ``experiment_file.with_seed(6)``."""
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT.format(seed=5))
    return path


def run_sweep(path: Path, out: Path, resume: bool = False):
    return sweep(load_experiment(path), out, jobs=1, progress=False, resume=resume)


def cli_sweep(path: Path, out: Path, *extra: str) -> int:
    return main(["sweep", str(path), "--jobs", "1", "--quiet", "--out", str(out), *extra])


def snapshot(folder: Path) -> dict[str, bytes]:
    """``runs.csv`` and every series file, by name."""
    files = {"runs.csv": (folder / "runs.csv").read_bytes()}
    files.update({f"series/{p.name}": p.read_bytes() for p in (folder / "series").iterdir()})
    return files


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.name != LOCK_FILE]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture
def finished(tmp_path, experiment_file):
    """A finished sweep folder and a pristine copy of it."""
    out = tmp_path / "out"
    run_sweep(experiment_file, out)
    shutil.copytree(out, tmp_path / "pristine")
    return out, tmp_path / "pristine"


# -- leftovers of a killed write -------------------------------------------------------------
def test_a_leftover_temporary_file_is_skipped_on_read_and_swept_on_resume(finished,
                                                                        experiment_file):
    out, pristine = finished
    (out / "series" / ".000003.x1y2z3ab.npz").write_bytes(b"half a zip")
    (out / "rows" / ".000001.json.ab12cd34").write_bytes(b'{"run_id": ')
    store = ResultStore(out)
    assert set(store.read_series()["run_id"]) == {0, 1, 2, 3}
    assert store.problems() == []
    again = run_sweep(experiment_file, out, resume=True)
    assert again.ran == 0 and temporaries(out) == []
    assert snapshot(out) == snapshot(pristine)


# -- strangers ------------------------------------------------------------------------------
def test_resume_refuses_a_folder_without_manifest_and_writes_nothing_there(finished, tmp_path,
                                                                          experiment_file):
    out, _ = finished
    (out / "manifest.json").unlink()
    experiment_file.write_text(EXPERIMENT.format(seed=6))
    with pytest.raises(InputError, match=r"no manifest\.json"):
        run_sweep(experiment_file, out, resume=True)
    assert len(list((out / "rows").iterdir())) == 4  # no seed-6 row mixed in
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not an engagesim results folder"):
        run_sweep(experiment_file, stranger, resume=True)
    assert [p.name for p in stranger.iterdir()] == ["notes.txt"]


def test_resume_refuses_records_of_another_experiment_behind_a_matching_manifest(
    tmp_path, experiment_file
):
    five, six = tmp_path / "five", tmp_path / "six"
    run_sweep(experiment_file, five)
    experiment_file.write_text(EXPERIMENT.format(seed=6))
    run_sweep(experiment_file, six)
    shutil.copy(six / "manifest.json", five / "manifest.json")  # a forged manifest
    (five / "rows" / "000003.json").unlink()
    with pytest.raises(InputError, match="seed"):
        run_sweep(experiment_file, five, resume=True)
    assert not (five / "rows" / "000003.json").exists()


# -- losses ---------------------------------------------------------------------------------
def test_a_lost_series_row_or_half_runs_csv_is_named_and_resume_recomputes_it(
    finished, experiment_file, capsys
):
    out, pristine = finished
    (out / "series" / "000002.npz").unlink()
    assert main(["report", str(out)]) == EXIT_INPUT
    err = one_line_error(capsys)
    assert "series/000002.npz is missing (run 2: no_touch, point 0, replication 1)" in err
    assert "--resume" in err
    data = (out / "runs.csv").read_bytes()
    (out / "runs.csv").write_bytes(data[: len(data) // 2])
    (out / "rows" / "000001.json").unlink()
    problems = ResultStore(out).problems()
    assert any("runs.csv does not match its checksum" in p for p in problems), problems
    again = run_sweep(experiment_file, out, resume=True)
    assert again.ran == 2  # run 1 (no row) and run 2 (no series); runs.csv rebuilt
    assert snapshot(out) == snapshot(pristine)
    assert ResultStore(out).problems() == []


def test_an_unfinished_sweep_is_not_reported_as_if_whole(finished, capsys):
    out, _ = finished
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["integrity"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert main(["report", str(out)]) == EXIT_INPUT
    assert "the sweep did not finish (4 runs stored" in one_line_error(capsys)


# -- damage ---------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["manifest", "row", "series"])
def test_damaged_files_give_one_line_naming_the_file_and_exit_2(finished, experiment_file,
                                                                capsys, damage):
    out, _ = finished
    target = {"manifest": out / "manifest.json", "row": out / "rows" / "000001.json",
              "series": out / "series" / "000001.npz"}[damage]
    data = target.read_bytes()
    target.write_bytes(b"{ garbage" if damage != "series" else data[: len(data) // 2])
    if damage != "row":  # report reads runs.csv and the series, not the rows
        assert main(["report", str(out)]) == EXIT_INPUT
        assert str(target.relative_to(out)) in one_line_error(capsys)
    assert cli_sweep(experiment_file, out, "--resume") == EXIT_INPUT
    err = one_line_error(capsys)
    assert str(target) in err


# -- a second process ---------------------------------------------------------------------------
def test_a_second_process_on_the_folder_is_refused(finished, experiment_file, capsys):
    out, _ = finished
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time\n"
         f"f = open({str(out / LOCK_FILE)!r}, 'a')\nfcntl.flock(f, fcntl.LOCK_EX)\n"
         "print('locked', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert cli_sweep(experiment_file, out, "--resume") == EXIT_ENVIRONMENT
        assert "in use by another engagesim process" in one_line_error(capsys)
        assert main(["report", str(out)]) == EXIT_ENVIRONMENT
        capsys.readouterr()
    finally:
        holder.kill()
        holder.wait()
    assert cli_sweep(experiment_file, out, "--resume") == 0  # released with its process


# -- every write failing -----------------------------------------------------------------------
def test_a_batch_of_runs_is_made_durable_by_one_syncfs_before_any_rename(tmp_path,
                                                                         monkeypatch):
    real = sim.files.libc_syncfs()
    if real is None:
        pytest.skip("no trusted syncfs(2) here")
    store = ResultStore(tmp_path)
    store.rows.mkdir()
    store.series.mkdir()
    steps = []
    real_replace = os.replace

    def syncfs(fd):
        steps.append(("syncfs", os.path.samestat(os.fstat(fd), tmp_path.stat())))
        return real(fd)

    def replace(src, dst):
        steps.append(("replace", Path(dst).parent.name))
        return real_replace(src, dst)

    monkeypatch.setattr(sim.files, "libc_syncfs", lambda: syncfs)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "fsync", lambda fd: pytest.fail("fsync beside syncfs"))
    store.save_batch([({"run_id": i, "error": ""}, b"PK") for i in range(6)])
    assert steps == [("syncfs", True)] + [("replace", "series")] * 6 + [("replace", "rows")] * 6


def inject(monkeypatch, step: str, fault):
    """Route one kind of write step through ``fault(real, *args)``.

    ``syncfs``: the durable flush of every batch and every atomic write (Linux);
    ``fsync``: the same flush without ``syncfs`` (one fsync per file), and the folder's
    fsync after an atomic write's rename; ``replace``: the renames.
    """
    if step == "syncfs":
        real = sim.files.libc_syncfs()
        if real is None:
            pytest.skip("no trusted syncfs(2) here")

        def syncfs(fd: int) -> int:
            try:
                return fault(real, fd)
            except OSError as exc:  # as the C function fails: -1, errno set
                ctypes.set_errno(exc.errno)
                return -1

        monkeypatch.setattr(sim.files, "libc_syncfs", lambda: syncfs)
        return
    if step == "fsync":
        monkeypatch.setattr(sim.files, "libc_syncfs", lambda: None)
    real = getattr(os, step)
    monkeypatch.setattr(os, step, lambda *args: fault(real, *args))


def full_disk_at(failing: int):
    """A fault failing the ``failing``-th call (from 0) as a full disk; the count of calls."""
    count = []

    def fault(real, *args):
        count.append(1)
        if len(count) - 1 == failing:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args)

    return fault, count


@pytest.mark.parametrize("step", ["syncfs", "fsync", "replace"])
def test_every_failed_write_leaves_nothing_partial_and_resume_completes(
    tmp_path, experiment_file, monkeypatch, step
):
    clean = tmp_path / "clean"
    fault, calls = full_disk_at(-1)
    inject(monkeypatch, step, fault)
    run_sweep(experiment_file, clean)
    monkeypatch.undo()
    # manifest, the batches of 4 runs (one flush each with syncfs, else 2 fsyncs a run),
    # runs.csv, series.parquet, sealed manifest
    assert len(calls) >= 1 + 1 + 3, len(calls)
    # the writer's batches depend on timing: fail each call in turn until a sweep makes
    # fewer calls than that (it then must finish like the clean one)
    for failing in itertools.count():
        out = tmp_path / f"fail{step}{failing}"
        fault, count = full_disk_at(failing)
        inject(monkeypatch, step, fault)
        try:
            run_sweep(experiment_file, out)
        except OSError as exc:
            raised = exc
        else:
            raised = None
        finally:
            monkeypatch.undo()
        if raised is None:
            assert len(count) <= failing and snapshot(out) == snapshot(clean)
            assert failing >= len(calls) - 3, (failing, len(calls))  # batches vary, not more
            break
        code, message = exit_status(raised)
        assert code == EXIT_ENVIRONMENT and "No space left on device" in message
        assert temporaries(out) == [], failing  # no half-written file left
        store = ResultStore(out)
        if (out / "manifest.json").is_file():  # whole exactly when sealed (the seal is last)
            sealed = INTEGRITY in store.manifest()
            assert (store.problems() == []) == sealed, failing
        for path in store.record_paths().values():
            record = store.read_record(path)  # every record left is whole …
            if not record["error"]:
                assert store.series_path(record["run_id"]).is_file()  # … with its series
        run_sweep(experiment_file, out, resume=True)
        assert snapshot(out) == snapshot(clean), failing
        assert store.problems() == []


# -- bad output paths and too many jobs -----------------------------------------------------------
def test_unusable_output_paths_are_bad_input(tmp_path, experiment_file, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert cli_sweep(experiment_file, a_file) == EXIT_INPUT
    assert "exists and is not a folder" in one_line_error(capsys)
    assert cli_sweep(experiment_file, tmp_path / ("x" * 300)) == EXIT_INPUT
    assert "File name too long" in one_line_error(capsys)
    assert cli_sweep(experiment_file, a_file / "below") == EXIT_INPUT
    one_line_error(capsys)
    assert a_file.read_text() == "x"


def test_jobs_are_capped_at_the_work_and_the_cores():
    cores = os.cpu_count()
    assert effective_jobs(10_000, 3) == min(3, cores)
    assert effective_jobs(10_000, 10_000) == cores
    assert effective_jobs(-1, 10_000) == cores
    assert effective_jobs(-2, 10_000) == max(1, cores - 1)
    assert effective_jobs(4, 0) == 1


@pytest.mark.parametrize("step", ["syncfs", "fsync"])
def test_a_full_disk_is_one_line_and_exit_3_from_the_command_line(tmp_path, experiment_file,
                                                                  monkeypatch, capsys, step):
    # the first batch's flush: the 2nd syncfs (after the manifest's), the 3rd fsync (after
    # the manifest's file and folder)
    fault, _ = full_disk_at(1 if step == "syncfs" else 2)
    inject(monkeypatch, step, fault)
    assert cli_sweep(experiment_file, tmp_path / "out") == EXIT_ENVIRONMENT
    assert "No space left on device" in one_line_error(capsys)
    assert temporaries(tmp_path / "out") == []
    assert not (tmp_path / "out" / "runs.csv").exists()


# -- the compacted series -------------------------------------------------------------------
def test_a_finished_sweep_compacts_its_series_and_reads_them_back_equal(finished):
    import pandas as pd
    import pyarrow.parquet as pq

    from sim.sweep import compact

    out, _ = finished
    store = ResultStore(out)
    path = out / compact.FILE
    assert path.is_file()
    assert store.manifest()["integrity"][compact.CHECKSUM] == compact.sha256(path)
    journal = store._read_journal_series()
    pd.testing.assert_frame_equal(store.read_series(), journal, check_exact=True)
    pd.testing.assert_frame_equal(store.read_series([1, 3]),
                                  store._read_journal_series([1, 3]), check_exact=True)
    # the long layout any Parquet reader sees: run, point, policy, replication, step, ...
    table = pq.read_table(path).to_pandas()
    assert list(table.columns[:5]) == ["run_id", "point", "policy", "replication", "step"]
    runs = store.read_runs().set_index("run_id")
    assert (table["policy"].to_numpy() == runs.loc[table["run_id"], "policy"].to_numpy()).all()
    assert len(table) == len(journal)


def test_a_series_file_is_checked_by_the_end_of_its_directory(tmp_path):
    import zipfile

    from sim.sweep.store import _directory_at_end, check_series, series_bytes

    whole = tmp_path / "000000.npz"
    whole.write_bytes(series_bytes({"step": np.arange(1, 37), "active": np.ones(36)}))
    assert _directory_at_end(whole)
    check_series(whole)
    for cut in (1, 21, len(whole.read_bytes()) // 2):
        damaged = tmp_path / f"cut{cut}.npz"
        damaged.write_bytes(whole.read_bytes()[:-cut])
        assert not _directory_at_end(damaged)
        with pytest.raises(InputError, match=r"damaged series file, not a whole \.npz"):
            check_series(damaged)
    commented = tmp_path / "commented.npz"  # a whole zip the quick look leaves to zipfile
    with zipfile.ZipFile(commented, "w") as archive:
        archive.writestr("step.npy", b"x")
        archive.comment = b"a note"
    assert not _directory_at_end(commented)
    check_series(commented)


def _one_write(path: Path, series, records, row_group_rows: int) -> None:
    """The compaction as it was before it streamed: one ``write_table`` of everything."""
    import json

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sim.sweep import compact

    columns = [c for c in series.columns if c != "run_id"]
    frame = series.copy()
    identity = pd.DataFrame([{k: r.get(k) for k in ("run_id", *compact.IDENTITY)}
                             for r in records], columns=["run_id", *compact.IDENTITY])
    for name in reversed(compact.IDENTITY):
        frame.insert(1, name, frame["run_id"].map(identity.set_index("run_id")[name]))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**table.schema.metadata,
                                           compact.METADATA_KEY: json.dumps(columns).encode()})
    pq.write_table(table, path, compression="zstd", row_group_size=row_group_rows)


def test_the_compaction_streams_part_by_part_into_the_bytes_of_one_write(
        finished, monkeypatch, tmp_path):
    # a 100k-run sweep's series are gigabytes: memory holds a row group and a part
    import pyarrow.parquet as pq

    import sim.sweep.store
    from sim.sweep import compact

    out, _ = finished
    store = ResultStore(out)
    series, records = store._read_journal_series(), store.records()
    monkeypatch.setattr(compact, "ROW_GROUP_ROWS", 3)  # row groups of 3 rows
    monkeypatch.setattr(sim.sweep.store, "PART_FILES", 1)  # parts of one run's steps
    steps = len(series) // len(records)
    assert len(series) > 2 * 3 and steps % 3 != 0  # parts straddle the row groups
    _one_write(tmp_path / "one.parquet", series, records, 3)
    checksum = store._write_compacted()
    assert checksum == compact.sha256(tmp_path / "one.parquet")
    assert (out / compact.FILE).read_bytes() == (tmp_path / "one.parquet").read_bytes()
    assert pq.ParquetFile(out / compact.FILE).num_row_groups == -(-len(series) // 3)


def test_parts_with_other_columns_write_nothing_and_the_folder_aligns_them_at_once(
        finished, monkeypatch, tmp_path):
    import pandas as pd

    import sim.sweep.store
    from sim.sweep import compact

    first = pd.DataFrame({"run_id": [0, 0], "step": [1, 2], "active": [5, 6]})
    other = pd.DataFrame({"run_id": [1], "step": [1], "churned": [1.5]})
    records = [{"run_id": 0, "point": 0, "policy": "a", "replication": 0},
               {"run_id": 1, "point": 0, "policy": "a", "replication": 1}]
    (tmp_path / "new").mkdir()
    with pytest.raises(compact.ColumnsDiffer):
        compact.write(tmp_path / "new" / "x.parquet", iter([first, other]), records)
    assert list((tmp_path / "new").iterdir()) == []  # not even a temporary file
    # a folder whose runs' columns differ: the same file as one write of them aligned
    out, _ = finished
    store = ResultStore(out)
    real = sim.sweep.store.read_npz

    def renamed(path):  # the last run's series has a column the others lack
        arrays = real(path)
        if path.name.startswith("000003"):
            arrays["live"] = arrays.pop("active")
        return arrays

    monkeypatch.setattr(sim.sweep.store, "read_npz", renamed)
    monkeypatch.setattr(sim.sweep.store, "PART_FILES", 1)
    series = store._read_journal_series()
    assert series["live"].notna().any() and series["active"].isna().any()
    _one_write(tmp_path / "one.parquet", series, store.records(), compact.ROW_GROUP_ROWS)
    store._write_compacted()
    assert (out / compact.FILE).read_bytes() == (tmp_path / "one.parquet").read_bytes()


@pytest.mark.parametrize("damage", ["missing", "truncated", "stale"])
def test_a_missing_damaged_or_stale_compaction_is_not_used_and_is_rebuilt(finished, damage):
    import pandas as pd

    from sim.sweep import compact

    out, _ = finished
    store = ResultStore(out)
    path = out / compact.FILE
    journal = store._read_journal_series()
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:  # a journal series changed behind it: the checksum no longer vouches for it
        frame = journal[journal["run_id"] == 0].drop(columns="run_id")
        frame["step"] = frame["step"] + 100
        store.save(store.read_record(store.record_paths()[0]),
                   {c: frame[c].to_numpy() for c in frame})
        manifest = store.manifest()
        del manifest["integrity"][compact.CHECKSUM]
        (out / "manifest.json").write_text(__import__("json").dumps(manifest))
        journal = store._read_journal_series()
    assert compact.read(path, store.manifest()["integrity"].get(compact.CHECKSUM)) is None
    pd.testing.assert_frame_equal(store.read_series(), journal, check_exact=True)
    # rebuilt from the journal, and used from then on
    checksum = store.manifest()["integrity"][compact.CHECKSUM]
    assert compact.sha256(path) == checksum
    pd.testing.assert_frame_equal(compact.read(path, checksum), journal, check_exact=True)


def test_resume_makes_the_compaction_stale_until_it_finishes(finished, experiment_file):
    from sim.sweep import compact

    out, _ = finished
    (out / "series" / "000002.npz").unlink()
    before = (out / compact.FILE).read_bytes()
    again = run_sweep(experiment_file, out, resume=True)
    assert again.ran == 1
    assert (out / compact.FILE).read_bytes() == before  # same runs, same file
    store = ResultStore(out)
    assert store.manifest()["integrity"][compact.CHECKSUM] == compact.sha256(out / compact.FILE)


# -- reading the journal's series -----------------------------------------------------------
def test_read_npz_reads_what_np_load_reads(tmp_path):
    import zipfile

    from sim.sweep.store import read_npz, series_bytes

    series = {"step": np.arange(1, 13), "active": np.linspace(0.0, 1.0, 12),
              "flag": np.arange(12) % 2 == 0, "empty": np.array([], dtype=float),
              "counts": np.arange(12, dtype=np.int32).reshape(3, 4),
              "weekly": np.linspace(0.0, 1.0, 520)}  # long enough to be deflated
    path = tmp_path / "000001.npz"
    path.write_bytes(series_bytes(series))
    with zipfile.ZipFile(path) as archive:  # short columns stored, long ones deflated
        kinds = {info.filename: info.compress_type for info in archive.infolist()}
    assert kinds.pop("weekly.npy") == zipfile.ZIP_DEFLATED
    assert set(kinds.values()) == {zipfile.ZIP_STORED}
    read = read_npz(path)
    with np.load(path) as data:
        assert list(read) == data.files
        for name in data.files:
            assert read[name].dtype == data[name].dtype
            np.testing.assert_array_equal(read[name], data[name])


def test_a_temporary_name_left_by_a_crash_is_not_reused(tmp_path, monkeypatch):
    import itertools
    import stat

    import sim.sweep.store as store_module
    from sim.sweep.store import TEMPORARY_NAME, ResultStore

    store = ResultStore(tmp_path)
    store.rows.mkdir(parents=True)
    store.series.mkdir(parents=True)
    monkeypatch.setattr(store_module, "_TEMPORARY_NUMBERS", itertools.count(7))
    leftover = store.series / ".000003.npz.00000007.npz"  # the name the writer tries first
    assert TEMPORARY_NAME.match(leftover.name)
    leftover.write_bytes(b"half a file")
    store.save_batch([({"run_id": 3, "error": ""}, {"step": np.arange(1, 4)})])
    assert leftover.read_bytes() == b"half a file"  # untouched: another name was used
    with np.load(store.series / "000003.npz") as data:
        np.testing.assert_array_equal(data["step"], np.arange(1, 4))
    assert store.read_record(store.rows / "000003.json")["run_id"] == 3
    umask = os.umask(0)
    os.umask(umask)
    for path in (store.series / "000003.npz", store.rows / "000003.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # an ordinary file


@pytest.mark.parametrize("steps", [199, 600])  # members stored, members deflated
@pytest.mark.parametrize("where", [0.3, 0.5, 0.7])
def test_read_npz_refuses_a_changed_byte_or_a_cut_file(tmp_path, where, steps):
    import zipfile
    import zlib

    from sim.sweep.store import read_npz, series_bytes

    data = bytearray(series_bytes({"step": np.arange(1, steps + 1),
                                   "revenue": np.linspace(0.0, 1e6, steps)}))
    at = int(len(data) * where)  # inside the members (the directory is at the end)
    data[at] ^= 0x5A
    damaged, cut = tmp_path / "damaged.npz", tmp_path / "cut.npz"
    damaged.write_bytes(bytes(data))
    cut.write_bytes(bytes(data[:at]))
    for path in (damaged, cut):
        with pytest.raises((zipfile.BadZipFile, zlib.error, ValueError, EOFError)):
            read_npz(path)


def test_series_bytes_is_an_npz_of_the_same_arrays_and_the_same_bytes_every_time(
        tmp_path, monkeypatch):
    import time as clock

    from sim.sweep.store import series_bytes

    series = {"step": np.arange(1, 13), "revenue": np.linspace(0.0, 1.0, 12),
              "flag": np.arange(12) % 2 == 0, "empty": np.array([], dtype=float),
              "big_endian": np.arange(5, dtype=">f8"),
              "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
              "strided": np.arange(20)[::3],
              "record": np.array([(1, 2.5)], dtype=[("a", "i4"), ("b", "f8")])}
    data = series_bytes(series)
    monkeypatch.setattr(clock, "time", lambda: 2.0e9)  # another moment: the same bytes
    assert series_bytes(series) == data
    path = tmp_path / "000001.npz"
    path.write_bytes(data)
    with np.load(path) as stored:
        assert stored.files == list(series)
        for name, values in series.items():
            assert stored[name].dtype == values.dtype, name
            np.testing.assert_array_equal(stored[name], values)


def test_the_journal_read_on_workers_is_the_frame_read_here(tmp_path, monkeypatch):
    import pandas as pd

    import sim.sweep.store as store_module
    from sim.sweep.store import ResultStore, series_bytes

    monkeypatch.setattr(store_module, "PARALLEL_READ_FILES", 4)
    store = ResultStore(tmp_path)
    store.series.mkdir(parents=True)
    rng = np.random.default_rng(5)
    for run_id in range(11):
        steps = int(rng.integers(1, 6))
        (store.series / f"{run_id:06d}.npz").write_bytes(series_bytes(
            {"step": np.arange(1, steps + 1), "active": rng.random(steps)}))
    here = store._read_journal_series()
    pd.testing.assert_frame_equal(store._read_journal_series(workers=2), here)
    some = [1, 4, 5, 9, 10]
    pd.testing.assert_frame_equal(store._read_journal_series(some, workers=2),
                                  store._read_journal_series(some))
    # runs whose columns differ: read here, as pandas aligns them
    (store.series / "000011.npz").write_bytes(series_bytes({"step": np.arange(1, 3),
                                                            "orders": np.array([1.0, 2.0])}))
    pd.testing.assert_frame_equal(store._read_journal_series(workers=2),
                                  store._read_journal_series())
    # a damaged file read by a worker is named, as read here
    data = (store.series / "000006.npz").read_bytes()
    (store.series / "000006.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"000006\.npz: damaged series file"):
        store._read_journal_series(workers=2)


def test_journal_series_with_different_columns_are_aligned_as_pandas_would(tmp_path):
    import pandas as pd

    from sim.sweep.store import ResultStore, series_bytes

    store = ResultStore(tmp_path)
    store.series.mkdir(parents=True)
    first = {"step": np.arange(1, 4), "active": np.array([1.0, 2.0, 3.0])}
    second = {"step": np.arange(1, 3), "orders": np.array([5.0, 6.0])}
    (store.series / "000000.npz").write_bytes(series_bytes(first))
    (store.series / "000001.npz").write_bytes(series_bytes(second))
    expected = pd.concat([pd.DataFrame(first).assign(run_id=0)[["run_id", "step", "active"]],
                          pd.DataFrame(second).assign(run_id=1)[["run_id", "step", "orders"]]],
                         ignore_index=True)
    pd.testing.assert_frame_equal(store._read_journal_series(), expected)
    same = store._read_journal_series([0])  # one run: the column-wise path
    pd.testing.assert_frame_equal(same, expected.iloc[:3][["run_id", "step", "active"]])
