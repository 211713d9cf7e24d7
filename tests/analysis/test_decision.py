"""Decision analysis on synthetic values with closed-form answers (no simulation)."""

import math

import numpy as np
import pytest

from sim.analysis.decision import (
    ScopeValues,
    acceptability,
    break_even,
    choice,
    decision_grid,
    evpi,
)

POLICIES = ("a", "b")


def _values(v, noise_cov=None, replications=1):
    v = np.asarray(v, dtype=float)
    return ScopeValues("all", POLICIES[: v.shape[1]] if v.shape[1] <= 2 else
                       tuple(f"p{i}" for i in range(v.shape[1])),
                       np.arange(len(v)), v, v, noise_cov, replications)


def test_choice_on_a_known_table():
    # b − a = θ on a regular grid of θ in (−1, 2): P(b best) = 2/3, regrets by integration
    theta = (np.arange(3000) + 0.5) / 3000 * 3.0 - 1.0
    result = {c.policy: c for c in choice(_values(np.column_stack([0 * theta, theta])))}
    assert result["b"].p_best == pytest.approx(2 / 3, abs=1e-3)
    # E[max(0, θ)] = 2²/2/3 = 2/3 is a's regret; E[max(0, −θ)] = 1/6 is b's
    assert result["a"].regret == pytest.approx(2 / 3, abs=1e-3)
    assert result["b"].regret == pytest.approx(1 / 6, abs=1e-3)
    assert choice(_values(np.column_stack([0 * theta, theta])))[0].policy == "b"


def test_ties_share_being_best():
    result = choice(_values(np.ones((10, 2))))
    assert [c.p_best for c in result] == [0.5, 0.5]
    assert all(c.regret == 0 for c in result)


def test_evpi_removes_the_bias_noise_adds():
    # true values: a = 0, b = θ ~ U(−1, 2) → EVPI = E[max(0, θ)] − max(0, E θ) = 2/3 − 1/2
    rng = np.random.default_rng(4)
    n, sd, truth = 4000, 0.4, 1 / 6
    theta = rng.uniform(-1, 2, n)
    noisy = np.column_stack([rng.normal(0, sd, n), theta + rng.normal(0, sd, n)])
    cov = np.eye(2) * sd**2
    raw = evpi(_values(noisy), rng)  # no noise estimate: the raw, biased value
    fixed = evpi(_values(noisy, cov, 2), np.random.default_rng(5))
    # the estimate is the mean of max(a, b) − b: its sampling SE
    se = float(np.std(noisy.max(axis=1) - noisy[:, 1])) / math.sqrt(n)
    assert math.isnan(raw.noise_bias)
    assert raw.value - truth > 4 * se          # noise biases it up, beyond sampling error
    assert abs(fixed.value - truth) < 4 * se
    assert fixed.noise_bias > 0


def test_break_even_recovers_a_known_root():
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 1, 256)
    y = np.column_stack([np.zeros_like(x), 0.3 - x + rng.normal(0, 0.05, x.size)])
    result = break_even(x, _values(y), "k", "b", "a", (0.0, 1.0), rng)
    assert result.low < 0.3 < result.high
    assert abs(result.value - 0.3) < 0.03
    assert not result.leader_wins_above   # b wins below 0.3


def test_break_even_without_a_crossing_names_the_winner():
    x = np.linspace(0, 1, 64)
    y = np.column_stack([np.zeros_like(x), 1.0 + x])
    result = break_even(x, _values(y), "k", "b", "a", (0.0, 1.0), np.random.default_rng(0))
    assert math.isnan(result.value) and result.always == "b"


def test_decision_grid_splits_on_the_known_line():
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (400, 2))
    # b beats a where x1 + x2 > 1
    values = np.column_stack([np.zeros(400), x[:, 0] + x[:, 1] - 1.0])
    gx, gy, winner = decision_grid(x, _values(values), [(0, 1), (0, 1)], size=41)
    expected = (gx[None, :] + gy[:, None] > 1.0).astype(int)
    off_line = np.abs(gx[None, :] + gy[:, None] - 1.0) > 0.05
    assert np.array_equal(winner[off_line], expected[off_line])


def test_acceptability_starts_at_p_best_and_ends_with_the_retainer():
    rng = np.random.default_rng(3)
    v = rng.normal(0, 1, (200, 2)) + np.array([0.5, 0.0])
    retained = np.column_stack([np.zeros(200), np.ones(200)])
    curves = acceptability(_values(v), retained, np.array([0.0, 100.0]))
    p_best = {c.policy: c.p_best for c in choice(_values(v))}
    assert curves[0, 0] == pytest.approx(p_best["a"])
    assert curves[1, 1] == 1.0
