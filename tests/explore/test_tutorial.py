"""The numbers docs/tutorial.md quotes for seed 1 are what the page shows.

Golden pins on purpose: if the engine changes, this fails and says which sentence of
the tutorial to update (rerun the experiment on the page, or with ``PairedModel``).
"""

from pathlib import Path

import pytest

from sim.engine.scenario import load_scenario
from sim.explore import charts
from sim.explore.page import initial_kwargs, model_params
from sim.explore.paired import PairedModel

TUTORIAL = Path(__file__).parents[2] / "docs" / "tutorial.md"


def finished(**levers) -> PairedModel:
    """The page's default model (seed 1, 2,000 customers, 36 months), run to the end."""
    kwargs = initial_kwargs(model_params(load_scenario("default")))
    model = PairedModel(**{**kwargs, **levers})
    while model.running:
        model.step()
    return model


@pytest.fixture(scope="module")
def default():
    return finished()


def test_the_page_defaults_are_the_tutorials(default):
    assert default.labels == ["A", "B"]
    assert [r.policy.name for r in default.runs.values()] == ["high_touch", "no_touch"]
    assert (default.runs["A"].n, default.seed, default.month) == (2000, 1, 36)


def test_experiment_1_enterprise(default):
    d = charts.difference(default, "enterprise")
    assert [round(x) for x in d["12-month retention (%)"]] == [95, 86]
    assert d["active customers"] == (118, 104)
    assert [round(x / 1e6, 1) for x in d["profit"]] == [20.0, 19.3]
    text = TUTORIAL.read_text(encoding="utf-8")
    assert "| 12-month retention | ≈ 95 % | ≈ 86 % |" in text


def test_experiment_2_smb(default):
    d = charts.difference(default, "smb")
    assert [round(x / 1e6, 1) for x in d["cost"]] == [8.1, 0.5]
    assert [round(x / 1e6, 1) for x in d["profit"]] == [-3.4, 4.0]
    assert "| profit | **−3.4 M** | **+4.0 M** |" in TUTORIAL.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("scale", "new", "unaware"), [(0.0, (401, 401), 801), (1.0, (622, 608), 438),
                                  (3.0, (790, 749), 288)]
)
def test_experiment_3_word_of_mouth(scale, new, unaware):
    model = finished(referral_scale=scale)
    got = tuple(model.runs[label].summary()["new_customers"] for label in model.labels)
    assert got == new
    assert model.series("A")["stages"][-1][0] == unaware
    row = f"| ×{scale:g} | {new[0]} / {new[1]} | {unaware} |"
    assert row in TUTORIAL.read_text(encoding="utf-8")
