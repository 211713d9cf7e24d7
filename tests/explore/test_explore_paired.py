"""The paired model behind the live page: two policies, same customers, same luck."""

import numpy as np
import pandas as pd
import pytest

from sim.engine.model import EngagementModel
from sim.engine.scenario import load_scenario
from sim.explore import charts
from sim.explore.levers import Levers, apply, program_key
from sim.explore.paired import NO_COMPARISON, SAMPLE_SIZE, PairedModel


def stepped(steps, **kwargs):
    model = PairedModel("default", **{"customers": 1500, "seed": 4, **kwargs})
    for _ in range(steps):
        model.step()
    return model


def test_both_policies_start_from_the_same_customers():
    model = PairedModel("default", "high_touch", "no_touch", customers=800, seed=2)
    a, b = model.runs["A"], model.runs["B"]
    assert np.array_equal(a.segment, b.segment)
    assert np.array_equal(a.stage, b.stage)
    for name in a.traits:
        assert np.array_equal(a.traits[name], b.traits[name])
    assert (a.network != b.network).nnz == 0


def test_the_same_policy_twice_gives_identical_runs():
    """Common random numbers: with no policy difference there is no difference at all."""
    model = stepped(12, policy="hybrid", compare_with="hybrid")
    pd.testing.assert_frame_equal(model.runs["A"].timeseries(), model.runs["B"].timeseries())
    for key in ("stages", "revenue", "cost"):
        assert np.array_equal(model.series("A")[key], model.series("B")[key])
    assert all(b == a for a, b in charts.difference(model).values() if a == a)


def test_different_policies_differ():
    model = stepped(12, policy="high_touch", compare_with="no_touch")
    diff = charts.difference(model)
    a_cost, b_cost = diff["cost"]
    assert a_cost > 2 * b_cost  # named CSMs are expensive


def test_series_add_up():
    model = stepped(10, policy="hybrid", compare_with="low_touch")
    for label in model.labels:
        run = model.runs[label]
        total = model.series(label)
        assert total["stages"].shape == (11, len(model.spec.lifecycle.stages))
        assert np.all(total["stages"].sum(axis=1) == run.n)
        assert np.allclose(total["month"], np.arange(11))
        assert total["revenue"][-1] == pytest.approx(run.timeseries()["revenue"].sum())
        parts = [model.series(label, s) for s in model.spec.segment_names]
        assert np.array_equal(sum(p["stages"] for p in parts), total["stages"])
        assert sum(p["revenue"][-1] for p in parts) == pytest.approx(run.revenue_cum.sum())
        spent = run.cost_cum.sum() + run.acquisition.sum()
        assert sum(p["cost"][-1] for p in parts) == pytest.approx(spent)


def test_retention_is_the_summary_definition():
    model = stepped(14, policy="hybrid")
    months, share = model.retention("A")
    assert share[12] == pytest.approx(model.runs["A"].summary()["retention"]["12"])
    assert months[12] == 12
    _, seg_share = model.retention("A", "smb")
    smb = model.runs["A"].summary()["segments"]["smb"]["retention"]["12"]
    assert seg_share[12] == pytest.approx(smb)


def test_a_single_run_and_the_horizon():
    model = stepped(6, compare_with=NO_COMPARISON, months=6)
    assert model.labels == ["A"]
    assert not model.running
    assert model.month == 6
    assert all(np.isnan(b) for _, b in charts.difference(model).values())


def test_network_sample_keeps_real_links():
    model = PairedModel("default", customers=3000, seed=5)
    sample = model.network_sample()
    rows, xy = sample["rows"], sample["xy"]
    assert rows.size == SAMPLE_SIZE == np.unique(rows).size
    assert xy.shape == (SAMPLE_SIZE, 2) and xy.min() >= 0 and xy.max() <= 1
    adjacency = model.runs["A"].network
    assert len(sample["edges"]) > SAMPLE_SIZE  # a neighbourhood, not a scatter
    for i, j in sample["edges"]:
        assert adjacency[rows[i], rows[j]] != 0
    assert model.network_sample() is sample  # the layout is computed once


def test_network_sample_without_a_network():
    model = PairedModel("constant_churn", customers=50, seed=5)
    sample = model.network_sample()
    assert sample["edges"] == [] and sample["rows"].size == 50


def test_inspect_shows_traits_and_both_states():
    model = stepped(3, policy="high_touch", compare_with="no_touch")
    info = model.inspect(7)
    run = model.runs["A"]
    assert info["traits"]["revenue"] == pytest.approx(run.traits["revenue"][7])
    assert set(info["state"]) == {"A", "B"}
    assert info["state"]["B"]["cost_to_serve"] == pytest.approx(model.runs["B"].cost_cum[7])
    with pytest.raises(IndexError, match="ids run from 0 to 1499"):
        model.inspect(1500)


def test_unknown_keywords_are_refused():
    with pytest.raises(TypeError, match="colour"):
        PairedModel("default", customers=100, colour="red")


def test_all_zero_segment_weights_fall_back_to_the_scenario_mix():
    model = PairedModel(
        "default", customers=100, weight_enterprise=0.0, weight_mid_market=0.0, weight_smb=0.0
    )
    assert [s.share for s in model.spec.segments] == [0.1, 0.3, 0.6]
    assert model.notes == ["every segment weight was 0: using the scenario's segment mix"]
    assert PairedModel("default", customers=100, weight_smb=0.0).notes == []


def test_headline_rows_and_service_panels_are_named_by_the_outcome_registry():
    """The page's names come from :mod:`sim.analysis.outcomes` and read as before."""
    model = stepped(3, policy="hybrid")
    assert list(charts.difference(model)) == [
        "active customers", "12-month retention (%)", "revenue", "cost", "profit"]
    fig = charts.service_figure(model)
    assert [ax.get_title() for ax in fig.axes] == ["CSM utilisation (%)", "NPS",
                                                   "Engagement index"]


def test_switches_on_a_only_compare_a_policy_with_its_knockout():
    """A = hybrid without escalation, B = hybrid: A runs as knockout:hybrid/escalation,
    B as hybrid, on the same customers and random numbers."""
    off = {program_key("hybrid", "escalation"): False}
    model = stepped(6, policy="hybrid", compare_with="hybrid", switches_apply_to="A only",
                    months=6, **off)
    spec = apply(load_scenario("default"), Levers(customers=1500, months=6))
    for label, name in (("A", "knockout:hybrid/escalation"), ("B", "hybrid")):
        alone = EngagementModel(spec, name, rng=4).run()
        pd.testing.assert_frame_equal(model.runs[label].timeseries(), alone.timeseries())
    assert model.run_levers["B"] == Levers(customers=1500, months=6)
    assert charts.title(model, "A") == "A: hybrid − escalation"
    assert charts.title(model, "B") == "B: hybrid"
    both = stepped(6, policy="hybrid", compare_with="hybrid", months=6, **off)
    pd.testing.assert_frame_equal(both.runs["B"].timeseries(), model.runs["A"].timeseries())


def test_switches_apply_to_is_checked():
    with pytest.raises(ValueError, match="A and B, A only, B only"):
        PairedModel("default", switches_apply_to="A")
