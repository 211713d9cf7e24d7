"""The policy contract: a read-only view, a generator of its own, checked results."""

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sim import Engagement, EngagementModel, NoPolicy, Policy, ProgramPolicy, load_scenario
from sim.engine.policies import COST_TYPES, PolicyError, check_engagement
from sim.engine.view import PolicyView

README = Path(__file__).resolve().parents[2] / "README.md"
STATE = ("stage", "segment", "active", "health", "monthly_revenue", "engagement",
         "satisfaction", "onboarding", "steps_in_stage", "tenure_months")


class Recorder(Policy):
    """Touches nobody; keeps what it was given."""

    name = "recorder"

    def __init__(self):
        self.views = []

    def setup(self, view):
        self.setup_view = view

    def engage(self, view):
        self.views.append(view)
        return Engagement.none(view.n)


def test_a_policy_gets_a_read_only_view_not_the_model():
    policy = Recorder()
    model = EngagementModel("default", policy, rng=1, customers=300, months=2)
    assert isinstance(policy.setup_view, PolicyView) and policy.setup_view.step == 0
    model.step()
    (view,) = policy.views
    assert not isinstance(view, EngagementModel)
    assert (view.n, view.steps_per_month, view.step) == (300, 1.0, 1)
    assert view.stage_names == model.spec.lifecycle.names
    assert view.segment_names == model.spec.segment_names
    for name in STATE:
        array = getattr(view, name)
        assert not array.flags.writeable, name
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1
    for name, values in view.traits.items():
        assert not values.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            values[:] = 0
        np.testing.assert_array_equal(values, model.traits[name])
    with pytest.raises(TypeError):
        view.traits["revenue"] = np.zeros(300)
    with pytest.raises(AttributeError, match="read-only"):
        view.health = np.zeros(300)
    assert not hasattr(view, "model") and not hasattr(view, "spec")


def test_the_view_wraps_the_models_arrays_without_copying():
    policy = Recorder()
    model = EngagementModel("default", policy, rng=2, customers=200, months=1)
    view = PolicyView(model, model._policy_rng)
    assert np.shares_memory(view.health, model.health)
    assert np.shares_memory(view.monthly_revenue, model.monthly_revenue)
    assert np.shares_memory(view.traits["revenue"], model.traits["revenue"])
    assert model.health.flags.writeable  # the model's own arrays stay writeable
    np.testing.assert_array_equal(view.tenure_months, model.tenure_months)
    np.testing.assert_array_equal(view.months_in_stage, model.steps_in_stage / 1.0)
    np.testing.assert_array_equal(
        view.in_stage("onboarding", "adoption"),
        np.isin(model.stage, [model.spec.lifecycle.index("onboarding"),
                              model.spec.lifecycle.index("adoption")]),
    )
    with pytest.raises(KeyError, match="no stage named 'nope'"):
        view.in_stage("nope")


def test_spawning_the_policy_generator_leaves_the_run_stream_alone():
    a, b = np.random.default_rng(11), np.random.default_rng(11)
    child = a.spawn(1)[0]
    child.random(100)
    np.testing.assert_array_equal(a.random(50), b.random(50))
    # in the model: the run's generator is where a fresh one with the seed would be
    model = EngagementModel("default", NoPolicy(), rng=11, customers=100, months=1)
    twin = EngagementModel("default", NoPolicy(), rng=11, customers=100, months=1)
    np.testing.assert_array_equal(model.rng.random(20), twin.rng.random(20))
    assert model._policy_rng is not model.rng


class Gambler(Policy):
    """Draws from its own generator every step, touches nobody."""

    name = "gambler"

    def setup(self, view):
        self.first = view.rng.random(5)

    def engage(self, view):
        self.draws = view.rng.random(view.n)  # as many as a careless policy might
        view.rng.standard_normal(17)
        return Engagement.none(view.n)


def test_a_policy_drawing_random_numbers_keeps_common_random_numbers():
    args = dict(rng=4, customers=600, months=8)
    control = EngagementModel("default", NoPolicy(), **args).run()
    gambler = EngagementModel("default", Gambler(), **args).run()
    pd.testing.assert_frame_equal(control.timeseries(), gambler.timeseries())
    pd.testing.assert_frame_equal(control.customers_frame(), gambler.customers_frame())
    # and its own draws are reproducible from the seed
    again = EngagementModel("default", Gambler(), **args)
    np.testing.assert_array_equal(again.policy.first, gambler.policy.first)


def test_a_shipped_policy_and_a_drawing_one_see_the_same_population():
    hybrid = EngagementModel("default", "hybrid", rng=9, customers=400, months=1)
    gambler = EngagementModel("default", Gambler(), rng=9, customers=400, months=1)
    np.testing.assert_array_equal(hybrid.stage, gambler.stage)
    for name, values in hybrid.traits.items():
        np.testing.assert_array_equal(values, gambler.traits[name])


class BadCosts(Policy):
    name = "bad_costs"

    def engage(self, view):
        return Engagement(np.zeros(view.n), np.zeros(view.n), np.zeros(view.n),
                          {"touch": 0.0, "travel": 12.0})


def test_unknown_cost_types_are_refused_with_the_policy_key_and_allowed_types():
    model = EngagementModel("default", BadCosts(), rng=0, customers=100, months=2)
    with pytest.raises(PolicyError) as info:
        model.step()
    message = str(info.value)
    assert "bad_costs" in message and "BadCosts" in message and "'travel'" in message
    assert ", ".join(COST_TYPES) in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "engaged, problem",
    [
        ("nothing", "must return an Engagement, got str"),
        (Engagement(np.zeros(3), np.zeros(5), np.zeros(5)), r"Engagement.response .*\(5,\)"),
        (Engagement(np.zeros(5), np.zeros(5), 0.0), r"Engagement.cost .*got shape \(\)"),
    ],
)
def test_results_of_the_wrong_kind_or_shape_are_refused(engaged, problem):
    with pytest.raises(PolicyError, match=problem):
        check_engagement(BadCosts(), engaged, 5)


def test_shipped_results_pass_the_check_unchanged():
    engaged = Engagement.none(4)
    assert check_engagement(NoPolicy(), engaged, 4) is engaged


def test_from_touches_handles_the_step_length():
    monthly = EngagementModel("default", NoPolicy(), rng=3, customers=500, months=1)
    weekly_spec = load_scenario("default", overrides={"time.step": "week"})
    weekly = EngagementModel(weekly_spec, NoPolicy(), rng=3, customers=500, months=1)
    out = {}
    for label, model in (("month", monthly), ("week", weekly)):
        view = PolicyView(model, model._policy_rng)
        tpm = np.where(view.active, 2.0, 0.0)
        out[label] = Engagement.from_touches(
            view, tpm, effect=0.1, fit=view.traits["digital_affinity"], cost_per_touch=0.5,
            fixed_cost_per_month=1000.0,
        )
        spm = view.steps_per_month
        e = out[label]
        np.testing.assert_allclose(e.touches, tpm / spm)
        np.testing.assert_allclose(e.response, 1 - np.exp(-tpm * 0.1 * view.traits[
            "digital_affinity"]))
        assert e.costs_by_type["touch"] == pytest.approx(0.5 * tpm.sum() / spm)
        assert e.costs_by_type["fixed"] == pytest.approx(1000.0 / spm)
        assert e.cost.sum() == pytest.approx(sum(e.costs_by_type.values()))
        assert set(e.costs_by_type) == set(COST_TYPES)
        check_engagement(NoPolicy(), e, view.n)
    # the same population: the response to "2 touches a month" does not depend on the step
    np.testing.assert_array_equal(out["month"].response, out["week"].response)
    with pytest.raises(ValueError, match="≥ 0"):
        Engagement.from_touches(view, -1.0, effect=0.1)
    with pytest.raises(ValueError, match="one value per customer"):
        Engagement.from_touches(view, np.ones(3), effect=0.1)


def test_from_touches_reproduces_a_digital_program():
    scenario = load_scenario("default")
    spec = scenario.policies["no_touch"]
    (program,) = spec.programs
    assert program.channel == "digital" and program.setup_cost == 0
    model = EngagementModel(scenario, "no_touch", rng=5, customers=800, months=3)
    model.step()
    view = PolicyView(model, model._policy_rng)
    shipped = model.policy.engage(view)
    in_scope = np.isin(view.stage, program.stages) & np.isin(view.segment, program.segments)
    mine = Engagement.from_touches(
        view,
        np.where(in_scope, program.touches_per_month, 0.0),
        effect=program.effect,
        fit=view.traits["digital_affinity"] * view.traits["responsiveness"],
        cost_per_touch=program.cost_per_touch,
        fixed_cost_per_month=spec.fixed_cost_per_month,
    )
    for name in ("response", "touches", "cost"):
        np.testing.assert_allclose(getattr(mine, name), getattr(shipped, name), rtol=1e-12)
    assert mine.costs_by_type == pytest.approx(shipped.costs_by_type)


def test_program_policies_accept_a_model_like_object():
    # what the analytic chain's probe passes: a namespace with the arrays and ``spec``
    model = EngagementModel("default", "hybrid", rng=6, customers=300, months=1)
    probe = SimpleNamespace(
        n=model.n, spec=model.spec, steps_per_month=model.steps_per_month,
        stage=model.stage, segment=model.segment, traits=model.traits, active=model.active,
        monthly_revenue=model.monthly_revenue, health=model.health,
        tenure_months=model.tenure_months,
    )
    policy = ProgramPolicy(model.spec.policies["hybrid"])
    policy.setup(probe)
    from_probe = policy.engage(probe)
    policy.setup(model)
    from_view = policy.engage(PolicyView(model, model._policy_rng))
    np.testing.assert_array_equal(from_probe.response, from_view.response)
    with pytest.raises(AttributeError, match="no generator"):
        _ = PolicyView.of(probe).rng


def _readme_policy_code() -> str:
    section = README.read_text().split("### 6. Write your own policy", 1)[1]
    (code, *_) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return code


def test_the_readme_policy_example_runs():
    namespace: dict = {}
    exec(_readme_policy_code(), namespace)  # our own README
    policies = [v for v in namespace.values()
                if isinstance(v, type) and issubclass(v, Policy) and v is not Policy]
    assert policies
    for cls in policies:
        model = EngagementModel("default", cls(), rng=1, customers=400, months=4).run()
        ts = model.timeseries()
        assert ts["touches"].sum() > 0 and ts["cost_touch"].sum() > 0, cls.__name__


def _engagement(n=5, **arrays):
    values = {"response": np.zeros(n), "touches": np.zeros(n), "cost": np.zeros(n)}
    values.update(arrays)
    return Engagement(**values, costs_by_type=dict.fromkeys(COST_TYPES, 0.0))


def _one_bad(value, at=3, n=5):
    array = np.zeros(n)
    array[at] = value
    return array


@pytest.mark.parametrize(
    "engaged, problem",
    [
        (_engagement(response=_one_bad(np.nan)), r"step 7: Engagement.response must be in "
         r"\[0, 1\], got nan for customer 3 \(1 of 5"),
        (_engagement(response=_one_bad(1.5)), r"step 7: Engagement.response .* got 1.5"),
        (_engagement(response=_one_bad(-0.1)), r"Engagement.response .* got -0.1"),
        (_engagement(cost=_one_bad(-2.0)), r"step 7: Engagement.cost must be finite and ≥ 0, "
         r"got -2.0 for customer 3"),
        (_engagement(cost=_one_bad(np.nan)), r"Engagement.cost must be finite and ≥ 0, got nan"),
        (_engagement(cost=_one_bad(np.inf)), r"Engagement.cost must be finite and ≥ 0, got inf"),
        (_engagement(touches=_one_bad(-1.0)), r"Engagement.touches must be finite and ≥ 0"),
        (Engagement(np.zeros(5), np.zeros(5), np.zeros(5), {"touch": -50.0}),
         r"step 7: Engagement.costs_by_type\['touch'\] must be finite and ≥ 0, got -50.0"),
        (Engagement(np.zeros(5), np.zeros(5), np.zeros(5), {"fixed": np.nan}),
         r"costs_by_type\['fixed'\] must be finite and ≥ 0, got nan"),
    ],
)
def test_non_finite_negative_or_out_of_range_results_are_refused_naming_the_step(
    engaged, problem
):
    with pytest.raises(PolicyError, match=problem) as info:
        check_engagement(BadCosts(), engaged, 5, step=7)
    assert "policy 'bad_costs'" in str(info.value)


class NaNAfterTwo(Policy):
    """Honest for two steps, then a NaN response for one customer."""

    name = "nan_after_two"

    def engage(self, view):
        response = np.zeros(view.n)
        if view.step > 2:
            response[11] = np.nan
        return Engagement(response, np.zeros(view.n), np.zeros(view.n))


class Raiser(Policy):
    name = "raiser"

    def engage(self, view):
        if view.step == 2:
            raise ZeroDivisionError("division by zero")
        return Engagement.none(view.n)


class RaisesInSetup(Policy):
    name = "raises_in_setup"

    def setup(self, view):
        raise KeyError("tier")

    def engage(self, view):
        return Engagement.none(view.n)


def test_the_model_names_the_step_a_policy_broke_the_contract_in():
    model = EngagementModel("default", NaNAfterTwo(), rng=0, customers=100, months=5)
    with pytest.raises(PolicyError, match=r"'nan_after_two': step 3: Engagement.response "
                       r"must be in \[0, 1\], got nan for customer 11"):
        model.run()
    assert model.steps == 3


def test_a_policy_that_raises_is_a_policy_error_naming_policy_and_step():
    model = EngagementModel("default", Raiser(), rng=0, customers=100, months=5)
    with pytest.raises(PolicyError) as info:
        model.run()
    message = str(info.value)
    assert "Raiser" in message and "policy 'raiser': step 2: engage() raised " \
        "ZeroDivisionError: division by zero" in message
    assert isinstance(info.value.__cause__, ZeroDivisionError)  # the traceback, for Python users
    with pytest.raises(PolicyError, match=r"'raises_in_setup': setup\(\) raised KeyError: 'tier'"):
        EngagementModel("default", RaisesInSetup(), rng=0, customers=100, months=5)
