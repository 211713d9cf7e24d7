"""The small-world network: the graph its random draws define, built in little memory.

:func:`sim.engine.network.small_world` draws one uniform per lattice edge (rewire it?)
then one node per edge (where to), in chunks; the graph must be exactly the one a
plain construction from those two blocks of draws gives (the edges of a set), and its
build must stay far below the 64-bit construction's 334 bytes per node.
"""

import tracemalloc

import numpy as np
import pytest

from sim.engine import network as net


def _plain_small_world(n, degree, rewire, rng):
    """The Watts–Strogatz graph of the same draws, as a set of undirected edges."""
    half = max(1, min(degree // 2, (n - 1) // 2))
    flip = rng.random(n * half) < rewire
    new = rng.integers(0, n, size=n * half)
    edges = set()
    for e in range(n * half):
        i, k = divmod(e, half)
        j = int(new[e]) if flip[e] else (i + k + 1) % n
        if j != i:
            edges.add((i, j))
            edges.add((j, i))
    return edges


@pytest.mark.parametrize(
    ("n", "degree", "rewire"),
    [(3, 2, 0.0), (4, 6, 0.5), (7, 6, 1.0), (300, 6, 0.2), (301, 16, 0.05), (500, 26, 1.0)],
)
def test_small_world_is_the_graph_of_its_draws(n, degree, rewire):
    w = net.small_world(n, degree, rewire, np.random.default_rng(n))
    assert w.has_canonical_format and w.shape == (n, n)
    assert w.indices.dtype == w.indptr.dtype == np.int32 and w.data.dtype == np.float32
    rows = np.repeat(np.arange(n), np.diff(w.indptr))
    got = set(zip(rows.tolist(), w.indices.tolist(), strict=True))
    assert got == _plain_small_world(n, degree, rewire, np.random.default_rng(n))
    deg = np.diff(w.indptr)
    # W[i, j] = 1/deg(i) exactly as float32 division makes it: rows sum to 1
    assert np.array_equal(w.data, np.repeat(np.float32(1) / deg.astype(np.float32), deg))
    np.testing.assert_allclose(w.sum(axis=1)[deg > 0], 1.0, rtol=1e-6)


def test_small_world_draws_exactly_its_two_blocks():
    """The chunked draws leave the generator where one call per block leaves it."""
    n, half = 200_003, 3  # several chunks, the last one partial
    rng, plain = np.random.default_rng(9), np.random.default_rng(9)
    net.small_world(n, 2 * half, 0.1, rng)
    plain.random(n * half)
    plain.integers(0, n, size=n * half)
    assert rng.random() == plain.random()


def test_small_world_of_fewer_than_three_nodes_is_empty():
    for n in (0, 1, 2):
        assert net.small_world(n, 6, 0.5, np.random.default_rng(0)).nnz == 0


def test_small_world_build_peaks_far_below_the_64_bit_construction():
    n = 100_000
    net.small_world(1000, 6, 0.1, np.random.default_rng(0))  # warm up
    tracemalloc.start()
    try:
        w = net.small_world(n, 6, 0.1, np.random.default_rng(0))
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the result: 4-byte indptr + ~6 (4-byte index, 4-byte weight) per node = ~52 B; the
    # build holds rows, cols and weights of both directions plus the result (~124 B)
    assert kept / n == pytest.approx(4 + 8 * w.nnz / n, rel=0.01)
    assert peak / n < 135, peak / n  # the int64/float64 construction peaked at 334
