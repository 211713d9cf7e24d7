"""The community and the collaborative roadmap: programs a policy chooses, with a cost.

* The community pull averages the engagement of a customer's *active* neighbours only
  (:func:`sim.engine.network.active_neighbour_mean`); prospects and churned customers
  neither count as zeros nor dilute the mean (they did: a community then *lowered*
  retention).
* ``[policies.X.community]`` and ``[policies.X.roadmap]`` are parsed and validated,
  carried to the model by the policy's :class:`~sim.engine.policies.Engagement`, and
  cost exactly what their cost model says (the company's monthly cost / weight, plus the
  community's cost per active member).
* Domain: with engaged neighbours a community raises engagement and 12-month retention
  (paired seeds, 4 SE); with disengaged neighbours it does not raise engagement; the
  roadmap raises the product's value only in the run of the policy that has it.
"""

import dataclasses

import numpy as np
import pytest
from scipy import sparse

from sim import Engagement, EngagementModel, Policy, load_scenario
from sim.engine import dynamics as dyn
from sim.engine import network as net
from sim.engine.policies import (
    CommunitySpec,
    PolicyError,
    ProgramPolicy,
    RoadmapSpec,
    check_engagement,
)
from sim.engine.scenario import shipped_scenarios
from sim.engine.view import PolicyView
from sim.schema import InputError

COMMUNITY = {"strength": 0.8, "monthly_cost": 4000.0, "cost_per_member_month": 1.0}
ROADMAP = {"feedback_rate": 0.05, "monthly_cost": 6000.0}


def _scenario(policy="high_touch", base="default", **tables):
    """The scenario with ``tables`` (community=…, roadmap=…) added to ``policy``."""
    scenario = load_scenario(base)
    return scenario.with_overrides({f"policies.{policy}.{k}": v for k, v in tables.items()})


def _hand_network(edges, n):
    """Row-normalised adjacency of an undirected graph given by its edges."""
    rows, cols = zip(*(edges + [(j, i) for i, j in edges]), strict=True)
    adj = sparse.csr_array((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    return sparse.csr_array(adj / adj.sum(axis=1)[:, None])


# ----------------------------------------------------------------------------------
# the rule: the mean over the active neighbours


def test_active_neighbour_mean_on_a_hand_made_network():
    # 0-1, 0-2, 1-2, 2-3, 1-4; customers 1 and 4 are not active (a prospect, a churned one)
    w = _hand_network([(0, 1), (0, 2), (1, 2), (2, 3), (1, 4)], 5)
    active = np.array([True, False, True, True, False])
    engagement = np.array([0.2, 0.9, 0.6, 0.4, 0.8])
    mean, has = net.active_neighbour_mean(w, engagement, active)
    # 0: {1, 2} → only 2 counts; 1: {0, 2, 4} → 0 and 2; 2: {0, 1, 3} → 0 and 3;
    # 3: {2}; 4: {1}, nobody active
    np.testing.assert_allclose(mean, [0.6, 0.4, 0.3, 0.6, 0.0], rtol=0, atol=1e-15)
    assert has.tolist() == [True, True, True, True, False]
    # the old average counted the inactive as zeros: customer 0 saw 0.3, not 0.6
    assert (w @ np.where(active, engagement, 0.0))[0] == pytest.approx(0.3)


def test_active_neighbour_mean_matches_a_loop_on_a_small_world():
    rng = np.random.default_rng(5)
    w = net.small_world(300, 6, 0.2, rng)
    active, values = rng.random(300) < 0.4, rng.random(300)
    mean, has = net.active_neighbour_mean(w, values, active)
    for i in range(300):
        neighbours = w.indices[w.indptr[i]:w.indptr[i + 1]]
        mine = values[neighbours[active[neighbours]]]
        assert has[i] == (mine.size > 0)
        assert mean[i] == pytest.approx(mine.mean() if mine.size else 0.0, abs=1e-6)


def test_community_target_pulls_only_where_there_are_active_neighbours():
    w = _hand_network([(0, 1), (2, 3)], 4)
    active = np.array([True, True, True, False])
    own = np.array([0.2, 0.6, 0.5, 0.5])
    e = np.array([0.9, 0.1, 0.3, 0.7])
    target = dyn.community_target(own, 0.5, w, e, active)
    # 0 → 0.5·0.2 + 0.5·0.1; 1 → 0.5·0.6 + 0.5·0.9; 2's only neighbour is inactive;
    # (3, itself inactive, has one: respond() leaves the inactive as they are anyway)
    np.testing.assert_allclose(target, [0.15, 0.75, 0.5, 0.4])
    assert dyn.community_target(own, 0.0, w, e, active) is own
    assert dyn.community_target(own, 0.5, None, e, active) is own
    rows = np.array([1, 2])  # only some customers' targets: the same numbers
    assert np.array_equal(dyn.community_target(own[rows], 0.5, w, e, active, rows), target[rows])


def test_scenario_and_policy_pulls_compose():
    assert dyn.community_strength(0.3, 0.0) == 0.3  # exactly: old scenarios unchanged
    assert dyn.community_strength(0.0, 0.4) == 0.4
    w = _hand_network([(0, 1), (1, 2), (2, 0)], 3)
    own, e, act = np.array([0.1, 0.5, 0.9]), np.array([0.3, 0.8, 0.2]), np.ones(3, bool)
    twice = dyn.community_target(dyn.community_target(own, 0.3, w, e, act), 0.4, w, e, act)
    once = dyn.community_target(own, dyn.community_strength(0.3, 0.4), w, e, act)
    np.testing.assert_allclose(once, twice, rtol=1e-14)


def test_scenario_and_roadmap_feedback_rates_add():
    active, e = np.array([True, True, False]), np.array([0.4, 0.6, 1.0])
    spec = dyn.DynamicsSpec(feedback_rate=0.1)
    both = dyn.improve_product(0.7, spec, 1.0, active, e, 0.1)
    assert both == pytest.approx(0.7 + 0.2 * 0.5 * 0.3)
    alone = dyn.improve_product(0.7, dyn.DynamicsSpec(), 2.0, active, e, 0.1)
    assert alone == pytest.approx(0.7 + 0.1 / 2 * 0.5 * 0.3)


# ----------------------------------------------------------------------------------
# the policy's programs: parsed, validated, carried, costed


def test_programs_parse_and_shipped_policies_run_none():
    scenario = _scenario(community=COMMUNITY, roadmap=ROADMAP)
    spec = scenario.policies["high_touch"]
    assert spec.community == CommunitySpec(0.8, 4000.0, 1.0)
    assert spec.roadmap == RoadmapSpec(0.05, 6000.0)
    assert scenario.policies["hybrid"].community is None
    # no shipped policy runs either (which keeps their outputs as they were); usp's
    # compete_on_product runs a roadmap by design (tests/engine/test_usp.py)
    for name in set(shipped_scenarios()) - {"usp"}:
        for policy in load_scenario(name).policies.values():
            assert policy.community is None and policy.roadmap is None


@pytest.mark.parametrize(
    ("table", "value", "key", "message"),
    [
        ("community", {"strength": 0.0, "monthly_cost": 1.0}, "community.strength", r"\(0, 1\]"),
        ("community", {"strength": 1.5, "monthly_cost": 1.0}, "community.strength", r"\(0, 1\]"),
        ("community", {"strength": 0.3}, "community.monthly_cost", "required key is missing"),
        ("community", {"strenght": 0.3, "monthly_cost": 1.0}, "community.strength",
         "did you mean 'strength'"),
        ("community", {"strength": 0.3, "monthly_cost": -1.0}, "community.monthly_cost",
         "non-negative cost"),
        ("community", 0.3, "community", "expected a table"),
        ("roadmap", {"feedback_rate": 0.0, "monthly_cost": 1.0}, "roadmap.feedback_rate",
         r"monthly rate in \(0, 1\]"),
        ("roadmap", {"feedback_rate": 0.1, "monthly_cost": 1.0, "rate": 2},
         "roadmap.rate", "unknown key"),
    ],
)
def test_bad_programs_are_refused_naming_file_and_key(table, value, key, message):
    with pytest.raises(InputError, match=message) as caught:
        _scenario("hybrid", **{table: value})
    assert caught.value.key == f"policies.hybrid.{key}"
    assert caught.value.file.endswith("default.toml")


def test_a_community_without_a_network_is_refused():
    with pytest.raises(InputError, match="toward its active neighbours on the network") as caught:
        _scenario("hybrid", base="markov_saas", community=COMMUNITY)
    assert caught.value.key == "policies.hybrid.community"
    # a roadmap needs no network
    assert _scenario("hybrid", base="markov_saas", roadmap=ROADMAP).policies["hybrid"].roadmap


def test_engagement_fields_default_to_zero_and_are_checked():
    none = Engagement.none(3)
    assert none.community_strength == 0.0 and none.feedback_rate == 0.0
    policy = ProgramPolicy(load_scenario("default").policies["no_touch"])
    for field, bad in [("community_strength", 1.5), ("community_strength", -0.1),
                       ("feedback_rate", -0.1), ("feedback_rate", np.inf)]:
        with pytest.raises(PolicyError, match=field):
            check_engagement(policy, dataclasses.replace(none, **{field: bad}), 3)


@pytest.mark.parametrize("step", ["month", "week"])
def test_programs_cost_exactly_what_their_cost_model_says(step):
    scenario = _scenario(community=COMMUNITY, roadmap=ROADMAP).with_overrides(
        {"time.step": step}
    )
    model = EngagementModel(scenario, "high_touch", rng=4, customers=10_000, agents=2000,
                            months=2)
    model.run()  # a state with churn and new customers
    spm, weight = model.steps_per_month, model.weight
    assert weight == 5.0
    spec = scenario.policies["high_touch"]
    plain = ProgramPolicy(dataclasses.replace(spec, community=None, roadmap=None))
    full = ProgramPolicy(spec)
    view = PolicyView(model, np.random.default_rng(0))
    plain.setup(view)
    full.setup(view)
    without, with_ = plain.engage(view), full.engage(view)
    assert (with_.community_strength, with_.feedback_rate) == (0.8, 0.05)
    assert (without.community_strength, without.feedback_rate) == (0.0, 0.0)
    members = int(model.active.sum())
    company = (4000.0 + 6000.0) / spm / weight  # the sample's share of the monthly costs
    per_member = 1.0 / spm
    extra = with_.costs_by_type["fixed"] - without.costs_by_type["fixed"]
    assert extra == pytest.approx(company + per_member * members, rel=1e-12)
    for key in ("touch", "setup", "staff"):
        assert with_.costs_by_type[key] == without.costs_by_type[key]
    # on the customers: every member carries its own fee and an even share of the rest
    added = with_.cost - without.cost
    np.testing.assert_allclose(added[model.active], per_member + company / members, rtol=1e-12)
    assert not added[~model.active].any()


def test_a_run_books_the_programs_cost_every_step():
    on = _scenario(community=COMMUNITY, roadmap=ROADMAP)
    kwargs = dict(rng=6, customers=6000, agents=3000, months=6)
    a = EngagementModel(on, "high_touch", **kwargs)
    start = int(a.active.sum())
    ts_on = a.run().timeseries()
    ts_off = EngagementModel("default", "high_touch", **kwargs).run().timeseries()
    members = np.concatenate([[start], ts_on["active"].to_numpy()[:-1]])  # at each engage
    expected = (4000.0 + 6000.0) / 2.0 + 1.0 * members  # weight 2, monthly steps
    np.testing.assert_allclose(ts_on["cost_fixed"] - ts_off["cost_fixed"], expected, rtol=1e-12)


# ----------------------------------------------------------------------------------
# domain: what a community and a roadmap do


def _paired(scenario_on, scenario_off, policy, seeds, customers, months, prepare=None):
    """Per-seed differences (on − off) of the mean engagement and 12-month retention."""
    d_e, d_r = [], []
    for seed in seeds:
        runs = []
        for scenario in (scenario_on, scenario_off):
            model = EngagementModel(scenario, policy, rng=seed, customers=customers,
                                    months=months)
            if prepare is not None:
                prepare(model)
            model.run()
            runs.append((model.timeseries()["engagement_mean"].mean(),
                         model.summary(seed)["retention"].get("12", np.nan)))
        d_e.append(runs[0][0] - runs[1][0])
        d_r.append(runs[0][1] - runs[1][1])
    return np.array(d_e), np.array(d_r)


def _se(d):
    return d.std(ddof=1) / np.sqrt(d.size)


def test_a_community_of_engaged_neighbours_raises_engagement_and_retention():
    base = load_scenario("default")
    on = _scenario(community=COMMUNITY)
    # the premise: under high touch, active neighbours are more engaged than a customer's
    # own target (touches lift engagement above it), so the pull is upward
    probe = EngagementModel(base, "high_touch", rng=0, customers=5000, months=6).run()
    own = dyn.engagement_target(probe.product_value, probe.onboarding,
                                probe.traits["complexity"], base.dynamics.complexity_drag)
    mean, has = net.active_neighbour_mean(probe.network, probe.engagement, probe.active)
    ok = probe.active & has
    assert (mean[ok] - own[ok]).mean() > 0.05
    d_e, d_r = _paired(on, base, "high_touch", range(24), 5000, 12)
    assert d_e.mean() > 4 * _se(d_e)
    assert d_r.mean() > 4 * _se(d_r)


def test_a_community_of_disengaged_neighbours_does_not_raise_engagement():
    base = load_scenario("default")
    on = _scenario(community=COMMUNITY)

    def disengage(model):  # the installed base starts disengaged (its own target is ≈ 0.5)
        model.engagement[model.active] = 0.05

    d_e, _ = _paired(on, base, "high_touch", range(12), 3000, 6, prepare=disengage)
    # pulled toward disengaged neighbours, engagement recovers more slowly: lower, not higher
    assert d_e.mean() + 4 * _se(d_e) < 0


def test_the_roadmap_raises_product_value_only_for_the_policy_that_runs_it():
    scenario = _scenario(roadmap=ROADMAP)
    kwargs = dict(rng=8, customers=3000, months=12)
    runs_it = EngagementModel(scenario, "high_touch", **kwargs)
    other = EngagementModel(scenario, "hybrid", **kwargs)
    values = [runs_it.product_value]
    while runs_it.steps < runs_it.horizon:
        before = runs_it.product_value
        runs_it.step()
        other.step()
        mean_e = runs_it.engagement[runs_it.active].mean()
        assert runs_it.product_value == pytest.approx(
            before + 0.05 * mean_e * (1 - before), rel=1e-15, abs=0
        )
        assert other.product_value == 0.7  # the other policy's product is untouched
        values.append(runs_it.product_value)
    assert np.all(np.diff(values) > 0) and values[-1] > 0.75
    # a better product keeps the same customers more engaged than without the roadmap
    plain = EngagementModel("default", "high_touch", **kwargs).run()
    gain = runs_it.timeseries()["engagement_mean"] - plain.timeseries()["engagement_mean"]
    assert gain.iloc[-1] > 0.01
    # and its cost is booked, the company's monthly cost on the sample (weight 1)
    cost = runs_it.timeseries()["cost_fixed"] - plain.timeseries()["cost_fixed"]
    np.testing.assert_allclose(cost, 6000.0, rtol=1e-12)


class _EmailWithCommunity(Policy):
    """A custom policy that turns the community pull on through its Engagement."""

    name = "email_with_community"

    def __init__(self, strength):
        self.strength = strength

    def engage(self, view):
        engaged = Engagement.from_touches(view, np.where(view.active, 1.0, 0.0), effect=0.1)
        engaged.community_strength = self.strength
        return engaged


def test_a_custom_policy_can_run_a_community():
    kwargs = dict(rng=9, customers=2000, months=6)
    on = EngagementModel("default", _EmailWithCommunity(0.8), **kwargs).run()
    off = EngagementModel("default", _EmailWithCommunity(0.0), **kwargs).run()
    gain = on.timeseries()["engagement_mean"] - off.timeseries()["engagement_mean"]
    # once the e-mails have lifted engagement above the customers' own targets, the
    # pull toward the (engaged) neighbours lifts it further, month after month
    assert (np.diff(gain) > 0).all() and gain.iloc[-1] > 0.01


def test_a_plan_of_one_community_policy_is_that_policy():
    scenario = _scenario(community=COMMUNITY, roadmap=ROADMAP)
    plan = "plan:" + ",".join(f"{s}=high_touch" for s in scenario.segment_names)
    kwargs = dict(rng=10, customers=2000, months=6)
    single = EngagementModel(scenario, "high_touch", **kwargs).run().timeseries()
    planned = EngagementModel(scenario, plan, **kwargs).run().timeseries()
    for column in ("engagement_mean", "active", "cost_fixed", "cost_total"):
        np.testing.assert_allclose(planned[column], single[column], rtol=1e-12)
