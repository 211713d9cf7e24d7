"""The user stage kind (active but not paying) and the AARRR funnel (issue 12).

Users have the customers' dynamics but book no revenue and are not converted until
they first pay (:mod:`sim.engine.lifecycle`); the funnel's metrics are in
:mod:`sim.engine.funnel`; ``scenarios/aarrr.toml`` is the shipped funnel.
"""

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from sim import EngagementModel, load_scenario
from sim.analysis import plots
from sim.engine.funnel import time_to_convert
from sim.engine.lifecycle import STAGE_KINDS
from sim.engine.results import write_run
from sim.schema import InputError
from sim.sweep.store import flatten

P_UPGRADE = 0.1  # monthly probability a user starts paying in the toy funnel
MONTHS = 24

TOY = """
description = "Toy funnel: every prospect activates at once, users pay at a constant rate"

[time]
step = "month"
months = {months}

[population]
customers = {customers}

[population.initial_stages]
prospect = 1.0

[segments.everyone]
share = 1.0
acquisition_cost = 50.0
revenue = {{ dist = "fixed", value = 100.0 }}
complexity = {{ dist = "fixed", value = 0.0 }}
human_preference = {{ dist = "fixed", value = 0.5 }}
digital_affinity = {{ dist = "fixed", value = 0.5 }}
churn_propensity = {{ dist = "fixed", value = 0.05 }}
responsiveness = {{ dist = "fixed", value = 0.5 }}
expansion_potential = {{ dist = "fixed", value = 0.0 }}
referral_propensity = {{ dist = "fixed", value = 0.0 }}

[lifecycle]
allow_winback = false

[lifecycle.stages]
prospect = {{ kind = "prospect" }}
trial = {{ kind = "{user_kind}" }}
paying = {{ kind = "customer" }}
churned = {{ kind = "churned" }}

[[lifecycle.edges]]
from = "prospect"
to = "trial"
base = 1.0                   # deterministic activation in the first step

[[lifecycle.edges]]
from = "trial"
to = "paying"
base = {p}

[[lifecycle.edges]]
from = "paying"
to = "churned"
base = 0.0                   # nobody leaves (the stage must be reachable)

[network]
kind = "none"

[economics]
gross_margin = 0.8
annual_discount_rate = 0.10
expansion_rate = 0.0
max_expansion = 1.0

[policies.none]
description = "No engagement"
"""


def toy(tmp_path, customers=4000, months=MONTHS, p=P_UPGRADE, user_kind="user"):
    path = tmp_path / "toy_funnel.toml"
    path.write_text(TOY.format(customers=customers, months=months, p=p, user_kind=user_kind))
    return load_scenario(path)


def test_users_book_no_revenue_and_are_not_converted_until_paying(tmp_path):
    model = EngagementModel(toy(tmp_path, customers=2000, months=12), "none", rng=3).run()
    trial, paying = model.spec.lifecycle.index("trial"), model.spec.lifecycle.index("paying")
    users = model.stage == trial
    assert users.any() and (model.stage == paying).any()
    # users: engaged (the dynamics move them), not active, never converted, no money
    assert model.engaged[users].all() and not model.active[users].any()
    assert (model.converted_step[users] == -1).all()
    assert (model.revenue_cum[users] == 0).all() and (model.acquisition[users] == 0).all()
    assert (model.monthly_revenue[users] == 0).all()
    assert (model.engagement[users] > 0).all()
    # payers were users first: activated at step 1, converted later, their CAC paid then
    payers = model.stage == paying
    assert (model.activated_step[payers] == 1).all()
    assert (model.converted_step[payers] > 1).all()
    assert (model.acquisition[payers] == 50.0).all()
    summary = model.summary()
    assert summary["active"] == int(payers.sum())
    assert summary["users"] == int(users.sum())
    assert summary["activations"] == model.n
    assert summary["converted"] == summary["new_customers"] == int(payers.sum())
    ts = model.timeseries()
    assert (ts["users"] == ts["trial"]).all() and (ts["active"] == ts["paying"]).all()
    assert ts["activations"].tolist() == [model.n] + [0] * (len(ts) - 1)
    customers = model.customers_frame()
    assert (customers["activated_month"] == 1.0).all()
    assert customers["converted_month"].isna().sum() == int(users.sum())
    # revenue is booked only by payers (one step after the step they convert)
    assert ts["revenue"].iloc[0] == 0.0 and ts["revenue"].sum() > 0


def test_a_deterministic_activation_edge_gives_the_closed_form_time_to_convert(tmp_path):
    # activated at step 1, each later month pays with probability p: K ~ Geometric(p)
    # on 1, 2, …, observed up to the horizon (K ≤ MONTHS − 1)
    model = EngagementModel(toy(tmp_path), "none", rng=11).run()
    got = model.summary()["time_to_convert"]
    k = np.arange(1, MONTHS)
    pk = P_UPGRADE * (1 - P_UPGRADE) ** (k - 1)
    pk /= pk.sum()
    mean = float((k * pk).sum())
    sd = math.sqrt(float(((k - mean) ** 2 * pk).sum()))
    n_conv = got["converters"]
    expected_conv = model.n * (1 - (1 - P_UPGRADE) ** (MONTHS - 1))
    sd_conv = math.sqrt(expected_conv * (1 - expected_conv / model.n))
    assert abs(n_conv - expected_conv) < 4 * sd_conv
    assert abs(got["mean"] - mean) < 4 * sd / math.sqrt(n_conv)
    assert got["median"] == pytest.approx(float(np.median(
        (model.converted_step - model.activated_step)[model.converted_step > 0])))


def test_time_to_convert_leaves_out_the_installed_base_and_counts_steps_in_months():
    activated = np.array([0, 2, 4, -1, 3])
    converted = np.array([0, 6, 4, -1, -1])
    assert time_to_convert(activated, converted, 52 / 12) == {
        "mean": pytest.approx((4 + 0) / 2 * 12 / 52),
        "median": pytest.approx(2 * 12 / 52),
        "converters": 2,
    }
    assert math.isnan(time_to_convert(activated[:1], converted[:1], 1.0)["mean"])


@pytest.mark.parametrize("policy", list(load_scenario("aarrr").policies))
def test_the_aarrr_scenario_runs_every_policy_and_its_funnel_narrows(tmp_path, policy):
    model = EngagementModel("aarrr", policy, rng=5, customers=1500, months=12).run()
    summary = model.summary()
    reached = summary["reached"]
    assert list(reached) == ["visitor", "acquired", "activated", "retained", "paying",
                             "referring"]
    counts = list(reached.values())
    assert counts[0] == model.n
    assert all(a >= b for a, b in itertools.pairwise(counts))
    # paying stages come after the user stages: reaching paying is having converted
    assert reached["paying"] == summary["converted"]
    assert summary["users"] > 0 and summary["activations"] > 0
    assert summary["time_to_convert"]["mean"] > 0
    # every new customer came through the user stages
    lc = model.spec.lifecycle
    new = model.converted_step > 0
    assert (model.activated_step[new] < model.converted_step[new]).all()
    assert model.stage_tables.user[[lc.index("activated"), lc.index("retained")]].all()
    # flow.csv per step adds up to conversion.csv's pooled moves
    out = write_run(model, tmp_path / "run", seed=5)
    flow = pd.read_csv(out / "flow.csv")
    conversion = pd.read_csv(out / "conversion.csv")
    assert sorted(flow["step"].unique()) == list(range(1, 13))
    pooled = flow.groupby(["from", "to"], sort=False)["moved"].sum().reset_index()
    merged = conversion.merge(pooled, on=["from", "to"], suffixes=("", "_flow"))
    assert len(merged) == len(lc.edges)
    assert (merged["moved"] == merged["moved_flow"]).all()


def test_a_lifecycle_without_user_stages_has_no_funnel_outputs(tmp_path):
    model = EngagementModel("default", "no_touch", rng=1, customers=500, months=2).run()
    summary = model.summary()
    assert not {"users", "activations", "time_to_convert", "reached"} & set(summary)
    assert "users" not in model.timeseries()
    assert "activated_month" not in model.customers_frame()
    out = write_run(model, tmp_path / "run", seed=1)
    assert not (out / "flow.csv").exists()
    # without user stages activation is conversion
    assert (model.activated_step == model.converted_step).all()


def test_a_bad_stage_kind_names_the_kinds(tmp_path):
    with pytest.raises(InputError) as err:
        toy(tmp_path, user_kind="trialist")
    message = str(err.value)
    assert "kind" in message and "toy_funnel.toml" in message
    for kind in STAGE_KINDS:
        assert kind in message
    assert STAGE_KINDS == ("prospect", "user", "customer", "churned")


def test_the_growth_funnel_figure_draws_the_reached_counts(tmp_path):
    rows = []
    for policy in ("no_touch", "high_touch"):
        for seed in (1, 2):
            model = EngagementModel("aarrr", policy, rng=seed, customers=800, months=6).run()
            rows.append({"run_id": f"{policy}-{seed}", "point": 0, "replication": seed,
                         **flatten(model.summary(seed))})
    runs = pd.DataFrame(rows)
    stages = plots.funnel_stages(runs)
    assert stages == list(load_scenario("aarrr").lifecycle.names[:-1])  # churned left out
    path = plots.growth_funnel(runs, tmp_path / "growth_funnel.png")
    assert path.stat().st_size > 10_000
    default = pd.DataFrame([flatten(EngagementModel(
        "default", "no_touch", rng=1, customers=300, months=1).run().summary(1))])
    assert plots.funnel_stages(default) == []


def test_the_aarrr_uncertainties_cover_every_touched_edge():
    """The default's assumptions at the funnel's edges, so ``engagesim decide`` runs."""
    scenario = load_scenario("aarrr")
    paths = set()
    for u in scenario.uncertainties:
        paths |= {u.path, *u.also}
    touched = {i for i, e in enumerate(scenario.lifecycle.edges) if dict(e.drivers).get("touch")}
    assert {f"lifecycle.edges[{i}].drivers.touch" for i in touched} == {
        p for p in paths if p.endswith(".drivers.touch")
    }
    assert "lifecycle.edges[0].referral" in paths
