"""Parallel scaling of a sweep: runs per second and efficiency for 1, 2, … workers.

Runs the same experiment (the four policies on the default scenario, identical runs for
every worker count) with ``engagesim``'s joblib runner and prints runs/s and parallel
efficiency ``E(w) = rate(w) / (w · rate(1))``. Each worker is pinned to one BLAS thread.
Its last line is a JSON object with ``workers``, ``runs_per_s`` and ``efficiency`` lists.

Usage::

    python benchmarks/sweep_scaling.py [--workers 1,2,4,8,16] [--runs-per-worker 16]
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

from sim.sweep.design import experiment_from_dict  # noqa: E402
from sim.sweep.runner import sweep  # noqa: E402


def measure(workers: int, replications: int, customers: int, months: int) -> tuple[int, float]:
    """Run a sweep with ``workers`` processes; return (runs, seconds)."""
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
    out = tempfile.mkdtemp(prefix="engagesim-scaling-")
    try:
        shutil.rmtree(out)
        start = time.perf_counter()
        result = sweep(exp, out, jobs=workers, progress=False)
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return result.ran, seconds


def main() -> None:
    cpus = os.cpu_count() or 1
    default = [w for w in (1, 2, 4, 8, 16) if w <= cpus]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default=",".join(map(str, default)))
    parser.add_argument("--runs-per-worker", type=int, default=16,
                        help="runs per worker at each count (weak scaling: load grows)")
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--months", type=int, default=36)
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    print(f"{'workers':>7} {'runs':>6} {'seconds':>8} {'runs/s':>8} {'efficiency':>10}")
    rates, efficiency = [], []
    for w in workers:
        measure(w, w, 200, 2)  # warm up: start the w workers and import engagesim in them
        replications = max(1, args.runs_per_worker * w // 4)  # 4 policies per replication
        runs, seconds = measure(w, replications, args.customers, args.months)
        rate = runs / seconds
        rates.append(rate)
        efficiency.append(rate / (w * rates[0] / workers[0]))
        print(f"{w:>7} {runs:>6} {seconds:>8.2f} {rate:>8.2f} {efficiency[-1]:>10.1%}")
    print(f"cores on this machine: {cpus}")
    print(json.dumps({
        "workers": workers,
        "runs_per_s": [round(r, 3) for r in rates],
        "efficiency": [round(e, 3) for e in efficiency],
        "customers": args.customers,
        "months": args.months,
    }))


if __name__ == "__main__":
    main()
