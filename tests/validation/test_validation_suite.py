"""The validation suite (sim/validation.py): it passes, reports, and catches a broken model."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

import sim.theory.markov
from sim.theory.bass import PAIRS, bass_discrete
from sim.validation.suite import (
    FAST,
    GROUPS,
    K,
    bass_runs,
    make_check,
    make_cohorts,
    recovery_check,
    recursion_check,
    recursion_z,
    run_validation,
    verdict,
)

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def fast_result(tmp_path_factory):
    return run_validation(tmp_path_factory.mktemp("validation"), fast=True, progress=False)


# ----------------------------------------------------------------------------------
# the fast validation passes and writes its report


def test_fast_validation_passes_every_check(fast_result):
    failed = [(c.label, c.measured, c.detail) for c in fast_result.checks if not c.passed]
    assert fast_result.passed, failed
    assert not failed
    assert {c.group for c in fast_result.checks} == set(GROUPS)
    names = [c.label for c in fast_result.checks]
    assert len(names) == len(set(names))
    for c in fast_result.checks:
        assert np.isfinite(c.measured) and c.tolerance > 0 and c.detail
        assert "\n" not in c.detail
        if c.unit == "SE":
            assert c.tolerance == K
    # every group holds the checks the brief asks for
    text = " ".join(names)
    for policy in ("no_touch", "low_touch", "high_touch", "hybrid"):
        assert f"markov_saas · {policy}" in text
    assert "constant_churn · none · monthly" in text and "constant_churn · email · weekly" in text
    for p, q in PAIRS:
        assert f"recursion, p = {p:g}, q = {q:g}" in text
        assert f"closed form (weekly), p = {p:g}, q = {q:g}" in text
    assert "sparse network" in text and "fit recovers" in text and "cohort table" in text


def test_report_starts_with_the_verdict_and_tabulates_every_check(fast_result):
    report = fast_result.report
    assert report.name == "report.md" and report.exists()
    text = report.read_text()
    first = text.splitlines()[0]
    assert first == f"# All {len(fast_result.checks)} checks passed"
    assert fast_result.verdict in first
    assert "| check | group | measured deviation | tolerance | result |" in text
    for c in fast_result.checks:
        row = f"| {c.name} | {c.group} | {c.measured_text()} | {c.tolerance_text()} | pass |"
        assert row in text, row
    for heading in ("## Analytic cross-check", "## Bass diffusion", "## Calibration",
                    "## Known answers", "## Method"):
        assert heading in text
    assert "Seeds (fixed)" in text and "Versions:" in text
    # no temporary files left behind
    leftovers = [p for p in report.parent.rglob(".*")]
    assert leftovers == []


def test_figures_are_non_empty_pngs_linked_from_the_report(fast_result):
    text = fast_result.report.read_text()
    names = {p.name for p in fast_result.figures}
    assert names == {"analytic.png", "bass.png", "bass_recursion.png", "calibration.png"}
    for path in fast_result.figures:
        assert path.parent == fast_result.report.parent / "figures"
        data = path.read_bytes()
        assert data[:8] == PNG
        assert len(data) > 20_000, path
        assert f"](figures/{path.name})" in text


# ----------------------------------------------------------------------------------
# a broken model is caught


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


def test_a_wrong_theory_curve_fails_the_bass_recursion_check():
    p, q = PAIRS[0]
    customers, steps = 20_000, 36
    runs = bass_runs(p, q, "month", customers, seeds=range(3))
    right = recursion_check(p, q, {"month": recursion_z(runs, p, q, "month", customers)})
    assert right.passed, right
    # the closed form is not what the monthly simulation follows
    wrong_curve = bass_discrete(p, q * 1.05, steps)
    wrong = recursion_check(p, q, {"month": recursion_z(runs, p, q, "month", customers,
                                                        expected=wrong_curve)})
    assert not wrong.passed and wrong.measured > K
    assert verdict([right, wrong]).startswith("1 of 2 checks FAILED: bass · recursion")


def test_mislabelled_generating_parameters_fail_the_recovery_check():
    cohorts = make_cohorts(1)
    assert recovery_check(cohorts).passed
    shifted = [dataclasses.replace(c, beta=c.beta * 1.25) for c in cohorts]
    check = recovery_check(shifted)
    assert not check.passed and check.measured > K


# ----------------------------------------------------------------------------------
# pieces


def test_make_check_and_verdict():
    ok = make_check("a", "bass", 3.9, K, "SE", "fine")
    bad = make_check("b", "bass", 4.1, K, "SE", "too far")
    nan = make_check("c", "analytic", float("nan"), K, "SE", "undefined")
    far = make_check("d", "bass", 12.0, K, "SE", "well apart", bound="min")
    near = make_check("e", "bass", 2.0, K, "SE", "too close", bound="min")
    assert ok.passed and not bad.passed and not nan.passed and far.passed and not near.passed
    assert ok.tolerance_text() == "≤ 4.00 SE" and far.tolerance_text() == "≥ 4.00 SE"
    assert make_check("f", "bass", 0.0123, 0.02, "share", "").measured_text() == "1.23 pp"
    assert verdict([ok, far]) == "All 2 checks passed"
    line = verdict([ok, bad, nan])
    assert line.startswith("2 of 3 checks FAILED: bass · b (4.10 SE, needs ≤ 4.00 SE)")
    assert "analytic · c (nan" in line
    with pytest.raises(ValueError, match="bound"):
        make_check("g", "bass", 1.0, K, "SE", "", bound="between")


def test_progress_is_one_line_per_check_on_stderr(tmp_path, capsys):
    result = run_validation(tmp_path, fast=True, groups=["known answers"])
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == len(result.checks) + 1  # and the verdict
    assert all(line.startswith("[validate] ok") for line in lines[:-1])
    assert "All 6 checks passed" in lines[-1]
    assert {c.group for c in result.checks} == {"known answers"}


def test_unknown_group_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown validation group"):
        run_validation(tmp_path, groups=["bas"])


def test_fast_sizes_are_smaller_than_full():
    from sim.validation.suite import FULL

    for name, value in dataclasses.asdict(FAST).items():
        assert value <= getattr(FULL, name), name
