"""The local worker processes: one reusable loky pool for runs and figures alike.

A sweep's runs, the plan runs ``compare`` adds after them and the report's figures all
go to the same pool (:func:`worker_pool`), so workers started for the runs draw the
figures too. Under the command line, workers are forks of a forkserver that imported
the simulator once (:func:`use_forkserver`); each exits as soon as the process that owns
the pool is gone (:func:`_watch_owner`).

joblib is imported where it is used, not with this module: :func:`warm` starts the
forkserver first, so that its imports overlap joblib's (about 0.2 s) in the caller.
"""

from __future__ import annotations

import functools
import importlib
import multiprocessing
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

PARENT_POLL_SECONDS = 0.5
"""How often a worker checks that the pool's owner is still alive (where it cannot wait
on a pidfd)."""


def effective_jobs(jobs: int, work: int | None = None) -> int:
    """Worker processes to start: ``jobs`` capped at the cores and the work to do.

    Args:
        jobs: As asked; negative as in joblib (``-1``: all cores, ``-2``: all but one).
        work: Tasks to do (runs, figures); ``None``: not known yet, no cap.

    Returns:
        At least 1.
    """
    from joblib import cpu_count

    return _width(jobs, cpu_count(), work)


def _width(jobs: int, cores: int, work: int | None = None) -> int:
    """:func:`effective_jobs` on ``cores`` cores."""
    wanted = jobs if jobs > 0 else cores + 1 + jobs
    return max(1, min(wanted, cores, cores if work is None else work))


def _cores_allowed() -> int:
    """The cores this process may run on, without importing joblib.

    At least joblib's count, which also obeys a CPU quota (a container's).
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity call here (macOS)
        return os.cpu_count() or 1


def _watch_owner(owner: int) -> None:
    """Worker initializer: exit as soon as the process that owns the pool is gone.

    A worker's parent may be the forkserver (:func:`use_forkserver`), which outlives the
    owner while any worker lives, so the worker watches the owner itself: a daemon thread
    waits on a pidfd of it (Linux), else polls it. A worker whose owner was SIGKILLed
    would else finish its run (minutes) before noticing; once the workers are gone the
    forkserver ends too.
    """

    def watch() -> None:
        try:
            handle = os.pidfd_open(owner)
        except (AttributeError, OSError):  # no pidfd here, or the owner is gone already
            while _exists(owner):
                time.sleep(PARENT_POLL_SECONDS)
        else:
            select.select([handle], [], [])  # readable once the owner has exited
        os._exit(1)

    threading.Thread(target=watch, name="engagesim-watch-owner", daemon=True).start()


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # there, but not ours
        return True
    return True


_FORKSERVER = False
"""Whether workers start from a forkserver (:func:`use_forkserver`; the command line)."""


def use_forkserver() -> None:
    """Start workers from a forkserver that has imported the simulator (:func:`_forkserver`).

    The command line turns this on. A forkserver (like every start method but fork)
    imports the main module of the program in each worker, so a script whose main
    module is not guarded by ``if __name__ == "__main__":`` would start its sweep again
    in every worker; library callers therefore keep loky's default start unless they
    call this.
    """
    global _FORKSERVER
    _FORKSERVER = True


@functools.cache
def _forkserver() -> Any:
    """The forkserver start, or ``None`` where there is none (Windows).

    The forkserver (a fresh, single-threaded interpreter) imports :data:`PRELOAD` once;
    each worker is a fork of it, ready at once and sharing those pages, instead of a new
    interpreter importing everything again (about 2 s of CPU per worker for the runs,
    0.7 s more for the figures). It is the standard library's forkserver, which loky
    uses for this start method.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    return context


PRELOAD = ("sim.sweep.runner", "sim.analysis.plots")
"""What the forkserver imports for its workers: the runs' code and the figures' (every
command that starts workers ends with a report, drawn on them)."""


def worker_pool(width: int) -> Any:
    """The reusable pool of ``width`` worker processes (loky's, started on first use).

    Calls with the same arguments get the same pool, its workers already started; a
    broken or killed pool is replaced by a fresh one.
    """
    from joblib.externals.loky import get_reusable_executor

    return get_reusable_executor(max_workers=width,
                                 context=_forkserver() if _FORKSERVER else None,
                                 initializer=_watch_owner, initargs=(os.getpid(),))


def warm(jobs: int) -> threading.Thread | None:
    """Start the workers ``jobs`` asks for now, without waiting for them.

    Their start (a forkserver importing the simulator and the figures' code, about 2–3 s,
    then the forks) then overlaps the caller's own imports and set-up instead of
    delaying the first runs. The forkserver is started first, here (a few milliseconds:
    its imports begin before this process imports joblib); starting a worker waits for
    the forkserver's imports, so the workers are started on a thread of their own: the
    caller goes on at once (the first :func:`worker_pool` call that needs the workers
    waits for them). Nothing is started for one job.

    Returns:
        The thread starting the workers (``None`` for one job).
    """
    if _width(jobs, _cores_allowed()) <= 1:
        return None
    if _FORKSERVER and _forkserver() is not None:
        from multiprocessing import forkserver

        forkserver.ensure_running()  # the server of _forkserver()'s context
    width = effective_jobs(jobs)
    if width <= 1:  # a CPU quota of one core: the forkserver was started for nothing
        # (it imports once, on that core, then waits until this process ends)
        return None

    def start() -> None:
        try:
            pool = worker_pool(width)
            for _ in range(width):
                pool.submit(_ready)
        except Exception:  # the runs' own call to worker_pool reports it
            pass

    thread = threading.Thread(target=start, name="engagesim-warm-pool", daemon=True)
    thread.start()
    return thread


def _ready() -> None:
    """A warm-up task: what a run needs, imported (at once in a forkserver's fork)."""
    importlib.import_module("sim.sweep.runner")


def run_all(tasks: Iterable[Callable[[], Any]], workers: int) -> list[Any]:
    """Call every task, here (one worker) or on :func:`worker_pool`; results in order.

    A task is pickled with cloudpickle (closures are fine); an exception in one is
    raised here.
    """
    return start_all(tasks, workers)()


def start_all(tasks: Iterable[Callable[[], Any]], workers: int) -> Callable[[], list[Any]]:
    """Start every task on :func:`worker_pool` now; the caller collects the results later.

    The caller goes on with its own work while the workers do the tasks (the report
    writes its text while they draw its figures). With one worker (or one task) nothing
    starts: the tasks run here, when the results are asked for.

    Returns:
        A function that waits for the results and returns them in task order (an
        exception in a task is raised there).
    """
    tasks = list(tasks)
    if workers <= 1 or len(tasks) <= 1:
        return lambda: [task() for task in tasks]
    futures = [worker_pool(min(workers, len(tasks))).submit(_call, task) for task in tasks]
    return lambda: [future.result() for future in futures]


def in_order(tasks: Iterable[Callable[[], Any]], workers: int, ahead: int = 2
             ) -> Iterator[Any]:
    """Call every task, here (one worker) or on :func:`worker_pool`; yield results in order.

    At most ``ahead`` tasks a worker are sent before the oldest result is taken, so only
    that many results wait in memory at a time (the end of a sweep streams its series
    through this). An exception in a task is raised here, when its result is reached.
    """
    if workers <= 1:
        for task in tasks:
            yield task()
        return
    pool, sent = worker_pool(workers), deque()
    for task in tasks:
        sent.append(pool.submit(_call, task))
        if len(sent) >= ahead * workers:
            yield sent.popleft().result()
    while sent:
        yield sent.popleft().result()


def _call(task: Callable[[], Any]) -> Any:
    return task()


def call(target: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``target`` (``"module:function"``) with the arguments, importing the module here.

    A task made of it (``functools.partial(call, target, ...)``) names its function
    instead of holding it, so the process that submits the task need not import the
    function's module (the report's figures: Matplotlib only on the workers).
    """
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)(*args, **kwargs)
