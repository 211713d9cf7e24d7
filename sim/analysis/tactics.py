"""Which program of a policy pays: knockouts, ranked, and the whole against its parts.

Concept: a policy is a set of programs. ``engagesim tactics`` runs the policy ``P``, ``P``
without each of its programs (:mod:`sim.engine.knockout`: ``knockout:P/X``) and ``P``
with none of them (``knockout:P/*``, its platform alone), all on the same seeds. What a
program adds is ``P − (P without it)``, paired by replication: its incremental lifetime
profit for the company and per customer, retention, cost, and its return on investment
(ROI = incremental lifetime profit ÷ incremental lifetime cost to serve, both for the
company). Programs are ranked by their incremental lifetime profit.

The parts need not add up to the whole: ``P − none`` (every program together) minus the
sum of the programs' knockout differences is the *interaction*. Positive: the whole is
worth more than its parts measured one at a time — the programs overlap (substitutes:
without one, the others cover much of what it did, so each looks small alone). Negative:
the parts add up to more than the whole — each program makes the others work better
(complements: removing one also takes away what it enabled).

:func:`tactics_experiment` builds the runs; :func:`build_tactics_report` reads a tactics
folder (``manifest.json``, ``runs.csv``) and writes ``tactics.csv``, the figure and
``report.md``. It never runs a model, so rebuilding gives the same files.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis import outcomes, tactics_plots
from sim.analysis.company import lifetime_profit, weights
from sim.analysis.plots import label
from sim.analysis.statistics import PAIR, failed_mask, mean_ci
from sim.engine.knockout import knockout_name
from sim.engine.scenario import load_scenario
from sim.files import atomic_write_bytes
from sim.formatting import markdown_table, money_short, percent, points
from sim.schema import InputError, suggest
from sim.sweep.design import Experiment, experiment_from_dict
from sim.sweep.store import ResultStore

KIND = "tactics"
"""The manifest's ``kind`` of a tactics folder."""
LEVEL = 0.95
"""Confidence level of every interval."""
PROFIT = "profit_lifetime_company"
"""The company's lifetime profit of a run (:func:`sim.analysis.company.lifetime_profit`)."""
PROFIT_PER_CUSTOMER = "profit_lifetime_per_customer"
COST = "cost_lifetime_company"
"""The company's lifetime cost to serve of a run (lifetime cost per customer × converted ×
weight): the denominator of the ROI."""
ENGAGEMENT = "cost_engagement_total"
"""The company's engagement cost within the horizon: platform, touches, set-up, staff."""
BY_TYPE = ("cost_touch_total", "cost_setup_total", "cost_staff_total")
"""The engagement costs a program can change (the platform stays)."""
HEADCOUNT = "csm_headcount_peak"
RETENTION = outcomes.RETENTION[12]
"""The retention compared: 12 months after conversion (the longest measured if shorter)."""
ROI = "roi"
"""The ROI's metric name in ``tactics.csv`` (a ratio of two mean differences, no interval)."""
LOWER_IS_BETTER = frozenset({COST, ENGAGEMENT, *BY_TYPE})
WHOLE = "(all programs)"
"""``tactics.csv``'s program for the whole: the policy against its platform alone."""
PARTS = "(sum of the parts)"
"""The sum of every program's knockout difference."""
INTERACTION = "(whole - sum of parts)"
"""The interaction: the whole less the sum of the parts."""
CSV_COLUMNS = ("program", "metric", "n", "diff_mean", "diff_ci_low", "diff_ci_high",
               "share_better")
FIGURE = "figures/tactics.png"


# -- the runs ------------------------------------------------------------------------------
def tactics_experiment(
    scenario: str,
    policy: str,
    *,
    replications: int,
    customers: int | None = None,
    agents: int | None = None,
    months: int | None = None,
    seed: int = 0,
) -> tuple[Experiment, dict[str, Any]]:
    """The runs of ``engagesim tactics`` and the manifest entries that describe them.

    The experiment runs ``policy``, ``policy`` without each of its programs and
    ``policy`` without any (in that order) with ``replications`` seeds shared by all
    (common random numbers); its baseline is ``policy``.

    Args:
        scenario: A shipped scenario's name or a scenario file.
        policy: One of the scenario's policies, with at least one program.
        replications: Runs per variant.
        customers: The company's customers (default: the scenario's).
        agents: Customers each run simulates (default: the scenario's, else every one).
        months: Horizon (default: the scenario's).
        seed: Root seed.

    Returns:
        ``(experiment, extra)``: ``extra`` goes into the manifest (``kind``, the policy,
        its programs with their channels and knockout names, the "none" variant).

    Raises:
        InputError: ``policy`` is not one of the scenario's policies (a plan, a policy
            file or a knockout is refused: their programs are not the scenario's), or
            it has no programs.
    """
    loaded = load_scenario(scenario)
    if policy not in loaded.policies:
        raise InputError(None, "--policy", f"expected a policy of scenario {loaded.name!r} "
                         f"with programs, got {policy!r}" + suggest(policy, loaded.policies)
                         + f"; this scenario defines: {', '.join(loaded.policies)}")
    spec = loaded.policies[policy]
    if not spec.programs:
        raise InputError(None, "--policy", f"policy {policy!r} of scenario {loaded.name!r} has "
                         "no programs: there is nothing to knock out")
    raw: dict[str, Any] = {
        "scenario": str(scenario),
        "replications": replications,
        "customers": customers or loaded.population.customers,
        "agents": agents or loaded.population.agents or customers
        or loaded.population.customers,
        "months": months or loaded.time.months,
        "seed": seed,
        "policies": [policy],
    }
    base = experiment_from_dict(raw, "engagesim tactics", name=KIND)
    programs = [{"name": p.name, "channel": p.channel, "policy": knockout_name(policy, p.name)}
                for p in spec.programs]
    none = knockout_name(policy)
    policies = (policy, *(p["policy"] for p in programs), none)
    experiment = dataclasses.replace(
        base, policies=policies, baseline=policy,
        raw={**raw, "policies": list(policies), "kind": KIND},
    )
    extra = {"kind": KIND, "policy": policy, "programs": programs, "none": none}
    return experiment, extra


# -- the statistics ------------------------------------------------------------------------
def with_company_columns(runs: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``runs`` with the company's lifetime profit and cost and engagement cost.

    Adds :data:`PROFIT`, :data:`COST` and :data:`ENGAGEMENT` (when the runs have what
    they are made of).
    """
    frame = runs.copy()
    if {PROFIT_PER_CUSTOMER, "converted"} <= set(frame.columns):
        frame[PROFIT] = lifetime_profit(frame)
    if {"cost_lifetime_per_customer", "converted"} <= set(frame.columns):
        frame[COST] = (frame["cost_lifetime_per_customer"].astype(float).fillna(0.0)
                       * frame["converted"].astype(float) * weights(frame))
    parts = [f"cost_{kind}_total" for kind in ("fixed", "touch", "setup", "staff")]
    if set(parts) <= set(frame.columns):
        frame[ENGAGEMENT] = frame[parts].astype(float).sum(axis=1)
    return frame


def retention_metric(runs: pd.DataFrame) -> str | None:
    """12-month retention when the runs measured it, else the longest they did."""
    measured = [name for name in outcomes.RETENTION.values()
                if name in runs.columns and runs[name].notna().any()]
    if RETENTION in measured:
        return RETENTION
    return measured[-1] if measured else None


def metrics_of(runs: pd.DataFrame) -> list[str]:
    """The metrics the report compares, in its order (those the runs have)."""
    wanted = [PROFIT, PROFIT_PER_CUSTOMER, retention_metric(runs), COST, ENGAGEMENT,
              *BY_TYPE, HEADCOUNT]
    return [m for m in wanted if m is not None and m in runs.columns]


def _lower_is_better(metric: str) -> bool:
    return metric in LOWER_IS_BETTER or outcomes.lower_is_better(metric)


def values(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per (point, replication), one column per policy: the successful runs' values."""
    ok = runs[~failed_mask(runs)]
    return ok.set_index([*PAIR, "policy"])[metric].astype(float).unstack("policy")


def difference_stats(diff: np.ndarray, metric: str, level: float = LEVEL) -> dict[str, Any]:
    """Mean, Student-t CI and share better of paired differences of ``metric``.

    ``share_better`` is the share of pairs in which the difference is an improvement:
    positive, or negative for a cost.
    """
    diff = np.asarray(diff, dtype=float)
    diff = diff[np.isfinite(diff)]
    mean, _, low, high, n = mean_ci(diff, level)
    better = diff < 0 if _lower_is_better(metric) else diff > 0
    return {"n": n, "diff_mean": mean, "diff_ci_low": low, "diff_ci_high": high,
            "share_better": float(better.mean()) if n else math.nan}


def program_table(runs: pd.DataFrame, policy: str, knockouts: Mapping[str, str],
                  level: float = LEVEL) -> pd.DataFrame:
    """What each program adds: ``policy − knockout`` per metric, paired, and its ROI.

    Args:
        runs: A tactics folder's runs (with :func:`with_company_columns`).
        policy: The whole policy.
        knockouts: Program → the name of the policy without it.
        level: Confidence level.

    Returns:
        Tidy table of :data:`CSV_COLUMNS`, programs ranked by the lifetime profit they
        add for the company (best first), each with a :data:`ROI` row: the mean
        incremental lifetime profit ÷ the mean incremental lifetime cost to serve
        (``nan`` unless the program costs more).
    """
    metrics = metrics_of(runs)
    tables = {metric: values(runs, metric) for metric in metrics}
    rows = []
    for program, knocked in knockouts.items():
        for metric in metrics:
            table = tables[metric]
            if policy in table and knocked in table:
                diff = (table[policy] - table[knocked]).to_numpy()
            else:
                diff = np.array([])
            rows.append({"program": program, "metric": metric,
                         **difference_stats(diff, metric, level)})
    frame = pd.DataFrame(rows, columns=list(CSV_COLUMNS))
    roi_rows = []
    for program in knockouts:
        mine = frame[frame["program"] == program].set_index("metric")["diff_mean"]
        profit, cost = mine.get(PROFIT, math.nan), mine.get(COST, math.nan)
        roi = profit / cost if cost > 0 else math.nan
        n = int(frame.loc[(frame["program"] == program) & (frame["metric"] == PROFIT), "n"]
                .max()) if PROFIT in mine else 0
        roi_rows.append({"program": program, "metric": ROI, "n": n, "diff_mean": roi,
                         "diff_ci_low": math.nan, "diff_ci_high": math.nan,
                         "share_better": math.nan})
    frame = pd.concat([frame, pd.DataFrame(roi_rows, columns=list(CSV_COLUMNS))],
                      ignore_index=True)
    return rank(frame)


def rank(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` with its programs ordered by incremental lifetime profit."""
    profit = frame[frame["metric"] == PROFIT].set_index("program")["diff_mean"]
    order = list(profit.sort_values(ascending=False, kind="stable", na_position="last").index)
    order += [p for p in dict.fromkeys(frame["program"]) if p not in order]
    position = {program: k for k, program in enumerate(order)}
    key = frame["program"].map(position)
    return frame.assign(_key=key).sort_values("_key", kind="stable").drop(columns="_key") \
        .reset_index(drop=True)


def interaction_table(runs: pd.DataFrame, policy: str, knockouts: Sequence[str], none: str,
                      metrics: Sequence[str] | None = None,
                      level: float = LEVEL) -> pd.DataFrame:
    """The whole (``policy − none``) against the sum of the parts (Σ ``policy − knockout``).

    Per (point, replication) in which every variant ran: ``whole = v(policy) − v(none)``,
    ``parts = Σ_X (v(policy) − v(policy without X))`` and ``interaction = whole − parts``;
    each is summarised as a paired difference (mean, Student-t CI, share of pairs in
    which it is an improvement).

    Args:
        runs: A tactics folder's runs.
        policy: The whole policy.
        knockouts: The policy without each program.
        none: The policy without any program.
        metrics: The metrics (default: :func:`metrics_of`).
        level: Confidence level.

    Returns:
        Tidy table of :data:`CSV_COLUMNS` with programs :data:`WHOLE`, :data:`PARTS`
        and :data:`INTERACTION`.
    """
    metrics = metrics_of(runs) if metrics is None else list(metrics)
    rows = []
    needed = [policy, *knockouts, none]
    for metric in metrics:
        table = values(runs, metric)
        if all(name in table for name in needed):
            table = table[needed].dropna()
            whole = (table[policy] - table[none]).to_numpy()
            parts = sum((table[policy] - table[k]).to_numpy() for k in knockouts)
        else:
            whole = parts = np.array([])
        for name, diff in ((WHOLE, whole), (PARTS, parts), (INTERACTION, whole - parts)):
            stats = difference_stats(diff, metric, level)
            if name == INTERACTION:  # no direction: say only how often it is positive
                stats["share_better"] = float(np.mean(diff > 0)) if stats["n"] else math.nan
            rows.append({"program": name, "metric": metric, **stats})
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS))


def interaction_words(whole: float, parts: float, low: float, high: float) -> str:
    """Whether the programs complement or substitute each other, in plain words.

    Args:
        whole: Mean lifetime profit of every program together over none.
        parts: Mean sum of what each program adds alone (its knockout difference).
        low: Lower end of the CI of ``whole − parts``.
        high: Upper end.
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        return ("With a single replication there is no interval: run more replications "
                "to tell whether the programs overlap or reinforce each other.")
    if low > 0:
        return ("The programs **substitute for each other** (they overlap): together they add "
                "more than the sum of what each adds when it alone is removed, because "
                "without one of them the others still do much of its work. Each program's "
                "own figure above understates what the set is worth; removing two of them "
                "would cost more than their two figures.")
    if high < 0:
        return ("The programs **complement each other** (they reinforce each other): the sum "
                "of what each adds when it alone is removed exceeds what they add together, "
                "because removing one also takes away what it made the others achieve. The "
                "programs' own figures overstate their separate worth; they add up to more "
                "than the whole.")
    return ("The whole and the sum of the parts **do not differ detectably** (the CI of the "
            "difference includes 0): the programs act roughly independently, so each "
            "program's figure is its own share of the whole.")


# -- the report ----------------------------------------------------------------------------
def build_tactics_report(root: str | Path) -> Path:
    """Write ``tactics.csv``, the figure and ``report.md`` of a tactics folder.

    Args:
        root: A folder written by ``engagesim tactics``.

    Returns:
        The path of ``report.md``.

    Raises:
        InputError: ``root`` is not a results folder or has no ``runs.csv``.
    """
    root = Path(root)
    store = ResultStore(root)
    manifest = store.manifest()
    runs = with_company_columns(store.read_runs())
    policy, none = manifest["policy"], manifest["none"]
    programs = manifest["programs"]
    knockouts = {p["name"]: p["policy"] for p in programs}
    table = program_table(runs, policy, knockouts)
    together = interaction_table(runs, policy, list(knockouts.values()), none)
    tidy = pd.concat([table, together], ignore_index=True)
    atomic_write_bytes(root / "tactics.csv",
                       tidy.to_csv(index=False, lineterminator="\n").encode())
    figure = None
    profit = table[table["metric"] == PROFIT]
    if profit["n"].sum() > 0:
        figure = tactics_plots.incremental_profit_bars(
            list(profit["program"]), profit["diff_mean"], profit["diff_ci_low"],
            profit["diff_ci_high"],
            title=f"What each program of {label(policy)} adds: lifetime profit for the company",
            path=root / FIGURE)
    text = render(manifest, runs, table, together, figure is not None)
    path = root / "report.md"
    atomic_write_bytes(path, text.encode())
    return path


def _money(value: float, signed: bool = True) -> str:
    if not math.isfinite(value):
        return "–"
    text = money_short(value)
    return f"+{text}" if signed and value > 0 else text


def _format(metric: str, value: float, signed: bool = True) -> str:
    if metric.startswith("retention"):
        return points(value, signed=signed)
    if metric == HEADCOUNT:
        return f"{value:+.1f}" if math.isfinite(value) else "–"
    return _money(value, signed)


def _with_ci(row: Mapping[str, Any], metric: str) -> str:
    mean = _format(metric, row["diff_mean"])
    if not (math.isfinite(row["diff_ci_low"]) and math.isfinite(row["diff_ci_high"])):
        return mean
    return (f"{mean} ({_format(metric, row['diff_ci_low'])} to "
            f"{_format(metric, row['diff_ci_high'])})")


def _roi(value: float, cost: float) -> str:
    if math.isfinite(value):
        return f"{value:.1f}×"
    if math.isfinite(cost) and cost < 0:
        return "saves cost"
    return "–"


def _verdict(row: Mapping[str, Any]) -> str:
    low, high = row["diff_ci_low"], row["diff_ci_high"]
    if not (math.isfinite(low) and math.isfinite(high)):
        return "one replication: no interval"
    if low > 0:
        return "it pays"
    if high < 0:
        return "it loses money"
    return "too close to call (the CI includes 0)"


def _metric_label(metric: str) -> str:
    names = {PROFIT: "lifetime profit (company)", COST: "lifetime cost to serve (company)",
             ENGAGEMENT: "engagement cost", HEADCOUNT: "CSMs to hire",
             PROFIT_PER_CUSTOMER: "lifetime profit / customer", "cost_touch_total": "touches",
             "cost_setup_total": "set-up", "cost_staff_total": "staff"}
    return names.get(metric, outcomes.label(metric))


def render(manifest: Mapping[str, Any], runs: pd.DataFrame, table: pd.DataFrame,
           together: pd.DataFrame, figure: bool) -> str:
    """The text of ``report.md`` (see :func:`build_tactics_report`)."""
    policy = manifest["policy"]
    channels = {p["name"]: p["channel"] for p in manifest["programs"]}
    by = {(r["program"], r["metric"]): r for r in table.to_dict("records")}
    ranked = list(dict.fromkeys(table["program"]))
    retention = retention_metric(runs)
    n_pairs = max((int(r["n"]) for r in table.to_dict("records") if r["metric"] == PROFIT),
                  default=0)
    lines = [f"# Which program of {label(policy)} pays — scenario `{manifest.get('scenario')}`",
             "",
             f"Each program of **{label(policy)}** against {label(policy)} without it, on the "
             f"same random numbers ({n_pairs} paired replications of "
             f"{manifest.get('months', '?')} months, company of "
             f"{manifest.get('customers', 0):,} customers and prospects). Ranked by the "
             "lifetime profit the program adds for the company; 95 % confidence intervals "
             "in parentheses.", ""]
    for k, program in enumerate(ranked, 1):
        profit = by.get((program, PROFIT))
        if profit is None:
            continue
        parts = [f"{k}. **{label(program)}** ({channels.get(program, '?').replace('_', ' ')}): "
                 f"{_with_ci(profit, PROFIT)} lifetime profit — {_verdict(profit)}"]
        if retention and (program, retention) in by:
            change = _with_ci(by[program, retention], retention)
            parts.append(f"{outcomes.label(retention)} {change}")
        if (program, COST) in by:
            parts.append(f"lifetime cost to serve {_with_ci(by[program, COST], COST)}")
        roi = by.get((program, ROI), {}).get("diff_mean", math.nan)
        cost = by.get((program, COST), {}).get("diff_mean", math.nan)
        parts.append(f"ROI {_roi(roi, cost)}")
        lines.append("; ".join(parts) + ".")
    lines.append("")
    lines += _together_section(manifest, together)
    lines += _ranked_table(table, ranked, retention, channels)
    lines += _cost_table(table, ranked)
    if figure:
        lines += ["## Figure", "",
                  f"![What each program adds: lifetime profit for the company]({FIGURE})", ""]
    lines += _method(manifest, runs)
    return "\n".join(lines)


def _together_section(manifest: Mapping[str, Any], together: pd.DataFrame) -> list[str]:
    """The whole against the sum of its parts, for lifetime profit, in words and a table."""
    policy = manifest["policy"]
    rows = {(r["program"], r["metric"]): r for r in together.to_dict("records")}
    if (WHOLE, PROFIT) not in rows:
        return []
    whole, parts, inter = rows[WHOLE, PROFIT], rows[PARTS, PROFIT], rows[INTERACTION, PROFIT]
    lines = ["## Together and apart", "",
             f"Every program together adds {_with_ci(whole, PROFIT)} lifetime profit for the "
             f"company over {label(policy)}'s platform alone (`{manifest['none']}`: no "
             f"program, no team); the programs' own figures above add up to "
             f"{_with_ci(parts, PROFIT)}. The difference, the whole less the sum of its "
             f"parts, is {_with_ci(inter, PROFIT)}. "
             + (interaction_words(whole["diff_mean"], parts["diff_mean"],
                                  inter["diff_ci_low"], inter["diff_ci_high"])
                if len(manifest["programs"]) > 1 else
                "With a single program the whole is that program: there is nothing to "
                "add up."), ""]
    header = ["outcome", "all programs (whole)", "sum of the parts", "whole − sum of parts"]
    body = []
    for metric in dict.fromkeys(together["metric"]):
        body.append([_metric_label(metric), *(_with_ci(rows[name, metric], metric)
                                              for name in (WHOLE, PARTS, INTERACTION))])
    return [*lines, *markdown_table(header, body), ""]


def _ranked_table(table: pd.DataFrame, ranked: Sequence[str], retention: str | None,
                  channels: Mapping[str, str]) -> list[str]:
    by = {(r["program"], r["metric"]): r for r in table.to_dict("records")}
    metrics = [m for m in (PROFIT, PROFIT_PER_CUSTOMER, retention, COST) if m is not None]
    header = ["program", "channel", *(_metric_label(m) for m in metrics), "ROI",
              "better in"]
    body = []
    for program in ranked:
        cells = [label(program), channels.get(program, "?").replace("_", " ")]
        cells += [_with_ci(by[program, m], m) if (program, m) in by else "–" for m in metrics]
        roi = by.get((program, ROI), {}).get("diff_mean", math.nan)
        cost = by.get((program, COST), {}).get("diff_mean", math.nan)
        share = by.get((program, PROFIT), {}).get("share_better", math.nan)
        cells += [_roi(roi, cost), percent(share, digits=0)]
        body.append(cells)
    return ["## Programs ranked", "",
            "What each program adds: the policy less the policy without it, paired by "
            "replication (mean and 95 % CI). *ROI* is the lifetime profit it adds ÷ the "
            "lifetime cost to serve it adds (profit is already net of that cost, so ROI 1× "
            "means each unit spent returns itself and one more); *saves cost* when the "
            "program lowers the cost to serve. *Better in*: share of replications in which "
            "the policy with the program earns more lifetime profit.", "",
            *markdown_table(header, body), ""]


def _cost_table(table: pd.DataFrame, ranked: Sequence[str]) -> list[str]:
    by = {(r["program"], r["metric"]): r for r in table.to_dict("records")}
    metrics = [m for m in (ENGAGEMENT, *BY_TYPE, HEADCOUNT)
               if any((p, m) in by for p in ranked)]
    if not metrics:
        return []
    header = ["program", *(_metric_label(m) for m in metrics)]
    body = [[label(p), *(_with_ci(by[p, m], m) if (p, m) in by else "–" for m in metrics)]
            for p in ranked]
    return ["## What each program costs within the horizon", "",
            "The company's engagement cost over the simulated months (undiscounted) that the "
            "program adds, by type: touches, one-off set-up, CSM staff; and the CSMs it "
            "adds to the most the policy employs in a month. The platform is the policy's "
            "whatever its programs.", "", *markdown_table(header, body), ""]


def _method(manifest: Mapping[str, Any], runs: pd.DataFrame) -> list[str]:
    failed = runs[failed_mask(runs)]
    policy = manifest["policy"]
    versions = manifest.get("versions") or {"engagesim": manifest.get("engagesim", "?")}
    customers, agents = manifest.get("customers"), manifest.get("agents")
    sample = (f" (each run simulates {agents:,} of them; each stands for "
              f"{customers / agents:.3g} of the company's)"
              if agents not in (None, customers) else "")
    lines = ["## Method", "",
             f"- **Variants**: `{policy}`; `{policy}` without each program "
             f"(`knockout:{policy}/PROGRAM`: the other programs and the platform unchanged, a "
             "team whose programs are all removed not hired); and `"
             f"{manifest['none']}`, every program removed (the platform alone).",
             f"- **Runs**: {manifest.get('replications', '?')} replications of each variant, "
             f"{manifest.get('months', '?')} months, {customers:,} customers and prospects"
             f"{sample}; root seed {manifest.get('root_seed', '?')}, run seed "
             "`SeedSequence(root, spawn_key=(0, replication))`, the same for every variant: "
             "the variants meet the same random numbers (common random numbers), so "
             "removing a program that does nothing changes nothing, exactly.",
             f"- **Failed runs**: {len(failed)} (excluded; a replication counts only where "
             "both runs of a difference succeeded).",
             "- **Statistics**: paired differences over replications with Student-t 95 % "
             "confidence intervals (scipy). Lifetime profit and cost count what customers "
             "active at the horizon are still worth (discounted); the company's figures are "
             "per converted customer × converted customers × company customers per "
             "simulated one. The whole against the sum of its parts is paired the same "
             "way, per replication.",
             "- **Files**: `tactics.csv` — one row per program (and `(all programs)`, `(sum "
             "of the parts)`, `(whole - sum of parts)`) and metric: `n`, `diff_mean`, "
             "`diff_ci_low`, `diff_ci_high`, `share_better`; metric `roi` is the ROI (no "
             "interval); `runs.csv` — every run.",
             f"- **Versions**: {', '.join(f'{k} {v}' for k, v in versions.items())}."]
    if manifest.get("command"):
        lines.append(f"- **Command**: `{manifest['command']}`")
    return [*lines, ""]
