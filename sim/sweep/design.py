"""Experiments: what to vary, which policies to compare, and the runs that follow.

In EMA Workbench's vocabulary an experiment crosses *uncertainties* (factors: scenario
parameters addressed by dotted key paths, with ranges or lists) with *levers* (the
policies) and *replications*. The design — ``grid``, ``lhs`` or ``sobol`` — picks the
factor values (samplers from :mod:`scipy.stats.qmc`). Every run is identified by
``(point, policy, replication)`` and seeded by ``SeedSequence(root, spawn_key=(point,
replication))``: all policies of a replication share the seed (common random numbers),
and no seed depends on worker count, order or backend.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import qmc

from sim.engine.scenario import Scenario, get_path, load_scenario, read_toml, resolve
from sim.schema import InputError, Table

EXPERIMENT_DIR = Path(__file__).resolve().parents[2] / "experiments"
DESIGNS = ("grid", "lhs", "sobol")


@dataclass(frozen=True)
class Factor:
    """A scenario parameter to vary.

    Attributes:
        path: Dotted key path into the scenario (``segments.smb.revenue.mean``).
        values: Explicit levels (a list), or ``None`` for a range.
        low: Lower end of a range.
        high: Upper end of a range.
        levels: Number of grid levels of a range.
        integer: Round sampled values to integers.
        complement: A key path that absorbs the change so a sum stays fixed (vary one
            segment's share and let another's make up the difference).
        also: Further key paths set to the same value (one lever applied to several
            policies, e.g. the book size of every named CSM team).
    """

    path: str
    values: tuple[Any, ...] | None = None
    low: float = 0.0
    high: float = 0.0
    levels: int = 3
    integer: bool = False
    complement: str | None = None
    also: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """Column name in result tables."""
        return self.path

    def grid(self) -> list[Any]:
        """The factor's grid levels."""
        if self.values is not None:
            return list(self.values)
        return [self._cast(v) for v in np.linspace(self.low, self.high, self.levels)]

    def from_unit(self, u: float) -> Any:
        """Map a point of [0, 1) to a value (a level for lists)."""
        if self.values is not None:
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        return self._cast(self.low + u * (self.high - self.low))

    def _cast(self, value: float) -> Any:
        return round(float(value)) if self.integer else float(value)


@dataclass(frozen=True)
class Experiment:
    """A validated experiment file."""

    name: str
    description: str
    source: str
    scenario: Scenario
    policies: tuple[str, ...]
    baseline: str
    factors: tuple[Factor, ...]
    design: str
    samples: int
    replications: int
    months: int
    customers: int
    seed: int
    raw: Mapping[str, Any]

    def points(self) -> list[dict[str, Any]]:
        """Factor values of every design point (``[{}]`` when nothing varies)."""
        if not self.factors:
            return [{}]
        if self.design == "grid":
            combos = itertools.product(*(f.grid() for f in self.factors))
            return [dict(zip((f.path for f in self.factors), c, strict=True)) for c in combos]
        d = len(self.factors)
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(2**31,)))
        if self.design == "lhs":
            unit = qmc.LatinHypercube(d=d, rng=rng).random(self.samples)
        else:
            unit = qmc.Sobol(d=d, scramble=True, rng=rng).random(self.samples)
        return [
            {f.path: f.from_unit(u) for f, u in zip(self.factors, row, strict=True)}
            for row in unit
        ]

    def overrides(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """Scenario overrides of one design point (complements applied)."""
        out: dict[str, Any] = {}
        for f in self.factors:
            value = point[f.path]
            out[f.path] = value
            for other_path in f.also:
                out[other_path] = value
            if f.complement is not None:
                base_value = get_path(self.scenario.raw, f.path)
                other = get_path(self.scenario.raw, f.complement)
                out[f.complement] = float(other) - (float(value) - float(base_value))
        return out

    def runs(self) -> list[Run]:
        """Every run of the experiment, in a fixed order."""
        runs = []
        for p, point in enumerate(self.points()):
            for r in range(self.replications):
                seed = run_seed(self.seed, p, r)
                for policy in self.policies:
                    runs.append(Run(len(runs), p, policy, r, seed, point))
        return runs


@dataclass(frozen=True)
class Run:
    """One simulation run of an experiment."""

    run_id: int
    point: int
    policy: str
    replication: int
    seed: int
    factors: Mapping[str, Any]


def run_seed(root: int, point: int, replication: int) -> int:
    """Seed of ``(point, replication)``: the same for every policy (common random numbers)."""
    state = np.random.SeedSequence(root, spawn_key=(point, replication)).generate_state(
        1, np.uint64
    )
    return int(state[0] >> np.uint64(1))


def shipped_experiments() -> dict[str, Path]:
    """Return name → path of the experiments shipped in ``experiments/``."""
    return {p.stem: p for p in sorted(EXPERIMENT_DIR.glob("*.toml"))}


def resolve_experiment(source: str | Path) -> Path:
    """Find an experiment by path or by shipped name."""
    path = Path(source)
    if path.is_file():
        return path
    shipped = shipped_experiments()
    if str(source) in shipped:
        return shipped[str(source)]
    from sim.schema import suggest

    raise InputError(
        None,
        "",
        f"no experiment file or shipped experiment named {source!r}"
        + suggest(str(source), shipped)
        + f"; shipped: {', '.join(shipped)}",
    )


def load_experiment(source: str | Path, **overrides: Any) -> Experiment:
    """Load and validate an experiment file (or a shipped experiment by name).

    Args:
        source: Path or shipped name.
        overrides: Top-level keys to replace (``replications=2``, ``customers=500``).

    Raises:
        InputError: The file is invalid; the message names the file and key path.
    """
    path = resolve_experiment(source)
    raw = read_toml(path)
    raw.update({k: v for k, v in overrides.items() if v is not None})
    return experiment_from_dict(raw, str(path), name=path.stem)


def experiment_from_dict(raw: Mapping[str, Any], file: str, name: str = "experiment") -> Experiment:
    """Validate a raw experiment table into an :class:`Experiment`."""
    t = Table(dict(raw), file)
    description = t.string("description", "")
    scenario_ref = t.string("scenario", "default")
    scenario_path = Path(file).parent / scenario_ref
    try:
        found = resolve(scenario_path if scenario_path.suffix == ".toml" else scenario_ref)
    except InputError as exc:
        raise t.error("scenario", exc.problem) from None
    months = t.integer("months", 36, low=1)
    customers = t.integer("customers", 5000, low=1)
    scenario = load_scenario(
        found, overrides={"time.months": months, "population.customers": customers}
    )
    policies = t.strings("policies", tuple(scenario.policies))
    for p in policies:
        if p not in scenario.policies:
            from sim.schema import suggest

            raise t.error("policies", f"policy {p!r} is not in scenario {scenario.name!r}"
                          + suggest(p, scenario.policies))
    if len(set(policies)) != len(policies) or not policies:
        raise t.error("policies", "expected a non-empty list of distinct policy names")
    baseline = t.string("baseline", "no_touch" if "no_touch" in policies else policies[0])
    if baseline not in policies:
        raise t.error("baseline", f"expected one of the compared policies {list(policies)}")
    replications = t.integer("replications", 5, low=1)
    seed = t.integer("seed", 0, low=0)
    design_t = t.table("design", {})
    design = design_t.string("kind", "grid", choices=DESIGNS)
    samples = design_t.integer("samples", 16, low=1)
    design_t.finish()
    factors = tuple(_factor(f, scenario) for f in t.tables("factors", []))
    paths = [f.path for f in factors]
    if len(set(paths)) != len(paths):
        raise t.error("factors", "each factor path may appear only once")
    t.finish()
    exp = Experiment(
        name=name,
        description=description,
        source=file,
        scenario=scenario,
        policies=tuple(policies),
        baseline=baseline,
        factors=factors,
        design=design,
        samples=samples,
        replications=replications,
        months=months,
        customers=customers,
        seed=seed,
        raw=dict(raw),
    )
    # every design point must give a valid scenario: check them all up front
    for i, point in enumerate(exp.points()):
        try:
            scenario.with_overrides(exp.overrides(point))
        except InputError as exc:
            raise InputError(
                file, "factors", f"design point {i} ({point}) gives an invalid scenario: {exc}"
            ) from None
    return exp


def _factor(t: Table, scenario: Scenario) -> Factor:
    path = t.string("path")
    try:
        get_path(scenario.raw, path)
    except (KeyError, IndexError, TypeError):
        raise t.error("path", f"no key {path!r} in scenario {scenario.name!r}") from None
    complement = t.string("complement") if "complement" in t else None
    also = t.strings("also", ())
    for key, paths in (("complement", [complement] if complement else []), ("also", also)):
        for other in paths:
            try:
                get_path(scenario.raw, other)
            except (KeyError, IndexError, TypeError):
                raise t.error(key, f"no key {other!r} in scenario {scenario.name!r}") from None
    if "values" in t:
        values = t.raw("values")
        if not isinstance(values, list) or not values:
            raise t.error("values", "expected a non-empty list of values")
        factor = Factor(path, values=tuple(values), complement=complement, also=also)
    else:
        low, high = t.number("low"), t.number("high")
        if high < low:
            raise t.error("high", f"expected high ≥ low ({low:g}), got {high:g}")
        factor = Factor(
            path,
            low=low,
            high=high,
            levels=t.integer("levels", 3, low=1),
            integer=t.boolean("integer", False),
            complement=complement,
            also=also,
        )
    t.finish()
    return factor


def design_size(exp: Experiment) -> int:
    """Number of design points."""
    if not exp.factors:
        return 1
    if exp.design == "grid":
        return math.prod(len(f.grid()) for f in exp.factors)
    return exp.samples
