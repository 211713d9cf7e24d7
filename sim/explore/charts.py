"""The live page's charts as matplotlib figures (rendered on the server: no front-end files).

Each function takes a :class:`~sim.explore.paired.PairedModel` and an optional segment
and returns a ``matplotlib.figure.Figure`` built without pyplot, so figures made in
the page's worker threads never touch global state. Policy A is drawn solid, policy B
dashed, in every chart.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.text import Text

from sim.analysis.outcomes import OUTCOMES
from sim.explore.paired import PairedModel

LINESTYLE = {"A": "-", "B": "--"}
MONEY_COLOURS = {"revenue": "#1f77b4", "cost": "#d62728", "profit": "#2ca02c"}
SERVICE_PANELS = tuple(OUTCOMES[name] for name in ("csm_utilisation", "nps", "engagement_index"))
"""The outcomes of :func:`service_figure`, one panel each, read per step from the series."""
MONEY_OUTCOMES = {"revenue": "revenue_total", "cost": "cost_total", "profit": "profit_total"}
"""The cumulative money series of :meth:`~sim.explore.paired.PairedModel.series` and the
outcome each is the running value of."""


def _figure(height: float, right: float = 0.98, wspace: float = 0.2) -> Figure:
    """An 8-inch-wide figure with fixed margins.

    A layout engine would double the drawing time of every page update.
    """
    fig = Figure(figsize=(8.0, height))
    fig.subplots_adjust(left=0.08, right=right, bottom=0.17, top=0.9, wspace=wspace)
    return fig


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes, every name in it shown as written.

    Names are text, not mathtext (a segment "$10k–$50k"), as in the house style
    (:data:`sim.analysis.plots.STYLE`); set on each text rather than through
    ``rc_context``, which would change global state under the page's other threads.
    """
    for text in fig.findobj(Text):
        text.set_parse_math(False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def stage_colours(model: PairedModel) -> list[str]:
    """One colour per lifecycle stage (churned stages grey), as hex strings."""
    tab10 = colormaps["tab10"].colors
    palette = tab10[:7] + tab10[8:]  # tab10's grey is kept for churned stages
    out = []
    for k, stage in enumerate(model.spec.lifecycle.stages):
        rgb = tab10[7] if stage.kind == "churned" else palette[k % len(palette)]
        out.append("#{:02x}{:02x}{:02x}".format(*(round(255 * c) for c in rgb[:3])))
    return out


def title(model: PairedModel, label: str) -> str:
    """``"A: high_touch"``, then the programs switched off and the tactics added.

    For example ``"A: hybrid − escalation + gamification"``.
    """
    name = model.runs[label].policy.name
    levers = model.run_levers[label]
    off = sorted(levers.programs_off.get(name, ()))
    added = levers.tactics_on.get(name, ())
    return f"{label}: {name}" + "".join(f" − {p}" for p in off) + "".join(
        f" + {t}" for t in added
    )


def stages_figure(model: PairedModel, segment: str | None = None) -> Figure:
    """Customers per stage over time, stacked, one panel per policy."""
    names = model.spec.lifecycle.names
    fig = _figure(3.0, right=0.84, wspace=0.08)
    axes = fig.subplots(1, len(model.runs), sharey=True, squeeze=False)[0]
    for ax, label in zip(axes, model.labels, strict=True):
        series = model.series(label, segment)
        ax.stackplot(series["month"], series["stages"].T, labels=names,
                     colors=stage_colours(model))
        ax.set_title(title(model, label), fontsize=10)
        ax.set_xlabel("month")
        ax.set_xlim(0, max(model.spec.time.months, 1))
        ax.margins(x=0)
    axes[0].set_ylabel("customers")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles[::-1], labels[::-1], loc="center right", fontsize=8, frameon=False)
    return fig


def money_figure(model: PairedModel, segment: str | None = None) -> Figure:
    """Retention by months since conversion, and cumulative revenue, cost and profit."""
    fig = _figure(3.0, wspace=0.25)
    ret, money = fig.subplots(1, 2)
    for label in model.labels:
        months, share = model.retention(label, segment)
        ret.plot(months, 100 * share, LINESTYLE[label], color="k", label=title(model, label))
        series = model.series(label, segment)
        for key, colour in MONEY_COLOURS.items():
            money.plot(series["month"], series[key] / 1e6, LINESTYLE[label], color=colour)
    ret.set_title("Retention (Kaplan–Meier, so far)", fontsize=10)
    ret.set_xlabel("months since conversion")
    ret.set_ylabel("% still customers")
    ret.set_xlim(0, max(model.spec.time.months, 1))
    ret.legend(fontsize=8, frameon=False)
    scope = "all customers, all costs" if segment is None else f"{segment}: service + acquisition"
    money.set_title(f"Cumulative money ({scope})", fontsize=10)
    money.set_xlabel("month")
    money.set_ylabel("million")
    money.set_xlim(0, max(model.spec.time.months, 1))
    money.axhline(0, color="0.7", lw=0.8)
    for key, colour in MONEY_COLOURS.items():
        money.plot([], [], color=colour, label=key)
    money.legend(fontsize=8, frameon=False, loc="upper left")
    return fig


def service_figure(model: PairedModel) -> Figure:
    """CSM utilisation, NPS and the engagement index over time (all customers)."""
    fig = _figure(2.6, wspace=0.3)
    axes = fig.subplots(1, len(SERVICE_PANELS))
    for label in model.labels:
        ts = model.runs[label].timeseries()
        for ax, outcome in zip(axes, SERVICE_PANELS, strict=True):
            values = ts[outcome.name].to_numpy(dtype=float) * outcome.scale
            marker = "o" if values.size < 3 else None  # a lone point has no line to show
            ax.plot(ts["month"], values, LINESTYLE[label], color="k", marker=marker,
                    markersize=3, label=title(model, label))
    for ax, outcome in zip(axes, SERVICE_PANELS, strict=True):
        ax.set_title(_capitalised(outcome.heading), fontsize=10)
        ax.set_xlabel("month")
        ax.set_xlim(0, max(model.spec.time.months, 1))
    axes[0].set_ylim(bottom=0)
    axes[1].legend(fontsize=8, frameon=False)
    return fig


def _capitalised(text: str) -> str:
    """``text`` with its first letter upper-case (``"NPS"`` stays as it is)."""
    return text[:1].upper() + text[1:]


def difference(model: PairedModel, segment: str | None = None) -> dict[str, tuple]:
    """Headline numbers so far: ``name → (A, B)`` (B is ``nan`` for a single run).

    Keys: active customers, 12-month retention (%, ``nan`` until observed), cumulative
    revenue, cost and profit (same scope as :func:`money_figure`).
    """
    out: dict[str, list[float]] = {}
    for label in ("A", "B"):
        if label not in model.runs:
            for values in out.values():
                values.append(float("nan"))
            continue
        series = model.series(label, segment)
        is_customer = [stage.kind == "customer" for stage in model.spec.lifecycle.stages]
        months, share = model.retention(label, segment)
        at_12 = np.searchsorted(months, 12.0 - 1e-9)
        retention_12 = OUTCOMES["retention_12"]
        kept = retention_12.scale * share[at_12] if at_12 < share.size else float("nan")
        rows = {
            OUTCOMES["active"].heading: float(series["stages"][-1][is_customer].sum()),
            retention_12.heading: float(kept),
        }
        for key, name in MONEY_OUTCOMES.items():
            rows[OUTCOMES[name].heading] = float(series[key][-1])
        for key, value in rows.items():
            out.setdefault(key, []).append(value)
    return {key: tuple(values) for key, values in out.items()}
