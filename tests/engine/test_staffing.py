"""Mesa agents (customer views on demand, CSM agents) and CSM capacity rationing."""

import numpy as np
import pytest

from sim import EngagementModel, load_scenario
from sim.engine.agents import CSMAgent, CustomerAgent
from sim.engine.staffing import Team, TeamSpec


def test_customers_are_views_created_only_on_demand():
    model = EngagementModel("default", "no_touch", rng=1, customers=5000, months=6).run()
    assert len(model.agents_by_type.get(CustomerAgent, [])) == 0
    view = model.customer(42)
    assert view.stage == model.spec.lifecycle.names[model.stage[42]]
    assert view.engagement == model.engagement[42]
    assert view.state()["segment"] == model.spec.segment_names[model.segment[42]]
    model.step()  # views read live values
    assert view.satisfaction == model.satisfaction[42]
    assert model.customer(42) is view
    assert len(model.agents_by_type[CustomerAgent]) == 1
    with pytest.raises(IndexError):
        model.customer(5000)


def test_csms_are_mesa_agents_that_follow_headcount():
    model = EngagementModel("default", "high_touch", rng=1, customers=3000, months=4).run()
    csms = model.agents_by_type[CSMAgent]
    team = model.policy.teams["named"]
    assert len(csms) == team.headcount > 0
    books = sorted(agent.accounts for agent in csms)
    assert sum(books) == np.count_nonzero(team.assigned >= 0)
    assert books[-1] <= team.spec.accounts_per_csm  # auto headcount keeps books in size
    assert all(0 <= agent.utilisation <= 1 + 1e-9 for agent in csms)
    assigned = model.customer(int(np.flatnonzero(team.assigned >= 0)[0]))
    assert assigned.csm is not None


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
        "default", overrides={"policies.high_touch.teams.named.headcount": 3}
    )
    model = EngagementModel(scenario, "high_touch", rng=3, customers=3000, months=6).run()
    summary = model.summary()
    assert summary["csm_headcount_mean"] == 3
    assert 0.99 <= summary["csm_utilisation"] <= 1.0 + 1e-9  # every hour used
    auto = EngagementModel("default", "high_touch", rng=3, customers=3000, months=6).run()
    assert summary["cost_per_customer"] < auto.summary()["cost_per_customer"]
