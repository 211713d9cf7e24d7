"""The report's text (sim/validation/report.py): verdict, table, sections, method."""

from __future__ import annotations

from pathlib import Path

from sim.validation.checks import K, make_check
from sim.validation.report import render
from sim.validation.suite import FAST, SEED_RULES


def _render(checks, figures=(), report_dir=Path("out")):
    return render(checks, list(figures), fast=True, sizes=FAST,
                  seconds={"bass": 1.0, "known answers": 0.5}, report_dir=report_dir,
                  seed_rules=SEED_RULES)


def test_report_starts_with_the_verdict_and_tabulates_every_check():
    checks = [
        make_check("recursion, p = 0.03, q = 0.38", "bass", 1.5, K, "SE", "fine"),
        make_check("sparse network lags mixed", "bass", 2.0, K, "SE", "too close",
                   bound="min"),
        make_check("competing risks", "known answers", 0.7, K, "SE", "fine too"),
    ]
    text = _render(checks)
    lines = text.splitlines()
    assert lines[0] == "# 1 of 3 checks FAILED: bass · sparse network lags mixed (2.00 SE, " \
                       "needs ≥ 4.00 SE)"
    assert "| check | group | measured deviation | tolerance | result |" in text
    assert "| recursion, p = 0.03, q = 0.38 | bass | 1.50 SE | ≤ 4.00 SE | pass |" in text
    assert "| sparse network lags mixed | bass | 2.00 SE | ≥ 4.00 SE | **FAIL** |" in text
    assert "- **sparse network lags mixed** (FAIL, 2.00 SE ≥ 4.00 SE): too close" in text
    # one section per group that ran, in the checks' order, then the method
    headings = [line for line in lines if line.startswith("## ")]
    assert headings == ["## Bass diffusion", "## Known answers", "## Method"]
    assert "Seeds (fixed): " + SEED_RULES in text
    assert "- Runtime: bass 1.0 s, known answers 0.5 s." in text
    assert "Versions:" in text and "tolerance K = 4 standard errors" in text
    assert text.endswith("\n")


def test_every_group_has_its_section_and_its_figures_are_linked(tmp_path):
    checks = [make_check("x", group, 0.0, K, "SE", "d")
              for group in ("analytic", "bass", "calibration", "known answers")]
    names = ["analytic.png", "bass.png", "bass_recursion.png", "calibration.png"]
    figures = [tmp_path / "figures" / name for name in names]
    text = _render(checks, figures, report_dir=tmp_path)
    assert text.splitlines()[0] == "# All 4 checks passed"
    for heading in ("## Analytic cross-check", "## Bass diffusion", "## Calibration",
                    "## Known answers", "## Method"):
        assert heading in text
    for name in names:
        assert f"![{name}](figures/{name})" in text
    # a figure that was not written is not linked
    assert "calibration.png" not in _render(checks, figures[:3], report_dir=tmp_path)
