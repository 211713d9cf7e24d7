"""The terminal values' shortcut: eigenvalues are skipped only where a bound settles it."""

from __future__ import annotations

import numpy as np
import pytest

from sim.engine.continuation import _may_diverge, remaining_steps


def _eigen_decision(discounted: np.ndarray) -> bool:
    return bool(np.abs(np.linalg.eigvals(discounted)).max() >= 1.0 - 1e-12)


@pytest.mark.parametrize("discount", [1.0, 1.0 - 1e-13, 1.0 - 1e-10, 0.999, 0.99, 0.5])
def test_the_row_sum_shortcut_decides_as_the_eigenvalues_do(discount):
    rng = np.random.default_rng(15)
    for _ in range(200):
        size = int(rng.integers(1, 6))
        q = rng.random((size, size)) * (rng.random((size, size)) < 0.6)
        q[np.arange(size), rng.integers(0, size, size)] += 0.1  # no empty row
        stays = rng.random(size) < 0.3  # some rows keep everyone: row sum exactly 1
        q /= np.where(stays, q.sum(axis=1), q.sum(axis=1) + rng.random(size))[:, None]
        assert _may_diverge(discount * q) == _eigen_decision(discount * q)


def test_customers_who_never_leave_undiscounted_have_no_finite_weight():
    counts = np.zeros((1, 3, 3), dtype=np.int64)
    counts[0, 1, 1] = counts[0, 2, 2] = 10  # stages 1 and 2 are customer stages, nobody leaves
    weights = remaining_steps(counts, np.array([False, True, True]), 1.0)
    assert np.isnan(weights.paid[0, 1:]).all() and np.isnan(weights.served[0, 1:]).all()
    discounted = remaining_steps(counts, np.array([False, True, True]), 0.9)
    np.testing.assert_allclose(discounted.paid[0, 1:], 0.9 / (1 - 0.9))


def test_each_segments_weights_are_its_own_chains_whatever_the_others():
    rng = np.random.default_rng(15)
    customer = np.array([False, True, True, True, False])
    counts = rng.integers(0, 50, (3, 5, 5))
    counts[1, 2] = 0  # segment 1 never saw stage 2: it borrows the segment's pooled stay
    counts[2] = 0
    counts[2, [1, 2, 3], [1, 2, 3]] = 9  # segment 2 never leaves: no finite weight at v = 1
    for discount in (1.0, 0.95):
        together = remaining_steps(counts, customer, discount)
        for k in range(3):
            alone = remaining_steps(counts[k : k + 1], customer, discount)
            np.testing.assert_array_equal(together.paid[k], alone.paid[0])
            np.testing.assert_array_equal(together.served[k], alone.served[0])
    assert np.isnan(remaining_steps(counts, customer, 1.0).paid[2, 1:4]).all()
