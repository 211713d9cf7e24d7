"""The analytic check group (sim/validation/markov.py) catches a wrong Markov chain."""

from __future__ import annotations

import re

import numpy as np

import sim.theory.markov
from sim.validation.suite import run_validation


def test_a_wrong_transition_matrix_fails_the_analytic_checks(tmp_path, monkeypatch):
    right = sim.theory.markov._transition

    def wrong(scenario, k, response):
        # churn edges 10 % more likely than the simulation makes them
        P = right(scenario, k, response).copy()
        churned = scenario.lifecycle.kind_mask("churned")
        extra = 0.10 * P[:, churned].sum(axis=1)
        P[:, np.flatnonzero(churned)[0]] += extra
        P[np.arange(P.shape[0]), np.arange(P.shape[0])] -= extra
        return P

    monkeypatch.setattr(sim.theory.markov, "_transition", wrong)
    result = run_validation(tmp_path, fast=True, progress=False, groups=["analytic"])
    assert not result.passed
    failed = {c.name for c in result.failed}
    assert {f"markov_saas · {p} · monthly" for p in ("no_touch", "low_touch", "high_touch",
                                                      "hybrid")} <= failed
    assert "constant_churn · none · monthly" in failed
    assert "closed form m·r/(1+d−r), monthly" in failed
    first = result.report.read_text().splitlines()[0]
    assert re.fullmatch(rf"# {len(result.failed)} of {len(result.checks)} checks FAILED: .+",
                        first)
    assert "analytic · markov_saas · hybrid · monthly" in first
    assert "**FAIL**" in result.report.read_text()
