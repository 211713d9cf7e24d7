"""Programs aimed at outcomes: what a program's ``targets`` move and where they act.

A program without ``targets`` adds to the pooled touch dose, as it always has
(:class:`~sim.engine.policies.ProgramPolicy`). A program *with* ``targets`` has its own
response per customer,

    ``r = 1 − exp(−touches_per_month × fit × responsiveness (× quality) / saturation)``

(``saturation``: the monthly fitted touches at which the response is 63 %; default 1),
and moves each target it names by ``x × r`` (``x``: the target's effect at full
response). The effects of all programs are summed per target into
:attr:`Engagement.targets <sim.engine.policies.Engagement.targets>` (one array per
target, one value per customer) and the model applies each where it acts:

* ``churn`` — added to the logit of every edge into a churned stage (negative lowers
  churn; ``−0.5`` at full response multiplies the churn odds by ``e^−0.5``);
* ``conversion:SOURCE->TARGET`` — added to the logit of that edge (scenario key
  ``conversion = { "SOURCE->TARGET" = x }``);
* ``engagement``, ``satisfaction``, ``onboarding`` — added to the touch response in
  that state's gain (:func:`sim.engine.dynamics.respond`): ``x = 1`` at full response
  moves the state as a saturated pooled touch does;
* ``referral`` — the customer's referral weight × ``(1 + x·r)``;
* ``visits`` — the visit rate × ``(1 + x·r)``;
* ``expansion`` — the expansion rate × ``(1 + x·r)``;
* ``price`` — a discount: the enrolled customer's revenue × ``(1 − x)`` while enrolled
  (not scaled by the response; the summed discount is clipped to [0, 1]).

The multiplicative factors are floored at 0.

**Decay** (:class:`Carry`). By default a program's effect lasts the step it is
delivered in, as the pooled touches' does. A program's ``decay`` ``ρ`` in [0, 1) is the
share of its effect that carries over per month (the carry-over rate of a marketing-mix
"adstock"; half-life ``ln 2 / −ln ρ`` months: 0.5 → 1 month, 0.8 → 3.1, 0.9 → 6.6).
Each customer carries, per target, the level

    ``E_t = clip(ρ_s · E_{t−1} + (1 − ρ_s) / (1 − ρ) · x · r_t,  between 0 and x)``,
    ``ρ_s = ρ ^ (1 / steps_per_month)``,

which is ``E_t = x·r_t + ρ·E_{t−1}`` with monthly steps; the factor ``(1 − ρ_s) / (1 −
ρ)`` makes the steady state ``x·r / (1 − ρ)`` and the fading ``ρ`` a month whatever the
step length. The level replaces ``x·r`` as the program's effect on that target. It is
capped at ``x``, the effect at full response: ``x`` is the most the program moves its
target (the library's ranges and their sources measure a running program's whole
effect, carry-over included), so decay lets a lightly touched customer keep past
months' benefit up to what a fully responsive one gets, never beyond (without the cap,
``ρ = 0.9`` would move a target ten times ``x``). Different programs still add up.
``decay = 0`` is today's model, exactly. ``price`` does not carry (a discount lasts
while enrolled).

A customer who leaves the program's audience (another stage, health recovered) keeps
its level, fading by ``ρ`` a month; a customer who *churns* (enters a churned stage)
loses it: one who comes back starts afresh, as the model restarts its onboarding and
engagement. The levels are state of one run of one policy (made in
:meth:`ProgramPolicy.setup <sim.engine.policies.ProgramPolicy.setup>`); nothing is drawn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

#: Targets a program may name (``conversion`` takes a table of edges).
TARGETS = (
    "churn", "engagement", "satisfaction", "onboarding", "referral", "visits",
    "expansion", "price", "conversion",
)
#: Targets that multiply a rate by ``1 + effect``.
FACTOR_TARGETS = ("referral", "visits", "expansion")
CONVERSION = "conversion:"
#: The target that never carries over (a discount lasts while enrolled).
NOT_CARRIED = "price"


def conversion_key(source: str, target: str) -> str:
    """The :attr:`Engagement.targets` key of a conversion edge (stage names)."""
    return f"{CONVERSION}{source}->{target}"


def is_known(key: str) -> bool:
    """Whether ``key`` names a target an :class:`Engagement` may carry."""
    return (key in TARGETS and key != "conversion") or key.startswith(CONVERSION)


def factor(effects: Mapping[str, np.ndarray], name: str) -> np.ndarray | None:
    """``max(0, 1 + effect)`` of target ``name``, or ``None`` when no program aims at it."""
    effect = effects.get(name)
    return None if effect is None else np.maximum(1.0 + effect, 0.0)


def price_discount(effects: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """Each customer's discount on its revenue in [0, 1], or ``None`` when none."""
    effect = effects.get("price")
    return None if effect is None else np.clip(effect, 0.0, 1.0)


def edge_shifts(
    effects: Mapping[str, np.ndarray],
    stage_names: Sequence[str],
    out_edges: Sequence[Sequence],
    churned: np.ndarray,
) -> dict[tuple[int, int], np.ndarray]:
    """The logit shift of every edge a target acts on: ``(source, target)`` → array.

    Args:
        effects: :attr:`Engagement.targets`.
        stage_names: The lifecycle's stage names.
        out_edges: The edges leaving each stage.
        churned: Whether each stage is a churned stage.

    Returns:
        ``churn`` on every edge into a churned stage plus each ``conversion:`` on its
        edge (empty when no program aims at them).

    Raises:
        ValueError: A ``conversion:`` key names no edge of the lifecycle.
    """
    shifts: dict[tuple[int, int], np.ndarray] = {}
    churn = effects.get("churn")
    if churn is not None:
        for edges in out_edges:
            for e in edges:
                if churned[e.target]:
                    shifts[(e.source, e.target)] = churn
    for key, effect in effects.items():
        if not key.startswith(CONVERSION):
            continue
        source, _, target = key[len(CONVERSION):].partition("->")
        if source not in stage_names or target not in stage_names:
            raise ValueError(f"target {key!r} names no edge of the lifecycle")
        edge = (stage_names.index(source), stage_names.index(target))
        if not any((e.source, e.target) == edge for e in out_edges[edge[0]]):
            raise ValueError(f"target {key!r} names no edge of the lifecycle")
        shifts[edge] = shifts[edge] + effect if edge in shifts else effect
    return shifts


def carried(
    previous: np.ndarray, delivered: np.ndarray, decay: float, steps_per_month: float,
    x: float,
) -> np.ndarray:
    """One step of a decaying program's level on one target (see the module docstring).

    Args:
        previous: Each customer's level last step ``E_{t−1}``.
        delivered: This step's ``x · r_t`` (0 for customers the program did not reach).
        decay: ``ρ``, the share carried over per month, in [0, 1).
        steps_per_month: Steps per month.
        x: The target's effect at full response (the cap).

    Returns:
        ``clip(ρ_s · previous + (1 − ρ_s) / (1 − ρ) · delivered)`` between 0 and ``x``.
    """
    kept = decay ** (1.0 / steps_per_month)
    level = kept * previous + (1.0 - kept) / (1.0 - decay) * delivered
    return np.clip(level, min(x, 0.0), max(x, 0.0))


class Carry:
    """The carried levels of a policy's decaying programs during one run.

    Args:
        programs: The policy's programs (:class:`~sim.engine.policies.ProgramSpec`);
            those with targets and ``decay > 0`` carry.
        n: Number of customers.
        steps_per_month: Steps per month.
        churned_stages: Indices of the churned stages (a customer entering one loses
            its levels).

    Raises:
        ValueError: A ``decay`` outside [0, 1).
    """

    def __init__(
        self, programs: Iterable[Any], n: int, steps_per_month: float,
        churned_stages: Iterable[int],
    ):
        self.steps_per_month = steps_per_month
        self.churned = np.asarray(tuple(churned_stages), dtype=np.intp)
        #: program name → ``(decay, {target: (x, level per customer)})``
        self.levels: dict[str, tuple[float, dict[str, tuple[float, np.ndarray]]]] = {}
        for p in programs:
            if not 0.0 <= p.decay < 1.0:
                raise ValueError(f"program {p.name!r}: decay must be in [0, 1), got {p.decay!r}")
            if p.decay > 0 and p.targets:
                self.levels[p.name] = (p.decay, {
                    key: (x, np.zeros(n)) for key, x in p.targets if key != NOT_CARRIED
                })
        self._delivered: dict[tuple[str, str], np.ndarray] = {}

    def carries(self, program: str, key: str) -> bool:
        """Whether ``program``'s effect on target ``key`` carries over."""
        entry = self.levels.get(program)
        return entry is not None and key in entry[1]

    def deliver(self, program: str, key: str, rows: np.ndarray, values: np.ndarray) -> None:
        """Record this step's ``x · r`` of ``program`` on target ``key`` for ``rows``."""
        level = self.levels[program][1][key][1]
        delivered = self._delivered.setdefault((program, key), np.zeros(level.size))
        delivered[rows] += values

    def step(self, stage: np.ndarray, steps_in_stage: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """Advance every level one step and return ``(target, level)`` per program target.

        The returned levels are the carry's own arrays: add them, do not keep them.

        Customers who entered a churned stage last step (``steps_in_stage == 0`` there)
        lose their levels first; then each level becomes :func:`carried` of itself and
        what was delivered this step (:meth:`deliver`).

        Args:
            stage: Each customer's stage index now.
            steps_in_stage: Steps each has spent in it.
        """
        if not self.levels:
            return []
        churned = np.isin(stage, self.churned) & (steps_in_stage == 0)
        out = []
        for name, (decay, targets) in self.levels.items():
            for key, (x, level) in targets.items():
                previous = np.where(churned, 0.0, level)
                delivered = self._delivered.pop((name, key), None)
                if delivered is None:
                    delivered = np.zeros(level.size)
                level[:] = carried(previous, delivered, decay, self.steps_per_month, x)
                out.append((key, level))
        return out
