# PYTHON_ARGCOMPLETE_OK  (argcomplete's global completion looks for this line)
"""The ``engagesim`` command line.

* ``engagesim run [SCENARIO] --policy NAME --seed N ...``: one run → ``summary.json``,
  ``timeseries.csv``, ``customers.csv``, ``conversion.csv``;
* ``engagesim compare [SCENARIO] [--policies a,b] [--replications R] ...``: every policy
  with replications → ``runs.csv``, ``summary.csv``, ``report.md`` with figures;
* ``engagesim tactics [SCENARIO] --policy P [--replications R] ...``: the policy without
  each of its programs on the same seeds → which program pays (``tactics.csv``,
  ``report.md``), and whether the programs complement or substitute each other;
* ``engagesim sweep EXPERIMENT [--jobs N] [--backend loky|dask] [--resume] ...``;
* ``engagesim decide [SCENARIO] [--samples N] [--replications R] ...``: every policy at
  every sample of the scenario's ``[uncertainties]`` → which policy to choose, what
  drives the choice, when it flips, what to learn first;
* ``engagesim report DIR``: rebuild a report from stored results;
* ``engagesim scenarios`` / ``engagesim experiments``: list what is shipped;
* ``engagesim init [--out FILE] [--segment NAME:CUSTOMERS:ACV:CHURN ...]
  [--current-policy P] ...``: a commented scenario file from the company's own numbers
  (asks for what is missing), its churn calibrated so the segments lose what was stated;
* ``engagesim explore [SCENARIO] [--port N] [--host H]``: the live page for students.

Bad input ends with exit code 2 and a message naming the file, the key and what was
expected; a sweep in which some runs failed ends with exit code 1; a failure of the
environment (a full disk, a results folder in use) with 3 (every code:
:mod:`sim.files`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

# Only light modules here: ``--help``, ``--version`` and the listings must start without
# Mesa, SciPy, pandas or Matplotlib; each command imports what it runs
# (tests/cli/test_startup.py).
import sim
from sim.files import (
    EXIT_CODES_HELP,
    EXIT_FAILED_RUNS,
    EXIT_INPUT,
    EnvironmentFailure,
    exit_status,
)
from sim.formatting import fixed, money_short
from sim.schema import InputError, Table, read_text
from sim.sweep.defaults import (
    DECIDE_AGENTS,
    DECIDE_REPLICATIONS,
    DECIDE_SAMPLES,
    EXPERIMENT_AGENTS,
)

#: How the command line writes a value the run left undefined (LTV:CAC with no new customers).
NOT_AVAILABLE = "n/a"


def _int_at_least(low: int, what: str):
    """An argparse type: a whole number ≥ ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what} ≥ {low}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1, "a number")


def _jobs(text: str) -> int:
    """An argparse type for ``--jobs``: a positive number, or negative as in joblib."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value == 0:
        raise argparse.ArgumentTypeError("expected a number of workers ≥ 1 (or -1 for all cores)")
    return value
_seed = _int_at_least(0, "a seed")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``engagesim``."""
    parser = argparse.ArgumentParser(
        prog="engagesim",
        description="Compare customer-engagement models with an agent-based simulation.",
        epilog=EXIT_CODES_HELP,
    )
    parser.add_argument("--version", action="version", version=f"engagesim {sim.__version__}")
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
    _add_company_options(run)
    run.add_argument("--months", type=_positive_int, help="override horizon in months")
    run.add_argument(
        "--out", type=Path, help="output folder (default: results/runs/SCENARIO-POLICY-sSEED)"
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar or summary")

    sub.add_parser("scenarios", help="list the shipped scenarios")

    init = sub.add_parser(
        "init", help="write a scenario file from your own numbers (customers, ACV, churn, "
        "CSM cost and book size, platform cost)",
        description="Write a commented scenario file: the default scenario with your numbers "
        "in. Missing values are asked for when stdin is a terminal (Enter keeps the default "
        "shown), else the default scenario's are used; the file says which are yours. The "
        "annual churn you state is the churn you see under the engagement you run today "
        "(--current-policy): each stated segment's base churn is calibrated through the "
        "simulation so that its new customers lose that share in 12 months.",
    )
    init.add_argument("--out", type=Path, default=Path("my_scenario.toml"),
                      help="file to write (default: my_scenario.toml)")
    init.add_argument("--segment", action="append", default=[], metavar="NAME:CUSTOMERS:ACV:CHURN",
                      help="one segment, repeatable: NAME is enterprise, mid_market or smb; "
                      "CUSTOMERS today; ACV per year; CHURN annual logo churn as 0.3 or 30%% "
                      "(e.g. smb:2000:3600:35%%). Segments not given get no customers")
    init.add_argument("--csm-annual-cost", metavar="X",
                      help="loaded annual cost of a named CSM (default: the default scenario's)")
    init.add_argument("--csm-book", metavar="N", help="accounts per named CSM")
    init.add_argument("--pooled-annual-cost", metavar="X",
                      help="loaded annual cost of a pooled CSM")
    init.add_argument("--pooled-book", metavar="N", help="accounts per pooled CSM")
    init.add_argument("--platform-cost", metavar="X",
                      help="platform, content and tooling cost per month (every policy)")
    init.add_argument("--yes", action="store_true",
                      help="ask nothing: take the default for every value not given")
    init.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    init.add_argument("--current-policy", metavar="P",
                      help="the engagement you run today, under which you see the churn you "
                      "state (a policy of the default scenario; default: asked at a "
                      "terminal, else no_touch)")
    init.add_argument("--no-calibrate", action="store_true",
                      help="write the churn you state as the base churn of a middling "
                      "customer, unchanged (the simulated segments then lose less)")
    init.add_argument("--seed", type=int, default=0,
                      help="root seed of the calibration's simulations (default 0)")

    compare = sub.add_parser(
        "compare", help="compare policies on a scenario with replications and a report"
    )
    compare.add_argument(
        "scenario", nargs="?", default="default", help="shipped scenario name or .toml path"
    )
    compare.add_argument(
        "--policies", help="comma-separated policies (default: every policy in the scenario); "
        "a policy class in a Python file is FILE.py:ClassName"
    )
    compare.add_argument("--baseline", help="policy the others are compared with "
                         "(default: no_touch if compared, else the first)")
    compare.add_argument("--replications", type=_positive_int, default=10,
                         help="replications per policy (default: 10)")
    _add_company_options(compare)
    compare.add_argument("--months", type=_positive_int, help="horizon (default: the scenario's)")
    compare.add_argument("--seed", type=_seed, default=0, help="root seed (default: 0)")
    _add_execution_options(compare)

    tactics = sub.add_parser(
        "tactics", help="which program of a policy pays: each program knocked out on the "
        "same random numbers, ranked by the lifetime profit it adds"
    )
    tactics.add_argument(
        "scenario", nargs="?", default="default", help="shipped scenario name or .toml path"
    )
    tactics.add_argument("--policy", required=True,
                         help="the scenario's policy whose programs are knocked out one by one")
    tactics.add_argument("--replications", type=_positive_int, default=10,
                         help="replications per variant (default: 10)")
    _add_company_options(tactics)
    tactics.add_argument("--months", type=_positive_int, help="horizon (default: the scenario's)")
    tactics.add_argument("--seed", type=_seed, default=0, help="root seed (default: 0)")
    _add_execution_options(tactics)

    sweep = sub.add_parser(
        "sweep", help="run an experiment file (factors × policies × replications)"
    )
    sweep.add_argument("experiment", help="experiment .toml path or shipped experiment name")
    sweep.add_argument("--replications", type=_positive_int, help="override replications")
    _add_company_options(sweep, customers="the experiment file's, else the scenario's",
                         agents=f"the experiment file's, else at most {EXPERIMENT_AGENTS:,}")
    sweep.add_argument("--months", type=_positive_int, help="override horizon")
    _add_execution_options(sweep)

    decide = sub.add_parser(
        "decide", help="choose a policy given uncertain assumptions: regret, value of "
        "information, break-evens"
    )
    decide.add_argument(
        "scenario", nargs="?", default="default",
        help="shipped scenario name or .toml path with an [uncertainties] table",
    )
    decide.add_argument("--samples", type=_positive_int, default=DECIDE_SAMPLES,
                        help=f"assumption samples (default: {DECIDE_SAMPLES}); with --design "
                        "saltelli the base samples, a power of two")
    decide.add_argument("--replications", type=_positive_int, default=DECIDE_REPLICATIONS,
                        help=f"runs per policy and sample (default: {DECIDE_REPLICATIONS}; "
                        "≥ 2 lets the report remove simulation noise)")
    decide.add_argument("--policies", help="comma-separated policies (default: all)")
    _add_company_options(decide, agents=f"the scenario's agents, else every customer, "
                         f"at most {DECIDE_AGENTS:,}")
    decide.add_argument("--months", type=_positive_int, help="horizon (default: the scenario's)")
    decide.add_argument("--design", choices=("lhs", "saltelli"), default="lhs",
                        help="lhs: Latin hypercube, given-data sensitivity (default); "
                        "saltelli: first-order and total indices, samples·(d + 2) points")
    decide.add_argument("--seed", type=_seed, default=0, help="root seed (default: 0)")
    _add_execution_options(decide)

    report = sub.add_parser("report", help="rebuild report.md from stored results (no re-runs)")
    report.add_argument("results", type=Path, help="a results folder written by compare or sweep")
    report.add_argument("--jobs", type=_jobs, default=1,
                        help="processes drawing a sweep's figures (default: 1, this one; "
                             "-1 = all cores)")

    sub.add_parser("experiments", help="list the shipped experiments")

    analytic = sub.add_parser(
        "analytic", help="exact Markov-chain expectations for a scenario the chain can express"
    )
    analytic.add_argument("scenario", nargs="?", default="markov_saas",
                          help="shipped scenario name or .toml path (default: markov_saas)")
    analytic.add_argument("--policy", default="hybrid", help="policy (default: hybrid)")
    analytic.add_argument("--customers", type=_positive_int, help="override customers")
    analytic.add_argument("--months", type=_positive_int, help="override horizon in months")
    analytic.add_argument("--json", action="store_true", help="print JSON instead of tables")

    validate = sub.add_parser(
        "validate", help="check the model against theory (analytic, Bass, calibration)"
    )
    validate.add_argument("--out", type=Path, default=Path("results") / "validation",
                          help="report folder (default: results/validation)")
    validate.add_argument("--fast", action="store_true",
                          help="smaller populations and fewer seeds (what CI runs)")
    validate.add_argument("--quiet", action="store_true", help="no progress lines")

    cal = sub.add_parser(
        "calibrate", help="fit churn (shifted-beta-geometric) to a cohort retention table"
    )
    cal.add_argument("table", type=Path, help="CSV with columns period,alive[,segment]")
    cal.add_argument("--fit-periods", type=_int_at_least(2, "a number of periods"),
                     help="fit on periods 0..K (default: all)")
    cal.add_argument("--horizon", type=_positive_int,
                     help="forecast survival to period H (default: the table's last period)")
    cal.add_argument("--period-months", type=float, default=1.0,
                     help="months per period of the table (default: 1)")
    cal.add_argument("--out", type=Path,
                     help="output JSON (default: results/calibrate/TABLE.json); the scenario "
                     "fragment (or, with --scenario, the calibrated scenario) goes next to "
                     "it as .toml")
    cal.add_argument("--scenario",
                     help="calibrate through the simulation of this scenario (shipped name or "
                     ".toml path): fit each segment's churn_propensity so that its simulated "
                     "retention under --policy reproduces the table")
    cal.add_argument("--policy", help="with --scenario: the policy the table's customers had")
    cal.add_argument("--segment-map", nargs="+", metavar="COHORT=SEGMENT", default=[],
                     help="with --scenario: table cohort → scenario segment (cohorts named "
                     "like a segment map to it by default)")
    cal.add_argument("--seed", type=int, default=0,
                     help="with --scenario: root seed of the simulations (default: 0)")
    cal.add_argument("--customers", type=_positive_int,
                     help="with --scenario: agents per simulated cohort (default: 10000)")
    cal.add_argument("--quiet", action="store_true", help="no progress bar")

    explore = sub.add_parser(
        "explore", help="serve the live page: two policies side by side, sliders, step/play"
    )
    explore.add_argument("scenario", nargs="?", default="default",
                         help="shipped scenario name or .toml path (default: default)")
    explore.add_argument("--port", type=_port, default=8765,
                         help="TCP port (default: 8765; 0 picks a free one)")
    explore.add_argument("--host", default="localhost",
                         help="interface to listen on (default: localhost; 0.0.0.0 for all)")
    return parser


def _port(text: str) -> int:
    """An argparse type: a TCP port 0..65535."""
    value = _int_at_least(0, "a port")(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is 0..65535, got {value}")
    return value


def _add_company_options(parser: argparse.ArgumentParser, customers: str = "the scenario's",
                         agents: str = "the scenario's agents, else every customer") -> None:
    """``--customers`` (the company) and ``--agents`` (the sample each run simulates).

    Args:
        parser: The command's parser.
        customers: Where the company's size comes from by default, as the help says it.
        agents: Where the sample size comes from by default.
    """
    parser.add_argument("--customers", type=_positive_int,
                        help=f"the company's customers and prospects (default: {customers})")
    parser.add_argument("--agents", type=_positive_int,
                        help=f"customers each run simulates, a sample of the company "
                        f"(default: {agents})")


def _add_execution_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=_jobs, default=-1,
                        help="worker processes (default: -1 = all cores; -2 = all but one)")
    parser.add_argument("--backend", choices=("loky", "dask"), default="loky",
                        help="loky: local processes (default); dask: a Dask cluster")
    parser.add_argument("--scheduler", help="Dask scheduler address (default: a LocalCluster)")
    parser.add_argument("--out", type=Path, help="output folder (default: a new one in results/)")
    parser.add_argument("--resume", action="store_true",
                        help="finish an interrupted sweep in --out: run only what is missing")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_run(args: argparse.Namespace) -> int:
    """Run one scenario and write its outputs."""
    from sim.engine.model import EngagementModel
    from sim.engine.results import write_run
    from sim.engine.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    model = EngagementModel(  # a FILE.py:ClassName policy is loaded by make_policy
        scenario, args.policy, rng=args.seed, customers=args.customers, months=args.months,
        agents=args.agents,
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

    try:
        model.run(progress)
    finally:
        if bar is not None:
            bar.close()
    write_run(model, out, seed=args.seed)
    if not args.quiet:
        summary = json.loads((out / "summary.json").read_text())
        print(_describe(summary, out))
    return 0


def _describe(summary: dict, out: Path) -> str:
    """The few lines ``engagesim run`` prints about a finished run."""

    def show(key: str, digits: int = 0, thousands: bool = False) -> str:
        return fixed(summary[key], digits, thousands=thousands, missing=NOT_AVAILABLE)

    retention = ", ".join(f"{m} mo {v:.1%}" for m, v in summary["retention"].items())
    simulated = (f" ({summary['agents']:,} simulated)"
                 if summary["agents"] != summary["customers"] else "")
    lines = [
        f"{summary['scenario']} · {summary['policy']} · seed {summary['seed']} · "
        f"{summary['customers']:,} customers{simulated} · {summary['months']} months",
        f"  retention        {retention}",
        f"  per customer     LTV {show('ltv_mean', thousands=True)}   cost to serve "
        f"{show('cost_per_customer', thousands=True)}"
        f"   profit {show('profit_per_customer', thousands=True)}   (within the horizon)",
        f"                   lifetime profit {show('profit_lifetime_per_customer', thousands=True)}"
        "   (with what customers active at the horizon are still worth)",
        f"  company          revenue {money_short(summary['revenue_total'])}   cost "
        f"{money_short(summary['cost_total'])}   profit {money_short(summary['profit_total'])}"
        f"   CSMs to hire {summary['csm_headcount_peak']}",
        *([f"  installed base   net revenue retention {summary['nrr_12']:.1%}   gross "
           f"{summary['grr_12']:.1%}   (after 12 months)"]
          if summary.get("nrr_12") is not None else []),
        *([f"  purchases        {summary['orders']:,} orders   AOV {show('aov', 2)}   "
           f"{show('purchase_frequency', 2)} a month per customer   repeat-purchase rate "
           f"{show('repeat_purchase_rate', 2)}"] if "orders" in summary else []),
        f"  LTV:CAC          {show('ltv_to_cac', 2)}   payback "
        f"{show('payback_months', 1)} months   NPS {show('nps')}",
        f"  results in       {out}/ (summary.json, timeseries.csv, customers.csv, "
        "conversion.csv)",
    ]
    return "\n".join(lines)


def cmd_init(args: argparse.Namespace) -> int:
    """Write a scenario file from the user's numbers, asking for missing ones at a terminal."""
    from sim.theory.scenario_writer import (
        QUESTIONS,
        RUNS_PER_SEGMENT,
        calibrate_churn,
        calibrated_segments,
        collect,
        write_scenario,
    )

    if args.out.exists() and not args.force:  # before any question
        raise InputError(args.out, "", "the file exists; choose another --out or add --force "
                         "to overwrite it")

    def ask(question: str, default: str) -> str:
        return input(f"{question} [{default}]: ")

    interactive = not args.yes and sys.stdin.isatty()
    answers = collect(
        args.segment,
        {key: getattr(args, key) for key in QUESTIONS},
        ask if interactive else None,
        policy=args.current_policy,
        ask_policy=not args.no_calibrate,
    )
    calibration = None
    stated = calibrated_segments(answers)
    if not args.no_calibrate and stated:
        from tqdm import tqdm

        with tqdm(total=len(stated) * RUNS_PER_SEGMENT, desc="calibrating churn", unit="run",
                  file=sys.stderr, disable=None) as bar:
            calibration = calibrate_churn(answers, seed=args.seed,
                                          progress=lambda: bar.update(1))
            bar.total = bar.n
    path = write_scenario(args.out, answers, force=args.force, calibration=calibration)
    yours = ", ".join(sorted(answers.from_user)) or "none (every number is the default's)"
    lines = [f"wrote {path}", f"  your numbers: {yours}"]
    for fit in (calibration or {}).values():
        lines.append(f"  {fit.segment}: you said {fit.stated:.1%} a year under {fit.policy}; "
                     f"base annual_churn {fit.mean:.4g} (measured: {fit.measured:.1%} ± "
                     f"{fit.se:.1%})")
    if args.no_calibrate and stated:
        lines.append("  churn written as stated (--no-calibrate): the simulated segments lose "
                     "less")
    lines.append(f"  next: engagesim run {path} --policy {answers.current_policy}   or   "
                 f"engagesim compare {path}")
    print("\n".join(lines))
    return 0


#: The folders of the shipped scenarios and experiments (``SCENARIO_DIR`` of
#: :mod:`sim.engine.scenario`, ``EXPERIMENT_DIR`` of :mod:`sim.sweep.design`; named here
#: so that listing them imports neither, tests/cli/test_startup.py checks they agree).
SHIPPED = Path(__file__).resolve().parents[1]


def _list_shipped(folder: Path) -> int:
    """Print one line per shipped file: its name and description.

    Only the ``description`` key is read, not the whole file validated (the tests load
    every shipped file, and each command validates what it uses), so that the listing
    needs no simulation library.
    """
    for path in sorted(folder.glob("*.toml")):
        try:
            raw = tomllib.loads(read_text(path, "not valid TOML"))
            description = Table(raw, path).string("description", "")
        except tomllib.TOMLDecodeError as exc:
            description = f"(invalid: {InputError(path, '', f'not valid TOML: {exc}')})"
        except InputError as exc:
            description = f"(invalid: {exc})"
        print(f"{path.stem:<22} {description}")
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    """List the shipped scenarios, one line each."""
    return _list_shipped(SHIPPED / "scenarios")


def _timestamp() -> str:
    """Local time as ``YYYYmmdd-HHMMSS``, for default output folder names."""
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def _execute(experiment, args: argparse.Namespace, default_out: Path,
             extra: dict | None = None, then=None) -> int:
    """Run an experiment, build its report, and print where things are.

    ``then(out)``, if given, runs after the experiment and before the report (compare:
    the plan of the segment winners) and returns how many runs it adds to the folder.
    """
    from sim.sweep.runner import sweep

    if args.resume and args.out is None:
        raise InputError(None, "--resume", "needs --out: the folder of the sweep to finish")
    out = args.out or default_out
    result = sweep(
        experiment,
        out,
        jobs=args.jobs,
        backend=args.backend,
        scheduler=args.scheduler,
        resume=args.resume,
        progress=not args.quiet,
        command=" ".join(["engagesim", *sys.argv[1:]]),
        extra=extra,
    )
    print(f"{result.ran} runs in {result.seconds:.1f} s → {out}/runs.csv")
    total, failed = result.total, result.failed
    if then is not None:
        total += then(out)
        failed = sum(1 for record in result.store.records() if record.get("error"))
    report = _build_report(out, args.jobs if args.backend == "loky" else 1)
    if report is not None:
        print(f"report: {report}")
    if failed:
        print(f"engagesim: {failed} of {total} runs failed (see the error column "
              "of runs.csv)", file=sys.stderr)
        return EXIT_FAILED_RUNS
    return 0


def _build_report(out: Path, jobs: int = 1) -> Path | None:
    """Write the report of a results folder: a decision's, a tactics', or a sweep's.

    ``jobs``: processes drawing a sweep's figures (as ``--jobs``; the local pool the
    runs used).
    """
    from sim.sweep.store import ResultStore

    if ResultStore(out).manifest().get("kind") == "decide":
        from sim.analysis.decision_report import build_decision_report

        return build_decision_report(out)
    if ResultStore(out).manifest().get("kind") == "tactics":
        from sim.analysis.tactics import build_tactics_report

        return build_tactics_report(out)
    from sim.analysis.report import build_report
    from sim.sweep.pool import effective_jobs, use_forkserver

    use_forkserver()
    return build_report(out, workers=effective_jobs(jobs))


def _start_workers(args: argparse.Namespace) -> None:
    """Start the local workers of ``--jobs`` now, so they import while this process does.

    Every command that calls this ends with a report: its statistics are imported here.

    Workers start from a forkserver (:func:`sim.sweep.pool.use_forkserver`): this entry
    point guards its main module, as a forkserver needs.
    """
    from sim.sweep.pool import use_forkserver, warm

    use_forkserver()
    if args.backend == "loky" and args.jobs != 1:
        warm(args.jobs)
    # the report at the end needs scipy.stats (about 0.8 s to import; a run does not):
    # imported now, it overlaps the workers' start instead of delaying the report
    import sim.analysis.statistics  # noqa: F401


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare policies on one scenario: replications, statistics, report."""
    _start_workers(args)
    from sim.engine.scenario import load_scenario
    from sim.sweep.design import experiment_from_dict

    scenario = load_scenario(args.scenario)
    raw: dict = {
        "scenario": str(args.scenario),
        "replications": args.replications,
        "customers": args.customers or scenario.population.customers,
        "agents": args.agents or scenario.population.agents
        or args.customers or scenario.population.customers,
        "months": args.months or scenario.time.months,
        "seed": args.seed,
    }
    if args.policies:
        raw["policies"] = [name.strip() for name in args.policies.split(",") if name.strip()]
    if args.baseline:
        raw["baseline"] = args.baseline
    experiment = experiment_from_dict(raw, "engagesim compare", name="compare")
    scenario_name = experiment.scenario.name
    default_out = Path("results") / "compare" / f"{scenario_name}-s{args.seed}-{_timestamp()}"
    return _execute(experiment, args, default_out,
                    then=lambda out: _run_winners_plan(experiment, args, out))


def _run_winners_plan(experiment, args: argparse.Namespace, out: Path) -> int:
    """Run the plan of the segment winners as one more policy (compare only).

    When the winners (by lifetime profit) differ across segments, the plan
    ``plan:SEGMENT=WINNER,…`` runs once per replication with that replication's seed
    (common random numbers), as run ids after the experiment's own, in the same folder.
    A run already stored for this plan is not run again (``--resume``); a stored run of
    another plan at the same id is replaced.

    Returns:
        The plan's runs in the folder (0 when no plan is needed).
    """
    from sim.analysis.report import winners_plan
    from sim.engine.plan import plan_name
    from sim.sweep.design import Run
    from sim.sweep.runner import effective_jobs, execute_runs
    from sim.sweep.store import ResultStore

    store = ResultStore(out)
    chosen = winners_plan(store.read_runs(), experiment.baseline)
    if chosen is None or len(set(chosen.values())) == 1:
        return 0
    name = plan_name(chosen)
    if name in experiment.policies:
        return 0
    runs = experiment.runs()
    first = [run for run in runs if run.policy == experiment.policies[0]]
    plan_runs = [Run(len(runs) + i, run.point, name, run.replication, run.seed, run.factors)
                 for i, run in enumerate(first)]
    ok = store.done()  # a successful record with its series (a lost series is run again)
    done = {record["run_id"] for record in store.records()
            if record["policy"] == name and record["run_id"] in ok}
    todo = [run for run in plan_runs if run.run_id not in done]
    with store.locked():
        for _, _, record, series in execute_runs(
            experiment.scenario, todo, {run.point: {} for run in todo},
            effective_jobs(args.jobs, len(todo)), journal=store.root,
        ):
            if record is not None:  # not stored by a worker
                store.save(record, series)
        store.finish()
    print(f"plan of the segment winners: {name} ({len(todo)} runs"
          f"{', the rest done before' if len(todo) < len(plan_runs) else ''})")
    return len(plan_runs)


def cmd_tactics(args: argparse.Namespace) -> int:
    """Knock out each program of a policy on the same seeds; rank what each adds."""
    _start_workers(args)
    from sim.analysis.tactics import tactics_experiment

    experiment, extra = tactics_experiment(
        args.scenario, args.policy, replications=args.replications, customers=args.customers,
        agents=args.agents, months=args.months, seed=args.seed,
    )
    default_out = Path("results") / "tactics" / (
        f"{experiment.scenario.name}-{args.policy}-s{args.seed}-{_timestamp()}"
    )
    return _execute(experiment, args, default_out, extra)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run an experiment file."""
    _start_workers(args)
    from sim.sweep.design import load_experiment

    experiment = load_experiment(
        args.experiment,
        replications=args.replications,
        customers=args.customers,
        agents=args.agents,
        months=args.months,
    )
    default_out = Path("results") / "sweeps" / f"{experiment.name}-{_timestamp()}"
    return _execute(experiment, args, default_out)


def cmd_decide(args: argparse.Namespace) -> int:
    """Run every policy at every sample of the scenario's uncertainties; write the decision."""
    from sim.analysis.decision_report import assumption_record
    from sim.engine.scenario import load_scenario
    from sim.sweep.design import decision_experiment, saltelli_samples_problem

    if args.design == "saltelli" and (problem := saltelli_samples_problem(args.samples)):
        raise InputError(None, "--samples", problem)
    scenario = load_scenario(args.scenario)
    policies = None
    if args.policies:
        policies = tuple(name.strip() for name in args.policies.split(",") if name.strip())
    experiment = decision_experiment(
        scenario,
        samples=args.samples,
        replications=args.replications,
        policies=policies,
        customers=args.customers,
        agents=args.agents,
        months=args.months,
        seed=args.seed,
        design=args.design,
    )
    economics = experiment.scenario.economics
    extra = {
        "kind": "decide",
        "assumptions": [assumption_record(u) for u in experiment.scenario.uncertainties],
        "fixed": {
            "horizon": f"{experiment.months} months",
            "annual discount rate": f"{economics.annual_discount_rate:.0%}",
            "company size": f"{experiment.customers:,} customers and prospects",
            "customers simulated per run": f"{experiment.agents:,}",
            "gross margin": f"{economics.gross_margin:.0%}",
        },
    }
    default_out = Path("results") / "decide" / f"{scenario.name}-s{args.seed}-{_timestamp()}"
    return _execute(experiment, args, default_out, extra)


def cmd_report(args: argparse.Namespace) -> int:
    """Rebuild the report of a results folder."""
    from sim.sweep.store import ResultStore

    store = ResultStore(args.results)
    store.manifest()  # a clear error if it is not a results folder
    with store.locked():  # not while a --resume writes it
        store.check()  # every run's row and series, runs.csv's checksum: else what is missing
        print(f"report: {_build_report(args.results, args.jobs)}")
    return 0


def cmd_experiments(args: argparse.Namespace) -> int:
    """List the shipped experiments, one line each."""
    return _list_shipped(SHIPPED / "experiments")


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Fit churn to a cohort table: the sBG model, or (``--scenario``) the simulation."""
    from sim.theory.calibration import calibrate, write_outputs

    if not args.period_months > 0:
        raise InputError(None, "--period-months", f"expected > 0, got {args.period_months}")
    if args.scenario is not None:
        return _calibrate_simulation(args)
    for flag, value in (("--policy", args.policy), ("--customers", args.customers),
                        ("--segment-map", args.segment_map)):
        if value:
            raise InputError(None, flag, "only with --scenario (calibrating through the "
                             "simulation)")
    result = calibrate(args.table, fit_periods=args.fit_periods, horizon=args.horizon)
    out = args.out or Path("results") / "calibrate" / f"{args.table.stem}.json"
    json_path, toml_path = write_outputs(result, out, period_months=args.period_months)
    for name, seg in result.segments.items():
        alpha_se, beta_se = (fixed(se, 3, thousands=False, missing=NOT_AVAILABLE)
                             for se in (seg.alpha_se, seg.beta_se))
        line = (
            f"{name:<14} alpha {seg.alpha:.3f} ± {alpha_se}   "
            f"beta {seg.beta:.3f} ± {beta_se}   "
            f"survival at period {seg.horizon}: {seg.survival[-1]:.1%}"
        )
        print(line)
        if seg.warning:
            print(f"  warning: {seg.warning}")
    print(f"fit:      {json_path}\nscenario: {toml_path} (paste into a scenario's [segments])")
    return 0


def _segment_map(pairs: Sequence[str]) -> dict[str, str]:
    """``--segment-map COHORT=SEGMENT ...`` as a dict."""
    out = {}
    for pair in pairs:
        cohort, sep, segment = pair.partition("=")
        if not sep or not cohort.strip() or not segment.strip():
            raise InputError(None, "--segment-map",
                             f"expected TABLE_COHORT=SCENARIO_SEGMENT, got {pair!r}")
        out[cohort.strip()] = segment.strip()
    return out


def _calibrate_simulation(args: argparse.Namespace) -> int:
    """``engagesim calibrate TABLE --scenario S --policy P``: fit through the simulation."""
    from sim.theory import simulated_calibration as simcal

    for flag, value in (("--fit-periods", args.fit_periods), ("--horizon", args.horizon)):
        if value is not None:
            raise InputError(None, flag, "only for the sBG fit (without --scenario)")
    if not args.policy:
        raise InputError(None, "--policy", "required with --scenario: the policy the "
                         "table's customers were under")
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(desc="simulating", unit="run", file=sys.stderr)
    try:
        result = simcal.calibrate_to_simulation(
            args.table, args.scenario, args.policy,
            segment_map=_segment_map(args.segment_map), seed=args.seed,
            agents=args.customers or simcal.DEFAULT_AGENTS, period_months=args.period_months,
            progress=None if bar is None else lambda: bar.update(1),
        )
    finally:
        if bar is not None:
            bar.close()
    out = args.out or Path("results") / "calibrate" / f"{args.table.stem}.json"
    json_path, toml_path = simcal.write_simulated_outputs(result, out)
    print(f"{result.table} through {result.scenario} under policy {result.policy!r} "
          f"(seed {result.seed}, {result.agents:,} agents per cohort)")
    for fit in result.segments.values():
        check = fit.check
        mean = fit.alpha / (fit.alpha + fit.beta)
        print(f"\n{fit.segment} (table cohort {fit.table_segment}, {fit.cohort_size:,} "
              f"customers): churn_propensity Beta(alpha {fit.alpha:.4g}, beta {fit.beta:.4g}), "
              f"mean {mean:.2%}/month; {fit.evaluations} runs")
        print("  period   table  simulated      z")
        for k, (t, s, z) in enumerate(zip(check.table, check.simulated, check.z, strict=True)):
            print(f"  {k:>6}  {t:6.1%}  {s:9.1%}  {z:+5.2f}")
        verdict = "within" if check.max_abs_z <= simcal.Z_LIMIT else "NOT within"
        print(f"  max |z| {check.max_abs_z:.2f} on a fresh seed ({verdict} "
              f"{simcal.Z_LIMIT:g} SE); {fit.fit.max_abs_z:.2f} on the fit's seed")
    if result.skipped:
        print(f"\nnot calibrated (no scenario segment): {', '.join(result.skipped)}")
    print(f"\nfit:      {json_path}\nscenario: {toml_path} (engagesim run {toml_path} "
          f"--policy {result.policy})")
    return 0


def cmd_analytic(args: argparse.Namespace) -> int:
    """Print the exact expectations of a Markov-expressible scenario."""
    from sim.engine.scenario import load_scenario
    from sim.theory.expressibility import NotMarkovian
    from sim.theory.markov import analyse
    from sim.theory.markov_report import describe

    overrides = {}
    if args.customers:
        overrides["population.customers"] = args.customers
    if args.months:
        overrides["time.months"] = args.months
    scenario = load_scenario(args.scenario, overrides=overrides or None)
    try:
        result = analyse(scenario, args.policy)
    except NotMarkovian as exc:
        print(f"engagesim: {scenario.source}: the Markov chain cannot express this "
              f"scenario under policy {args.policy!r}:\n{exc}", file=sys.stderr)
        return EXIT_INPUT
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(describe(result))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Run every validation check and write the report."""
    from sim.validation.suite import run_validation

    result = run_validation(args.out, fast=args.fast, progress=not args.quiet)
    failed = [c for c in result.checks if not c.passed]
    print(f"{len(result.checks) - len(failed)} of {len(result.checks)} checks passed; "
          f"report: {result.report}")
    for check in failed:
        print(f"FAILED: {check.name}: {check.detail}", file=sys.stderr)
    return 0 if result.passed else EXIT_FAILED_RUNS


def cmd_explore(args: argparse.Namespace) -> int:
    """Check the scenario, the extra and the port, print the address, serve the page."""
    from sim.engine.scenario import load_scenario
    from sim.explore import serve

    load_scenario(args.scenario)  # bad input: exit 2 before a server starts
    problem = serve.missing_requirements()
    if problem:
        print(f"engagesim: error: {problem}", file=sys.stderr)
        return EXIT_INPUT
    missing = serve.missing_assets()
    if missing:
        print(
            f"engagesim: warning: front-end files missing under {serve.asset_dir()}: "
            f"{', '.join(missing)}; the page cannot load without them, it fetches nothing "
            '(pip install -e ".[explore]" installs them)',
            file=sys.stderr,
        )
    try:
        port = args.port or serve.free_port(args.host)
        busy = serve.port_in_use(args.host, port)
    except OSError as exc:  # e.g. a host name that does not resolve
        print(f"engagesim: error: cannot listen on {args.host}: {exc}", file=sys.stderr)
        return EXIT_INPUT
    if busy:
        print(
            f"engagesim: error: port {port} on {args.host} is in use; "
            "choose another with --port N (--port 0 picks a free one)",
            file=sys.stderr,
        )
        return EXIT_INPUT
    shown = "localhost" if args.host in ("0.0.0.0", "::") else args.host
    print(f"engagesim explore: {args.scenario} at http://{shown}:{port}/  (Ctrl+C stops)",
          flush=True)
    return serve.serve(args.scenario, args.host, port)


def _complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's tab completion and exit, when argcomplete asks for it.

    argcomplete (``pip install -e ".[completion]"``) sets ``_ARGCOMPLETE`` when the shell
    wants completions; otherwise nothing is imported and start-up pays nothing.
    """
    if "_ARGCOMPLETE" not in os.environ:
        return
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``engagesim`` console script."""
    parser = build_parser()
    _complete(parser)
    args = parser.parse_args(argv)
    handler = {
        "run": cmd_run,
        "scenarios": cmd_scenarios,
        "init": cmd_init,
        "compare": cmd_compare,
        "tactics": cmd_tactics,
        "sweep": cmd_sweep,
        "decide": cmd_decide,
        "report": cmd_report,
        "experiments": cmd_experiments,
        "calibrate": cmd_calibrate,
        "analytic": cmd_analytic,
        "validate": cmd_validate,
        "explore": cmd_explore,
    }[args.command]
    try:
        return handler(args)
    except (InputError, OSError, EnvironmentFailure, KeyboardInterrupt) as exc:
        # one line and an exit code per kind of failure (sim.files documents the codes)
        code, message = exit_status(exc)
        prefix = "" if isinstance(exc, KeyboardInterrupt) else "error: "
        print(f"engagesim: {prefix}{message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
