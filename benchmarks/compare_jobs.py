"""Wall time of ``engagesim compare`` with ``--jobs 1`` and ``--jobs 2`` (issue 15: ≥ 1.7×).

Runs the whole command, as a user types it (``engagesim compare SCENARIO --quiet``, every
default otherwise: 40 runs, the plan of the segment winners, the report and its
figures), alternately with one job and with ``--jobs N``, ``--repeats`` pairs, each into a
fresh folder, and prints each pair's wall times and the median of the paired speed-ups
``t(1) / t(N)``, with the load average before and after (another busy process takes a
core from the parallel run, so read the speed-up with the load). Its last line is a JSON
object with the numbers.

Usage::

    python benchmarks/compare_jobs.py [--scenario default] [--jobs 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 1.7
"""``--jobs 2`` must make the whole command at least this much faster (issue 15)."""


def wall(scenario: str, jobs: int, out: Path) -> float:
    """Seconds of one ``engagesim compare`` into ``out`` (removed after)."""
    command = [sys.executable, "-m", "sim", "compare", scenario, "--jobs", str(jobs),
               "--quiet", "--out", str(out)]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    shutil.rmtree(out, ignore_errors=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()
    pairs = []
    with tempfile.TemporaryDirectory(prefix="engagesim-compare-jobs-") as tmp:
        for i in range(args.repeats):
            one = wall(args.scenario, 1, Path(tmp) / f"one{i}")
            many = wall(args.scenario, args.jobs, Path(tmp) / f"many{i}")
            pairs.append((one, many))
            print(f"pair {i + 1}: --jobs 1 {one:.2f} s, --jobs {args.jobs} {many:.2f} s, "
                  f"speed-up {one / many:.2f}×")
    load_after = os.getloadavg()
    speedup = statistics.median(one / many for one, many in pairs)
    print(f"median speed-up of {len(pairs)} pairs: {speedup:.2f}× "
          f"({'meets' if speedup >= TARGET else 'MISSES'} the {TARGET}× target)")
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
          f"{os.cpu_count()} cores")
    print(json.dumps({"scenario": args.scenario, "jobs": args.jobs,
                      "pairs_s": [[round(a, 3), round(b, 3)] for a, b in pairs],
                      "speedup": round(speedup, 3), "target": TARGET,
                      "load_before": load_before, "load_after": load_after}))


if __name__ == "__main__":
    main()
