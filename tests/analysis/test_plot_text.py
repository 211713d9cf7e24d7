"""Names are text in every figure: a "$" in a segment or stage name is not mathtext.

A segment named "$10k–$50k" was drawn as mathtext (italic "10k–" with the dollars
gone), and a name mathtext cannot parse ("$5^$") failed every figure of a report and
the live page. The figures are built with the scenario's names; each test collects the
texts of every figure drawn and checks those with a "$" are shown as written.
"""

from __future__ import annotations

from matplotlib.text import Text
from scenario_cases import DEFAULT_TEXT

import sim.analysis.plots
from sim.cli import main
from sim.engine.scenario import load_scenario
from sim.explore import charts
from sim.explore.paired import PairedModel

SEGMENT = "$10k–$50k"
STAGE = "$5^$ loyal"  # mathtext cannot parse "$5^$": the whole figure failed to draw


def dollar_scenario(tmp_path):
    """The default scenario with the mid-market segment and the loyal stage renamed."""
    text = DEFAULT_TEXT.replace("[segments.mid_market]", f'[segments."{SEGMENT}"]')
    text = text.replace('"mid_market"', f'"{SEGMENT}"')
    text = text.replace('"loyal"', f'"{STAGE}"').replace("\nloyal = ", f'\n"{STAGE}" = ')
    path = tmp_path / "dollars.toml"
    path.write_text(text)
    scenario = load_scenario(path)
    assert SEGMENT in scenario.segment_names and STAGE in scenario.lifecycle.names
    return path


def literal_texts(fig) -> list[str]:
    """The texts with a "$" of a drawn figure; fails if one of them would be mathtext."""
    found = []
    for text in fig.findobj(Text):
        if "$" in text.get_text():
            assert not text.get_parse_math(), text.get_text()
            found.append(text.get_text())
    return found


def test_compare_draws_dollar_names_as_written(tmp_path, capsys, monkeypatch):
    drawn: list[str] = []
    save = sim.analysis.plots.save_png

    def save_and_look(fig, path):
        written = save(fig, path)  # draws: tick labels exist now
        drawn.extend(literal_texts(fig))
        return written

    monkeypatch.setattr(sim.analysis.plots, "save_png", save_and_look)
    out = tmp_path / "c"
    code = main(["compare", str(dollar_scenario(tmp_path)), "--policies", "no_touch,hybrid",
                 "--replications", "2", "--customers", "300", "--months", "3", "--jobs", "1",
                 "--quiet", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert len(list((out / "figures").glob("*.png"))) >= 4
    assert any(SEGMENT in text for text in drawn)  # the segment's panel title, as written


def test_the_live_pages_charts_draw_dollar_names_as_written(tmp_path):
    model = PairedModel(load_scenario(dollar_scenario(tmp_path)), "no_touch", "hybrid",
                        customers=300, months=3)
    for _ in range(2):
        model.step()
    drawn = []
    for fig in (charts.stages_figure(model), charts.money_figure(model, SEGMENT),
                charts.service_figure(model)):
        image = charts.png(fig)
        assert image.startswith(b"\x89PNG")
        drawn += literal_texts(fig)
    assert STAGE in drawn  # the stages legend
    assert any(SEGMENT in text for text in drawn)  # the money panel's title
