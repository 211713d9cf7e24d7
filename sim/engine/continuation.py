"""Value beyond the horizon: what the customers still active at the end are worth.

A run stops at its horizon, but its active customers do not: counting only the simulated
months lets the horizon decide which policy wins. Each customer active at the horizon
therefore carries a **terminal value**: its expected remaining discounted margin, less
its expected remaining cost to serve.

**How long they stay** is read off the run itself: every step, the model counts the
moves of its customers between stages, per segment (:func:`count_moves`). These counts
estimate a Markov chain on the customer stages of each segment — the policy's own
retention, stage by stage (a loyal customer stays longer than one still onboarding) —
and the customer's future follows that chain (:func:`remaining_steps`). This is the
Markov-chain CLV of Pfeifer & Carraway (2000) with an estimated transition matrix; it
needs no assumption the run did not show. A stage no customer of a segment spent a step
in borrows the segment's pooled exit rate.

**What a step is worth** is held at today's level: the customer's current revenue times
the gross margin (no further expansion), and its average cost to serve per step so far.
With repeat purchases (:mod:`sim.engine.purchases`) the revenue is the expected spend at
the last step's order rate, ``λ · basket``, net of that step's price discount: today's
engagement and programs, held like a subscription's contract.
Both are discounted like the run's own cash flows: margin at the end of each step the
customer completes, cost by everyone who starts the step (see
:func:`sim.engine.economics.book`), from the customer's conversion. With a constant
churn ``r`` the lifetime value is then exactly ``m·s/(1 + d − s)`` (``s = 1 − r``,
``d`` the monthly rate), whatever the horizon; with repeat purchases ``m`` is
``margin · order_frequency · engagement · basket`` (tests/engine/test_purchases.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def count_moves(counts: np.ndarray, segment: np.ndarray, before: np.ndarray,
                after: np.ndarray, who: np.ndarray | None = None) -> None:
    """Add one step's stage moves to ``counts`` (in place).

    Args:
        counts: ``(segments, stages, stages)`` move counts.
        segment: Each agent's segment.
        before: Each agent's stage at the start of the step.
        after: Each agent's stage at its end.
        who: Whose moves to count (``None``: every agent's).
    """
    if who is not None:
        segment, before, after = segment[who], before[who], after[who]
    n_stage = counts.shape[1]
    index = (segment.astype(np.intp) * n_stage + before) * n_stage + after
    counts += np.bincount(index, minlength=counts.size).reshape(counts.shape)


@dataclass(frozen=True)
class Remaining:
    """Expected discounted future steps of a customer, per segment and stage.

    Attributes:
        paid: ``(segments, stages)``: ``Σ_k v^k · P(still a customer after k steps)`` —
            the weight of a step's margin (booked at the end of each completed step).
        served: ``(segments, stages)``: ``Σ_k v^k · P(a customer after k − 1 steps)`` —
            the weight of a step's cost (paid by everyone who starts the step).
    """

    paid: np.ndarray
    served: np.ndarray


def remaining_steps(counts: np.ndarray, customer: np.ndarray, discount: float) -> Remaining:
    """The discounted future of a customer in each segment and customer stage.

    Args:
        counts: ``(segments, stages, stages)`` move counts of the run.
        customer: ``(stages,)`` which stages are customer stages.
        discount: Discount factor of one step, ``v`` in ``(0, 1)``.

    Returns:
        The weights (zero for stages that are not customer stages; ``nan`` for every
        customer stage of a segment whose discounted future is unbounded: customers
        who never leave, valued without a discount, ``v = 1``).
    """
    n_seg, n_stage, _ = counts.shape
    stages = np.flatnonzero(customer)
    paid = np.zeros((n_seg, n_stage))
    served = np.zeros((n_seg, n_stage))
    # every segment's chain at once (integer counts: their float sums are exact)
    from_customer = counts[:, stages]
    block = from_customer[:, :, stages].astype(float)
    exposure = from_customer.sum(axis=2).astype(float)
    total = exposure.sum(axis=1)
    pooled_stay = np.divide(block.sum(axis=(1, 2)), total, out=np.ones(n_seg), where=total > 0)
    seen = exposure > 0
    q = np.divide(block, exposure[:, :, None], out=np.zeros(block.shape), where=seen[:, :, None])
    segment, row = np.nonzero(~seen)
    q[segment, row, row] = pooled_stay[segment]
    discounted = discount * q
    identity, ones = np.eye(len(stages)), np.ones(len(stages))
    for k in range(n_seg):
        if _may_diverge(discounted[k]):
            served[k, stages] = paid[k, stages] = np.nan  # Σ_k v^k Q^k 1 diverges
            continue
        # Σ_k v^k Q^(k−1) 1 = v (I − vQ)^(−1) 1;  Σ_k v^k Q^k 1 = that with Q applied first
        solve = np.linalg.solve(identity - discounted[k], ones)
        served[k, stages] = discount * solve
        paid[k, stages] = discount * (q[k] @ solve)
    return Remaining(paid, served)


#: A largest absolute row sum below this bounds the spectral radius far enough below
#: ``1 − 1e-12`` (by more than the eigenvalues' rounding error, ~1e-15 here) that the
#: eigenvalues would say the same: they are not computed.
CLEARLY_CONVERGENT = 1.0 - 1e-9


def _may_diverge(discounted: np.ndarray) -> bool:
    """Whether ``Σ_k (vQ)^k`` may diverge: the spectral radius of ``vQ`` is ``≥ 1 − 1e-12``.

    The radius is at most the largest absolute row sum (any induced norm bounds it),
    which is below 1 whenever the discount is (``Q``'s rows sum to at most 1): the
    eigenvalues (~30 µs a segment, most of a run's terminal values) are only computed
    when that bound does not settle it (``v = 1``, no discount).
    """
    if np.abs(discounted).sum(axis=1).max(initial=0.0) < CLEARLY_CONVERGENT:
        return False
    return bool(np.abs(np.linalg.eigvals(discounted)).max() >= 1.0 - 1e-12)
