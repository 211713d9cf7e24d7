"""Inputs in the units a business uses: annual churn, ACV, a Beta by its mean and sd, and
the CSM teams stated once at the top level (annual or monthly loaded cost)."""

from __future__ import annotations

import copy
import tomllib

import numpy as np
import pytest
from scenario_cases import FILE, RAW, check
from scipy import stats

from sim import EngagementModel, InputError
from sim.engine.scenario import SCENARIO_DIR, from_dict
from sim.engine.segments import Distribution, beta_from_moments, monthly_churn

CONSTANT = tomllib.loads((SCENARIO_DIR / "constant_churn.toml").read_text())


def _error(raw) -> InputError:
    with pytest.raises(InputError) as info:
        from_dict(raw, FILE)
    return info.value


def _constant(annual: dict, step: str = "month") -> dict:
    """``constant_churn.toml`` (odds 1, no drivers) with the churn stated per year."""
    raw = copy.deepcopy(CONSTANT)
    seg = raw["segments"]["everyone"]
    del seg["churn_propensity"]
    seg["annual_churn"] = annual
    raw["time"]["step"] = step
    return raw


# ----------------------------------------------------------------------------------
# annual churn


def test_monthly_churn_is_exact_over_twelve_months():
    a = np.array([0.0, 0.01, 0.1, 0.5, 0.99, 1.0])
    m = monthly_churn(a)
    assert np.allclose(1.0 - (1.0 - m) ** 12, a, rtol=0, atol=1e-15)
    assert monthly_churn(1e-12) == pytest.approx(1e-12 / 12, rel=1e-9)  # no cancellation


def test_fixed_annual_churn_becomes_the_fixed_monthly_value():
    s = from_dict(_constant({"dist": "fixed", "value": 0.2}))
    dist = s.segments[0].traits["churn_propensity"]
    assert dist.kind == "fixed"
    assert dist.params[0] == pytest.approx(1 - 0.8 ** (1 / 12), rel=1e-14)


def test_a_beta_annual_churn_is_converted_per_draw():
    s = from_dict(_constant({"dist": "beta", "alpha": 2.0, "beta": 6.0}))
    dist = s.segments[0].traits["churn_propensity"]
    assert dist.annual_churn and dist.kind == "beta"
    draws = dist.sample(np.random.default_rng(3), 200_000)
    a = stats.beta(2.0, 6.0).rvs(size=200_000, random_state=np.random.default_rng(3))
    assert np.allclose(draws, monthly_churn(a))
    # the mean of m is not the mean of a / 12: it is E[1 − (1 − a)^(1/12)]
    expected = stats.beta(2.0, 6.0).expect(lambda x: 1 - (1 - x) ** (1 / 12))
    assert dist.mean() == pytest.approx(expected, rel=1e-9)
    assert dist.mean() > 0.25 / 12


@pytest.mark.parametrize("step", ["month", "week"])
def test_simulated_twelve_month_churn_equals_the_stated_annual_churn(step):
    """On an edge with odds 1 and no drivers, 1 − retention at 12 months = E[a] (4 SE)."""
    annual = {"dist": "beta", "mean": 0.3, "sd": 0.12}
    n = 8000
    model = EngagementModel(from_dict(_constant(annual, step)), "none", rng=11,
                            customers=n, months=12).run()
    churned = 1.0 - model.summary()["retention"]["12"]
    se = np.sqrt(0.3 * 0.7 / n)
    assert abs(churned - 0.3) < 4 * se, (churned, se)
    # and it can fail: the monthly reading of the same number churns far more
    assert 1 - (1 - 0.3) ** 12 - churned > 20 * se


def test_both_churn_forms_or_neither_are_errors():
    raw = _constant({"dist": "fixed", "value": 0.2})
    raw["segments"]["everyone"]["churn_propensity"] = {"dist": "fixed", "value": 0.01}
    check(_error(raw), FILE, "segments.everyone.annual_churn", "either churn_propensity",
          "not both")
    del raw["segments"]["everyone"]["churn_propensity"], raw["segments"]["everyone"][
        "annual_churn"]
    check(_error(raw), FILE, "segments.everyone.annual_churn", "required key is missing",
          "or churn_propensity (per month)")


# ----------------------------------------------------------------------------------
# a Beta by its mean and sd


def test_beta_from_moments_recovers_mean_and_sd():
    alpha, beta = beta_from_moments(0.1, 0.06)
    dist = stats.beta(alpha, beta)
    assert dist.mean() == pytest.approx(0.1) and dist.std() == pytest.approx(0.06)


@pytest.mark.parametrize(
    ("table", "key", "expected"),
    [
        ({"dist": "beta", "mean": 0.1, "sd": 0.31}, "sd", "needs 0 < sd < sqrt(mean·(1 − mean))"),
        ({"dist": "beta", "mean": 1.2, "sd": 0.1}, "mean", "expected a mean in (0, 1)"),
        ({"dist": "beta", "mean": 0.0, "sd": 0.1}, "mean", "expected a mean in (0, 1)"),
        ({"dist": "beta", "mean": 0.1, "sd": 0.0}, "sd", "expected a positive number"),
        ({"dist": "beta", "mean": 0.1, "alpha": 2.0}, "alpha", "not both"),
    ],
)
def test_impossible_beta_moments_are_clear_errors(table, key, expected):
    check(_error(_constant(table)), FILE, f"segments.everyone.annual_churn.{key}", expected)


# ----------------------------------------------------------------------------------
# ACV


def test_acv_is_the_monthly_revenue_times_twelve():
    raw = copy.deepcopy(RAW)
    s = from_dict(raw)
    enterprise = raw["segments"]["enterprise"]["acv"]
    revenue = s.segments[0].traits["revenue"]
    assert revenue == Distribution("lognormal", (enterprise["mean"] / 12, enterprise["sd"] / 12))
    for kind, params in [("fixed", {"value": 1200.0}), ("uniform", {"low": 0.0, "high": 2400.0}),
                         ("normal", {"mean": 1200.0, "sd": 120.0})]:
        raw["segments"]["smb"]["acv"] = {"dist": kind, **params}
        got = from_dict(raw).segments[2].traits["revenue"]
        assert got.kind == kind and got.params == tuple(v / 12 for v in params.values())


def test_acv_refuses_a_beta_and_both_forms():
    raw = copy.deepcopy(RAW)
    raw["segments"]["smb"]["acv"] = {"dist": "beta", "alpha": 2.0, "beta": 2.0}
    check(_error(raw), FILE, "segments.smb.acv.dist", "dividing it by 12", "not \"beta\"")
    raw["segments"]["smb"]["revenue"] = {"dist": "fixed", "value": 300.0}
    check(_error(raw), FILE, "segments.smb.acv", "either revenue (per month) or acv")


# ----------------------------------------------------------------------------------
# teams stated once


def test_every_policy_inherits_the_top_level_teams():
    s = from_dict(RAW)
    named = s.policies["high_touch"].teams["named"]
    assert s.policies["hybrid"].teams["named"] == named
    assert named.monthly_cost == pytest.approx(RAW["teams"]["named"]["annual_cost"] / 12)
    assert named.accounts_per_csm == RAW["teams"]["named"]["accounts_per_csm"]
    assert s.policies["no_touch"].teams == {}  # no CSM programs, no team
    # hybrid overrides only the pooled book size
    pooled, hybrid_pooled = s.policies["low_touch"].teams["pooled"], s.policies[
        "hybrid"].teams["pooled"]
    assert hybrid_pooled.accounts_per_csm == 400 != pooled.accounts_per_csm
    assert hybrid_pooled.monthly_cost == pooled.monthly_cost


def test_one_path_changes_every_policy_and_a_policy_may_override():
    s = from_dict(RAW, overrides={"teams.named.annual_cost": 240000.0})
    assert {p: t["named"].monthly_cost for p, t in
            ((n, p.teams) for n, p in s.policies.items()) if "named" in t} == {
        "high_touch": 20000.0, "hybrid": 20000.0}
    s = from_dict(RAW, overrides={"policies.high_touch.teams": {"named": {"monthly_cost": 7000}}})
    assert s.policies["high_touch"].teams["named"].monthly_cost == 7000.0
    assert s.policies["hybrid"].teams["named"].monthly_cost == pytest.approx(150000 / 12)


def test_a_policy_can_list_the_teams_it_staffs():
    s = from_dict(RAW, overrides={"policies.no_touch.teams": ["pooled"]})
    assert s.policies["no_touch"].teams["pooled"] == s.policies["low_touch"].teams["pooled"]
    raw = copy.deepcopy(RAW)
    del raw["teams"]["pooled"]
    raw["policies"]["low_touch"]["teams"] = ["pooled"]
    check(_error(raw), FILE, "policies.low_touch.teams.pooled",
          "no top-level [teams.pooled] table")


def test_full_per_policy_team_tables_still_work_without_top_level_teams():
    raw = copy.deepcopy(RAW)
    teams = raw.pop("teams")
    raw["uncertainties"] = {}
    for name in ("low_touch", "high_touch", "hybrid"):
        raw["policies"][name]["teams"] = {
            kind: {**{k: v for k, v in team.items() if k != "annual_cost"},
                   "monthly_cost": 9000.0}
            for kind, team in teams.items()
        }
    s = from_dict(raw)
    assert s.policies["hybrid"].teams["named"].monthly_cost == 9000.0


def test_annual_and_monthly_cost_together_is_an_error():
    raw = copy.deepcopy(RAW)
    raw["teams"]["named"]["monthly_cost"] = 9000.0
    check(_error(raw), FILE, "teams.named.annual_cost", "either as annual_cost", "not both")


def test_an_override_of_a_whole_trait_replaces_it_in_either_unit():
    """E.g. ``engagesim calibrate``'s churn_propensity overrides on the default scenario."""
    s = from_dict(RAW, overrides={
        "segments.smb.churn_propensity": {"dist": "fixed", "value": 0.02},
        "segments.enterprise.revenue": {"dist": "fixed", "value": 5000.0},
    })
    assert s.segments[2].traits["churn_propensity"] == Distribution("fixed", (0.02,))
    assert s.segments[0].traits["revenue"] == Distribution("fixed", (5000.0,))
    assert "annual_churn" not in s.raw["segments"]["smb"] and "acv" in s.raw["segments"]["smb"]
    # a key inside the table is an ordinary override
    s = from_dict(RAW, overrides={"segments.smb.annual_churn.mean": 0.3})
    assert s.raw["segments"]["smb"]["annual_churn"] == {"dist": "beta", "mean": 0.3, "sd": 0.15}
