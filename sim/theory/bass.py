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
engine (:func:`sim.engine.lifecycle.edge_rate`, :func:`sim.engine.lifecycle.choose_exits`) turns the
edge into a monthly rate and a step of ``Δ = 1/steps_per_month`` months into::

    λ(F) = softplus(logit a) − ln(1 − r·F) = −ln(1 − a) − ln(1 − r·F)     (per month)
    h(F) = 1 − e^{−λ(F)·Δ} = 1 − [(1 − a)(1 − r·F)]^Δ                   (per step)

All prospects share ``h``, and the pressure is read before anyone moves, so given
``F_k`` the adopters of step ``k+1`` are Binomial(``n(1 − F_k)``, ``h(F_k)``) and the
adopted share follows, in expectation (exactly up to ``O(1/n)``), the recursion::

    F_{k+1} = F_k + (1 − F_k)·h(F_k),     F_0 = 0                         (bass_discrete)

with variance (linear-noise approximation, exact to leading order in ``1/n``)::

    V_{k+1} = φ'(F_k)²·V_k + (1 − F_k)·h_k·(1 − h_k)/n,
    φ'(F) = 1 − h(F) + (1 − F)·h'(F),  h'(F) = Δ·(1 − h(F))·r/(1 − r·F)   (bass_variance)

Mapping (p, q) ↔ (a, r). As ``Δ → 0`` the recursion tends to the simulation's own
ODE ``dF/dt = (−ln(1 − a) − ln(1 − r·F))(1 − F)`` (:func:`mean_field_limit`). Matching
it to the Bass ODE term by term gives

    a = 1 − e^{−p}   (exact: the advertising hazard is p per month),
    r = q            (exact to first order: −ln(1 − qF) = qF + q²F²/2 + …),

which is what :func:`scenario_coefficients` returns and every function here applies
to its ``(p, q)`` unless ``mapped=False``. The imitation term cannot be matched exactly
(word of mouth is an independent extra *probability* ``r·F``, its rate is convex in
``F``), so the simulation differs from the closed form by two errors of opposite sign:

* discretisation, ``O(Δ)``: the hazard of a whole step is evaluated at the share at its
  start, so the discrete curve lags the continuous one (monthly steps lag most);
* structure, ``O(q²)``: the imitation rate ``−ln(1 − qF)`` exceeds ``qF``, so the
  continuous-time limit runs ahead of the Bass curve. Since
  ``qF ≤ −ln(1 − qF) ≤ −ln(1 − q)·F`` on ``[0, 1]``, the limit lies between the Bass
  curves with imitation ``q`` and ``−ln(1 − q)`` (comparison theorem).

Measured for Bass's classic averages ``p = 0.03, q = 0.38`` (max over 36 months of
``|recursion − closed form|``): monthly 0.087, weekly 0.024, limit ``Δ → 0`` 0.042;
for ``(0.01, 0.5)``: 0.164, 0.034, 0.069; for ``(0.05, 0.1)``: 0.015, 0.003, 0.005.
The weekly curve is the closest partly because the two errors cancel. The
discretisation part alone (``|recursion − mean_field_limit|``) shrinks in proportion
to ``Δ``: 0.119 monthly, 0.030 weekly, 0.004 daily for ``(0.03, 0.38)``;
with a linear imitation rate (``imitation="linear"``) the recursion converges to the
closed form itself. ``tests/theory/test_bass.py`` checks all of this against real runs.

Sparse networks: see :func:`explain_sparse`.

This module is the theory only: it runs no simulation and draws nothing. The runs of
``scenarios/bass.toml`` (:func:`sim.validation.diffusion.simulate_diffusion`), the
checks against this theory and the Bass figure
(:func:`sim.validation.figures.bass_figure`) live in :mod:`sim.validation`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp

#: The shipped scenario that holds the Bass model (:func:`bass_scenario_overrides`).
SCENARIO = "bass"
#: (p, q) pairs per month: Bass's classic averages, fast imitation, weak imitation.
PAIRS: tuple[tuple[float, float], ...] = ((0.03, 0.38), (0.01, 0.5), (0.05, 0.1))
#: Imitation hazards :func:`bass_discrete` knows: engagesim's ``−ln(1 − qF)`` or Bass's ``qF``.
IMITATION = ("engagesim", "linear")

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

Measured (p = 0.03, q = 0.38, 20,000 agents, weekly steps, 4 seeds). Largest shortfall
of the small-world curve below the mixed one: degree 6 with rewire 0 -> 14 percentage
points, rewire 0.05 -> 13, 0.1 -> 12, 1.0 -> 8; degree 20 with rewire 1.0 -> 1.7,
degree 60 with rewire 1.0 -> under 1 (sampling noise about 0.5). Mean pressure on the
prospects / F while 25-75 % have adopted: mixed 1 (exactly), degree 6 rewire 0.05
0.71, rewire 1.0 0.82, degree 60 rewire 1.0 0.98. 95 % adoption is reached after
12.7 months (mixed), 14.3 (degree 6, rewire 1.0) and 15.9 (degree 6, rewire 0.05)."""


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
        q: Bass imitation coefficient per month (at most 1: ``referral`` is a probability).

    Returns:
        ``(marketing.awareness_rate, lifecycle.edges[0].referral) = (1 − e^{−p}, q)``:
        the advertising rate is then exactly ``p``, the imitation rate ``−ln(1 − qF)``
        equals ``qF`` to first order (see the module docstring).
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1] (a referral probability), got {q}")
    return float(-np.expm1(-p)), float(q)


def _rates(
    p: float, q: float, mapped: bool, imitation: str
) -> Callable[[float], tuple[float, float]]:
    """Return F → (adoption rate per month, its derivative in F)."""
    if imitation not in IMITATION:
        raise ValueError(f"imitation must be one of {IMITATION}, got {imitation!r}")
    a, r = scenario_coefficients(p, q) if mapped else (float(p), float(q))
    advert = float(-np.log1p(-a))

    def rate(f: float) -> tuple[float, float]:
        if imitation == "linear":
            return advert + r * f, r
        return advert - float(np.log1p(-r * f)), r / (1.0 - r * f)

    return rate


def _recursion(
    p: float, q: float, steps: int, steps_per_month: float, customers: float | None,
    mapped: bool, imitation: str,
) -> tuple[np.ndarray, np.ndarray]:
    rate = _rates(p, q, mapped, imitation)
    dt = 1.0 / steps_per_month
    mean = np.zeros(steps + 1)
    var = np.zeros(steps + 1)
    for k in range(steps):
        f = mean[k]
        lam, dlam = rate(f)
        h = -np.expm1(-lam * dt)
        mean[k + 1] = f + (1.0 - f) * h
        if customers:
            slope = 1.0 - h + (1.0 - f) * dt * (1.0 - h) * dlam
            var[k + 1] = slope**2 * var[k] + (1.0 - f) * h * (1.0 - h) / customers
    return mean, var


def bass_discrete(
    p: float,
    q: float,
    steps: int,
    steps_per_month: float = 1.0,
    *,
    mapped: bool = True,
    imitation: str = "engagesim",
) -> np.ndarray:
    """Expected adopted share after each step: the recursion the simulation follows.

    ``F_{k+1} = F_k + (1 − F_k)·h(F_k)`` with ``h(F) = 1 − [(1 − a)(1 − rF)]^Δ``,
    ``Δ = 1/steps_per_month`` (module docstring).

    Args:
        p: Bass innovation coefficient per month (the awareness rate if not ``mapped``).
        q: Bass imitation coefficient per month (the edge's referral if not ``mapped``).
        steps: Number of steps.
        steps_per_month: 1 for monthly steps, 52/12 for weekly steps.
        mapped: Map ``(p, q)`` with :func:`scenario_coefficients` (default) or take
            them as the scenario's ``(awareness_rate, referral)`` as they are.
        imitation: ``"engagesim"`` (the engine's rate ``−ln(1 − rF)``) or ``"linear"``
            (Bass's ``rF``; its recursion converges to :func:`bass_closed_form`).

    Returns:
        ``F_0 = 0, F_1, …, F_steps`` (``steps + 1`` values; step ``k`` ends at month
        ``k / steps_per_month``).
    """
    return _recursion(p, q, steps, steps_per_month, None, mapped, imitation)[0]


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
        ``V_0 = 0, …, V_steps``: ``V_{k+1} = φ'(F_k)² V_k + (1 − F_k) h_k (1 − h_k)/n``,
        exact to leading order in ``1/n``. The standard error of a mean over ``S``
        independent runs is ``sqrt(V_k / S)``.
    """
    return _recursion(p, q, steps, steps_per_month, customers, mapped, "engagesim")[1]


def mean_field_limit(
    t: np.ndarray | float, p: float, q: float, *, mapped: bool = True
) -> np.ndarray:
    """The recursion's limit as the step shrinks: the simulation's own continuous ODE.

    Solves ``dF/dt = (−ln(1 − a) − ln(1 − rF))(1 − F)``, ``F(0) = 0`` — with the
    default mapping ``(p − ln(1 − qF))(1 − F)``, the Bass ODE but for the imitation
    rate ``−ln(1 − qF) ≥ qF`` (the ``O(q²)`` structural difference).

    Args:
        t: Time(s) in months, ``t ≥ 0``.
        p: Bass innovation coefficient per month (see :func:`bass_discrete`).
        q: Bass imitation coefficient per month.
        mapped: As in :func:`bass_discrete`.

    Returns:
        ``F(t)`` shaped like ``t`` (relative accuracy about 1e-10).
    """
    rate = _rates(p, q, mapped, "engagesim")
    times = np.atleast_1d(np.asarray(t, dtype=float))
    if times.max(initial=0.0) <= 0.0:
        return np.zeros(np.shape(t))
    sol = solve_ivp(
        lambda _t, y: [rate(min(y[0], 1.0))[0] * (1.0 - y[0])],
        (0.0, float(times.max())),
        [0.0],
        method="DOP853",
        rtol=1e-11,
        atol=1e-13,
        dense_output=True,
    )
    out = np.clip(sol.sol(times)[0], 0.0, 1.0)
    return out.reshape(np.shape(t))


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
