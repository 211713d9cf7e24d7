"""Uncertain assumptions: the ranges a scenario declares for the values it is unsure of.

A scenario lists them in an ``[uncertainties]`` table keyed by the dotted key path of
the value (the path syntax of overrides, ``lifecycle.edges[7].drivers.touch``)::

    [uncertainties."policies.high_touch.programs.check_ins.effect"]
    dist = "triangular"
    low = 0.2
    mode = 0.5
    high = 0.9
    also = ["policies.hybrid.programs.enterprise_check_ins.effect"]
    source = "no published effect size; from a weak to a strong program"
    label = "CSM check-in effect"

Each entry becomes an :class:`Uncertainty`: a distribution with a vectorised
:meth:`~Uncertainty.ppf` (what a sampled design draws through), the linked keys set to
the same value (``also``), a key that absorbs the change so a sum stays fixed
(``complement``), where the range comes from (``source``, required) and how a value is
shown to a strategist (``label``, ``display``).

A policy's library tactics add their effect ranges to the table as it is read
(:func:`sim.engine.tactics_library.tactic_uncertainties`), unless an entry already
varies that value or the table says ``from_tactics = false``.

A ``normal`` or ``lognormal`` without bounds is cut at its 0.1 % and 99.9 % quantiles,
so every sampled value is finite and lies in :meth:`~Uncertainty.support`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from sim.engine.paths import get_path, split_path
from sim.engine.segments import Distribution
from sim.formatting import fixed, money_short, number, percent
from sim.schema import Table, suggest

#: Distribution name → (required parameters, optional parameters). ``beta`` is
#: rescaled onto ``[low, high]`` (default ``[0, 1]``); ``normal`` and ``lognormal`` (mean
#: and sd of the value itself) are truncated to the bounds given.
UNCERTAIN_DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "uniform": (("low", "high"), ()),
    "triangular": (("low", "mode", "high"), ()),
    "beta": (("alpha", "beta"), ("low", "high")),
    "lognormal": (("mean", "sd"), ("low", "high")),
    "normal": (("mean", "sd"), ("low", "high")),
}
#: How a value is shown: ``number``; ``money``; ``percent`` (a share); ``odds`` (a logit
#: coefficient x as the odds multiplier e^x); ``odds_cut`` (a negative logit coefficient
#: on a churn edge as the cut 1 − e^x of the churn odds).
DISPLAYS = ("number", "money", "percent", "odds", "odds_cut")
#: Quantiles where an unbounded ``normal`` or ``lognormal`` is cut.
TAIL = 0.001
#: The one key of ``[uncertainties]`` that is not a path: ``from_tactics = false`` keeps
#: the library tactics' effect ranges out (they are uncertain by default).
FROM_TACTICS = "from_tactics"
#: Keys of an entry besides the distribution's parameters.
ENTRY_KEYS = ("dist", "also", "complement", "source", "label", "display")
_UNBOUNDED = ("normal", "lognormal")
_NATURAL_BOUNDS = {
    "beta": (0.0, 1.0), "lognormal": (0.0, math.inf), "normal": (-math.inf, math.inf)
}
_POSITIVE = ("sd", "alpha", "beta")
_NO_SOURCE = (
    "say where the range comes from: a study, a benchmark, your own data, or your reasoning"
)


@dataclass(frozen=True)
class Uncertainty:
    """One uncertain assumption of a scenario.

    Attributes:
        path: Dotted key path of the value (``lifecycle.edges[9].drivers.touch``).
        dist: Distribution name, a key of :data:`UNCERTAIN_DISTRIBUTIONS`.
        params: ``(name, value)`` of the parameters given, required ones first.
        also: Further key paths set to the same value (linked assumptions).
        complement: A key path that absorbs the change so a sum stays fixed (it becomes
            ``base_other − (value − base_value)``), or ``None``.
        source: Where the range comes from.
        label: Short plain-words name (the parser gives the path when the file has none).
        display: How values are shown, one of :data:`DISPLAYS`.
        integer: The scenario's value is an integer (a book size): sampled values are
            to be rounded by whoever applies them.
    """

    path: str
    dist: str
    params: tuple[tuple[str, float], ...]
    also: tuple[str, ...] = ()
    complement: str | None = None
    source: str = ""
    label: str = ""
    display: str = "number"
    integer: bool = False

    @property
    def parameters(self) -> dict[str, float]:
        """The parameters as a dict."""
        return dict(self.params)

    def frozen(self) -> Any:
        """Return the frozen ``scipy.stats`` distribution.

        A bounded ``normal`` is a ``truncnorm``; a ``lognormal`` is returned untruncated
        (:meth:`ppf`, :meth:`mean` and :meth:`support` apply its bounds).
        """
        from scipy import stats  # here: a run needs none of it (the workers' start)

        p = self.parameters
        match self.dist:
            case "uniform":
                return stats.uniform(p["low"], p["high"] - p["low"])
            case "triangular":
                width = p["high"] - p["low"]
                return stats.triang((p["mode"] - p["low"]) / width, loc=p["low"], scale=width)
            case "beta":
                low, high = p.get("low", 0.0), p.get("high", 1.0)
                return stats.beta(p["alpha"], p["beta"], loc=low, scale=high - low)
            case "normal" if "low" in p or "high" in p:
                mean, sd = p["mean"], p["sd"]
                a = (p.get("low", -math.inf) - mean) / sd
                b = (p.get("high", math.inf) - mean) / sd
                return stats.truncnorm(a, b, loc=mean, scale=sd)
            case "normal" | "lognormal":
                return Distribution(self.dist, (p["mean"], p["sd"])).frozen()
        raise ValueError(f"unknown distribution {self.dist!r}")

    @cached_property
    def _range(self) -> tuple[Any, float, float, float, float]:
        """``(frozen, q_low, q_high, low, high)``: what :meth:`ppf` spans, computed once.

        ``[q_low, q_high]`` is the range of the frozen distribution's cumulative
        probability that :meth:`ppf` maps [0, 1] onto; ``[low, high]`` is the support.
        """
        dist, p = self.frozen(), self.parameters
        tail = TAIL if self.dist in _UNBOUNDED else 0.0
        q_low = float(dist.cdf(p["low"])) if "low" in p else tail
        q_high = float(dist.cdf(p["high"])) if "high" in p else 1.0 - tail
        low = float(p.get("low", dist.ppf(q_low)))
        high = float(p.get("high", dist.ppf(q_high)))
        return dist, q_low, q_high, low, high

    def support(self) -> tuple[float, float]:
        """Return ``(low, high)``: the bounds where given, else the 0.1 % / 99.9 % quantiles."""
        return self._range[3], self._range[4]

    def ppf(self, u: float | np.ndarray) -> float | np.ndarray:
        """Map probabilities ``u`` in [0, 1] to values in :meth:`support` (vectorised)."""
        dist, q_low, q_high, low, high = self._range
        q = q_low + np.asarray(u, dtype=float) * (q_high - q_low)
        values = np.clip(dist.ppf(q), low, high)
        return values if np.ndim(values) else float(values)

    def mean(self) -> float:
        """Return the mean of the values :meth:`ppf` gives."""
        dist, _, _, low, high = self._range
        if self.dist not in _UNBOUNDED:
            return float(dist.mean())
        return float(dist.expect(lb=low, ub=high, conditional=True))

    def describe(self) -> str:
        """The distribution in words: ``triangular(0.2, 0.5, 0.9)``."""
        p = self.parameters
        required, optional = UNCERTAIN_DISTRIBUTIONS[self.dist]
        if self.dist in _UNBOUNDED:
            text = f"{self.dist}(mean {p['mean']:g}, sd {p['sd']:g})"
        else:
            text = f"{self.dist}({', '.join(f'{p[k]:g}' for k in required)})"
        if any(k in p for k in optional):
            natural = _NATURAL_BOUNDS[self.dist]
            low, high = p.get("low", natural[0]), p.get("high", natural[1])
            opening, closing = "(" if low == -math.inf else "[", ")" if high == math.inf else "]"
            text += f" on {opening}{_g(low)}, {_g(high)}{closing}"
        return text

    def shown(self, value: float) -> str:
        """``value`` in the user's units, per :attr:`display` (``cuts churn odds by 78 %``)."""
        match self.display:
            case "money":
                return money_short(value)
            case "percent":
                return percent(value)
            case "odds":
                return f"odds ×{fixed(math.exp(value), 2)}"
            case "odds_cut":
                change = math.exp(value) - 1.0
                verb = "raises" if change > 0 else "cuts"
                return f"{verb} churn odds by {percent(abs(change), digits=0)}"
        return f"{round(value):,}" if self.integer else number(value)

    def shown_beyond(self, value: float, above: bool) -> str:
        """The condition "the assumption is above (or below) ``value``" as a phrase.

        A cut in churn odds reads the other way round from its logit coefficient (a
        lower coefficient is a larger cut): ``cuts churn odds by more than 48 %``
        rather than ``is below cuts churn odds by 48 %``.

        Args:
            value: The threshold, in the model's units.
            above: Whether the condition is "above" the threshold.

        Returns:
            A phrase that follows the assumption's label (``is above 10.5 %``).
        """
        if self.display != "odds_cut":
            return f"is {'above' if above else 'below'} {self.shown(value)}"
        change = math.exp(value) - 1.0
        if change <= 0.0:  # a cut: a lower coefficient cuts more
            side = "less" if above else "more"
            return f"cuts churn odds by {side} than {percent(-change, digits=0)}"
        return (f"raises churn odds by {'more' if above else 'less'} than "
                f"{percent(change, digits=0)}")

    def shown_interval(self, low: float, high: float) -> str:
        """An interval of values in the user's units (``cuts churn odds by 43 % to 65 %``).

        Args:
            low: Lower end, in the model's units.
            high: Upper end.

        Returns:
            ``"<low> to <high>"``; a cut in churn odds is given once, smaller cut first.
        """
        if self.display == "odds_cut" and max(low, high) <= 0.0:
            cuts = sorted(1.0 - math.exp(v) for v in (low, high))
            return (f"cuts churn odds by {percent(cuts[0], digits=0)} to "
                    f"{percent(cuts[1], digits=0)}")
        return f"{self.shown(low)} to {self.shown(high)}"


def _g(value: float) -> str:
    return "∞" if value == math.inf else "−∞" if value == -math.inf else f"{value:g}"


# ----------------------------------------------------------------------------------
# parsing


def parse_uncertainties(table: Table, raw: Mapping[str, Any]) -> tuple[Uncertainty, ...]:
    """Validate a scenario's ``[uncertainties]`` table, in the file's order.

    Args:
        table: The ``uncertainties`` table (with the tactics' ranges added, and
            perhaps the switch :data:`FROM_TACTICS`, a boolean).
        raw: The whole scenario table (overrides applied): every path must name a
            number in it.

    Returns:
        The uncertain assumptions.

    Raises:
        InputError: An entry is invalid; the message names its key path (e.g.
            ``uncertainties."policies.x.effect".mode``) and what was expected.
    """
    seen: dict[tuple[str | int, ...], str] = {}
    entries = []
    for path in list(table.keys()):
        if path == FROM_TACTICS:
            table.boolean(FROM_TACTICS)
            continue
        entry = Table(table.raw(path), table.file, f'{table.path}."{path}"')
        entries.append(_uncertainty(entry, path, raw, seen))
    return tuple(entries)


def _uncertainty(
    t: Table, path: str, raw: Mapping[str, Any], seen: dict[tuple[str | int, ...], str]
) -> Uncertainty:
    """Validate one entry; ``seen`` maps the paths varied so far to where they were."""
    kind = t.string("dist", choices=UNCERTAIN_DISTRIBUTIONS)
    required, optional = UNCERTAIN_DISTRIBUTIONS[kind]
    takes = f"a {kind} takes {', '.join(required)}"
    takes += f" and optionally {', '.join(optional)}" if optional else ""
    allowed = (*required, *optional, *ENTRY_KEYS)
    for name in t.data:
        if name not in allowed:
            raise t.error(name, f"unknown key{suggest(name, allowed)}; {takes}")
    p = {}
    for name in (*required, *(k for k in optional if k in t)):
        if name not in t:
            raise t.error(name, f"required key is missing: {takes}")
        if name in _POSITIVE or (kind == "lognormal" and name == "mean"):
            p[name] = t.positive(name)
        elif kind == "lognormal" and name == "low":
            p[name] = t.nonneg(name)
        else:
            p[name] = t.number(name)
    _check_order(t, kind, p)

    also = t.strings("also", ())
    complement = t.string("complement") if "complement" in t else None
    linked = [("", path), *(("also", other) for other in also)]
    if complement is not None:
        linked.append(("complement", complement))
    values = [_number_at(t, key, other, raw) for key, other in linked]
    for key, other in linked:
        canonical = tuple(split_path(other))
        if canonical in seen:
            raise t.error(key, f"{other!r} is already varied by {seen[canonical]}: "
                          "a value can have only one uncertainty")
        seen[canonical] = t.key(key) if key else t.path

    source = t.string("source", "").strip()
    if not source:
        raise t.error("source", f"missing or empty: {_NO_SOURCE}")
    return Uncertainty(
        path=path,
        dist=kind,
        params=tuple(p.items()),
        also=also,
        complement=complement,
        source=source,
        label=t.string("label", "").strip() or path,
        display=t.string("display", "number", choices=DISPLAYS),
        integer=isinstance(values[0], numbers.Integral),
    )


def _check_order(t: Table, kind: str, p: dict[str, float]) -> None:
    """Bounds in order, and bounds that keep some of a normal or lognormal."""
    if "low" in p and "high" in p and not p["low"] < p["high"]:
        raise t.error("high", f"expected high > low ({p['low']:g}), got {p['high']:g}")
    if kind == "triangular" and not p["low"] <= p["mode"] <= p["high"]:
        raise t.error("mode", f"expected low ≤ mode ≤ high ({p['low']:g} to {p['high']:g}), "
                      f"got {p['mode']:g}")
    if kind in _UNBOUNDED and ("low" in p or "high" in p):
        dist = Distribution(kind, (p["mean"], p["sd"])).frozen()
        kept = dist.cdf(p.get("high", math.inf)) - dist.cdf(p.get("low", -math.inf))
        if kept < 1e-6:
            raise t.error("", f"the bounds keep almost none of a {kind} with mean "
                          f"{p['mean']:g} and sd {p['sd']:g}: put them around the mean")


def _number_at(t: Table, key: str, dotted: str, raw: Mapping[str, Any]) -> float:
    """The scenario's number at ``dotted``; else an error at ``key`` of the entry."""
    parts = split_path(dotted)
    if parts and parts[0] == "uncertainties":
        raise t.error(key, f"{dotted!r} is inside [uncertainties]: name a scenario value")
    try:
        value = get_path(raw, dotted)
    except (KeyError, IndexError, TypeError):
        hint = suggest(dotted, _numeric_paths(raw))
        raise t.error(key, f"no value {dotted!r} in the scenario{hint}") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise t.error(key, f"the scenario's {dotted!r} is {value!r}, not a number: "
                      "only numbers can be uncertain")
    return value


def _numeric_paths(node: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of every number in ``node`` (outside ``[uncertainties]``)."""
    if isinstance(node, Mapping):
        for name, value in node.items():
            if prefix or name != "uncertainties":
                yield from _numeric_paths(value, f"{prefix}.{name}" if prefix else name)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _numeric_paths(value, f"{prefix}[{i}]")
    elif isinstance(node, numbers.Real) and not isinstance(node, bool):
        yield prefix
