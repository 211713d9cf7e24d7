"""Company size is not sample size: a run simulates a sample of the company.

``population.customers`` is the company (customers and prospects), ``population.agents``
how many of them a run simulates; each agent stands for ``customers / agents`` of the
company's customers, and fixed costs, CSM headcount and company totals are the
company's whatever the sample size.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.engine.model import EngagementModel
from sim.engine.scenario import load_scenario
from sim.schema import InputError

COMPANY = 10_000
MONTHS = 12
REPLICATIONS = 6


def _summaries(agents: int, policy: str = "hybrid") -> list[dict]:
    return [
        EngagementModel("default", policy, rng=1000 + r, customers=COMPANY, agents=agents,
                        months=MONTHS).run().summary()
        for r in range(REPLICATIONS)
    ]


@pytest.fixture(scope="module")
def small_and_large() -> tuple[list[dict], list[dict]]:
    return _summaries(1500), _summaries(6000)


def test_agents_default_to_every_customer():
    population = load_scenario("default", overrides={"population.customers": 1234}).population
    assert (population.n_agents, population.weight) == (1234, 1.0)
    sample = load_scenario("default", overrides={"population.agents": 617}).population
    assert sample.n_agents == 617
    assert sample.weight == pytest.approx(sample.customers / 617)


@pytest.mark.parametrize("value", [0, -5, 2.5, "many"])
def test_bad_agents_are_refused(value):
    with pytest.raises(InputError, match=r"population\.agents"):
        load_scenario("default", overrides={"population.agents": value})


def test_fixed_cost_is_the_companys_whatever_the_sample():
    fixed = load_scenario("default").policies["no_touch"].fixed_cost_per_month
    for agents in (800, 3000):
        model = EngagementModel("default", "no_touch", rng=3, customers=COMPANY, agents=agents,
                                months=MONTHS).run()
        summary = model.summary()
        assert summary["cost_fixed_total"] == pytest.approx(fixed * MONTHS, rel=1e-9)
        assert (summary["customers"], summary["agents"]) == (COMPANY, agents)


def test_named_team_is_sized_for_the_company():
    model = EngagementModel("default", "high_touch", rng=5, customers=COMPANY, agents=2500,
                            months=1)
    covered = int(np.count_nonzero(model.active))  # the named team covers every customer stage
    model.step()
    team = model.policy.teams["named"]
    assert team.headcount == int(np.ceil(covered * model.weight / team.spec.accounts_per_csm))
    assert model.weight == COMPANY / 2500


@pytest.mark.parametrize(
    "metric",
    [
        "profit_lifetime_per_customer",
        "cost_per_customer",
        "retention_12",
        "profit_total",
        "revenue_total",
        "cost_staff_total",
        "cost_acquisition_total",
        "csm_headcount_mean",
    ],
)
def test_sample_size_does_not_change_expected_results(small_and_large, metric):
    """5k or 50k agents for one company: same per-customer results and totals (≈ 4 SE)."""

    def values(summaries):
        if metric == "retention_12":
            return np.array([s["retention"]["12"] for s in summaries])
        return np.array([s[metric] for s in summaries], dtype=float)

    small, large = values(small_and_large[0]), values(small_and_large[1])
    se = np.sqrt(small.var(ddof=1) / small.size + large.var(ddof=1) / large.size)
    assert abs(small.mean() - large.mean()) <= 4 * se, (small.mean(), large.mean(), se)
