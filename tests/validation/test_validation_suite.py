"""The validation suite (sim/validation/suite.py): it runs every group, passes, reports.

What each group catches when the model or the theory is wrong is tested next to the
group (test_validation_markov.py, test_diffusion.py, test_validation_calibration.py);
the report's text on its own in test_validation_report.py.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim.theory.bass import PAIRS
from sim.validation.checks import K
from sim.validation.suite import FAST, FULL, GROUPS, run_validation

pytestmark = pytest.mark.slow  # the whole validation suite

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
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == ["## Analytic cross-check", "## Bass diffusion",
                        "## Calibration to cohort tables", "## Known answers",
                        "## Decisions under uncertainty", "## Method"]
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
# orchestration


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
    for name, value in dataclasses.asdict(FAST).items():
        assert value <= getattr(FULL, name), name
