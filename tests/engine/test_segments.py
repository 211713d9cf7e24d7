"""Direct tests of how customers are split between segments."""

import numpy as np
import pytest

from sim import EngagementModel
from sim.engine.segments import segment_counts


@pytest.mark.parametrize(
    ("shares", "n", "expected"),
    [
        ([0.5, 0.3, 0.2], 10, [5, 3, 2]),  # exact
        ([0.5, 0.3, 0.2], 7, [4, 2, 1]),  # 3.5, 2.1, 1.4: the largest remainder (.5) wins
        ([0.5, 0.3, 0.2], 9, [4, 3, 2]),  # 4.5, 2.7, 1.8: .8 then .7 round up, .5 does not
        ([1 / 3, 1 / 3, 1 / 3], 10, [4, 3, 3]),  # a tie goes to the first segment
        ([1 / 3, 1 / 3, 1 / 3], 2, [1, 1, 0]),
        ([0.1, 0.4, 0.5], 123, [12, 49, 62]),  # 12.3, 49.2, 61.5
        ([1.0], 17, [17]),
        ([0.7, 0.0, 0.3], 3, [2, 0, 1]),  # an empty segment stays empty: 2.1, 0, 0.9
        ([0.5, 0.5], 0, [0, 0]),
    ],
)
def test_hand_computed_counts(shares, n, expected):
    counts = segment_counts(np.array(shares), n)
    assert counts.tolist() == expected
    assert counts.dtype == np.int64


def test_counts_sum_to_n_and_round_by_largest_remainder():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        k = int(rng.integers(1, 8))
        shares = rng.dirichlet(np.ones(k))
        n = int(rng.integers(0, 5000))
        counts = segment_counts(shares, n)
        raw = shares * n
        assert counts.sum() == n
        assert np.all((counts == np.floor(raw)) | (counts == np.floor(raw) + 1))
        up = counts > np.floor(raw)
        rest = raw - np.floor(raw)
        if up.any() and (~up).any():  # every rounded-up remainder ≥ every rounded-down one
            assert rest[up].min() >= rest[~up].max()


def test_the_model_uses_the_counts():
    model = EngagementModel("default", "no_touch", rng=0, customers=997, months=1)
    shares = np.array([s.share for s in model.spec.segments])
    expected = segment_counts(shares, 997)
    np.testing.assert_array_equal(np.bincount(model.segment, minlength=shares.size), expected)
    # deterministic: the same sizes with any seed
    other = EngagementModel("default", "no_touch", rng=99, customers=997, months=1)
    np.testing.assert_array_equal(np.bincount(other.segment, minlength=shares.size), expected)


@pytest.mark.parametrize("kind, params", [
    ("beta", (0.8, 3.5)), ("beta", (40.0, 2.0)), ("uniform", (-2.0, 7.5)),
    ("normal", (3.0, 0.7)), ("normal", (-1e4, 250.0)), ("lognormal", (1200.0, 900.0)),
    ("lognormal", (0.02, 0.001)),
])
@pytest.mark.parametrize("n", [0, 1, 7, 5000])
def test_a_trait_is_drawn_as_scipy_draws_it_bit_for_bit(kind, params, n):
    from sim.engine.segments import Distribution, _frozen

    for seed in range(3):
        mine, scipys = np.random.default_rng(seed), np.random.default_rng(seed)
        ours = Distribution(kind, params).sample(mine, n)
        theirs = np.asarray(_frozen(kind, params).rvs(size=n, random_state=scipys),
                            dtype=float)
        assert ours.dtype == theirs.dtype and ours.shape == (n,)
        assert ours.tobytes() == theirs.tobytes()
        assert mine.bit_generator.state == scipys.bit_generator.state  # left where scipy leaves it
