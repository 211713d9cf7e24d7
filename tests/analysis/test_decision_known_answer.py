"""``engagesim decide`` recovers the closed-form answer of the churn-nudge toy.

The toy (``scenarios/churn_nudge.toml``, closed forms in :mod:`sim.theory.nudge`):
constant churn, a nudge of uncertain effect ``β ~ uniform(−1.2, 0)`` on the churn odds
at a known cost, and a control assumption that cannot matter. One decide run at the
default sample size (through the command line, end to end) is checked against the
break-even, the probability the nudge is best, the regrets and the EVPI.
"""

import math

import pandas as pd
import pytest

from sim.cli import main
from sim.engine.scenario import load_scenario
from sim.sweep.design import DECIDE_SAMPLES
from sim.theory.nudge import EFFECT_PATH, NONE, NUDGE, NudgeToy, nudge_answer

pytestmark = pytest.mark.slow  # statistical: a full decision against its known answer

CONTROL = "marketing.cost_per_prospect_month"
CUSTOMERS = 500  # simulated per run, a sample of the toy company


@pytest.fixture(scope="module")
def decided(tmp_path_factory):
    out = tmp_path_factory.mktemp("decide") / "toy"
    code = main(["decide", "churn_nudge", "--agents", str(CUSTOMERS), "--replications", "2",
                 "--jobs", "2", "--quiet", "--out", str(out)])
    assert code == 0
    scenario = load_scenario("churn_nudge")
    return {
        "out": out,
        "truth": nudge_answer(NudgeToy.of(scenario)),
        "company": scenario.population.customers,
        "decision": pd.read_csv(out / "decision.csv").query("scope == 'all'").set_index("policy"),
        "info": pd.read_csv(out / "value_of_information.csv").query("scope == 'all'")
                  .set_index("assumption"),
        "even": pd.read_csv(out / "break_even.csv").query("scope == 'all'")
                  .set_index("assumption"),
        "drivers": pd.read_csv(out / "drivers.csv").query("scope == 'all'").set_index("name"),
    }


def test_break_even_within_its_standard_error(decided):
    row, truth = decided["even"].loc[EFFECT_PATH], decided["truth"]
    se = (row["high"] - row["low"]) / (2 * 1.96)
    assert abs(row["value"] - truth.break_even) < 4 * se
    assert row["leader"] == NUDGE and not row["leader_wins_above"]


def test_probability_the_nudge_is_best(decided):
    p, truth = decided["decision"].loc[NUDGE, "p_best"], decided["truth"].p_nudge_best
    se = math.sqrt(truth * (1 - truth) / DECIDE_SAMPLES)
    assert abs(p - truth) < 4 * se


def test_expected_regret_of_each_choice(decided):
    truth, scale = decided["truth"], decided["company"]
    for policy in (NONE, NUDGE):
        regret = decided["decision"].loc[policy, "expected_regret"] / scale
        # the regret is a mean over samples of max(0, ±Δ): Δ spans ≈ 250 per customer
        assert abs(regret - truth.regret[policy]) < 0.05 * truth.regret[policy] + 2.0
    assert bool(decided["decision"].loc[NUDGE, "recommended"])


def test_evpi_within_5_percent_of_the_closed_form(decided):
    evpi = decided["info"].loc["all", "value"] / decided["company"]
    assert abs(evpi / decided["truth"].evpi - 1) < 0.05


def test_an_assumption_that_cannot_matter_gets_nothing(decided):
    control = decided["drivers"].loc[CONTROL]
    assert control["first_low"] <= 0.0 <= control["first_high"]
    assert decided["info"].loc[CONTROL, "value"] < 0.01 * decided["info"].loc["all", "value"]
    assert decided["drivers"].loc[EFFECT_PATH, "first"] > 0.9


def test_the_report_answers_on_its_first_screen(decided):
    text = (decided["out"] / "report.md").read_text()
    first = text.split("## 1.")[0]
    assert "choose nudge" in first
    assert "cuts churn odds by" in first        # the break-even in the user's units
    for name in ("decision_map.png", "acceptability.png", "value_of_information.png"):
        assert (decided["out"] / "figures" / name).is_file()
