"""The sweep parent's work per finished run, with trivial workers: flat in the number of runs.

A sweep's parent process receives every result, stores it (``store.save``: the record and
the series into the journal) and, at the end, writes ``runs.csv`` once
(``store.finish``). This benchmark drives the real :func:`sim.sweep.runner.sweep` with
``--jobs 1`` and a run function that returns one precomputed result (a real 5k × 36 run's
summary and series, relabelled per run), so every second measured is the parent's. It
prints the parent's wall time per run in each tenth of the sweep (flat when the work per
run does not grow with the runs already stored), the end-of-sweep ``finish`` (once,
linear in the runs), and the runs per second the parent absorbs over the whole sweep,
which bounds the
workers it can keep busy: ``workers ≤ absorb rate × seconds per run``.

Its last line is a JSON object with the same figures.

Usage::

    python benchmarks/parent_load.py [--runs 100000] [--run-seconds 0.17]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

from sim.sweep import runner
from sim.sweep.design import experiment_from_dict

TENTHS = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--run-seconds", type=float, default=0.17,
                        help="one 5k x 36 run's time, for the workers the parent sustains")
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

    runner.execute = trivial  # the in-process "worker" of --jobs 1
    runner.series_bytes = lambda series: packed
    out = tempfile.mkdtemp(prefix="engagesim-parent-load-")
    shutil.rmtree(out)
    try:
        start = time.perf_counter()
        result = runner.sweep(exp, out, jobs=1, progress=False)
        total = time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)
    n = result.ran
    size = n // TENTHS
    per_run = [(marks[(k + 1) * size - 1] - marks[k * size]) / (size - 1) * 1e6
               for k in range(TENTHS)]
    finish = total - (marks[-1] - start)
    absorb = n / total  # everything the parent does, its writer thread and finish too
    print(f"runs: {n}; load average: {os.getloadavg()[0]:.2f}")
    print("parent µs per run, by tenth of the sweep: "
          + " ".join(f"{us:.0f}" for us in per_run))
    print(f"last tenth / first tenth: {per_run[-1] / per_run[0]:.2f}")
    print(f"end of sweep (runs.csv and the integrity record, once): {finish:.1f} s "
          f"({finish / n * 1e6:.0f} µs per run)")
    print(f"runs/s the parent absorbs: {absorb:.0f}; workers it keeps busy at "
          f"{args.run_seconds} s a run: {absorb * args.run_seconds:.0f}")
    print(json.dumps({"runs": n, "us_per_run_by_tenth": [round(u, 1) for u in per_run],
                      "finish_s": round(finish, 2), "absorb_runs_per_s": round(absorb, 1),
                      "workers_sustained": int(absorb * args.run_seconds)}))


if __name__ == "__main__":
    main()
