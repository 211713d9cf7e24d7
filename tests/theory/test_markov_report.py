"""The text report of a Markov-chain analysis (sim.theory.markov_report)."""

from __future__ import annotations

from sim import load_scenario
from sim.theory.markov import analyse
from sim.theory.markov_report import describe


def test_describe_names_the_run_its_stages_and_segments():
    result = analyse(load_scenario("markov_saas"), "hybrid")
    text = describe(result)
    assert "markov_saas · hybrid" in text and "advocate" in text and "overall" in text
