"""The USP preset (``scenarios/usp.toml``): differentiation against a competitor's offer.

Every policy runs 24 months at 3,000 customers on ten seeds (common random numbers
across policies). Customers switch to the competitor stage and back; competing on the
product (a roadmap raising product value) acquires and wins back more than competing on
engagement (programs aimed at churn), which loses fewer customers to the competitor.
Paired differences are judged at 4 standard errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from sim import EngagementModel, load_scenario, shipped_scenarios

POLICIES = ("no_touch", "compete_on_product", "compete_on_engagement")
SEEDS = range(10)
CUSTOMERS, MONTHS = 3000, 24


@dataclass(frozen=True)
class Flows:
    """Moves counted over one run.

    Attributes:
        acquired: Prospects who became customers.
        switched_out: Customers who moved to the competitor.
        won_back: Agents who came back from the competitor.
        product_value: The product's value at the end.
    """

    acquired: int
    switched_out: int
    won_back: int
    product_value: float


@cache
def run(policy: str, seed: int) -> Flows:
    """One run of the preset under ``policy``, its moves counted each step."""
    model = EngagementModel("usp", policy, rng=seed, customers=CUSTOMERS, months=MONTHS)
    lifecycle = model.spec.lifecycle
    competitor = lifecycle.names.index("competitor")
    prospect = lifecycle.kind_mask("prospect")
    customer = lifecycle.kind_mask("customer")
    counts = {"acquired": 0, "switched_out": 0, "won_back": 0}
    before = [model.stage.copy()]

    def track(step: int, total: int) -> None:
        b, a = before[0], model.stage
        counts["acquired"] += int((prospect[b] & customer[a]).sum())
        counts["switched_out"] += int((customer[b] & (a == competitor)).sum())
        counts["won_back"] += int(((b == competitor) & (a != competitor)).sum())
        before[0] = a.copy()

    model.run(progress=track)
    return Flows(**counts, product_value=float(model.product_value))


def paired(a: str, b: str, field: str) -> tuple[float, float]:
    """Mean and standard error of the per-seed difference a − b in ``field``."""
    diff = np.array([getattr(run(a, s), field) - getattr(run(b, s), field) for s in SEEDS],
                    dtype=float)
    return float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(diff.size))


def test_preset_loads_cites_its_article_and_marks_judgement():
    scenario = load_scenario("usp")
    assert tuple(scenario.policies) == POLICIES
    assert scenario.lifecycle.allow_winback
    kinds = {s.name: s.kind for s in scenario.lifecycle.stages}
    assert kinds["competitor"] == "churned"
    text = Path(shipped_scenarios()["usp"]).read_text()
    assert "shared/seeds/001_f051cb537b1f7d4a.txt" in text
    assert "judgement" in text


@pytest.mark.parametrize("policy", POLICIES)
def test_every_policy_runs_and_customers_switch_both_ways(policy):
    for seed in SEEDS:
        flows = run(policy, seed)
        assert flows.acquired > 0
        assert flows.switched_out > 0, (policy, seed)
        assert flows.won_back > 0, (policy, seed)


def test_only_competing_on_the_product_raises_product_value():
    value = load_scenario("usp").dynamics.product_value
    assert run("compete_on_product", 0).product_value > value
    assert run("compete_on_engagement", 0).product_value == pytest.approx(value)
    assert run("no_touch", 0).product_value == pytest.approx(value)


@pytest.mark.parametrize("field", ["acquired", "won_back"])
def test_competing_on_the_product_acquires_and_wins_back_more(field):
    mean, se = paired("compete_on_product", "compete_on_engagement", field)
    assert mean > 4 * se, (field, mean, se)


def test_competing_on_engagement_loses_fewer_to_the_competitor():
    mean, se = paired("compete_on_engagement", "compete_on_product", "switched_out")
    assert mean < -4 * se, (mean, se)


@pytest.mark.parametrize(("strategy", "field", "sign"), [
    ("compete_on_product", "acquired", 1),
    ("compete_on_engagement", "switched_out", -1),
])
def test_each_strategy_beats_no_touch_where_it_aims(strategy, field, sign):
    mean, se = paired(strategy, "no_touch", field)
    assert sign * mean > 4 * se, (strategy, field, mean, se)
