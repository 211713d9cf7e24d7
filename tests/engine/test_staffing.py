"""CSM teams: least-loaded assignment (water filling), capacity rationing, overload."""

import numpy as np
import pytest

from sim import EngagementModel, load_scenario
from sim.engine.policies import allocate
from sim.engine.staffing import Team, TeamSpec, water_fill


def greedy_fill(load, m):
    """Reference: give the m accounts one at a time to the least-loaded CSM (lowest index)."""
    books = np.array(load, dtype=np.int64)
    extra = np.zeros(books.size, dtype=np.int64)
    for _ in range(m):
        i = int(np.argmin(books))  # argmin takes the first of equals
        books[i] += 1
        extra[i] += 1
    return extra


@pytest.mark.parametrize(
    ("load", "m", "expected"),
    [
        ([3, 1, 2], 4, [1, 2, 1]),  # level 3 for all (+0, +2, +1), the last one to CSM 0
        ([10, 0, 0], 5, [0, 3, 2]),  # the busy CSM gets nothing; 3 and 2, ties to the lower
        ([2, 2, 2], 4, [2, 1, 1]),
        ([0, 0, 0, 0], 2, [1, 1, 0, 0]),
        ([5], 3, [3]),  # one CSM takes everything
        ([4, 1, 7], 0, [0, 0, 0]),  # nothing to assign
        ([0, 0], 9, [5, 4]),
        ([1, 5, 3], 10, [6, 1, 3]),  # level 6 for all (+5, +1, +3), then one more to CSM 0
    ],
)
def test_water_fill_hand_computed(load, m, expected):
    extra = water_fill(np.array(load, dtype=np.int64), m)
    assert extra.tolist() == expected


def test_water_fill_is_the_greedy_least_loaded_assignment():
    rng = np.random.default_rng(0)
    for _ in range(1500):
        h = int(rng.integers(1, 9))
        load = rng.integers(0, 12, h)
        m = int(rng.integers(0, 40))
        extra = water_fill(load, m)
        np.testing.assert_array_equal(extra, greedy_fill(load, m))
        assert extra.sum() == m and np.all(extra >= 0)  # every account placed, none taken
        books = load + extra
        # max-min fair: the largest book is as small as it can be ...
        assert books.max() == max(int(load.max()), -(-(int(load.sum()) + m) // h))
        # ... and nobody who got an account ends above anybody else by more than one
        got = extra > 0
        if got.any():
            assert books[got].max() <= books.min() + 1


def make_team(headcount, hours=10.0, penalty=0.5, name="pooled"):
    spec = TeamSpec(name, accounts_per_csm=10, headcount=headcount, monthly_cost=1000.0,
                    hours_per_month=hours, overload_penalty=penalty)
    return Team(spec, n_customers=6, steps_per_month=1.0)


def test_rationing_serves_lowest_health_first_and_quality_drops():
    team = make_team(headcount=1, hours=10.0, penalty=0.5)
    rows = np.arange(6)
    health = np.array([0.9, 0.1, 0.5, 0.3, 0.7, 0.2])
    team.staff(rows, health)
    served, quality = team.ration(rows, np.full(6, 4.0), health)  # 24 h asked, 10 h there
    # order by health: 1 (0.1), 5 (0.2), 3 (0.3) ...: 4 h + 4 h + 2 of 4 h
    np.testing.assert_allclose(served, [0, 1, 0, 0.5, 0, 1])
    np.testing.assert_allclose(quality, (10 / 24) ** 0.5)
    assert team.hours_used.sum() == pytest.approx(10.0)


def test_no_rationing_within_capacity():
    team = make_team(headcount=2, hours=10.0)
    rows = np.arange(6)
    team.staff(rows, np.zeros(6))
    served, quality = team.ration(rows, np.full(6, 3.0), np.zeros(6))
    np.testing.assert_allclose(served, 1.0)
    np.testing.assert_allclose(quality, 1.0)


def test_named_team_assigns_least_loaded_and_rations_per_csm():
    team = make_team(headcount=2, hours=5.0, name="named")
    rows = np.arange(6)
    health = np.array([0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    team.staff(rows, health)
    assert sorted(np.bincount(team.assigned)) == [3, 3]
    served, _ = team.ration(rows, np.full(6, 2.0), health)
    # each CSM has 5 h for 6 h asked: its two sickest accounts in full, the third half
    for csm in range(2):
        mine = np.flatnonzero(team.assigned == csm)
        order = mine[np.argsort(health[mine])]
        np.testing.assert_allclose(served[order], [1, 1, 0.5])


def test_a_small_fixed_team_is_overloaded_and_rations():
    scenario = load_scenario(
        "default", overrides={"policies.high_touch.teams": {"named": {"headcount": 3}}}
    )
    model = EngagementModel(scenario, "high_touch", rng=3, customers=3000, months=6).run()
    summary = model.summary()
    assert summary["csm_headcount_mean"] == 3
    assert 0.99 <= summary["csm_utilisation"] <= 1.0 + 1e-9  # every hour used
    auto = EngagementModel("default", "high_touch", rng=3, customers=3000, months=6).run()
    assert summary["cost_per_customer"] < auto.summary()["cost_per_customer"]


def test_a_cost_allocated_to_the_weighted_rows_alone_is_the_same_to_the_bit():
    rng = np.random.default_rng(3)
    weights = np.where(rng.random(5000) < 0.2, rng.random(5000), 0.0)
    start = rng.random(5000)
    everywhere, weighted = start.copy(), start.copy()
    allocate(123.4, weights, np.arange(5000), everywhere)
    allocate(123.4, weights, np.arange(5000), weighted, weighted=weights.nonzero()[0])
    assert np.array_equal(everywhere, weighted) and not np.array_equal(weighted, start)


def _staff_by_masks(assigned, covered, priority, h):
    """The assignment by full-length masks (what Team.staff did before): the reference."""
    keep = np.zeros(assigned.size, dtype=bool)
    keep[covered] = True
    assigned[~keep | (assigned >= h)] = -1
    waiting = covered[assigned[covered] < 0]
    if h > 0 and waiting.size:
        waiting = waiting[np.argsort(priority[waiting], kind="stable")]
        extra = water_fill(np.bincount(assigned[assigned >= 0], minlength=h), waiting.size)
        assigned[waiting] = np.repeat(np.arange(h, dtype=np.int32), extra)
    return np.bincount(assigned[assigned >= 0], minlength=h)


def test_named_assignment_and_books_match_the_full_length_masks_step_after_step():
    rng = np.random.default_rng(8)
    n = 400
    for headcount in (None, 3, 0):
        spec = TeamSpec(name="named", accounts_per_csm=30, headcount=headcount,
                        monthly_cost=1.0, hours_per_month=10.0)
        team, reference = Team(spec, n, 1.0), np.full(n, -1, dtype=np.int32)
        for _ in range(12):
            covered = np.flatnonzero(rng.random(n) < rng.uniform(0.1, 0.6))
            priority = rng.random(n)
            team.staff(covered, priority)
            book = _staff_by_masks(reference, covered, priority, team.headcount)
            assert np.array_equal(team.assigned, reference)
            assert np.array_equal(team.book, book) and team.book.dtype == book.dtype
