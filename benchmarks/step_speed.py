"""Customer-steps per second of the model's step, this tree against a baseline tree.

Runs ``EngagementModel(scenario, policy, rng=1, agents=N, months=M).run()`` for each
size in ``--sizes``, once with the baseline's code (a git worktree of the old commit,
``--baseline``) and once with this tree's, alternating, in fresh interpreters whose
``PYTHONPATH`` is the tree (each prints which ``sim`` it imported, so a run of the
installed package instead is visible). Only the run is timed (CPU time of the process,
less disturbed by a shared machine than wall time), not the imports or the
population's set-up. Each size is ``--repeats`` paired runs (old then new); it prints
customer-steps/s of each and the median of the paired ratios new / old, with the
machine's load averages before and after (a loaded machine slows both, the ratio
less). Its last line is a JSON object with the numbers.

``--warm`` first runs a small model (200 agents, 2 months, same scenario and policy)
in the same process, untimed: the timed run then leaves out what a process pays once
(first calls, caches filled, a JIT's compilation or cache load), the steady per-step
speed. Without it (the default) the run is timed as a command-line run pays it. A
change that adds a per-process cost is judged on both.

Usage::

    git worktree add /tmp/engagesim-base <old commit>
    python benchmarks/step_speed.py --baseline /tmp/engagesim-base
        [--sizes 1000 5000 100000] [--months 36 36 6] [--repeats 3] [--warm]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = """
import sys, time
import sim
from sim.engine.model import EngagementModel
if {warm!r}:  # untimed: what a process pays once
    EngagementModel({scenario!r}, {policy!r}, rng=2, agents=200, months=2).run()
model = EngagementModel({scenario!r}, {policy!r}, rng=1, agents={agents}, months={months})
start = time.process_time()
model.run()
print(sim.__file__, time.process_time() - start, model.steps)
"""


def timed_run(
    tree: Path, scenario: str, policy: str, agents: int, months: int, warm: bool = False
) -> float:
    """Seconds one run takes with the code of ``tree`` (a fresh interpreter).

    ``warm``: after an untimed small run in the same interpreter (see the module's doc).
    """
    env = dict(os.environ, PYTHONPATH=str(tree))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    code = CHILD.format(scenario=scenario, policy=policy, agents=agents, months=months,
                        warm=warm)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd="/", capture_output=True, text=True,
        check=True,
    ).stdout.split()
    source, seconds = Path(out[0]), float(out[1])
    if not source.is_relative_to(tree.resolve()):
        raise SystemExit(f"{tree}: imported sim from {source}, not from the tree")
    return seconds


def main() -> None:
    """Time both trees at each size and print the table and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="old code's tree")
    parser.add_argument("--new", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--policy", default="hybrid")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 100_000])
    parser.add_argument("--months", type=int, nargs="+", default=[36, 36, 6],
                        help="months per size (one value, or one per size)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warm", action="store_true",
                        help="time each run after an untimed small run in the same process")
    args = parser.parse_args()
    months = args.months * len(args.sizes) if len(args.months) == 1 else args.months
    if len(months) != len(args.sizes):
        parser.error("--months takes one value or one per size")
    print(f"load average before: {os.getloadavg()}")
    results = []
    for agents, m in zip(args.sizes, months, strict=True):
        pairs = [
            (timed_run(args.baseline, args.scenario, args.policy, agents, m, args.warm),
             timed_run(args.new, args.scenario, args.policy, agents, m, args.warm))
            for _ in range(args.repeats)
        ]
        steps = agents * m  # customer-steps of a monthly scenario
        old = statistics.median(steps / o for o, _ in pairs)
        new = statistics.median(steps / n for _, n in pairs)
        ratio = statistics.median(o / n for o, n in pairs)
        print(f"{agents:>8} customers x {m} steps: old {old:,.0f}/s  new {new:,.0f}/s  "
              f"ratio {ratio:.2f} (median of {len(pairs)} pairs)")
        results.append({"agents": agents, "steps": m, "old_per_s": old, "new_per_s": new,
                        "ratio": ratio, "pairs_s": pairs})
    print(f"load average after: {os.getloadavg()}")
    print(json.dumps({"scenario": args.scenario, "policy": args.policy, "warm": args.warm,
                      "results": results}))


if __name__ == "__main__":
    main()
