"""Direct tests of the state dynamics: Poisson usage, product feedback, community pull.

``feedback_rate`` and ``community_strength`` are off in every shipped scenario, so these
are the only tests that run them. Each rule is checked against the formula stated in
:mod:`sim.engine.dynamics`, recomputed by hand from the model's arrays for one step.
"""

import numpy as np
import pytest
from scipy import stats

from sim import EngagementModel, NoPolicy, load_scenario
from sim.engine.dynamics import per_step, poisson_from_uniform

# ----------------------------------------------------------------------------------
# Poisson usage by inversion


@pytest.mark.parametrize("lam", [0.0, 1e-9, 1e-3, 0.3, 1.0, 4.6, 20.0, 87.5, 300.0, 700.0])
def test_poisson_from_uniform_is_the_poisson_quantile(lam):
    u = (np.arange(4000) + 0.5) / 4000  # a grid over (0, 1)
    k = poisson_from_uniform(np.full(u.size, lam), u)
    assert k.dtype == np.int64
    np.testing.assert_array_equal(k, stats.poisson.ppf(u, lam))


def test_poisson_from_uniform_matches_scipy_for_mixed_rates():
    rng = np.random.default_rng(0)
    lam = np.concatenate([np.zeros(1000), rng.uniform(0, 60, 50_000)])
    u = rng.random(lam.size)
    np.testing.assert_array_equal(poisson_from_uniform(lam, u), stats.poisson.ppf(u, lam))


def _poisson_every_row_every_pass(lam, u):
    """The plain inversion: every row takes every pass until no draw is above its CDF."""
    k = np.zeros(lam.size, dtype=np.int64)
    pmf = np.exp(-lam)
    cdf = pmf.copy()
    for j in range(1, 1000):
        more = u > cdf
        if not more.any():
            break
        k += more
        pmf *= lam / j
        cdf += pmf
    return np.where(lam > 0, k, 0)


@pytest.mark.parametrize("large", [0.0, 30.0, 400.0, 900.0])
def test_poisson_from_uniform_gives_the_plain_inversions_numbers(large):
    # a few large rates among many small ones: the small rows finish early and are left
    # behind (compaction), the large ones count past 255 (the counter's flush)
    rng = np.random.default_rng(3)
    lam = np.concatenate([rng.uniform(0, 12, 3000), np.zeros(200), np.full(5, large)])
    u = rng.random(lam.size)
    with np.errstate(invalid="ignore"):
        expected = _poisson_every_row_every_pass(lam, u)
    np.testing.assert_array_equal(poisson_from_uniform(lam, u), expected)


def test_poisson_from_uniform_uses_one_uniform_per_customer():
    rng = np.random.default_rng(1)
    lam, u = rng.uniform(0, 10, 500), rng.random(500)
    k = poisson_from_uniform(lam, u)
    # each draw depends on its own (rate, uniform) only: order and neighbours don't matter
    perm = rng.permutation(500)
    np.testing.assert_array_equal(poisson_from_uniform(lam[perm], u[perm]), k[perm])
    u2 = u.copy()
    u2[7] = 1 - u2[7]
    changed = np.flatnonzero(poisson_from_uniform(lam, u2) != k)
    assert set(changed) <= {7}
    # a zero rate gives zero whatever the uniform; so does an empty population
    assert poisson_from_uniform(np.zeros(3), np.array([0.0, 0.5, 0.999])).tolist() == [0, 0, 0]
    assert poisson_from_uniform(np.zeros(0), np.zeros(0)).size == 0


# ----------------------------------------------------------------------------------
# product feedback: v += feedback_rate / spm · mean(e of the active) · (1 − v), each step


def _feedback_model(rate, step="month"):
    scenario = load_scenario(
        "default", overrides={"dynamics.feedback_rate": rate, "time.step": step}
    )
    return EngagementModel(scenario, NoPolicy(), rng=2, customers=2000, months=12)


@pytest.mark.parametrize("step", ["month", "week"])
def test_feedback_follows_the_stated_rule_each_step(step):
    model = _feedback_model(0.5, step)
    spm = model.steps_per_month
    values = [model.product_value]
    while model.steps < model.horizon:
        before = model.product_value
        model.step()
        # the rule, by hand, from the state at the end of the step's dynamics
        mean_e = model.engagement[model.active].mean()
        expected = before + 0.5 / spm * mean_e * (1 - before)
        assert model.product_value == pytest.approx(expected, rel=1e-15, abs=0)
        values.append(model.product_value)
    gaps = 1 - np.array(values)
    assert values[0] == pytest.approx(0.7)
    assert np.all(np.diff(values) > 0) and np.all(gaps > 0)  # rises, never past 1
    assert np.all(np.diff(gaps) < 0)  # monotonically toward 1
    assert values[-1] > 0.95


def test_no_feedback_leaves_the_product_alone():
    model = _feedback_model(0.0).run()
    assert model.product_value == 0.7


def test_feedback_raises_engagement():
    kwargs = dict(rng=3, customers=2000, months=12)
    base = EngagementModel("default", NoPolicy(), **kwargs).run()
    fed = EngagementModel(_feedback_model(1.0).spec, NoPolicy(), **kwargs).run()
    # same seed, same population: a better product keeps customers more engaged
    gain = fed.timeseries()["engagement_mean"] - base.timeseries()["engagement_mean"]
    assert (gain.iloc[1:] > 0).all()
    assert gain.iloc[-1] > 0.05


# ----------------------------------------------------------------------------------
# community pull: target_e = (1 − c) · own target + c · mean e of the ACTIVE neighbours
# (no active neighbour: no pull)


def _community_model(strength, seed=1, months=12):
    scenario = load_scenario("default", overrides={"dynamics.community_strength": strength})
    assert scenario.network.kind == "small_world"
    return EngagementModel(scenario, NoPolicy(), rng=seed, customers=3000, months=months)


def test_community_pull_follows_the_stated_rule_on_one_step():
    c = 0.6
    model = _community_model(c)
    model.step()
    model.step()
    d, spm = model.spec.dynamics, model.steps_per_month
    o, e, act = model.onboarding.copy(), model.engagement.copy(), model.active.copy()
    v, cx = model.product_value, model.traits["complexity"]
    model.step()  # no policy: response 0
    o_new = o + per_step(d.onboarding_rate, spm) * (1 - cx) * (1 - o)
    own = v * (0.3 + 0.7 * o_new) * (1 - d.complexity_drag * cx)
    share = model.network @ act.astype(float)  # share of the neighbours who are active
    has = share > 0
    neighbours = (model.network @ np.where(act, e, 0.0)) / np.where(has, share, 1.0)
    target = np.where(has, (1 - c) * own + c * neighbours, own)
    expected = np.clip(e + per_step(d.engagement_adjust, spm) * (target - e), 0, 1)
    assert act.sum() > 500
    np.testing.assert_allclose(model.engagement[act], expected[act], rtol=0, atol=1e-12)
    # and it matters: without the pull the same customers would be elsewhere
    own_only = np.clip(e + per_step(d.engagement_adjust, spm) * (own - e), 0, 1)
    assert np.abs(model.engagement[act] - own_only[act]).mean() > 0.01


def _neighbour_correlation(model):
    act = model.active
    total = model.network @ np.where(act, model.engagement, 0.0)
    share = model.network @ act.astype(float)
    ok = act & (share > 0)
    return np.corrcoef(model.engagement[ok], total[ok] / share[ok])[0, 1], ok.sum()


def test_community_pull_aligns_customers_with_their_neighbours():
    alone, n = _neighbour_correlation(_community_model(0.0).run())
    pulled, _ = _neighbour_correlation(_community_model(0.5).run())
    se = 1 / np.sqrt(n)  # of a correlation near 0
    assert abs(alone) < 4 * se  # traits do not depend on network position
    assert pulled > alone + 4 * se and pulled > 0.15
