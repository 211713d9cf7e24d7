"""Throughput benchmark: customer-steps per second and peak memory of the vectorised model.

Runs ``EngagementModel(scenario, policy).run()`` on the default scenario with every
mechanism on (the ``hybrid`` policy: digital programs, pooled and named CSM teams with
rationing; the small-world network and word of mouth) at several population sizes, and
the per-agent reference model (``benchmarks/reference_model.py``: digital-only
``no_touch`` policy, no network) at a small size. Throughput is
``customers × steps / seconds of run()``; model construction is timed separately.

Every measurement runs in a fresh child process with the BLAS and OpenMP thread pools
set to one thread (numpy and scipy.sparse are then single-threaded), so the numbers are
single-core and the peak resident set size (``getrusage(RUSAGE_SELF).ru_maxrss`` in the
child, interpreter and imports included) belongs to that size alone. With ``--repeat R``
the measurements are taken R times, interleaved (every size and the reference once per
round, same seed), and the fastest of each is reported: the ratio of two timings is
then robust to other load on the machine.

Memory per customer is ``(peak RSS − RSS before the model is built) / customers``: the
baseline subtracted is the child's peak RSS after the interpreter, numpy, scipy, Mesa,
``sim`` and the scenario are loaded (printed with the table), so what remains is what
the model allocates (its arrays, the network, the step's temporaries, the allocator's
slack). Issue 15's target is :data:`TARGET_BYTES_PER_CUSTOMER` at 1M customers.

Usage::

    python benchmarks/throughput.py                       # 10k, 100k, 1M × 60 months
    python benchmarks/throughput.py --sizes 10000 100000 --months 24

A readable table is printed; the last line is one JSON object: ``customers``,
``months``, ``customer_steps_per_s``, ``reference_customer_steps_per_s``, ``speedup``
(vectorised / reference) and ``peak_rss_mib`` for the 100k case (or the size closest
to it), plus ``sizes``: one object per size (with ``bytes_per_customer`` and the
``import_rss_mib`` it subtracts), and ``target_bytes_per_customer``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SINGLE_THREAD = {
    name: "1"
    for name in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
    )
}
HEADLINE_SIZE = 100_000
#: Issue 15's memory target: peak bytes per customer at 1M customers, baseline subtracted.
TARGET_BYTES_PER_CUSTOMER = 300


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB


def load_reference():
    """Import ``reference_model.py`` from this folder (``benchmarks`` is not installed)."""
    name = "engagesim_reference_model"
    spec = importlib.util.spec_from_file_location(name, HERE / "reference_model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------------
# child: one measurement


def measure(kind: str, customers: int, months: int, policy: str, seed: int) -> dict[str, Any]:
    """Build and run one model in this process; return the timings and the peak RSS.

    Args:
        kind: ``vectorised`` (``sim.EngagementModel`` on the default scenario),
            ``vectorised_core`` (the same without the network: the reference's rules) or
            ``reference`` (the per-agent model, without the network).
        customers: Number of customers.
        months: Horizon in months.
        policy: Policy name.
        seed: Seed of the run.

    Returns:
        The measurement.
    """
    from sim import EngagementModel, load_scenario

    reference = load_reference() if kind == "reference" else None
    overrides: dict[str, Any] = {"population.customers": customers, "time.months": months}
    if kind != "vectorised":
        overrides["network.kind"] = "none"
    scenario = load_scenario("default", overrides=overrides)
    baseline = peak_rss_mib()
    t0 = time.perf_counter()
    if reference is not None:
        model = reference.ReferenceModel(scenario, policy, rng=seed)
    else:
        model = EngagementModel(scenario, policy, rng=seed)
    t1 = time.perf_counter()
    built = peak_rss_mib()
    model.run()
    t2 = time.perf_counter()
    peak = peak_rss_mib()
    return {
        "kind": kind,
        "policy": policy,
        "customers": customers,
        "months": months,
        "steps": model.steps,
        "construct_seconds": t1 - t0,
        "seconds": t2 - t1,
        "customer_steps_per_s": customers * model.steps / (t2 - t1),
        "peak_rss_mib": peak,
        "built_rss_mib": built,
        "import_rss_mib": baseline,
        "bytes_per_customer": (peak - baseline) * 2**20 / customers,
    }


def spawn(kind: str, customers: int, months: int, policy: str, seed: int) -> dict[str, Any]:
    """Run :func:`measure` in a fresh single-threaded child process."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        kind,
        "--sizes",
        str(customers),
        "--months",
        str(months),
        "--policy",
        policy,
        "--seed",
        str(seed),
    ]
    env = {**os.environ, **SINGLE_THREAD}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def fastest(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of repeated measurements, with the largest peak RSS among them."""
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["construct_seconds"] = min(r["construct_seconds"] for r in runs)
    worst = max(runs, key=lambda r: r["peak_rss_mib"])
    for key in ("peak_rss_mib", "import_rss_mib", "bytes_per_customer"):
        best[key] = worst[key]
    best["repeats"] = len(runs)
    return best


# ----------------------------------------------------------------------------------
# parent: the table and the JSON line


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print the table and the JSON summary line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[10_000, 100_000, 1_000_000],
        help="population sizes of the vectorised model",
    )
    ap.add_argument("--months", type=int, default=60, help="horizon of the vectorised runs")
    ap.add_argument("--policy", default="hybrid", help="policy of the vectorised runs")
    ap.add_argument("--reference-customers", type=int, default=5000)
    ap.add_argument("--reference-months", type=int, default=24)
    ap.add_argument(
        "--reference-policy",
        default="no_touch",
        help="a digital-only policy (the reference has no CSM teams)",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="interleaved rounds of measurements (the fastest of each is "
        f"reported); sizes above {HEADLINE_SIZE:,} are measured in the first only",
    )
    ap.add_argument(
        "--child", choices=["vectorised", "vectorised_core", "reference"], help=argparse.SUPPRESS
    )
    args = ap.parse_args(argv)

    if args.child:
        result = measure(args.child, args.sizes[0], args.months, args.policy, args.seed)
        print(json.dumps(result))
        return result

    headline_size = min(args.sizes, key=lambda n: abs(n - HEADLINE_SIZE))
    jobs = [("vectorised", n, args.months, args.policy) for n in args.sizes]
    jobs.append(
        ("reference", args.reference_customers, args.reference_months, args.reference_policy)
    )
    # the vectorised model on exactly the reference's rules, at the headline size
    jobs.append(("vectorised_core", headline_size, args.months, args.reference_policy))
    runs: dict[tuple, list[dict[str, Any]]] = {job: [] for job in jobs}
    for round_ in range(max(args.repeat, 1)):
        for job in jobs:
            kind, n, months, policy = job
            if round_ > 0 and n > HEADLINE_SIZE and kind != "reference":
                continue
            print(
                f"[{round_ + 1}/{args.repeat}] {kind} {policy}: {n:,} customers × {months} months",
                file=sys.stderr,
                flush=True,
            )
            runs[job].append(spawn(kind, n, months, policy, args.seed))
    best = [fastest(runs[job]) for job in jobs]
    rows, ref, core = best[:-2], best[-2], best[-1]
    headline = next(r for r in rows if r["customers"] == headline_size)

    print()
    print(
        f"{'model':<30} {'customers':>10} {'months':>6} {'build s':>8} {'run s':>8} "
        f"{'cust-steps/s':>13} {'RSS built MiB':>13} {'peak RSS MiB':>12} {'B/customer':>10}"
    )
    for r in best:
        label = {
            "vectorised": f"vectorised ({r['policy']})",
            "vectorised_core": f"vectorised ({r['policy']}, no net)",
            "reference": f"reference ({r['policy']}, no net)",
        }[r["kind"]]
        print(
            f"{label:<30} {r['customers']:>10,} {r['months']:>6} "
            f"{r['construct_seconds']:>8.2f} {r['seconds']:>8.2f} "
            f"{r['customer_steps_per_s']:>13,.0f} {r['built_rss_mib']:>13.0f} "
            f"{r['peak_rss_mib']:>12.0f} {r['bytes_per_customer']:>10.0f}"
        )
    speedup = headline["customer_steps_per_s"] / ref["customer_steps_per_s"]
    same_rules = core["customer_steps_per_s"] / ref["customer_steps_per_s"]
    print(
        f"\nspeedup at {headline['customers']:,}: {speedup:.1f}× (vectorised {args.policy} "
        f"with every mechanism / reference); {same_rules:.1f}× on the reference's own rules"
    )
    print(
        f"(peak RSS includes the interpreter and imports: {ref['import_rss_mib']:.0f} MiB "
        "before any model is built)"
    )
    for r in rows:
        print(
            f"bytes per customer at {r['customers']:,}: {r['bytes_per_customer']:.0f} = "
            f"(peak RSS {r['peak_rss_mib']:.0f} MiB − {r['import_rss_mib']:.0f} MiB after "
            f"imports) / {r['customers']:,}"
        )
    print(f"issue 15's target: ≤ {TARGET_BYTES_PER_CUSTOMER} bytes per customer at 1,000,000")

    summary = {
        "customers": headline["customers"],
        "months": headline["months"],
        "customer_steps_per_s": headline["customer_steps_per_s"],
        "reference_customer_steps_per_s": ref["customer_steps_per_s"],
        "speedup": speedup,
        "peak_rss_mib": headline["peak_rss_mib"],
        "speedup_same_rules": same_rules,
        "policy": args.policy,
        "reference": {k: ref[k] for k in ("policy", "customers", "months", "seconds")},
        "target_bytes_per_customer": TARGET_BYTES_PER_CUSTOMER,
        "sizes": [
            {
                k: r[k]
                for k in (
                    "customers",
                    "months",
                    "seconds",
                    "customer_steps_per_s",
                    "peak_rss_mib",
                    "construct_seconds",
                    "built_rss_mib",
                    "import_rss_mib",
                    "bytes_per_customer",
                    "repeats",
                )
            }
            for r in rows
        ],
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
