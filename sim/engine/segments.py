"""Customer segments: trait distributions and population sampling.

Every customer draws its traits from its segment's distributions, so customers within
a segment differ. A Beta-distributed churn propensity, for instance, produces the
decaying aggregate churn rate seen in real cohorts (the best customers stay longest).

Two traits can be stated in the units a business uses (:data:`ANNUAL_FORMS`):

* ``annual_churn`` instead of ``churn_propensity``: each customer draws ``a``, its
  probability of churning within a year (as a middling customer on a churn edge with
  ``odds = 1`` and no drivers), and its monthly propensity is
  ``m = 1 − (1 − a)^(1/12)`` (:func:`monthly_churn`), applied per draw, so that twelve
  months of survival at ``m`` are exactly ``1 − a``. A segment's annual churn is then
  the mean of ``a``; the mean of ``m`` is not ``E[a] / 12``.
* ``acv`` (annual contract value) instead of ``revenue`` (monthly): every parameter
  is divided by 12, which is exact for the linear families (a lognormal of mean μ and
  sd σ per year is a lognormal of mean μ/12 and sd σ/12 per month).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

#: Traits that are shares / propensities on [0, 1].
UNIT_TRAITS = (
    "complexity",
    "human_preference",
    "digital_affinity",
    "churn_propensity",
    "responsiveness",
    "expansion_potential",
    "referral_propensity",
)
#: Every trait, in the column order used by outputs.
TRAITS = ("revenue", *UNIT_TRAITS)

#: Trait → the key that states it per year instead of per month.
ANNUAL_FORMS = {"churn_propensity": "annual_churn", "revenue": "acv"}

#: Distribution families and their parameters.
DISTRIBUTIONS = {
    "fixed": ("value",),
    "beta": ("alpha", "beta"),  # or mean, sd: see beta_from_moments
    "uniform": ("low", "high"),
    "lognormal": ("mean", "sd"),
    "normal": ("mean", "sd"),
}


def monthly_churn(annual: np.ndarray | float,
                  out: np.ndarray | None = None) -> np.ndarray | float:
    """The monthly churn probability ``1 − (1 − a)^(1/12)`` of an annual one ``a``.

    Twelve months at the returned rate leave exactly ``1 − a``; computed as
    ``−expm1(log1p(−a) / 12)`` so that small rates keep their precision.

    Args:
        annual: The annual probabilities (an array or a number).
        out: Where to write them (``annual`` itself, to convert in place; ``None``: a
            new array, or a number for a number).
    """
    monthly = np.negative(np.asarray(annual, dtype=float), out=out)
    if not isinstance(monthly, np.ndarray):  # a number: an array to work in
        monthly = np.asarray(monthly)
    with np.errstate(divide="ignore"):  # a = 1: log1p(−1) = −inf, and m = 1 exactly
        np.log1p(monthly, out=monthly)
    monthly /= 12.0
    np.expm1(monthly, out=monthly)
    np.negative(monthly, out=monthly)
    return monthly if monthly.ndim else monthly[()]


def beta_from_moments(mean: float, sd: float) -> tuple[float, float]:
    """``(alpha, beta)`` of the Beta distribution with this mean and sd (method of moments).

    Raises:
        ValueError: No Beta has them: the mean must be in (0, 1) and the sd in
            ``(0, sqrt(mean (1 − mean)))``; the message says which bound fails.
    """
    if not 0.0 < mean < 1.0:
        raise ValueError(f"a Beta's mean must be strictly between 0 and 1, got {mean:g}")
    limit = float(np.sqrt(mean * (1.0 - mean)))
    if not 0.0 < sd < limit:
        raise ValueError(
            f"a Beta with mean {mean:g} needs 0 < sd < sqrt(mean·(1 − mean)) = {limit:.4g}, "
            f"got sd = {sd:g}"
        )
    size = mean * (1.0 - mean) / sd**2 - 1.0
    return mean * size, (1.0 - mean) * size


@lru_cache(maxsize=1024)
def _frozen(kind: str, params: tuple[float, ...]):
    """The frozen ``scipy.stats`` distribution of :meth:`Distribution.frozen` (cached).

    Built from :func:`_draw_parameters`, so a draw and the distribution agree by
    construction. ``scipy.stats`` is imported here, not with the module: a run only
    draws, and importing it is about 0.8 s of every worker's and command's start.
    """
    from scipy import stats

    if kind not in ("beta", "uniform", "normal", "lognormal"):
        return None
    first, second = _draw_parameters(kind, params)
    match kind:
        case "beta":
            return stats.beta(first, second)
        case "uniform":
            return stats.uniform(first, second)
        case "normal":
            return stats.norm(first, second)
    return stats.lognorm(s=first, scale=second)


@lru_cache(maxsize=1024)
def _draw_parameters(kind: str, params: tuple[float, ...]) -> tuple[float, ...]:
    """The parameters of :func:`_draw` and :func:`_frozen`, as scipy parameterises each kind.

    ``(a, b)`` of a beta, ``(s, scale)`` of a lognormal, else ``(loc, scale)``.
    """
    p = dict(zip(DISTRIBUTIONS[kind], params, strict=True))
    match kind:
        case "beta":
            return float(p["alpha"]), float(p["beta"])
        case "uniform":
            return float(p["low"]), float(p["high"] - p["low"])
        case "normal":
            return float(p["mean"]), float(p["sd"])
    sigma2 = np.log1p((p["sd"] / p["mean"]) ** 2)  # lognormal, by its own mean and sd
    return float(np.sqrt(sigma2)), float(p["mean"] / np.sqrt(np.exp(sigma2)))


def _draw(kind: str, params: tuple[float, ...], rng: np.random.Generator,
          n: int) -> np.ndarray:
    """``_frozen(kind, params).rvs(size=n, random_state=rng)``, the same numbers.

    scipy draws a standardised variate with the generator (``beta(a, b)``,
    ``uniform(0, 1)``, ``standard_normal``, ``exp(s · standard_normal)``) and returns
    ``draw · scale + loc``; so does this, with the frozen distribution's parameters, in
    place (the same operations in the same order, without a temporary each; a scale of
    1 is left out: ``x · 1.0`` is ``x``). ``tests/engine/test_segments.py`` checks the
    equality, bit for bit, at the installed scipy.
    """
    match kind:
        case "beta":  # stats.beta(a, b): scale 1, loc 0
            a, b = _draw_parameters(kind, params)
            values = rng.beta(a, b, n)
            return np.add(values, 0.0, out=values)  # −0.0 + 0.0 is +0.0, as scipy's
        case "uniform":  # stats.uniform(loc, scale)
            loc, scale = _draw_parameters(kind, params)
            values = rng.uniform(0.0, 1.0, n)
        case "normal":  # stats.norm(loc, scale)
            loc, scale = _draw_parameters(kind, params)
            values = rng.standard_normal(n)
        case "lognormal":  # stats.lognorm(s=s, scale=scale): loc 0
            s, scale = _draw_parameters(kind, params)
            values = rng.standard_normal(n)
            values *= s
            np.exp(values, out=values)
            loc = 0.0
        case _:
            raise ValueError(f"no draw for a {kind!r} distribution")
    values *= scale
    values += loc
    return values


@dataclass(frozen=True)
class Distribution:
    """A one-dimensional trait distribution.

    Attributes:
        kind: One of :data:`DISTRIBUTIONS` (``fixed``, ``beta``, ``uniform``,
            ``lognormal`` parameterised by its own mean and sd, ``normal``).
        params: The parameters, in the order :data:`DISTRIBUTIONS` lists them.
        annual_churn: The distribution is of an annual churn probability; every draw
            (clipped to [0, 1]) is turned into the monthly one by :func:`monthly_churn`.
    """

    kind: str
    params: tuple[float, ...]
    annual_churn: bool = False

    def frozen(self):
        """Return the equivalent frozen ``scipy.stats`` distribution (None for fixed).

        One object per ``(kind, params)`` in a process (:func:`_frozen`): freezing costs
        ~2 ms (scipy builds its docstring), 85 % of a 5k-customer model's set-up, and a
        frozen distribution holds no state that a draw with ``random_state=`` changes.
        """
        return _frozen(self.kind, self.params)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` values with ``rng`` (always consumes the same amount of randomness).

        The frozen distribution's ``rvs(size=n, random_state=rng)``, drawn with the
        generator's own method (:func:`_draw`): the same numbers without scipy's
        per-call argument checks, which were 2.5 ms of a 5k-customer model's set-up
        (24 calls; issue 15).
        """
        if self.kind == "fixed":
            values = np.full(n, float(self.params[0]))
        else:
            values = _draw(self.kind, self.params, rng, n)
        if self.annual_churn:
            values = monthly_churn(np.clip(values, 0.0, 1.0, out=values), out=values)
        return values

    def mean(self) -> float:
        """Return the mean of the drawn values (monthly ones for an annual churn)."""
        dist = self.frozen()
        if dist is None:
            value = float(self.params[0])
            return float(monthly_churn(min(max(value, 0.0), 1.0))) if self.annual_churn else value
        if self.annual_churn:
            return float(dist.expect(lambda a: monthly_churn(np.clip(a, 0.0, 1.0))))
        return float(dist.mean())


@dataclass(frozen=True)
class Segment:
    """A customer segment.

    Attributes:
        name: Segment name (e.g. ``enterprise``).
        share: Share of the population in this segment.
        acquisition_cost: Sales cost per converted customer (currency).
        traits: Trait name → distribution, for every name in :data:`TRAITS` (in the
            model's units: monthly churn propensity, monthly revenue). In a
            repeat-purchase scenario ``revenue`` is a placeholder fixed at 0 (it draws no
            random numbers) that the model replaces by ``order_frequency × basket``.
        purchases: A repeat-purchase scenario's ``order_frequency`` and ``basket``
            distributions (:mod:`sim.engine.purchases`); empty for a subscription.
    """

    name: str
    share: float
    acquisition_cost: float
    traits: dict[str, Distribution]
    purchases: dict[str, Distribution] = field(default_factory=dict)


def segment_counts(shares: np.ndarray, n: int) -> np.ndarray:
    """Split ``n`` customers by ``shares`` with largest-remainder rounding.

    Deterministic, so a segment's size does not vary between replications.
    """
    raw = np.asarray(shares, dtype=float) * n
    counts = np.floor(raw).astype(np.int64)
    short = n - int(counts.sum())
    if short > 0:
        order = np.argsort(-(raw - counts), kind="stable")
        counts[order[:short]] += 1
    return counts


def sample_population(
    rng: np.random.Generator, segments: tuple[Segment, ...], n: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Assign ``n`` customers to segments and draw their traits.

    Args:
        rng: The run's generator.
        segments: The scenario's segments.
        n: Number of customers.

    Returns:
        ``(segment_index, traits)``: an ``int8`` array of segment indices in random
        order and a dict trait name → ``float64`` array of length ``n``.
    """
    counts = segment_counts(np.array([s.share for s in segments]), n)
    segment = rng.permutation(np.repeat(np.arange(len(segments), dtype=np.int8), counts))
    traits = {name: np.empty(n) for name in TRAITS}
    for k, seg in enumerate(segments):
        rows = np.flatnonzero(segment == k)
        for name in TRAITS:
            traits[name][rows] = seg.traits[name].sample(rng, rows.size)
    for name in UNIT_TRAITS:
        np.clip(traits[name], 0.0, 1.0, out=traits[name])
    np.maximum(traits["revenue"], 0.0, out=traits["revenue"])
    return segment, traits
