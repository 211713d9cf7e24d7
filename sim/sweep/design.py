"""Experiment designs: what to vary, which policies to compare, and the runs that follow.

This module holds :class:`Factor` (one scenario parameter to vary), :class:`Experiment`
(a validated experiment file: its design points, their scenario overrides and its
runs), :class:`Run`, the seed rule :func:`run_seed`, and the loading of experiment files
(:func:`load_experiment`, :func:`experiment_from_dict`). :mod:`sim.sweep.runner` runs them.

In EMA Workbench's vocabulary an experiment crosses *uncertainties* (factors: scenario
parameters addressed by dotted key paths, with ranges or lists) with *levers* (the
policies) and *replications*. The design — ``grid``, ``lhs``, ``sobol`` or ``saltelli``
— picks the factor values (samplers from :mod:`scipy.stats.qmc`). A ``saltelli`` design
with ``samples = n`` (a power of two) has ``n·(d + 2)`` points in the block order
:func:`saltelli_blocks` names — ``A``, ``B``, then ``AB_i`` for each factor ``i`` (``A``
with column ``i`` from ``B``) — which is what :func:`scipy.stats.sobol_indices` needs
to estimate first-order and total sensitivity indices. Every run is identified by
``(point, policy, replication)`` and seeded by ``SeedSequence(root, spawn_key=(point,
replication))``: all policies of a replication share the seed (common random numbers),
and no seed depends on worker count, order or backend.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from sim.engine.paths import get_path
from sim.engine.plan import is_plan, make_plan
from sim.engine.policy_files import is_policy_file, load_policy_file
from sim.engine.scenario import Scenario, load_scenario, read_toml, resolve
from sim.schema import InputError, Table, suggest
from sim.sweep.defaults import (  # noqa: F401  (re-exported: design's defaults)
    DECIDE_AGENTS,
    DECIDE_REPLICATIONS,
    DECIDE_SAMPLES,
    EXPERIMENT_AGENTS,
)

EXPERIMENT_DIR = Path(__file__).resolve().parents[2] / "experiments"
DESIGNS = ("grid", "lhs", "sobol", "saltelli")
SAMPLED = ("lhs", "sobol", "saltelli")
"""Designs that sample the unit cube (the others enumerate a grid)."""


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
        distribution: Where a sampled design puts its values: an object with a
            vectorised ``ppf`` (a scenario's uncertainty, see
            :class:`sim.engine.uncertainties.Uncertainty`); ``None``: uniform on
            ``[low, high]``.
    """

    path: str
    values: tuple[Any, ...] | None = None
    low: float = 0.0
    high: float = 0.0
    levels: int = 3
    integer: bool = False
    complement: str | None = None
    also: tuple[str, ...] = ()
    distribution: Any = None

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
        if self.distribution is not None:
            return self._cast(float(self.distribution.ppf(u)))
        return self._cast(self.low + u * (self.high - self.low))

    def _cast(self, value: float) -> Any:
        """``value`` as the factor's type (rounded for an integer factor)."""
        return round(float(value)) if self.integer else float(value)


@dataclass(frozen=True)
class Experiment:
    """A validated experiment file.

    Attributes:
        name: The experiment's name (the file's stem).
        description: Free text from the file.
        source: Where it was read from (a path, or a description of the caller).
        scenario: The scenario, with the experiment's months, customers and agents
            applied.
        policies: The policies compared (the levers).
        baseline: The policy the others are compared with.
        factors: The scenario parameters varied (the uncertainties).
        design: ``grid``, ``lhs``, ``sobol`` or ``saltelli`` (:data:`DESIGNS`).
        samples: Design points of an ``lhs`` or ``sobol`` design; base samples ``n``
            of a ``saltelli`` design (which has ``n·(d + 2)`` points).
        replications: Runs per policy and design point.
        months: Horizon of every run.
        customers: The company's customers and prospects (``population.customers``).
        seed: The root seed.
        raw: The file's table, for hashing.
        agents: Customers every run simulates, a sample of the company
            (``population.agents``; each stands for ``customers / agents``).
    """

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
    agents: int = 0

    def points(self) -> list[dict[str, Any]]:
        """Factor values of every design point (``[{}]`` when nothing varies)."""
        if not self.factors:
            return [{}]
        paths = [factor.path for factor in self.factors]
        if self.design == "grid":
            combos = itertools.product(*(factor.grid() for factor in self.factors))
            return [dict(zip(paths, combo, strict=True)) for combo in combos]
        unit = self.unit_points()
        return [
            {factor.path: factor.from_unit(u) for factor, u in zip(self.factors, row, strict=True)}
            for row in unit
        ]

    def unit_points(self) -> np.ndarray:
        """The sampled design's points in the unit cube, one row per point.

        Raises:
            ValueError: The design is a grid (it has no unit points).
        """
        if self.design not in SAMPLED:
            raise ValueError(f"a {self.design} design has no unit points")
        from scipy.stats import qmc  # here: a run needs none of it (the workers' start)

        dimensions = len(self.factors)
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(2**31,)))
        if self.design == "lhs":
            return qmc.LatinHypercube(d=dimensions, rng=rng).random(self.samples)
        if self.design == "sobol":
            return qmc.Sobol(d=dimensions, scramble=True, rng=rng).random(self.samples)
        unit = qmc.Sobol(d=2 * dimensions, scramble=True, rng=rng).random(self.samples)
        a, b = unit[:, :dimensions], unit[:, dimensions:]
        blocks = [a, b] + [np.where(np.arange(dimensions) == i, b, a) for i in range(dimensions)]
        return np.vstack(blocks)

    def overrides(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """Scenario overrides of one design point (complements applied)."""
        out: dict[str, Any] = {}
        for factor in self.factors:
            value = point[factor.path]
            out[factor.path] = value
            for other_path in factor.also:
                out[other_path] = value
            if factor.complement is not None:
                base_value = get_path(self.scenario.raw, factor.path)
                other = get_path(self.scenario.raw, factor.complement)
                out[factor.complement] = float(other) - (float(value) - float(base_value))
        return out

    def runs(self) -> list[Run]:
        """Every run of the experiment, in a fixed order."""
        runs = []
        for point_index, point in enumerate(self.points()):
            for replication in range(self.replications):
                seed = run_seed(self.seed, point_index, replication)
                for policy in self.policies:
                    runs.append(Run(len(runs), point_index, policy, replication, seed, point))
        return runs


@dataclass(frozen=True)
class Run:
    """One simulation run of an experiment.

    Attributes:
        run_id: Position in :meth:`Experiment.runs` (the ``runs.csv`` row id).
        point: Index of the design point.
        policy: The policy run.
        replication: Index of the replication at that point.
        seed: :func:`run_seed` of ``(point, replication)``, shared by every policy.
        factors: The factor values of the design point.
    """

    run_id: int
    point: int
    policy: str
    replication: int
    seed: int
    factors: Mapping[str, Any]


def saltelli_blocks(factors: int) -> list[str]:
    """Names of the blocks of a ``saltelli`` design, in point order: A, B, AB_0, ….

    Block ``k`` holds points ``k·n … (k + 1)·n − 1`` of a design with ``n`` base samples.
    """
    return ["A", "B", *(f"AB_{i}" for i in range(factors))]


def saltelli_samples_problem(samples: int) -> str | None:
    """What is wrong with ``samples`` as a saltelli design's base samples (``None``: fine)."""
    if samples > 0 and not samples & (samples - 1):
        return None
    lower = 1 << max(samples.bit_length() - 1, 0)
    return (f"a saltelli design needs a power of two (its Sobol' base sample keeps its "
            f"balance only then), got {samples}; try {lower} or {2 * lower}")


def run_seed(root: int, point: int, replication: int) -> int:
    """Seed of ``(point, replication)``: the same for every policy (common random numbers)."""
    state = np.random.SeedSequence(root, spawn_key=(point, replication)).generate_state(
        1, np.uint64
    )
    return int(state[0] >> np.uint64(1))


def shipped_experiments() -> dict[str, Path]:
    """Return name → path of the experiments shipped in ``experiments/``."""
    return {path.stem: path for path in sorted(EXPERIMENT_DIR.glob("*.toml"))}


def resolve_experiment(source: str | Path) -> Path:
    """Find an experiment by path or by shipped name."""
    path = Path(source)
    if path.is_file():
        return path
    shipped = shipped_experiments()
    if str(source) in shipped:
        return shipped[str(source)]
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
    raw.update({key: value for key, value in overrides.items() if value is not None})
    return experiment_from_dict(raw, str(path), name=path.stem)


def experiment_from_dict(raw: Mapping[str, Any], file: str, name: str = "experiment") -> Experiment:
    """Validate a raw experiment table into an :class:`Experiment`.

    Args:
        raw: The experiment's table (as read from TOML).
        file: Where it came from, for error messages.
        name: The experiment's name.

    Raises:
        InputError: A key is missing, unknown or invalid, or a design point gives an
            invalid scenario; the message names the file and key path.
    """
    table = Table(dict(raw), file)
    description = table.string("description", "")
    scenario_ref = table.string("scenario", "default")
    scenario_path = Path(file).parent / scenario_ref
    try:
        found = resolve(scenario_path if scenario_path.suffix == ".toml" else scenario_ref)
    except InputError as exc:
        raise table.error("scenario", exc.problem) from None
    months = table.integer("months", 36, low=1)
    population = load_scenario(found).population
    customers = table.integer("customers", population.customers, low=1)
    default_agents = population.agents or customers
    agents = table.integer("agents", min(default_agents, EXPERIMENT_AGENTS), low=1)
    scenario = load_scenario(found, overrides={
        "time.months": months, "population.customers": customers, "population.agents": agents,
    })
    policies = table.strings("policies", tuple(scenario.policies))
    for policy in policies:
        if is_plan(policy):
            try:
                make_plan(scenario, policy)
            except InputError as exc:
                raise table.error("policies", exc.problem) from None
        elif is_policy_file(policy):
            try:
                load_policy_file(policy)
            except InputError as exc:
                raise table.error("policies", str(exc)) from None
        elif policy not in scenario.policies:
            raise table.error("policies", f"policy {policy!r} is not in scenario "
                              f"{scenario.name!r}" + suggest(policy, scenario.policies)
                              + " (or give a policy class in a Python file: FILE.py:ClassName)")
    if len(set(policies)) != len(policies) or not policies:
        raise table.error("policies", "expected a non-empty list of distinct policy names")
    baseline = table.string("baseline", "no_touch" if "no_touch" in policies else policies[0])
    if baseline not in policies:
        raise table.error("baseline", f"expected one of the compared policies {list(policies)}")
    replications = table.integer("replications", 5, low=1)
    seed = table.integer("seed", 0, low=0)
    design_table = table.table("design", {})
    design = design_table.string("kind", "grid", choices=DESIGNS)
    samples = design_table.integer("samples", 16, low=1)
    if design == "saltelli" and (problem := saltelli_samples_problem(samples)):
        raise design_table.error("samples", problem)
    design_table.finish()
    factors = tuple(_factor(entry, scenario) for entry in table.tables("factors", []))
    paths = [factor.path for factor in factors]
    if len(set(paths)) != len(paths):
        raise table.error("factors", "each factor path may appear only once")
    table.finish()
    experiment = Experiment(
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
        agents=agents,
    )
    _check_points(experiment, file, "factors")
    return experiment


def _check_points(experiment: Experiment, file: str, key: str) -> None:
    """Every design point must give a valid scenario: check them all up front."""
    for index, point in enumerate(experiment.points()):
        try:
            experiment.scenario.with_overrides(experiment.overrides(point))
        except InputError as exc:
            raise InputError(
                file, key, f"design point {index} ({point}) gives an invalid scenario: {exc}"
            ) from None


NO_UNCERTAINTIES_EXAMPLE = """[uncertainties."policies.high_touch.programs.check_ins.effect"]
dist = "triangular"     # uniform | triangular | beta | lognormal | normal
low = 0.2
mode = 0.5
high = 0.9
also = ["policies.hybrid.programs.enterprise_check_ins.effect"]   # linked keys
source = "no published effect size; range from a weak to a strong program"
label = "CSM check-in effect"
"""
"""What ``engagesim decide`` shows a scenario without ``[uncertainties]``."""


def decision_experiment(
    scenario: Scenario,
    *,
    samples: int,
    replications: int,
    policies: tuple[str, ...] | None = None,
    customers: int | None = None,
    agents: int | None = None,
    months: int | None = None,
    seed: int = 0,
    design: str = "lhs",
) -> Experiment:
    """The experiment of ``engagesim decide``: the scenario's uncertainties × its policies.

    Each uncertain assumption (:class:`sim.engine.uncertainties.Uncertainty`) becomes a
    factor sampled from its distribution (through its ``ppf``), with its linked
    (``also``) and ``complement`` keys; every policy runs at every sample on common
    random numbers.

    Args:
        scenario: A scenario with an ``[uncertainties]`` table.
        samples: Assumption samples (``lhs``), or base samples (``saltelli``, a power of
            two: ``samples·(d + 2)`` points).
        replications: Runs per policy and sample.
        policies: Policies compared (default: every policy of the scenario).
        customers: The company's customers (default: the scenario's).
        agents: Customers each run simulates (default: the scenario's, at most
            :data:`DECIDE_AGENTS`).
        months: Horizon (default: the scenario's).
        seed: Root seed.
        design: ``lhs`` or ``saltelli``.

    Raises:
        InputError: The scenario declares no uncertainties (the message shows an
            example), a policy is unknown, a saltelli sample size is not a power of
            two, or a sample gives an invalid scenario.
    """
    if not scenario.uncertainties:
        raise InputError(
            scenario.source, "uncertainties",
            "this scenario declares no uncertain assumptions, so there is nothing to decide "
            "under; add an [uncertainties] table (scenarios/default.toml has thirteen), "
            "for example:\n\n" + NO_UNCERTAINTIES_EXAMPLE,
        )
    company = customers or scenario.population.customers
    raw: dict[str, Any] = {
        "scenario": scenario.source,
        "replications": replications,
        "customers": company,
        "agents": agents or min(scenario.population.agents or company, DECIDE_AGENTS),
        "months": months or scenario.time.months,
        "seed": seed,
        "design": {"kind": design, "samples": samples},
    }
    if policies:
        raw["policies"] = list(policies)
    base = experiment_from_dict(raw, "engagesim decide", name="decide")
    factors = tuple(
        Factor(
            uncertainty.path,
            low=uncertainty.support()[0],
            high=uncertainty.support()[1],
            integer=uncertainty.integer,
            complement=uncertainty.complement,
            also=uncertainty.also,
            distribution=uncertainty,
        )
        for uncertainty in base.scenario.uncertainties
    )
    # the uncertainties are part of the scenario's raw table, so experiment_hash covers them
    experiment = replace(base, factors=factors, raw={**raw, "kind": "decide"})
    _check_points(experiment, scenario.source, "uncertainties")
    return experiment


def _factor(table: Table, scenario: Scenario) -> Factor:
    """Validate one ``[[factors]]`` table against the scenario it varies."""
    path = table.string("path")
    try:
        get_path(scenario.raw, path)
    except (KeyError, IndexError, TypeError):
        raise table.error("path", f"no key {path!r} in scenario {scenario.name!r}") from None
    complement = table.string("complement") if "complement" in table else None
    also = table.strings("also", ())
    for key, paths in (("complement", [complement] if complement else []), ("also", also)):
        for other in paths:
            try:
                get_path(scenario.raw, other)
            except (KeyError, IndexError, TypeError):
                raise table.error(key, f"no key {other!r} in scenario {scenario.name!r}") from None
    if "values" in table:
        values = table.raw("values")
        if not isinstance(values, list) or not values:
            raise table.error("values", "expected a non-empty list of values")
        factor = Factor(path, values=tuple(values), complement=complement, also=also)
    else:
        low, high = table.number("low"), table.number("high")
        if high < low:
            raise table.error("high", f"expected high ≥ low ({low:g}), got {high:g}")
        factor = Factor(
            path,
            low=low,
            high=high,
            levels=table.integer("levels", 3, low=1),
            integer=table.boolean("integer", False),
            complement=complement,
            also=also,
        )
    table.finish()
    return factor


def design_size(experiment: Experiment) -> int:
    """Number of design points."""
    if not experiment.factors:
        return 1
    if experiment.design == "grid":
        return math.prod(len(factor.grid()) for factor in experiment.factors)
    if experiment.design == "saltelli":
        return experiment.samples * (len(experiment.factors) + 2)
    return experiment.samples
