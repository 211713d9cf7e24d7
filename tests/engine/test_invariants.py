"""Property tests: invariants that hold for every seed, size, horizon, policy and step.

Hypothesis draws runs of the default scenario (50–400 customers, 1–18 months, one of
the four policies, monthly or weekly steps, with or without win-back, from the default
mixed population or from an installed base only) and the model is stepped by hand so
every step can be checked. ``derandomize=True`` keeps the examples fixed between runs.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import EngagementModel, load_scenario
from sim.engine.lifecycle import DRIVERS, Edge, choose_exits, edge_rate
from sim.engine.metrics import RETENTION_MONTHS, retention
from sim.engine.scenario import from_dict
from sim.engine.segments import UNIT_TRAITS
from sim.files import jsonable

POLICIES = ("no_touch", "low_touch", "high_touch", "hybrid")
WINBACK_BASE = 0.2  # monthly win-back probability: high, so small runs see returns
INSTALLED_BASE = {"onboarding": 0.1, "adoption": 0.4, "growth": 0.3, "loyal": 0.2}
STATE = ("engagement", "satisfaction", "onboarding", "health")

PROPERTY = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@functools.cache
def scenario(step: str, winback: bool, installed_base: bool):
    """The default scenario with the knobs applied (validated once per combination)."""
    base = load_scenario("default")
    raw = copy.deepcopy(dict(base.raw))
    raw["time"]["step"] = step
    if installed_base:
        raw["population"]["initial_stages"] = dict(INSTALLED_BASE)
    if winback:
        raw["lifecycle"]["allow_winback"] = True
        raw["lifecycle"]["edges"].append(
            {"from": "churned", "to": "adoption", "base": WINBACK_BASE}
        )
    return from_dict(raw, base.source, name="default-variant")


@dataclass(frozen=True)
class Run:
    seed: int
    customers: int
    months: int
    policy: str
    step: str
    winback: bool
    installed_base: bool

    def model(self) -> EngagementModel:
        return EngagementModel(
            scenario(self.step, self.winback, self.installed_base),
            self.policy,
            rng=self.seed,
            customers=self.customers,
            months=self.months,
        )


runs = st.builds(
    Run,
    seed=st.integers(0, 2**32 - 1),
    customers=st.integers(50, 400),
    months=st.integers(1, 18),
    policy=st.sampled_from(POLICIES),
    step=st.sampled_from(("month", "week")),
    winback=st.booleans(),
    installed_base=st.booleans(),
)


def stepped(run: Run):
    """Run ``run`` step by step; yield ``(model, stage_before)`` after every step."""
    model = run.model()
    assert model.horizon == round(run.months * (1 if run.step == "month" else 52 / 12))
    while model.steps < model.horizon:
        before = model.stage.copy()
        model.step()
        yield model, before


def in_unit_interval(values, tol: float = 0.0) -> bool:
    values = np.asarray(values, dtype=float)
    return bool(np.all((values >= -tol) & (values <= 1.0 + tol)))


# ----------------------------------------------------------------------------------
# the model, step by step


@PROPERTY
@given(runs)
def test_counts_are_conserved_every_step(run):
    model = None
    k = None
    for model, _ in stepped(run):
        k = len(model.spec.lifecycle.stages)
        assert model.stage.shape == (run.customers,)
        assert model.stage.min() >= 0 and model.stage.max() < k
    ts = model.timeseries()
    names = list(model.spec.lifecycle.names)
    assert len(ts) == model.horizon
    assert ts["step"].tolist() == list(range(1, model.horizon + 1))
    assert (ts[names].sum(axis=1) == run.customers).all()
    assert (ts["prospects"] + ts["active"] + ts["churned"] == run.customers).all()
    assert (ts[names].to_numpy() >= 0).all()
    final = np.bincount(model.stage, minlength=k)
    assert ts[names].iloc[-1].tolist() == final.tolist()


@PROPERTY
@given(runs)
def test_every_move_follows_one_edge(run):
    edges = None
    for model, before in stepped(run):
        if edges is None:
            edges = {(e.source, e.target) for e in model.spec.lifecycle.edges}
        moved = before != model.stage
        pairs = set(zip(before[moved].tolist(), model.stage[moved].tolist(), strict=True))
        assert pairs <= edges, pairs - edges


@PROPERTY
@given(runs)
def test_state_stays_in_unit_interval(run):
    model = run.model()
    for name in STATE:
        assert in_unit_interval(getattr(model, name)), name
    for model, _ in stepped(run):
        for name in STATE:
            assert in_unit_interval(getattr(model, name)), (name, model.steps)
        assert (model.monthly_revenue >= 0).all()
    for trait in UNIT_TRAITS:
        assert in_unit_interval(model.traits[trait]), trait
    ts = model.timeseries()
    for col in ("satisfaction_mean", "engagement_mean"):
        assert in_unit_interval(ts[col].dropna()), col
    # hours used / hours available: a ratio of float sums, 1 + 2e-15 happens when full
    assert in_unit_interval(ts["csm_utilisation"].dropna(), tol=1e-9)
    assert ((ts["nps"].dropna() >= -100) & (ts["nps"].dropna() <= 100)).all()


@PROPERTY
@given(runs)
def test_churned_customers_return_only_through_winback(run):
    returned = 0
    for model, before in stepped(run):
        churned_stage = model.spec.lifecycle.kind_mask("churned")
        was_churned = churned_stage[before]
        now = model.stage[was_churned]
        if run.winback:
            back = now[~churned_stage[now]]
            assert (back == model.spec.lifecycle.index("adoption")).all()
            returned += back.size
        else:
            assert churned_stage[now].all(), "a churned customer came back"
        # everyone churned now has a churn step; nobody active has one unless won back
        # (retention and tenure count to the first churn)
        assert (model.churn_step[churned_stage[model.stage]] >= 0).all()
        if not run.winback:
            assert (model.churn_step[model.active] < 0).all()
    if not run.winback:
        assert returned == 0


@PROPERTY
@given(runs)
def test_costs_and_revenue_are_non_negative(run):
    model = run.model().run()
    ts = model.timeseries()
    cost_cols = [c for c in ts.columns if c.startswith("cost_")]
    assert {"cost_fixed", "cost_staff", "cost_touch", "cost_total"} <= set(cost_cols)
    for col in cost_cols:
        assert (ts[col] >= 0).all(), col
    parts = ts[[c for c in cost_cols if c != "cost_total"]].sum(axis=1)
    np.testing.assert_allclose(ts["cost_total"], parts, rtol=1e-9, atol=1e-9)
    assert (ts["revenue"] >= 0).all()
    assert (ts["margin"] >= 0).all() and (ts["margin"] <= ts["revenue"] + 1e-9).all()
    customers = model.customers_frame()
    for col in ("cost_to_serve", "acquisition_cost", "revenue", "ltv", "contract_revenue"):
        assert (customers[col] >= 0).all(), col
    summary = model.summary()
    assert summary["revenue_total"] >= 0
    assert summary["cost_total"] >= 0
    np.testing.assert_allclose(summary["revenue_total"], ts["revenue"].sum(), rtol=1e-9)


@PROPERTY
@given(runs)
def test_same_seed_gives_the_same_run(run):
    a = run.model().run()
    b = run.model()
    for _ in range(b.horizon):  # stepping by hand is the same as run()
        b.step()
    pd.testing.assert_frame_equal(a.timeseries(), b.timeseries())
    pd.testing.assert_frame_equal(a.customers_frame(), b.customers_frame())
    assert json.dumps(jsonable(a.summary(seed=run.seed))) == json.dumps(
        jsonable(b.summary(seed=run.seed))
    )


@PROPERTY
@given(runs)
def test_summary_retention_is_a_share_and_non_increasing(run):
    summary = run.model().run().summary()
    curves = [summary["retention"]] + [s["retention"] for s in summary["segments"].values()]
    for curve in curves:
        months = [int(m) for m in curve]
        assert months == sorted(months)
        assert set(months) <= set(RETENTION_MONTHS)
        assert all(m <= run.months for m in months)
        assert in_unit_interval(list(curve.values())), curve
    # a survival curve (Kaplan–Meier over cohorts converting at different times) never rises
    for curve in curves:
        values = list(curve.values())
        assert all(b <= a for a, b in itertools.pairwise(values)), curve


def test_winback_runs_do_bring_customers_back():
    """The win-back knob is live, so the property above tests something."""
    run = Run(7, 400, 12, "no_touch", "month", winback=True, installed_base=True)
    adoption = None
    returned = 0
    for model, before in stepped(run):
        churned_stage = model.spec.lifecycle.kind_mask("churned")
        adoption = model.spec.lifecycle.index("adoption")
        returned += int(np.count_nonzero(churned_stage[before] & (model.stage == adoption)))
    assert adoption is not None
    assert returned > 0


def test_retention_never_rises_with_mixed_cohorts():
    # 10 installed-base customers who all stay, 10 converted at step 8 who churn at 9
    converted = np.array([0] * 10 + [8] * 10)
    churn = np.array([-1] * 10 + [9] * 10)
    curve = retention(converted, churn, steps=12, steps_per_month=1.0)
    values = list(curve.values())
    assert all(b <= a for a, b in itertools.pairwise(values)), curve
    # Kaplan–Meier: half of those at risk at month 1 churn there → 0.5 from then on
    assert curve == {"3": 0.5, "6": 0.5, "12": 0.5}


# ----------------------------------------------------------------------------------
# stage probabilities


@st.composite
def edges_and_inputs(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, 500))
    from_trait = draw(st.booleans())
    names = draw(st.lists(st.sampled_from(sorted(DRIVERS)), unique=True, max_size=4))
    edge = Edge(
        source=0,
        target=1,
        base=None if from_trait else draw(st.floats(1e-9, 1 - 1e-9)),
        base_source="churn_propensity" if from_trait else None,
        odds=draw(st.floats(1e-3, 1e3)),
        drivers=tuple((d, draw(st.floats(-20.0, 20.0))) for d in names),
        referral=draw(st.sampled_from([0.0, 0.3, 1.0])),
    )
    size = 2 * n
    rows = np.sort(rng.choice(size, size=n, replace=False))
    drivers = {d: rng.uniform(-0.5, 0.5, size) for d in DRIVERS}
    drivers["tenure"] = rng.uniform(0.0, 10.0, size)
    drivers["months_in_stage"] = rng.uniform(0.0, 5.0, size)
    drivers["touch"] = rng.uniform(0.0, 1.0, size)
    base_logit = {"churn_propensity": rng.normal(-3.0, 3.0, size), "marketing": -3.9}
    pressure = rng.uniform(0.0, 1.0, size) if draw(st.booleans()) else None
    return edge, rows, drivers, base_logit, pressure


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(edges_and_inputs())
def test_edge_rate_is_a_probability(case):
    edge, rows, drivers, base_logit, pressure = case
    rate, referral_rate = edge_rate(edge, rows, drivers, base_logit, pressure)
    rate = np.broadcast_to(rate, rows.shape)
    referral_rate = np.broadcast_to(referral_rate, rows.shape)
    assert np.isfinite(rate).all() and (rate >= 0).all()
    assert (referral_rate >= 0).all() and (referral_rate <= rate + 1e-12).all()
    p = -np.expm1(-rate)
    assert in_unit_interval(p)
    # word of mouth adds the rate q · pressure: p = 1 − (1 − sigmoid(z)) · e^{−q · pressure}
    if edge.base_source is None:
        z = np.full(rows.size, math.log(edge.base / (1 - edge.base)))
    else:
        z = base_logit[edge.base_source][rows].copy()
    z += math.log(edge.odds)
    for name, beta in edge.drivers:
        z += beta * drivers[name][rows]
    word = edge.referral * pressure[rows] if edge.referral and pressure is not None else 0.0
    expected = 1.0 - (1.0 - _sigmoid(z)) * np.exp(-word)
    np.testing.assert_allclose(p, expected, rtol=1e-6, atol=1e-9)


@st.composite
def competing_rates(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, 3000))
    k = draw(st.integers(1, 4))
    rates = []
    for _ in range(k):
        kind = draw(st.sampled_from(("scalar", "array", "zero", "huge")))
        if kind == "scalar":
            rates.append(draw(st.floats(0.0, 3.0)))
        elif kind == "array":
            rates.append(rng.exponential(0.3, n) * (rng.random(n) < 0.8))
        elif kind == "zero":
            rates.append(0.0)
        else:
            rates.append(50.0)
    steps_per_month = draw(st.sampled_from((1.0, 52.0 / 12.0)))
    return rates, n, steps_per_month, rng.random(n)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(competing_rates())
def test_choose_exits_picks_valid_edges_at_the_right_rates(case):
    rates, n, spm, u = case
    k = len(rates)
    choice, share = choose_exits(rates, n, spm, u)
    assert choice.shape == (n,)
    assert choice.min() >= -1 and choice.max() <= k - 1
    moved = choice >= 0
    assert share.shape == (int(moved.sum()),) or (share.size == 0 and not moved.any())
    assert ((share >= 0) & (share < 1)).all()
    lam = np.array([np.broadcast_to(r, (n,)) for r in rates]) / spm
    total = lam.sum(axis=0)
    p_exit = -np.expm1(-total)
    # exactly the customers whose uniform falls in the exit interval leave
    assert np.array_equal(moved, u < p_exit)
    # never along an edge with rate 0
    assert not (lam[choice[moved], np.flatnonzero(moved)] == 0).any()
    # the empirical shares agree with the competing-risks probabilities (6 sigma)
    for j in range(k):
        q = np.divide(lam[j], total, out=np.zeros(n), where=total > 0) * p_exit
        sd = math.sqrt(float((q * (1 - q)).sum()))
        assert abs(np.count_nonzero(choice == j) - q.sum()) <= 6 * sd + 1, j
    sd = math.sqrt(float((p_exit * (1 - p_exit)).sum()))
    assert abs(moved.sum() - p_exit.sum()) <= 6 * sd + 1


def test_choose_exits_with_no_rates_moves_nobody():
    u = np.random.default_rng(0).random(100)
    choice, share = choose_exits([0.0, np.zeros(100)], 100, 1.0, u)
    assert (choice == -1).all() and share.size == 0
