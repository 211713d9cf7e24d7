"""The live page under solara's test rendering (no browser): it renders, steps, resets."""

import ipyvuetify as v
import ipywidgets
import pytest

solara = pytest.importorskip("solara")

from sim.engine.scenario import load_scenario  # noqa: E402
from sim.explore import page as explore_page  # noqa: E402
from sim.explore import serve  # noqa: E402
from sim.explore.page import initial_kwargs, make_app, model_params  # noqa: E402
from sim.explore.paired import PairedModel  # noqa: E402


@pytest.fixture()
def rendered():
    """The page for the default scenario inside an app layout (as the server shows it)."""
    explore_page.focus.set(explore_page.ALL)
    explore_page.pinned.set(0)
    explore_page.hovered.set(-1)
    _, rc = solara.render(make_app("default")(), handle_error=False)
    yield rc
    rc.close()


def texts(rc) -> str:
    """Card titles and HTML text of the page, as one string."""
    titles = [str(w.children[0]) for w in rc.find(v.CardTitle).widgets if w.children]
    html = [w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets]
    return "\n".join(titles + html)


def test_every_file_the_widgets_load_in_the_browser_is_installed(rendered):
    """A widget's Vue template may load files from the CDN once mounted (solara.Markdown
    loads KaTeX, which solara-assets lacks); every one must be installed locally."""
    templates = [str(getattr(w.template, "template", w.template))
                 for w in rendered.find(v.VuetifyTemplate).widgets]
    assert templates
    for template in templates:
        for package in serve.CDN_PACKAGE.findall(template):
            assert (serve.asset_dir() / package).is_dir(), package


def button(rc, label):
    return rc.find(v.Btn, children=[label]).widget


def networks(rc):
    return [w for w in rc.find(v.VuetifyTemplate).widgets if hasattr(w, "nodes")]


def charts(rc) -> list[bytes]:
    """The PNG bytes of the page's charts."""
    return [bytes(w.value) for w in rc.find(ipywidgets.Image).widgets]


def test_page_renders_every_panel(rendered):
    text = texts(rendered)
    for title in ("Customers: 150 of 2000", "Customer #0", "So far", "Customers per stage",
                  "Retention and money", "Service: CSM utilisation"):
        assert title in text
    assert [w.label for w in networks(rendered)] == ["A", "B"]
    assert len(charts(rendered)) == 3
    assert "month 0" in text


def test_step_advances_both_runs_and_updates_the_charts(rendered):
    before = charts(rendered)
    colours_before = [n["colour"] for n in networks(rendered)[0].nodes]
    for _ in range(3):
        button(rendered, "Step").click()
    text = texts(rendered)
    assert "month 3" in text
    after = charts(rendered)
    assert not set(after) & set(before)
    colours_after = [n["colour"] for n in networks(rendered)[0].nodes]
    assert colours_after != colours_before  # customers moved between stages


def test_sliders_apply_on_reset(rendered):
    sliders = {w.label: w for w in rendered.find(v.Slider).widgets}
    sliders["Customers simulated"].v_model = 400
    sliders["Months"].v_model = 12
    selects = {w.label: w for w in rendered.find(v.Select).widgets}
    selects["Policy B (side by side)"].v_model = "(none)"
    button(rendered, "Step").click()
    assert "of 2000" in texts(rendered)  # not applied yet
    before = charts(rendered)
    button(rendered, "Reset").click()
    assert not set(charts(rendered)) & set(before)  # the charts show the new model
    text = texts(rendered)
    assert "Customers: 150 of 400" in text
    assert ("400 customers simulated of the company’s 10,000 (money shown is theirs: ×25 "
            "for the company), 12 months") in text
    assert [w.label for w in networks(rendered)] == ["A"]
    assert "month 0" in text


def test_hover_and_click_show_a_customer(rendered):
    network = networks(rendered)[1]
    some = network.nodes[17]["id"]
    network.vue_event_hover(some)
    assert f"Customer #{some} " in texts(rendered)
    network.vue_event_hover(-1)
    assert "Customer #0 " in texts(rendered)
    network.vue_event_select(some)
    assert explore_page.pinned.value == some
    assert all(w.selected == some for w in networks(rendered))
    assert f"Customer #{some} " in texts(rendered)


def test_focus_narrows_the_charts_to_a_segment(rendered):
    button(rendered, "Step").click()
    before = charts(rendered)
    selects = {w.label: w for w in rendered.find(v.Select).widgets}
    selects["Focus"].v_model = "enterprise"
    after = charts(rendered)
    # stages and money change; the service chart is always all customers
    assert len(set(after) - set(before)) == 2


def test_model_params_cover_every_lever():
    params = model_params(load_scenario("default"))
    for key in ("policy", "compare_with", "customers", "months", "seed", "book_scale",
                "escalation_scale", "cadence_scale", "marketing_scale", "referral_scale",
                "weight_enterprise", "weight_mid_market", "weight_smb"):
        assert key in params
    assert params["policy"]["value"] == "high_touch"
    assert params["compare_with"]["value"] == "no_touch"
    assert params["customers"]["value"] == 2000


@pytest.mark.parametrize("name", ["constant_churn", "markov_saas", "bass"])
def test_every_shipped_scenario_renders_and_steps(name):
    _, rc = solara.render(make_app(name)(), handle_error=False)
    button(rc, "Step").click()
    assert "month 1" in texts(rc)
    assert len(charts(rc)) == 3
    rc.close()


def test_program_switches_and_library_tactics_apply_on_reset(rendered):
    boxes = {w.label: w for w in rendered.find(v.Checkbox).widgets}
    switches = [label for label in boxes if label != "Use Threads"]
    assert "hybrid: escalation" in switches and all(boxes[s].v_model for s in switches)
    selects = {w.label: w for w in rendered.find(v.Select).widgets}
    assert selects["no_touch: add a library tactic"].v_model == "(none)"
    assert "Program switches apply to" in selects
    before = charts(rendered)
    boxes["high_touch: check_ins"].v_model = False
    selects["no_touch: add a library tactic"].v_model = "gamification"
    assert "without" not in texts(rendered)  # not applied yet
    button(rendered, "Reset").click()
    text = texts(rendered)
    assert "high_touch without check_ins" in text
    assert "no_touch with the tactic gamification" in text
    # the descriptions read the scenario the runs were built with
    assert "<li>programs on: automated, custom_onboarding</li><li>switched off: check_ins" in text
    assert "<li>programs on: gamification, automated</li>" in text
    assert "A: high_touch − check_ins" in text and "B: no_touch + gamification" in text
    assert not set(charts(rendered)) & set(before)  # chart titles name the switches


def test_model_params_switch_every_program_and_offer_library_tactics():
    scenario = load_scenario("tactics_example")
    params = model_params(scenario)
    for name, spec in scenario.policies.items():
        for program in spec.programs:
            box = params[f"program:{name}/{program.name}"]
            assert box["type"] == "Checkbox" and box["value"] is True
        choice = params[f"tactic:{name}"]
        assert choice["value"] == "(none)"
        assert not {p.name for p in spec.programs} & set(choice["values"])
    assert params["program:tactics_mix/loyalty_points"]["label"] == (
        "tactics_mix: loyalty_points (library tactic)")
    assert "loyalty_points" in params["tactic:hybrid"]["values"]
    # the page starts with every program on: the same scenario as no switch at all
    kwargs = initial_kwargs(params)
    model = PairedModel(**kwargs)
    plain = PairedModel(**{k: v for k, v in kwargs.items() if ":" not in k})
    assert model.levers == plain.levers and model.spec.digest == plain.spec.digest
    assert model.spec.policies == scenario.policies
