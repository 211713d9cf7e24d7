"""Where a step's time goes: milliseconds per step of each phase, at several sizes.

Runs ``EngagementModel(scenario, policy, rng=1, agents=N, months=M).run()`` after an
untimed small run (the steady step, as ``step_speed.py --warm``), with each phase method
of the step (:meth:`~sim.engine.model.EngagementModel.step` and the phases it calls)
wrapped by a wall-clock timer, ``--repeats`` times per size; it prints, per size, the
phases of the fastest repeat in milliseconds per step (a phase's time includes the
phases it calls: the transitions are inside ``_move``). The step's time at a few
hundred customers is its fixed cost: what no array pass, only fewer Python-level calls,
can shrink. Its last line is a JSON object with the numbers.

Usage::

    python benchmarks/step_phases.py [--sizes 100 1000 5000 100000] [--months 36 36 36 12]
        [--repeats 5]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from collections import Counter

from sim.engine import lifecycle, model, results

PHASES = {
    "step": (model.EngagementModel, "step"),
    "engage (the policy)": (model.EngagementModel, "_engage"),
    "respond": (model.EngagementModel, "_respond"),
    "move (word of mouth, transitions, moves)": (model.EngagementModel, "_move"),
    "  of which transitions": (lifecycle, "transitions"),
    "book (money)": (model.EngagementModel, "_book"),
    "observe (visits, health)": (model.EngagementModel, "_observe"),
    "record": (results, "step_record"),
}
"""Label → (owner, attribute) of each timed phase (``model`` reads ``lifecycle.transitions``
and ``results.step_record`` through their modules, so wrapping them there is seen)."""


def timed_phases() -> Counter:
    """Wrap every phase of :data:`PHASES` with a timer; return the counter it adds to."""
    spent: Counter = Counter()
    for label, (owner, name) in PHASES.items():
        function = getattr(owner, name)

        @functools.wraps(function)
        def timed(*args, _function=function, _label=label, **kwargs):
            start = time.perf_counter()
            try:
                return _function(*args, **kwargs)
            finally:
                spent[_label] += time.perf_counter() - start

        setattr(owner, name, timed)
    return spent


def main() -> None:
    """Time the phases at each size and print a table and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--policy", default="hybrid")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000, 100_000])
    parser.add_argument("--months", type=int, nargs="+", default=[36, 36, 36, 12],
                        help="months of each size's runs (one per size)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if len(args.months) != len(args.sizes):
        parser.error("give one --months per --sizes")
    spent = timed_phases()
    model.EngagementModel(args.scenario, args.policy, rng=2, agents=200, months=2).run()
    load_before = os.getloadavg()
    table = {}
    for agents, months in zip(args.sizes, args.months, strict=True):
        best: dict[str, float] | None = None
        for _ in range(args.repeats):
            run = model.EngagementModel(args.scenario, args.policy, rng=1, agents=agents,
                                        months=months)
            spent.clear()
            run.run()
            per_step = {label: 1e3 * spent[label] / run.steps for label in PHASES}
            if best is None or per_step["step"] < best["step"]:
                best = per_step
        table[agents] = best
    width = max(len(label) for label in PHASES)
    print(f"{'ms per step (fastest of ' + str(args.repeats) + ')':<{width}}"
          + "".join(f"{agents:>10,}" for agents in table))
    for label in PHASES:
        print(f"{label:<{width}}" + "".join(f"{table[a][label]:>10.3f}" for a in table))
    print(f"load average (1 min) before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    print(json.dumps({"scenario": args.scenario, "policy": args.policy,
                      "ms_per_step": {str(a): row for a, row in table.items()}}))


if __name__ == "__main__":
    main()
