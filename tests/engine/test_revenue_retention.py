"""Net and gross revenue retention of the installed base a year in (nrr_12, grr_12)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.engine.economics import revenue_retention
from sim.engine.model import EngagementModel


def test_net_counts_expansion_gross_only_churn_and_contraction():
    start = np.array([100.0, 200.0, 0.0, 50.0])
    later = np.array([150.0, 0.0, 80.0, 40.0])  # expands, churns, not in the cohort, shrinks
    net, gross = revenue_retention(start, later)
    assert net == pytest.approx((150 + 0 + 40) / 350)  # the 80 of a non-member is ignored
    assert gross == pytest.approx((100 + 0 + 0 + 40) / 350)
    assert all(math.isnan(v) for v in revenue_retention(np.zeros(3), np.ones(3)))


def test_constant_churn_keeps_the_survival_share_of_revenue():
    """Equal contracts, no expansion, churn r a month: NRR = GRR = (1 − r)^12 in expectation."""
    customers, r = 20_000, 0.05
    summary = EngagementModel("constant_churn", "none", rng=11, customers=customers,
                              months=13).run().summary()
    truth = (1 - r) ** 12
    se = math.sqrt(truth * (1 - truth) / customers)  # equal contracts: a binomial share
    assert abs(summary["grr_12"] - truth) < 4 * se
    assert summary["nrr_12"] == summary["grr_12"]  # nothing expands
    assert summary["segments"]["everyone"]["grr_12"] == summary["grr_12"]


def test_expansion_lifts_net_above_gross_on_the_default_scenario():
    summary = EngagementModel("default", "hybrid", rng=2, agents=2000, months=12).run().summary()
    assert summary["nrr_12"] > summary["grr_12"] > 0
    for segment in summary["segments"].values():
        assert segment["nrr_12"] >= segment["grr_12"]


def test_runs_shorter_than_a_year_do_not_report_it():
    summary = EngagementModel("constant_churn", "none", rng=1, customers=500,
                              months=11).run().summary()
    assert "nrr_12" not in summary and "grr_12" not in summary
