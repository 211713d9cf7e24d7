"""Scenario files: load, validate and freeze.

A scenario is a TOML file (see ``scenarios/default.toml``, every key commented). It is
read once into a frozen :class:`Scenario`; the engine never sees raw dicts. Every
problem raises :class:`~sim.schema.InputError` naming the file, the key path and what
was expected. Shipped scenarios are found by name (``default``) or by path.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.engine.dynamics import DynamicsSpec
from sim.engine.economics import EconomicsSpec, MarketingSpec
from sim.engine.lifecycle import BASE_SOURCES, DRIVERS, STAGE_KINDS, Edge, Lifecycle, Stage
from sim.engine.network import NETWORK_KINDS, NetworkSpec
from sim.engine.paths import apply_overrides
from sim.engine.policies import CHANNEL_TEAM, CHANNELS, PolicySpec, ProgramSpec
from sim.engine.segments import DISTRIBUTIONS, TRAITS, UNIT_TRAITS, Distribution, Segment
from sim.engine.staffing import PRIORITIES, TeamSpec
from sim.engine.uncertainties import Uncertainty, parse_uncertainties
from sim.schema import InputError, Table, read_text, suggest

#: Folder of the scenarios shipped with engagesim.
SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
STEP_UNITS = {"month": 1.0, "week": 52.0 / 12.0}
SHARE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class TimeSpec:
    """Time settings.

    Attributes:
        step: ``month`` or ``week``.
        months: Horizon in months.
    """

    step: str = "month"
    months: int = 36

    @property
    def steps_per_month(self) -> float:
        """Steps in one month."""
        return STEP_UNITS[self.step]

    @property
    def steps(self) -> int:
        """Horizon in steps."""
        return round(self.months * self.steps_per_month)


@dataclass(frozen=True)
class PopulationSpec:
    """Who exists at the start.

    Attributes:
        customers: Number of customer agents (prospects and customers).
        initial_stages: ``(stage index, share)`` pairs: where agents start. Prospect
            stages give a run from prospects, customer stages an installed base.
    """

    customers: int
    initial_stages: tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class Scenario:
    """A validated, frozen scenario.

    Attributes:
        name: Scenario name (the file's stem).
        description: One line.
        source: Where it was loaded from.
        raw: The raw (overridden) table it was built from, for hashing and re-loading.
        uncertainties: The assumptions the scenario declares uncertain (its
            ``[uncertainties]`` table), in the file's order.
    """

    name: str
    description: str
    source: str
    time: TimeSpec
    population: PopulationSpec
    segments: tuple[Segment, ...]
    lifecycle: Lifecycle
    dynamics: DynamicsSpec
    network: NetworkSpec
    marketing: MarketingSpec
    economics: EconomicsSpec
    policies: Mapping[str, PolicySpec]
    raw: Mapping[str, Any]
    uncertainties: tuple[Uncertainty, ...] = ()

    @property
    def segment_names(self) -> tuple[str, ...]:
        """Segment names in order."""
        return tuple(s.name for s in self.segments)

    @property
    def digest(self) -> str:
        """SHA-256 of the scenario's canonical JSON (identifies it in manifests)."""
        text = json.dumps(self.raw, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """Return a re-validated copy with dotted-key ``overrides`` applied."""
        return from_dict(self.raw, self.source, name=self.name, overrides=overrides)


# ----------------------------------------------------------------------------------
# finding and reading files


def shipped_scenarios() -> dict[str, Path]:
    """Return name → path of the scenarios shipped in ``scenarios/``."""
    return {p.stem: p for p in sorted(SCENARIO_DIR.glob("*.toml"))}


def resolve(source: str | Path) -> Path:
    """Find a scenario by path or by shipped name."""
    path = Path(source)
    if path.suffix == ".toml" or path.exists() or "/" in str(source):
        if not path.is_file():
            raise InputError(path, "", "no such scenario file")
        return path
    shipped = shipped_scenarios()
    if str(source) in shipped:
        return shipped[str(source)]
    raise InputError(
        None,
        "",
        f"no scenario named {source!r}" + suggest(str(source), shipped)
        + f"; shipped: {', '.join(shipped)} (or give a path to a .toml file)",
    )


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning syntax errors into :class:`InputError`."""
    text = read_text(path, "not valid TOML")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, "", f"not valid TOML: {exc}") from None


def load_scenario(
    source: str | Path = "default", overrides: Mapping[str, Any] | None = None
) -> Scenario:
    """Load and validate a scenario.

    Args:
        source: A shipped scenario name (``"default"``) or a path to a TOML file.
        overrides: Dotted key path → value, applied before validation (e.g.
            ``{"population.customers": 5000, "segments.smb.share": 0.5}``).

    Returns:
        The frozen scenario.

    Raises:
        InputError: The file or an override is invalid; the message names the file,
            the key path and what was expected.
    """
    path = resolve(source)
    return from_dict(read_toml(path), str(path), name=path.stem, overrides=overrides)


def from_dict(
    raw: Mapping[str, Any],
    file: str = "<dict>",
    *,
    name: str = "custom",
    overrides: Mapping[str, Any] | None = None,
) -> Scenario:
    """Validate a raw scenario table (as parsed from TOML) into a :class:`Scenario`."""
    data = copy.deepcopy(dict(raw))
    if overrides:
        apply_overrides(data, overrides, file)
    root = Table(data, file)
    description = root.string("description", "")
    time = _time(root.table("time", {}))
    segments = _segments(root.table("segments"))
    stages_table = root.table("lifecycle")
    lifecycle = _lifecycle(stages_table)
    population = _population(root.table("population"), lifecycle)
    entry = {i for i, share in population.initial_stages if share > 0}
    missing = lifecycle.unreachable(entry)
    if missing:
        raise InputError(
            file,
            f"lifecycle.stages.{missing[0]}",
            f"stage(s) {', '.join(repr(m) for m in missing)} cannot be reached from the "
            "starting stages (population.initial_stages) by any edge",
        )
    dynamics = _dynamics(root.table("dynamics", {}))
    network = _network(root.table("network", {}))
    marketing = _marketing(root.table("marketing", {}))
    economics = _economics(root.table("economics", {}))
    policies = _policies(root.table("policies"), lifecycle, segments)
    uncertain = root.table("uncertainties", {})
    root.finish()  # a misspelt section first: the uncertainties' paths may run into it
    uncertainties = parse_uncertainties(uncertain, data)
    return Scenario(
        name=name,
        description=description,
        source=file,
        time=time,
        population=population,
        segments=segments,
        lifecycle=lifecycle,
        dynamics=dynamics,
        network=network,
        marketing=marketing,
        economics=economics,
        policies=policies,
        raw=data,
        uncertainties=uncertainties,
    )


# ----------------------------------------------------------------------------------
# sections


def _time(t: Table) -> TimeSpec:
    spec = TimeSpec(
        step=t.string("step", "month", choices=STEP_UNITS),
        months=t.integer("months", 36, low=1),
    )
    t.finish()
    return spec


def _distribution(t: Table, unit: bool) -> Distribution:
    kind = t.string("dist", choices=DISTRIBUTIONS)
    params = []
    for p in DISTRIBUTIONS[kind]:
        if kind == "beta":
            params.append(t.positive(p))
        elif p in ("sd",):
            params.append(t.nonneg(p))
        elif kind == "lognormal" and p == "mean":
            high, what = (1.0, "a positive mean ≤ 1") if unit else (None, "a positive mean")
            params.append(
                t.number(p, low=0.0, low_open=True, high=high, what=what, what_states_bounds=True)
            )
        elif p in ("value", "mean"):
            # traits are clipped to their range when drawn: a centre outside it is a mistake
            params.append(t.share(p) if unit else t.nonneg(p))
        else:
            params.append(t.number(p))
    if kind == "uniform" and params[1] < params[0]:
        raise t.error("high", f"expected high ≥ low ({params[0]:g}), got {params[1]:g}")
    if kind == "uniform" and unit and (params[0] < 0 or params[1] > 1):
        raise t.error("", "a share-valued trait needs low ≥ 0 and high ≤ 1")
    if kind == "uniform" and not unit and params[0] < 0:
        raise t.error("low", f"expected a non-negative number, got {params[0]:g}")
    t.finish()
    return Distribution(kind, tuple(params))


def _segments(t: Table) -> tuple[Segment, ...]:
    segments = []
    for name in list(t.keys()):
        s = t.table(name)
        share = s.share("share")
        cac = s.cost("acquisition_cost", 0.0)
        traits = {}
        for trait in TRAITS:
            traits[trait] = _distribution(s.table(trait), unit=trait in UNIT_TRAITS)
        s.finish()
        segments.append(Segment(name, share, cac, traits))
    if not segments:
        raise t.error("", "define at least one segment")
    total = sum(s.share for s in segments)
    if abs(total - 1.0) > SHARE_TOLERANCE:
        raise t.error("", f"segment shares must sum to 1, they sum to {total:g}")
    return tuple(segments)


def _lifecycle(t: Table) -> Lifecycle:
    allow_winback = t.boolean("allow_winback", False)
    st = t.table("stages")
    stages = []
    for name in list(st.keys()):
        s = st.table(name)
        stages.append(
            Stage(
                name=name,
                kind=s.string("kind", choices=STAGE_KINDS),
                expands=s.boolean("expands", False),
                initial_onboarding=s.share("initial_onboarding", 1.0),
                referral_weight=s.share("referral_weight", 0.0),
            )
        )
        s.finish()
    if not stages:
        raise st.error("", "define at least one stage")
    names = [s.name for s in stages]
    edges = []
    for e in t.tables("edges"):
        ends = []
        for end in ("from", "to"):
            stage = e.string(end)
            if stage not in names:
                raise e.error(end, f"undefined stage {stage!r}" + suggest(stage, names))
            ends.append(names.index(stage))
        src, dst = ends
        if src == dst:
            raise e.error("to", "an edge must lead to a different stage")
        for k, other in enumerate(edges):
            if (other.source, other.target) == (src, dst):
                raise e.error(
                    "to",
                    f"duplicate edge {names[src]!r} → {names[dst]!r} (also lifecycle.edges[{k}]);"
                    " combine them into one edge",
                )
        if stages[src].kind == "churned" and not allow_winback:
            raise e.error(
                "from",
                f"edge leaves churned stage {names[src]!r} but lifecycle.allow_winback is false",
            )
        base_raw = e.raw("base")
        if isinstance(base_raw, str):
            base, source = None, e.string("base", choices=BASE_SOURCES)
        else:
            base, source = e.probability("base"), None
        drivers_t = e.table("drivers", {})
        drivers = []
        for d in list(drivers_t.keys()):
            if d not in DRIVERS:
                raise drivers_t.error(d, "unknown driver" + suggest(d, DRIVERS)
                                      + f"; drivers are {', '.join(DRIVERS)}")
            drivers.append((d, drivers_t.number(d)))
        edges.append(
            Edge(
                source=src,
                target=dst,
                base=base,
                base_source=source,
                odds=e.positive("odds", 1.0),
                drivers=tuple(drivers),
                referral=e.probability("referral", 0.0),
            )
        )
        e.finish()
    t.finish()
    return Lifecycle(tuple(stages), tuple(edges), allow_winback)


def _population(t: Table, lifecycle: Lifecycle) -> PopulationSpec:
    customers = t.integer("customers", low=1)
    init = t.table("initial_stages")
    pairs = []
    for name in list(init.keys()):
        if name not in lifecycle.names:
            raise init.error(name, "undefined stage" + suggest(name, lifecycle.names))
        idx = lifecycle.index(name)
        if lifecycle.stages[idx].kind == "churned":
            raise init.error(name, "agents cannot start churned")
        pairs.append((idx, init.share(name)))
    total = sum(s for _, s in pairs)
    if abs(total - 1.0) > SHARE_TOLERANCE:
        raise init.error("", f"initial stage shares must sum to 1, they sum to {total:g}")
    t.finish()
    return PopulationSpec(customers, tuple(pairs))


def _dynamics(t: Table) -> DynamicsSpec:
    d = DynamicsSpec()
    values = {}
    for key, default in vars(d).items():
        if key in ("visits_per_month",):
            values[key] = t.positive(key, default)
        elif key in ("health_noise",):
            values[key] = t.nonneg(key, default)
        else:
            values[key] = t.share(key, default)
    t.finish()
    return DynamicsSpec(**values)


def _network(t: Table) -> NetworkSpec:
    spec = NetworkSpec(
        kind=t.string("kind", "small_world", choices=NETWORK_KINDS),
        degree=t.integer("degree", 6, low=2),
        rewire=t.probability("rewire", 0.1),
    )
    if spec.degree % 2:
        raise t.error("degree", f"expected an even number (each customer links to degree/2 "
                      f"on each side of the ring), got {spec.degree}")
    t.finish()
    return spec


def _marketing(t: Table) -> MarketingSpec:
    spec = MarketingSpec(
        awareness_rate=t.probability("awareness_rate", 0.02),
        cost_per_prospect_month=t.cost("cost_per_prospect_month", 0.0),
    )
    t.finish()
    return spec


def _economics(t: Table) -> EconomicsSpec:
    spec = EconomicsSpec(
        gross_margin=t.share("gross_margin", 0.8),
        annual_discount_rate=t.number(
            "annual_discount_rate",
            0.1,
            low=0.0,
            high=1.0,
            what="an annual rate in [0, 1]",
            what_states_bounds=True,
        ),
        expansion_rate=t.nonneg("expansion_rate", 0.02),
        max_expansion=t.number(
            "max_expansion", 2.0, low=1.0, what="a multiple ≥ 1", what_states_bounds=True
        ),
    )
    t.finish()
    return spec


def _team(t: Table, name: str) -> TeamSpec:
    headcount_raw = t.raw("headcount", "auto")
    headcount = None if headcount_raw == "auto" else t.integer("headcount", low=0)
    spec = TeamSpec(
        name=name,
        accounts_per_csm=t.positive("accounts_per_csm"),
        headcount=headcount,
        monthly_cost=t.cost("monthly_cost"),
        hours_per_month=t.positive("hours_per_month", 120.0),
        priority=t.string("priority", "lowest_health", choices=PRIORITIES),
        overload_penalty=t.nonneg("overload_penalty", 0.5),
    )
    t.finish()
    return spec


def _program(
    t: Table, name: str, lifecycle: Lifecycle, segments: tuple[Segment, ...]
) -> ProgramSpec:
    customer_stages = [s.name for s in lifecycle.stages if s.kind == "customer"]
    stage_names = t.strings("stages", tuple(customer_stages))
    for s in stage_names:
        if s not in lifecycle.names:
            raise t.error("stages", f"undefined stage {s!r}" + suggest(s, lifecycle.names))
    seg_names = [s.name for s in segments]
    segs = t.strings("segments", tuple(seg_names))
    for s in segs:
        if s not in seg_names:
            raise t.error("segments", f"undefined segment {s!r}" + suggest(s, seg_names))
    health_below = t.probability("health_below") if "health_below" in t else None
    spec = ProgramSpec(
        name=name,
        channel=t.string("channel", choices=CHANNELS),
        stages=tuple(lifecycle.index(s) for s in stage_names),
        segments=tuple(seg_names.index(s) for s in segs),
        min_revenue=t.nonneg("min_revenue", 0.0),
        health_below=health_below,
        touches_per_month=t.nonneg("touches_per_month"),
        hours_per_touch=t.positive("hours_per_touch", 1.0),
        effect=t.nonneg("effect"),
        cost_per_touch=t.cost("cost_per_touch", 0.0),
        setup_cost=t.cost("setup_cost", 0.0),
    )
    t.finish()
    return spec


def _policies(
    t: Table, lifecycle: Lifecycle, segments: tuple[Segment, ...]
) -> Mapping[str, PolicySpec]:
    policies = {}
    for name in list(t.keys()):
        p = t.table(name)
        teams_t = p.table("teams", {})
        teams = {}
        for team_name in list(teams_t.keys()):
            if team_name not in CHANNEL_TEAM.values():
                raise teams_t.error(
                    team_name, "unknown team" + suggest(team_name, CHANNEL_TEAM.values())
                    + "; teams are 'named' and 'pooled'"
                )
            teams[team_name] = _team(teams_t.table(team_name), team_name)
        teams_t.finish()
        progs_t = p.table("programs", {})
        programs = tuple(
            _program(progs_t.table(k), k, lifecycle, segments) for k in list(progs_t.keys())
        )
        for prog in programs:
            team = CHANNEL_TEAM.get(prog.channel)
            if team is None:
                continue
            key = f"programs.{prog.name}.channel"
            if team not in teams:
                raise p.error(
                    key,
                    f"a {prog.channel!r} program needs CSMs, but policy {name!r} has no "
                    f"[policies.{name}.teams.{team}] table",
                )
            if teams[team].headcount == 0:
                raise p.error(
                    f"teams.{team}.headcount",
                    f"a {prog.channel!r} program needs CSMs, but the headcount is 0 "
                    "(use a positive number or \"auto\")",
                )
        policies[name] = PolicySpec(
            name=name,
            description=p.string("description", ""),
            fixed_cost_per_month=p.cost("fixed_cost_per_month", 0.0),
            teams=teams,
            programs=programs,
        )
        p.finish()
    if not policies:
        raise t.error("", "define at least one policy")
    return policies
