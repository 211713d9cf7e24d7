"""Direct tests of the step's phase functions (hand-computed answers, no model run)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import sparse

from sim.engine import dynamics as dyn
from sim.engine import economics as econ
from sim.engine import lifecycle
from sim.engine import network as net
from sim.engine.results import StepTally
from sim.engine.sorted_rows import locate

# ----------------------------------------------------------------------------------
# word of mouth: crediting a referral


def test_referral_weight_is_stage_weight_times_propensity():
    stage_weight = np.array([0.0, 0.5, 1.0])
    stage = np.array([0, 1, 2, 2], dtype=np.int8)
    propensity = np.array([0.9, 0.4, 0.3, 1.0])
    assert net.referral_weight(stage_weight, stage, propensity).tolist() == [0.0, 0.2, 0.3, 1.0]


@pytest.mark.parametrize("with_factor", [False, True])
def test_float32_referral_weight_made_in_blocks_is_the_rounded_weight(with_factor):
    rng = np.random.default_rng(9)
    stage_weight = np.array([0.0, 0.3, 1.0, 0.7])
    stage = rng.integers(0, 4, 5000).astype(np.int8)
    propensity = rng.random(5000)
    factor = 1.0 + rng.random(5000) if with_factor else None
    weight = net.referral_weight(stage_weight, stage, propensity)
    if factor is not None:
        weight = weight * factor
    for block in (5000, 333, 1):
        got = net.referral_weight32(stage_weight, stage, propensity, factor, block=block)
        assert got.dtype == np.float32
        assert np.array_equal(got, weight.astype(np.float32))


def test_fully_mixed_credit_goes_to_positive_weight_in_proportion():
    weight = np.zeros(1000)
    weight[[10, 20]] = [1.0, 3.0]
    referred = np.arange(1000)
    u = (np.arange(1000) + 0.5) / 1000  # evenly spread, deterministic
    referrers = net.credit_referrers(referred, u, weight, None)
    assert referrers.size == 1000
    counts = np.bincount(referrers, minlength=1000)
    assert counts[10] == 250 and counts[20] == 750  # 1 : 3, the weights
    assert counts.sum() == counts[10] + counts[20]  # nobody with zero weight


def test_fully_mixed_credit_by_u_against_cumulative_weight():
    weight = np.array([0.0, 1.0, 3.0, 0.0])
    u = np.array([0.1, 0.0, 0.0, 0.5])
    # cumulative weights of the pool [1, 2]: [1, 4]; targets u · 4 = 0.4 and 2.0
    assert net.credit_referrers(np.array([0, 3]), u, weight, None).tolist() == [1, 2]


def _network() -> sparse.csr_array:
    """Five customers; row i lists i's neighbours (row-normalised like the engine's)."""
    neighbours = [[1, 2, 3], [0, 2], [0], [0, 4], [2, 3]]
    indptr = np.cumsum([0] + [len(x) for x in neighbours])
    indices = np.concatenate(neighbours).astype(np.int32)
    data = np.concatenate([np.full(len(x), 1.0 / len(x)) for x in neighbours]).astype(np.float32)
    return sparse.csr_array((data, indices, indptr), shape=(5, 5))


NETWORK_WEIGHT = np.array([0.0, 1.0, 0.0, 3.0, 2.0])


@pytest.mark.parametrize(
    ("u0", "referrer"),
    [(0.0, 1), (0.2, 1), (0.2499, 1), (0.25, 3), (0.3, 3), (0.999, 3)],
)
def test_network_credit_goes_to_a_positive_weight_neighbour_by_u(u0, referrer):
    # customer 0's neighbours 1, 2, 3 weigh 1, 0, 3: cumulative [1, 4] over 1 and 3;
    # customer 4 weighs 2 but is no neighbour of 0
    u = np.zeros(5)
    u[0] = u0
    got = net.credit_referrers(np.array([0]), u, NETWORK_WEIGHT, _network())
    assert got.tolist() == [referrer]


def test_network_credit_of_several_referrals_at_once():
    u = np.zeros(5)
    u[0], u[4] = 0.2, 0.9
    # customer 4's neighbours 2, 3 weigh 0, 3: always 3; customer 0 as above
    got = net.credit_referrers(np.array([4, 0]), u, NETWORK_WEIGHT, _network())
    assert got.tolist() == [3, 1]
    u[0] = 0.3
    got = net.credit_referrers(np.array([4, 0]), u, NETWORK_WEIGHT, _network())
    assert got.tolist() == [3, 3]


def test_no_positive_weight_neighbour_means_no_credit():
    u = np.full(5, 0.5)
    network = _network()
    # customer 2's only neighbour, 0, weighs 0
    assert net.credit_referrers(np.array([2]), u, NETWORK_WEIGHT, network).size == 0
    # ... and the others' referrals are still credited
    assert net.credit_referrers(np.array([2, 4]), u, NETWORK_WEIGHT, network).tolist() == [3]
    # nobody recommends at all, network or fully mixed
    zero = np.zeros(5)
    assert net.credit_referrers(np.array([0, 1, 4]), u, zero, network).size == 0
    assert net.credit_referrers(np.array([0, 1, 4]), u, zero, None).size == 0
    # no referrals
    assert net.credit_referrers(np.empty(0, np.int64), u, NETWORK_WEIGHT, network).size == 0


def test_pressure_fully_mixed_and_on_the_network():
    assert net.pressure(None, NETWORK_WEIGHT).tolist() == [1.2] * 5
    got = net.pressure(_network(), NETWORK_WEIGHT)
    assert got == pytest.approx([4 / 3, 0.0, 0.0, 1.0, 1.5])


# ----------------------------------------------------------------------------------
# economics


EXPANDING = econ.EconomicsSpec(expansion_rate=0.1, max_expansion=2.0)


def test_expansion_grows_by_factor_up_to_the_cap_only_where_growing():
    revenue = np.array([100.0, 100.0, 100.0, 190.0])
    got = econ.expand(
        EXPANDING, 1.0, revenue,
        growing=np.array([True, False, True, True]),
        potential=np.array([1.0, 1.0, 0.5, 1.0]),
        engagement=np.array([0.5, 0.5, 1.0, 1.0]),
        contract=np.full(4, 100.0),
    )
    # factor 1 + 0.1 · potential · engagement; the last is capped at 2 × 100
    assert got.tolist() == pytest.approx([105.0, 100.0, 105.0, 200.0])
    assert revenue.tolist() == [100.0, 100.0, 100.0, 190.0]  # not modified


def test_expansion_rate_is_per_month():
    weekly = econ.expand(
        EXPANDING, 52 / 12, np.array([100.0]),
        growing=np.array([True]), potential=np.ones(1), engagement=np.ones(1),
        contract=np.full(1, 100.0),
    )
    assert weekly[0] == pytest.approx(100.0 * (1 + 0.1 * 12 / 52))


def test_no_expansion_when_nobody_grows():
    revenue = np.array([100.0, 50.0])
    got = econ.expand(
        EXPANDING, 1.0, revenue,
        growing=np.zeros(2, dtype=bool), potential=np.ones(2), engagement=np.ones(2),
        contract=np.full(2, 10.0),
    )
    assert got is revenue


def test_book_margin_at_period_end_discounted_from_conversion():
    spec = econ.EconomicsSpec(gross_margin=0.5)
    discount = np.array([1.0, 0.9, 0.8])
    booked = econ.book(
        spec, 2.0,
        payers=np.array([True, False, True]),
        monthly_revenue=np.array([100.0, 100.0, 40.0]),
        cost=np.array([1.0, 2.0, 3.0]),
        age=np.array([1, 0, 7]),  # past the table: its last factor
        discount=discount,
    )
    assert booked.revenue.tolist() == [50.0, 0.0, 20.0]
    assert booked.margin.tolist() == [25.0, 0.0, 10.0]
    assert booked.value.tolist() == pytest.approx([22.5, 0.0, 8.0])
    assert booked.cost_discounted.tolist() == pytest.approx([0.9, 2.0, 2.4])


@pytest.mark.parametrize("kind", ["subscription", "discounted", "spend", "spend_discounted"])
def test_accrue_adds_exactly_what_book_books(kind):
    rng = np.random.default_rng(5)
    n, spec, discount = 1000, econ.EconomicsSpec(gross_margin=0.73), 0.99 ** np.arange(30)
    spend = rng.random(n) * 90 if kind.startswith("spend") else None
    args = dict(
        payers=rng.random(n) < 0.7, monthly_revenue=rng.random(n) * 100,
        cost=rng.random(n), age=rng.integers(0, 40, n), discount=discount,
        price_discount=rng.random(n) * 0.3 if kind.endswith("discounted") else None,
    )
    booked = econ.book(spec, 52 / 12, spend=spend, **args)
    start = rng.random((4, n))
    totals = start.copy()
    kept = None if spend is None else spend.copy()
    got = econ.accrue(spec, 52 / 12, spend=spend, **args, revenue_cum=totals[0],
                      value_cum=totals[1], cost_cum=totals[2], cost_discounted_cum=totals[3])
    assert got == (float(booked.revenue.sum()), float(booked.margin.sum()))
    for total, begun, step in zip(totals, start, (booked.revenue, booked.value, booked.cost,
                                                 booked.cost_discounted), strict=True):
        assert np.array_equal(total, begun + step)  # bit for bit
    if spend is not None:
        assert np.array_equal(spend, kept)  # the caller's spend is left as it was


def test_marketing_cost_per_step():
    spec = econ.MarketingSpec(cost_per_prospect_month=3.0)
    assert econ.marketing_cost(spec, 10, 1.0) == 30.0
    assert econ.marketing_cost(spec, 13, 52 / 12) == pytest.approx(3.0 * 13 * 12 / 52)


# ----------------------------------------------------------------------------------
# dynamics


def test_health_weights_defined_once():
    e = np.array([0.1, 0.7, 0.33])
    o = np.array([0.9, 0.2, 0.5])
    assert np.array_equal(dyn.health_score(e, o), 0.8 * e + 0.2 * o)
    noise = np.array([0.0, 0.05, -0.1])
    visits = np.array([2, 30, 5])
    usage = np.minimum(visits / 20.0, 1.0)
    expected = np.clip(0.8 * usage + 0.2 * o + noise, 0.0, 1.0)
    assert np.array_equal(dyn.observed_health(visits, o, 20.0, noise), expected)


def test_respond_moves_only_active_customers_and_midpoint():
    spec = dyn.DynamicsSpec()
    state = dyn.CustomerState(np.array([0.2, 0.2]), np.array([0.4, 0.4]), np.array([0.5, 0.5]))
    after = dyn.respond(
        spec, 1.0, state, np.array([0.5, 0.5]),
        active=np.array([True, False]), complexity=np.array([0.3, 0.3]),
        product_value=0.7, network=None,
    )
    assert [a[1] for a in after] == [0.2, 0.4, 0.5]  # inactive: unchanged
    assert after.onboarding[0] > 0.2 and after.engagement[0] != 0.4
    mid = dyn.midpoint(state, after)
    assert mid.engagement[0] == 0.5 * (0.4 + after.engagement[0])
    into = dyn.CustomerState(*(x.copy() for x in state))
    assert dyn.midpoint(into, after, out=into) is into  # written over its own inputs
    assert all(np.array_equal(a, b) for a, b in zip(into, mid, strict=True))


@pytest.mark.parametrize("pull", [False, True])
def test_respond_in_place_is_respond_then_midpoint_bit_for_bit(pull):
    rng = np.random.default_rng(3)
    n, spec = 3000, dyn.DynamicsSpec(community_strength=0.3 if pull else 0.0)
    state = dyn.CustomerState(*rng.random((3, n)))
    kwargs = dict(
        active=rng.random(n) < 0.6, complexity=rng.random(n), product_value=0.8,
        network=_network_of(n, rng) if pull else None, community=0.2 if pull else 0.0,
        aimed={"engagement": rng.random(n) * 0.2, "satisfaction": rng.random(n) * 0.1},
    )
    response = rng.random(n)
    after = dyn.respond(spec, 52 / 12, state, response, **kwargs)
    mid = dyn.midpoint(state, after)
    into = dyn.CustomerState(*(x.copy() for x in state))
    halfway = dyn.respond_in_place(spec, 52 / 12, into, response, **kwargs)
    for got, want in zip(into, after, strict=True):
        assert np.array_equal(got, want)  # the new state, in the given arrays
    rows = np.arange(n)[::7]
    for name, whole, full in zip(dyn.CustomerState._fields, mid, halfway.full(), strict=True):
        assert np.array_equal(full, whole)
        assert np.array_equal(halfway.at(name, rows), whole[rows])


def _network_of(n, rng):
    """A random row-normalised network of ``n`` customers, four links each."""
    cols = rng.integers(0, n, (n, 4))
    data = np.full(cols.size, 0.25, dtype=np.float32)
    return sparse.csr_array((data, cols.ravel().astype(np.int32), np.arange(0, cols.size + 1, 4)),
                            shape=(n, n))


def test_improve_product_only_with_feedback_and_customers():
    active = np.array([True, True, False])
    engagement = np.array([0.4, 0.6, 1.0])
    off = dyn.DynamicsSpec(feedback_rate=0.0)
    on = dyn.DynamicsSpec(feedback_rate=0.1)
    assert dyn.improve_product(0.7, off, 1.0, active, engagement) == 0.7
    assert dyn.improve_product(0.7, on, 1.0, np.zeros(3, bool), engagement) == 0.7
    assert dyn.improve_product(0.7, on, 1.0, active, engagement) == pytest.approx(
        0.7 + 0.1 * 0.5 * 0.3
    )


# ----------------------------------------------------------------------------------
# lifecycle


def test_transitions_competing_risk_draw_against_u():
    # one edge 0 → 1 with monthly probability 1/2: u below 1/2 moves
    edge = lifecycle.Edge(source=0, target=1, base=0.5)
    out = [(edge,), ()]
    stage = np.array([0, 0, 1, 0], dtype=np.int8)
    u = np.array([0.4, 0.6, 0.0, 0.49])
    moved_to, referred = lifecycle.transitions(stage, out, {}, {}, None, 1.0, u)
    assert moved_to.tolist() == [1, 0, 1, 1]
    assert referred.size == 0
    assert stage.tolist() == [0, 0, 1, 0]  # not modified


def test_sort_moves():
    customer = np.array([False, True, False])  # prospect, customer, churned
    churned = np.array([False, False, True])
    before = np.array([0, 1, 0, 1, 1], dtype=np.int8)
    after = np.array([1, 2, 2, 1, 2], dtype=np.int8)
    converted_step = np.array([-1, 0, -1, 0, 3])
    churn_step = np.array([-1, -1, -1, -1, 2])  # the last churned before (win-back)
    moves = lifecycle.sort_moves(before, after, customer, churned, converted_step, churn_step)
    assert moves.changed.tolist() == [True, True, True, False, True]
    assert moves.active.tolist() == [True, False, False, True, False]
    assert moves.converted.tolist() == [True, False, False, False, False]
    assert moves.churned.tolist() == [False, True, True, False, True]
    # a prospect dropping out is no churned customer; only a first churn counts
    assert moves.first_churn.tolist() == [False, True, False, False, False]


def test_stage_tables():
    stages = (
        lifecycle.Stage("unaware", "prospect"),
        lifecycle.Stage("active", "customer", expands=True, referral_weight=0.5),
        lifecycle.Stage("churned", "churned"),
    )
    edges = (
        lifecycle.Edge(0, 1, None, base_source="marketing", referral=0.2),
        lifecycle.Edge(1, 2, None, base_source="churn_propensity", drivers=(("health", -1.0),)),
    )
    tables = lifecycle.stage_tables(lifecycle.Lifecycle(stages, edges))
    assert tables.customer.tolist() == [False, True, False]
    assert tables.churned.tolist() == [False, False, True]
    assert tables.expands.tolist() == [False, True, False]
    assert tables.referral_weight.tolist() == [0.0, 0.5, 0.0]
    assert tables.marketed.tolist() == [True, False, False]
    assert [len(e) for e in tables.out_edges] == [1, 1, 0]
    assert tables.drivers == {"health"}
    assert tables.word_of_mouth


def test_starting_state_installed_base_at_its_targets():
    spec = dyn.DynamicsSpec()
    active = np.array([True, False])
    state, health = dyn.starting_state(spec, active, np.array([1.0, 1.0]), np.array([0.5, 0.5]))
    e = spec.product_value * (0.3 + 0.7) * (1.0 - spec.complexity_drag * 0.5)
    assert state.onboarding.tolist() == [1.0, 0.0]
    assert state.engagement.tolist() == [e, 0.0]
    assert state.satisfaction[0] == spec.satisfaction_base + spec.satisfaction_slope * e
    assert health.tolist() == [0.8 * e + 0.2 * 1.0, 0.0]


def test_a_step_tally_is_a_dataclass_whose_totals_start_at_zero():
    tally = StepTally(touches=2.0)
    assert isinstance(tally, StepTally)  # a class, not a function wrapping one
    assert {f.name for f in dataclasses.fields(StepTally)} >= {"touches", "revenue", "margin"}
    assert (tally.touches, tally.revenue, tally.new_customers) == (2.0, 0.0, 0)


def test_locate_finds_sorted_rows_among_sorted_keys():
    keys = np.array([2, 5, 7, 11])
    rows = np.array([0, 2, 3, 7, 11, 12])
    found, at = locate(keys, rows)
    assert found.tolist() == [False, True, False, True, True, False]
    assert at.tolist() == [0, 2, 3]
    assert np.array_equal(keys[at], rows[found])
    found, at = locate(np.empty(0, np.int64), rows)
    assert not found.any() and at.size == 0
