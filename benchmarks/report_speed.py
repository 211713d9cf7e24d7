"""Time of ``engagesim report`` for a 256-point Latin-hypercube sweep (target: under 30 s).

Builds the sweep once — the ``segment_mix_sweep`` experiment (2 factors, the four
policies) as a 256-point LHS with 2 replications of 200 agents over 12 months — and
caches it under ``--cache`` (a sweep folder; delete it to rebuild). Then rebuilds the
report of a copy of it ``--repeats`` times (a copy sealed and compacted first, as a
sweep ends, when the cache is older than ``series.parquet``) and prints each time, the
median and the 30 s target, with the machine's load averages (``os.getloadavg``) before and after,
since a loaded machine slows every number. Its last line is a JSON object with the
times. The sweep's own runs are not timed.

Usage::

    python benchmarks/report_speed.py [--points 256] [--repeats 3] [--jobs 1]
        [--cache /tmp/engagesim-report-bench]
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

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from sim.analysis.report import build_report  # noqa: E402
from sim.sweep import compact  # noqa: E402
from sim.sweep.design import experiment_from_dict  # noqa: E402
from sim.sweep.runner import sweep  # noqa: E402
from sim.sweep.store import INTEGRITY, ResultStore  # noqa: E402

TARGET_S = 30.0
"""The report of a 256-point sweep must take less than this (issue 14)."""


def build_sweep(folder: Path, points: int, jobs: int) -> None:
    """Run the benchmark's sweep into ``folder`` unless it is already complete there."""
    if (folder / "runs.csv").exists():
        return
    exp = experiment_from_dict(
        {
            "scenario": "default",
            "policies": ["no_touch", "low_touch", "high_touch", "hybrid"],
            "baseline": "no_touch",
            "replications": 2,
            "agents": 200,
            "months": 12,
            "seed": 14,
            "design": {"kind": "lhs", "samples": points},
            "factors": [
                {"path": "segments.enterprise.share", "low": 0.02, "high": 0.30,
                 "complement": "segments.smb.share"},
                {"path": "segments.smb.acv.mean", "low": 1800.0, "high": 10800.0},
            ],
        },
        "report_speed",
        name="report_speed",
    )
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    result = sweep(exp, folder, jobs=jobs, progress=False, command="benchmarks/report_speed.py")
    print(f"built the sweep: {result.ran} runs in {time.perf_counter() - start:.0f} s "
          f"into {folder}")


def time_report(folder: Path) -> float:
    """Seconds to build the report of a fresh copy of ``folder``."""
    with tempfile.TemporaryDirectory(prefix="engagesim-report-") as tmp:
        copy = Path(tmp) / "sweep"
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(
            "figures", "report.md", "summary.csv", "sensitivity.csv"))
        store = ResultStore(copy)
        if not isinstance(store.manifest().get(INTEGRITY), dict) or not (
                copy / compact.FILE).is_file():
            with store.locked():  # a cache from before the seal or the compaction
                store.finish()  # (the end of every sweep), not timed
        start = time.perf_counter()
        build_report(copy)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="workers for building the sweep")
    parser.add_argument("--cache", default=None,
                        help="sweep folder (default: /tmp/engagesim-report-bench-<points>)")
    args = parser.parse_args()
    folder = Path(args.cache or Path(tempfile.gettempdir())
                  / f"engagesim-report-bench-{args.points}")
    build_sweep(folder, args.points, args.jobs)
    load_before = os.getloadavg()
    times = []
    for i in range(args.repeats):
        times.append(time_report(folder))
        print(f"report {i + 1}: {times[-1]:.2f} s")
    load_after = os.getloadavg()
    median = statistics.median(times)
    verdict = "meets" if median < TARGET_S else "MISSES"
    print(f"median of {len(times)}: {median:.2f} s for {args.points} design points "
          f"({verdict} the {TARGET_S:.0f} s target)")
    print(f"load average (1, 5, 15 min) before {load_before[0]:.2f}, {load_before[1]:.2f}, "
          f"{load_before[2]:.2f}; after {load_after[0]:.2f}, {load_after[1]:.2f}, "
          f"{load_after[2]:.2f}; {os.cpu_count()} cores")
    print(json.dumps({"points": args.points, "seconds": [round(t, 3) for t in times],
                      "median_s": round(median, 3), "target_s": TARGET_S,
                      "load_before": load_before, "load_after": load_after}))


if __name__ == "__main__":
    main()
