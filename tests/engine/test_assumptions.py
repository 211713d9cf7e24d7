"""The key assumptions a report states, with their sources."""

from sim import load_scenario
from sim.engine.assumptions import key_assumptions


def test_default_names_what_the_answer_rests_on_and_where_it_comes_from():
    rows = {a.path: a for a in key_assumptions(load_scenario("default"))}
    assert rows["time.months"].value == 36
    assert rows["economics.annual_discount_rate"].value == 0.1
    check_ins = rows["policies.high_touch.programs.check_ins.effect"]
    assert check_ins.value == 0.5 and check_ins.source.startswith("uncertain: triangular(")
    # a linked key carries the same declared range
    linked = rows["policies.hybrid.programs.enterprise_check_ins.effect"]
    assert linked.source == check_ins.source
    assert rows["teams.pooled.accounts_per_csm"].source.endswith("(fixed)")
    assert rows["teams.named.annual_cost"].source.startswith("uncertain: triangular(")
    assert "teams.named.monthly_cost" not in rows  # stated per year: no monthly row


def test_a_scenario_without_uncertainties_lists_only_fixed_values():
    rows = key_assumptions(load_scenario("constant_churn", overrides={"time.months": 12}))
    assert rows[0].label == "horizon (months)" and rows[0].value == 12
    assert all(a.source == "scenario `constant_churn` (fixed)" for a in rows)
