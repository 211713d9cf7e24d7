"""Sensitivity indices and EVPPI against closed forms (Ishigami, a linear model, max(0, x))."""

import dataclasses
import math

import numpy as np
import pytest
from scipy.stats import norm, qmc

from sim.analysis.sensitivity import (
    Index,
    evppi,
    given_data_indices,
    noise_variance,
    saltelli_indices,
    smoother,
)
from sim.sweep.design import Factor, experiment_from_dict

NAMES = ["x1", "x2", "x3"]
ISHIGAMI_FIRST = (0.3139, 0.4424, 0.0)
ISHIGAMI_TOTAL = (0.5576, 0.4424, 0.2437)
Z = norm.ppf(0.975)


def ishigami(x):
    return np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])


def se(low, high):
    """Standard error read off a 95 % interval."""
    return (high - low) / (2 * Z)


def near(index: Index, first: float, total: float | None = None, k: float = 4.0) -> bool:
    ok = abs(index.first - first) <= k * se(index.first_low, index.first_high)
    if total is not None:
        ok &= abs(index.total - total) <= k * se(index.total_low, index.total_high)
    return bool(ok)


@pytest.fixture(scope="module")
def saltelli_points():
    """The points of a real saltelli Experiment over the Ishigami cube [−π, π]³."""
    exp = experiment_from_dict({"customers": 10, "months": 1, "replications": 1,
                                "design": {"kind": "saltelli", "samples": 1024}}, "test")
    factors = tuple(Factor(f"a.{name}", low=-math.pi, high=math.pi) for name in NAMES)
    exp = dataclasses.replace(exp, factors=factors)
    points = exp.points()
    assert len(points) == 1024 * 5
    return np.array([[p[f.path] for f in factors] for p in points]), exp.samples


def test_saltelli_indices_recover_ishigami(saltelli_points):
    x, n = saltelli_points
    indices = saltelli_indices(ishigami(x), n, NAMES, rng=1)
    assert [i.name for i in indices] == NAMES
    for index, first, total in zip(indices, ISHIGAMI_FIRST, ISHIGAMI_TOTAL, strict=True):
        assert index.first_low < index.first < index.first_high
        assert index.total_low < index.total < index.total_high
        assert near(index, first, total), index
        assert abs(index.first - first) < 0.03 and abs(index.total - total) < 0.03
    # seeded: the same intervals again
    assert saltelli_indices(ishigami(x), n, NAMES, rng=1) == indices


def test_saltelli_noise_correction_removes_the_noise_from_total_indices(saltelli_points):
    x, n = saltelli_points
    rng = np.random.default_rng(2)
    replications, sd = 4, 3.0  # noise var of a mean 2.25 against Var(y) ≈ 13.8
    runs = ishigami(x)[:, None] + rng.normal(0.0, sd, (x.shape[0], replications))
    y, noise = runs.mean(axis=1), noise_variance(runs)
    assert noise == pytest.approx(sd**2 / replications, rel=0.05)
    raw = saltelli_indices(y, n, NAMES, rng=1, resamples=300)
    fixed = saltelli_indices(y, n, NAMES, noise_var=noise, rng=1, resamples=300)
    # without the correction the dummy-like x3 and every total index absorb the noise
    assert sum(i.total for i in raw) > sum(ISHIGAMI_TOTAL) + 0.1
    for index, first, total in zip(fixed, ISHIGAMI_FIRST, ISHIGAMI_TOTAL, strict=True):
        assert near(index, first, total), index


def test_all_noise_gives_nan(saltelli_points):
    x, n = saltelli_points
    y = np.random.default_rng(3).normal(size=x.shape[0])
    assert all(math.isnan(i.first) and math.isnan(i.total)
               for i in saltelli_indices(y, n, NAMES, noise_var=2.0, rng=0, resamples=10))
    with pytest.raises(ValueError, match="points"):
        saltelli_indices(y[:-1], n, NAMES)


@pytest.fixture(scope="module")
def linear():
    """y = x1 + 2·x2 + 0·x3 on an LHS sample, each y a mean of R noisy replications."""
    rng = np.random.default_rng(4)
    n, replications, sd = 512, 4, 0.8
    x = qmc.LatinHypercube(d=3, rng=rng).random(n)
    runs = (x @ [1.0, 2.0, 0.0])[:, None] + rng.normal(0.0, sd, (n, replications))
    return x, runs.mean(axis=1), noise_variance(runs), sd**2 / replications


def test_given_data_indices_recover_a_linear_model(linear):
    x, y, noise, true_noise = linear
    assert noise == pytest.approx(true_noise, rel=0.1)
    indices = given_data_indices(x, y, NAMES, noise_var=noise, rng=5)
    for index, share in zip(indices, (0.2, 0.8, 0.0), strict=True):
        assert math.isnan(index.total)
        assert index.first_low <= index.first <= index.first_high
        assert near(index, share), index
    assert indices[2].first_low <= 0.0 + 0.01 and indices[2].first < 0.02  # the dummy
    assert sum(i.first for i in indices) == pytest.approx(1.0, abs=0.1)


def test_without_the_noise_correction_indices_fall_short_by_the_noise_share(linear):
    x, y, noise, _ = linear
    raw = given_data_indices(x, y, NAMES, rng=5, resamples=50)
    share = noise / np.var(y)  # ≈ 0.28 of the variance is noise
    assert share > 0.2
    assert sum(i.first for i in raw) == pytest.approx(1.0 - share, abs=0.08)
    assert sum(i.first for i in raw) < 0.85


def test_given_data_indices_of_a_grid_use_level_means():
    levels = np.array(np.meshgrid([0.0, 1.0, 2.0], [0.0, 1.0], indexing="ij")).reshape(2, -1).T
    x = np.repeat(levels, 20, axis=0)
    y = 3.0 * x[:, 0] + np.random.default_rng(6).normal(0.0, 0.1, x.shape[0])
    first, dummy = given_data_indices(x, y, ["a", "b"], rng=0, resamples=50)
    assert first.first == pytest.approx(1.0, abs=0.01) and dummy.first < 0.01


def test_evppi_of_a_threshold_matches_its_closed_form():
    rng = np.random.default_rng(7)
    n = 4000
    x = qmc.LatinHypercube(d=2, rng=rng).random(n) * 2.0 - 1.0
    values = np.column_stack([np.zeros(n), x[:, 0] + rng.normal(0.0, 0.5, n)])
    # E[max(0, x1)] − max(0, E[x1]) = 1/4 for x1 ~ U(−1, 1)
    assert evppi(x[:, 0], values) == pytest.approx(0.25, rel=0.05)
    # a dummy input: only the smoother's leftover noise, at most sqrt(edf·Var/n) with edf ≤ 4
    bound = math.sqrt(4.0 * np.var(values[:, 1]) / n)
    assert 0.0 <= evppi(x[:, 1], values) < bound
    assert evppi(x[:, 0], values[:, :1]) == 0.0


def test_evppi_is_never_negative():
    x = np.linspace(0.0, 1.0, 50)
    values = np.column_stack([np.ones(50), np.zeros(50)])  # option 0 always best
    assert evppi(x, values) == 0.0


def test_smoother_merges_ties_and_fits_a_curve():
    rng = np.random.default_rng(8)
    x = np.repeat(np.linspace(0.0, 1.0, 20), 10)
    y = np.sin(3.0 * x) + rng.normal(0.0, 0.05, x.size)
    fit = smoother(x, y)
    assert np.max(np.abs(fit(x) - np.sin(3.0 * x))) < 0.05
    assert fit(np.array([2.0]))[0] == pytest.approx(fit(np.array([1.0]))[0])  # held at the end


def test_smoother_of_few_levels_is_the_level_means():
    x = np.array([0.0, 0.0, 1.0, 1.0, 1.0, 3.0])
    y = np.array([1.0, 3.0, 5.0, 6.0, 7.0, 0.0])
    fit = smoother(x, y)
    assert fit(np.array([0.0, 1.0, 3.0, 2.0])) == pytest.approx([2.0, 6.0, 0.0, 3.0])
    constant = smoother(np.full(5, 2.0), np.arange(5.0))
    assert constant(np.array([0.0, 9.0])) == pytest.approx([2.0, 2.0])


def test_smoother_of_a_large_sample_is_well_posed():
    # scipy's own GCV fails on thousands of close knots; pooling into groups does not
    rng = np.random.default_rng(9)
    x = rng.random(5000)
    y = x**2 + rng.normal(0.0, 0.2, x.size)
    assert np.max(np.abs(smoother(x, y)(x) - x**2)) < 0.06


def test_noise_variance():
    values = np.array([[1.0, 3.0, np.nan], [2.0, 2.0, 2.0], [5.0, np.nan, np.nan]])
    # point 0: var 2 over 2 runs → 1; point 1: 0; point 2 left out
    assert noise_variance(values) == pytest.approx(0.5)
    assert math.isnan(noise_variance(np.ones((4, 1))))


def test_a_missing_noise_estimate_is_refused(linear):
    x, y, _, _ = linear
    with pytest.raises(ValueError, match=r"pass 0\.0"):
        given_data_indices(x, y, NAMES, noise_var=math.nan)


def test_resamples_that_are_all_noise_keep_the_interval_defined():
    # 12 noisy points: some bootstrap resamples do not vary beyond the noise
    rng = np.random.default_rng(10)
    x = np.linspace(0.0, 1.0, 12)[:, None]
    runs = x[:, :1] + rng.normal(0.0, 0.4, (12, 2))
    (index,) = given_data_indices(x, runs.mean(axis=1), ["a"], noise_var=noise_variance(runs),
                                  rng=0)
    assert not (math.isnan(index.first_low) or math.isnan(index.first_high))
    assert index.first_low <= index.first <= index.first_high


def test_noise_kept_by_a_small_fit_is_not_credited_to_a_dummy():
    # a 3 × 4 grid, y = 2a + noise: the means at b's 4 levels keep 3/12 of the noise.
    # Compare the explained variances (index × (Var(y) − σ²)), which average stably.
    levels = np.array(np.meshgrid([0.0, 1.0, 2.0], [0.0, 1.0, 2.0, 3.0],
                                  indexing="ij")).reshape(2, -1).T
    rng = np.random.default_rng(11)
    noise = 0.5  # variance of the noise in a point mean; Var(2a) = 8/3
    explained = []
    for _ in range(300):
        y = 2.0 * levels[:, 0] + rng.normal(0.0, math.sqrt(noise), len(levels))
        indices = given_data_indices(levels, y, ["a", "b"], noise_var=noise, resamples=2,
                                     rng=0)
        explained.append([i.first * (np.var(y) - noise) for i in indices])
        # uncorrected, b's level means would explain about noise · 3/12 on average
    a, b = np.mean(explained, axis=0)
    assert a == pytest.approx(8 / 3, rel=0.05) and abs(b) < 0.03


@pytest.mark.parametrize("n", [12, 48, 256])  # 256: pooled into MAX_GROUPS groups
def test_the_batched_bootstrap_refits_each_resample_as_scipy_would(n):
    """Each resample's spline, all solved at once, is scipy's fit on the groups it drew."""
    from scipy.interpolate import make_smoothing_spline

    import sim.analysis.sensitivity as sensitivity

    rng = np.random.default_rng(12)
    x = rng.random((n, 2))
    y = 3.0 * x[:, 0] + np.sin(4.0 * x[:, 1]) + rng.normal(0.0, 0.3, n)
    rows = rng.integers(0, n, (40, n))
    for i in range(2):
        log_lam = sensitivity.smoothing_penalty(x[:, i], y)
        batched = sensitivity._resampled_spline_variance(x[:, i], y, rows, log_lam)
        xg, _, _, _, group = sensitivity._groups(x[:, i], y)
        m, low, span = xg.size, xg[0], xg[-1] - xg[0]
        for r, drawn in enumerate(rows):
            counts = np.bincount(group[drawn], minlength=m)
            sums = np.bincount(group[drawn], weights=y[drawn], minlength=m)
            here = counts > 0  # scipy takes positive weights only: the groups drawn
            spline = make_smoothing_spline(((xg - low) / span)[here], sums[here] / counts[here],
                                           w=counts[here] * m / n, lam=10.0**log_lam)
            expected = np.var(spline(np.clip((x[drawn, i] - low) / span, 0.0, 1.0)))
            # scipy's own solve loses digits when knots are close and the penalty large
            # (2.6e-3 at 10**3 on one of these samples, checked against exact rationals;
            # the batched basis was within 2e-10 there): so 1e-4, not round-off
            assert batched[r] == pytest.approx(expected, rel=1e-4)


def test_the_batched_bootstrap_of_the_whole_sample_is_the_estimate():
    import sim.analysis.sensitivity as sensitivity

    rng = np.random.default_rng(3)
    for n in (30, 256):
        x = rng.random((n, 2))
        y = np.sin(3.0 * x[:, 0]) + x[:, 1] ** 2 + rng.normal(0.0, 0.2, n)
        log_lams = [sensitivity.smoothing_penalty(x[:, i], y) for i in range(2)]
        kept = [sensitivity._fit(x[:, i], y, log_lams[i], hat=True).kept() for i in range(2)]
        whole = sensitivity._resample_shares(x, y, np.arange(n)[None, :], log_lams, kept, 0.02)
        estimate = sensitivity._shares(x, y, log_lams, kept, 0.02)
        np.testing.assert_allclose(whole[0], estimate, rtol=1e-6)


def test_a_resample_from_one_group_has_no_spread():
    import sim.analysis.sensitivity as sensitivity

    x = np.linspace(0.0, 1.0, 20)
    y = x**2
    rows = np.vstack([np.full(20, 7), np.arange(20)])
    variance = sensitivity._resampled_spline_variance(x, y, rows, -3.0)
    assert variance[0] == 0.0 and variance[1] > 0.0
