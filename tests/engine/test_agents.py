"""Mesa agents: customer views created on demand, CSM agents that follow headcount."""

import numpy as np
import pytest

from sim import EngagementModel
from sim.engine.agents import CSMAgent, CustomerAgent


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
