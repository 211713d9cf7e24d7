"""What a validation check is: its verdict, its tolerance, and the z-scores behind it.

**Concept.** Every validation check compares a simulated quantity with an answer known
independently of the simulation code and ends in one :class:`Check`: the deviation
found, the bound it is held to, and whether it passed (:func:`make_check`). A
tolerance is derived, never hand-picked: a deviation is measured in **standard
errors** and held to :data:`K` = 4 of them; deterministic identities (closed forms)
are held to the relative rounding tolerance :data:`CLOSED_FORM_RTOL`.

The helpers the check groups share live here too: :func:`z_score` (one comparison in
standard errors), :func:`worst` (the largest ``|z|`` of many), :func:`chi2_z` (a
chi-square statistic as the equivalent normal z-score), :func:`binomial_se`,
:func:`fixed_trait` (a fixed trait of a scenario) and :func:`step_label`.
:func:`verdict` is the one line that sums up a list of checks.

Typical use::

    from sim.validation.checks import K, make_check, verdict

    check = make_check("recursion", "bass", 2.3, K, "SE", "max |z| over every step")
    check.passed, verdict([check])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from sim.engine.segments import Segment
from sim.theory.expressibility import fixed_value

__all__ = [
    "CLOSED_FORM_RTOL",
    "MAX_NAMED",
    "Check",
    "K",
    "binomial_se",
    "chi2_z",
    "fixed_trait",
    "format_value",
    "make_check",
    "step_label",
    "verdict",
    "worst",
    "z_score",
]

#: Tolerance in standard errors.
K = 4.0
#: Relative tolerance of deterministic identities (closed forms).
CLOSED_FORM_RTOL = 1e-9
#: Failed checks named in the verdict line (the report's table lists them all).
MAX_NAMED = 6


@dataclass(frozen=True)
class Check:
    """The outcome of one validation check.

    Attributes:
        name: Short name, unique within its group.
        group: The check group (one of :data:`sim.validation.suite.GROUPS`).
        measured: The deviation found (e.g. the largest ``|z|``, a largest absolute
            difference); for ``bound = "min"`` the separation found.
        tolerance: The bound it is held to.
        unit: Unit of ``measured`` and ``tolerance``: ``"SE"`` (standard errors),
            ``"share"`` (a fraction of the population), ``"relative"``,
            ``"probability"``.
        passed: ``measured ≤ tolerance`` (``bound = "max"``) or ``measured ≥
            tolerance`` (``bound = "min"``); ``False`` when ``measured`` is NaN.
        detail: One line: where the worst deviation is, or what was compared.
        bound: ``"max"`` (a deviation that must stay small) or ``"min"`` (a
            departure that must be large, e.g. the sparse-network lag).
    """

    name: str
    group: str
    measured: float
    tolerance: float
    unit: str
    passed: bool
    detail: str
    bound: str = "max"

    @property
    def label(self) -> str:
        """``group · name``."""
        return f"{self.group} · {self.name}"

    def measured_text(self) -> str:
        """The measured value, formatted for its unit."""
        return format_value(self.measured, self.unit)

    def tolerance_text(self) -> str:
        """The bound, e.g. ``≤ 4 SE`` or ``≥ 4 SE``."""
        sign = "≤" if self.bound == "max" else "≥"
        return f"{sign} {format_value(self.tolerance, self.unit)}"


def make_check(
    name: str, group: str, measured: float, tolerance: float, unit: str, detail: str,
    bound: str = "max",
) -> Check:
    """Build a :class:`Check`, deciding ``passed`` from the bound.

    Args:
        name: Short name.
        group: The check group.
        measured: The deviation (or separation, ``bound = "min"``).
        tolerance: The bound.
        unit: Unit of both.
        detail: One line of explanation.
        bound: ``"max"`` or ``"min"``.

    Returns:
        The check; NaN never passes.

    Raises:
        ValueError: ``bound`` is neither ``"max"`` nor ``"min"``.
    """
    measured = float(measured)
    if bound == "max":
        passed = measured <= tolerance
    elif bound == "min":
        passed = measured >= tolerance
    else:
        raise ValueError(f"bound must be 'max' or 'min', got {bound!r}")
    return Check(name, group, measured, float(tolerance), unit, bool(passed), detail, bound)


def format_value(value: float, unit: str) -> str:
    """A measured value or tolerance as the report writes it.

    Args:
        value: The number.
        unit: ``"SE"`` (two decimals), ``"share"`` (percentage points) or any other
            unit (scientific notation followed by the unit).

    Returns:
        E.g. ``2.31 SE``, ``1.23 pp``, ``3.0e-12 relative``; ``nan``, ``∞``, ``−∞``.
    """
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    match unit:
        case "SE":
            return f"{value:.2f} SE"
        case "share":
            return f"{100 * value:.2f} pp"
        case _:
            return f"{value:.1e} {unit}"


def verdict(checks: Sequence[Check]) -> str:
    """One line: ``All N checks passed`` or ``K of N checks FAILED: name (value), …``.

    Args:
        checks: The checks.

    Returns:
        The verdict line; at most :data:`MAX_NAMED` failed checks are named.
    """
    failed = [c for c in checks if not c.passed]
    if not failed:
        return f"All {len(checks)} checks passed"
    names = ", ".join(
        f"{c.label} ({c.measured_text()}, needs {c.tolerance_text()})"
        for c in failed[:MAX_NAMED]
    )
    if len(failed) > MAX_NAMED:
        names += f" and {len(failed) - MAX_NAMED} more"
    return f"{len(failed)} of {len(checks)} checks FAILED: {names}"


# ----------------------------------------------------------------------------------
# helpers shared by the check groups


def z_score(observed: float, expected: float, se: float) -> float:
    """One comparison in standard errors.

    Args:
        observed: The simulated value.
        expected: The theory's value.
        se: The standard error of ``observed``.

    Returns:
        ``(observed − expected) / se``; with ``se = 0`` an exact match (to rounding)
        is 0, anything else ∞.
    """
    if se > 0:
        return (observed - expected) / se
    return 0.0 if abs(observed - expected) <= 1e-9 * max(1.0, abs(expected)) else math.inf


def worst(z: dict[str, float]) -> tuple[str, float]:
    """The comparison with the largest ``|z|``.

    Args:
        z: Label → z-score.

    Returns:
        ``(label, z)``; NaN counts as largest.
    """
    label = max(z, key=lambda k: math.inf if math.isnan(z[k]) else abs(z[k]))
    return label, z[label]


def chi2_z(statistic: float, dof: int) -> float:
    """The normal z-score with the same tail probability as a chi-square statistic.

    Args:
        statistic: The chi-square statistic.
        dof: Its degrees of freedom.

    Returns:
        Negative when the statistic is below the median (too little spread), positive
        above it; NaN without degrees of freedom.
    """
    if dof <= 0:
        return math.nan
    low = stats.chi2.cdf(statistic, dof)
    if low < 0.5:
        return float(stats.norm.ppf(low))
    return float(stats.norm.isf(stats.chi2.sf(statistic, dof)))


def binomial_se(p: np.ndarray | float, n: int) -> np.ndarray:
    """Standard error of a share ``p`` of ``n`` independent trials.

    Args:
        p: The expected share(s).
        n: Trials.

    Returns:
        ``sqrt(p (1 − p) / n)``, shaped like ``p``.
    """
    return np.sqrt(p * (1.0 - p) / n)


def fixed_trait(segment: Segment, trait: str) -> float:
    """The value of a trait the scenario fixes for ``segment``, as the simulation uses it.

    Args:
        segment: A scenario's segment.
        trait: The trait's name.

    Returns:
        :func:`sim.theory.expressibility.fixed_value` of it.

    Raises:
        ValueError: The trait is not fixed.
    """
    value = fixed_value(segment, trait)
    if value is None:
        raise ValueError(f"expected a fixed {trait}, got {segment.traits[trait].kind}")
    return value


def step_label(step: str) -> str:
    """The adjective of a step length, as check names use it.

    Args:
        step: ``"month"`` or ``"week"``.

    Returns:
        ``"monthly"`` for ``"month"``, ``"weekly"`` otherwise.
    """
    return "monthly" if step == "month" else "weekly"
