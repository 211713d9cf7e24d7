"""The worker pool shared by runs and figures (sim.sweep.pool)."""

import os

from sim.sweep.pool import effective_jobs, run_all, warm, worker_pool


def test_run_all_returns_results_in_task_order_here_and_on_workers():
    tasks = [lambda i=i: (i * i, os.getpid()) for i in range(6)]  # closures pickle
    here = run_all(tasks, workers=1)
    assert [value for value, _ in here] == [i * i for i in range(6)]
    assert {pid for _, pid in here} == {os.getpid()}
    pooled = run_all(tasks, workers=2)
    assert [value for value, _ in pooled] == [i * i for i in range(6)]
    if effective_jobs(2) == 2:
        assert os.getpid() not in {pid for _, pid in pooled}


def test_warm_starts_the_pool_the_runs_then_get():
    warm(2)
    if effective_jobs(2) == 2:
        # the same pool object: its workers (forked from one forkserver) already started
        assert worker_pool(2) is worker_pool(2)
        pids = set(worker_pool(2).map(_pid, range(8)))
        assert 1 <= len(pids) <= 2 and os.getpid() not in pids


def _pid(_):
    return os.getpid()


def test_jobs_without_a_work_count_are_capped_at_the_cores():
    assert effective_jobs(-1) == effective_jobs(-1, 10**9)
    assert effective_jobs(1) == 1
