"""Calibration to cohort retention (sim.theory.sbg): the sBG model, its fit, bad tables,
and the round trip from a fitted table into a simulation that reproduces it.

Tolerances are K = 4 standard errors: of the parameters (observed information), of a
binomial share at the cohort's size, or both combined where two independent errors add.
"""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.special import betaln

from sim import EngagementModel, InputError, load_scenario
from sim.engine.scenario import SCENARIO_DIR, from_dict
from sim.theory.calibration import (
    EXAMPLE_SEGMENTS,
    SegmentFit,
    calibrate,
    example_cohorts,
    fragment_path,
    monthly_beta,
    scenario_fragment,
    scenario_overrides,
    simulate_cohort,
    write_outputs,
)
from sim.theory.cohorts import read_cohorts, write_cohorts
from sim.theory.sbg import SBGFit, fit_sbg, log_likelihood, loglik_hessian, retention_rate, survival

K = 4.0
EXAMPLE = SCENARIO_DIR / "cohorts_example.csv"

# Fader & Hardie (2007), "How to project customer retention", Table 1: % of an initial
# cohort of 1000 still customers after 0..12 years; the model is fitted to years 0..7.
FH_REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241, 221, 207, 194, 183, 173]
FH_HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491, 468, 445, 427, 409, 394]


def binomial_se(p: np.ndarray, n: int) -> np.ndarray:
    return np.sqrt(p * (1 - p) / n)


def write_table(tmp_path: Path, text: str, name: str = "cohorts.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def table_text(cohorts: dict[str, list[int]]) -> str:
    lines = ["segment,period,alive"]
    for name, alive in cohorts.items():
        lines += [f"{name},{t},{n}" for t, n in enumerate(alive)]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------
# the model


def test_survival_is_the_beta_mixture_of_geometric_survival():
    a, b, h = 0.7, 3.0, 10
    s = survival(a, b, h)
    assert s[0] == 1.0
    for t in (1, 2, 5, 10):  # S(t) = E[(1 − θ)^t], θ ~ Beta(α, β)
        assert s[t] == pytest.approx(stats.beta(a, b).expect(lambda x, t=t: (1 - x) ** t))
    # P(T = t) = B(α + 1, β + t − 1) / B(α, β) = S(t − 1) − S(t)
    t = np.arange(1, h + 1)
    pmf = np.exp(betaln(a + 1, b + t - 1) - betaln(a, b))
    np.testing.assert_allclose(s[:-1] - s[1:], pmf, rtol=1e-12)
    np.testing.assert_allclose(retention_rate(a, b, h), s[1:] / s[:-1], rtol=1e-12)
    assert np.all(np.diff(retention_rate(a, b, h)) > 0)  # the riskiest leave first


def test_analytic_hessian_matches_finite_differences():
    alive = np.array(FH_REGULAR[:8])
    for point in [(0.704, 1.182), (2.0, 5.0)]:
        x0 = np.array(point)
        step = 1e-4 * x0

        def ll(shift: np.ndarray, x0=x0, step=step) -> float:
            return log_likelihood(*(x0 + shift * step), alive)

        num = np.empty((2, 2))
        for i, j in np.ndindex(2, 2):
            ei, ej = np.eye(2)[i], np.eye(2)[j]
            num[i, j] = (ll(ei + ej) - ll(ei - ej) - ll(ej - ei) + ll(-ei - ej)) / (
                4 * step[i] * step[j]
            )
        np.testing.assert_allclose(loglik_hessian(*x0, alive), num, rtol=1e-5)


def test_fit_is_the_maximum():
    alive = np.array(FH_HIGH_END[:8])
    fit = fit_sbg(alive)
    assert fit.converged and not fit.at_bound
    for da, db in [(1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3), (1e-3, 1e-3)]:
        other = log_likelihood(fit.alpha * (1 + da), fit.beta * (1 + db), alive)
        assert other < fit.log_likelihood
    # the covariance is the inverse observed information
    info = -loglik_hessian(fit.alpha, fit.beta, alive)
    np.testing.assert_allclose(fit.covariance @ info, np.eye(2), atol=1e-9)
    assert fit.alpha_se == pytest.approx(np.sqrt(fit.covariance[0, 0]))


# ----------------------------------------------------------------------------------
# recovery of known parameters


@pytest.mark.parametrize(
    ("alpha", "beta", "n", "seed"),
    [(0.7, 1.2, 5000, 11), (0.7, 3.0, 10000, 12), (3.0, 12.0, 10000, 13), (2.0, 40.0, 20000, 14)],
)
def test_fit_recovers_generating_parameters_and_forecasts(alpha, beta, n, seed):
    fit_periods, horizon = 12, 24
    alive = simulate_cohort(alpha, beta, n, horizon, np.random.default_rng(seed))
    fit = fit_sbg(alive, fit_periods)
    assert fit.converged and not fit.at_bound and fit.warning() is None
    z = ((fit.alpha - alpha) / fit.alpha_se, (fit.beta - beta) / fit.beta_se)
    assert max(map(abs, z)) < K, z
    # forecast beyond the fitted periods: against the generating model, within the
    # parameter uncertainty (delta method) ...
    t = np.arange(fit_periods + 1, horizon + 1)
    forecast, se = fit.survival(horizon)[t], fit.survival_se(horizon)[t]
    truth = survival(alpha, beta, horizon)[t]
    assert np.all(np.abs(forecast - truth) < K * se), (forecast - truth) / se
    # ... and against the held-out observations (binomial noise + parameter uncertainty)
    observed = alive[t] / n
    total = np.sqrt(binomial_se(truth, n) ** 2 + se**2)
    assert np.all(np.abs(forecast - observed) < K * total)


def test_standard_errors_are_calibrated():
    """Across replicate cohorts the z-scores of α and β are close to standard normal."""
    alpha, beta, n = 0.7, 3.0, 5000
    rng = np.random.default_rng(99)
    z = []
    for _ in range(200):
        fit = fit_sbg(simulate_cohort(alpha, beta, n, 12, rng))
        z.append(((fit.alpha - alpha) / fit.alpha_se, (fit.beta - beta) / fit.beta_se))
    z = np.array(z)
    assert np.all(np.abs(z.mean(axis=0)) < 0.25), z.mean(axis=0)
    assert np.all(np.abs(z.std(axis=0) - 1) < 0.15), z.std(axis=0)
    assert np.all(np.mean(np.abs(z) > 1.96, axis=0) < 0.10)


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
# bad tables

GOOD = "segment,period,alive\nsmb,0,100\nsmb,1,80\nsmb,2,70\n"
BAD_TABLES = {
    "empty file": ("", "", "empty file"),
    "blank lines only": ("\n\n  \n", "", "empty file"),
    "header only": ("period,alive\n", "", "no data rows"),
    "no header": ("0,100\n1,80\n2,70\n", "row 1", "the first row must be a header"),
    "missing column": ("period\n0\n1\n2\n", "row 1", "missing column 'alive'"),
    "misspelt column": (
        "period,alvie\n0,100\n", "row 1", "unknown column 'alvie' (did you mean 'alive'?)"
    ),
    "unknown column": ("period,alive,cohort\n0,100,a\n", "row 1", "unknown column 'cohort'"),
    "duplicate column": ("period,alive,alive\n", "row 1", "column 'alive' appears twice"),
    "wrong field count": ("period,alive\n0,100\n1,80,3\n", "row 3", "expected 2 values"),
    "non-integer count": ("period,alive\n0,100\n1,85.5\n2,70\n", "row 3",
                          "alive: expected a whole number, got '85.5'"),
    "text count": ("period,alive\n0,100\n1,lots\n", "row 3",
                   "alive: expected a whole number, got 'lots'"),
    "empty count": ("period,alive\n0,100\n1,\n", "row 3", "alive is empty"),
    "non-integer period": ("period,alive\n0,100\n1.5,80\n", "row 3",
                           "period: expected a whole number, got '1.5'"),
    "negative count": ("period,alive\n0,100\n1,-5\n", "row 3", "alive must be ≥ 0, got -5"),
    "not starting at 0": ("period,alive\n1,100\n2,80\n3,70\n", "row 2",
                          "the first period is 1: periods must start at 0"),
    "gap": ("period,alive\n0,100\n1,80\n3,70\n", "row 4",
            "period 3 follows period 1: period 2 is missing"),
    "wide gap": ("period,alive\n0,100\n1,80\n5,70\n", "row 4", "periods 2..4 are missing"),
    "decreasing periods": ("period,alive\n0,100\n2,80\n1,90\n", "row 3",
                           "period 2 follows period 0"),
    "periods going back": ("period,alive\n0,100\n1,80\n2,70\n1,60\n", "row 5",
                           "period 1 appears twice (also row 3)"),
    "alive increasing": ("period,alive\n0,100\n1,80\n2,85\n", "row 4",
                         "alive increases from 80 to 85"),
    "too few periods": ("period,alive\n0,100\n1,80\n", "",
                        "only 2 period(s) (0..1): at least 3"),
    "empty cohort": ("period,alive\n0,0\n1,0\n2,0\n", "row 2", "the cohort size"),
    "empty segment name": ("segment,period,alive\n,0,100\n", "row 2", "segment is empty"),
    "segment with a bad cohort": (
        GOOD + "enterprise,0,50\nenterprise,1,40\nsmb,3,72\nenterprise,2,45\n",
        "segment smb, row 7",
        "alive increases from 70 to 72",
    ),
    "segment alive increasing": (
        "segment,period,alive\nsmb,0,100\nsmb,1,80\nsmb,2,85\n",
        "segment smb, row 4",
        "alive increases from 80 to 85 (period 1 to 2)",
    ),
    "segment too short": (GOOD + "enterprise,0,50\nenterprise,1,40\n", "segment enterprise",
                          "only 2 period(s)"),
    "segment gap": (GOOD + "enterprise,0,50\nenterprise,2,40\n", "segment enterprise, row 6",
                    "period 2 follows period 0: period 1 is missing"),
    "segment count not whole": (GOOD + "enterprise,0,50.2\n", "segment enterprise, row 5",
                                "got '50.2'"),
    "nobody churned": (GOOD + "enterprise,0,50\nenterprise,1,50\nenterprise,2,50\n",
                       "segment enterprise", "nobody churned in periods 0..2"),
}


def check(exc: InputError, file: Path, key: str, expected: str) -> None:
    msg = str(exc)
    assert exc.file == str(file), msg
    assert msg.startswith(f"{file}: "), msg
    assert exc.key == key, msg
    if key:
        assert f": {key}: " in msg, msg
    assert expected in msg, f"{expected!r} not in {msg!r}"
    assert "\n" not in msg, msg


@pytest.mark.parametrize("case", BAD_TABLES)
def test_bad_table_is_reported_with_file_and_place(tmp_path, case):
    text, key, expected = BAD_TABLES[case]
    path = write_table(tmp_path, text, "my cohorts.csv")
    with pytest.raises(InputError) as info:
        calibrate(path)
    check(info.value, path, key, expected)


def test_unreadable_tables(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(InputError) as info:
        read_cohorts(missing)
    check(info.value, missing, "", "cannot read")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"period,alive\n0,\xff\xfe\n")
    with pytest.raises(InputError) as info:
        read_cohorts(binary)
    check(info.value, binary, "", "not UTF-8")


def test_bad_fit_periods_and_horizon(tmp_path):
    path = write_table(tmp_path, GOOD)
    with pytest.raises(InputError) as info:
        calibrate(path, fit_periods=5)
    check(info.value, path, "segment smb", "fit_periods is 5 but the table stops at period 2")
    for bad in (1, 0, 2.5):
        with pytest.raises(InputError, match="fit_periods"):
            calibrate(path, fit_periods=bad)
    for bad in (0, -1, 1.5):
        with pytest.raises(InputError, match="horizon"):
            calibrate(path, horizon=bad)


@pytest.mark.parametrize(
    ("alive", "fit_periods", "key", "expected"),
    [
        ([100, 80], None, "alive", "only 2 period(s)"),
        ([100, 80, 85], None, "alive", "alive increases from 80 to 85"),
        ([100, 80.5, 70], None, "alive", "whole numbers"),
        ([100, 80, -1], None, "alive", "alive must be ≥ 0"),
        ([0, 0, 0], None, "alive", "cohort size"),
        ([100, 100, 100, 90], 2, "alive", "nobody churned in periods 0..2"),
        ([100, 80, 70], 3, "fit_periods", "from 2 to 2"),
        ([100, 80, 70], 1, "fit_periods", "got 1"),
    ],
)
def test_fit_sbg_validates_arrays(alive, fit_periods, key, expected):
    with pytest.raises(InputError) as info:
        fit_sbg(np.array(alive), fit_periods)
    assert info.value.key == key and expected in str(info.value), str(info.value)


def test_tolerant_reading(tmp_path):
    """Case, spaces, a BOM, CRLF, blank lines, 12.0 and interleaved segments are fine."""
    text = "\ufeff Segment , PERIOD ,Alive\r\nb,0,50\r\na,0,100.0\r\n\r\na,1,80\r\nb,1,45\r\n"
    text += "a,2,70\r\nb,2, 41 \r\n"
    cohorts = read_cohorts(write_table(tmp_path, text))
    assert list(cohorts) == ["b", "a"]
    assert cohorts["a"].tolist() == [100, 80, 70] and cohorts["b"].tolist() == [50, 45, 41]
    single = read_cohorts(write_table(tmp_path, "period,alive\n0,10\n1,9\n2,9\n", "one.csv"))
    assert list(single) == ["all"]


def test_degenerate_cohorts_fit_with_a_warning():
    homogeneous = fit_sbg(np.array([1000, 500, 250, 125, 62]))  # no heterogeneity at all
    assert homogeneous.warning() is not None
    assert homogeneous.mean_churn == pytest.approx(0.5, abs=0.01)
    never = fit_sbg(np.array([100, 60, 60, 60, 60]))  # 40 % leave, the rest never do
    assert never.at_bound and np.isnan(never.alpha_se)
    assert "never to churn" in never.warning()
    entry = SegmentFit.from_fit(never, 4)
    assert entry.alpha_se is None and entry.to_dict()["alpha_se"] is None  # null, not NaN
    json.dumps(entry.to_dict(), allow_nan=False)


# ----------------------------------------------------------------------------------
# outputs


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


def test_fragment_in_constant_churn_reproduces_the_table():
    """A fitted Beta churn propensity on a driver-free churn edge gives back the cohort."""
    n, periods = 20000, 12
    table = simulate_cohort(0.7, 3.0, n, periods, np.random.default_rng(7))
    fit = fit_sbg(table)
    churn = tomllib.loads(scenario_fragment({"everyone": fit}))["segments"]["everyone"]
    scenario = load_scenario(
        "constant_churn",
        overrides={"segments.everyone.churn_propensity": churn["churn_propensity"]},
    )
    model = EngagementModel(scenario, "none", rng=11, customers=n, months=periods).run()
    alive = np.concatenate([[n], model.timeseries()["active"].to_numpy()])
    np.testing.assert_array_equal(alive, simulated_alive(model))
    curve = fit.survival(periods)
    se = binomial_se(curve, n)
    # the simulation draws the fitted model: a binomial share around the fitted curve
    assert np.all(np.abs(alive / n - curve) <= K * se + 1e-12), (alive / n - curve) / se
    # against the table: two independent binomial errors (the table's own residual around
    # its fitted curve is no larger than its binomial error)
    assert np.all(np.abs(alive - table) / n <= K * np.sqrt(2) * se + 1e-12)


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


def test_shipped_example_is_reproducible(tmp_path):
    path = write_cohorts(example_cohorts(), tmp_path / "regenerated.csv")
    assert path.read_bytes() == EXAMPLE.read_bytes()


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
