"""Calibrating engagesim's churn to a cohort retention table with the sBG model.

:func:`calibrate` fits the shifted-beta-geometric model (:mod:`sim.theory.sbg`) to every
cohort of a table (:mod:`sim.theory.cohorts`) and forecasts its survival; the result is
a :class:`Calibration` with one :class:`SegmentFit` per cohort. :func:`scenario_fragment`
turns the fits into TOML that plugs the fitted churn propensity into a scenario
(:func:`scenario_overrides`: the same as ``load_scenario`` overrides), and
:func:`write_outputs` writes the result (JSON) and the fragment (TOML) — what
``engagesim calibrate`` does.

**Mapping to the simulation.** In engagesim a customer whose churn edge has
``base = "churn_propensity"``, odds 1 and no drivers churns each month with exactly its
own churn propensity (``scenarios/constant_churn.toml``), drawn once per customer from its
segment's distribution. A segment with ``churn_propensity = { dist = "beta", alpha = α,
beta = β }`` on such an edge therefore has ``E[active at the end of step t] / n = S(t)``
— the sBG curve, with "alive at the start of period t" = active at the end of step t.
:func:`scenario_fragment` writes that TOML; tables whose periods are not months are
converted to the monthly Beta that best reproduces the same survival curve
(:func:`monthly_beta`).

**The shipped example** ``scenarios/cohorts_example.csv`` is
``example_cohorts()`` written by :func:`sim.theory.cohorts.write_cohorts`: two segments,
13 periods (0..12) each, drawn by :func:`simulate_cohort` from
``numpy.random.default_rng(EXAMPLE_SEED)`` (seed 2026, the segments in the order listed)
with

    smb         n = 5000, α = 0.9, β = 7.0   (mean monthly churn 11.4 %)
    enterprise  n = 2000, α = 0.5, β = 8.0   (mean monthly churn 5.9 %)

Typical use::

    from sim.theory.calibration import calibrate, write_outputs

    result = calibrate("scenarios/cohorts_example.csv", fit_periods=6, horizon=24)
    result.segments["smb"].alpha, result.segments["smb"].survival[24]
    write_outputs(result, Path("fit.json"))     # fit.json + fit.toml (scenario fragment)
"""

from __future__ import annotations

import json
import math
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize, special

from sim.files import atomic_write_text, json_text, jsonable
from sim.schema import InputError
from sim.theory.cohorts import location, read_table
from sim.theory.sbg import LOG_BOUNDS, SBGFit, fit_sbg, survival

#: Seed and generating parameters of ``scenarios/cohorts_example.csv``.
EXAMPLE_SEED = 2026
EXAMPLE_SEGMENTS = {
    "smb": {"n": 5000, "alpha": 0.9, "beta": 7.0},
    "enterprise": {"n": 2000, "alpha": 0.5, "beta": 8.0},
}
EXAMPLE_PERIODS = 12
#: The value of ``Calibration.model``.
MODEL = "shifted-beta-geometric"

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


# ----------------------------------------------------------------------------------
# the result


@dataclass(frozen=True)
class SegmentFit:
    """The calibration of one cohort: its sBG fit and the forecast to the horizon.

    Undefined standard errors (a fit on a parameter bound, or a singular information
    matrix) are ``None``, as in the JSON.

    Attributes:
        alpha: Fitted α (per period of the table).
        beta: Fitted β.
        alpha_se: Standard error of α (observed information), or ``None``.
        beta_se: Standard error of β, or ``None``.
        log_likelihood: Maximised log-likelihood.
        fit_periods: Periods 0..fit_periods were fitted.
        cohort_size: Customers alive at period 0.
        survival: Fitted share alive at periods 0..horizon.
        survival_se: Its standard error (delta method), ``None`` where undefined.
        retention_rate: Fitted ``S(t)/S(t−1)`` for t = 1..horizon.
        observed: The table's share alive at each of its periods.
        warning: Why the fit needs care (:meth:`SBGFit.warning`), or ``None``.
    """

    alpha: float
    beta: float
    alpha_se: float | None
    beta_se: float | None
    log_likelihood: float
    fit_periods: int
    cohort_size: int
    survival: tuple[float, ...]
    survival_se: tuple[float | None, ...]
    retention_rate: tuple[float, ...]
    observed: tuple[float, ...]
    warning: str | None

    @classmethod
    def from_fit(cls, fit: SBGFit, horizon: int) -> SegmentFit:
        """The calibration of a fitted cohort, with the forecast to ``horizon``."""
        return cls(
            alpha=fit.alpha,
            beta=fit.beta,
            alpha_se=jsonable(fit.alpha_se),
            beta_se=jsonable(fit.beta_se),
            log_likelihood=fit.log_likelihood,
            fit_periods=fit.fit_periods,
            cohort_size=fit.cohort_size,
            survival=tuple(fit.survival(horizon).tolist()),
            survival_se=tuple(jsonable(fit.survival_se(horizon))),
            retention_rate=tuple(fit.retention_rate(horizon).tolist()),
            observed=tuple(fit.observed().tolist()),
            warning=fit.warning(),
        )

    @property
    def horizon(self) -> int:
        """Last period of the forecast."""
        return len(self.survival) - 1

    def to_dict(self) -> dict[str, Any]:
        """The JSON entry of this cohort (``calibrate``'s ``segments.NAME``)."""
        return {
            "alpha": self.alpha,
            "beta": self.beta,
            "alpha_se": self.alpha_se,
            "beta_se": self.beta_se,
            "log_likelihood": self.log_likelihood,
            "fit_periods": self.fit_periods,
            "cohort_size": self.cohort_size,
            "survival": list(self.survival),
            "survival_se": list(self.survival_se),
            "retention_rate": list(self.retention_rate),
            "observed": list(self.observed),
            "warning": self.warning,
        }


@dataclass(frozen=True)
class Calibration:
    """What :func:`calibrate` returns: one sBG fit and forecast per cohort of a table.

    Attributes:
        table: The cohort table, as given.
        horizon: The forecasts run to this period.
        segments: Segment name → :class:`SegmentFit`, in the table's order.
        model: ``"shifted-beta-geometric"``.
    """

    table: str
    horizon: int
    segments: Mapping[str, SegmentFit]
    model: str = MODEL

    def to_dict(self) -> dict[str, Any]:
        """The JSON result ``engagesim calibrate`` writes."""
        return {
            "model": self.model,
            "table": self.table,
            "horizon": self.horizon,
            "segments": {name: seg.to_dict() for name, seg in self.segments.items()},
        }


#: What :func:`scenario_fragment` and :func:`scenario_overrides` accept per segment.
type Fit = SBGFit | SegmentFit | Mapping[str, Any]


# ----------------------------------------------------------------------------------
# synthetic cohorts


def simulate_cohort(
    alpha: float, beta: float, n: int, periods: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw a cohort from the sBG model: alive counts at periods 0..periods.

    Each of the ``n`` customers draws θ ~ Beta(α, β) and a shifted-geometric lifetime
    ``T`` (``P(T = t | θ) = θ (1 − θ)^(t−1)``); the count at period t is ``#{T > t}``.

    Args:
        alpha: α of the Beta distribution of churn probabilities.
        beta: β of the Beta distribution.
        n: Cohort size.
        periods: Last period K.
        rng: The generator (draws ``n`` Beta variates, then ``n`` uniforms).

    Returns:
        An ``int64`` array of length ``periods + 1`` starting with ``n``.
    """
    theta = rng.beta(alpha, beta, size=n)
    u = 1.0 - rng.random(n)  # in (0, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        # T = ⌈ln u / ln(1 − θ)⌉ is shifted-geometric(θ): P(T > t) = (1 − θ)^t
        lifetime = np.ceil(np.log(u) / np.log1p(-theta))
    lifetime[theta <= 0.0] = np.inf  # never churns
    lifetime[(theta >= 1.0) | ~(lifetime >= 1.0)] = 1.0  # churns at once (or u = 1)
    t = np.arange(periods + 1)
    return (lifetime[None, :] > t[:, None]).sum(axis=1).astype(np.int64)


def example_cohorts() -> dict[str, np.ndarray]:
    """Return the cohorts of ``scenarios/cohorts_example.csv`` (see the module docstring)."""
    rng = np.random.default_rng(EXAMPLE_SEED)
    return {
        name: simulate_cohort(p["alpha"], p["beta"], p["n"], EXAMPLE_PERIODS, rng)
        for name, p in EXAMPLE_SEGMENTS.items()
    }


# ----------------------------------------------------------------------------------
# calibrating a table


def calibrate(
    path: str | Path, fit_periods: int | None = None, horizon: int | None = None
) -> Calibration:
    """Fit the sBG model to every cohort of a table and forecast its survival.

    Args:
        path: The cohort table (see :func:`sim.theory.cohorts.read_cohorts`).
        fit_periods: Fit periods 0..fit_periods of each cohort (all when ``None``).
        horizon: Forecast survival to this period (default: the table's last period).

    Returns:
        One :class:`SegmentFit` per cohort, in the table's order
        (:meth:`Calibration.to_dict` is the JSON ``engagesim calibrate`` writes).

    Raises:
        InputError: The table, ``fit_periods`` or ``horizon`` is invalid.
    """
    cohorts, named = read_table(path)
    last = max(alive.size - 1 for alive in cohorts.values())
    if horizon is None:
        horizon = last
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise InputError(None, "horizon", f"expected a whole number ≥ 1, got {horizon!r}")
    if fit_periods is not None and (
        isinstance(fit_periods, bool)
        or not isinstance(fit_periods, int | np.integer)
        or fit_periods < 2
    ):
        raise InputError(None, "fit_periods", f"expected a whole number ≥ 2, got {fit_periods!r}")
    segments = {}
    for name, alive in cohorts.items():
        where = location(name) if named else ""
        if fit_periods is not None and fit_periods > alive.size - 1:
            raise InputError(
                path,
                where,
                f"fit_periods is {fit_periods} but the table stops at period {alive.size - 1}",
            )
        try:
            fit = fit_sbg(alive, fit_periods)
        except InputError as exc:
            raise InputError(path, where, exc.problem) from None
        segments[name] = SegmentFit.from_fit(fit, int(horizon))
    return Calibration(table=str(path), horizon=int(horizon), segments=segments)


# ----------------------------------------------------------------------------------
# into a scenario


def monthly_beta(
    alpha: float, beta: float, period_months: float, periods: int
) -> tuple[float, float, float]:
    """The monthly Beta churn propensity equivalent to a per-period sBG fit.

    With periods of ``p`` months, a customer's per-period churn θ is a monthly churn
    ``q = 1 − (1 − θ)^(1/p)``, which is not exactly Beta-distributed. The monthly
    Beta(a, b) returned reproduces the survival curve ``S(m / p)`` at every month m up
    to ``periods`` periods as closely as possible (least squares, started from the
    near-zero-churn match ``(α, p·β)``, which is exact when α = 1). For ``p = 1`` it is
    ``(α, β)`` itself.

    Args:
        alpha: Fitted α (per period).
        beta: Fitted β (per period).
        period_months: Length of one period of the table in months (e.g. 3 for quarters).
        periods: Periods over which the curves should agree.

    Returns:
        ``(a, b, max_error)``: the monthly Beta parameters and the largest absolute
        difference of the two survival curves over the months compared.
    """
    p = float(period_months)
    if p == 1.0:
        return float(alpha), float(beta), 0.0
    months = np.arange(1, max(math.ceil(p * periods), 2) + 1, dtype=float)
    target = np.exp(special.betaln(alpha, beta + months / p) - special.betaln(alpha, beta))

    def residual(x: np.ndarray) -> np.ndarray:
        a, b = np.exp(x)
        return np.exp(special.betaln(a, b + months) - special.betaln(a, b)) - target

    x0 = np.clip(np.log([alpha, p * beta]), *LOG_BOUNDS)
    res = optimize.least_squares(
        residual, x0, bounds=LOG_BOUNDS, xtol=1e-14, ftol=1e-14, gtol=1e-14
    )
    a, b = (float(v) for v in np.exp(res.x))
    return a, b, float(np.max(np.abs(residual(res.x))))


def _fields(fit: Fit) -> dict[str, Any]:
    """The numbers a fragment needs from one segment's fit.

    An :class:`~sim.theory.sbg.SBGFit` spans the table's periods; a :class:`SegmentFit`
    reads as its JSON entry, whose periods run to the forecast horizon.
    """
    if isinstance(fit, SegmentFit):
        fit = fit.to_dict()
    if isinstance(fit, SBGFit):
        return {
            "alpha": fit.alpha,
            "beta": fit.beta,
            "alpha_se": jsonable(fit.alpha_se),
            "beta_se": jsonable(fit.beta_se),
            "fit_periods": fit.fit_periods,
            "cohort_size": fit.cohort_size,
            "periods": fit.alive.size - 1,
            "warning": fit.warning(),
        }
    survival_list = fit.get("survival") or []
    fit_periods = fit.get("fit_periods")
    return {
        "alpha": float(fit["alpha"]),
        "beta": float(fit["beta"]),
        "alpha_se": fit.get("alpha_se"),
        "beta_se": fit.get("beta_se"),
        "fit_periods": fit_periods,
        "cohort_size": fit.get("cohort_size"),
        "periods": max(len(survival_list) - 1, fit_periods or 0) or 12,
        "warning": fit.get("warning"),
    }


def _check_period_months(period_months: float) -> float:
    if (
        isinstance(period_months, bool)
        or not isinstance(period_months, int | float)
        or not math.isfinite(period_months)
        or period_months <= 0
    ):
        raise InputError(
            None, "period_months", f"expected a positive number of months, got {period_months!r}"
        )
    return float(period_months)


def scenario_overrides(
    fits: Mapping[str, Fit], period_months: float = 1
) -> dict[str, dict[str, Any]]:
    """Dotted-key scenario overrides that set each segment's churn propensity.

    Args:
        fits: Segment name → :class:`~sim.theory.sbg.SBGFit`, :class:`SegmentFit`
            (``calibrate(...).segments``) or its JSON entry.
        period_months: Length of one period of the table in months.

    Returns:
        ``{"segments.NAME.churn_propensity": {"dist": "beta", "alpha": a, "beta": b}}``
        for :func:`sim.load_scenario`'s ``overrides`` (the segments must exist there).
    """
    p = _check_period_months(period_months)
    out = {}
    for name, fit in fits.items():
        f = _fields(fit)
        a, b, _ = monthly_beta(f["alpha"], f["beta"], p, f["periods"])
        out[f"segments.{name}.churn_propensity"] = {"dist": "beta", "alpha": a, "beta": b}
    return out


def _toml_key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name, ensure_ascii=False)


def _num(value: float) -> str:
    """A float as TOML, 6 significant digits (always a float literal)."""
    text = f"{value:.6g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        return f"{mantissa}e{int(exponent)}"
    return text if "." in text else text + ".0"


def _pm(value: float, se: float | None) -> str:
    return f"{value:.4g} ± {se:.2g}" if se is not None else f"{value:.4g} (no standard error)"


def scenario_fragment(
    fits: Mapping[str, Fit],
    period_months: float = 1,
    *,
    source: str | None = None,
) -> str:
    """A TOML fragment that puts the fitted churn propensities into a scenario.

    One ``[segments.NAME]`` table per cohort with ``churn_propensity = { dist = "beta",
    alpha = …, beta = … }`` (a monthly probability per customer, drawn once), and
    comments on how to use it and on the fit.

    Args:
        fits: Segment name → :class:`~sim.theory.sbg.SBGFit`, :class:`SegmentFit`
            (``calibrate(...).segments``) or its JSON entry.
        period_months: Length of one period of the table in months (1: monthly
            cohorts; 3: quarterly; 12: yearly). Other than 1, the monthly Beta is
            :func:`monthly_beta`'s approximation, and the comment gives its error.
        source: The table the fits came from, named in the header comment.

    Returns:
        The fragment's text (valid TOML).
    """
    p = _check_period_months(period_months)
    unit = "1 month" if p == 1 else f"{p:g} months"
    first = next(iter(fits), "NAME")
    lines = [
        "# engagesim scenario fragment: churn propensity calibrated to cohort retention",
        "# (shifted-beta-geometric model fitted by maximum likelihood"
        + (f" to {source})" if source else ")"),
        "#",
        "# How to use it: in your scenario file, replace the churn_propensity line of each",
        "# [segments.NAME] table with the one below and keep the segment's other traits",
        "# (a table may appear only once in a TOML file), or apply it from Python:",
        f'#   load_scenario("my.toml", overrides={{"segments.{first}.churn_propensity":',
        '#                 {"dist": "beta", "alpha": ..., "beta": ...}})',
        "# Rename a segment if your scenario calls it differently.",
        "#",
        "# A customer on a churn edge with base = \"churn_propensity\", odds = 1 and no drivers",
        "# (as in scenarios/constant_churn.toml) then churns each month with its own drawn",
        "# propensity, and the segment's expected share still active after t periods is the",
        "# fitted curve S(t) = B(alpha, beta + t) / B(alpha, beta). On edges with drivers",
        "# it is the churn of a middling customer (engagement = satisfaction = 0.5) that",
        "# gets no touches; odds multiply it, and engagement policies move it.",
        f"# One period of the cohort table = {unit}.",
    ]
    if p != 1:
        lines.append(
            "# churn_propensity is monthly: the per-period Beta(alpha, beta) was converted to "
            "the"
        )
        lines.append("# monthly Beta that best reproduces the same survival curve (see below).")
    for name, fit in fits.items():
        f = _fields(fit)
        a, b, error = monthly_beta(f["alpha"], f["beta"], p, f["periods"])
        mean = a / (a + b)
        lines += ["", f"[segments.{_toml_key(str(name))}]"]
        lines.append(
            f"# fitted per period: alpha = {_pm(f['alpha'], f['alpha_se'])}, "
            f"beta = {_pm(f['beta'], f['beta_se'])} (± standard error)"
        )
        about = []
        if f["fit_periods"] is not None:
            about.append(f"on periods 0..{f['fit_periods']}")
        if f["cohort_size"] is not None:
            about.append(f"of a cohort of {f['cohort_size']:,} customers")
        if about:
            lines.append("# " + " ".join(about))
        if p != 1:
            lines.append(
                f"# monthly equivalent over {f['periods']} periods: largest survival error "
                f"{error:.2%}"
            )
        lines.append(
            f"# mean monthly churn alpha / (alpha + beta) = {mean:.2%}; "
            f"retention after 12 months {survival(a, b, 12)[12]:.1%}"
        )
        if f["warning"]:
            lines += textwrap.wrap(
                f"WARNING: {f['warning']}", 86, initial_indent="# ", subsequent_indent="#   "
            )
        lines.append(
            f'churn_propensity = {{ dist = "beta", alpha = {_num(a)}, beta = {_num(b)} }}'
        )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------
# outputs


def fragment_path(out_json: str | Path) -> Path:
    """The scenario fragment's path next to the JSON result: ``FILE.json`` → ``FILE.toml``."""
    return Path(out_json).with_suffix(".toml")


def write_outputs(
    result: Calibration, out_json: str | Path, *, period_months: float = 1
) -> tuple[Path, Path]:
    """Write the calibration result (JSON) and its scenario fragment (TOML), atomically.

    Both go through :func:`sim.files.atomic_write_text` (a temporary file in the same
    folder, renamed into place), so a reader never sees half a file. The folder is
    created.

    Args:
        result: What :func:`calibrate` returned.
        out_json: The JSON file; the fragment goes to :func:`fragment_path` of it.
        period_months: Length of one period of the table in months (for the fragment).

    Returns:
        ``(json_path, toml_path)``.

    Raises:
        InputError: ``out_json`` ends in ``.toml`` (it would collide with the fragment).
    """
    out_json = Path(out_json)
    toml_path = fragment_path(out_json)
    if toml_path == out_json:
        raise InputError(
            None, "--out", f"{out_json}: the JSON result cannot end in .toml (the scenario "
            "fragment is written there); use FILE.json"
        )
    fragment = scenario_fragment(result.segments, period_months, source=result.table)
    atomic_write_text(out_json, json_text(result.to_dict()))
    atomic_write_text(toml_path, fragment)
    return out_json, toml_path
