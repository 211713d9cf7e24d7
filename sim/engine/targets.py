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

The multiplicative factors are floored at 0. ``decay`` (an effect that outlasts the
step it is delivered in) is not modelled: a program's effect lasts the step it is
delivered in, as the pooled touches' does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

#: Targets a program may name (``conversion`` takes a table of edges).
TARGETS = (
    "churn", "engagement", "satisfaction", "onboarding", "referral", "visits",
    "expansion", "price", "conversion",
)
#: Targets that multiply a rate by ``1 + effect``.
FACTOR_TARGETS = ("referral", "visits", "expansion")
CONVERSION = "conversion:"


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
