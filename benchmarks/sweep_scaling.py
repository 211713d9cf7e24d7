"""Parallel scaling of a sweep: runs per second and efficiency for 1, 2, … workers.

Runs the same experiment (the four policies on the default scenario, identical runs for
every worker count) with ``engagesim``'s runner (workers forked from a forkserver, as
under the command line) and prints runs/s and parallel efficiency
``E(w) = rate(w) / (w · rate(1))``. Each worker is pinned to one BLAS thread.
It also reports the parent process's own CPU time per run while the runs come back
(from the first finished run to the last: sending the tasks, the pool's queues; the
workers store the runs themselves) and the workers that cost would keep busy at the
measured time per run. Its last line is a JSON object with ``workers``, ``runs_per_s``,
``efficiency``, ``parent_ms_per_run`` and ``parent_sustains_workers`` lists.

Usage::

    python benchmarks/sweep_scaling.py [--workers 1,2,4,8,16] [--runs-per-worker 48]
        [--customers 5000] [--months 36]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from sim.sweep import runner  # noqa: E402
from sim.sweep.design import experiment_from_dict  # noqa: E402
from sim.sweep.pool import use_forkserver  # noqa: E402


def measure(workers: int, replications: int, customers: int,
            months: int) -> tuple[int, float, float]:
    """Run a sweep with ``workers`` processes: (runs, seconds, the parent's CPU per run).

    The parent's CPU (every thread of this process, ``time.process_time``) is taken
    between the first and the last finished run coming back: its steady cost per run,
    without the start (the manifest, the pool) and the end (``runs.csv``, the series).
    """
    exp = experiment_from_dict(
        {
            "scenario": "default",
            "policies": ["no_touch", "low_touch", "high_touch", "hybrid"],
            "replications": replications,
            "customers": customers,
            "months": months,
            "seed": 1,
        },
        "sweep_scaling",
        name="sweep_scaling",
    )
    cpu: list[float] = []  # the parent's CPU seconds as each run comes back
    real = runner.execute_runs

    def marking(*args, **kwargs):
        for finished in real(*args, **kwargs):
            cpu.append(time.process_time())
            yield finished

    out = tempfile.mkdtemp(prefix="engagesim-scaling-")
    runner.execute_runs = marking
    try:
        shutil.rmtree(out)
        start = time.perf_counter()
        result = runner.sweep(exp, out, jobs=workers, progress=False)
        seconds = time.perf_counter() - start
    finally:
        runner.execute_runs = real
        shutil.rmtree(out, ignore_errors=True)
    return result.ran, seconds, (cpu[-1] - cpu[0]) / max(1, len(cpu) - 1)


def main() -> None:
    use_forkserver()  # workers start as under the command line
    cpus = os.cpu_count() or 1
    default = [w for w in (1, 2, 4, 8, 16) if w <= cpus]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default=",".join(map(str, default)))
    parser.add_argument("--runs-per-worker", type=int, default=48,
                        help="runs per worker at each count (weak scaling: load grows)")
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--months", type=int, default=36)
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    print(f"{'workers':>7} {'runs':>6} {'seconds':>8} {'runs/s':>8} {'efficiency':>10} "
          f"{'parent ms/run':>13} {'parent sustains':>15}")
    rates, efficiency, parent_ms, sustains = [], [], [], []
    for w in workers:
        measure(w, w, 200, 2)  # warm up: start the w workers and import engagesim in them
        replications = max(1, args.runs_per_worker * w // 4)  # 4 policies per replication
        runs, seconds, parent = measure(w, replications, args.customers, args.months)
        rate = runs / seconds
        rates.append(rate)
        efficiency.append(rate / (w * rates[0] / workers[0]))
        if w > 1:  # with one job the runs execute in the parent: no parent-only share
            parent_ms.append(parent * 1e3)
            # workers busy while the parent spends `parent` on each: (w / rate) / that
            sustains.append(int((w / rate) / parent))
        print(f"{w:>7} {runs:>6} {seconds:>8.2f} {rate:>8.2f} {efficiency[-1]:>10.1%} "
              + (f"{parent_ms[-1]:>13.2f} {sustains[-1]:>15}" if w > 1 else ""))
    print(f"cores on this machine: {cpus}; load average: {os.getloadavg()[0]:.2f}")
    print(json.dumps({
        "workers": workers,
        "runs_per_s": [round(r, 3) for r in rates],
        "efficiency": [round(e, 3) for e in efficiency],
        "parent_ms_per_run": [round(m, 3) for m in parent_ms],
        "parent_sustains_workers": sustains,
        "customers": args.customers,
        "months": args.months,
    }))


if __name__ == "__main__":
    main()
