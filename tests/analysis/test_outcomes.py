"""The outcome registry: every summary column is known, with its direction, unit and label."""

import pytest

from sim.analysis import outcomes
from sim.analysis.outcomes import (
    OUTCOMES,
    RETENTION,
    SETTING_COLUMNS,
    UNITS,
    Outcome,
    outcome,
    segment_column,
    split_column,
)
from sim.engine.metrics import COST_COLUMNS, RETENTION_MONTHS, STEP_METRICS
from sim.engine.model import EngagementModel
from sim.engine.policies import COST_TYPES
from sim.sweep.design import Run
from sim.sweep.runner import record_of
from sim.sweep.store import ID_COLUMNS


@pytest.fixture(scope="module")
def model():
    # 60 months so that every retention horizon (3, 6, 12, 24, 36, 60) is observed
    return EngagementModel("default", "hybrid", rng=4, customers=600, months=60).run()


@pytest.fixture(scope="module")
def record(model):
    run = Run(run_id=0, point=0, policy="hybrid", replication=0, seed=4,
              factors={"segments.smb.share": 0.5})
    return record_of(run, model.summary(seed=4), "")


@pytest.fixture(scope="module")
def purchase_record():
    """A run of a repeat-purchase scenario: its summary adds the purchase outcomes."""
    model = EngagementModel("b2c_retail", "no_touch", rng=4, agents=600, months=12).run()
    run = Run(run_id=0, point=0, policy="no_touch", replication=0, seed=4, factors={})
    return record_of(run, model.summary(seed=4), "")


def test_every_summary_column_of_a_run_is_an_outcome_or_an_id(record, purchase_record):
    others = {*ID_COLUMNS, *SETTING_COLUMNS, "segments.smb.share", "error"}
    for columns in (record, purchase_record):
        # text columns (the revenue model, why revenue retention is null) are no outcome
        unknown = [c for c, v in columns.items()
                   if c not in others and not isinstance(v, str) and outcome(c) is None]
        assert unknown == []
    # and every outcome of the registry is in one of them (nothing stale); the purchase
    # outcomes only in the repeat-purchase run
    assert set(OUTCOMES) <= set(record) | set(purchase_record)
    assert "aov" in purchase_record and "aov" not in record


def test_per_segment_columns_resolve_to_their_outcome(record, model):
    segments = model.spec.segment_names
    assert "mid_market" in segments  # a segment name with an underscore
    per_segment = [c for c in record if c.startswith(outcomes.SEGMENT_PREFIX)]
    assert per_segment
    for column in per_segment:
        segment, name = split_column(column)
        assert segment in segments
        assert segment_column(segment, name) == column
    assert split_column("segments_mid_market_retention_12") == ("mid_market", "retention_12")
    assert outcome("segments_smb_cost_per_customer") is OUTCOMES["cost_per_customer"]
    # the longest outcome name wins: LTV:CAC is not CAC
    assert outcome("segments_smb_ltv_to_cac") is OUTCOMES["ltv_to_cac"]
    assert split_column("ltv_mean") == (None, "ltv_mean")
    assert segment_column(None, "ltv_mean") == "ltv_mean"
    for not_an_outcome in ("run_id", "customers", "segments.smb.share", "segments_ltv_mean",
                           "segments_smb_unknown", "error"):
        assert outcome(not_an_outcome) is None


def test_direction():
    by_type = tuple(f"{column}_total" for column in COST_COLUMNS)
    lower = {"churn_rate_monthly", "cost_per_customer", "cost_lifetime_per_customer",
             "cost_total", *by_type, "payback_months", "cac", "churned"}
    assert {n for n, o in OUTCOMES.items() if not o.higher_is_better} == lower
    # the order the report lists them in
    assert outcomes.lower_is_better_names() == (
        "churn_rate_monthly", "cost_per_customer", "cost_lifetime_per_customer", "cost_total",
        *by_type, "payback_months", "cac", "churned")
    assert outcomes.lower_is_better("segments_enterprise_cost_per_customer")
    assert not outcomes.lower_is_better("segments_enterprise_profit_per_customer")
    assert not outcomes.lower_is_better("not_a_metric")
    assert OUTCOMES["cac"].better_if == "lower" and OUTCOMES["nps"].better_if == "higher"
    assert outcomes.lower_is_better("segments_smb_churn_rate_monthly")
    assert not outcomes.lower_is_better("conversion_onboarding_to_adoption")


def test_funnel_conversion_columns_are_monthly_shares_named_after_the_stages(record, model):
    columns = [c for c in record if c.startswith(outcomes.CONVERSION_PREFIX)]
    names = model.spec.lifecycle.names
    assert "conversion_onboarding_to_adoption" in columns
    for column in columns:
        found = outcome(column)
        source, target = column.removeprefix("conversion_").split("_to_")
        assert (source in names and target in names), column
        assert found.name == column and found.unit == "share" and found.higher_is_better
        assert split_column(column) == (None, column)
    assert outcomes.label("conversion_onboarding_to_adoption") == "onboarding → adoption / mo"
    for not_one in ("conversion_", "conversion_onboarding", "conversion__to_adoption"):
        assert outcome(not_one) is None


def test_units_decide_formats():
    assert {o.unit for o in OUTCOMES.values()} <= set(UNITS)
    assert OUTCOMES["ltv_mean"].unit == "money"
    assert OUTCOMES["retention_12"].unit == "share"
    assert OUTCOMES["payback_months"].unit == "months"
    assert OUTCOMES["ltv_to_cac"].unit == "ratio"
    assert OUTCOMES["nps"].unit == "score"
    assert OUTCOMES["churned"].unit == "count"
    assert {OUTCOMES[n].unit for n in ("churn_rate_monthly", "csat", "dau_mau")} == {"share"}
    assert OUTCOMES["retention_12"].format(0.912) == "91.2 %"
    assert outcomes.formatter("segments_smb_retention_3", difference=True)(0.014, signed=True) \
        == "+1.4 pp"
    assert OUTCOMES["ltv_mean"].format(28097.4) == "28,097"
    assert outcomes.formatter("not_a_metric")(3.4449) == "3.44"
    with pytest.raises(ValueError, match="unknown unit"):
        Outcome("x", "x", "furlongs")


def test_labels_as_the_report_and_figures_write_them():
    assert [outcomes.label(RETENTION[m]) for m in RETENTION_MONTHS] == [
        f"retention {m} mo" for m in RETENTION_MONTHS]
    assert outcomes.label("ltv_mean") == "LTV / customer"
    assert outcomes.label("ltv_to_cac") == "LTV:CAC"
    assert outcomes.label("not_a_metric") == "not a metric"
    assert OUTCOMES["cost_per_customer"].axis_label == "cost to serve per customer (currency)"
    assert OUTCOMES["retention_12"].heading == "12-month retention (%)"
    assert OUTCOMES["nps"].axis_label == "NPS"


def test_recorded_cost_columns_are_the_policy_types_then_acquisition_and_marketing(model):
    expected = tuple(f"cost_{t}" for t in (*COST_TYPES, "acquisition", "marketing"))
    assert expected == COST_COLUMNS
    assert set(COST_COLUMNS) <= set(STEP_METRICS)
    series = model.timeseries()
    assert series[list(COST_COLUMNS)].sum(axis=1).to_numpy() == pytest.approx(
        series["cost_total"].to_numpy())
