"""The ``engagesim`` command line.

``engagesim run [SCENARIO] --policy NAME --seed N [--customers N] [--months N] [--out DIR]``
runs one scenario under one policy and writes ``summary.json``, ``timeseries.csv`` and
``customers.csv``. ``engagesim scenarios`` lists the shipped scenarios. Bad input ends
with exit code 2 and a message naming the file, the key and what was expected.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from sim.model import EngagementModel, __version__
from sim.outputs import write_run
from sim.policies import Policy
from sim.scenario import load_scenario, shipped_scenarios
from sim.schema import InputError

EXIT_INPUT = 2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a seed ≥ 0, got {value}")
    return value


def load_policy_class(spec: str) -> Policy:
    """Instantiate a custom policy given as ``path/to/file.py:ClassName``."""
    path_text, _, cls_name = spec.rpartition(":")
    path = Path(path_text)
    if not path.is_file():
        raise InputError(path, "", "no such policy file (expected FILE.py:ClassName)")
    module_spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:  # a user's file: report, don't crash
        raise InputError(path, "", f"cannot import: {type(exc).__name__}: {exc}") from None
    cls = getattr(module, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise InputError(path, cls_name, "expected a subclass of sim.Policy")
    return cls()


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``engagesim``."""
    parser = argparse.ArgumentParser(
        prog="engagesim",
        description="Compare customer-engagement models with an agent-based simulation.",
    )
    parser.add_argument("--version", action="version", version=f"engagesim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run one scenario under one policy")
    run.add_argument(
        "scenario", nargs="?", default="default", help="shipped scenario name or .toml path"
    )
    run.add_argument(
        "--policy",
        default="hybrid",
        help="policy defined in the scenario (default: hybrid), or FILE.py:ClassName",
    )
    run.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    run.add_argument("--customers", type=_positive_int, help="override number of customers")
    run.add_argument("--months", type=_positive_int, help="override horizon in months")
    run.add_argument(
        "--out", type=Path, help="output folder (default: results/runs/SCENARIO-POLICY-sSEED)"
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar or summary")

    sub.add_parser("scenarios", help="list the shipped scenarios")
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    """Run one scenario and write its outputs."""
    scenario = load_scenario(args.scenario)
    policy = load_policy_class(args.policy) if ".py:" in args.policy else args.policy
    model = EngagementModel(
        scenario, policy, rng=args.seed, customers=args.customers, months=args.months
    )
    out = args.out or Path("results") / "runs" / (
        f"{scenario.name}-{model.policy.name}-s{args.seed}"
    )
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=model.horizon, desc="simulating", unit="step", file=sys.stderr)

    def progress(step: int, total: int) -> None:
        if bar is not None:
            bar.update(1)

    model.run(progress)
    if bar is not None:
        bar.close()
    write_run(model, out, seed=args.seed)
    if not args.quiet:
        summary = json.loads((out / "summary.json").read_text())
        print(_describe(summary, out))
    return 0


def _fmt(value: float | None, spec: str = ",.0f") -> str:
    return "n/a" if value is None else format(value, spec)


def _describe(s: dict, out: Path) -> str:
    ret = ", ".join(f"{m} mo {v:.1%}" for m, v in s["retention"].items())
    lines = [
        f"{s['scenario']} · {s['policy']} · seed {s['seed']} · {s['customers']:,} customers "
        f"· {s['months']} months",
        f"  retention        {ret}",
        f"  LTV / customer   {_fmt(s['ltv_mean'])}   cost to serve {_fmt(s['cost_per_customer'])}"
        f"   profit {_fmt(s['profit_per_customer'])}",
        f"  LTV:CAC          {_fmt(s['ltv_to_cac'], '.2f')}   payback "
        f"{_fmt(s['payback_months'], '.1f')} months   NPS {_fmt(s['nps'], '.0f')}",
        f"  results in       {out}/ (summary.json, timeseries.csv, customers.csv)",
    ]
    return "\n".join(lines)


def cmd_scenarios(args: argparse.Namespace) -> int:
    """List the shipped scenarios, one line each."""
    for name, path in shipped_scenarios().items():
        try:
            description = load_scenario(path).description
        except InputError as exc:
            description = f"(invalid: {exc})"
        print(f"{name:<22} {description}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``engagesim`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = {"run": cmd_run, "scenarios": cmd_scenarios}[args.command]
    try:
        return handler(args)
    except InputError as exc:
        print(f"engagesim: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("engagesim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
