"""Share of a sweep run's CPU that is not the simulation (issue 15: at most 10 %).

Calls the worker's entry point as a pool worker does (``sim.sweep.runner._task`` with
the pickled scenario, which a worker unpickles at its first run: scenario overrides,
model set-up, ``model.run``, summary, series, their compression, garbage collection, and
storing the run's record and series in a sweep folder's journal, flushed) for
``--runs`` runs of the default scenario's hybrid policy at ``--customers`` × ``--months``
in this process, and times each call and, inside it, ``EngagementModel.run`` (CPU time
of the process, ``time.process_time``). Prints the median run's CPU, the median time in
``model.run`` and the harness share ``(task − run) / task`` of each run, as a median with
its quartiles, and the load average before and after. The first run (imports, caches)
is not counted. Its last line is a JSON object with the numbers.

Usage::

    python benchmarks/harness_overhead.py [--runs 21] [--customers 5000] [--months 36]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from sim.engine.model import EngagementModel  # noqa: E402
from sim.engine.scenario import load_scenario  # noqa: E402
from sim.sweep import runner  # noqa: E402
from sim.sweep.design import Run  # noqa: E402
from sim.sweep.store import ResultStore  # noqa: E402

TARGET = 0.10
"""The harness may take at most this share of a run's CPU (issue 15)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--months", type=int, default=36)
    args = parser.parse_args()
    scenario = load_scenario("default").with_overrides(
        {"population.customers": args.customers, "time.months": args.months})
    inside: list[float] = []
    real_run = EngagementModel.run

    def timed_run(model: EngagementModel) -> EngagementModel:
        start = time.process_time()
        try:
            return real_run(model)
        finally:
            inside.append(time.process_time() - start)

    EngagementModel.run = timed_run  # type: ignore[method-assign]
    load_before = os.getloadavg()
    tasks: list[float] = []
    shared = runner._pickled(scenario)  # what the pool sends (unpickled once per worker)
    journal = ResultStore(tempfile.mkdtemp(prefix="engagesim-harness-"))
    journal.rows.mkdir()
    journal.series.mkdir()
    try:
        for i in range(args.runs + 1):
            start = time.process_time()
            error = runner._task(shared, {}, Run(i, 0, "hybrid", 0, 1000 + i, {}),
                                 str(journal.root)).error
            tasks.append(time.process_time() - start)
            if error:
                raise SystemExit(f"run {i} failed: {error}")
    finally:
        shutil.rmtree(journal.root, ignore_errors=True)
    load_after = os.getloadavg()
    tasks, inside = tasks[1:], inside[1:]
    shares = [(task - run) / task for task, run in zip(tasks, inside, strict=True)]
    quartiles = statistics.quantiles(shares, n=4)
    share = statistics.median(shares)
    print(f"{args.runs} runs of {args.customers:,} customers x {args.months} months "
          f"(default scenario, hybrid), CPU per run:")
    print(f"  whole task {statistics.median(tasks) * 1e3:.1f} ms, model.run "
          f"{statistics.median(inside) * 1e3:.1f} ms (medians)")
    print(f"  harness share {share:.1%} (quartiles {quartiles[0]:.1%}–{quartiles[2]:.1%}); "
          f"target ≤ {TARGET:.0%}: {'met' if share <= TARGET else 'NOT met'}")
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
          f"{os.cpu_count()} cores")
    print(json.dumps({"runs": args.runs, "customers": args.customers, "months": args.months,
                      "task_ms": round(statistics.median(tasks) * 1e3, 2),
                      "run_ms": round(statistics.median(inside) * 1e3, 2),
                      "harness_share": round(share, 4),
                      "harness_share_quartiles": [round(q, 4) for q in quartiles],
                      "target": TARGET, "load_before": load_before,
                      "load_after": load_after}))


if __name__ == "__main__":
    main()
