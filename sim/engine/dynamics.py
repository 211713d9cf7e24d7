"""Customer state dynamics: onboarding, engagement, satisfaction, usage, health.

Each step, for every active customer (``r`` = response to this step's touches):

* onboarding progress ``o += (rate · (1 − complexity) + gain_o · r) · (1 − o)`` —
  complex products are slow to adopt alone, touches speed them up;
* engagement moves toward the value the product delivers,
  ``target_e = product_value · (0.3 + 0.7 · o) · (1 − complexity_drag · complexity)``
  (complex accounts realise less value unaided), ``e += κ_e (target_e − e) + gain_e · r (1 − e)``:
  it decays without value;
* the community pull: with a community of strength ``c`` (:func:`community_strength`:
  the scenario's ``community_strength`` combined with the policy's community program),
  ``target_e = (1 − c) · target_e + c · m`` where ``m`` is the mean engagement of the
  customer's *active* neighbours (:func:`sim.engine.network.active_neighbour_mean`);
  a customer with no active neighbour feels no pull. It needs a network (``mixed`` and
  ``none``: no pull);
* satisfaction follows engagement, ``target_s = base_s + slope_s · e``,
  ``s += κ_s (target_s − s) + gain_s · r (1 − s)``;
* usage: visits ~ Poisson(visits_per_month · e) per month;
* health, what the company observes: ``0.8 · visits / visits_per_month + 0.2 · o`` plus
  Gaussian noise, clipped to [0, 1] — usage-based and noisy, not the true churn risk
  (weights :data:`HEALTH_USAGE_WEIGHT` and :data:`HEALTH_ONBOARDING_WEIGHT`);
* product feedback (the collaborative roadmap): with a feedback rate ``f`` > 0 (the
  scenario's ``feedback_rate`` plus the policy's roadmap program's) the product improves
  with the mean engagement of the active customers, ``v += f · mean(e) · (1 − v)``
  per month. The product's value is the run's state, so each policy (each run) has
  its own trajectory.

The step's phases that own these rules are :func:`respond` (touches → onboarding,
engagement, satisfaction), :func:`improve_product` (the feedback loop) and
:func:`observe` (usage and the health score the company sees).

Monthly rates are converted to per-step rates for weekly steps (``1 − (1 − κ)^(1/k)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import sparse

from sim.engine.network import active_neighbour_mean
from sim.engine.sorted_rows import locate

#: Weight of usage (visits relative to the expected visits) in the health score.
HEALTH_USAGE_WEIGHT = 0.8
#: Weight of onboarding progress in the health score.
HEALTH_ONBOARDING_WEIGHT = 0.2
#: One more than the most terms of the Poisson CDF :func:`poisson_from_uniform` sums.
_POISSON_TERMS = 1000


@dataclass(frozen=True)
class DynamicsSpec:
    """Parameters of the state dynamics (all rates per month)."""

    product_value: float = 0.7
    engagement_adjust: float = 0.3
    satisfaction_adjust: float = 0.3
    satisfaction_base: float = 0.2
    satisfaction_slope: float = 0.7
    touch_engagement_gain: float = 0.3
    touch_satisfaction_gain: float = 0.2
    complexity_drag: float = 0.3
    onboarding_rate: float = 0.35
    touch_onboarding_gain: float = 0.8
    visits_per_month: float = 20.0
    health_noise: float = 0.1
    community_strength: float = 0.0
    feedback_rate: float = 0.0
    new_customer_engagement: float = 0.5
    new_customer_satisfaction: float = 0.6


class CustomerState(NamedTuple):
    """The three state arrays touches move (one value per customer, each in [0, 1])."""

    onboarding: np.ndarray
    engagement: np.ndarray
    satisfaction: np.ndarray


def midpoint(
    before: CustomerState, after: CustomerState, out: CustomerState | None = None
) -> CustomerState:
    """The state halfway through the step (what the lifecycle hazards use).

    Args:
        before: State at the start of the step.
        after: State after :func:`respond`.
        out: Arrays to write it into (``before`` itself will do: each element is read
            before it is written); ``None``: new arrays.

    Returns:
        ``0.5 · (before + after)`` for each array (``out`` when given).
    """
    if out is None:
        return CustomerState(*(0.5 * (a + b) for a, b in zip(before, after, strict=True)))
    for a, b, into in zip(before, after, out, strict=True):
        np.add(a, b, out=into)
        np.multiply(into, 0.5, out=into)  # the same bits as 0.5 · (a + b)
    return out


def per_step(rate_per_month: float, steps_per_month: float) -> float:
    """Convert a monthly share-of-gap rate to a per-step rate.

    Args:
        rate_per_month: Share of the gap closed in a month.
        steps_per_month: Steps in a month.

    Returns:
        The share of the gap closed in one step.
    """
    return 1.0 - (1.0 - rate_per_month) ** (1.0 / steps_per_month)


def engagement_target(
    product_value: float, onboarding: np.ndarray, complexity: np.ndarray, drag: float
) -> np.ndarray:
    """Engagement a customer settles at without touches.

    Args:
        product_value: Value the product delivers to a fully onboarded, simple account.
        onboarding: Onboarding progress.
        complexity: The customer's complexity trait.
        drag: How much complexity reduces the value realised.

    Returns:
        ``product_value · (0.3 + 0.7 · onboarding) · (1 − drag · complexity)``.
    """
    return product_value * (0.3 + 0.7 * onboarding) * (1.0 - drag * complexity)


def satisfaction_target(spec: DynamicsSpec, engagement: np.ndarray) -> np.ndarray:
    """Satisfaction a customer settles at for a given engagement.

    Args:
        spec: The dynamics parameters (base and slope).
        engagement: Engagement.

    Returns:
        ``base + slope · engagement``, clipped to [0, 1].
    """
    return np.clip(spec.satisfaction_base + spec.satisfaction_slope * engagement, 0.0, 1.0)


def poisson_from_uniform(lam: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Poisson draws by inversion of the CDF, one uniform each.

    Inversion (rather than ``Generator.poisson``) consumes exactly one uniform per
    customer whatever the rates, which keeps the random streams of two policies in
    lockstep (common random numbers).

    Args:
        lam: Poisson means.
        u: One uniform in [0, 1) per mean.

    Returns:
        The draws (integers, 0 where ``lam`` ≤ 0).
    """
    k = np.zeros(lam.size, dtype=np.int64)
    rows = (lam > 0).nonzero()[0]
    if rows.size == 0:
        return k
    lam_r, u_r = lam[rows], u[rows]
    pmf = np.exp(-lam_r)
    cdf = pmf.copy()
    more = np.empty(rows.size, dtype=bool)
    ratio = np.empty(rows.size)
    passes = np.zeros(rows.size, dtype=np.uint8)  # counted since the last flush into k
    compacted = False
    # k = number of j with u > CDF(j - 1): count while any draw is still above the CDF.
    # The CDF only grows, so a draw once below it stays below: once 7/8 of the rows are
    # done the rest go on alone (each row's numbers are the same whoever else is left).
    for j in range(1, _POISSON_TERMS):
        np.greater(u_r, cdf, out=more)
        if not np.logical_or.reduce(more):
            break
        np.add(passes, more.view(np.uint8), out=passes)
        if j % 255 == 0:  # before the uint8 counter could wrap
            k[rows] += passes
            passes[:] = 0
        if not compacted and j % 4 == 0 and 8 * np.count_nonzero(more) < more.size:
            k[rows] += passes
            left = more.nonzero()[0]
            rows, lam_r, u_r, pmf, cdf = (x[left] for x in (rows, lam_r, u_r, pmf, cdf))
            more, ratio, passes = more[left], ratio[left], np.zeros(left.size, np.uint8)
            compacted = True
        np.divide(lam_r, j, out=ratio)
        np.multiply(pmf, ratio, out=pmf)
        np.add(cdf, pmf, out=cdf)
    k[rows] += passes
    return k


def health_score(usage: np.ndarray, onboarding: np.ndarray) -> np.ndarray:
    """Noise-free health: ``0.8 · usage + 0.2 · onboarding``.

    Args:
        usage: Usage relative to the expected usage, in [0, 1] (the installed base
            starts with its engagement here).
        onboarding: Onboarding progress.

    Returns:
        The weighted sum (weights :data:`HEALTH_USAGE_WEIGHT`,
        :data:`HEALTH_ONBOARDING_WEIGHT`).
    """
    return HEALTH_USAGE_WEIGHT * usage + HEALTH_ONBOARDING_WEIGHT * onboarding


def observed_health(
    visits: np.ndarray, onboarding: np.ndarray, visits_per_step: float, noise: np.ndarray
) -> np.ndarray:
    """Health score the company sees (usage-based, noisy).

    Args:
        visits: Visits in the step.
        onboarding: Onboarding progress.
        visits_per_step: Expected visits in a step at full engagement.
        noise: Gaussian noise to add.

    Returns:
        :func:`health_score` of the capped usage plus ``noise``, clipped to [0, 1].
    """
    usage = np.minimum(visits / max(visits_per_step, 1e-12), 1.0)
    return np.clip(health_score(usage, onboarding) + noise, 0.0, 1.0)


def starting_state(
    spec: DynamicsSpec,
    active: np.ndarray,
    onboarding: np.ndarray,
    complexity: np.ndarray,
) -> tuple[CustomerState, np.ndarray]:
    """The state a run starts from: the installed base settled at its targets.

    Args:
        spec: The dynamics parameters.
        active: Which customers start as customers (the others start at 0).
        onboarding: Each customer's onboarding if it is a customer (its starting
            stage's ``initial_onboarding``).
        complexity: The customers' complexity trait.

    Returns:
        ``(state, health)``: engagement at :func:`engagement_target`, satisfaction at
        :func:`satisfaction_target`, and the noise-free :func:`health_score` with
        engagement standing in for usage.
    """
    o = np.where(active, onboarding, 0.0)
    e = np.where(
        active,
        engagement_target(spec.product_value, o, complexity, spec.complexity_drag),
        0.0,
    )
    s = np.where(active, satisfaction_target(spec, e), 0.0)
    health = np.where(active, health_score(e, o), 0.0)
    return CustomerState(o, e, s), health


def community_strength(scenario: float, policy: float) -> float:
    """The strength of the community pull when the scenario and the policy both pull.

    Two pulls toward the same neighbours' mean compose: pulling by ``a`` and then by
    ``b`` leaves ``(1 − a)(1 − b)`` of the own target, so the combined strength is
    ``a + b − a·b`` (exactly ``a`` when ``b`` is 0, and the reverse).

    Args:
        scenario: The scenario's ``dynamics.community_strength`` (customers who meet
            anyway, whatever the policy).
        policy: The strength of the policy's community program (its
            :class:`~sim.engine.policies.Engagement`'s ``community_strength``).

    Returns:
        The combined strength, in [0, 1].
    """
    return scenario + policy - scenario * policy


def community_target(
    own: np.ndarray,
    strength: float,
    network: sparse.csr_array | None,
    engagement: np.ndarray,
    active: np.ndarray,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """The engagement target with the community pull toward the active neighbours.

    Args:
        own: Each customer's own target (:func:`engagement_target`), or only the
            targets of ``rows``.
        strength: The pull's strength ``c`` (:func:`community_strength`).
        network: The row-normalised network (``None``: no pull).
        engagement: Engagement now (every customer's).
        active: Which customers are customers (only they are in the community).
        rows: The customers ``own`` holds, in its order (``None``: every customer).

    Returns:
        ``(1 − c) · own + c · m`` where ``m`` is the mean engagement of the active
        neighbours, ``own`` for customers without an active neighbour (``own`` itself
        when ``c`` is 0 or there is no network); the same rows as ``own``.
    """
    if strength <= 0 or network is None:
        return own
    mean, has = active_neighbour_mean(network, engagement, active)
    if rows is not None:
        mean, has = mean[rows], has[rows]
    return np.where(has, (1 - strength) * own + strength * mean, own)


def respond(
    spec: DynamicsSpec,
    steps_per_month: float,
    state: CustomerState,
    response: np.ndarray,
    *,
    active: np.ndarray,
    complexity: np.ndarray,
    product_value: float,
    network: sparse.csr_array | None,
    community: float = 0.0,
    aimed: Mapping[str, np.ndarray] | None = None,
) -> CustomerState:
    """Move onboarding, engagement and satisfaction by one step (active customers only).

    Args:
        spec: The dynamics parameters.
        steps_per_month: Steps in a month.
        state: State at the start of the step.
        response: Response to this step's touches, in [0, 1).
        active: Which customers are customers (the others keep their state).
        complexity: The customers' complexity trait.
        product_value: The product's current value (see :func:`improve_product`).
        network: The row-normalised network, for the community pull (``None``: none).
        community: The strength of the policy's community program (0: none), combined
            with the scenario's by :func:`community_strength`.
        aimed: Effects of programs aimed at ``onboarding``, ``engagement`` or
            ``satisfaction`` (:mod:`sim.engine.targets`), each added to the response
            ``r`` in that state's gain (``None``: none).

    Returns:
        The new state (new arrays; ``state`` is not modified).
    """
    moved = []

    def settle(_: int, before: np.ndarray, rows: np.ndarray, new: np.ndarray) -> None:
        moved.append(_settled(before, rows, new))

    _respond_rows(spec, steps_per_month, state, response, settle, active=active,
                  complexity=complexity, product_value=product_value, network=network,
                  community=community, aimed=aimed)
    return CustomerState(*moved)


def _settled(whole: np.ndarray, rows: np.ndarray, new: np.ndarray) -> np.ndarray:
    """A copy of ``whole`` with ``new`` clipped to [0, 1] at ``rows`` (``new`` clipped in place)."""
    out = whole.copy()
    out[rows] = np.clip(new, 0.0, 1.0, out=new)
    return out


def respond_in_place(
    spec: DynamicsSpec,
    steps_per_month: float,
    state: CustomerState,
    response: np.ndarray,
    *,
    active: np.ndarray,
    complexity: np.ndarray,
    product_value: float,
    network: sparse.csr_array | None,
    community: float = 0.0,
    aimed: Mapping[str, np.ndarray] | None = None,
) -> MidStep:
    """:func:`respond`, writing the new state into ``state``'s arrays; return the midpoint.

    The same numbers as :func:`respond` followed by :func:`midpoint`, without a second
    copy of the state: only the active customers' rows change, and the midpoint is
    held at those rows alone (everywhere else it is the state itself), so the step
    holds the state plus three values per active customer instead of three copies of
    the state (a run's peak memory, issue 15). Each state array is written once its
    old values have been read for the last time (the community pull reads the old
    engagement of every customer before engagement is written).

    Args:
        spec: As :func:`respond`.
        steps_per_month: As :func:`respond`.
        state: State at the start of the step, overwritten with the state after it.
        response: As :func:`respond`.
        active: As :func:`respond`.
        complexity: As :func:`respond`.
        product_value: As :func:`respond`.
        network: As :func:`respond`.
        community: As :func:`respond`.
        aimed: As :func:`respond`.

    Returns:
        The state halfway through the step.
    """
    halfway: list[np.ndarray] = []
    moved_rows: list[np.ndarray] = []

    def settle(k: int, before: np.ndarray, rows: np.ndarray, new: np.ndarray) -> None:
        np.clip(new, 0.0, 1.0, out=new)
        old = before[rows]
        np.add(old, new, out=old)
        np.multiply(old, 0.5, out=old)  # the same bits as midpoint's 0.5 · (a + b)
        before[rows] = new
        halfway.append(old)
        moved_rows[:] = [rows]

    _respond_rows(spec, steps_per_month, state, response, settle, active=active,
                  complexity=complexity, product_value=product_value, network=network,
                  community=community, aimed=aimed)
    return MidStep(moved_rows[0], CustomerState(*halfway), state)


class MidStep:
    """The state halfway through a step, held at the rows that moved.

    :func:`respond` moves the active customers alone; the others' midpoint is their
    state itself (``0.5 · (x + x)`` is ``x`` exactly), so only the moved rows' values
    are held (:func:`respond_in_place`).

    Args:
        rows: The rows that moved (ascending).
        at_rows: The midpoint's onboarding, engagement and satisfaction at ``rows``.
        state: The state after the step's response (every other row's midpoint).
    """

    __slots__ = ("_last", "at_rows", "rows", "state")

    def __init__(self, rows: np.ndarray, at_rows: CustomerState, state: CustomerState):
        self.rows, self.at_rows, self.state = rows, at_rows, state
        self._last: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def at(self, name: str, rows: np.ndarray) -> np.ndarray:
        """The midpoint of state ``name`` (``"engagement"``, …) at ``rows`` (a new array).

        Args:
            name: A :class:`CustomerState` field.
            rows: Rows, ascending (a stage's: asked for by each driver in turn, so the
                lookup of the last rows asked for is kept).
        """
        if self._last is None or self._last[0] is not rows:
            self._last = (rows, *locate(self.rows, rows))
        _, hit, pos = self._last
        out = getattr(self.state, name)[rows]
        out[hit] = getattr(self.at_rows, name)[pos]
        return out

    def full(self) -> CustomerState:
        """The midpoint of every row, as :func:`midpoint` gives it (new arrays)."""
        whole = []
        for now, half in zip(self.state, self.at_rows, strict=True):
            mid = now.copy()
            mid[self.rows] = half
            whole.append(mid)
        return CustomerState(*whole)


def _respond_rows(
    spec: DynamicsSpec,
    steps_per_month: float,
    state: CustomerState,
    response: np.ndarray,
    settle: Callable[[int, np.ndarray, np.ndarray, np.ndarray], None],
    *,
    active: np.ndarray,
    complexity: np.ndarray,
    product_value: float,
    network: sparse.csr_array | None,
    community: float,
    aimed: Mapping[str, np.ndarray] | None,
) -> None:
    """The arithmetic of :func:`respond` at the active rows, each new state handed on.

    ``settle(k, whole, rows, new)`` is called for onboarding, engagement and
    satisfaction in turn (``k`` = 0, 1, 2) with the state's whole array, the rows and
    their new values before clipping (``new`` is the caller's to clip and keep), each
    once the old array will not be read again here: onboarding once the engagement
    target is made, engagement once the community pull has read it.
    """
    d, spm, act = spec, steps_per_month, active
    # only the customers move: the others keep their state, so the arithmetic runs on
    # their rows alone (each row's operations as on the whole arrays: the same bits);
    # each state's rows are gathered when first needed and let go once its new values
    # are handed on (fewer at once: a run's peak memory, issue 15)
    rows = act.nonzero()[0]
    r = response[rows]
    k_o = per_step(d.onboarding_rate, spm)
    g_o = per_step(d.touch_onboarding_gain, spm)
    aimed = aimed or {}
    r_o, r_e, r_s = (r + aimed[k][rows] if k in aimed else r
                     for k in ("onboarding", "engagement", "satisfaction"))
    del r
    # in place, in two scratch arrays: each line's operations in the order of the
    # formula in its comment (the same bits as evaluating it)
    o, complexity = state.onboarding[rows], complexity[rows]
    gain, gap = g_o * r_o, np.subtract(1.0, o)
    del r_o
    # o + (k_o · (1 − complexity) + g_o · r_o) · (1 − o)
    o_new = np.subtract(1.0, complexity)
    o_new *= k_o
    o_new += gain
    o_new *= gap
    o_new += o
    del o
    target_e = engagement_target(product_value, o_new, complexity, d.complexity_drag)
    del complexity
    settle(0, state.onboarding, rows, o_new)
    del o_new
    strength = community_strength(d.community_strength, community)
    target_e = community_target(target_e, strength, network, state.engagement, act, rows)
    k_e = per_step(d.engagement_adjust, spm)
    g_e = per_step(d.touch_engagement_gain, spm)
    # e + k_e · (target_e − e) + g_e · r_e · (1 − e)
    e = state.engagement[rows]
    e_new = np.subtract(target_e, e, out=target_e)
    e_new *= k_e
    e_new += e
    np.multiply(r_e, g_e, out=gain)
    gain *= np.subtract(1.0, e, out=gap)
    e_new += gain
    del e, r_e
    k_s = per_step(d.satisfaction_adjust, spm)
    g_s = per_step(d.touch_satisfaction_gain, spm)
    # s + k_s · (satisfaction_target(e_new) − s) + g_s · r_s · (1 − s)
    s_new = satisfaction_target(d, e_new)
    settle(1, state.engagement, rows, e_new)
    del e_new
    s = state.satisfaction[rows]
    s_new -= s
    s_new *= k_s
    s_new += s
    np.multiply(r_s, g_s, out=gain)
    gain *= np.subtract(1.0, s, out=gap)
    s_new += gain
    settle(2, state.satisfaction, rows, s_new)


def improve_product(
    product_value: float,
    spec: DynamicsSpec,
    steps_per_month: float,
    active: np.ndarray,
    engagement: np.ndarray,
    feedback_rate: float = 0.0,
) -> float:
    """The feedback loop: engaged customers make the product better.

    Args:
        product_value: The product's value now.
        spec: The dynamics parameters (``feedback_rate``: the scenario's).
        steps_per_month: Steps in a month.
        active: Which customers are customers.
        engagement: Engagement.
        feedback_rate: The policy's roadmap program's rate per month (0: none), added
            to the scenario's.

    Returns:
        ``v + f / spm · mean engagement of the active · (1 − v)`` with ``f`` the sum of
        the two rates; ``v`` unchanged when ``f`` is 0 or nobody is active.
    """
    rate = spec.feedback_rate + feedback_rate
    if rate > 0 and active.any():
        lift = rate / steps_per_month * float(engagement[active].mean())
        product_value += lift * (1.0 - product_value)
    return product_value


def observe(
    spec: DynamicsSpec,
    steps_per_month: float,
    active: np.ndarray,
    engagement: np.ndarray,
    onboarding: np.ndarray,
    rng: np.random.Generator,
    visit_factor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw this step's usage and the health score the company sees.

    Draws one uniform per customer (the visits, by :func:`poisson_from_uniform`), then
    one standard normal per customer (the health noise), whoever is active: the second
    is drawn once the first has been used, so the two are never held at once.

    Args:
        spec: The dynamics parameters.
        steps_per_month: Steps in a month.
        active: Which customers are customers (the others get 0 visits, health 0).
        engagement: Engagement.
        onboarding: Onboarding progress.
        rng: The run's generator.
        visit_factor: Per-customer multiplier of the visit rate (programs aimed at
            ``visits``; ``None``: 1).

    Returns:
        ``(visits, health)`` (visits as ``int32``).
    """
    d, spm, n = spec, steps_per_month, active.size
    # the others get 0 visits and health 0: only the customers' rows are computed
    rows = active.nonzero()[0]
    lam = d.visits_per_month / spm * engagement[rows]
    if visit_factor is not None:
        lam *= visit_factor[rows]
    visits = np.zeros(n, dtype=np.int32)  # fewer than _POISSON_TERMS each
    visits[rows] = poisson_from_uniform(lam, rng.random(n)[rows])
    del lam
    health = np.zeros(n)
    noise = d.health_noise * rng.standard_normal(n)[rows]
    health[rows] = observed_health(visits[rows], onboarding[rows], d.visits_per_month / spm, noise)
    return visits, health


__all__ = [
    "HEALTH_ONBOARDING_WEIGHT",
    "HEALTH_USAGE_WEIGHT",
    "CustomerState",
    "DynamicsSpec",
    "MidStep",
    "community_strength",
    "community_target",
    "engagement_target",
    "health_score",
    "improve_product",
    "midpoint",
    "observe",
    "observed_health",
    "per_step",
    "poisson_from_uniform",
    "respond",
    "respond_in_place",
    "satisfaction_target",
    "starting_state",
]
