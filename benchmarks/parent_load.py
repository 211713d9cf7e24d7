"""The sweep parent's work per finished run, with trivial workers: flat in the number of runs.

A sweep's parent process receives every result, stores it (``store.save``: the record and
the series into the journal) and, at the end, writes ``runs.csv`` once
(``store.finish``). This benchmark drives the real :func:`sim.sweep.runner.sweep` with
``--jobs 1`` and a run function that returns one precomputed result (a real 5k × 36 run's
summary and series, relabelled per run), so every second measured is the parent's. It
prints the parent's wall time per run in each tenth of the sweep (flat when the work per
run does not grow with the runs already stored), the journal writer's time
(``store.save_batch``, on its own thread: the batches, their mean size and the µs per run
stored, which bounds the runs per second it can take), the end-of-sweep ``finish``
(``runs.csv``, ``series.parquet`` and the seal, once, linear in the runs; its time and
its peak memory above the RSS before it), and the runs per
second the parent absorbs over the whole sweep, which bounds the workers it can keep busy:
``workers ≤ absorb rate × seconds per run``; it says whether ``--target-workers`` is
reached, over the whole sweep and by the journal writer alone.

With ``--flush-batches N`` it then replays the sweep's largest batch (its real records
and series) ``N`` times into a fresh folder with each way of flushing, in turn: one
``syncfs`` (:func:`sim.files.flush_files` on Linux), an ``fsync`` per file (its fallback,
and what every batch did before) and no flush at all (the floor: writing and renaming
the files); it prints the median µs per run of the batch and of its flush.

With ``--report`` it then times ``engagesim report`` of the sweep's folder (its check of
every run's files, ``series.parquet`` read back, the figures), as a user's large sweep
ends.

With ``--pool-runs N`` it then runs a real sweep of ``N`` minimal runs (50 customers, one
month: the workers finish them as fast as they can) on a pool of two workers, as
``--jobs 2`` does, where the workers store their own runs in the journal and the parent
only sends them their tasks and counts what comes back. It prints the parent's CPU time
per run (all its threads: the pool's queues, the progress) by tenth of the sweep and
over the whole runs' phase, the end of the sweep, and the workers that cost would keep
busy: ``--run-seconds`` ÷ the parent's CPU per run.

Its last line is a JSON object with the same figures.

Usage::

    python benchmarks/parent_load.py [--runs 100000] [--run-seconds 0.17]
                                     [--target-workers 256] [--flush-batches 10]
                                     [--report] [--pool-runs 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import sim.files
from sim.sweep import runner
from sim.sweep import store as store_module
from sim.sweep.design import experiment_from_dict
from sim.sweep.pool import use_forkserver
from sim.sweep.store import ResultStore

TENTHS = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--run-seconds", type=float, default=0.17,
                        help="one 5k x 36 run's time, for the workers the parent sustains")
    parser.add_argument("--target-workers", type=int, default=256,
                        help="the workers the parent should keep busy (issue 15: 256)")
    parser.add_argument("--flush-batches", type=int, default=0,
                        help="then replay the largest batch this many times per way of "
                             "flushing (syncfs, an fsync per file, none)")
    parser.add_argument("--report", action="store_true",
                        help="then time `engagesim report` of the sweep's folder")
    parser.add_argument("--pool-runs", type=int, default=0,
                        help="then a real two-worker sweep of this many minimal runs, "
                             "the workers storing their own runs")
    args = parser.parse_args()
    policies = ["no_touch", "low_touch", "high_touch", "hybrid"]
    replications = max(1, args.runs // len(policies))
    exp = experiment_from_dict(
        {"scenario": "default", "policies": policies, "replications": replications,
         "customers": 5000, "months": 36, "seed": 1},
        "parent_load", name="parent_load",
    )
    template = runner.execute(exp.scenario, {}, "hybrid", 1)  # a real run's result
    packed = runner.series_bytes(template[1])  # compressed by the workers, not the parent
    marks: list[float] = []

    def trivial(scenario, overrides, policy, seed):
        marks.append(time.perf_counter())
        summary, series = template
        return {**summary, "policy": policy, "seed": seed}, series

    real_execute, real_series_bytes = runner.execute, runner.series_bytes
    runner.execute = trivial  # the in-process "worker" of --jobs 1
    runner.series_bytes = lambda series: packed
    batches: list[tuple[int, float]] = []  # (runs, seconds) of each save_batch
    largest: list = []  # the largest batch's runs, for --flush-batches
    finish_seconds: list[float] = []
    save_batch, finish = ResultStore.save_batch, ResultStore.finish

    def timed_save_batch(store, runs):
        runs = list(runs)
        if len(runs) > len(largest):
            largest[:] = runs
        begin = time.perf_counter()
        save_batch(store, runs)
        batches.append((len(runs), time.perf_counter() - begin))

    finish_memory: list[int] = []  # bytes: the peak RSS in finish() above the RSS before

    def timed_finish(store, *args, **kwargs):
        before = _rss()
        begin = time.perf_counter()
        try:
            return finish(store, *args, **kwargs)
        finally:
            finish_seconds.append(time.perf_counter() - begin)
            finish_memory.append(_peak_rss() - before)

    ResultStore.save_batch, ResultStore.finish = timed_save_batch, timed_finish
    out = tempfile.mkdtemp(prefix="engagesim-parent-load-")
    shutil.rmtree(out)
    try:
        start = time.perf_counter()
        result = runner.sweep(exp, out, jobs=1, progress=False)
        total = time.perf_counter() - start
        report = report_load(out) if args.report else {}
    finally:
        shutil.rmtree(out, ignore_errors=True)
        ResultStore.save_batch, ResultStore.finish = save_batch, finish
        runner.execute, runner.series_bytes = real_execute, real_series_bytes
    n = result.ran
    size = n // TENTHS
    per_run = [(marks[(k + 1) * size - 1] - marks[k * size]) / (size - 1) * 1e6
               for k in range(TENTHS)]
    end = total - (marks[-1] - start)  # the writer draining its queue, then finish()
    stored = sum(size for size, _ in batches)
    writer = sum(seconds for _, seconds in batches)
    writer_rate = stored / writer
    absorb = n / total  # everything the parent does, its writer thread and finish too

    def workers(rate: float) -> str:
        busy = rate * args.run_seconds
        verdict = "reached" if busy >= args.target_workers else "not reached"
        return f"≈ {busy:.0f} workers at {args.run_seconds} s a run " \
               f"(target {args.target_workers}: {verdict})"

    print(f"runs: {n}; load average: {os.getloadavg()[0]:.2f}")
    print("parent µs per run, by tenth of the sweep: "
          + " ".join(f"{us:.0f}" for us in per_run))
    print(f"last tenth / first tenth: {per_run[-1] / per_run[0]:.2f}")
    print(f"journal writer: {len(batches)} batches of {stored / len(batches):.0f} runs on "
          f"average, {writer / stored * 1e6:.0f} µs per run stored; {writer_rate:.0f} runs/s, "
          + workers(writer_rate))
    print(f"end of sweep (the writer's last batches, then runs.csv, series.parquet and the "
          f"seal once): {end:.1f} s, of which finish {finish_seconds[0]:.1f} s "
          f"({finish_seconds[0] / n * 1e6:.0f} µs per run); finish's peak memory "
          f"{finish_memory[0] / 2**20:.0f} MiB above the RSS before it "
          f"({finish_memory[0] / n / 1024:.1f} kB per run)")
    print(f"runs/s the parent absorbs, whole sweep: {absorb:.0f}; " + workers(absorb))
    if report:
        print(f"engagesim report of the {n} runs' folder: {report['seconds']:.1f} s, peak "
              f"RSS {report['peak_mib']:.0f} MiB")
    flushes = flush_comparison(largest, args.flush_batches) if args.flush_batches else {}
    for way, (batch_us, flush_us) in flushes.items():
        print(f"a batch of {len(largest)} runs, {way}: {batch_us:.0f} µs per run, of which "
              f"the flush {flush_us:.0f} (median of {args.flush_batches}); "
              f"{1e6 / batch_us:.0f} runs/s")
    pool = pool_load(args.pool_runs, policies) if args.pool_runs else {}
    if pool:
        busy = args.run_seconds / (pool["parent_us_per_run"] * 1e-6)
        verdict = "reached" if busy >= args.target_workers else "not reached"
        pool["workers_sustained"] = int(busy)
        print(f"a two-worker pool, {pool['runs']} minimal runs stored by the workers: the "
              f"parent's CPU µs per run, by tenth of the sweep: "
              + " ".join(f"{us:.0f}" for us in pool["parent_us_per_run_by_tenth"]))
        print(f"  over the runs' phase {pool['parent_us_per_run']:.0f} µs per run "
              f"({pool['runs_per_s']:.0f} runs/s came back); ≈ {busy:.0f} workers at "
              f"{args.run_seconds} s a run (target {args.target_workers}: {verdict})")
        print(f"  end of sweep (finish: runs.csv, series.parquet, the seal, read on the "
              f"workers): {pool['end_s']:.2f} s, the parent's CPU {pool['end_cpu_us_per_run']:.0f}"
              f" µs per run")
    print(json.dumps({"runs": n, "us_per_run_by_tenth": [round(u, 1) for u in per_run],
                      "batches": len(batches), "writer_us_per_run": round(writer / stored * 1e6, 1),
                      "writer_runs_per_s": round(writer_rate, 1),
                      "end_s": round(end, 2), "finish_s": round(finish_seconds[0], 2),
                      "finish_peak_mib": round(finish_memory[0] / 2**20, 1),
                      "report": report,
                      "absorb_runs_per_s": round(absorb, 1),
                      "workers_sustained": int(absorb * args.run_seconds),
                      "writer_workers_sustained": int(writer_rate * args.run_seconds),
                      "target_workers": args.target_workers,
                      "flush_us_per_run": {way: [round(b, 1), round(f, 1)]
                                           for way, (b, f) in flushes.items()},
                      "pool": pool}))


def report_load(folder: str) -> dict:
    """Wall time and peak RSS of ``engagesim report FOLDER`` (a fresh process, one job)."""
    import resource
    import subprocess
    import sys

    begin = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sim", "report", folder], check=True,
                   stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - begin
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kB on Linux
    return {"seconds": round(seconds, 2), "peak_mib": round(peak, 1)}


def _rss() -> int:
    """This process's resident memory now, bytes (Linux; elsewhere 0)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _peak_rss() -> int:
    """This process's peak resident memory so far, bytes (Linux: ``VmHWM``)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def pool_load(runs: int, policies: list[str]) -> dict:
    """The parent's CPU per run in a real two-worker sweep of minimal runs.

    The workers run and store the runs; the parent's CPU time (every thread of this
    process: ``time.process_time``) is read as each finished run comes back.
    """
    use_forkserver()  # workers start as under the command line
    exp = experiment_from_dict(
        {"scenario": "default", "policies": policies,
         "replications": max(1, runs // len(policies)), "customers": 50, "months": 1,
         "seed": 1},
        "parent_load", name="parent_load",
    )
    marks: list[tuple[float, float]] = []  # (wall, the parent's CPU) at each run back
    real = runner.execute_runs

    def marking(*args, **kwargs):
        for finished in real(*args, **kwargs):
            marks.append((time.perf_counter(), time.process_time()))
            yield finished

    root = Path(tempfile.mkdtemp(prefix="engagesim-pool-load-"))
    runner.execute_runs = marking
    try:
        runner.sweep(experiment_from_dict(  # warm: start the workers, their imports
            {"scenario": "default", "policies": policies, "replications": 2,
             "customers": 50, "months": 1, "seed": 1}, "warm", name="warm"),
            root / "warm", jobs=2, progress=False)
        marks.clear()
        start, cpu = time.perf_counter(), time.process_time()
        result = runner.sweep(exp, root / "out", jobs=2, progress=False)
        end, end_cpu = time.perf_counter(), time.process_time()
    finally:
        runner.execute_runs = real
        shutil.rmtree(root, ignore_errors=True)
    n, size = result.ran, result.ran // TENTHS
    cpus = [c for _, c in marks]
    tenths = [(cpus[(k + 1) * size - 1] - cpus[k * size]) / (size - 1) * 1e6
              for k in range(TENTHS)]
    last_wall, last_cpu = marks[-1]
    return {"runs": n, "parent_us_per_run_by_tenth": [round(u, 1) for u in tenths],
            "parent_us_per_run": round((last_cpu - cpu) / n * 1e6, 1),
            "runs_per_s": round(n / (last_wall - start), 1),
            "end_s": round(end - last_wall, 2),
            "end_cpu_us_per_run": round((end_cpu - last_cpu) / n * 1e6, 1)}


def flush_comparison(runs: list, repeats: int) -> dict[str, tuple[float, float]]:
    """Median µs per run of ``save_batch(runs)`` and of its flush, for each way of flushing.

    The ways take turns (syncfs, an fsync per file, none), ``repeats`` batches each, into
    one fresh folder, each batch under new run ids.
    """
    if not hasattr(sim.files, "libc_syncfs"):  # a tree from before sim.files.flush_files
        return {}
    lookup, flush = sim.files.libc_syncfs, store_module.flush_files
    ways = {"one syncfs": lookup, "an fsync per file": lambda: None, "no flush": None}
    if lookup() is None:
        del ways["one syncfs"]
    seconds: dict[str, list[tuple[float, float]]] = {way: [] for way in ways}
    flushed: list[float] = []

    def timed_flush(*args):
        begin = time.perf_counter()
        flush(*args)
        flushed.append(time.perf_counter() - begin)

    root = Path(tempfile.mkdtemp(prefix="engagesim-flush-"))
    store = ResultStore(root)
    store.rows.mkdir()
    store.series.mkdir()
    offset = 0
    try:
        for _ in range(repeats):
            for way, syncfs in ways.items():
                sim.files.libc_syncfs = syncfs or lookup
                store_module.flush_files = timed_flush if syncfs else (
                    lambda *args: flushed.append(0.0))
                batch = [({**record, "run_id": offset + i}, series)
                         for i, (record, series) in enumerate(runs)]
                offset += len(runs)
                begin = time.perf_counter()
                store.save_batch(batch)
                seconds[way].append((time.perf_counter() - begin, flushed[-1]))
    finally:
        sim.files.libc_syncfs, store_module.flush_files = lookup, flush
        shutil.rmtree(root, ignore_errors=True)
    return {way: (statistics.median(b for b, _ in times) / len(runs) * 1e6,
                  statistics.median(f for _, f in times) / len(runs) * 1e6)
            for way, times in seconds.items()}


if __name__ == "__main__":
    main()
