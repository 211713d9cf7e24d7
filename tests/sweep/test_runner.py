"""The sweep runner: seed keying across workers and backends, CRN, resume, failures."""

import copy
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import sim.sweep.runner
from sim import InputError, load_scenario
from sim.cli import main
from sim.engine.scenario import from_dict
from sim.sweep.design import experiment_from_dict, load_experiment
from sim.sweep.runner import sweep

SMALL = {
    "scenario": "default",
    "policies": ["no_touch", "hybrid"],
    "replications": 2,
    "months": 6,
    "customers": 300,
    "seed": 42,
    "design": {"kind": "grid"},
    "factors": [{"path": "teams.named.accounts_per_csm", "values": [10, 40]}],
}


def small_experiment(**extra):
    return experiment_from_dict({**SMALL, **extra}, "small.toml", name="small")


def runs_csv(folder: Path) -> bytes:
    return (folder / "runs.csv").read_bytes()


def test_results_do_not_depend_on_the_number_of_workers(tmp_path):
    exp = small_experiment()
    one = sweep(exp, tmp_path / "one", jobs=1, progress=False)
    two = sweep(exp, tmp_path / "two", jobs=2, progress=False)
    assert one.ran == two.ran == 8 and one.failed == two.failed == 0
    assert runs_csv(tmp_path / "one") == runs_csv(tmp_path / "two")
    series_one = one.store.read_series()
    series_two = two.store.read_series()
    pd.testing.assert_frame_equal(series_one, series_two)


def journal_bytes(folder: Path) -> dict[str, bytes]:
    return {f"{sub}/{path.name}": path.read_bytes()
            for sub in ("rows", "series") for path in sorted((folder / sub).iterdir())}


def test_workers_store_their_runs_in_chunks_byte_identical_to_one_process(tmp_path,
                                                                        monkeypatch):
    sizes = []
    real = sim.sweep.runner.chunk_size

    def spying(remaining, workers):
        sizes.append(real(remaining, workers))
        return sizes[-1]

    monkeypatch.setattr(sim.sweep.runner, "chunk_size", spying)
    exp = small_experiment(replications=6)  # 24 runs
    one = sweep(exp, tmp_path / "one", jobs=1, progress=False)
    two = sweep(exp, tmp_path / "two", jobs=2, progress=False)
    assert one.ran == two.ran == 24
    assert sum(sizes) == 24 and max(sizes) > 1 and sizes[-1] == 1  # chunks, guided
    assert journal_bytes(tmp_path / "one") == journal_bytes(tmp_path / "two")
    assert runs_csv(tmp_path / "one") == runs_csv(tmp_path / "two")


RUN_WITHOUT_SCIPY_STATS = """
import sys
from sim import load_scenario
from sim.sweep.runner import execute
for name, policy in (("default", "hybrid"), ("b2c_retail", "low_touch")):
    execute(load_scenario(name), {}, policy, 1)
print(sorted(m for m in sys.modules if m.startswith("scipy.stats")))
"""


def test_a_run_does_not_import_scipy_stats():
    # importing it is about 0.8 s of `engagesim run`'s start, of a Dask worker's, and of
    # a SALib or EMA Workbench process that calls sim.evaluate
    done = subprocess.run([sys.executable, "-c", RUN_WITHOUT_SCIPY_STATS],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_chunks_shrink_to_single_runs_as_the_sweep_ends():
    from sim.sweep.runner import CHUNK_MOST, chunk_size

    for runs, workers in [(1, 2), (7, 2), (100, 2), (100_000, 256), (30, 16)]:
        remaining, sizes = runs, []
        while remaining:
            sizes.append(chunk_size(remaining, workers))
            remaining -= sizes[-1]
        assert min(sizes) >= 1 and max(sizes) <= CHUNK_MOST
        assert sizes[-4 * workers:] == [1] * min(len(sizes), 4 * workers)
        assert sizes == sorted(sizes, reverse=True)


def test_a_worker_that_cannot_store_its_run_stops_the_sweep_with_the_error(tmp_path):
    from sim.sweep.runner import execute_runs

    exp = small_experiment()
    runs = exp.runs()[:2]
    missing = tmp_path / "gone"  # its rows/ and series/ do not exist
    with pytest.raises(FileNotFoundError, match="gone"):
        list(execute_runs(exp.scenario, runs, {0: {}, 1: {}}, 2, journal=missing))
    assert not missing.exists()


def test_dask_local_cluster_gives_identical_results(tmp_path):
    pytest.importorskip("dask.distributed")
    exp = small_experiment()
    sweep(exp, tmp_path / "local", jobs=1, progress=False)
    sweep(exp, tmp_path / "dask", jobs=2, backend="dask", progress=False)
    assert runs_csv(tmp_path / "local") == runs_csv(tmp_path / "dask")
    # the same through a scheduler address (what a cluster user passes as --scheduler)
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        sweep(exp, tmp_path / "remote", backend="dask", scheduler=cluster.scheduler_address,
              progress=False)
    assert runs_csv(tmp_path / "local") == runs_csv(tmp_path / "remote")


def test_a_policy_compared_with_itself_differs_by_exactly_zero(tmp_path):
    base = load_scenario("default")
    raw = copy.deepcopy(dict(base.raw))
    raw["policies"]["hybrid_again"] = raw["policies"]["hybrid"]
    twin = from_dict(raw, "twin.toml", name="twin")
    exp = dataclasses.replace(
        small_experiment(factors=[]), scenario=twin, policies=("hybrid", "hybrid_again")
    )
    sweep(exp, tmp_path / "out", jobs=2, progress=False)
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    a, b = (
        runs[runs.policy == name].drop(columns=["run_id", "policy"]).reset_index(drop=True)
        for name in ("hybrid", "hybrid_again")
    )
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 2 and a["profit_per_customer"].nunique() == 2  # two replications differ


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    real = sim.sweep.runner.execute

    def flaky(scenario, overrides, policy, seed):
        if policy == "hybrid" and overrides.get(
            "teams.named.accounts_per_csm"
        ) == 40:
            raise RuntimeError("boom")
        return real(scenario, overrides, policy, seed)

    monkeypatch.setattr(sim.sweep.runner, "execute", flaky)
    result = sweep(small_experiment(), tmp_path / "out", jobs=1, progress=False)
    runs = pd.read_csv(tmp_path / "out" / "runs.csv").fillna({"error": ""})
    assert result.failed == 2 and len(runs) == 8
    failed = runs[runs.error != ""]
    assert set(failed.policy) == {"hybrid"} and (failed.error == "RuntimeError: boom").all()
    assert runs.loc[runs.error == "", "profit_per_customer"].notna().all()
    # resuming re-runs only the failed ones
    monkeypatch.setattr(sim.sweep.runner, "execute", real)
    again = sweep(small_experiment(), tmp_path / "out", jobs=1, progress=False, resume=True)
    assert again.ran == 2 and again.failed == 0


def test_failed_runs_give_exit_status_1(tmp_path, monkeypatch, capsys):
    def always_fails(*args):
        raise ValueError("nope")

    monkeypatch.setattr(sim.sweep.runner, "execute", always_fails)
    monkeypatch.setattr("sim.cli._build_report", lambda out, jobs=1: None)
    code = main(["compare", "--policies", "no_touch", "--replications", "1", "--customers",
                 "100", "--months", "2", "--jobs", "1", "--out", str(tmp_path / "c"), "--quiet"])
    assert code == 1
    assert "1 of 1 runs failed" in capsys.readouterr().err


def test_refuses_a_non_empty_folder_without_resume(tmp_path, capsys):
    exp = small_experiment()
    sweep(exp, tmp_path / "out", jobs=1, progress=False)
    with pytest.raises(InputError, match="not empty"):
        sweep(exp, tmp_path / "out", jobs=1, progress=False)
    other = small_experiment(seed=43)
    with pytest.raises(InputError, match="different experiment"):
        sweep(other, tmp_path / "out", jobs=1, progress=False, resume=True)


def test_resume_after_sigkill_equals_an_uninterrupted_sweep(tmp_path):
    exp_file = tmp_path / "exp.toml"
    exp_file.write_text(
        'scenario = "default"\npolicies = ["no_touch", "low_touch", "high_touch", "hybrid"]\n'
        "replications = 6\nmonths = 12\ncustomers = 2000\nseed = 9\n"
    )
    crashed, clean = tmp_path / "crashed", tmp_path / "clean"
    cmd = [sys.executable, "-m", "sim", "sweep", str(exp_file), "--jobs", "1", "--quiet"]
    proc = subprocess.Popen([*cmd, "--out", str(crashed)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        rows = list((crashed / "rows").glob("*.json")) if (crashed / "rows").exists() else []
        if len(rows) >= 5:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list((crashed / "rows").glob("*.json")))
    assert 5 <= done < 24, done  # killed mid-sweep
    for path in (crashed / "rows").glob("*.json"):  # every record left is complete
        assert json.loads(path.read_text())["run_id"] == int(path.stem)
    subprocess.run([*cmd, "--out", str(crashed), "--resume"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([*cmd, "--out", str(clean)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert runs_csv(crashed) == runs_csv(clean)
    assert len(pd.read_csv(crashed / "runs.csv")) == 24


# -- a worker that dies, a main process that dies ----------------------------------------------
KILLER = '''
import os
import signal
import time
from pathlib import Path

import numpy as np

from sim import Engagement, Policy


class Killer(Policy):
    """Kills its own process while the flag file exists (as the OOM killer would)."""

    name = "killer"

    def engage(self, view):
        if Path({flag!r}).exists():
            os.kill(os.getpid(), signal.SIGKILL)
        return Engagement.from_touches(view, np.zeros(len(view.active)), effect=0.0,
                                       cost_per_touch=0.0)


class Slow(Policy):
    """Takes {pause} s a step: a run that is still running when the sweep is killed."""

    name = "slow"

    def engage(self, view):
        Path({flag!r} + f".running.{{os.getpid()}}").touch()  # this worker is inside a run
        time.sleep({pause})
        return Engagement.from_touches(view, np.zeros(len(view.active)), effect=0.0,
                                       cost_per_touch=0.0)
'''


def policy_file(tmp_path: Path, pause: float = 0.0) -> tuple[Path, Path]:
    """The killer/slow policy file and the killer's flag file (present)."""
    flag = tmp_path / "kill.flag"
    flag.write_text("")
    path = tmp_path / "policies.py"
    path.write_text(KILLER.format(flag=str(flag), pause=pause))
    return path, flag


def test_a_killed_worker_is_recorded_as_failed_the_sweep_goes_on_and_resume_retries_it(
    tmp_path, capsys
):
    path, flag = policy_file(tmp_path)
    exp = tmp_path / "exp.toml"
    exp.write_text(f'policies = ["no_touch", "{path}:Killer"]\nreplications = 1\n'
                   "customers = 100\nmonths = 3\nseed = 3\n")
    args = ["sweep", str(exp), "--jobs", "2", "--quiet", "--out", str(tmp_path / "out")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "1 of 2 runs failed" in err and "Traceback" not in err
    runs = pd.read_csv(tmp_path / "out" / "runs.csv").fillna({"error": ""})
    assert len(runs) == 2
    killed = runs[runs.policy.str.endswith(":Killer")]
    assert len(killed) == 1 and killed.error.iloc[0].startswith("WorkerDied"), killed.error
    assert "SIGKILL" in killed.error.iloc[0]
    assert (runs.loc[runs.policy == "no_touch", "error"] == "").all()
    flag.unlink()  # the memory is back: --resume retries the failed run
    experiment = load_experiment(exp)
    again = sweep(experiment, tmp_path / "out", jobs=2, resume=True, progress=False)
    assert (again.ran, again.failed) == (1, 0)
    sweep(experiment, tmp_path / "clean", jobs=2, progress=False)
    assert runs_csv(tmp_path / "out") == runs_csv(tmp_path / "clean")


def _descendants(pid: int) -> set[int]:
    """Pids of the processes below ``pid``: its children, theirs, … (Linux /proc)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux /proc")
def test_workers_do_not_outlive_a_killed_sweep(tmp_path):
    path, _ = policy_file(tmp_path, pause=1.0)  # a run takes 12 months × 1 s
    exp = tmp_path / "exp.toml"
    exp.write_text(f'policies = ["{path}:Slow"]\nreplications = 4\ncustomers = 50\n'
                   "months = 12\nseed = 1\n")
    proc = subprocess.Popen([sys.executable, "-m", "sim", "sweep", str(exp), "--jobs", "2",
                             "--quiet", "--out", str(tmp_path / "out")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(list(tmp_path.glob("kill.flag.running.*"))) < 2:
            time.sleep(0.2)  # until both workers are inside a run (12 s each)
        running = {int(p.name.rsplit(".", 1)[1]) for p in tmp_path.glob("kill.flag.running.*")}
        # the workers, the forkserver they are forked from, loky's resource tracker
        descendants = _descendants(proc.pid)
        assert len(running) == 2 and running <= descendants, (running, descendants)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.time() + 5
    while time.time() < deadline and any(_alive(pid) for pid in descendants):
        time.sleep(0.1)
    assert not [pid for pid in descendants if _alive(pid)], "orphaned workers live on"


def test_a_run_that_kills_its_dask_worker_is_recorded_and_the_sweep_goes_on(tmp_path):
    pytest.importorskip("dask.distributed")
    import dask

    path, _ = policy_file(tmp_path)
    exp = tmp_path / "exp.toml"
    exp.write_text(f'policies = ["no_touch", "{path}:Killer"]\nreplications = 1\n'
                   "customers = 100\nmonths = 3\nseed = 3\n")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # no retry
        result = sweep(load_experiment(exp), tmp_path / "out", jobs=2, backend="dask",
                       progress=False)
    assert (result.ran, result.failed) == (2, 1)
    runs = pd.read_csv(tmp_path / "out" / "runs.csv").fillna({"error": ""})
    killed = runs[runs.policy.str.endswith(":Killer")]
    assert killed.error.iloc[0].startswith("WorkerDied: KilledWorker"), killed.error
    assert (runs.loc[runs.policy == "no_touch", "error"] == "").all()


def test_a_run_whose_numbers_overflow_is_recorded_as_failed_not_as_empty_metrics(tmp_path):
    # an SMB ACV of 1e308 a year overflows float64 in the first sums: inf and nan results
    raw = copy.deepcopy(dict(load_scenario("default").raw))
    raw["segments"]["smb"]["acv"] = {"dist": "normal", "mean": 3600.0, "sd": 0.0}
    fixed = from_dict(raw, "fixed_acv.toml", name="fixed_acv")
    exp = dataclasses.replace(
        small_experiment(
            policies=["no_touch"], replications=1, months=2, customers=200,
            factors=[{"path": "segments.smb.acv.mean", "values": [3600.0, 1e308]}],
        ),
        scenario=fixed,
    )
    result = sweep(exp, tmp_path / "out", jobs=1, progress=False)
    runs = pd.read_csv(tmp_path / "out" / "runs.csv").fillna({"error": ""})
    assert result.failed == 1 and len(runs) == 2
    sane, huge = (runs[runs["segments.smb.acv.mean"] == v].iloc[0] for v in (3600.0, 1e308))
    assert sane.error == "" and pd.notna(sane.profit_per_customer)
    assert huge.error.startswith("NonFiniteResult: ")
    assert "not finite numbers" in huge.error and "ltv_mean = inf" in huge.error


def test_a_policy_with_bad_numbers_is_a_failed_run_naming_policy_and_step(tmp_path):
    (tmp_path / "mine.py").write_text(
        "import numpy as np\n"
        "from sim import Engagement, Policy\n\n"
        "class Negative(Policy):\n"
        "    name = 'negative'\n\n"
        "    def engage(self, view):\n"
        "        z = np.zeros(view.n)\n"
        "        return Engagement(z, z, np.full(view.n, -1.0) if view.step == 2 else z)\n"
    )
    exp = small_experiment(policies=["no_touch", f"{tmp_path}/mine.py:Negative"],
                           replications=1, months=3, customers=200, factors=[])
    result = sweep(exp, tmp_path / "out", jobs=1, progress=False)
    runs = pd.read_csv(tmp_path / "out" / "runs.csv").fillna({"error": ""})
    assert result.failed == 1 and len(runs) == 2
    (error,) = runs.loc[runs.error != "", "error"]
    assert error.startswith("PolicyError: ") and "policy 'negative': step 2: " \
        "Engagement.cost must be finite and ≥ 0, got -1.0" in error


# -- the parent's journal writer ---------------------------------------------------------
def test_the_journal_writer_stores_runs_in_batches_series_before_records(tmp_path, monkeypatch):
    import numpy as np

    from sim.sweep.store import ResultStore, series_bytes

    store = ResultStore(tmp_path)
    store.rows.mkdir()
    store.series.mkdir()
    renamed = []
    real = os.replace

    def spying(src, dst):
        renamed.append(Path(dst).parent.name)
        return real(src, dst)

    monkeypatch.setattr(os, "replace", spying)
    series = {"step": np.arange(3), "x": np.array([0.5, 1.5, 2.5])}
    runs = [({"run_id": i, "error": ""}, series_bytes(series)) for i in range(5)]
    store.save_batch(runs)
    assert renamed == ["series"] * 5 + ["rows"] * 5  # a record implies its series
    assert sorted(store.record_paths()) == list(range(5))
    with np.load(store.series_path(3)) as data:
        assert (data["x"] == series["x"]).all()
    writer = sim.sweep.runner._JournalWriter(store)
    with writer:
        for i in range(5, 300):
            writer.put({"run_id": i, "error": ""}, None)
    assert sorted(store.record_paths()) == list(range(300))


@pytest.mark.parametrize("flush", ["syncfs", "fsync"])
def test_a_failing_journal_writer_raises_in_the_sweep_and_leaves_no_temporary(tmp_path,
                                                                             monkeypatch,
                                                                             flush):
    import ctypes
    import errno

    import sim.files
    from sim.sweep.store import ResultStore

    store = ResultStore(tmp_path)
    store.rows.mkdir()
    store.series.mkdir()
    calls = []

    def full_disk(fd):  # as the C syncfs fails (-1, errno) or as os.fsync raises
        calls.append(fd)
        if flush == "syncfs":
            ctypes.set_errno(errno.ENOSPC)
            return -1
        raise OSError(errno.ENOSPC, "No space left on device")

    if flush == "syncfs":
        monkeypatch.setattr(sim.files, "libc_syncfs", lambda: full_disk)
    else:  # no syncfs: an fsync per file
        monkeypatch.setattr(sim.files, "libc_syncfs", lambda: None)
        monkeypatch.setattr(os, "fsync", full_disk)
    with (pytest.raises(OSError, match="No space left"),
          sim.sweep.runner._JournalWriter(store) as writer):
        writer.put({"run_id": 0, "error": ""}, b"not stored")
    assert len(calls) == 1  # the batch's flush failed
    assert list(store.rows.iterdir()) == [] and list(store.series.iterdir()) == []
