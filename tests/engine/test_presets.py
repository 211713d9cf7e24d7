"""The articles' journeys, shipped as stage-scheme presets: they load, run and make sense.

Each preset (``scenarios/<name>.toml``) models one journey of the source articles in
``shared/seeds/``. Every policy runs 24 months at 2,000 customers on six seeds
(common random numbers across policies); the checks are on those runs: every stage is
entered, no stage but ``churned`` is a dead end, customers reach the journey's last
(recommending) stage and are its most satisfied, and more touch does not cost
retention. Paired differences are judged at 4 standard errors.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from sim import EngagementModel, load_scenario, shipped_scenarios

#: Preset → (the article it models, its stages in order, its last stage: the one that recommends).
PRESETS = {
    "journey_nine_stage": (
        "001_f051cb537b1f7d4a.txt",
        ("awareness", "interest", "consideration", "purchase", "onboarding", "adoption",
         "growth", "loyalty", "advocacy", "churned"),
        "advocacy",
    ),
    "lifecycle_five_stage": (
        "003_31461d1beb2eafc5.txt",
        ("awareness", "consideration", "purchase", "retention", "advocacy", "churned"),
        "advocacy",
    ),
    "unaware_to_evangelist": (
        "004_ae04148b20d8ddf7.txt",
        ("unawareness", "discovery", "consideration", "conversion", "ongoing_engagement",
         "evangelist", "churned"),
        "evangelist",
    ),
    "engagement_levels": (
        "002_203e910bbd388022.txt",
        ("untouched", "first_touch", "absorption", "immersion", "churned"),
        "immersion",
    ),
}
POLICIES = ("no_touch", "low_touch", "high_touch", "hybrid")
SEEDS = range(6)
CUSTOMERS, MONTHS = 2000, 24


@dataclass(frozen=True)
class Run:
    """What the checks need from one run.

    Attributes:
        summary: The run's summary.
        entered: Per stage, whether some customer moved into it during the run.
        left: Per stage, whether some customer moved out of it during the run.
        stage: Each customer's final stage.
        satisfaction: Each customer's final satisfaction.
        engagement: Each customer's final engagement.
        active: Who is a customer at the end.
    """

    summary: dict
    entered: np.ndarray
    left: np.ndarray
    stage: np.ndarray
    satisfaction: np.ndarray
    engagement: np.ndarray
    active: np.ndarray


def _run(preset: str, policy: str, seed: int) -> Run:
    model = EngagementModel(preset, policy, rng=seed, customers=CUSTOMERS, months=MONTHS)
    n_stages = len(model.spec.lifecycle.stages)
    entered = np.zeros(n_stages, dtype=bool)
    left = np.zeros(n_stages, dtype=bool)
    before = [model.stage.copy()]

    def track(step: int, total: int) -> None:
        moved = model.stage != before[0]
        entered[model.stage[moved]] = True
        left[before[0][moved]] = True
        before[0] = model.stage.copy()

    model.run(progress=track)
    return Run(model.summary(), entered, left, model.stage.copy(),
               model.satisfaction.copy(), model.engagement.copy(), model.active.copy())


@cache
def runs(preset: str) -> dict[str, list[Run]]:
    """Every policy of ``preset`` on every seed (computed once per preset)."""
    return {policy: [_run(preset, policy, seed) for seed in SEEDS] for policy in POLICIES}


def paired_retention(preset: str, a: str, b: str, month: str = "12") -> tuple[float, float]:
    """Mean and standard error of the per-seed difference a − b in retention."""
    diff = np.array([ra.summary["retention"][month] - rb.summary["retention"][month]
                     for ra, rb in zip(runs(preset)[a], runs(preset)[b], strict=True)])
    return float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(diff.size))


# ----------------------------------------------------------------------------------
# the files


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_is_shipped_with_the_articles_stages(preset):
    article, stages, _ = PRESETS[preset]
    path = shipped_scenarios()[preset]
    scenario = load_scenario(preset)
    assert scenario.lifecycle.names == stages
    assert scenario.description.startswith("Article journey")
    assert tuple(scenario.policies) == POLICIES
    text = Path(path).read_text()
    assert f"shared/seeds/{article}" in text  # the header cites its article
    assert "judgement" in text


@pytest.mark.parametrize("preset", PRESETS)
def test_programs_target_the_presets_own_customer_stages(preset):
    scenario = load_scenario(preset)
    kinds = [s.kind for s in scenario.lifecycle.stages]
    for policy in scenario.policies.values():
        for program in policy.programs:
            assert program.stages, (policy.name, program.name)
            assert all(kinds[s] == "customer" for s in program.stages), (policy.name,
                                                                          program.name)


@pytest.mark.parametrize("preset", PRESETS)
def test_uncertainties_cut_every_touched_churn_edge(preset):
    """The default's assumptions, at this graph's edges (so ``engagesim decide`` runs)."""
    scenario = load_scenario(preset)
    lifecycle = scenario.lifecycle
    paths = set()
    for u in scenario.uncertainties:
        paths |= {u.path, *u.also}
    touched = {i for i, e in enumerate(lifecycle.edges)
               if lifecycle.stages[e.target].kind == "churned" and dict(e.drivers).get("touch")}
    assert touched
    assert {f"lifecycle.edges[{i}].drivers.touch" for i in touched} <= paths
    assert "lifecycle.edges[0].referral" in paths and lifecycle.edges[0].referral > 0


# ----------------------------------------------------------------------------------
# running it


@pytest.mark.parametrize("preset", PRESETS)
def test_every_policy_runs_and_reaches_every_stage(preset):
    scenario = load_scenario(preset)
    for policy, seeded in runs(preset).items():
        for run in seeded:
            retention = run.summary["retention"]
            assert 0.0 < retention["24"] <= retention["12"] <= 1.0, policy
            assert math.isfinite(run.summary["profit_per_customer"]), policy
            assert run.summary["new_customers"] > 0, policy
        entered = np.any([run.entered for run in seeded], axis=0)
        # the first stage is the journey's entry (the market): nothing has to lead back
        missed = [s for s, hit in zip(scenario.lifecycle.names[1:], entered[1:], strict=True)
                  if not hit]
        assert not missed, (policy, missed)


@pytest.mark.parametrize("preset", PRESETS)
def test_no_stage_is_a_dead_end_but_churned(preset):
    lifecycle = load_scenario(preset).lifecycle
    left = np.any([run.left for seeded in runs(preset).values() for run in seeded], axis=0)
    for i, stage in enumerate(lifecycle.stages):
        if stage.kind == "churned":
            assert not lifecycle.out_edges(i) and not left[i]
            continue
        assert left[i], stage.name  # customers leave it, not only could
        if stage.kind == "customer":  # and any customer can be lost
            assert "churned" in _kinds_reachable(lifecycle, i), stage.name


def _kinds_reachable(lifecycle, start: int) -> set[str]:
    """Kinds of the stages some path of edges leads to from ``start``."""
    seen, frontier = {start}, [start]
    while frontier:
        for edge in lifecycle.out_edges(frontier.pop()):
            if edge.target not in seen:
                seen.add(edge.target)
                frontier.append(edge.target)
    return {lifecycle.stages[s].kind for s in seen - {start}}


@pytest.mark.parametrize("preset", PRESETS)
def test_customers_reach_the_last_stage_and_are_its_most_satisfied(preset):
    lifecycle = load_scenario(preset).lifecycle
    last = lifecycle.index(PRESETS[preset][2])
    weights = [s.referral_weight for s in lifecycle.stages]
    assert weights[last] == max(weights) == 1.0  # the journey's end recommends us
    for run in runs(preset)["no_touch"]:
        assert run.entered[last]
        at_end = run.active & (run.stage == last)
        share = at_end.sum() / run.active.sum()
        assert 0.05 < share < 0.6, share  # a minority, but a real one
        assert run.summary["referrals"] > 0
    # satisfaction there against the other customers, pooled over the seeds
    pooled = runs(preset)["no_touch"]
    there = np.concatenate([r.satisfaction[r.active & (r.stage == last)] for r in pooled])
    rest = np.concatenate([r.satisfaction[r.active & (r.stage != last)] for r in pooled])
    se = math.sqrt(there.var(ddof=1) / there.size + rest.var(ddof=1) / rest.size)
    assert there.mean() - rest.mean() > 4 * se, (there.mean(), rest.mean(), se)


def test_engagement_rises_with_the_level():
    """first touch < absorption < immersion, in mean engagement (pooled over seeds)."""
    lifecycle = load_scenario("engagement_levels").lifecycle
    pooled = runs("engagement_levels")["no_touch"]
    levels = []
    for name in ("first_touch", "absorption", "immersion"):
        i = lifecycle.index(name)
        values = np.concatenate([r.engagement[r.active & (r.stage == i)] for r in pooled])
        levels.append((values.mean(), values.var(ddof=1) / values.size))
    for (low, var_low), (high, var_high) in itertools.pairwise(levels):
        assert high - low > 4 * math.sqrt(var_low + var_high), levels


@pytest.mark.parametrize("preset", PRESETS)
def test_more_touch_does_not_lower_retention(preset):
    # named CSMs for everyone retain clearly better than automation alone (t ≈ 7–13)
    mean, se = paired_retention(preset, "high_touch", "no_touch")
    assert mean - 4 * se > 0, (mean, se)
    # the policies in between: not detectably worse than the one with less touch
    for more, less in (("low_touch", "no_touch"), ("hybrid", "no_touch"),
                       ("high_touch", "low_touch")):
        mean, se = paired_retention(preset, more, less)
        assert mean + 4 * se > 0, (more, less, mean, se)


def test_the_nine_stage_journey_is_the_default_under_the_articles_names():
    """Same numbers, renamed stages: the runs agree number for number."""
    keys = ("retention", "new_customers", "active", "churned", "ltv_mean",
            "profit_per_customer", "revenue_total", "cost_total", "nps", "referrals")
    for policy in ("no_touch", "hybrid"):
        ours = runs("journey_nine_stage")[policy][0]
        default = EngagementModel("default", policy, rng=SEEDS[0], customers=CUSTOMERS,
                                  months=MONTHS).run()
        assert np.array_equal(ours.stage, default.stage)
        assert np.array_equal(ours.satisfaction, default.satisfaction)
        summary = default.summary()
        assert {k: ours.summary[k] for k in keys} == {k: summary[k] for k in keys}
