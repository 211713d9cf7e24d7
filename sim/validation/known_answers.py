"""The known-answer check group: toy cases whose answer is arithmetic.

**Concept.** A few cases need no theory module at all:

* :func:`geometric_retention_check` — with a constant monthly churn ``p`` the retention
  curve is ``(1 − p)^m`` at every step, monthly and weekly (the rate is rescaled
  exactly);
* :func:`discounted_value_check` — the mean discounted LTV is ``Σ m·(r·v)^k``;
* :func:`pure_advertising_check` — without word of mouth adoption is ``1 − e^(−pt)``;
* :func:`competing_exits_check` — two competing exits with probabilities ``p1`` and
  ``p2`` are left with probability ``1 − (1 − p1)(1 − p2)``, shared in proportion to
  their rates;
* :func:`logit_linear_check` — an edge's probability is logit-linear in its drivers.

Each is held to :data:`~sim.validation.checks.K` binomial or sample standard errors
(the last, deterministic, to rounding).

Typical use::

    from sim.validation.known_answers import geometric_retention_check

    geometric_retention_check("week", customers=20_000, seed=6_001).passed
"""

from __future__ import annotations

import math

import numpy as np

from sim.engine.lifecycle import Edge, choose_exits, edge_rate
from sim.engine.metrics import retention_curve
from sim.validation.checks import (
    Check,
    K,
    binomial_se,
    fixed_trait,
    make_check,
    step_label,
    worst,
    z_score,
)
from sim.validation.diffusion import simulate_adoption
from sim.validation.markov import simulate_chain_run

#: Name of the group in the report.
GROUP = "known answers"


def _worst_step(gap: np.ndarray, se: np.ndarray) -> tuple[int, np.ndarray]:
    """z-scores of a curve's gap (∞ where the SE is 0 but the gap is not) and its worst step."""
    z = np.divide(gap, se, out=np.where(np.abs(gap) > 1e-12, np.inf, 0.0), where=se > 0)
    return int(np.argmax(np.abs(z))), z


def geometric_retention_check(step: str, customers: int, seed: int) -> Check:
    """Constant churn: the whole retention curve is ``(1 − p)^m``, step by step.

    Args:
        step: ``"month"`` or ``"week"`` (the rate is rescaled exactly).
        customers: Customers (all installed base).
        seed: The run's seed.

    Returns:
        A check held to :data:`~sim.validation.checks.K` binomial SE at every step.
    """
    model = simulate_chain_run("constant_churn", "none", step, customers, seed)
    churn = fixed_trait(model.spec.segments[0], "churn_propensity")
    share, _ = retention_curve(model.converted_step, model.churn_step, model.steps)
    k = np.arange(share.size)
    expected = (1.0 - churn) ** (k / model.steps_per_month)
    j, z = _worst_step(share - expected, binomial_se(expected, model.n))
    detail = (f"{model.n:,} customers, {share.size - 1} steps; worst: month "
              f"{j / model.steps_per_month:.1f}, z = {z[j]:+.2f}")
    return make_check(f"geometric retention, {step_label(step)}", GROUP,
                      abs(float(z[j])), K, "SE", detail)


def discounted_value_check(customers: int, seed: int) -> Check:
    """Constant churn: mean LTV = ``Σ_k m·(r·v)^k`` over the horizon (monthly steps).

    Args:
        customers: Customers.
        seed: The run's seed.

    Returns:
        A check held to :data:`~sim.validation.checks.K` SE of the mean.
    """
    model = simulate_chain_run("constant_churn", "none", "month", customers, seed)
    spec = model.spec
    seg = spec.segments[0]
    r = 1.0 - fixed_trait(seg, "churn_propensity")
    m = spec.economics.gross_margin * fixed_trait(seg, "revenue")
    v = (1.0 + spec.economics.annual_discount_rate) ** (-1.0 / 12.0)
    expected = sum(m * (r * v) ** k for k in range(1, spec.time.months + 1))
    ltv = model.ltv
    z = z_score(float(ltv.mean()), expected, float(ltv.std(ddof=1)) / math.sqrt(ltv.size))
    detail = f"mean LTV {ltv.mean():,.2f} vs Σ m(rv)^k = {expected:,.2f}, z = {z:+.2f}"
    return make_check("discounted value", GROUP, abs(z), K, "SE", detail)


def pure_advertising_check(customers: int, seed: int, p: float = 0.05) -> Check:
    """Without word of mouth adoption is ``F(t) = 1 − e^{−pt}`` (monthly steps).

    Args:
        customers: Agents.
        seed: The run's seed.
        p: Advertising rate per month.

    Returns:
        A check held to :data:`~sim.validation.checks.K` binomial SE at every month.
    """
    months = 24
    shares = simulate_adoption(p, 0.5, customers=customers, months=months, step="month",
                               network="none", seed=seed)
    expected = -np.expm1(-p * np.arange(months + 1))
    j, z = _worst_step(shares - expected, binomial_se(expected, customers))
    detail = f"network none, p = {p:g}: worst month {j}, z = {z[j]:+.2f}"
    return make_check("pure advertising 1 − e^(−pt)", GROUP, abs(float(z[j])), K, "SE",
                      detail)


def competing_exits_check(draws: int, seed: int, p1: float = 0.3, p2: float = 0.2) -> Check:
    """Competing exits (:func:`sim.engine.lifecycle.choose_exits`) match competing risks.

    Two edges with monthly probabilities ``p1`` and ``p2`` are left with probability
    ``1 − (1 − p1)(1 − p2)``, shared in proportion to their rates.

    Args:
        draws: Customers drawn.
        seed: Seed of the uniforms.
        p1: Probability of the first edge alone.
        p2: Probability of the second edge alone.

    Returns:
        A check held to :data:`~sim.validation.checks.K` binomial SE.
    """
    u = np.random.default_rng(seed).random(draws)
    rates = [-math.log1p(-p1), -math.log1p(-p2)]
    choice, _ = choose_exits(rates, draws, 1.0, u)
    leave = 1.0 - (1.0 - p1) * (1.0 - p2)
    shares = {"leave": leave, "edge 1": rates[0] / sum(rates) * leave,
              "edge 2": rates[1] / sum(rates) * leave}
    observed = {"leave": np.mean(choice >= 0), "edge 1": np.mean(choice == 0),
                "edge 2": np.mean(choice == 1)}
    z = {k: z_score(float(observed[k]), v, float(binomial_se(v, draws)))
         for k, v in shares.items()}
    label, value = worst(z)
    detail = f"{draws:,} draws, p = {p1:g} and {p2:g}: worst {label}, z = {value:+.2f}"
    return make_check("competing risks", GROUP, abs(value), K, "SE", detail)


def logit_linear_check() -> Check:
    """An edge's probability is ``sigmoid(logit(base) + β·driver)`` exactly.

    Returns:
        A check of the largest absolute difference, held to 1e-12.
    """
    edge = Edge(source=0, target=1, base=0.1, drivers=(("engagement", 2.0),))
    rows = np.arange(5)
    drivers = {"engagement": np.array([0.0, 0.5, -0.5, 1.0, -1.0])}
    rate, _ = edge_rate(edge, rows, drivers, {}, None)
    p = -np.expm1(-np.asarray(rate))
    z = math.log(0.1 / 0.9) + 2.0 * drivers["engagement"]
    diff = float(np.max(np.abs(p - 1.0 / (1.0 + np.exp(-z)))))
    return make_check("logit-linear edge probability", GROUP, diff, 1e-12,
                      "probability", "base 0.1, engagement coefficient 2 at five values")
