"""The company totals of the report: the sample's results scaled to the company."""

from __future__ import annotations

import pandas as pd
import pytest

from sim.analysis.company import company_section, lifetime_profit, totals_table, weights


def _runs() -> pd.DataFrame:
    return pd.DataFrame({
        "policy": ["b", "a", "b", "a"],
        "customers": [10_000] * 4,
        "agents": [2_500] * 4,
        "converted": [100, 110, 120, 90],
        "profit_lifetime_per_customer": [1_000.0, 2_000.0, 3_000.0, 4_000.0],
        "revenue_total": [5e6, 6e6, 7e6, 8e6],
        "profit_total": [1e6, 2e6, 3e6, 4e6],
        "cost_staff_total": [0.0, 1e5, 0.0, 3e5],
        "csm_headcount_peak": [0, 4, 0, 6],
        "payback_months": [5.0, float("nan"), 7.0, 9.0],
        "ltv_to_cac": [2.0, 3.0, 4.0, 5.0],
    })


def test_lifetime_profit_is_per_customer_times_the_companys_converted():
    runs = _runs()
    assert list(weights(runs)) == [4.0] * 4
    assert lifetime_profit(runs).tolist() == [1_000 * 100 * 4, 2_000 * 110 * 4,
                                              3_000 * 120 * 4, 4_000 * 90 * 4]


def test_old_folders_without_agents_have_weight_one():
    runs = _runs().drop(columns="agents")
    assert list(weights(runs)) == [1.0] * 4


def test_totals_are_means_per_policy_in_order_of_appearance():
    table = totals_table(_runs())
    assert list(table.index) == ["b", "a"]
    assert table.loc["a", "profit_lifetime_company"] == pytest.approx(
        (2_000 * 110 * 4 + 4_000 * 90 * 4) / 2)
    assert table.loc["b", "revenue_total"] == pytest.approx(6e6)
    assert table.loc["a", "csm_headcount_peak"] == pytest.approx(5)


def test_section_for_a_comparison_and_a_pointer_for_a_sweep():
    manifest = {"customers": 10_000, "agents": 2_500}
    lines = company_section(manifest, _runs(), [])
    text = "\n".join(lines)
    assert "## Company totals" in text and "10,000" in text and "2,500" in text
    assert "| b | 920k |" in text  # mean of 1,000 · 100 · 4 and 3,000 · 120 · 4
    sweep = "\n".join(company_section(manifest, _runs(), ["segments.smb.share"]))
    assert "runs.csv" in sweep and "|" not in sweep
    assert company_section(manifest, _runs().iloc[0:0], []) == []
