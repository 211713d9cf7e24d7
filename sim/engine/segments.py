"""Customer segments: trait distributions and population sampling.

Every customer draws its traits from its segment's distributions, so customers within
a segment differ. A Beta-distributed churn propensity, for instance, produces the
decaying aggregate churn rate seen in real cohorts (the best customers stay longest).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

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

#: Distribution families and their parameters.
DISTRIBUTIONS = {
    "fixed": ("value",),
    "beta": ("alpha", "beta"),
    "uniform": ("low", "high"),
    "lognormal": ("mean", "sd"),
    "normal": ("mean", "sd"),
}


@dataclass(frozen=True)
class Distribution:
    """A one-dimensional trait distribution.

    Attributes:
        kind: One of :data:`DISTRIBUTIONS` (``fixed``, ``beta``, ``uniform``,
            ``lognormal`` parameterised by its own mean and sd, ``normal``).
        params: The parameters, in the order :data:`DISTRIBUTIONS` lists them.
    """

    kind: str
    params: tuple[float, ...]

    def frozen(self):
        """Return the equivalent frozen ``scipy.stats`` distribution (None for fixed)."""
        p = dict(zip(DISTRIBUTIONS[self.kind], self.params, strict=True))
        match self.kind:
            case "beta":
                return stats.beta(p["alpha"], p["beta"])
            case "uniform":
                return stats.uniform(p["low"], p["high"] - p["low"])
            case "normal":
                return stats.norm(p["mean"], p["sd"])
            case "lognormal":
                sigma2 = np.log1p((p["sd"] / p["mean"]) ** 2)
                return stats.lognorm(s=np.sqrt(sigma2), scale=p["mean"] / np.sqrt(np.exp(sigma2)))
        return None

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` values with ``rng`` (always consumes the same amount of randomness)."""
        dist = self.frozen()
        if dist is None:
            return np.full(n, self.params[0])
        return np.asarray(dist.rvs(size=n, random_state=rng), dtype=float)

    def mean(self) -> float:
        """Return the distribution's mean."""
        dist = self.frozen()
        return float(self.params[0]) if dist is None else float(dist.mean())


@dataclass(frozen=True)
class Segment:
    """A customer segment.

    Attributes:
        name: Segment name (e.g. ``enterprise``).
        share: Share of the population in this segment.
        acquisition_cost: Sales cost per converted customer (currency).
        traits: Trait name → distribution, for every name in :data:`TRAITS`.
    """

    name: str
    share: float
    acquisition_cost: float
    traits: dict[str, Distribution]


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
