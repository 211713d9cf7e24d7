"""The social network word of mouth travels on.

Stored as a row-normalised ``scipy.sparse`` CSR matrix ``W`` (``W[i, j] = 1/deg(i)`` for
each neighbour ``j``), so the share of a customer's neighbours who refer is one
sparse mat-vec: ``pressure = W @ referrer_weight``. The small-world graph
(Watts–Strogatz: a ring lattice whose edges are rewired with probability ``rewire``)
is generated directly as arrays, because building a networkx graph of a million nodes
takes minutes and gigabytes; networkx is only used for drawing small samples.

``mixed`` is the fully mixed population of the Bass model (everyone hears everyone),
``none`` switches word of mouth off.

Word of mouth (the step's phases that use the network):

* :func:`referral_weight` — how strongly each customer recommends the product: the
  ``referral_weight`` of its stage × its ``referral_propensity``;
* :func:`pressure` — the pressure on each customer, the network-weighted mean of its
  neighbours' weights (fully mixed: everyone's mean);
* :func:`midstep_pressure` — the pressure a step's hazards use: predicted for the middle
  of the step from its value now and at the previous step;
* :func:`credit_referrers` — which customer a word-of-mouth move is credited to: one
  neighbour, in proportion to the same weights.

The community pull on engagement (:func:`sim.engine.dynamics.respond`) uses
:func:`active_neighbour_mean`: the mean engagement of a customer's *active* neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

NETWORK_KINDS = ("small_world", "mixed", "none")


@dataclass(frozen=True)
class NetworkSpec:
    """How customers are connected.

    Attributes:
        kind: One of :data:`NETWORK_KINDS`.
        degree: Mean number of neighbours (even; small-world only).
        rewire: Probability that a lattice edge is rewired to a random node.
    """

    kind: str = "small_world"
    degree: int = 6
    rewire: float = 0.1


def small_world(n: int, degree: int, rewire: float, rng: np.random.Generator) -> sparse.csr_array:
    """Build a Watts–Strogatz graph as a row-normalised CSR matrix.

    Node ``i``'s lattice edges go to ``i + 1, …, i + half`` (mod ``n``); each edge's far
    end is rewired, with probability ``rewire``, to a uniform random node. The graph is
    built with 32-bit indices and without 64-bit intermediates: at degree 6 its build
    peaks at 124 bytes per node and the result keeps 52 (a 64-bit construction peaked at
    334). It draws the same random numbers in the same order as one ``rng.random(m)``
    and one ``rng.integers(0, n, m)`` (``m = n·half`` edges), so the graph is the one
    those draws define.

    Args:
        n: Number of nodes.
        degree: Each node links to ``degree // 2`` successors on the ring.
        rewire: Probability of rewiring each edge's far end to a uniform random node.
        rng: The run's generator.

    Returns:
        ``W`` with ``W[i, j] = 1 / deg(i)`` (``float32``) for neighbours ``j``
        (duplicates merged, no self-loops), in canonical form (sorted indices).
    """
    half = max(1, min(degree // 2, (n - 1) // 2))
    if n < 3:
        return sparse.csr_array((n, n))
    m = n * half  # edge e = i·half + k − 1 joins i and i + k
    idx = np.int32 if 2 * m <= np.iinfo(np.int32).max else np.int64
    flipped = np.flatnonzero(_chunked(rng, m, lambda g, size: g.random(size) < rewire))
    far = _chunked(rng, m, lambda g, size: g.integers(0, n, size=size), flipped)
    # rows and cols of both directions of every edge: i → far end, then far end → i
    rows, cols = np.empty(2 * m, dtype=idx), np.empty(2 * m, dtype=idx)
    node = np.arange(n, dtype=idx)[:, None]
    rows[:m].reshape(n, half)[:] = node
    ends = cols[:m]
    np.add(node, np.arange(1, half + 1, dtype=idx), out=ends.reshape(n, half))
    ends[ends >= n] -= n
    ends[flipped] = far
    rows[m:], cols[m:] = ends, rows[:m]
    # a rewired edge onto its own node is no edge: weight 0, dropped after merging
    data = np.ones(2 * m, dtype=np.float32)
    loops = flipped[far == flipped // half]
    data[loops], data[loops + m] = 0.0, 0.0
    del flipped, far, ends, node
    adj = sparse.coo_array((data, (rows, cols)), shape=(n, n))
    del rows, cols, data
    adj = adj.tocsr()  # merges duplicates (sorting each row) in place
    adj.eliminate_zeros()
    deg = np.diff(adj.indptr)
    # 1/deg(i) in float32, repeated along row i (the same floats as dividing each entry)
    adj.data = np.repeat(np.float32(1.0) / np.maximum(deg, 1).astype(np.float32), deg)
    return adj


def _chunked(rng, size, draw, keep=None, chunk=1 << 16):
    """``draw(rng, size)`` taken in chunks, optionally keeping only the rows ``keep``.

    A draw's values depend only on the generator's state, which carries over from call
    to call (a bounded integer below 2³² takes 32 bits, and the generator keeps the
    unused half of a 64-bit word for the next call), so the chunks give the values one
    call of ``size`` gives, without holding all of them at once
    (``tests/engine/test_network.py`` checks both).

    Args:
        rng: The generator.
        size: Values drawn in all.
        draw: ``draw(rng, n)`` returns ``n`` values (or anything derived from them
            elementwise, e.g. a comparison).
        keep: Sorted rows to keep (``None``: all).
        chunk: Values drawn per call.

    Returns:
        The drawn values (of the rows ``keep``).
    """
    parts = []
    for start in range(0, size, chunk):
        stop = min(start + chunk, size)
        values = draw(rng, stop - start)
        if keep is not None:
            lo, hi = np.searchsorted(keep, [start, stop])
            values = values[keep[lo:hi] - start]
        parts.append(values)
    return np.concatenate(parts) if parts else np.empty(0)


def build(spec: NetworkSpec, n: int, rng: np.random.Generator) -> sparse.csr_array | None:
    """Build the network a scenario asks for.

    Args:
        spec: The scenario's network.
        n: Number of customers.
        rng: The run's generator (drawn from only for a small world).

    Returns:
        The row-normalised matrix, or ``None`` for ``mixed`` and ``none``.
    """
    if spec.kind == "small_world":
        return small_world(n, spec.degree, spec.rewire, rng)
    return None


# ----------------------------------------------------------------------------------
# word of mouth


def referral_weight(
    stage_weight: np.ndarray, stage: np.ndarray, propensity: np.ndarray
) -> np.ndarray:
    """How strongly each customer recommends the product right now.

    Args:
        stage_weight: ``referral_weight`` of each lifecycle stage.
        stage: Each customer's stage index.
        propensity: Each customer's ``referral_propensity`` trait.

    Returns:
        ``stage_weight[stage] · propensity``, one weight per customer.
    """
    return stage_weight[stage] * propensity


#: Customers whose float32 weight :func:`referral_weight32` makes at a time.
WEIGHT_BLOCK = 1 << 16


def referral_weight32(
    stage_weight: np.ndarray,
    stage: np.ndarray,
    propensity: np.ndarray,
    factor: np.ndarray | None = None,
    block: int = WEIGHT_BLOCK,
) -> np.ndarray:
    """:func:`referral_weight` (× ``factor``) as ``float32``, the network's type.

    The same numbers as ``(referral_weight(…) * factor).astype(np.float32)``, made
    ``block`` customers at a time: the float64 weights of every customer are never held
    (a run's peak memory, issue 15).

    Args:
        stage_weight: ``referral_weight`` of each lifecycle stage.
        stage: Each customer's stage index.
        propensity: Each customer's ``referral_propensity`` trait.
        factor: Each customer's multiplier (programs aimed at referrals; ``None``: 1).
        block: Customers at a time.
    """
    out = np.empty(stage.size, dtype=np.float32)
    for start in range(0, stage.size, max(block, 1)):
        at = slice(start, start + block)
        weight = referral_weight(stage_weight, stage[at], propensity[at])
        if factor is not None:
            weight *= factor[at]  # the same product as weight * factor
        out[at] = weight  # rounded to float32 as astype rounds
    return out


def pressure(network: sparse.csr_array | None, weight: np.ndarray) -> np.ndarray:
    """Word-of-mouth pressure on every customer.

    Args:
        network: The row-normalised network, ``None`` for a fully mixed population.
        weight: Each customer's :func:`referral_weight` (on a network it may be given
            as float32 already: :func:`referral_weight32`).

    Returns:
        The network-weighted sum of each customer's neighbours' weights (fully mixed:
        everyone's mean, as a read-only broadcast array); ``float32`` on a network.
    """
    if network is None:  # fully mixed
        return np.broadcast_to(weight.mean(), (weight.size,))
    # float32 like the matrix: a float64 vector would make scipy copy the matrix
    return network @ weight.astype(np.float32, copy=False)


def midstep_pressure(now: np.ndarray, before: np.ndarray | None) -> np.ndarray:
    """The pressure halfway through the step about to be taken (second-order predictor).

    Word of mouth acts over the whole step while the pressure changes with the moves the
    step makes, which are not drawn yet. Taking the pressure at the start of the step
    (``P_k``) makes the hazard lag by half a step, a first-order error in the step
    length ``Δ``. The midpoint ``P(t_k + Δ/2)`` is predicted by extrapolating the last
    step's change, as the second-order Adams–Bashforth method does::

        P̃_k = P_k + (P_k − P_{k−1}) / 2 = P(t_k + Δ/2) − (3/8)·P''·Δ² + O(Δ³)

    so the step's integrated hazard is right to second order and the error of the whole
    curve is ``O(Δ²)`` (``sim.theory.bass`` measures it against the Bass closed form).
    It is clipped at 0 (a pressure cannot be negative). It draws nothing and needs only
    the previous step's pressure.

    Args:
        now: This step's :func:`pressure` (at the start of the step).
        before: The previous step's :func:`pressure`, or ``None`` on the first step
            (then ``now`` is used as it is).

    Returns:
        The predicted pressure, one per customer (fully mixed: a read-only broadcast
        array like ``now``).
    """
    if before is None or before.shape != now.shape or now.size == 0:
        return now
    if now.strides == (0,) and before.strides == (0,):  # fully mixed: one number
        mid = max(1.5 * float(now[0]) - 0.5 * float(before[0]), 0.0)
        return np.broadcast_to(mid, now.shape)
    mid = 1.5 * now - 0.5 * before
    return np.maximum(mid, 0.0, out=mid)


def credit_referrers(
    referred: np.ndarray,
    u: np.ndarray,
    weight: np.ndarray,
    network: sparse.csr_array | None,
) -> np.ndarray:
    """Credit each word-of-mouth move to one customer who recommended the product.

    Each referred customer's referrer is one of its neighbours with a positive weight
    (fully mixed: anyone with a positive weight), chosen in proportion to the weights
    (the same weights as the :func:`pressure`) by inverting ``u`` against their
    cumulative sum.

    Args:
        referred: Rows of the customers who moved by word of mouth this step.
        u: One uniform per customer (full length; row ``i`` is used for customer ``i``).
        weight: Each customer's :func:`referral_weight`.
        network: The row-normalised network, ``None`` for a fully mixed population.

    Returns:
        The referrer of each credited referral (a row may repeat); referrals with no
        positive-weight neighbour are credited to nobody.
    """
    nobody = np.empty(0, dtype=np.int64)
    if referred.size == 0:
        return nobody
    if network is None:  # fully mixed: anyone who recommends
        pool = np.flatnonzero(weight > 0)
        if pool.size == 0:
            return nobody
        cum = np.cumsum(weight[pool])
        pick = np.searchsorted(cum, u[referred] * cum[-1], side="right")
        return pool[np.minimum(pick, pool.size - 1)]
    indptr, indices = network.indptr, network.indices
    lo, hi = indptr[referred], indptr[referred + 1]
    degree = hi - lo
    owner = np.repeat(np.arange(referred.size), degree)
    start = np.cumsum(degree) - degree  # where each customer's neighbours begin
    slots = np.arange(owner.size) - start[owner] + lo[owner]
    neigh = indices[slots]
    w = weight[neigh]
    ok = w > 0
    owner, neigh, w = owner[ok], neigh[ok], w[ok]
    if owner.size == 0:
        return nobody
    cum = np.cumsum(w)
    total = np.bincount(owner, weights=w, minlength=referred.size)
    before = np.cumsum(total) - total  # weight of earlier customers' neighbours
    has = total > 0
    target = before[has] + u[referred[has]] * total[has]
    pick = np.searchsorted(cum, target, side="right")
    last = np.cumsum(np.bincount(owner, minlength=referred.size))[has] - 1
    return neigh[np.minimum(pick, last)]


# ----------------------------------------------------------------------------------
# the community


def active_neighbour_mean(
    network: sparse.csr_array, values: np.ndarray, active: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The mean of ``values`` over each customer's *active* neighbours.

    Prospects and churned customers are not in the community: they neither count as
    zeros nor dilute the mean. With ``W`` the row-normalised network,
    ``mean_i = Σ_j W_ij a_j v_j / Σ_j W_ij a_j`` (``a`` = 1 for the active), which is
    the plain mean over the active neighbours because a row's weights are equal.

    Args:
        network: The row-normalised network.
        values: One value per customer (e.g. engagement).
        active: Which customers are customers.

    Returns:
        ``(mean, has)``: the mean over the active neighbours (0 where there are none)
        and whether each customer has at least one active neighbour.
    """
    act = active.astype(float)
    share = network @ act  # share of the neighbours who are active
    total = network @ (act * values)
    has = share > 0
    mean = np.divide(total, share, out=np.zeros(share.shape), where=has)
    return mean, has
