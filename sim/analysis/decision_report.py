"""The report of ``engagesim decide``: which policy to choose given what we don't know.

Concept: :func:`build_decision_report` reads a decide folder (``manifest.json`` with the
assumptions, ``runs.csv``) and writes ``report.md``, whose first screen answers for the
company and for each segment — what to choose, what drives the choice, when it flips,
what to learn first — followed by the evidence, the assumptions table and the method;
the tidy tables ``decision.csv``, ``value_of_information.csv``, ``break_even.csv`` and
``drivers.csv``; and the figures. It never runs a model, and every bootstrap has a fixed
seed, so rebuilding gives the same files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis import decision_plots
from sim.analysis.decision import (
    COMPANY,
    BreakEven,
    Evpi,
    PolicyChoice,
    ScopeValues,
    acceptability,
    break_even,
    choice,
    decision_grid,
    evpi,
    sampled_values,
    scope_values,
)
from sim.analysis.names import label
from sim.analysis.sensitivity import Index, evppi, given_data_indices, saltelli_indices
from sim.analysis.statistics import failed_mask, segment_names
from sim.engine.uncertainties import Uncertainty
from sim.files import atomic_write_bytes
from sim.formatting import markdown_table, money_short, percent
from sim.sweep.store import ResultStore

REPORT_SEED = 20_240_311
"""Root seed of the report's bootstraps (a rebuilt report is identical)."""
LEVERS = 41
"""Levels of the acceptability lever."""
TOP = 2
"""Assumptions given break-evens and the decision map."""
DRIVER_RESAMPLES = 100
"""Bootstrap resamples of the sensitivity indices' intervals."""


@dataclass(frozen=True)
class ScopeAnswer:
    """Everything the report says about one scope (the company or a segment).

    Attributes:
        values: The policies' values at every sample.
        choices: Each policy's standing, best first.
        evpi: Value of perfect information on every assumption.
        evppi: Assumption path → value of perfect information on it alone.
        drivers: Sensitivity indices of the leader's advantage over the runner-up.
        noise_share: Share of that advantage's variance that is simulation noise
            (``nan`` with one replication).
        break_evens: For the :data:`TOP` most influential assumptions.
    """

    values: ScopeValues
    choices: list[PolicyChoice]
    evpi: Evpi
    evppi: dict[str, float]
    drivers: list[Index]
    noise_share: float
    break_evens: list[BreakEven]

    @property
    def leader(self) -> str:
        """The recommended policy."""
        return self.choices[0].policy

    @property
    def runner_up(self) -> str | None:
        """The next best policy."""
        return self.choices[1].policy if len(self.choices) > 1 else None

    def top(self) -> list[str]:
        """Assumption paths, most influential first (first-order, then EVPPI)."""
        def key(index: Index) -> tuple[float, float]:
            first = index.first if math.isfinite(index.first) else -1.0
            return (-first, -self.evppi.get(index.name, 0.0))

        return [index.name for index in sorted(self.drivers, key=key)]


def company_scale(manifest: Mapping[str, Any]) -> float:
    """Company customers each simulated customer stands for (``customers / agents``).

    Folders written before the company and its sample were separate recorded the
    sample as ``customers`` and the company as ``company_customers``.
    """
    if "agents" in manifest:
        return float(manifest["customers"]) / float(manifest["agents"])
    return float(manifest.get("company_customers", manifest.get("customers", 1))) / float(
        manifest.get("customers", 1))


def assumptions_of(manifest: Mapping[str, Any]) -> list[Uncertainty]:
    """The uncertain assumptions a decide folder's manifest records."""
    out = []
    for entry in manifest.get("assumptions", []):
        fields = dict(entry)
        fields["params"] = tuple((str(k), float(v)) for k, v in fields["params"])
        fields["also"] = tuple(fields.get("also", ()))
        out.append(Uncertainty(**fields))
    return out


def assumption_record(uncertainty: Uncertainty) -> dict[str, Any]:
    """What the manifest records of one assumption (:func:`assumptions_of` reads it)."""
    return {
        "path": uncertainty.path,
        "dist": uncertainty.dist,
        "params": [list(p) for p in uncertainty.params],
        "also": list(uncertainty.also),
        "complement": uncertainty.complement,
        "source": uncertainty.source,
        "label": uncertainty.label,
        "display": uncertainty.display,
        "integer": uncertainty.integer,
    }


# -- analysis -----------------------------------------------------------------------------
def _drivers(x: np.ndarray, values: ScopeValues, leader: str, other: str | None,
             manifest: Mapping[str, Any], names: Sequence[str],
             rng: np.random.Generator) -> tuple[list[Index], float]:
    """Sensitivity indices of the leader's advantage, and the noise share of its variance."""
    if other is None:
        return [], math.nan
    k, j = values.policies.index(leader), values.policies.index(other)
    y = values.values[:, k] - values.values[:, j]
    noise = math.nan
    if values.noise_cov is not None:
        cov = values.noise_cov
        noise = float(cov[k, k] + cov[j, j] - 2 * cov[k, j])
    noise_var = 0.0 if math.isnan(noise) else noise
    variance = float(np.var(y, ddof=1)) if len(y) > 1 else math.nan
    share = noise / variance if variance and math.isfinite(noise) else math.nan
    n = int(manifest.get("samples", 0))
    if manifest.get("design") == "saltelli" and len(y) == n * (len(names) + 2):
        indices = saltelli_indices(y, n, names, noise_var=noise_var, rng=rng,
                                   resamples=DRIVER_RESAMPLES)
    else:
        indices = given_data_indices(x, y, names, noise_var=noise_var, rng=rng,
                                     resamples=DRIVER_RESAMPLES)
    return indices, share


def answer_scope(runs: pd.DataFrame, scope: str, scale: float, manifest: Mapping[str, Any],
                 assumptions: Sequence[Uncertainty], index: int = 0) -> ScopeAnswer:
    """The full answer for one scope.

    Args:
        runs: The successful runs.
        scope: ``"all"`` or a segment.
        scale: Company customers per simulated customer.
        manifest: The folder's manifest (design, samples).
        assumptions: The uncertain assumptions, in column order.
        index: The scope's position in the report (its bootstraps' seed).
    """
    rng = np.random.default_rng(np.random.SeedSequence(REPORT_SEED, spawn_key=(index,)))
    values = scope_values(runs, scope, scale)
    paths = [a.path for a in assumptions]
    x = sampled_values(runs, values.points, paths)
    information = evpi(values, rng)
    choices = choice(values, information.noise_bias)
    leader = choices[0].policy
    other = choices[1].policy if len(choices) > 1 else None
    drivers, noise_share = _drivers(x, values, leader, other, manifest, paths, rng)
    info = {path: evppi(x[:, i], values.values) for i, path in enumerate(paths)}
    answer = ScopeAnswer(values, choices, information, info, drivers, noise_share, [])
    if other is None:
        return answer
    evens = []
    for path in answer.top()[:TOP]:
        i = paths.index(path)
        evens.append(break_even(x[:, i], values, path, leader, other,
                                assumptions[i].support(), rng))
    return replace(answer, break_evens=evens)


# -- entry point --------------------------------------------------------------------------
def build_decision_report(root: str | Path) -> Path:
    """Write ``report.md``, the tidy tables and the figures of a decide folder.

    Args:
        root: A folder written by ``engagesim decide``.

    Returns:
        The path of ``report.md``.
    """
    root = Path(root)
    store = ResultStore(root)
    manifest = store.manifest()
    runs = store.read_runs()
    assumptions = assumptions_of(manifest)
    ok = runs[~failed_mask(runs)]
    scale = company_scale(manifest)
    segments = segment_names(ok)
    scopes = [COMPANY, *(segments if len(segments) > 1 else [])]
    answers = {scope: answer_scope(ok, scope, scale, manifest, assumptions, i)
               for i, scope in enumerate(scopes)}
    figures = _draw(root, ok, answers, assumptions, scale)
    _write_tables(root, answers, assumptions)
    text = render(manifest, runs, answers, assumptions, figures)
    path = root / "report.md"
    atomic_write_bytes(path, text.encode())
    return path


def _draw(root: Path, ok: pd.DataFrame, answers: Mapping[str, ScopeAnswer],
          assumptions: Sequence[Uncertainty], scale: float) -> list[tuple[str, str]]:
    """Draw the figures; return (file, caption) pairs."""
    out = root / "figures"
    paths = [a.path for a in assumptions]
    by_path = {a.path: a for a in assumptions}
    company = answers[COMPANY]
    policies = company.values.policies
    panels = []
    for scope, answer in answers.items():
        top = answer.top()[:TOP]
        if len(top) < TOP:
            continue
        x = sampled_values(ok, answer.values.points, top)
        supports = [by_path[p].support() for p in top]
        gx, gy, winner = decision_grid(x, answer.values, supports)
        columns = [policies.index(p) for p in answer.values.policies]
        panels.append({
            "title": label(scope), "xlabel": by_path[top[0]].label,
            "ylabel": by_path[top[1]].label, "grid_x": gx, "grid_y": gy,
            "winner": np.asarray(columns)[winner], "points": x,
            "point_winner": np.asarray(columns)[answer.values.values.argmax(axis=1)],
            "x_ticks": _ticks(by_path[top[0]]), "y_ticks": _ticks(by_path[top[1]]),
        })
    figures = []
    if panels:
        decision_plots.decision_maps(panels, policies, out / "decision_map.png")
        figures.append(("decision_map.png", "Which policy wins where over the two most "
                        "influential assumptions of each scope (the others averaged over)."))
    retained = _retained(ok, company.values, scale)
    top_value = max(c.per_customer for c in company.choices)
    levels = np.linspace(0.0, 2.0 * max(top_value, 1.0), LEVERS)
    probabilities = acceptability(company.values, retained, levels)
    decision_plots.acceptability_curves(
        levels, probabilities, policies,
        "value of each customer still with you at the horizon, beyond the profit counted",
        out / "acceptability.png")
    figures.append(("acceptability.png", "Probability each policy is the best for the "
                    "company as a customer retained at the horizon is valued more (0 = the "
                    "profit counted within the horizon only)."))
    decision_plots.value_of_information(
        [by_path[p].label for p in paths],
        {scope: [a.evppi[p] for p in paths] for scope, a in answers.items()},
        {scope: a.evpi.value for scope, a in answers.items()}, out / "value_of_information.png")
    figures.append(("value_of_information.png", "What knowing each assumption exactly is "
                    "worth (EVPPI); dashed: all of them together (EVPI)."))
    return figures


def _ticks(uncertainty: Uncertainty) -> tuple[np.ndarray, list[str]] | None:
    """Axis ticks in the user's units (``None``: plain numbers are the user's units)."""
    if uncertainty.display == "number":
        return None
    low, high = uncertainty.support()
    values = np.linspace(low, high, 5)
    return values, [uncertainty.shown(v) for v in values]


def _retained(ok: pd.DataFrame, values: ScopeValues, scale: float) -> np.ndarray:
    """``(points, policies)`` customers active at the horizon, company scale."""
    table = ok.pivot_table(index="point", columns="policy", values="active", aggfunc="mean")
    return table.loc[values.points, list(values.policies)].to_numpy(float) * scale


def _write_tables(root: Path, answers: Mapping[str, ScopeAnswer],
                  assumptions: Sequence[Uncertainty]) -> None:
    """Write the tidy CSV tables of the decision."""
    labels = {a.path: a.label for a in assumptions}
    choice_rows, info_rows, even_rows, driver_rows = [], [], [], []
    for scope, answer in answers.items():
        for c in answer.choices:
            choice_rows.append({"scope": scope, "policy": c.policy, "expected_profit": c.expected,
                                "expected_low": c.expected_low, "expected_high": c.expected_high,
                                "profit_per_customer": c.per_customer, "p_best": c.p_best,
                                "expected_regret": c.regret, "regret_p95": c.regret_p95,
                                "recommended": c.policy == answer.leader})
        info_rows.append({"scope": scope, "assumption": "all", "label": "all together",
                          "value": answer.evpi.value, "raw": answer.evpi.raw,
                          "noise_bias": answer.evpi.noise_bias})
        for path, value in answer.evppi.items():
            info_rows.append({"scope": scope, "assumption": path, "label": labels[path],
                              "value": value, "raw": value, "noise_bias": math.nan})
        for b in answer.break_evens:
            even_rows.append({"scope": scope, **b.__dict__})
        for index in answer.drivers:
            driver_rows.append({"scope": scope, **index.__dict__})
    for name, rows in (("decision.csv", choice_rows), ("value_of_information.csv", info_rows),
                       ("break_even.csv", even_rows), ("drivers.csv", driver_rows)):
        atomic_write_bytes(root / name,
                           pd.DataFrame(rows).to_csv(index=False, lineterminator="\n").encode())


# -- text ---------------------------------------------------------------------------------
def _money(value: float) -> str:
    """Money in the report's short form: ``1.23M``, ``0`` below 0.5, ``–`` if undefined."""
    if not math.isfinite(value):
        return "–"
    return "0" if abs(value) < 0.5 else money_short(value)


def render(manifest: Mapping[str, Any], runs: pd.DataFrame, answers: Mapping[str, ScopeAnswer],
           assumptions: Sequence[Uncertainty], figures: Sequence[tuple[str, str]]) -> str:
    """The text of ``report.md``."""
    by_path = {a.path: a for a in assumptions}
    lines = [f"# {manifest.get('scenario', 'scenario')}: which engagement model should we "
             "choose, given what we don't know?", ""]
    lines += _first_screen(answers, by_path)
    lines += _choices(answers)
    lines += _drivers_section(answers, by_path)
    lines += _flips(answers, by_path)
    lines += _learning(answers, by_path)
    lines += ["## Figures", ""]
    lines += [f"![{caption}](figures/{name})\n\n*{caption}*\n" for name, caption in figures]
    lines += _assumptions_table(manifest, assumptions)
    lines += _method(manifest, runs, answers)
    return "\n".join(lines).rstrip() + "\n"


def _first_screen(answers: Mapping[str, ScopeAnswer],
                  by_path: Mapping[str, Uncertainty]) -> list[str]:
    """The answer in a few lines per scope, then a one-table summary."""
    lines = []
    for scope, answer in answers.items():
        best = answer.choices[0]
        who = "the company" if scope == COMPANY else f"{label(scope)} customers"
        text = (f"- **{label(scope)}: choose {label(best.policy)}.** For {who} it is "
                f"expected to make {_money(best.expected)} ({_money(best.per_customer)} per "
                f"customer) and is the best policy in {percent(best.p_best, digits=0)} of "
                f"the assumption samples; choosing it loses {_money(best.regret)} on "
                f"average against the best policy for the true assumptions "
                f"(95th percentile {_money(best.regret_p95)}).")
        if answer.runner_up is not None:
            second = answer.choices[1]
            text += (f" Next: {label(second.policy)} (best in "
                     f"{percent(second.p_best, digits=0)}, expected regret "
                     f"{_money(second.regret)}).")
        text += " " + _robustness(answer)
        if answer.break_evens:
            flip = _flip_sentence(answer.break_evens[0], by_path)
            text += f" {flip}"
        top = max(answer.evppi, key=answer.evppi.get) if answer.evppi else None
        if top is not None:
            text += (f" Knowing every assumption exactly is worth {_money(answer.evpi.value)}; "
                     f"the most valuable to learn is *{by_path[top].label}* "
                     f"({_money(answer.evppi[top])}).")
        lines.append(text)
    lines += [""]
    rows = []
    for scope, answer in answers.items():
        best = answer.choices[0]
        rows.append([label(scope), label(best.policy), _money(best.expected),
                     percent(best.p_best, digits=0), _money(best.regret),
                     _money(answer.evpi.value)])
    lines += markdown_table(["scope", "choose", "expected profit", "P(best)",
                             "expected regret", "value of perfect information"], rows)
    return [*lines, ""]


def _robustness(answer: ScopeAnswer) -> str:
    """How robust the recommendation is, in words."""
    best = answer.choices[0]
    stake = abs(best.expected) if best.expected else 1.0
    share = best.regret / stake if stake else math.nan
    if best.p_best >= 0.9 and share < 0.01:
        return "Robust: it is the best policy for almost every plausible assumption."
    if share < 0.02:
        return (f"Robust in value: it is not always the best, but what it loses when it is "
                f"not is small ({percent(share, digits=1)} of its expected profit).")
    return (f"Not robust: what it loses when it is not the best is "
            f"{percent(share, digits=1)} of its expected profit — learn before investing.")


def _flip_sentence(b: BreakEven, by_path: Mapping[str, Uncertainty]) -> str:
    """One break-even in the user's units."""
    u = by_path[b.assumption]
    if math.isnan(b.value):
        return (f"No value of *{u.label}* in its range ({u.shown_interval(*u.support())}) "
                f"makes {label(b.other)} better than "
                f"{label(b.leader)} on average." if b.always == b.leader else
                f"Given *{u.label}* alone, {label(b.other)} is better over its whole range.")
    ci = (f" (95 % CI of the break-even: {u.shown_interval(b.low, b.high)})"
          if math.isfinite(b.low) and math.isfinite(b.high) else "")
    return (f"{label(b.leader)} beats {label(b.other)} while *{u.label}* "
            f"{u.shown_beyond(b.value, b.leader_wins_above)}{ci}; "
            f"otherwise {label(b.other)} wins.")


def _choices(answers: Mapping[str, ScopeAnswer]) -> list[str]:
    """Section 1: every policy's standing, per scope."""
    lines = ["## 1. What to choose", "",
             "Expected profit is the company's discounted lifetime profit from its customers "
             "(the simulated months plus what customers still active at the horizon are "
             "worth), averaged over the assumptions (95 % CI of that average); *P(best)* "
             "is the share of assumption samples where the policy is the best; *expected "
             "regret* is what choosing it loses on average against the best policy for the "
             "true assumptions (the policy with the least expected regret is also the one "
             "with the highest expected profit).", ""]
    for scope, answer in answers.items():
        rows = [[label(c.policy), f"{_money(c.expected)} ({_money(c.expected_low)} to "
                 f"{_money(c.expected_high)})", _money(c.per_customer),
                 percent(c.p_best, digits=0), _money(c.regret), _money(c.regret_p95)]
                for c in answer.choices]
        lines += [f"**{label(scope)}**", ""]
        lines += markdown_table(["policy", "expected profit", "per customer", "P(best)",
                                 "expected regret", "regret, 95th pct"], rows)
        lines.append("")
    return lines


def _index(low: float, value: float, high: float) -> str:
    """An index with its interval."""
    if not math.isfinite(value):
        return "–"
    if math.isfinite(low) and math.isfinite(high):
        return f"{value:.2f} [{low:.2f}, {high:.2f}]"
    return f"{value:.2f}"


def _drivers_section(answers: Mapping[str, ScopeAnswer],
                     by_path: Mapping[str, Uncertainty]) -> list[str]:
    """Section 2: sensitivity indices of the leader's advantage."""
    lines = ["## 2. What drives the choice", "",
             "Share of the variance of the recommended policy's profit advantage over the "
             "runner-up that each assumption explains: *first-order* alone, *total* with "
             "its interactions (95 % bootstrap intervals). Simulation noise is estimated "
             "from the replications and removed from the variance before the shares are "
             "taken; its share is shown.", ""]
    for scope, answer in answers.items():
        if not answer.drivers:
            continue
        lines += [f"**{label(scope)}**: {label(answer.leader)} − {label(answer.runner_up)}; "
                  f"simulation noise {_share(answer.noise_share)} of the variance", ""]
        total = any(math.isfinite(i.total) for i in answer.drivers)
        header = ["assumption", "first-order", *(["total"] if total else [])]
        rows = []
        for path in answer.top():
            i = next(d for d in answer.drivers if d.name == path)
            row = [by_path[path].label, _index(i.first_low, i.first, i.first_high)]
            if total:
                row.append(_index(i.total_low, i.total, i.total_high))
            rows.append(row)
        lines += markdown_table(header, rows)
        lines.append("")
    return lines


def _share(value: float) -> str:
    """A share, or ``not estimated (1 replication)``."""
    return percent(value, digits=0) if math.isfinite(value) else "not estimated (1 replication)"


def _flips(answers: Mapping[str, ScopeAnswer], by_path: Mapping[str, Uncertainty]) -> list[str]:
    """Section 3: break-even values of the most influential assumptions."""
    lines = ["## 3. When the choice flips", "",
             "For the two most influential assumptions of each scope: the value at which "
             "the runner-up's expected profit overtakes the recommended policy's, given that "
             "assumption alone (the others averaged over; a smoothing-spline regression on "
             "the samples, bootstrap 95 % interval).", ""]
    for scope, answer in answers.items():
        for b in answer.break_evens:
            lines.append(f"- **{label(scope)}**: {_flip_sentence(b, by_path)}")
    return [*lines, ""]


def _learning(answers: Mapping[str, ScopeAnswer], by_path: Mapping[str, Uncertainty]) -> list[str]:
    """Section 4: value of information, per assumption and scope."""
    scopes = list(answers)
    lines = ["## 4. What to learn first", "",
             "Expected value of perfect information (currency, for the company or the "
             "segment): what knowing the assumption exactly before choosing would be worth. "
             "A study, pilot or data pull that pins it down is worth running if it costs "
             "less than this. *All together* is the EVPI (less the bias simulation noise "
             "adds); one assumption's value is its EVPPI (regression method of Strong, "
             "Oakley & Brennan 2014).", ""]
    company = answers[COMPANY]
    order = sorted(company.evppi, key=company.evppi.get, reverse=True)
    rows = [["**all together**", *(_money(answers[s].evpi.value) for s in scopes)]]
    rows += [[by_path[p].label, *(_money(answers[s].evppi[p]) for s in scopes)] for p in order]
    lines += markdown_table(["assumption", *(label(s) for s in scopes)], rows)
    return [*lines, ""]


def _assumptions_table(manifest: Mapping[str, Any],
                       assumptions: Sequence[Uncertainty]) -> list[str]:
    """The plain assumptions: every uncertain key and the fixed values that matter."""
    lines = ["## Assumptions", "", "Uncertain (sampled):", ""]
    rows = []
    for a in assumptions:
        linked = f" (+ {len(a.also)} linked)" if a.also else ""
        low, high = a.support()
        rows.append([a.label, f"`{a.path}`{linked}", a.describe(),
                     a.shown_interval(low, high), a.source])
    lines += markdown_table(["assumption", "key", "distribution", "range", "source"], rows)
    fixed = manifest.get("fixed", {})
    lines += ["", "Fixed:", ""]
    lines += markdown_table(["setting", "value"], [[k, v] for k, v in fixed.items()])
    return [*lines, ""]


def _method(manifest: Mapping[str, Any], runs: pd.DataFrame,
            answers: Mapping[str, ScopeAnswer]) -> list[str]:
    """How the numbers were made."""
    failed = int(failed_mask(runs).sum())
    company = answers[COMPANY]
    noise = company.evpi.noise_bias
    return [
        "## Method", "",
        f"- **Design**: {manifest.get('design', '?')} sample of "
        f"{runs['point'].nunique()} assumption samples (scipy.stats.qmc; root seed "
        f"{manifest.get('root_seed', '?')}); every policy ran "
        f"{manifest.get('replications', '?')} times at every sample with "
        f"{manifest.get('agents', '?')} customers over {manifest.get('months', '?')} "
        "months, all policies of a (sample, replication) on the same seed (common random "
        "numbers).",
        f"- **Company scale**: each run simulates {manifest.get('agents', '?')} customers, "
        f"a sample of the company's {manifest.get('customers', '?')}; fixed and staff costs "
        "are the company's, shared by its customers, and totals are scaled by "
        f"{company_scale(manifest):g} company customers per simulated one.",
        "- **Simulation noise**: each value is a mean over replications. The EVPI is "
        "corrected for the upward bias noise gives a maximum, estimated by a parametric "
        "bootstrap from the replications' covariance; every expected regret has the same "
        "term and gets the same correction"
        + (f" (company: {_money(noise)} removed)." if math.isfinite(noise) else
           " (not possible with 1 replication: EVPI and regrets are upper estimates).")
        + " P(best) counts the samples where a policy came out best, noise included."
        + " Sensitivity indices exclude the noise share of the variance; EVPPI and "
        "break-evens use a smoothing-spline regression, which averages noise out.",
        f"- **Runs**: {len(runs)} in all, {failed} failed (left out).",
        f"- **Command**: `{manifest.get('command', '')}`",
        "",
    ]
