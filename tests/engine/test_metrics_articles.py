"""The metrics the articles use: churn rate, CSAT, DAU/MAU stickiness, conversion rates.

Each against its closed form where one exists (constant churn, a fixed engagement, a
deterministic edge) and against the run's own counts otherwise.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.engine import results
from sim.engine.metrics import (
    CONVERSION_COLUMNS,
    DAYS_PER_MONTH,
    csat,
    csat_scores,
    daily_active_probability,
    dau_mau,
    funnel_edges,
    monthly_active_probability,
    monthly_probability,
)
from sim.engine.model import EngagementModel
from sim.engine.scenario import load_scenario

CHURN = 0.05  # constant_churn's monthly churn probability


def _constant_churn(step="month", months=24, customers=5000, dynamics=None, **overrides):
    scenario = load_scenario("constant_churn").with_overrides(
        {"time.step": step, "time.months": months, "population.customers": customers,
         **overrides})
    if dynamics:  # the scenario has no [dynamics] table to override
        scenario = replace(scenario, dynamics=replace(scenario.dynamics, **dynamics))
    return EngagementModel(scenario, "none", rng=11).run()


def _at_risk(model):
    """Customer-steps at risk (customers at a step's start), from the customers' moves."""
    return int(model.moves_count[:, model.stage_tables.customer].sum())


@pytest.fixture(scope="module")
def default_run():
    return EngagementModel("default", "hybrid", rng=5, customers=3000, months=18).run()


# ----------------------------------------------------------------------------------
# churn rate


@pytest.mark.parametrize("step", ["month", "week"])
def test_constant_churn_gives_its_monthly_churn_rate_within_4_se(step):
    model = _constant_churn(step)
    got = model.summary()["churn_rate_monthly"]
    k = model.steps_per_month
    p = 1 - (1 - CHURN) ** (1 / k)  # the step's churn probability
    # the pooled estimate of p has SE sqrt(p(1 − p)/at risk); a month is 1 − (1 − p)^k
    se = k * (1 - p) ** (k - 1) * math.sqrt(p * (1 - p) / _at_risk(model))
    assert abs(got - CHURN) <= 4 * se, (got, se)
    assert model.summary()["segments"]["everyone"]["churn_rate_monthly"] == got


def test_wrong_churn_is_seen():
    model = _constant_churn(**{"segments.everyone.churn_propensity.value": 0.06})
    se = math.sqrt(CHURN * (1 - CHURN) / _at_risk(model))
    assert model.summary()["churn_rate_monthly"] - CHURN > 4 * se


def test_the_step_churn_rate_is_churned_over_active_at_the_start(default_run):
    ts = default_run.timeseries()
    start = np.r_[np.count_nonzero(default_run.converted_step == 0), ts["active"][:-1]]
    churned = ts["churn_rate"] * start
    # no edge leads a prospect to churn in the default lifecycle: all of them are customers
    assert np.allclose(churned, ts["churned_this_step"], rtol=0, atol=1e-9)
    # the run's rate pools the steps: churned over active at the start, all steps
    pooled = ts["churned_this_step"].sum() / start.sum()
    assert default_run.summary()["churn_rate_monthly"] == pytest.approx(pooled, rel=1e-12)


def test_the_overall_churn_rate_weights_the_segments_by_their_customers(default_run):
    summary = default_run.summary()
    tables = default_run.stage_tables
    at_risk = default_run.moves_count[:, tables.customer].sum(axis=(1, 2))
    rates = [summary["segments"][s]["churn_rate_monthly"] for s in default_run.spec.segment_names]
    assert summary["churn_rate_monthly"] == pytest.approx(np.average(rates, weights=at_risk))
    assert rates[0] < rates[-1]  # enterprise churns less than SMB


def test_monthly_probability_of_a_step_probability():
    assert monthly_probability(0.05, 1) == 0.05
    weekly = 1 - 0.95 ** (12 / 52)
    assert monthly_probability(weekly, 52 / 12) == pytest.approx(0.05, rel=1e-12)


# ----------------------------------------------------------------------------------
# CSAT


def test_csat_counts_the_top_two_boxes_of_a_1_to_5_answer():
    s = np.array([0.0, 0.12, 0.13, 0.5, 0.62, 0.63, 0.87, 0.88, 1.0])
    assert csat_scores(s).tolist() == [1, 1, 2, 3, 3, 4, 4, 5, 5]
    assert csat(s) == pytest.approx(4 / 9)
    assert csat(np.array([0.9, 0.64, 0.3, 0.1])) == 0.5
    assert math.isnan(csat(np.array([])))


@pytest.mark.parametrize(("base", "expected"), [(0.2, 1.0), (0.1, 0.0)])
def test_csat_of_a_settled_base_follows_its_satisfaction(base, expected):
    # a settled base at engagement 0.7: satisfaction base + 0.7 · 0.7 = 0.69 or 0.59
    model = _constant_churn(months=3, customers=500, dynamics={"satisfaction_base": base})
    s = model.satisfaction[model.active]
    assert np.allclose(s, base + 0.49)
    assert (model.timeseries()["csat"] == expected).all()


def test_csat_per_segment_adds_up_to_the_whole(default_run):
    summary = default_run.summary()
    active = [np.count_nonzero(default_run.active & (default_run.segment == k))
              for k in range(len(default_run.spec.segment_names))]
    per_segment = [summary["segments"][s]["csat"] for s in default_run.spec.segment_names]
    assert summary["csat"] == pytest.approx(np.average(per_segment, weights=active))
    assert summary["csat"] == default_run.timeseries()["csat"].iloc[-1]
    assert summary["csat"] == csat(default_run.satisfaction[default_run.active])


# ----------------------------------------------------------------------------------
# DAU/MAU


def _closed_form(rate):
    return (1 - math.exp(-rate / 30)) / (1 - math.exp(-rate))


def test_dau_mau_of_a_fixed_engagement_is_the_closed_form():
    model = _constant_churn(months=6, customers=1000)
    e = model.engagement[model.active]
    assert np.allclose(e, 0.7, rtol=0, atol=1e-12)  # the settled base, no touches
    rate = model.spec.dynamics.visits_per_month * 0.7
    ts = model.timeseries()
    assert ts["dau_mau"].to_numpy() == pytest.approx(_closed_form(rate), rel=1e-12)
    assert model.summary()["dau_mau"] == pytest.approx(_closed_form(rate), rel=1e-12)
    # the visits the model draws are Poisson with that mean: 4 SE of sqrt(λ / visits)
    visits = ts["visits_per_active"].to_numpy()
    se = math.sqrt(rate / ts["active"].sum())
    assert abs(visits.mean() - rate) <= 4 * se


def test_dau_mau_pools_expected_actives():
    assert dau_mau(np.array([20.0])) == pytest.approx(_closed_form(20.0))
    rates = np.array([2.0, 10.0, 40.0])
    daily = 1 - np.exp(-rates / DAYS_PER_MONTH)
    monthly = 1 - np.exp(-rates)
    assert dau_mau(rates) == pytest.approx(daily.sum() / monthly.sum())
    many = np.random.default_rng(4).uniform(0.0, 40.0, 5000)  # to the bit, pairwise sums
    assert dau_mau(many) == float(daily_active_probability(many).sum()) / float(
        monthly_active_probability(many).sum())
    assert dau_mau(np.array([1e6])) == pytest.approx(1.0)  # visits every day
    assert dau_mau(np.array([1e-6])) == pytest.approx(1 / 30, rel=1e-5)  # one day a month
    assert math.isnan(dau_mau(np.array([]))) and math.isnan(dau_mau(np.zeros(3)))
    assert dau_mau(np.array([5.0, 0.0])) == dau_mau(np.array([5.0]))  # no visits: not a MAU


def test_dau_mau_is_what_daily_poisson_visits_give():
    """The derivation checked by simulation: Poisson visits thinned to 30 days."""
    rng = np.random.default_rng(2)
    rates = np.repeat([3.0, 12.0, 25.0], 4000)
    days = rng.poisson(rates[:, None] / DAYS_PER_MONTH, size=(rates.size, 30)) > 0
    dau = days.sum(axis=0).mean()  # daily actives, averaged over the days
    mau = np.count_nonzero(days.any(axis=1))
    # the ratio's SE by the delta method on the customers' (active days / 30, active)
    x, y = days.mean(axis=1), days.any(axis=1).astype(float)
    ratio = x.sum() / y.sum()
    se = np.std(x - ratio * y, ddof=1) * math.sqrt(x.size) / y.sum()
    assert dau / mau == pytest.approx(ratio)
    assert abs(ratio - dau_mau(rates)) <= 4 * se, (ratio, dau_mau(rates), se)


def test_dau_mau_per_segment_brackets_the_whole(default_run):
    summary = default_run.summary()
    per_segment = [summary["segments"][s]["dau_mau"] for s in default_run.spec.segment_names]
    assert min(per_segment) <= summary["dau_mau"] <= max(per_segment)
    assert 0 < summary["dau_mau"] < 1


def test_the_new_metrics_draw_no_random_numbers(default_run):
    state = default_run.rng.bit_generator.state
    default_run.summary()
    results.conversion_frame(default_run)
    assert default_run.rng.bit_generator.state == state


# ----------------------------------------------------------------------------------
# conversion rates


@pytest.mark.parametrize("step", ["month", "week"])
def test_constant_churn_converts_to_churned_at_the_churn_rate(step):
    model = _constant_churn(step)
    table = results.conversion_frame(model)
    assert list(table.columns) == list(CONVERSION_COLUMNS)
    assert table[["from", "to"]].values.tolist() == [["active", "churned"]]
    row = table.iloc[0]
    assert row["exposed"] == _at_risk(model)
    assert row["rate_per_month"] == pytest.approx(model.summary()["churn_rate_monthly"], 1e-12)
    if step == "month":
        assert row["rate_per_month"] == row["moved"] / row["exposed"]
    assert model.summary()["conversion"] == {}  # a churn edge is not the funnel


def test_a_deterministic_edge_converts_everyone_and_exposures_are_stage_counts():
    scenario = load_scenario("default").with_overrides(
        {"lifecycle.edges[5].base": 1.0, "population.customers": 2000, "time.months": 12})
    start = np.bincount(EngagementModel(scenario, "hybrid", rng=3).stage,
                        minlength=len(scenario.lifecycle.stages))
    model = EngagementModel(scenario, "hybrid", rng=3).run()
    table = results.conversion_frame(model)
    row = table[(table["from"] == "purchase") & (table["to"] == "onboarding")].iloc[0]
    assert row["moved"] == row["exposed"] > 0 and row["rate_per_month"] == 1.0
    # exposure: the stage's agents at every step's start (the start, then all but the last)
    ts = model.timeseries()
    for name in ("unaware", "consideration", "growth"):
        exposed = table.loc[table["from"] == name, "exposed"]
        k = scenario.lifecycle.index(name)
        assert (exposed == start[k] + ts[name].iloc[:-1].sum()).all()
    # the customers' share of the flows is the moves the lifetime value reads
    customer = model.stage_tables.customer
    assert (model.flow_count[:, customer] == model.moves_count[:, customer]).all()


def test_the_summary_reports_the_funnel_edges(default_run):
    lc = default_run.spec.lifecycle
    funnel = [(lc.names[e.source], lc.names[e.target]) for e in funnel_edges(lc)]
    assert funnel == [("unaware", "aware"), ("aware", "consideration"),
                      ("consideration", "purchase"), ("purchase", "onboarding"),
                      ("onboarding", "adoption"), ("adoption", "growth"),
                      ("growth", "loyal"), ("loyal", "advocate")]
    table = results.conversion_frame(default_run)
    conversion = default_run.summary()["conversion"]
    assert list(conversion) == [f"{a}_to_{b}" for a, b in funnel]
    for (a, b), rate in zip(funnel, conversion.values(), strict=True):
        row = table[(table["from"] == a) & (table["to"] == b)].iloc[0]
        assert rate == row["moved"] / row["exposed"]
    # the stage's exits are shares of the same agents
    for name, rows in table.groupby("from"):
        assert rows["exposed"].nunique() == 1, name
        assert rows["moved"].sum() <= rows["exposed"].iloc[0]


def test_run_writes_the_conversion_table_and_the_new_columns(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "constant_churn", "--policy", "none", "--seed", "1", "--customers",
                 "1000", "--months", "6", "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(out / "conversion.csv")
    assert list(table.columns) == list(CONVERSION_COLUMNS) and len(table) == 1
    ts = pd.read_csv(out / "timeseries.csv")
    assert list(ts.columns[-3:]) == ["churn_rate", "csat", "dau_mau"]
    summary = json.loads((out / "summary.json").read_text())
    keys = list(summary)
    assert keys.index("churn_rate_monthly") == keys.index("converted") - 1
    assert keys[keys.index("engagement_index") + 1: keys.index("engagement_index") + 3] == [
        "csat", "dau_mau"]
    assert keys.index("conversion") == keys.index("segments") - 1
