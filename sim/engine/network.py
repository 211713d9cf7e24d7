"""The social network word of mouth travels on.

Stored as a row-normalised ``scipy.sparse`` CSR matrix ``W`` (``W[i, j] = 1/deg(i)`` for
each neighbour ``j``), so the share of a customer's neighbours who refer is one
sparse mat-vec: ``pressure = W @ referrer_weight``. The small-world graph
(Watts–Strogatz: a ring lattice whose edges are rewired with probability ``rewire``)
is generated directly as arrays, because building a networkx graph of a million nodes
takes minutes and gigabytes; networkx is only used for drawing small samples.

``mixed`` is the fully mixed population of the Bass model (everyone hears everyone),
``none`` switches word of mouth off.
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

    Args:
        n: Number of nodes.
        degree: Each node links to ``degree // 2`` successors on the ring.
        rewire: Probability of rewiring each edge's far end to a uniform random node.
        rng: The run's generator.

    Returns:
        ``W`` with ``W[i, j] = 1 / deg(i)`` for neighbours ``j`` (duplicates merged,
        no self-loops).
    """
    half = max(1, min(degree // 2, (n - 1) // 2))
    if n < 3:
        return sparse.csr_array((n, n))
    src = np.repeat(np.arange(n, dtype=np.int64), half)
    dst = (src + np.tile(np.arange(1, half + 1), n)) % n
    flip = rng.random(src.size) < rewire
    new = rng.integers(0, n, size=src.size)
    dst = np.where(flip, new, dst)
    keep = dst != src
    src, dst = src[keep], dst[keep]
    rows = np.concatenate([src, dst])
    cols = np.concatenate([dst, src])
    adj = sparse.coo_array((np.ones(rows.size, dtype=np.float32), (rows, cols)), shape=(n, n))
    adj = adj.tocsr()
    adj.sum_duplicates()
    adj.data[:] = 1.0
    deg = np.diff(adj.indptr)
    adj.data /= np.repeat(np.maximum(deg, 1), deg).astype(np.float32)
    adj.indices = adj.indices.astype(np.int32)
    adj.indptr = adj.indptr.astype(np.int64)
    return adj


def build(spec: NetworkSpec, n: int, rng: np.random.Generator) -> sparse.csr_array | None:
    """Build the network a scenario asks for (``None`` for ``mixed`` and ``none``)."""
    if spec.kind == "small_world":
        return small_world(n, spec.degree, spec.rewire, rng)
    return None
