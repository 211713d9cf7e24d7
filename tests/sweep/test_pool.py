"""The worker pool shared by runs and figures (sim.sweep.pool)."""

import functools
import os
import time

import pytest

from sim.sweep.pool import call, effective_jobs, in_order, run_all, start_all, warm, worker_pool


def test_run_all_returns_results_in_task_order_here_and_on_workers():
    tasks = [lambda i=i: (i * i, os.getpid()) for i in range(6)]  # closures pickle
    here = run_all(tasks, workers=1)
    assert [value for value, _ in here] == [i * i for i in range(6)]
    assert {pid for _, pid in here} == {os.getpid()}
    pooled = run_all(tasks, workers=2)
    assert [value for value, _ in pooled] == [i * i for i in range(6)]
    if effective_jobs(2) == 2:
        assert os.getpid() not in {pid for _, pid in pooled}


def test_in_order_yields_results_in_task_order_sending_a_few_ahead(monkeypatch):
    import sim.sweep.pool

    tasks = [lambda i=i: (i * i, os.getpid()) for i in range(9)]
    here = list(in_order(tasks, workers=1))
    assert here == [(i * i, os.getpid()) for i in range(9)]
    sent, taken = [], []
    real = sim.sweep.pool.worker_pool

    class Counting:  # the pool, counting what is sent before each result is taken
        def __init__(self, pool):
            self.pool = pool

        def submit(self, *args):
            sent.append(len(taken))
            return self.pool.submit(*args)

    monkeypatch.setattr(sim.sweep.pool, "worker_pool", lambda width: Counting(real(width)))
    for value, _ in in_order(tasks, workers=2, ahead=2):
        taken.append(value)
    assert taken == [i * i for i in range(9)]
    # at most ahead × workers = 4 results wait: the 5th task goes once the 1st is taken
    assert sent == [0, 0, 0, 0, 1, 2, 3, 4, 5]

    def fails():
        raise ValueError("in the task")

    with pytest.raises(ValueError, match="in the task"):
        list(in_order([fails], workers=2))


def _when_there(flag, value):
    """``value``, once the file ``flag`` exists (the caller makes it after starting)."""
    deadline = time.monotonic() + 60
    while not flag.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{flag} never appeared")
        time.sleep(0.01)
    return value


@pytest.mark.parametrize("workers", [1, 2])
def test_start_all_returns_at_once_and_collects_the_results_in_order(tmp_path, workers):
    # the tasks wait for a file the caller makes only after start_all has returned: here
    # (one worker) they run when collected, on the pool while the caller goes on
    flag = tmp_path / "started"
    collect = start_all([functools.partial(_when_there, flag, i) for i in range(5)], workers)
    flag.touch()
    assert collect() == list(range(5))


def _fail():
    raise ValueError("this figure failed")


def test_a_failed_task_raises_when_the_results_are_collected():
    collect = start_all([functools.partial(abs, -1), _fail], workers=2)
    with pytest.raises(ValueError, match="this figure failed"):
        collect()


def test_call_names_its_function_by_module_and_name():
    assert call("os.path:join", "a", "b") == os.path.join("a", "b")
    assert call("builtins:sorted", [3, 1, 2], reverse=True) == [3, 2, 1]


def test_warm_starts_the_pool_the_runs_then_get():
    starting = warm(2)
    if effective_jobs(2) == 2:
        starting.join(timeout=120)  # a thread, so the caller went on meanwhile
        assert not starting.is_alive()
        # the same pool object: its workers (forked from one forkserver) already started
        assert worker_pool(2) is worker_pool(2)
        pids = set(worker_pool(2).map(_pid, range(8)))
        assert 1 <= len(pids) <= 2 and os.getpid() not in pids


FORKSERVER_FIRST = """
import importlib.abc, sys
from multiprocessing import forkserver

class Spy(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "joblib":  # the private pid: set once the server process is spawned
            up = forkserver._forkserver._forkserver_pid is not None
            print("forkserver up before joblib:", up)
        return None

sys.meta_path.insert(0, Spy())
from sim.sweep import pool
pool.use_forkserver()
pool.warm(2).join(timeout=120)
"""


def test_warm_starts_the_forkserver_before_importing_joblib():
    # the forkserver's imports (seconds) then overlap joblib's in the caller (0.2 s)
    import subprocess
    import sys

    if effective_jobs(2) < 2:
        pytest.skip("one core: warm starts nothing")
    done = subprocess.run([sys.executable, "-c", FORKSERVER_FIRST], capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[0] == "forkserver up before joblib: True"


def _pid(_):
    return os.getpid()


def test_jobs_without_a_work_count_are_capped_at_the_cores():
    assert effective_jobs(-1) == effective_jobs(-1, 10**9)
    assert effective_jobs(1) == 1
    assert warm(1) is None  # one job: nothing to start


def test_a_script_without_a_main_guard_can_sweep_on_two_workers(tmp_path):
    # library callers keep loky's default start, which does not run the main module in
    # the workers (a forkserver would, starting the sweep again in every worker)
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(
        "from sim.sweep.design import experiment_from_dict\n"
        "from sim.sweep.runner import sweep\n"
        "exp = experiment_from_dict({'policies': ['no_touch', 'hybrid'], 'replications': 2,\n"
        "                            'customers': 100, 'months': 2, 'seed': 1}, 'x.toml')\n"
        f"print(sweep(exp, {str(tmp_path / 'out')!r}, jobs=2, progress=False).ran)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "4" and "bootstrapping" not in done.stderr
