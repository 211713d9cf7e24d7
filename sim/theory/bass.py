"""Bass diffusion theory: word of mouth in a fully mixed population, in closed form.

Concept. In the Bass (1969) model a prospect adopts through advertising (innovation
coefficient ``p``) and through imitation of those who already adopted (coefficient
``q`` times the adopted share ``F``), both per month::

    dF/dt = (p + q·F)(1 − F),      F(0) = 0,
    F(t)  = (1 − e^{−(p+q)t}) / (1 + (q/p)·e^{−(p+q)t})          (closed form)

engagesim holds the same model as data (``scenarios/bass.toml``): a ``prospect`` stage,
an ``adopter`` stage with referral weight 1, one edge with base ``"marketing"``
(``a = marketing.awareness_rate``) and word of mouth ``r = referral``, on a fully
``mixed`` network, so the pressure on every prospect is the adopted share ``F``. The
engine (:func:`sim.engine.lifecycle.edge_rate`) gives the edge the monthly rate::

    λ(P) = softplus(logit a) + r·P = −ln(1 − a) + r·P                  (per month)

for a pressure ``P``: advertising as a rate plus word of mouth, an additive rate. With
``a = 1 − e^{−p}`` and ``r = q`` (:func:`scenario_coefficients`) this is ``p + q·F``, the
Bass hazard exactly. A step of ``Δ = 1/steps_per_month`` months leaves the prospect
stage with probability ``h = 1 − e^{−λΔ}`` (:func:`sim.engine.lifecycle.choose_exits`).

The step's pressure. The pressure changes during the step while the step's moves are
drawn at once, so the engine uses the pressure predicted for the middle of the step
from its last change (:func:`sim.engine.network.midstep_pressure`, an Adams–Bashforth
predictor)::

    P̃_k = F_k + (F_k − F_{k−1})/2,      F_{−1} = F_0 (first step: no history)

Given the history, the adopters of step ``k+1`` are Binomial(``n(1 − F_k)``,
``h(P̃_k)``), so the adopted share follows, in expectation (exactly up to ``O(1/n)``),
the recursion::

    F_{k+1} = F_k + (1 − F_k)·(1 − e^{−(p + q·P̃_k)·Δ}),     F_0 = 0      (bass_discrete)

with variance (linear-noise approximation, exact to leading order in ``1/n``; the
predictor makes it a two-step recursion, so the lag covariance ``C_k = Cov(F_k,
F_{k−1})`` is carried along)::

    δF_{k+1} = α_k·δF_k + β_k·δF_{k−1} + ε_k,   Var ε_k = (1 − F_k)·h_k·(1 − h_k)/n,
    α_k = 1 − h_k + (3/2)·(1 − F_k)·h'_k,  β_k = −(1/2)·(1 − F_k)·h'_k,
    h'_k = Δ·(1 − h_k)·q,
    V_{k+1} = α_k²V_k + β_k²V_{k−1} + 2α_kβ_k·C_k + Var ε_k,
    C_{k+1} = α_k·V_k + β_k·C_k                                          (bass_variance)

Step error. As ``Δ → 0`` the recursion tends to the Bass ODE itself: the imitation
rate is ``q·F``, so nothing but the time step separates the simulation from the closed
form. The predicted pressure misses the step's mean pressure by about ``(3/8)·F''·Δ²``,
so the curve is ``O(Δ²)`` from the closed form; with the pressure at the start of the
step (``scheme="start"``, what the engine did before) it lags by ``O(Δ)``.
:func:`step_error` measures the largest ``|recursion − closed form|`` over 120 months on
the grid :data:`GRID_P` × :data:`GRID_Q` (``p`` = 0.005 … 0.05, ``q`` = 0.1 … 0.6);
:func:`explain_steps` states it. Measured with
``.venv/bin/python -c "from sim.theory.bass import explain_steps; print(explain_steps())"``:
weekly steps at most 0.81 percentage points (0.21 for ``p = 0.03, q = 0.38``), monthly
steps at most 11.1 pp (3.3 for ``(0.03, 0.38)``), both worst at ``p = 0.005, q = 0.6``
around month 8; with the pressure at the start of the step 7.1 pp weekly (2.5) and
26.8 pp monthly (10.3). Weekly steps are therefore what the Bass checks compare with
the closed form; monthly steps follow the recursion as closely, but the recursion
itself is that far from the closed form when imitation is fast (``q·Δ`` = 0.6 in a
month). ``tests/theory/test_bass.py`` checks all of this against real runs.

Sparse networks: see :func:`explain_sparse`.

This module is the theory only: it runs no simulation and draws nothing. The runs of
``scenarios/bass.toml`` (:func:`sim.validation.diffusion.simulate_diffusion`), the
checks against this theory and the Bass figure
(:func:`sim.validation.figures.bass_figure`) live in :mod:`sim.validation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

#: The shipped scenario that holds the Bass model (:func:`bass_scenario_overrides`).
SCENARIO = "bass"
#: (p, q) pairs per month: Bass's classic averages, fast imitation, weak imitation.
PAIRS: tuple[tuple[float, float], ...] = ((0.03, 0.38), (0.01, 0.5), (0.05, 0.1))
#: How a step takes its pressure (:func:`bass_discrete`): ``"midstep"``, predicted for
#: the middle of the step (the engine), or ``"start"``, at its start (first order; what
#: the engine did before, kept for comparison).
SCHEMES = ("midstep", "start")
#: The grid of Bass coefficients (per month) :func:`step_error` measures the step error on.
GRID_P: tuple[float, ...] = tuple(np.round(np.linspace(0.005, 0.05, 10), 6))
GRID_Q: tuple[float, ...] = tuple(np.round(np.linspace(0.1, 0.6, 11), 6))
#: Horizon (months) of the step-error measurement: the slowest grid curve saturates.
GRID_MONTHS = 120

#: A network kind (``"mixed"``, ``"small_world"``, ``"none"``) or ``[network]`` keys.
NetworkArg = str | Mapping[str, Any]

SPARSE_EXPLANATION = """\
Why word of mouth on a sparse network is slower than the Bass curve.

HOW the curve departs: on a small-world network (degree 4-6, rewire 0.01-0.1) the
S-curve starts like the mixed one (advertising, the same everywhere, does the early
work), then rises more slowly and is more drawn out: it falls below the mixed curve
in the middle of the diffusion, by the most where the mixed curve is steepest, and
reaches saturation months later.

WHY: a prospect hears only its neighbours. Its pressure is the share of ITS neighbours
who adopted, and word of mouth is local, so adopters cluster: (1) local saturation --
on the lattice, an adopter's neighbours are mostly adopters already (they converted
each other, and neighbours of neighbours are neighbours), so its recommendations land
on people who have adopted and only the cluster boundary is exposed; (2) survivor
selection -- the prospects still left are those whose neighbours have not (yet)
adopted, and every customer converted by word of mouth has at least one adopted
neighbour, the one who converted it. Either way the mean pressure on the remaining
prospects is LOWER than the population share F that a mixed population would feel, so
imitation, the q·F term of the Bass hazard, is weaker: q·F is effectively replaced by
q·(mean pressure on prospects) < q·F. Advertising (p) is unaffected.

What changes it: rewiring replaces lattice links with random long-range ones and
removes the clustering (1), so more rewiring brings the curve closer to the mixed one;
at rewire = 1 the network is a random graph, but with 6 neighbours (2) remains:
surviving prospects still see fewer adopters than average. That part shrinks roughly
like 1/degree and only a larger degree removes it; with many random neighbours the
network is, for word of mouth, fully mixed and the Bass curve returns.

Measured (p = 0.03, q = 0.38, 20,000 agents, weekly steps, 4 seeds, 24 months; the
command: .venv/bin/python -m sim.validation.diffusion). Largest shortfall of the
small-world curve below the mixed one: degree 6 with rewire 0 -> 13.5 percentage
points, rewire 0.05 -> 12.6, 0.1 -> 11.9, 1.0 -> 8.3; degree 20 with rewire 1.0 -> 1.8,
degree 60 with rewire 1.0 -> 1.0 (standard error of these gaps 0.3-0.6). Mean pressure
on the prospects / F while 25-75 % have adopted: mixed 1 (exactly), degree 6 rewire
0 0.70, rewire 0.05 0.73, rewire 1.0 0.83, degree 60 rewire 1.0 0.98. 95 % adoption is
reached after 13.6 months (mixed), 15.2 (degree 6, rewire 1.0) and 16.8 (degree 6,
rewire 0.05)."""


def explain_sparse() -> str:
    """Explain how and why the adoption curve departs from Bass on a sparse network.

    Returns:
        Plain text (also :data:`SPARSE_EXPLANATION`): the shape of the departure, the
        mechanisms (local saturation and survivor selection lower the pressure on the
        remaining prospects below the population share), what rewiring and degree do,
        and measured sizes. ``tests/theory/test_bass.py`` checks each claim on real runs.
    """
    return SPARSE_EXPLANATION


# ----------------------------------------------------------------------------------
# theory


def bass_closed_form(t: np.ndarray | float, p: float, q: float) -> np.ndarray:
    """Cumulative adopted share of the Bass model at time ``t``.

    Args:
        t: Time(s) in months (``t ≥ 0``).
        p: Innovation (advertising) coefficient per month, ``p > 0``.
        q: Imitation (word of mouth) coefficient per month, ``q ≥ 0``.

    Returns:
        ``F(t) = (1 − e^{−(p+q)t}) / (1 + (q/p)·e^{−(p+q)t})``, the solution of
        ``dF/dt = (p + qF)(1 − F)`` with ``F(0) = 0``, shaped like ``t``.
    """
    if p <= 0:
        raise ValueError(f"p must be positive, got {p}")
    decay = np.exp(-(p + q) * np.asarray(t, dtype=float))
    return (1.0 - decay) / (1.0 + (q / p) * decay)


def scenario_coefficients(p: float, q: float) -> tuple[float, float]:
    """Scenario parameters that make engagesim follow the Bass model ``(p, q)``.

    Args:
        p: Bass innovation coefficient per month.
        q: Bass imitation coefficient per month (at most 1: the scenario's ``referral``
            is held to [0, 1]).

    Returns:
        ``(marketing.awareness_rate, lifecycle.edges[0].referral) = (1 − e^{−p}, q)``:
        the engine's hazard is then ``p + q·F`` per month, Bass's exactly.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1] (the scenario's referral range), got {q}")
    return float(-np.expm1(-p)), float(q)


def _recursion(
    p: Any, q: Any, steps: int, steps_per_month: float, customers: float | None,
    mapped: bool, scheme: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the adopted share; ``p`` and ``q`` may be arrays (broadcast)."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    p, q = np.broadcast_arrays(np.asarray(p, dtype=float), np.asarray(q, dtype=float))
    if mapped:
        advert, r = p, q  # −ln(1 − a) with a = 1 − e^{−p}
    else:
        advert, r = -np.log1p(-p), q
    lead = 0.5 if scheme == "midstep" else 0.0  # weight of the last change in P̃
    dt = 1.0 / steps_per_month
    mean = np.zeros((steps + 1, *p.shape))
    var = np.zeros_like(mean)
    cov = np.zeros(p.shape)  # Cov(F_k, F_{k−1})
    for k in range(steps):
        f = mean[k]
        before = mean[k - 1] if k else f
        pressure = np.maximum(f + lead * (f - before), 0.0)
        h = -np.expm1(-(advert + r * pressure) * dt)
        mean[k + 1] = f + (1.0 - f) * h
        if customers:
            dh = np.where(pressure > 0.0, (1.0 - f) * dt * (1.0 - h) * r, 0.0)
            alpha = 1.0 - h + (1.0 + lead) * dh if k else 1.0 - h + dh
            beta = -lead * dh if k else 0.0
            v_before = var[k - 1] if k else 0.0
            var[k + 1] = (alpha**2 * var[k] + beta**2 * v_before + 2 * alpha * beta * cov
                          + (1.0 - f) * h * (1.0 - h) / customers)
            cov = alpha * var[k] + beta * cov
    return mean, var


def bass_discrete(
    p: float,
    q: float,
    steps: int,
    steps_per_month: float = 1.0,
    *,
    mapped: bool = True,
    scheme: str = "midstep",
) -> np.ndarray:
    """Expected adopted share after each step: the recursion the simulation follows.

    ``F_{k+1} = F_k + (1 − F_k)·(1 − e^{−(p + q·P̃_k)Δ})`` with the mid-step pressure
    ``P̃_k = F_k + (F_k − F_{k−1})/2``, ``Δ = 1/steps_per_month`` (module docstring).

    Args:
        p: Bass innovation coefficient per month (the awareness rate if not ``mapped``).
        q: Bass imitation coefficient per month (the edge's referral if not ``mapped``).
        steps: Number of steps.
        steps_per_month: 1 for monthly steps, 52/12 for weekly steps.
        mapped: Map ``(p, q)`` with :func:`scenario_coefficients` (default) or take
            them as the scenario's ``(awareness_rate, referral)`` as they are.
        scheme: ``"midstep"`` (the engine: the pressure predicted for the middle of the
            step) or ``"start"`` (the pressure at the start of the step, first order;
            for comparison).

    Returns:
        ``F_0 = 0, F_1, …, F_steps`` (``steps + 1`` values; step ``k`` ends at month
        ``k / steps_per_month``).
    """
    return _recursion(p, q, steps, steps_per_month, None, mapped, scheme)[0]


def bass_variance(
    p: float,
    q: float,
    steps: int,
    steps_per_month: float,
    customers: int,
    *,
    mapped: bool = True,
) -> np.ndarray:
    """Variance of one run's adopted share after each step (linear-noise approximation).

    Args:
        p: Bass innovation coefficient per month (see :func:`bass_discrete`).
        q: Bass imitation coefficient per month.
        steps: Number of steps.
        steps_per_month: 1 for monthly steps, 52/12 for weekly steps.
        customers: Number of agents ``n``.
        mapped: As in :func:`bass_discrete`.

    Returns:
        ``V_0 = 0, …, V_steps`` of the engine's recursion (module docstring: the
        two-step linear-noise recursion with the lag covariance), exact to leading
        order in ``1/n``. The standard error of a mean over ``S`` independent runs is
        ``sqrt(V_k / S)``.
    """
    return _recursion(p, q, steps, steps_per_month, customers, mapped, "midstep")[1]


@dataclass(frozen=True)
class StepError:
    """The largest gap between the recursion and the Bass closed form on a grid.

    Attributes:
        steps_per_month: 1 for monthly steps, 52/12 for weekly steps.
        scheme: The recursion's scheme (:data:`SCHEMES`).
        error: ``max over (p, q) and t of |recursion − closed form|`` (a share).
        p: The ``p`` where it is largest.
        q: The ``q`` where it is largest.
        month: The month where it is largest.
    """

    steps_per_month: float
    scheme: str
    error: float
    p: float
    q: float
    month: float


@lru_cache(maxsize=16)
def step_error(
    steps_per_month: float,
    *,
    scheme: str = "midstep",
    grid_p: tuple[float, ...] = GRID_P,
    grid_q: tuple[float, ...] = GRID_Q,
    months: int = GRID_MONTHS,
) -> StepError:
    """The step error of the recursion: its largest distance from the Bass closed form.

    Args:
        steps_per_month: 1 for monthly steps, 52/12 for weekly steps.
        scheme: As in :func:`bass_discrete`.
        grid_p: Bass innovation coefficients per month.
        grid_q: Bass imitation coefficients per month.
        months: Horizon in months.

    Returns:
        The largest ``|bass_discrete − bass_closed_form|`` over every step of every
        ``(p, q)`` of the grid, and where it is.
    """
    steps = round(months * steps_per_month)
    p, q = np.meshgrid(np.asarray(grid_p, float), np.asarray(grid_q, float), indexing="ij")
    mean = _recursion(p, q, steps, steps_per_month, None, True, scheme)[0]
    t = (np.arange(steps + 1) / steps_per_month)[:, None, None]
    decay = np.exp(-(p + q) * t)
    gap = np.abs(mean - (1.0 - decay) / (1.0 + (q / p) * decay))
    k, i, j = np.unravel_index(int(np.argmax(gap)), gap.shape)
    return StepError(float(steps_per_month), scheme, float(gap[k, i, j]), float(p[i, j]),
                     float(q[i, j]), float(t[k, 0, 0]))


def explain_steps(pair: tuple[float, float] = PAIRS[0]) -> str:
    """State how far weekly and monthly steps are from the Bass closed form.

    Args:
        pair: One ``(p, q)`` to quote as well (default Bass's classic averages).

    Returns:
        Plain text: the largest ``|recursion − closed form|`` on the grid
        (:func:`step_error`) for weekly and monthly steps, the engine's mid-step
        pressure against the pressure at the start of the step, and the same for
        ``pair`` alone (every number computed here, nothing quoted).
    """
    p, q = pair
    lines = [
        f"Step error: largest |recursion - Bass closed form| over {GRID_MONTHS} months, "
        f"p = {GRID_P[0]:g} ... {GRID_P[-1]:g}, q = {GRID_Q[0]:g} ... {GRID_Q[-1]:g} "
        f"({len(GRID_P)} x {len(GRID_Q)} grid), and for p = {p:g}, q = {q:g}:"
    ]
    for label, spm in (("weekly", 52 / 12), ("monthly", 1.0)):
        for scheme, what in (("midstep", "mid-step pressure (engine)"),
                             ("start", "pressure at step start")):
            grid = step_error(spm, scheme=scheme)
            one = step_error(spm, scheme=scheme, grid_p=(p,), grid_q=(q,))
            lines.append(
                f"  {label:7s} {what:27s} {100 * grid.error:5.2f} pp (worst at p = "
                f"{grid.p:g}, q = {grid.q:g}, month {grid.month:.1f}); "
                f"{100 * one.error:5.2f} pp for ({p:g}, {q:g})"
            )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------
# parameters of the shipped scenario


def _network_overrides(network: NetworkArg) -> dict[str, Any]:
    if isinstance(network, str):
        return {"network.kind": network}
    return {f"network.{key}": value for key, value in network.items()}


def bass_scenario_overrides(
    p: float,
    q: float,
    *,
    customers: int = 20_000,
    months: int = 36,
    step: str = "week",
    network: NetworkArg = "mixed",
    mapped: bool = True,
) -> dict[str, Any]:
    """Overrides of ``scenarios/bass.toml`` for a diffusion with ``(p, q)``.

    Args:
        p: Bass innovation coefficient per month (the awareness rate if not ``mapped``).
        q: Bass imitation coefficient per month (the referral if not ``mapped``).
        customers: Number of agents.
        months: Horizon in months.
        step: ``"month"`` or ``"week"``.
        network: A network kind (``"mixed"``, ``"small_world"``, ``"none"``) or a
            mapping of ``[network]`` keys, e.g. ``{"kind": "small_world", "degree": 6,
            "rewire": 0.05}``.
        mapped: As in :func:`bass_discrete`.

    Returns:
        Dotted-key overrides for :func:`sim.engine.scenario.load_scenario`.
    """
    a, r = scenario_coefficients(p, q) if mapped else (p, q)
    return {
        "marketing.awareness_rate": a,
        "lifecycle.edges[0].referral": r,
        "time.step": step,
        "time.months": months,
        "population.customers": customers,
        **_network_overrides(network),
    }
