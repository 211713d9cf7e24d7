"""Calibration to a cohort table (sim.theory.calibration): the typed result and its JSON,
the scenario fragment, and the round trip from a fitted table into a simulation that
reproduces it.

That the fitted churn, simulated, follows the fitted curve and reproduces the table is
the validation suite's calibration checks; a test here asserts their own verdicts (at
the suite's --fast sizes and seeds).
"""

from __future__ import annotations

import copy
import json
import tomllib

import numpy as np
import pytest
from cohort_cases import (
    EXAMPLE,
    FH_HIGH_END,
    FH_REGULAR,
    K,
    binomial_se,
    table_text,
    write_table,
)
from scipy.special import betaln

from sim import EngagementModel, InputError, load_scenario
from sim.engine.scenario import from_dict
from sim.theory.calibration import (
    EXAMPLE_SEGMENTS,
    SegmentFit,
    calibrate,
    fragment_path,
    monthly_beta,
    scenario_fragment,
    scenario_overrides,
    write_outputs,
)
from sim.theory.cohorts import read_cohorts
from sim.theory.sbg import SBGFit, fit_sbg, survival
from sim.validation.calibration import (
    make_cohorts,
    simulate_segment,
    simulation_fit_check,
    simulation_table_check,
)
from sim.validation.suite import FAST, SEEDS

GOOD = "segment,period,alive\nsmb,0,100\nsmb,1,80\nsmb,2,70\n"


# ----------------------------------------------------------------------------------
# the published example


def test_fader_hardie_published_estimates(tmp_path):
    path = write_table(tmp_path, table_text({"regular": FH_REGULAR, "high_end": FH_HIGH_END}))
    result = calibrate(path, fit_periods=7, horizon=12)
    published = {"regular": (0.704, 1.182, -1680.3), "high_end": (0.668, 3.806, -1611.2)}
    for name, (alpha, beta, ll) in published.items():
        seg = result.segments[name]
        assert seg.alpha == pytest.approx(alpha, abs=0.0005)
        assert seg.beta == pytest.approx(beta, abs=0.0005)
        assert seg.log_likelihood == pytest.approx(ll, abs=0.05)
        assert seg.fit_periods == 7
        # the paper's point: seven years project the next five within a couple of points
        observed = np.array(seg.observed)
        assert np.max(np.abs(np.array(seg.survival)[8:] - observed[8:])) < 0.02


# ----------------------------------------------------------------------------------
# bad input


def test_errors_name_the_table_and_the_segment(tmp_path):
    """A bad table reads as :func:`read_cohorts` reports it; a bad fit names the segment."""
    bad = write_table(
        tmp_path, GOOD + "enterprise,0,50\nenterprise,1,40\nsmb,3,72\nenterprise,2,45\n",
        "my cohorts.csv",
    )
    with pytest.raises(InputError) as info:
        calibrate(bad)
    with pytest.raises(InputError) as read:
        read_cohorts(bad)
    assert str(info.value) == str(read.value)
    flat = write_table(tmp_path, GOOD + "enterprise,0,50\nenterprise,1,50\nenterprise,2,50\n")
    with pytest.raises(InputError) as info:
        calibrate(flat)
    msg = str(info.value)
    assert info.value.file == str(flat) and info.value.key == "segment enterprise", msg
    assert msg.startswith(f"{flat}: segment enterprise: "), msg
    assert "nobody churned in periods 0..2" in msg and "\n" not in msg, msg


def test_bad_fit_periods_and_horizon(tmp_path):
    path = write_table(tmp_path, GOOD)
    with pytest.raises(InputError) as info:
        calibrate(path, fit_periods=5)
    assert info.value.file == str(path) and info.value.key == "segment smb"
    assert "fit_periods is 5 but the table stops at period 2" in str(info.value)
    for bad in (1, 0, 2.5):
        with pytest.raises(InputError, match="fit_periods"):
            calibrate(path, fit_periods=bad)
    for bad in (0, -1, 1.5):
        with pytest.raises(InputError, match="horizon"):
            calibrate(path, horizon=bad)


# ----------------------------------------------------------------------------------
# the result and the outputs


def test_calibrate_result_and_outputs(tmp_path):
    result = calibrate(EXAMPLE, fit_periods=6, horizon=24)
    assert result.horizon == 24 and list(result.segments) == ["smb", "enterprise"]
    assert list(result.to_dict()) == ["model", "table", "horizon", "segments"]
    for seg in result.segments.values():
        assert list(seg.to_dict()) == [
            "alpha", "beta", "alpha_se", "beta_se", "log_likelihood", "fit_periods",
            "cohort_size", "survival", "survival_se", "retention_rate", "observed", "warning"]
        assert seg.fit_periods == 6 and seg.horizon == 24
        s = np.array(seg.survival)
        assert s.size == 25 and s[0] == 1.0 and np.all(np.diff(s) < 0)
        np.testing.assert_allclose(seg.retention_rate, s[1:] / s[:-1], rtol=1e-12)
        np.testing.assert_allclose(s, survival(seg.alpha, seg.beta, 24))
    default = calibrate(EXAMPLE)
    assert default.horizon == 12  # the table's last period
    assert all(s.fit_periods == 12 for s in default.segments.values())

    out = tmp_path / "new" / "fit.json"
    json_path, toml_path = write_outputs(result, out)
    assert (json_path, toml_path) == (out, fragment_path(out)) == (out, tmp_path / "new/fit.toml")
    assert json.loads(json_path.read_text()) == result.to_dict()
    fragment = tomllib.loads(toml_path.read_text())
    assert set(fragment["segments"]) == {"smb", "enterprise"}
    assert sorted(p.name for p in out.parent.iterdir()) == ["fit.json", "fit.toml"]  # no temps
    with pytest.raises(InputError, match=r"cannot end in \.toml"):
        write_outputs(result, tmp_path / "fit.toml")


def test_fragment_text_is_toml_with_the_fitted_numbers():
    fits = {
        "smb": fit_sbg(np.array(FH_REGULAR[:8])),
        "big accounts": fit_sbg(np.array(FH_HIGH_END[:8])),  # a name that needs quotes
    }
    text = scenario_fragment(fits, source="retention.csv")
    parsed = tomllib.loads(text)
    assert list(parsed) == ["segments"]
    for name, fit in fits.items():
        churn = parsed["segments"][name]["churn_propensity"]
        assert churn["dist"] == "beta"
        assert churn["alpha"] == pytest.approx(fit.alpha, rel=1e-5)
        assert churn["beta"] == pytest.approx(fit.beta, rel=1e-5)
    assert '[segments."big accounts"]' in text
    assert "retention.csv" in text and 'base = "churn_propensity"' in text
    assert "± " in text  # the standard errors are stated
    assert all(len(line) <= 100 for line in text.splitlines())
    # the same from the JSON entries
    entries = {k: SegmentFit.from_fit(f, 12) for k, f in fits.items()}
    assert tomllib.loads(scenario_fragment(entries)) == parsed
    from_json = tomllib.loads(scenario_fragment({k: e.to_dict() for k, e in entries.items()}))
    assert from_json == parsed
    overrides = scenario_overrides(fits)
    assert overrides["segments.smb.churn_propensity"]["alpha"] == fits["smb"].alpha


def test_undefined_standard_errors_are_json_null():
    never = fit_sbg(np.array([100, 60, 60, 60, 60]))  # 40 % leave, the rest never do
    entry = SegmentFit.from_fit(never, 4)
    assert entry.alpha_se is None and entry.to_dict()["alpha_se"] is None  # null, not NaN
    assert entry.warning == never.warning() and entry.horizon == 4
    json.dumps(entry.to_dict(), allow_nan=False)


@pytest.mark.parametrize("period_months", [3.0, 12.0, 0.25])
def test_monthly_equivalent_of_other_period_lengths(period_months):
    alpha, beta, periods = 0.7, 3.0, 12
    a, b, error = monthly_beta(alpha, beta, period_months, periods)
    months = np.arange(1, int(np.ceil(period_months * periods)) + 1)
    exact = np.exp(betaln(alpha, beta + months / period_months) - betaln(alpha, beta))
    approx = survival(a, b, int(months[-1]))[months]
    assert np.max(np.abs(approx - exact)) == pytest.approx(error)
    assert error < 0.005
    assert monthly_beta(1.0, 3.0, 12.0, 12)[:2] == pytest.approx((1.0, 36.0), rel=1e-6)  # exact
    assert monthly_beta(alpha, beta, 1, periods) == (alpha, beta, 0.0)
    text = scenario_fragment({"x": fit_sbg(np.array(FH_REGULAR[:8]))}, period_months)
    assert f"= {period_months:g} months" in text
    tomllib.loads(text)
    with pytest.raises(InputError, match="period_months"):
        scenario_fragment({}, 0)


# ----------------------------------------------------------------------------------
# into a simulation


def simulated_alive(model: EngagementModel, segment: int | None = None) -> np.ndarray:
    """Customers active at the end of steps 0..horizon (period t = end of step t)."""
    rows = np.ones(model.n, bool) if segment is None else model.segment == segment
    t = np.arange(model.horizon + 1)
    churn = model.churn_step[rows]
    return ((churn[None, :] < 0) | (churn[None, :] > t[:, None])).sum(axis=1)


@pytest.mark.parametrize("period_months", [1, 3.0])
def test_fragment_sets_what_scenario_overrides_set(period_months):
    """The TOML fragment and the overrides carry the same Beta (6 significant digits)."""
    fits = {
        "smb": fit_sbg(np.array(FH_REGULAR[:8])),
        "big accounts": fit_sbg(np.array(FH_HIGH_END[:8])),
    }
    fragment = tomllib.loads(scenario_fragment(fits, period_months))["segments"]
    overrides = scenario_overrides(fits, period_months)
    assert list(overrides) == [f"segments.{name}.churn_propensity" for name in fits]
    for name in fits:
        churn = fragment[name]["churn_propensity"]
        expected = overrides[f"segments.{name}.churn_propensity"]
        assert churn["dist"] == expected["dist"] == "beta"
        assert churn["alpha"] == pytest.approx(expected["alpha"], rel=1e-5)
        assert churn["beta"] == pytest.approx(expected["beta"], rel=1e-5)


def test_fitted_churn_in_a_simulation_reproduces_the_table():
    """The validation's simulation checks pass: a fitted Beta churn propensity on the
    driver-free churn edge of ``constant_churn`` (:func:`scenario_overrides`) follows the
    fitted curve and gives back the cohort table."""
    cohorts = make_cohorts(FAST.cohort_replicates, SEEDS["cohort"])
    simulated = [simulate_segment(c, SEEDS["cohort_sim"] + i) for i, c in enumerate(cohorts)]
    assert simulation_fit_check(cohorts, simulated).passed
    assert simulation_table_check(cohorts, simulated).passed


def test_active_customers_are_those_not_yet_churned():
    """The timeseries' ``active`` is what :func:`simulated_alive` counts from churn steps."""
    n, periods = 2000, 12
    fit = fit_sbg(np.array(FH_REGULAR[:8]))
    scenario = load_scenario("constant_churn", overrides=scenario_overrides({"everyone": fit}))
    model = EngagementModel(scenario, "none", rng=11, customers=n, months=periods).run()
    alive = np.concatenate([[n], model.timeseries()["active"].to_numpy()])
    np.testing.assert_array_equal(alive, simulated_alive(model))


def test_example_fragment_plugs_into_a_two_segment_scenario():
    """Paste the shipped example's fragment into a scenario: the run matches the table."""
    cohorts = read_cohorts(EXAMPLE)
    result = calibrate(EXAMPLE)
    fragment = tomllib.loads(scenario_fragment(result.segments))
    raw = copy.deepcopy(dict(load_scenario("constant_churn").raw))
    template = raw["segments"].pop("everyone")
    total = sum(int(c[0]) for c in cohorts.values())
    for name, alive in cohorts.items():
        raw["segments"][name] = {**template, "share": int(alive[0]) / total,
                                 **fragment["segments"][name]}
    periods = 12
    raw["population"]["customers"] = total
    raw["time"]["months"] = periods
    scenario = from_dict(raw, "calibrated.toml", name="calibrated")
    model = EngagementModel(scenario, "none", rng=3).run()
    for k, name in enumerate(scenario.segment_names):
        table = cohorts[name]
        n = int(table[0])
        alive = simulated_alive(model, k)
        assert alive[0] == n
        curve = np.array(result.segments[name].survival)
        se = binomial_se(curve, n)
        assert np.all(np.abs(alive / n - curve) <= K * se + 1e-12), name
        assert np.all(np.abs(alive - table) / n <= K * np.sqrt(2) * se + 1e-12), name


# ----------------------------------------------------------------------------------
# the shipped example


def test_shipped_example_fits_sensibly():
    result = calibrate(EXAMPLE)
    segments = result.segments
    for name, truth in EXAMPLE_SEGMENTS.items():
        seg = segments[name]
        assert seg.cohort_size == truth["n"] and seg.warning is None
        assert abs(seg.alpha - truth["alpha"]) < K * seg.alpha_se
        assert abs(seg.beta - truth["beta"]) < K * seg.beta_se
        assert np.all(np.diff(seg.retention_rate) > 0)  # churn falls as cohorts age
        observed, fitted = np.array(seg.observed), np.array(seg.survival)
        assert np.all(np.abs(observed - fitted) < K * binomial_se(fitted, truth["n"]) + 1e-12)
    assert segments["enterprise"].survival[12] > segments["smb"].survival[12]
    assert isinstance(fit_sbg(read_cohorts(EXAMPLE)["smb"]), SBGFit)
