"""Differential test: the vectorised model against the per-agent reference model.

``benchmarks/reference_model.py`` restates the core rules (segments, stage graph with
competing logit-linear hazards, dynamics, digital touches, booking) as a plain Mesa
model with one agent per customer. Both are run on the default scenario without word
of mouth (``network.kind = "none"``) under the digital-only ``no_touch`` policy, for
the same seeds, and their outcomes must agree statistically: final count per stage, the
active count, mean engagement of active customers and 12-month cohort retention.

Monthly runs are checked, and weekly runs too (every monthly rate rescaled to the step).
The tolerance of each outcome is ``K`` standard errors of the mean per-seed difference,
estimated from the spread of the differences over the replications (the two models
draw the same population for a seed, so the differences are paired; their random
streams after that differ). A control check runs the same comparison against a
reference whose touches are 10 % weaker and requires that it is rejected, so the
comparison is known to be able to fail, and to notice a modest error.
"""

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from sim import EngagementModel, load_scenario

ROOT = Path(__file__).resolve().parents[2]
K = 4.0  # tolerance in standard errors
SEEDS = tuple(range(24))  # many small replications: a well-estimated spread
POLICY = "no_touch"
OVERRIDES = {"network.kind": "none"}
#: Step length → (customers, months): monthly runs, and weekly runs (rates rescaled).
CASES = {"month": (1250, 24), "week": (800, 12)}


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
    out["retention_12"] = float(model.summary()["retention"]["12"])
    return out


def reference_outcomes(model):
    out = {f"count_{name}": float(c) for name, c in model.stage_counts().items()}
    active = [a for a in model.agents if a.active]
    out["active"] = float(len(active))
    out["engagement_active"] = sum(a.engagement for a in active) / len(active)
    out["retention_12"] = model.retention(12)
    return out


def run_vectorised(scenario):
    return [
        vectorised_outcomes(EngagementModel(scenario, POLICY, rng=seed).run()) for seed in SEEDS
    ]


def run_reference(scenario):
    return [
        reference_outcomes(reference.ReferenceModel(scenario, POLICY, rng=seed).run())
        for seed in SEEDS
    ]


def z_scores(a, b):
    """Mean paired difference a − b of each outcome over its standard error."""
    out = {}
    for key in a[0]:
        d = np.array([x[key] - y[key] for x, y in zip(a, b, strict=True)])
        se = d.std(ddof=1) / math.sqrt(d.size)
        mean = d.mean()
        out[key] = mean / se if se > 0 else (0.0 if mean == 0 else math.inf)
    return out


def make_scenario(step):
    customers, months = CASES[step]
    overrides = {"population.customers": customers, "time.months": months, "time.step": step}
    return load_scenario("default", overrides={**OVERRIDES, **overrides})


@pytest.fixture(scope="module")
def monthly():
    scenario = make_scenario("month")
    return scenario, run_vectorised(scenario)


@pytest.mark.parametrize("step", ["month", "week"])
def test_vectorised_model_agrees_with_reference(step, monthly):
    if step == "month":
        scenario, vectorised = monthly
    else:
        scenario = make_scenario(step)
        vectorised = run_vectorised(scenario)
    z = z_scores(vectorised, run_reference(scenario))
    off = {k: round(v, 2) for k, v in z.items() if abs(v) > K}
    assert not off, f"outcomes differ by more than {K} standard errors: {off}"


def test_comparison_rejects_a_reference_with_weaker_touches(monthly):
    scenario, vectorised = monthly
    (program,) = scenario.policies[POLICY].programs
    key = f"policies.{POLICY}.programs.{program.name}.effect"
    broken = scenario.with_overrides({key: 0.9 * program.effect})  # touches 10 % weaker
    z = z_scores(vectorised, run_reference(broken))
    assert max(abs(v) for v in z.values()) > K, z


def test_reference_rejects_mechanisms_it_leaves_out():
    with pytest.raises(ValueError, match="digital programs only"):
        reference.ReferenceModel("default", "hybrid", customers=10, overrides=OVERRIDES)
    with pytest.raises(ValueError, match="word of mouth"):
        reference.ReferenceModel("default", POLICY, customers=10)
