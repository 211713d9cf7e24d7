"""Differential test: the vectorised model against the per-agent reference model.

``benchmarks/reference_model.py`` restates the core rules (segments, stage graph with
competing logit-linear hazards, word of mouth on a fully mixed population as an additive
rate ``q·P`` with the pressure predicted for mid-step, dynamics, digital touches, the
company's fixed cost carried ``1 / weight`` by a sample of its customers, booking, the
would-recommend score behind NPS) as a plain Mesa model with one agent per customer.
Both are run for the same seeds and their outcomes must agree statistically: final count
per stage, the active count, mean engagement of active customers, NPS, the mean
discounted cost per converted customer and 12-month cohort retention.

Cases (:data:`CASES`): the default scenario with word of mouth on a fully mixed network,
monthly and as a sample of a bigger company (``agents < customers``, so the weight rule
shows in the costs), and weekly (every monthly rate rescaled to the step); and the Bass
toy (``scenarios/bass.toml``), where word of mouth drives the adoption, so the form of the
referral rate and the mid-step pressure show in the adopters. (In the default scenario
``q·P`` stays small, so the log form ``−ln(1 − q·P)`` is within its noise; after 10
months of the Bass toy both the log form and a start-of-step pressure are rejected.)

Statistics. Each outcome's mean paired difference is divided by its standard error,
estimated from the spread of the per-seed differences (the two models draw the same
population for a seed; their random streams after that differ), so under agreement it
is Student-t with ``len(SEEDS) − 1`` degrees of freedom. A case compares ``m`` outcomes
at once, so its bound is family-wise (Bonferroni): ``|t| ≤ K`` with
``K = t⁻¹(1 − ALPHA / (2m); len(SEEDS) − 1)``, which keeps the chance that a correct
engine fails a case below ``ALPHA`` (0.1 %). With 48 seeds and 15 outcomes, K ≈ 4.4
(with 24 seeds a fixed 4 SE per outcome let a correct engine fail a case ≈ 0.7 % of the
time: t with 23 degrees of freedom passes 4 with probability 5.6e-4, times 13 outcomes).
Many seeds of fewer customers: the power against a systematic shift depends on seeds ×
customers, the t distribution's tails on the seeds alone.
Control checks run the comparison against a reference whose touches are 10 % weaker,
and one whose word of mouth is 10 % weaker, and require that they are rejected, so the
comparison is known to be able to fail on a modest error.
"""

import importlib.util
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from sim import EngagementModel, load_scenario

pytestmark = pytest.mark.slow  # statistical: 48 seeds per case against the reference model

ROOT = Path(__file__).resolve().parents[2]
ALPHA = 1e-3  # family-wise false-alarm rate of one case
SEEDS = tuple(range(48))  # many small replications: a well-estimated spread
#: case → (scenario, policy, overrides). The default scenario runs with word of mouth on
#: a fully mixed network; monthly as a 625-customer sample of a 2,500-customer company.
CASES = {
    "month": (
        "default",
        "no_touch",
        {"network.kind": "mixed", "population.customers": 2500, "population.agents": 625,
         "time.months": 24, "time.step": "month"},
    ),
    "week": (
        "default",
        "no_touch",
        {"network.kind": "mixed", "population.customers": 400, "time.months": 12,
         "time.step": "week"},
    ),
    "bass": ("bass", "none", {"population.customers": 1000, "time.months": 10}),
}


def _load_reference():
    """Import ``benchmarks/reference_model.py`` (the benchmarks folder is not installed)."""
    name = "engagesim_reference_model"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "reference_model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


reference = _load_reference()


def vectorised_outcomes(model):
    names = model.spec.lifecycle.names
    counts = np.bincount(model.stage, minlength=len(names))
    out = {f"count_{name}": float(c) for name, c in zip(names, counts, strict=True)}
    out["active"] = float(np.count_nonzero(model.active))
    out["engagement_active"] = float(model.engagement[model.active].mean())
    out["nps"] = float(model.metrics["nps"])
    out["cost_per_customer"] = float(model.cost_disc[model.converted_step >= 0].mean())
    if model.steps >= round(12 * model.steps_per_month):
        out["retention_12"] = float(model.summary()["retention"]["12"])
    return out


def reference_outcomes(model):
    out = {f"count_{name}": float(c) for name, c in model.stage_counts().items()}
    active = [a for a in model.agents if a.active]
    out["active"] = float(len(active))
    out["engagement_active"] = sum(a.engagement for a in active) / len(active)
    out["nps"] = float(model.metrics["nps"])
    converted = [a for a in model.agents if a.converted_step >= 0]
    out["cost_per_customer"] = sum(a.cost_disc for a in converted) / len(converted)
    if model.steps >= round(12 * model.steps_per_month):
        out["retention_12"] = model.retention(12)
    return out


def run_vectorised(scenario, policy):
    return [
        vectorised_outcomes(EngagementModel(scenario, policy, rng=seed).run()) for seed in SEEDS
    ]


def run_reference(scenario, policy):
    return [
        reference_outcomes(reference.ReferenceModel(scenario, policy, rng=seed).run())
        for seed in SEEDS
    ]


def t_scores(a, b):
    """Mean paired difference a − b of each outcome over its standard error."""
    assert a[0].keys() == b[0].keys()
    out = {}
    for key in a[0]:
        d = np.array([x[key] - y[key] for x, y in zip(a, b, strict=True)])
        se = d.std(ddof=1) / math.sqrt(d.size)
        mean = d.mean()
        out[key] = mean / se if se > 0 else (0.0 if mean == 0 else math.inf)
    return out


def bound(m):
    """Family-wise (Bonferroni) bound on ``|t|`` for ``m`` outcomes compared at once."""
    return float(stats.t.ppf(1.0 - ALPHA / (2 * m), df=len(SEEDS) - 1))


def disagreement(t):
    """The outcomes whose ``|t|`` passes the case's family-wise bound, and the bound."""
    k = bound(len(t))
    return {key: round(v, 2) for key, v in t.items() if abs(v) > k}, k


def make_scenario(case):
    name, policy, overrides = CASES[case]
    return load_scenario(name, overrides=overrides), policy


@pytest.fixture(scope="module")
def runs():
    """case → (scenario, policy, vectorised outcomes), run once per module."""
    cache = {}

    def get(case):
        if case not in cache:
            scenario, policy = make_scenario(case)
            cache[case] = scenario, policy, run_vectorised(scenario, policy)
        return cache[case]

    return get


def test_the_bound_is_about_four_standard_errors():
    # 48 seeds, 15 outcomes: Bonferroni at 0.1 % family-wise
    assert 4.2 < bound(15) < 4.6
    assert bound(30) > bound(15)  # more outcomes compared, a wider bound


@pytest.mark.parametrize("case", list(CASES))
def test_vectorised_model_agrees_with_reference(case, runs):
    scenario, policy, vectorised = runs(case)
    off, k = disagreement(t_scores(vectorised, run_reference(scenario, policy)))
    assert not off, f"outcomes differ by more than {k:.2f} standard errors: {off}"


def test_comparison_rejects_a_reference_with_weaker_touches(runs):
    scenario, policy, vectorised = runs("month")
    (program,) = scenario.policies[policy].programs
    key = f"policies.{policy}.programs.{program.name}.effect"
    broken = scenario.with_overrides({key: 0.9 * program.effect})  # touches 10 % weaker
    off, _ = disagreement(t_scores(vectorised, run_reference(broken, policy)))
    assert off


def test_comparison_rejects_a_reference_with_weaker_word_of_mouth(runs):
    scenario, policy, vectorised = runs("bass")
    lc = scenario.lifecycle
    edges = tuple(replace(e, referral=0.9 * e.referral) for e in lc.edges)  # 10 % weaker
    broken = replace(scenario, lifecycle=replace(lc, edges=edges))
    off, _ = disagreement(t_scores(vectorised, run_reference(broken, policy)))
    assert off


def test_reference_rejects_mechanisms_it_leaves_out():
    with pytest.raises(ValueError, match="digital programs only"):
        reference.ReferenceModel("default", "hybrid", customers=10, overrides={
            "network.kind": "mixed"})
    with pytest.raises(ValueError, match="fully mixed population only"):
        reference.ReferenceModel("default", "no_touch", customers=10)
