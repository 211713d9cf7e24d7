"""Calibration to cohort retention: the shifted-beta-geometric (sBG) model.

A cohort table says how many customers of a cohort are still active at the start of
each period (``period,alive``; period 0 is the cohort size), optionally for several
cohorts (a ``segment`` column). The sBG model of Fader & Hardie (2007, "How to project
customer retention", *Journal of Interactive Marketing* 21(1)) explains such a curve by
heterogeneity: each customer churns in each period with its own probability θ, and θ
varies across customers as a Beta(α, β) distribution. A customer's lifetime ``T`` (the
period in which it churns) is then shifted-geometric given θ, and over the cohort::

    P(T = t) = B(α + 1, β + t − 1) / B(α, β)            t = 1, 2, …
    S(t)     = P(T > t) = B(α, β + t) / B(α, β)          (share alive at period t)
    r(t)     = S(t) / S(t − 1) = (β + t − 1) / (α + β + t − 1)

so the retention rate ``r(t)`` rises over time as the riskiest customers leave first.
With ``n_t`` customers alive at period t, ``d_t = n_{t−1} − n_t`` churn in period t, and
the survivors of the last fitted period K are right-censored::

    LL(α, β) = Σ_{t=1..K} d_t · ln P(T = t) + n_K · ln S(K)

which :func:`fit_sbg` maximises over (ln α, ln β) with ``scipy.optimize`` (bounded
truncated Newton from several starts, analytic gradient, then Newton steps with the
exact Hessian; every beta function through ``scipy.special.betaln``). Standard
errors come from the observed information: the analytic Hessian of −LL in (α, β) at the
optimum (digamma / trigamma terms), inverted.

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
``example_cohorts()`` written by :func:`write_cohorts`: two segments, 13 periods (0..12)
each, drawn by :func:`simulate_cohort` from ``numpy.random.default_rng(EXAMPLE_SEED)``
(seed 2026, the segments in the order listed) with

    smb         n = 5000, α = 0.9, β = 7.0   (mean monthly churn 11.4 %)
    enterprise  n = 2000, α = 0.5, β = 8.0   (mean monthly churn 5.9 %)

Typical use::

    from sim.theory.sbg import calibrate, write_outputs

    result = calibrate("scenarios/cohorts_example.csv", fit_periods=6, horizon=24)
    result["segments"]["smb"]["alpha"], result["segments"]["smb"]["survival"][24]
    write_outputs(result, Path("fit.json"))     # fit.json + fit.toml (scenario fragment)
"""

from __future__ import annotations

import csv
import io
import itertools
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

from sim.files import atomic_write_bytes
from sim.schema import InputError, read_text, suggest

#: Required columns of a cohort table, and the optional one.
COLUMNS = ("period", "alive")
SEGMENT_COLUMN = "segment"
#: Segment name used when the table has no ``segment`` column.
DEFAULT_SEGMENT = "all"
#: Fewest periods (0, 1, 2) that identify the two parameters.
MIN_PERIODS = 3
#: Bounds of α and β during the fit (a fit on a bound is reported as such).
PARAM_BOUNDS = (1e-4, 1e7)
#: Seed and generating parameters of ``scenarios/cohorts_example.csv``.
EXAMPLE_SEED = 2026
EXAMPLE_SEGMENTS = {
    "smb": {"n": 5000, "alpha": 0.9, "beta": 7.0},
    "enterprise": {"n": 2000, "alpha": 0.5, "beta": 8.0},
}
EXAMPLE_PERIODS = 12

_LOG_BOUNDS = (math.log(PARAM_BOUNDS[0]), math.log(PARAM_BOUNDS[1]))
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


# ----------------------------------------------------------------------------------
# reading cohort tables


def _whole(text: str, column: str) -> int:
    """Parse a whole number (``12`` or ``12.0``); raise ``ValueError`` with a message."""
    if text == "":
        raise ValueError(f"{column} is empty")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{column}: expected a whole number, got {text!r}") from None
    if not math.isfinite(value) or not value.is_integer():
        raise ValueError(f"{column}: expected a whole number, got {text!r}")
    return int(value)


def _where(segment: str | None, line: int | None = None) -> str:
    """The location part of a message: ``segment smb, row 4`` / ``row 4`` / ``segment smb``."""
    parts = []
    if segment is not None:
        parts.append(f"segment {segment}")
    if line is not None:
        parts.append(f"row {line}")
    return ", ".join(parts)


def read_cohorts(path: str | Path) -> dict[str, np.ndarray]:
    """Read and validate a cohort table.

    The table is a CSV file with a header row and the columns ``period`` and ``alive``
    (customers still active at the start of each period; period 0 is the cohort size),
    and optionally ``segment`` for several cohorts. Column names are matched ignoring
    case and surrounding spaces; blank lines are skipped. A segment's rows may be
    interleaved with other segments' rows, but within a segment the periods must run
    0, 1, 2, … in file order. Row numbers in messages are line numbers of the file
    (the header is row 1, as in a spreadsheet).

    Args:
        path: The CSV file.

    Returns:
        Segment name → ``int64`` array of alive counts at periods 0..K, in the order
        the segments first appear (a single ``"all"`` entry without a segment column).

    Raises:
        InputError: The file cannot be read or the table is invalid; the message names
            the file, the segment and row, and what is wrong (e.g. ``segment smb, row 4:
            alive increases from 80 to 85``).
    """
    return _read(path)[0]


def _read(path: str | Path) -> tuple[dict[str, np.ndarray], bool]:
    """:func:`read_cohorts`, and whether the table has a segment column."""
    path = Path(path)
    text = read_text(path, "not a CSV text file", encoding="utf-8-sig")

    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    header_line = 0
    rows: dict[str, list[tuple[int, int, int]]] = {}
    expected = "period,alive[,segment]"
    try:
        for fields in reader:
            values = [f.strip() for f in fields]
            if not any(values):
                continue  # blank line
            line = reader.line_num
            if header is None:
                header, header_line = [v.lower() for v in values], line
                _check_header(path, header, line)
                continue
            if len(values) != len(header):
                raise InputError(
                    path,
                    _where(None, line),
                    f"expected {len(header)} values ({','.join(header)}), got {len(values)}",
                )
            record = dict(zip(header, values, strict=True))
            segment = record.get(SEGMENT_COLUMN, DEFAULT_SEGMENT)
            named = segment if SEGMENT_COLUMN in record else None
            if segment == "":
                raise InputError(path, _where(None, line), "segment is empty")
            try:
                period = _whole(record["period"], "period")
                alive = _whole(record["alive"], "alive")
            except ValueError as exc:
                raise InputError(path, _where(named, line), str(exc)) from None
            if alive < 0:
                raise InputError(
                    path, _where(named, line), f"alive must be ≥ 0, got {alive}"
                )
            rows.setdefault(segment, []).append((line, period, alive))
    except csv.Error as exc:
        raise InputError(path, _where(None, reader.line_num), f"not valid CSV: {exc}") from None

    if header is None:
        raise InputError(
            path, "", f"empty file: expected a header row ({expected}) and one row per period"
        )
    if not rows:
        raise InputError(
            path, "", f"no data rows after the header (row {header_line}): expected one row "
            "per period, starting with period 0 (the cohort size)"
        )
    named = SEGMENT_COLUMN in header
    cohorts = {
        name: _check_rows(path, name if named else None, seg_rows)
        for name, seg_rows in rows.items()
    }
    return cohorts, named


def _check_header(path: Path, header: list[str], line: int) -> None:
    known = (*COLUMNS, SEGMENT_COLUMN)
    if all(re.fullmatch(r"[-+]?[0-9.eE]+", name) for name in header):
        raise InputError(
            path,
            _where(None, line),
            f"the first row must be a header naming the columns period, alive (and optionally "
            f"segment), got {','.join(header)!r}",
        )
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise InputError(path, _where(None, line), f"column {name!r} appears twice")
        seen.add(name)
        if name not in known:
            raise InputError(
                path,
                _where(None, line),
                f"unknown column {name!r}" + suggest(name, known)
                + "; expected the columns period, alive and optionally segment",
            )
    missing = [c for c in COLUMNS if c not in seen]
    if missing:
        listed = " and ".join(repr(c) for c in missing)
        raise InputError(
            path,
            _where(None, line),
            f"missing column {listed}: the first row must be a header naming the columns "
            "period, alive (and optionally segment)",
        )


def _check_rows(
    path: Path, segment: str | None, rows: list[tuple[int, int, int]]
) -> np.ndarray:
    """Validate one segment's ``(line, period, alive)`` rows; return the alive counts."""
    first_line, first_period, first_alive = rows[0]
    if first_period != 0:
        raise InputError(
            path,
            _where(segment, first_line),
            f"the first period is {first_period}: periods must start at 0 (the cohort size)",
        )
    if first_alive == 0:
        raise InputError(
            path, _where(segment, first_line), "the cohort size (alive at period 0) is 0"
        )
    seen = {first_period: first_line}
    for (_, prev_period, prev_alive), (line, period, alive) in itertools.pairwise(rows):
        where = _where(segment, line)
        if period in seen:
            raise InputError(
                path, where, f"period {period} appears twice (also row {seen[period]})"
            )
        if period < prev_period:
            raise InputError(
                path, where, f"period {period} follows period {prev_period}: periods must increase"
            )
        if period > prev_period + 1:
            gap = (
                f"period {prev_period + 1} is missing"
                if period == prev_period + 2
                else f"periods {prev_period + 1}..{period - 1} are missing"
            )
            raise InputError(path, where, f"period {period} follows period {prev_period}: {gap}")
        if alive > prev_alive:
            raise InputError(
                path,
                where,
                f"alive increases from {prev_alive} to {alive} (period {prev_period} to "
                f"{period}); alive counts the cohort's customers still active, which can "
                "only fall",
            )
        seen[period] = line
    if len(rows) < MIN_PERIODS:
        raise InputError(
            path,
            _where(segment) if segment is not None else "",
            f"only {len(rows)} period(s) (0..{rows[-1][1]}): at least {MIN_PERIODS} (periods "
            "0, 1, 2) are needed to fit the two sBG parameters",
        )
    return np.array([alive for _, _, alive in rows], dtype=np.int64)


def write_cohorts(cohorts: Mapping[str, np.ndarray], path: str | Path) -> Path:
    """Write cohorts as a ``segment,period,alive`` CSV table (atomically).

    Args:
        cohorts: Segment name → alive counts at periods 0..K.
        path: The CSV file to write.

    Returns:
        The path written.
    """
    path = Path(path)
    lines = ["segment,period,alive"]
    for name, alive in cohorts.items():
        lines.extend(f"{name},{t},{int(n)}" for t, n in enumerate(alive))
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())
    return path


# ----------------------------------------------------------------------------------
# the model


def survival(alpha: float, beta: float, horizon: int) -> np.ndarray:
    """Return the sBG survival curve ``S(t) = B(α, β + t) / B(α, β)`` for t = 0..horizon."""
    t = np.arange(int(horizon) + 1, dtype=float)
    return np.exp(special.betaln(alpha, beta + t) - special.betaln(alpha, beta))


def retention_rate(alpha: float, beta: float, horizon: int) -> np.ndarray:
    """Return ``r(t) = S(t)/S(t−1) = (β + t − 1)/(α + β + t − 1)`` for t = 1..horizon."""
    t = np.arange(1, int(horizon) + 1, dtype=float)
    return (beta + t - 1.0) / (alpha + beta + t - 1.0)


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


def _terms(alive: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The log-likelihood as ``Σ_j w_j · betaln(α + a_j, β + b_j)``.

    Churners of period t contribute ``ln B(α + 1, β + t − 1)``, the censored survivors of
    period K ``ln B(α, β + K)``, and every customer ``−ln B(α, β)``.
    """
    k = alive.size - 1
    t = np.arange(1, k + 1, dtype=float)
    churned = (alive[:-1] - alive[1:]).astype(float)
    a = np.concatenate([np.ones(k), [0.0, 0.0]])
    b = np.concatenate([t - 1.0, [float(k), 0.0]])
    w = np.concatenate([churned, [float(alive[-1]), -float(alive[0])]])
    keep = w != 0
    return a[keep], b[keep], w[keep]


def _loglik(
    alpha: float, beta: float, terms: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, its gradient and its Hessian in (α, β)."""
    a, b, w = terms
    x, y = alpha + a, beta + b
    s = x + y
    value = float(w @ special.betaln(x, y))
    psi_s = special.digamma(s)
    grad = np.array([w @ (special.digamma(x) - psi_s), w @ (special.digamma(y) - psi_s)])
    tri_s = special.polygamma(1, s)
    h_ab = -float(w @ tri_s)
    hess = np.array(
        [
            [float(w @ (special.polygamma(1, x) - tri_s)), h_ab],
            [h_ab, float(w @ (special.polygamma(1, y) - tri_s))],
        ]
    )
    return value, grad, hess


def log_likelihood(alpha: float, beta: float, alive: np.ndarray) -> float:
    """Return the sBG log-likelihood of a cohort's alive counts (survivors censored)."""
    return _loglik(alpha, beta, _terms(np.asarray(alive, dtype=np.int64)))[0]


def loglik_hessian(alpha: float, beta: float, alive: np.ndarray) -> np.ndarray:
    """Return the analytic Hessian of the log-likelihood in (α, β) (2 × 2)."""
    return _loglik(alpha, beta, _terms(np.asarray(alive, dtype=np.int64)))[2]


@dataclass(frozen=True, eq=False)
class SBGFit:
    """A maximum-likelihood sBG fit to one cohort.

    Attributes:
        alpha: Fitted α.
        beta: Fitted β.
        alpha_se: Standard error of α (observed information; NaN when undefined).
        beta_se: Standard error of β.
        covariance: 2 × 2 covariance of (α, β) (NaN when undefined).
        log_likelihood: Maximised log-likelihood.
        fit_periods: Periods 0..fit_periods were used.
        alive: The cohort's alive counts at periods 0..K (all of them, fitted or not).
        at_bound: The optimum lies on a bound of :data:`PARAM_BOUNDS` (e.g. a cohort
            with no sign of heterogeneity: α and β run off to infinity).
        converged: The optimiser reported success.
    """

    alpha: float
    beta: float
    alpha_se: float
    beta_se: float
    covariance: np.ndarray
    log_likelihood: float
    fit_periods: int
    alive: np.ndarray
    at_bound: bool
    converged: bool

    @property
    def cohort_size(self) -> int:
        """Customers alive at period 0."""
        return int(self.alive[0])

    @property
    def mean_churn(self) -> float:
        """Mean churn probability per period, ``α / (α + β)``."""
        return self.alpha / (self.alpha + self.beta)

    def survival(self, horizon: int) -> np.ndarray:
        """Fitted share alive at periods 0..horizon."""
        return survival(self.alpha, self.beta, horizon)

    def retention_rate(self, horizon: int) -> np.ndarray:
        """Fitted retention rate ``S(t)/S(t−1)`` for t = 1..horizon."""
        return retention_rate(self.alpha, self.beta, horizon)

    def survival_se(self, horizon: int) -> np.ndarray:
        """Standard error of the fitted survival at periods 0..horizon (delta method)."""
        t = np.arange(int(horizon) + 1, dtype=float)
        a, b = self.alpha, self.beta
        s = survival(a, b, horizon)
        psi_ab = special.digamma(a + b)
        psi_abt = special.digamma(a + b + t)
        d_alpha = s * (psi_ab - psi_abt)
        d_beta = s * (special.digamma(b + t) - special.digamma(b) + psi_ab - psi_abt)
        g = np.stack([d_alpha, d_beta])
        var = np.einsum("it,ij,jt->t", g, self.covariance, g)
        return np.sqrt(np.maximum(var, 0.0))

    def observed(self) -> np.ndarray:
        """Observed share alive at every period of the table."""
        return self.alive / self.alive[0]

    def warning(self) -> str | None:
        """Sentences on why the fit needs care, or ``None``."""
        notes = []
        low, high = PARAM_BOUNDS
        if self.at_bound:
            if max(self.alpha, self.beta) >= high * (1 - 1e-6):
                why = "every customer seems to churn at the same rate (alpha, beta → ∞)"
            elif self.alpha <= low * (1 + 1e-6):
                why = "part of the cohort seems never to churn (alpha → 0)"
            else:
                why = "the cohort seems to churn all at once (beta → 0)"
            notes.append(
                f"the fit reached a parameter bound (alpha = {self.alpha:.4g}, beta = "
                f"{self.beta:.4g}): {why}; the mean churn alpha/(alpha+beta) = "
                f"{self.mean_churn:.4g} is meaningful, the separate parameters and their "
                "standard errors are not"
            )
        elif not (self.alpha_se < self.alpha and self.beta_se < self.beta):
            notes.append(
                "alpha and beta are poorly determined (a standard error exceeds its "
                "estimate, or is undefined): the cohort shows little heterogeneity in the "
                f"fitted periods; the mean churn alpha/(alpha+beta) = {self.mean_churn:.4g} "
                "is well determined, the forecast far ahead less so"
            )
        if not self.converged:
            notes.append("the optimiser did not converge: treat the parameters with caution")
        return "; ".join(notes) or None

    def to_dict(self, horizon: int) -> dict[str, Any]:
        """The JSON entry of this fit, with the forecast to ``horizon``."""
        return {
            "alpha": self.alpha,
            "beta": self.beta,
            "alpha_se": _finite(self.alpha_se),
            "beta_se": _finite(self.beta_se),
            "log_likelihood": self.log_likelihood,
            "fit_periods": self.fit_periods,
            "cohort_size": self.cohort_size,
            "survival": self.survival(horizon).tolist(),
            "survival_se": [_finite(v) for v in self.survival_se(horizon)],
            "retention_rate": self.retention_rate(horizon).tolist(),
            "observed": self.observed().tolist(),
            "warning": self.warning(),
        }


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _cohort_problem(alive: np.ndarray) -> str | None:
    """What is wrong with an array of alive counts, or ``None``."""
    if alive.ndim != 1:
        return f"expected a 1-D array of counts, got shape {alive.shape}"
    if alive.size < MIN_PERIODS:
        return (
            f"only {alive.size} period(s): at least {MIN_PERIODS} (periods 0, 1, 2) are "
            "needed to fit the two sBG parameters"
        )
    if alive[0] <= 0:
        return f"the cohort size (alive at period 0) must be positive, got {alive[0]}"
    if np.any(alive < 0):
        t = int(np.flatnonzero(alive < 0)[0])
        return f"alive must be ≥ 0, got {alive[t]} at period {t}"
    rises = np.flatnonzero(np.diff(alive) > 0)
    if rises.size:
        t = int(rises[0])
        return f"alive increases from {alive[t]} to {alive[t + 1]} (period {t} to {t + 1})"
    return None


def fit_sbg(alive: np.ndarray, fit_periods: int | None = None) -> SBGFit:
    """Fit the sBG model to a cohort by maximum likelihood.

    Args:
        alive: Customers alive at the start of periods 0..K (whole numbers,
            non-increasing, ``alive[0] > 0``, K ≥ 2).
        fit_periods: Fit periods 0..fit_periods only (2 ≤ fit_periods ≤ K; the
            survivors of the last one are censored); all periods when ``None``.

    Returns:
        The fit, with standard errors from the observed information.

    Raises:
        InputError: The counts are invalid, ``fit_periods`` is out of range, or nobody
            churned in the fitted periods (the likelihood then has no maximum).
    """
    raw = np.asarray(alive)
    if raw.size and not np.all(np.isfinite(raw.astype(float))):
        raise InputError(None, "alive", "expected finite whole numbers")
    if raw.size and not np.array_equal(raw.astype(float), np.round(raw.astype(float))):
        raise InputError(None, "alive", "expected whole numbers (counts of customers)")
    counts = raw.astype(np.int64)
    problem = _cohort_problem(counts)
    if problem:
        raise InputError(None, "alive", problem)
    last = counts.size - 1
    k = last if fit_periods is None else fit_periods
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise InputError(None, "fit_periods", f"expected a whole number, got {k!r}")
    k = int(k)
    if not 2 <= k <= last:
        raise InputError(
            None,
            "fit_periods",
            f"expected a number of periods from 2 to {last} (the table's last period), got {k}",
        )
    used = counts[: k + 1]
    if used[-1] == used[0]:
        raise InputError(
            None,
            "alive",
            f"nobody churned in periods 0..{k}: the sBG likelihood has no maximum "
            "(the churn rate would be 0)",
        )
    terms = _terms(used)
    n0 = float(used[0])

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        # −LL per customer over (ln α, ln β): well scaled whatever the cohort size
        value, grad, _ = _loglik(*np.exp(x), terms)
        return -value / n0, -grad * np.exp(x) / n0

    best = None
    for start in _starts(used):
        res = optimize.minimize(
            objective,
            np.clip(np.log(start), *_LOG_BOUNDS),
            jac=True,
            method="TNC",
            bounds=[_LOG_BOUNDS, _LOG_BOUNDS],
            options={"ftol": 1e-14, "gtol": 1e-10, "maxfun": 2000},
        )
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    x, converged = _polish(best.x, terms, n0)
    a, b = (float(v) for v in np.exp(x))
    at_bound = bool(np.any(np.abs(x - np.array(_LOG_BOUNDS)[:, None]) < 1e-6))
    value, _, hess = _loglik(a, b, terms)
    cov = np.full((2, 2), np.nan)
    if not at_bound:
        info = -hess  # observed information in (α, β)
        if np.all(np.isfinite(info)) and np.all(np.linalg.eigvalsh(info) > 0):
            cov = np.linalg.inv(info)
    return SBGFit(
        alpha=a,
        beta=b,
        alpha_se=float(np.sqrt(cov[0, 0])),
        beta_se=float(np.sqrt(cov[1, 1])),
        covariance=cov,
        log_likelihood=value,
        fit_periods=k,
        alive=counts,
        at_bound=at_bound,
        converged=converged,
    )


def _polish(x: np.ndarray, terms: tuple, n0: float) -> tuple[np.ndarray, bool]:
    """Newton steps on −LL/n0 over (ln α, ln β) from the optimiser's answer.

    The optimiser stops when it can no longer measure progress in the objective; the
    exact Hessian takes the gradient to rounding level. Returns the point and whether its
    (projected) gradient vanishes.
    """
    low, high = _LOG_BOUNDS

    def derivs(x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        e = np.exp(x)
        value, grad, hess = _loglik(*e, terms)
        g = grad * e
        h = hess * np.outer(e, e) + np.diag(g)  # chain rule for θ = exp(x)
        return -value / n0, -g / n0, -h / n0

    def projected(x: np.ndarray, g: np.ndarray) -> np.ndarray:
        # a component on a bound whose gradient pushes outwards is optimal
        out = g.copy()
        out[(x <= low + 1e-9) & (g > 0)] = 0.0
        out[(x >= high - 1e-9) & (g < 0)] = 0.0
        return out

    f, g, h = derivs(x)
    for _ in range(50):
        if np.max(np.abs(projected(x, g))) < 1e-10:
            break
        if not np.all(np.linalg.eigvalsh(h) > 0):
            break
        step = np.linalg.solve(h, g)
        for shrink in 0.5 ** np.arange(30):
            x_new = np.clip(x - shrink * step, low, high)
            f_new, g_new, h_new = derivs(x_new)
            if f_new <= f:
                break
        else:
            break
        if np.array_equal(x_new, x):
            break
        x, f, g, h = x_new, f_new, g_new, h_new
    return x, bool(np.max(np.abs(projected(x, g))) < 1e-7)


def _starts(alive: np.ndarray) -> list[tuple[float, float]]:
    """Starting points: a moment match of the first two retention rates, and neutral ones."""
    r1 = alive[1] / alive[0]
    r1 = min(max(r1, 1e-3), 1 - 1e-3)
    starts = [(1.0, 1.0), (1.0, r1 / (1 - r1))]
    if alive[1] > 0:
        r2 = alive[2] / alive[1]
        if 0 < r1 < r2 < 1:
            # r1 = β/(α+β), r2 = (β+1)/(α+β+1)  ⇒  α+β = (1 − r2)/(r2 − r1)
            total = (1 - r2) / (r2 - r1)
            starts.append((total * (1 - r1), total * r1))
    return starts


# ----------------------------------------------------------------------------------
# calibrating a table


def calibrate(
    path: str | Path, fit_periods: int | None = None, horizon: int | None = None
) -> dict[str, Any]:
    """Fit the sBG model to every cohort of a table and forecast its survival.

    Args:
        path: The cohort table (see :func:`read_cohorts`).
        fit_periods: Fit periods 0..fit_periods of each cohort (all when ``None``).
        horizon: Forecast survival to this period (default: the table's last period).

    Returns:
        The JSON-ready result: ``{"model", "table", "horizon", "segments": {NAME: {
        "alpha", "beta", "alpha_se", "beta_se", "log_likelihood", "fit_periods",
        "cohort_size", "survival" (periods 0..horizon), "survival_se",
        "retention_rate" (t = 1..horizon), "observed" (the table's shares), "warning"}}}``
        (undefined standard errors are ``None``).

    Raises:
        InputError: The table, ``fit_periods`` or ``horizon`` is invalid.
    """
    cohorts, named = _read(path)
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
        where = _where(name) if named else ""
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
        segments[name] = fit.to_dict(int(horizon))
    return {
        "model": "shifted-beta-geometric",
        "table": str(path),
        "horizon": int(horizon),
        "segments": segments,
    }


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

    x0 = np.clip(np.log([alpha, p * beta]), *_LOG_BOUNDS)
    res = optimize.least_squares(
        residual, x0, bounds=_LOG_BOUNDS, xtol=1e-14, ftol=1e-14, gtol=1e-14
    )
    a, b = (float(v) for v in np.exp(res.x))
    return a, b, float(np.max(np.abs(residual(res.x))))


def _fields(fit: SBGFit | Mapping[str, Any]) -> dict[str, Any]:
    """The numbers a fragment needs, from an :class:`SBGFit` or a JSON entry."""
    if isinstance(fit, SBGFit):
        return {
            "alpha": fit.alpha,
            "beta": fit.beta,
            "alpha_se": _finite(fit.alpha_se),
            "beta_se": _finite(fit.beta_se),
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
    fits: Mapping[str, SBGFit | Mapping[str, Any]], period_months: float = 1
) -> dict[str, dict[str, Any]]:
    """Dotted-key scenario overrides that set each segment's churn propensity.

    Args:
        fits: Segment name → :class:`SBGFit` or its JSON entry (``calibrate(...)
            ["segments"]``).
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
    fits: Mapping[str, SBGFit | Mapping[str, Any]],
    period_months: float = 1,
    *,
    source: str | None = None,
) -> str:
    """A TOML fragment that puts the fitted churn propensities into a scenario.

    One ``[segments.NAME]`` table per cohort with ``churn_propensity = { dist = "beta",
    alpha = …, beta = … }`` (a monthly probability per customer, drawn once), and
    comments on how to use it and on the fit.

    Args:
        fits: Segment name → :class:`SBGFit` or its JSON entry (``calibrate(...)
            ["segments"]``).
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
    result: Mapping[str, Any], out_json: str | Path, *, period_months: float = 1
) -> tuple[Path, Path]:
    """Write the calibration result (JSON) and its scenario fragment (TOML), atomically.

    Each file goes to a temporary name in the same folder and is renamed into place
    (``os.replace``), so a reader never sees half a file. The folder is created.

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
    text = json.dumps(result, indent=2, allow_nan=False) + "\n"
    fragment = scenario_fragment(result["segments"], period_months, source=result.get("table"))
    out_json.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out_json, text.encode())
    atomic_write_bytes(toml_path, fragment.encode())
    return out_json, toml_path
