"""Running an experiment: a pure run function, joblib execution, the results store.

:func:`execute` is a pure function ``(scenario, overrides, policy, seed) -> (summary,
series)``. :func:`sweep` runs an experiment's missing runs on local processes (a loky
pool, :func:`execute_runs`) by default, or on a Dask cluster (:func:`dask_runs`: a
``distributed.Client`` for ``--scheduler ADDRESS``, else a ``LocalCluster``), and stores
each result as it completes (a local pool's workers store their own runs, a few runs to
a task, so one parent keeps hundreds of workers busy). A run that raises is recorded
with its error and the sweep goes on; so is a run whose worker process dies (the OOM
killer, a segfault): the runs that were in flight are run again one at a time, and the
one that kills its worker alone is recorded as failed with the cause (``--resume``
retries it). Workers exit within a second when the main process dies. Results never
depend on worker count, order or backend: each run's seed comes from its ``(point,
replication)``.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import os
import pickle
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from queue import Queue, SimpleQueue
from typing import Any, NamedTuple

import numpy as np
from joblib.externals.loky.backend.reduction import dumps as loky_dumps
from joblib.externals.loky.process_executor import BrokenProcessPool

from sim.engine.assumptions import key_assumptions
from sim.engine.model import EngagementModel
from sim.engine.scenario import Scenario, load_scenario
from sim.files import jsonable
from sim.schema import InputError
from sim.sweep.design import Experiment, Run
from sim.sweep.pool import effective_jobs, worker_pool
from sim.sweep.store import ResultStore, flatten, series_bytes, versions

BACKENDS = ("loky", "dask")
IDENTITY = ("scenario", "policy", "seed", "version", "step")
"""Summary keys that restate a run's identity, not its outcome."""

def execute(
    scenario: Scenario, overrides: Mapping[str, Any], policy: str, seed: int
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Simulate one run: the summary (as in ``summary.json``) and the per-step series.

    Args:
        scenario: The experiment's scenario.
        overrides: Scenario overrides of the run's design point.
        policy: The policy to run.
        seed: The run's seed.

    Returns:
        ``(summary, series)``: the JSON-ready summary and one array per series column.
    """
    if overrides:
        scenario = scenario.with_overrides(overrides)
    # everything alive now (modules, caches, the scenario) outlives the run: freeze it so
    # the collection below scans only the run's own objects (it halves a small run's
    # time), and thaw it after, so a caller's own garbage is still collected later
    gc.freeze()
    try:
        model = EngagementModel(scenario, policy, rng=seed).run()
        result = jsonable(model.summary(seed=seed)), model.series_columns()
        # a Mesa model holds reference cycles: free its arrays now, not at the next GC
        # pass, or a worker running many large runs accumulates them
        del model
        gc.collect()
    finally:
        gc.unfreeze()
    return result


def evaluate(
    overrides: Mapping[str, Any] | None = None,
    policy: str = "hybrid",
    seed: int = 0,
    *,
    scenario: Scenario | str | Path = "default",
) -> dict[str, float]:
    """One run as a model function for SALib and EMA Workbench: inputs in, outcomes out.

    Args:
        overrides: Dotted scenario key path → value (the sampled inputs).
        policy: The policy to run.
        seed: The run's seed (give every policy of a sample the same one: common random
            numbers).
        scenario: A :class:`~sim.engine.scenario.Scenario`, a shipped name or a path.

    Returns:
        Every outcome of the run as one flat dict of numbers (``runs.csv`` columns:
        ``profit_per_customer``, ``retention_12``, ``segments_smb_ltv_mean``, …).

    Raises:
        InputError: The scenario or an override is invalid.

    Example (SALib)::

        import numpy as np
        from SALib.sample import sobol
        from SALib.analyze import sobol as analyze
        from sim import evaluate

        problem = {"num_vars": 1, "names": ["economics.expansion_rate"],
                   "bounds": [[0.01, 0.05]]}
        X = sobol.sample(problem, 64)
        Y = np.array([evaluate({"economics.expansion_rate": x[0]}, "hybrid", seed=1)
                      ["profit_per_customer"] for x in X])
        analyze.analyze(problem, Y)
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    summary, _ = execute(scenario, dict(overrides or {}), policy, seed)
    outcomes = {}
    for key, value in flatten(summary).items():
        if key in IDENTITY or isinstance(value, str | bool):
            continue
        outcomes[key] = float("nan") if value is None else float(value)
    return outcomes


def _task(scenario: Scenario | bytes, overrides: Mapping[str, Any], run: Run,
          journal: str | None = None) -> Finished:
    """Worker entry point: one run, handed back or stored by the worker; a run's error is kept.

    Args:
        scenario: The experiment's scenario, or its pickle (:func:`_pickled`; what a
            process pool sends, unpickled once per worker: :func:`_unpickled`).
        overrides: Scenario overrides of the run's design point.
        run: The run.
        journal: The sweep's folder, when the worker stores the run there itself (a
            local pool: the parent then only counts it, so one parent keeps hundreds of
            workers busy); ``None`` to hand the record and series back.

    Returns:
        The run's :class:`Finished`: its record (``runs.csv`` row, :func:`record_of`) and
        its series as the bytes of its ``.npz`` (compressed here, in the worker, not in
        the parent that stores every run), or neither when stored here; ``error`` is
        ``"ExceptionType: message"`` when the run raised.

    Raises:
        OSError: Storing the run failed (a full disk): the sweep stops, as when the
            parent's own write fails.
    """
    try:
        if isinstance(scenario, bytes):
            scenario = _unpickled(scenario)
        summary, series = execute(scenario, overrides, run.policy, run.seed)
        packed, error = series_bytes(series), ""
    except Exception as exc:
        summary = packed = None
        error = f"{type(exc).__name__}: {exc}"
    record = record_of(run, summary, error)
    if journal is None:
        return Finished(run, error, record, packed)
    ResultStore(journal).save_batch([(record, packed)], each_file=True)
    return Finished(run, error)


class Finished(NamedTuple):
    """A finished run, as a worker reports it.

    Attributes:
        run: The run.
        error: ``""``, or why the run failed (``"ExceptionType: message"``).
        record: Its record, for the parent to store; ``None`` when the worker stored it.
        series: The bytes of its series ``.npz`` (``None`` when stored, or failed).
    """

    run: Run
    error: str
    record: dict[str, Any] | None = None
    series: bytes | None = None


def _pickled(scenario: Scenario) -> bytes:
    """The scenario pickled once for every run sent to the pool.

    A task's arguments are pickled at each submission: the scenario (about 23 kB) took
    0.9 ms of the parent per run, and unpickling it 0.5 ms of the worker. As bytes it
    costs a copy, and each worker unpickles it once. Pickled by loky's own pickler
    (cloudpickle), as the task's arguments were, so a policy class from a user's file
    travels too.
    """
    return bytes(loky_dumps(scenario))


@functools.lru_cache(maxsize=2)
def _unpickled(blob: bytes) -> Scenario:
    """A worker's scenario from its pickle, unpickled once (:func:`_pickled`)."""
    return pickle.loads(blob)


def record_of(run: Run, summary: Mapping[str, Any] | None, error: str) -> dict[str, Any]:
    """The stored record (one ``runs.csv`` row) of a finished run.

    The record holds the run's identity (:data:`~sim.sweep.store.ID_COLUMNS`), its factor
    values, the summary flattened by :func:`~sim.sweep.store.flatten` (less the keys
    that restate the identity: scenario, policy, seed, version, step) and ``error``.
    """
    record: dict[str, Any] = {
        "run_id": run.run_id,
        "point": run.point,
        "policy": run.policy,
        "replication": run.replication,
        "seed": run.seed,
        **dict(run.factors),
    }
    if summary is not None:
        metrics = flatten(summary)
        for key in IDENTITY:
            metrics.pop(key, None)
        record.update(metrics)
    record["error"] = error
    return record


def _death_cause(exc: BaseException) -> str:
    """The ``error`` recorded for a run whose worker process died under it."""
    codes = re.search(r"exit codes of the workers are (\{.*?\})", str(exc))
    how = f" (exit code {codes.group(1)})" if codes else ""
    hint = "; killed by a signal, e.g. the out-of-memory killer" if "SIG" in how else ""
    return f"WorkerDied: the worker process running this run died{how}{hint}"


def execute_runs(
    scenario: Scenario,
    runs: Sequence[Run],
    overrides: Mapping[int, Mapping[str, Any]],
    jobs: int,
    journal: str | Path | None = None,
) -> Iterator[Finished]:
    """Run ``runs`` on local processes, yielding each :class:`Finished` run as it ends.

    With one job the runs execute in this process. Otherwise the runs go to a loky
    process pool in tasks of a few runs (:func:`chunk_size`), one task in flight per
    worker, and with a ``journal`` each worker stores its runs there itself. When a
    worker dies, the pool breaks and every run in flight is lost: those runs are run
    again one at a time, a run that kills its worker alone is yielded as failed
    (:func:`_death_cause`, its record for the caller to store), and the rest continue in
    parallel.

    Args:
        scenario: The experiment's scenario.
        runs: The runs to do.
        overrides: Design point → its scenario overrides.
        jobs: Worker processes (already capped: :func:`effective_jobs`).
        journal: The sweep's folder, where the pool's workers store their runs (a
            folder of :class:`~sim.sweep.store.ResultStore`, opened); ``None``: every
            run's record and series come back.

    Raises:
        OSError: A worker failed to store a run.
    """
    if jobs <= 1:
        for run in runs:
            yield _task(scenario, overrides[run.point], run)
        return
    queue, suspects = deque(runs), deque()
    shared, folder = _pickled(scenario), None if journal is None else str(journal)
    while queue or suspects:
        alone = bool(suspects)
        source, width = (suspects, 1) if alone else (queue, jobs)
        # reused across calls (compare's plan, the runs retried alone) like joblib's pool;
        # a broken or killed pool is replaced by a fresh one
        executor = worker_pool(width)
        finished: SimpleQueue = SimpleQueue()  # the futures, in the order they end
        in_flight: dict[Any, list[Run]] = {}
        lost: list[tuple[Run, BaseException]] = []
        broken = False  # a worker died: submit nothing more to this pool
        try:
            while in_flight or (source and not broken):
                while source and not broken and len(in_flight) < width:
                    size = 1 if alone else chunk_size(len(source), width)
                    chunk = [source.popleft() for _ in range(size)]
                    try:
                        future = executor.submit(
                            _task_chunk, shared,
                            [(overrides[run.point], run) for run in chunk], folder,
                        )
                    except BrokenProcessPool:
                        source.extendleft(reversed(chunk))  # never started: not suspects
                        broken = True
                        break
                    in_flight[future] = chunk
                    future.add_done_callback(finished.put)
                if not in_flight:
                    break
                future = finished.get()
                chunk = in_flight.pop(future)
                try:
                    results = future.result()
                except BrokenProcessPool as exc:
                    lost.extend((run, exc) for run in chunk)
                    broken = True
                    continue
                yield from results
        finally:
            # a pool left early (a dead worker, the caller stopped) is killed, not awaited
            if broken or in_flight:
                executor.shutdown(wait=False, kill_workers=True)
        if alone:
            for run, exc in lost:
                cause = _death_cause(exc)
                yield Finished(run, cause, record_of(run, None, cause))
        else:
            suspects.extend(sorted((run for run, _ in lost), key=lambda r: r.run_id))


CHUNK_MOST = 8
"""Most runs a pool's task carries (:func:`chunk_size`)."""


def chunk_size(remaining: int, workers: int) -> int:
    """Runs in the next task sent to the pool: fewer as the sweep ends (guided chunks).

    Each task costs the parent about a millisecond (pickling, the pool's queues, the
    reply), whatever it carries, so a task carries several runs while many remain, up
    to :data:`CHUNK_MOST`, and a quarter of each worker's share at most: the last tasks
    carry one run each, so no worker waits on another's long chunk at the end.

    Args:
        remaining: Runs not yet sent.
        workers: The pool's workers.
    """
    return max(1, min(CHUNK_MOST, remaining // (4 * workers)))


def _task_chunk(scenario: Scenario | bytes,
                work: Sequence[tuple[Mapping[str, Any], Run]],
                journal: str | None) -> list[Finished]:
    """A pool's task: :func:`_task` for each ``(overrides, run)`` of ``work``, in order."""
    return [_task(scenario, overrides, run, journal) for overrides, run in work]


def experiment_hash(experiment: Experiment) -> str:
    """Hash of what determines the results: the experiment and its scenario."""
    text = json.dumps(
        {"experiment": experiment.raw, "scenario": experiment.scenario.raw},
        sort_keys=True, default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class SweepResult:
    """What a sweep did.

    Attributes:
        total: Runs of the experiment.
        ran: Runs executed by this call (the rest were already done: ``--resume``).
        failed: Failed runs recorded in the folder.
        seconds: Wall-clock time of this call.
        store: The results folder.
    """

    total: int
    ran: int
    failed: int
    seconds: float
    store: ResultStore


def sweep(
    experiment: Experiment,
    out: str | Path,
    *,
    jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool = True,
    command: str = "",
    extra: Mapping[str, Any] | None = None,
) -> SweepResult:
    """Run every missing run of ``experiment`` into ``out``.

    Args:
        experiment: The experiment.
        out: Output folder (refused if non-empty unless ``resume``).
        jobs: Worker processes (``-1``: all cores; capped at the cores and the runs to
            do). For ``dask`` without a scheduler, the size of the ``LocalCluster``.
        backend: ``loky`` (local processes) or ``dask``.
        scheduler: Address of a Dask scheduler (``tcp://host:8786``).
        resume: Run only what is missing from ``out``.
        progress: Show a progress bar on stderr.
        command: The command line, for the manifest.
        extra: Further manifest entries (``engagesim decide`` records its assumptions).

    Returns:
        What the sweep did.

    Raises:
        InputError: An unknown backend, an unreachable scheduler, or an output folder
            that may not be written (see :meth:`~sim.sweep.store.ResultStore.open`).
        EnvironmentFailure: Another process is using the output folder.
    """
    if backend not in BACKENDS:
        raise InputError(None, "--backend", f"expected one of {', '.join(BACKENDS)}")
    store = ResultStore(out)
    factor_names = [factor.path for factor in experiment.factors]
    manifest = {
        "engagesim": versions()["engagesim"],
        "versions": versions(),
        "experiment": experiment.name,
        "experiment_source": experiment.source,
        "experiment_hash": experiment_hash(experiment),
        "scenario": experiment.scenario.name,
        "scenario_hash": experiment.scenario.digest,
        "root_seed": experiment.seed,
        "policies": list(experiment.policies),
        "baseline": experiment.baseline,
        "factors": factor_names,
        "design": experiment.design,
        "samples": experiment.samples,
        "replications": experiment.replications,
        "customers": experiment.customers,
        "agents": experiment.agents,
        "months": experiment.months,
        "command": command,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "key_assumptions": [asdict(a) for a in key_assumptions(experiment.scenario)],
        **(extra or {}),
    }
    runs = experiment.runs()
    overrides = {index: experiment.overrides(point)
                 for index, point in enumerate(experiment.points())}
    start = time.perf_counter()
    bar = None
    with ExitStack() as stack:
        client = None
        if backend == "dask":  # connect before writing anything
            client = _dask_client(stack, scheduler, effective_jobs(jobs, len(runs)))
        store.open(manifest, resume)
        stack.callback(store.unlock)
        identities = {run.run_id: {"point": run.point, "policy": run.policy,
                                   "replication": run.replication, "seed": run.seed}
                      for run in runs}
        done = store.done(identities) if resume else set()
        todo = [run for run in runs if run.run_id not in done]
        if progress:
            from tqdm import tqdm

            bar = stack.enter_context(
                tqdm(total=len(runs), initial=len(runs) - len(todo), desc="runs", unit="run",
                     file=sys.stderr, dynamic_ncols=True)
            )
        if client is not None:
            results = dask_runs(client, experiment.scenario, todo, overrides)
        else:
            results = execute_runs(experiment.scenario, todo, overrides,
                                   effective_jobs(jobs, len(todo)), journal=store.root)
        # the parent's work per finished run is constant: a pool's workers store their
        # runs in the journal themselves; the rest (one job, Dask, a dead worker's run)
        # go to it in batches, by a writer thread; nothing is rebuilt: runs.csv is
        # written once, by finish() (the journal is the truth meanwhile)
        with _JournalWriter(store) as writer:
            for run, error, record, series in results:
                if record is not None:
                    writer.put(record, series)
                if bar is not None:
                    bar.update(1)
                    if error:
                        bar.write(f"run {run.run_id} ({run.policy}, point {run.point}) "
                                  f"failed: {error}")
        # the end reads the journal back on the pool's workers (when the runs used it)
        frame = store.finish(effective_jobs(jobs, len(todo)) if client is None else 1)
    failed_total = int((frame["error"] != "").sum())
    return SweepResult(len(runs), len(todo), failed_total, time.perf_counter() - start, store)


class _JournalWriter:
    """Stores finished runs on a thread, as many at once as have arrived meanwhile.

    A run is stored as soon as the thread is free (alone when results come slowly);
    results that arrive while it waits on the disk are stored together by
    :meth:`~sim.sweep.store.ResultStore.save_batch`, one durable flush for all
    (:func:`sim.files.flush_files`), so the parent keeps up with hundreds of workers.
    Leaving the ``with`` block stores what is queued and re-raises the thread's error
    (a full disk), as does the next :meth:`put`.

    Args:
        store: The folder.
    """

    BATCH = 256
    """Most runs stored at once."""

    def __init__(self, store: ResultStore):
        self.store = store
        self.queue: Queue = Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="engagesim-journal",
                                       daemon=True)

    def __enter__(self) -> _JournalWriter:
        self.thread.start()
        return self

    def put(self, record: dict[str, Any], series: bytes | None) -> None:
        """Queue one finished run (raises the writer's error, if it has failed)."""
        self._raise()
        self.queue.put((record, series))

    def __exit__(self, *exc_info: object) -> None:
        self.queue.put(None)
        self.thread.join()
        if exc_info[0] is None:
            self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _work(self) -> None:
        done = False
        while not done:
            batch = [self.queue.get()]
            while len(batch) < self.BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            if None in batch:
                done = True
                batch = batch[:batch.index(None)]
            if batch and self.error is None:
                try:
                    self.store.save_batch(batch)
                except BaseException as exc:  # re-raised in the sweep's thread
                    self.error = exc


def dask_runs(
    client: Any,
    scenario: Scenario,
    runs: Sequence[Run],
    overrides: Mapping[int, Mapping[str, Any]],
) -> Iterator[Finished]:
    """Run ``runs`` on a Dask cluster, yielding each :class:`Finished` run as it ends.

    The records and series come back to this process (a cluster's workers need not see
    its folder).

    The scenario is sent to every worker once. Dask retries a task whose worker dies on
    other workers; a run that kills every worker it is tried on ends as ``KilledWorker``
    and is yielded as failed (``WorkerDied: …``), and the sweep goes on.

    Args:
        client: A ``distributed.Client``.
        scenario: The experiment's scenario.
        runs: The runs to do.
        overrides: Design point → its scenario overrides.
    """
    from dask.distributed import as_completed
    from distributed import KilledWorker

    if not runs:
        return
    shared = client.scatter(scenario, broadcast=True)
    futures = {client.submit(_task, shared, overrides[run.point], run, pure=False,
                             key=f"engagesim-run-{run.run_id}-{os.getpid()}"): run
               for run in runs}
    try:
        for future in as_completed(futures):
            run = futures[future]
            try:
                yield future.result()
            except KilledWorker as exc:
                cause = f"WorkerDied: KilledWorker: {exc}"
                yield Finished(run, cause, record_of(run, None, cause))
    finally:
        client.cancel(list(futures))


def _dask_client(stack: ExitStack, scheduler: str | None, jobs: int) -> Any:
    """Enter a Dask client (and a LocalCluster of ``jobs`` workers when no scheduler)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise InputError(
            None, "--backend", "dask needs the optional extra: pip install -e \".[dask]\""
        ) from None
    if scheduler:
        try:
            return stack.enter_context(Client(scheduler, timeout="20s"))
        except (OSError, TimeoutError) as exc:
            raise InputError(
                None, "--scheduler", f"cannot reach the Dask scheduler at {scheduler}: {exc}"
            ) from None
    cluster = stack.enter_context(
        LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                     dashboard_address=None)
    )
    return stack.enter_context(Client(cluster))
