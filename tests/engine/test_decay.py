"""Program effects that decay (``decay``; sim.engine.targets.Carry).

Closed forms on a stand-in view (deterministic, exact): a program delivered at a
constant response ``r`` builds up to ``x·r·(1 − ρ^t)/(1 − ρ)`` (steady state
``x·r/(1 − ρ)``, capped at ``x``) with monthly and with weekly steps; switched off, it
fades by exactly ``ρ`` a month; a churned customer loses it. On the model: ``decay = 0``
gives the same outputs as no key (both runs computed here), a churn-aimed program with
decay lowers churn more than without (paired seeds, 4 SE), one policy object run twice
gives the same run twice, and bad ``decay`` values are InputErrors naming file and key.
"""

from __future__ import annotations

import copy
import json
import math
import tomllib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from sim.engine.model import EngagementModel
from sim.engine.policies import PolicySpec, ProgramPolicy, ProgramSpec
from sim.engine.scenario import from_dict
from sim.engine.tactics_library import load_library
from sim.engine.view import PolicyView
from sim.schema import InputError

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "loyalty_example.toml"
STAGES = ("member", "lapsed", "churned")  # the stand-in's lifecycle


@pytest.fixture(scope="module")
def raw() -> dict:
    """The loyalty example scenario as a raw table."""
    with open(EXAMPLE, "rb") as f:
        return tomllib.load(f)


# -- closed forms on a stand-in view --------------------------------------------------

def _source(n: int, steps_per_month: float, affinity: np.ndarray) -> SimpleNamespace:
    """What a :class:`PolicyView` reads, for ``n`` members of one segment."""
    return SimpleNamespace(
        n=n, weight=1.0, steps_per_month=steps_per_month, steps=0,
        spec=SimpleNamespace(lifecycle=SimpleNamespace(names=STAGES), segment_names=("all",)),
        stage=np.zeros(n, dtype=np.int8), segment=np.zeros(n, dtype=np.int8),
        active=np.ones(n, dtype=bool), health=np.full(n, 0.5),
        monthly_revenue=np.full(n, 100.0), steps_in_stage=np.zeros(n, dtype=np.int32),
        traits={"digital_affinity": affinity, "responsiveness": np.ones(n),
                "human_preference": np.ones(n)},
    )


def _policy(x: float, decay: float, touches: float = 1.0) -> ProgramPolicy:
    """One digital program on ``member`` aimed at churn (``x``) with ``decay``."""
    program = ProgramSpec(name="points", channel="digital", stages=(0,), segments=(0,),
                          touches_per_month=touches, targets=(("churn", x),), decay=decay)
    return ProgramPolicy(PolicySpec("p", "", 0.0, {}, (program,), churned_stages=(2,)))


def _steps(policy: ProgramPolicy, source: SimpleNamespace, steps: int) -> np.ndarray:
    """Engage ``steps`` times; return the last step's churn effect."""
    for _ in range(steps):
        source.steps += 1
        effect = policy.engage(PolicyView(source)).targets["churn"]
        source.steps_in_stage += 1
    return effect


@pytest.mark.parametrize("steps_per_month", [1.0, 52 / 12])
def test_constant_response_builds_up_to_the_closed_form(steps_per_month):
    """``E_t = x·r·(1 − ρ_s^t)/(1 − ρ)``, capped at ``x``: steady state ``x·r/(1 − ρ)``."""
    n, x, decay, touches = 200, -0.8, 0.6, 0.3
    affinity = np.linspace(0.0, 1.0, n)
    r = -np.expm1(-touches * affinity)  # saturation 1, responsiveness 1
    source = _source(n, steps_per_month, affinity)
    policy = _policy(x, decay, touches)
    kept = decay ** (1 / steps_per_month)
    for steps in (1, 3, 400):
        source.steps = 0
        policy.setup(PolicyView(source))  # afresh
        effect = _steps(policy, source, steps)
        expected = x * r * (1 - kept**steps) / (1 - decay)
        np.testing.assert_allclose(effect, expected, rtol=1e-12, atol=1e-15)
    steady = x * r / (1 - decay)
    assert np.all(steady > x)  # r ≤ 1 − e^−0.3 < 1 − ρ: nobody reaches the cap here
    np.testing.assert_allclose(effect, steady, rtol=1e-12)
    # without decay the effect is x·r, every step
    plain = _policy(x, 0.0, touches)
    plain.setup(PolicyView(source))
    np.testing.assert_array_equal(_steps(plain, source, 5), x * r)


def test_the_level_is_capped_at_the_effect_at_full_response():
    n, x, decay = 50, 0.5, 0.9
    affinity = np.linspace(0.2, 1.0, n)
    r = -np.expm1(-3.0 * affinity)
    source = _source(n, 1.0, affinity)
    policy = _policy(x, decay, touches=3.0)
    policy.setup(PolicyView(source))
    effect = _steps(policy, source, 60)
    assert np.all(x * r / (1 - decay) > x)  # uncapped it would exceed x
    np.testing.assert_array_equal(effect, np.full(n, x))


@pytest.mark.parametrize("steps_per_month", [1.0, 52 / 12])
def test_a_program_switched_off_fades_geometrically(steps_per_month):
    n, x, decay = 100, -0.8, 0.7
    affinity = np.linspace(0.05, 1.0, n)
    source = _source(n, steps_per_month, affinity)
    policy = _policy(x, decay, touches=0.2)
    policy.setup(PolicyView(source))
    built = _steps(policy, source, 24).copy()
    assert np.all(built < 0)
    source.stage[:] = 1  # every member lapses: the program's audience ends
    source.steps_in_stage[:] = 0
    for steps in (1, 2, 6, 13):  # k steps fade it by ρ^(k / steps_per_month)
        effect = _steps(copy.deepcopy(policy), copy.deepcopy(source), steps)
        np.testing.assert_allclose(effect, built * decay ** (steps / steps_per_month),
                                   rtol=1e-12)


def test_a_churned_customer_loses_the_carried_effect():
    n = 10
    source = _source(n, 1.0, np.full(n, 0.5))
    policy = _policy(-0.8, 0.8)
    policy.setup(PolicyView(source))
    built = _steps(policy, source, 6).copy()
    source.stage[:5] = 2  # churned last step
    source.stage[5:] = 1  # lapsed, still a customer
    source.steps_in_stage[:] = 0
    effect = _steps(policy, source, 1)
    np.testing.assert_array_equal(effect[:5], 0.0)
    np.testing.assert_allclose(effect[5:], 0.8 * built[5:], rtol=1e-12)


def test_a_program_spec_with_decay_outside_its_range_is_refused():
    source = _source(3, 1.0, np.ones(3))
    with pytest.raises(ValueError, match="decay"):
        _policy(-0.5, 1.0).setup(PolicyView(source))


# -- the model ------------------------------------------------------------------------

def _scenario(raw: dict, **points):
    """The loyalty example with keys of its ``points`` program replaced."""
    data = copy.deepcopy(raw)
    data["policies"]["loyalty"]["programs"]["points"].update(points)
    return from_dict(data, "loyalty_example.toml")


def _outputs(scenario, policy="loyalty", seed=3) -> tuple[str, str]:
    run = EngagementModel(scenario, policy, rng=seed, agents=1500, months=12).run()
    return json.dumps(run.summary(), sort_keys=True), run.timeseries().to_csv()


def test_decay_zero_gives_the_same_outputs_as_no_key(raw):
    assert _outputs(_scenario(raw, decay=0.0)) == _outputs(_scenario(raw))


def test_one_policy_object_run_twice_gives_the_same_run(raw):
    scenario = _scenario(raw, decay=0.8)
    policy = ProgramPolicy(scenario.policies["loyalty"])
    assert _outputs(scenario, policy) == _outputs(scenario, policy)
    assert _outputs(scenario, policy) == _outputs(scenario, "loyalty")


def test_a_plan_carries_decay_like_its_policy(raw):
    scenario = _scenario(raw, decay=0.8)
    plan = "plan:" + ",".join(f"{s.name}=loyalty" for s in scenario.segments)
    runs = [EngagementModel(scenario, p, rng=2, agents=1000, months=12).run()
            for p in (plan, "loyalty")]
    np.testing.assert_array_equal(runs[0].stage, runs[1].stage)
    np.testing.assert_array_equal(runs[0].referrals, runs[1].referrals)


def test_a_churn_program_with_decay_lowers_churn_more_than_without(raw):
    with_decay = _scenario(raw, targets={"churn": -0.8}, decay=0.8)
    without = _scenario(raw, targets={"churn": -0.8})
    diffs = []
    for seed in range(8):
        churned = [EngagementModel(s, "loyalty", rng=seed, agents=3000, months=12).run()
                   .summary()["churned"] for s in (with_decay, without)]
        diffs.append(churned[0] - churned[1])
    d = np.array(diffs, dtype=float)
    mean, se = d.mean(), d.std(ddof=1) / math.sqrt(d.size)
    assert mean + 4 * se < 0, (mean, se)


@pytest.mark.parametrize(
    ("points", "words"),
    [
        ({"decay": 1.0}, "[0, 1)"),
        ({"decay": -0.1}, "[0, 1)"),
        ({"decay": float("nan")}, "[0, 1)"),
        ({"decay": float("inf")}, "[0, 1)"),
        ({"decay": "0.5"}, "[0, 1)"),
        ({"targets": {"price": 0.1}, "decay": 0.5}, "no targets it could carry"),
    ],
)
def test_bad_decay_is_an_input_error_naming_file_and_key(raw, points, words):
    with pytest.raises(InputError) as err:
        _scenario(raw, **points)
    message = str(err.value)
    assert "loyalty_example.toml" in message, message
    assert "policies.loyalty.programs.points.decay" in message, message
    assert words in message, message


def test_decay_on_a_program_without_targets_is_an_input_error(raw):
    data = copy.deepcopy(raw)
    data["policies"]["loyalty"]["programs"]["automated"]["decay"] = 0.5
    with pytest.raises(InputError) as err:
        from_dict(data, "loyalty_example.toml")
    assert "policies.loyalty.programs.automated.decay" in str(err.value)
    assert "give a targets table or remove decay" in str(err.value)


def test_library_tactics_with_decay_carry_it_into_their_program(raw):
    library = load_library()
    decaying = [t for t in library.values() if "decay" in t.body]
    assert decaying, "no tactic carries over"
    data = copy.deepcopy(raw)
    data["policies"]["tried"] = {"tactics": [t.name for t in decaying]}
    data.pop("uncertainties", None)
    programs = from_dict(data, "t.toml").policies["tried"].programs
    for tactic, program in zip(decaying, programs, strict=True):
        assert 0 < program.decay < 1 and program.decay == tactic.body["decay"], tactic.name
