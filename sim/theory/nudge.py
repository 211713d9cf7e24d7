"""Closed forms of the churn-nudge toy (``scenarios/churn_nudge.toml``): decide's known answer.

An installed base churns with a constant monthly probability ``r0``. Policy ``none``
does nothing; policy ``nudge`` costs ``c`` per customer-month and moves the churn odds
by ``e^(β·x)`` (``x`` the touch response, the same for everyone), so its churn is
``r(β) = sigmoid(logit(r0) + β·x)``. With survival ``s = 1 − r``, monthly discount
``v = (1 + d)^(−1/12)`` and margin ``m``, a customer's expected discounted lifetime
profit is::

    V(s) = m·Σ_{k≥1} s^k·v^k − c·Σ_{k≥1} s^(k−1)·v^k = (m·s·v − c·v) / (1 − s·v)

(month ``k``'s margin is booked for the customers who stay through it, its touch is
paid by everyone who starts it, and both are discounted to the end of the month, as
:func:`sim.engine.economics.book` does). That is what ``engagesim decide`` values a
policy by: the simulated months plus what customers still active at the horizon are
worth (:mod:`sim.engine.continuation`), so the answer does not depend on the horizon.
With ``β ~ uniform(a, b)`` the advantage
``Δ(β) = V_nudge(β) − V_none`` is monotone, so everything ``engagesim decide`` estimates
has a closed form up to one-dimensional quadrature (:func:`nudge_answer`):

* the break-even ``β*`` with ``Δ(β*) = 0`` (``scipy.optimize.brentq``);
* ``P(nudge best) = (β* − a)/(b − a)`` (a stronger, more negative ``β`` favours it);
* each policy's expected regret ``E[max(0, ±Δ)]`` and the
  ``EVPI = E[max(V_none, V_nudge)] − max(E[V_none], E[V_nudge])``, the integral of the
  loss over the part of ``[a, b]`` where the choice made without information is wrong
  (``scipy.integrate.quad``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import integrate, optimize

from sim.engine.scenario import Scenario
from sim.theory.expressibility import fixed_value

NONE, NUDGE = "none", "nudge"
EFFECT_PATH = "lifecycle.edges[0].drivers.touch"
"""The uncertain touch coefficient ``β`` of the churn edge."""


@dataclass(frozen=True)
class NudgeToy:
    """The toy's numbers, read from its scenario.

    Attributes:
        r0: Monthly churn without the nudge.
        margin: Margin per customer-month.
        cost: Cost of the nudge per customer-month.
        response: Touch response ``x``.
        annual_discount_rate: ``d``.
        low: Lower end ``a`` of the uniform range of ``β``.
        high: Upper end ``b``.
    """

    r0: float
    margin: float
    cost: float
    response: float
    annual_discount_rate: float
    low: float
    high: float

    @classmethod
    def of(cls, scenario: Scenario) -> NudgeToy:
        """Read the toy's numbers from ``scenarios/churn_nudge.toml`` (or a variant)."""
        segment = scenario.segments[0]
        program = scenario.policies[NUDGE].programs[0]
        traits = {t: fixed_value(segment, t) for t in
                  ("churn_propensity", "revenue", "digital_affinity", "responsiveness")}
        dose = (program.touches_per_month * program.effect * traits["digital_affinity"]
                * traits["responsiveness"])
        uncertainty = next(u for u in scenario.uncertainties if u.path == EFFECT_PATH)
        low, high = uncertainty.support()
        return cls(
            r0=traits["churn_propensity"],
            margin=scenario.economics.gross_margin * traits["revenue"],
            cost=program.touches_per_month * program.cost_per_touch,
            response=-math.expm1(-dose),
            annual_discount_rate=scenario.economics.annual_discount_rate,
            low=low,
            high=high,
        )

    def value(self, policy: str, beta: float) -> float:
        """Expected discounted lifetime profit of one customer under ``policy`` at ``β``."""
        r = self.r0
        cost = 0.0
        if policy == NUDGE:
            logit = math.log(self.r0 / (1.0 - self.r0)) + beta * self.response
            r = 1.0 / (1.0 + math.exp(-logit))
            cost = self.cost
        v = (1.0 + self.annual_discount_rate) ** (-1.0 / 12.0)
        sv = (1.0 - r) * v
        return (self.margin * sv - cost * v) / (1.0 - sv)

    def advantage(self, beta: float) -> float:
        """``Δ(β) = V_nudge(β) − V_none``."""
        return self.value(NUDGE, beta) - self.value(NONE, beta)


@dataclass(frozen=True)
class NudgeAnswer:
    """What ``engagesim decide`` should find on the toy (per customer).

    Attributes:
        break_even: ``β*``.
        p_nudge_best: Probability the nudge is the better policy.
        expected: Policy → expected profit per customer.
        regret: Policy → expected regret per customer.
        evpi: Expected value of perfect information per customer.
    """

    break_even: float
    p_nudge_best: float
    expected: dict[str, float]
    regret: dict[str, float]
    evpi: float


def nudge_answer(toy: NudgeToy) -> NudgeAnswer:
    """The closed-form answer of the toy."""
    a, b = toy.low, toy.high
    width = b - a
    beta_star = optimize.brentq(toy.advantage, a, b, xtol=1e-12)
    gain = integrate.quad(lambda t: max(toy.advantage(t), 0.0), a, b, points=[beta_star])[0]
    loss = integrate.quad(lambda t: max(-toy.advantage(t), 0.0), a, b, points=[beta_star])[0]
    none = toy.value(NONE, 0.0)
    nudge = none + (gain - loss) / width
    regret = {NONE: gain / width, NUDGE: loss / width}
    return NudgeAnswer(
        break_even=beta_star,
        p_nudge_best=(beta_star - a) / width,
        expected={NONE: none, NUDGE: nudge},
        regret=regret,
        evpi=min(regret.values()),
    )
