"""The Mesa SolaraViz page: controls, side-by-side policies, charts and an inspector.

:func:`make_page` builds the page for one scenario. Mesa's ``SolaraViz`` supplies the
frame (step, play and reset; the sliders of :func:`model_params`; rebuilding the model
on Reset), and this module supplies the components it shows:

* :func:`NetworkPanel`: a sample of the customer network under each policy, coloured by
  stage (hover: a tooltip and a preview in the inspector; click: pin the customer);
* :func:`Inspector`: the pinned or hovered customer's traits and its state under each
  policy, read through the per-customer agent views;
* :func:`Headline`: the numbers so far, A beside B, and the difference;
* :func:`StagesChart`, :func:`MoneyChart`, :func:`ServiceChart`: matplotlib charts from
  :mod:`sim.explore.charts`.

Mesa's grid of draggable components is not used: its fixed-size cells let tall panels
overlap, so :func:`Dashboard` lays the panels out in rows instead. A "focus" select
narrows the stage, retention and money charts to one segment. Page state (focus,
pinned and hovered customer) lives in ``solara.reactive`` variables, which solara
keeps per browser session.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

import solara
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from sim.engine.scenario import Scenario, load_scenario
from sim.explore import charts
from sim.explore.levers import (
    NO_TACTIC,
    SCALE_RANGES,
    available_tactics,
    composed_from,
    describe,
    program_key,
    tactic_key,
)
from sim.explore.paired import NO_COMPARISON, SWITCHES_APPLY_TO, PairedModel
from sim.formatting import compact

ALL = "all customers"
#: Default size of the page's populations: large enough for smooth curves, small
#: enough that a step (two runs and three charts) stays well under the play interval.
PAGE_CUSTOMERS = 2000

focus = solara.reactive(ALL)
pinned = solara.reactive(0)
hovered = solara.reactive(-1)


@solara.component_vue(str(Path(__file__).with_name("network.vue")))
def NetworkSvg(
    nodes: list[dict[str, Any]],
    edges: list[list[float]],
    selected: int,
    label: str,
    event_select: Any = None,
    event_hover: Any = None,
):
    """The network drawing (``network.vue``); ``event_*`` are called from the browser."""


def _segment(model: PairedModel) -> str | None:
    return focus.value if focus.value in model.spec.segment_names else None


@solara.component
def NetworkPanel(model: PairedModel):
    """A sample of the customer network under each policy, coloured by stage."""
    update_counter.get()
    sample = model.network_sample()
    xy = 4 + 92 * sample["xy"]
    edges = [[*xy[i].round(2), *xy[j].round(2)] for i, j in sample["edges"]]
    colours = charts.stage_colours(model)
    names = model.spec.lifecycle.names
    segments = model.spec.segment_names
    with solara.Card(f"Customers: {len(sample['rows'])} of {model.runs['A'].n} (network sample)"):
        with solara.Row(style={"flex-wrap": "wrap", "gap": "4px"}):
            for name, colour in zip(names, colours, strict=True):
                solara.Text(
                    f"● {name}", style={"color": colour, "font-size": "12px", "font-weight": "bold"}
                )
        with solara.Columns([1] * len(model.runs)):
            for label, run in model.runs.items():
                nodes = [
                    {
                        "id": int(row),
                        "x": float(xy[k, 0]),
                        "y": float(xy[k, 1]),
                        "colour": colours[run.stage[row]],
                        "title": f"#{row} · {segments[run.segment[row]]} · {names[run.stage[row]]}",
                    }
                    for k, row in enumerate(sample["rows"])
                ]
                with solara.Column():
                    solara.Text(charts.title(model, label), style={"font-weight": "bold"})
                    NetworkSvg(
                        nodes=nodes,
                        edges=edges,
                        selected=pinned.value,
                        label=label,
                        event_select=pinned.set,
                        event_hover=hovered.set,
                    )
        solara.Text("Hover a customer to preview it in the inspector; click to pin it.")


def _table(header: list[str], rows: list[list[str]]) -> str:
    """A small HTML table (first column left-aligned, the others right-aligned)."""
    cell = "padding: 1px 8px; border-bottom: 1px solid #eee"
    head = "".join(
        f'<th style="{cell}; text-align: {"left" if k == 0 else "right"}">{escape(h)}</th>'
        for k, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td style="{cell}; text-align: {"left" if k == 0 else "right"}">{escape(c)}</td>'
            for k, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    style = "border-collapse: collapse; font-size: 13px"
    return f'<table style="{style}"><tr>{head}</tr>{body}</table>'


def _html(text: str) -> None:
    """Show trusted HTML (``solara.Markdown`` would load KaTeX and Mermaid from the CDN)."""
    solara.HTML(tag="div", unsafe_innerHTML=text, style={"margin": "6px 0"})


@solara.component
def Inspector(model: PairedModel):
    """The pinned (or hovered) customer's traits and state under each policy."""
    update_counter.get()
    n = model.runs["A"].n
    row = hovered.value if 0 <= hovered.value < n else min(pinned.value, n - 1)
    info = model.inspect(row)
    labels = model.labels
    rows = [
        [key.replace("_", " "), *(compact(info["state"][label][key]) for label in labels)]
        for key in info["state"]["A"]
        if key not in ("id", "segment")
    ]
    traits = ", ".join(f"{k.replace('_', ' ')} {compact(v)}" for k, v in info["traits"].items())
    with solara.Card(f"Customer #{row} ({info['segment']})"):
        solara.InputInt("Customer id (pin)", value=pinned.value, on_value=_pin_within(n))
        _html(f"<b>Traits</b> (the same under every policy): {escape(traits)}")
        _html(_table(["state", *(charts.title(model, label) for label in labels)], rows))


def _pin_within(n: int):
    def pin(row: int | None) -> None:
        if row is not None:
            pinned.set(max(0, min(int(row), n - 1)))

    return pin


@solara.component
def Headline(model: PairedModel):
    """The numbers so far, policy A beside policy B, and the difference."""
    update_counter.get()
    segment = _segment(model)
    diff = charts.difference(model, segment)
    labels = model.labels
    header = [f"month {model.month:.3g}", *(charts.title(model, label) for label in labels)]
    if len(labels) == 2:
        header.append("B − A")
    rows = []
    for key, (a, b) in diff.items():
        rows.append([key, compact(a), *([compact(b), compact(b - a)] if len(labels) == 2 else [])])
    with solara.Card("So far"):
        for note in model.notes:
            solara.Warning(note)
        solara.Select("Focus", value=focus, values=[ALL, *model.spec.segment_names])
        _html(_table(header, rows))
        _html(settings_line(model))
        _html(
            "Both policies serve <b>the same customers with the same random numbers</b>: "
            "every difference here is the policy's doing, not chance."
        )
        with solara.Details("Programs and levers in effect"):
            for label in labels:
                policy = model.runs[label].policy.name
                run = model.runs[label]
                lines = describe(run.spec, policy, model.run_levers[label])
                items = "".join(f"<li>{escape(line)}</li>" for line in lines)
                _html(f"<b>{escape(charts.title(model, label))}</b><ul>{items}</ul>")


def settings_line(model: PairedModel) -> str:
    """The settings this model was built with, as HTML (sliders apply on Reset)."""
    levers = model.levers
    mix = " / ".join(f"{segment.name} {100 * segment.share:.0f}%"
                     for segment in model.spec.segments)
    run = model.runs["A"]
    company = model.spec.population.customers
    sample = (f"{run.n:,} customers" if run.n == company else
              f"{run.n:,} customers simulated of the company’s {company:,} (money shown "
              f"is theirs: ×{company / run.n:.3g} for the company)")
    return escape(
        f"This run: {sample}, {model.spec.time.months} months, "
        f"seed {model.seed}; book size ×{levers.book_scale:g}, "
        f"escalation ×{levers.escalation_scale:g}, cadence ×{levers.cadence_scale:g}, "
        f"marketing ×{levers.marketing_scale:g}, referral ×{levers.referral_scale:g}; "
        f"mix {mix}{_switches(model)}."
    ) + " <i>Move the sliders, then press Reset to apply them.</i>"


def _switches(model: PairedModel) -> str:
    """``"; A: hybrid without escalation"`` for the runs' switches, or ``""``."""
    parts = []
    for label, run in model.runs.items():
        policy, levers = run.policy.name, model.run_levers[label]
        off = sorted(levers.programs_off.get(policy, ()))
        added = levers.tactics_on.get(policy, ())
        if off:
            parts.append(f"{label}: {policy} without {', '.join(off)}")
        if added:
            parts.append(f"{label}: {policy} with the tactic {', '.join(added)}")
    return "".join(f"; {part}" for part in parts)


def _chart(build, *args) -> None:
    # Mesa's Reset swaps the model without bumping update_counter: the model is a key
    png = solara.use_memo(lambda: charts.png(build(*args)), [update_counter.value, *args])
    solara.Image(png, width="100%")


@solara.component
def StagesChart(model: PairedModel):
    """Customers per stage over time, stacked."""
    update_counter.get()
    _chart(charts.stages_figure, model, _segment(model))


@solara.component
def MoneyChart(model: PairedModel):
    """Retention, and cumulative revenue, cost and profit."""
    update_counter.get()
    _chart(charts.money_figure, model, _segment(model))


@solara.component
def ServiceChart(model: PairedModel):
    """CSM utilisation, NPS and the engagement index."""
    update_counter.get()
    _chart(charts.service_figure, model)


@solara.component
def Dashboard(model: PairedModel):
    """Every panel of the page, laid out in rows."""
    with solara.Column(style={"padding": "8px"}):
        with solara.Columns([3, 2]):
            NetworkPanel(model)
            Inspector(model)
        with solara.Columns([2, 3]):
            Headline(model)
            with solara.Card("Customers per stage"):
                StagesChart(model)
        with solara.Card("Retention and money"):
            MoneyChart(model)
        with solara.Card("Service: CSM utilisation, NPS, engagement (all customers)"):
            ServiceChart(model)


def _pick(names: list[str], wanted: str, fallback: int) -> str:
    return wanted if wanted in names else names[min(fallback, len(names) - 1)]


def model_params(scenario: Scenario) -> dict[str, Any]:
    """SolaraViz controls for a scenario: fixed values and slider/select specs.

    Args:
        scenario: The scenario the page explores.

    Returns:
        ``PairedModel`` keyword → a fixed value or a Mesa user-input dict.
    """
    names = list(scenario.policies)
    customers = min(scenario.population.n_agents, PAGE_CUSTOMERS)
    params: dict[str, Any] = {
        "source": scenario,
        "policy": {
            "type": "Select",
            "value": _pick(names, "high_touch", 0),
            "values": names,
            "label": "Policy A",
        },
        "compare_with": {
            "type": "Select",
            "value": _pick(names, "no_touch", 1) if len(names) > 1 else NO_COMPARISON,
            "values": [*names, NO_COMPARISON],
            "label": "Policy B (side by side)",
        },
        "customers": {
            "type": "SliderInt",
            "value": customers,
            "min": 200,
            "max": 20000,
            "step": 200,
            "label": "Customers simulated",
        },
        "months": {
            "type": "SliderInt",
            "value": scenario.time.months,
            "min": 6,
            "max": 120,
            "step": 6,
            "label": "Months",
        },
        "seed": {"type": "SliderInt", "value": 1, "min": 0, "max": 999, "step": 1, "label": "Seed"},
    }
    labels = {
        "book_scale": "CSM book size (× scenario)",
        "escalation_scale": "Escalation threshold (× scenario)",
        "cadence_scale": "Touch cadence (× scenario)",
        "marketing_scale": "Marketing spend (× scenario)",
        "referral_scale": "Referral strength (× scenario)",
    }
    for key, (low, high, step) in SCALE_RANGES.items():
        params[key] = {
            "type": "SliderFloat",
            "value": 1.0,
            "min": low,
            "max": high,
            "step": step,
            "label": labels[key],
        }
    for segment in scenario.segments:
        params[f"weight_{segment.name}"] = {
            "type": "SliderFloat",
            "value": round(segment.share, 2),
            "min": 0.0,
            "max": 1.0,
            "step": 0.05,
            "label": f"Segment mix: {segment.name} (weight)",
        }
    params.update(tactic_controls(scenario))
    return params


def tactic_controls(scenario: Scenario) -> dict[str, Any]:
    """Per policy, a checkbox per program (on) and a select of a library tactic to add.

    A program composed from the tactics library says so in its label; the page's
    "Programs and levers in effect" lists the tactic's effect range and source.

    Args:
        scenario: The scenario the page explores.

    Returns:
        ``switches_apply_to`` (A and B, A only, B only: "A only" with the same policy
        as A and B shows what its switched-off programs do), then
        :func:`~sim.explore.levers.program_key` → a Checkbox spec and
        :func:`~sim.explore.levers.tactic_key` → a Select spec, policy by policy.
    """
    params: dict[str, Any] = {
        "switches_apply_to": {
            "type": "Select",
            "value": "A and B",
            "values": list(SWITCHES_APPLY_TO),
            "label": "Program switches apply to",
        }
    }
    for policy, spec in scenario.policies.items():
        tactics = composed_from(scenario, policy)
        for program in spec.programs:
            library = " (library tactic)" if program.name in tactics else ""
            params[program_key(policy, program.name)] = {
                "type": "Checkbox",
                "value": True,
                "label": f"{policy}: {program.name}{library}",
            }
        params[tactic_key(policy)] = {
            "type": "Select",
            "value": NO_TACTIC,
            "values": [NO_TACTIC, *available_tactics(scenario, policy)],
            "label": f"{policy}: add a library tactic",
        }
    return params


def initial_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    """The ``PairedModel`` keywords of the controls' starting values."""
    return {k: v["value"] if isinstance(v, dict) else v for k, v in params.items()}


def make_page(source: Scenario | str = "default"):
    """Return the page component for a scenario (a fresh model per browser session).

    Args:
        source: Scenario object, shipped name or path.

    Returns:
        A solara component to serve (``solara run``) or render (``solara.render``).
    """
    scenario = source if isinstance(source, Scenario) else load_scenario(source)
    params = model_params(scenario)

    @solara.component
    def Page():
        first = solara.use_memo(lambda: PairedModel(**initial_kwargs(params)), [])
        model = solara.use_reactive(first)  # SolaraViz's Reset replaces model.value
        solara.Title(f"engagesim explore · {scenario.name}")
        SolaraViz(
            model,
            components=[],
            model_params=params,
            name=f"engagesim explore · {scenario.name}",
            play_interval=200,
        )
        Dashboard(model.value)

    return Page


def make_app(source: Scenario | str = "default"):
    """The page inside solara's app layout, as ``solara run`` shows it.

    ``solara run`` wraps a page in an ``AppLayout``, which is what places SolaraViz's
    sidebar (the controls). ``solara.render(make_app(...)())`` renders the same thing
    without a server: the tests and the benchmark use it.
    """
    Page = make_page(source)

    @solara.component
    def App():
        with solara.AppLayout():
            Page()

    return App
