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
from sim.engine.metrics import STEP_METRICS
from sim.engine.network import NETWORK_KINDS, NetworkSpec
from sim.engine.paths import apply_overrides
from sim.engine.policies import (
    CHANNEL_TEAM,
    CHANNELS,
    CommunitySpec,
    PolicySpec,
    ProgramSpec,
    RoadmapSpec,
)
from sim.engine.purchases import PURCHASE_COLUMNS, PURCHASE_TRAITS, REVENUE_MODELS
from sim.engine.segments import (
    ANNUAL_FORMS,
    DISTRIBUTIONS,
    TRAITS,
    UNIT_TRAITS,
    Distribution,
    Segment,
    beta_from_moments,
    monthly_churn,
)
from sim.engine.staffing import PRIORITIES, TeamSpec
from sim.engine.tactics_library import write_out
from sim.engine.targets import NOT_CARRIED, TARGETS, conversion_key
from sim.engine.uncertainties import Uncertainty, parse_uncertainties
from sim.schema import InputError, Table, read_text, suggest

#: Folder of the scenarios shipped with engagesim.
SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
STEP_UNITS = {"month": 1.0, "week": 52.0 / 12.0}
SHARE_TOLERANCE = 1e-6
MAX_MONTHS = 1200
"""Longest horizon (100 years): a run's series, discount factors and per-step records
grow with it, and at any positive discount rate the months beyond add nothing a
decision could see (value past the horizon is continued analytically anyway)."""


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

    The company and the sample that represents it are separate: ``customers`` is the
    company's size (its customer base and prospect pool), ``agents`` how many customers
    a run simulates. Each agent stands for ``weight = customers / agents`` of the
    company's customers, so fixed costs, CSM headcount and company totals are those of
    the company whatever the sample size (:attr:`weight`).

    Attributes:
        customers: The company's customers and prospects (what totals are scaled to).
        initial_stages: ``(stage index, share)`` pairs: where agents start. Prospect
            stages give a run from prospects, customer stages an installed base.
        agents: Customer agents a run simulates (default: ``customers``, one agent per
            customer).
    """

    customers: int
    initial_stages: tuple[tuple[int, float], ...]
    agents: int | None = None

    @property
    def n_agents(self) -> int:
        """Customer agents a run simulates."""
        return self.customers if self.agents is None else self.agents

    @property
    def weight(self) -> float:
        """Company customers each agent stands for (``customers / agents``)."""
        return self.customers / self.n_agents


@dataclass(frozen=True)
class Scenario:
    """A validated, frozen scenario.

    Attributes:
        name: Scenario name (the file's stem).
        description: One line.
        source: Where it was loaded from.
        raw: The raw (overridden) table it was built from, for hashing and re-loading,
            with its policies' library tactics written out (the programs they become,
            their effect ranges in ``uncertainties``; README "The tactics library").
        uncertainties: The assumptions the scenario declares uncertain (its
            ``[uncertainties]`` table), in the file's order, then the effect ranges of
            the library tactics its policies use.
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
    """Validate a raw scenario table (as parsed from TOML) into a :class:`Scenario`.

    The policies' library tactics are written out first
    (:func:`sim.engine.tactics_library.write_out`: their programs, their effect ranges
    as uncertainties), then ``overrides`` apply, so an override reaches a program that
    came from a tactic.
    """
    data = copy.deepcopy(dict(raw))
    write_out(data, file)  # the tactics, for overrides and [uncertainties] to reach
    if overrides:
        _replace_trait_forms(data, overrides)
        apply_overrides(data, overrides, file)
        write_out(data, file)  # a tactic an override lists (a no-op otherwise)
    root = Table(data, file)
    description = root.string("description", "")
    time = _time(root.table("time", {}))
    economics = _economics(root.table("economics", {}))  # first: segments follow its revenue model
    segments = _segments(root.table("segments"), economics.revenue_model)
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
    team_defaults = _team_defaults(root.table("teams", {}))
    policies = _policies(root.table("policies"), lifecycle, segments, team_defaults)
    _community_needs_network(policies, network, file)
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


def _replace_trait_forms(data: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    """An override of a whole trait replaces it in whichever unit the file states it.

    ``segments.smb.churn_propensity = {...}`` on a file that states ``annual_churn``
    (or ``acv`` on one that states ``revenue``, …) drops the file's other form, so that
    the segment keeps exactly one.
    """
    forms = {**ANNUAL_FORMS, **{v: k for k, v in ANNUAL_FORMS.items()}}
    for path in overrides:
        parts = path.split(".")
        if len(parts) != 3 or parts[0] != "segments" or parts[2] not in forms:
            continue
        segment = data.get("segments", {}).get(parts[1])
        if isinstance(segment, dict):
            segment.pop(forms[parts[2]], None)


# ----------------------------------------------------------------------------------
# sections


def _time(t: Table) -> TimeSpec:
    spec = TimeSpec(
        step=t.string("step", "month", choices=STEP_UNITS),
        months=t.integer("months", 36, low=1, high=MAX_MONTHS),
    )
    t.finish()
    return spec


def _distribution(t: Table, unit: bool) -> Distribution:
    kind = t.string("dist", choices=DISTRIBUTIONS)
    if kind == "beta" and ("mean" in t or "sd" in t):
        return _beta_from_moments(t)
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


def _beta_from_moments(t: Table) -> Distribution:
    """A Beta given by its ``mean`` and ``sd`` instead of ``alpha`` and ``beta``."""
    for name in ("alpha", "beta"):
        if name in t:
            raise t.error(name, "give a Beta either as alpha and beta or as mean and sd, "
                          "not both")
    mean = t.number("mean", low=0.0, high=1.0, low_open=True,
                    what="a mean in (0, 1)", what_states_bounds=True)
    sd = t.positive("sd")
    try:
        params = beta_from_moments(mean, sd)
    except ValueError as exc:
        raise t.error("sd", str(exc)) from None
    t.finish()
    return Distribution("beta", params)


def _trait(s: Table, trait: str) -> Distribution:
    """A trait's distribution, stated per month or (:data:`ANNUAL_FORMS`) per year."""
    unit = trait in UNIT_TRAITS
    annual = ANNUAL_FORMS.get(trait)
    if annual is None or annual not in s:
        if annual is not None and trait not in s:
            try:  # names a misspelt key ("found 'anual_churn'")
                s.raw(annual)
            except InputError as exc:
                raise InputError(exc.file, exc.key,
                                 f"{exc.problem}; or {trait} (per month)") from None
        return _distribution(s.table(trait), unit=unit)
    if trait in s:
        raise s.error(annual, f"give either {trait} (per month) or {annual} (per year), "
                      "not both")
    dist = _distribution(s.table(annual), unit=unit)
    if trait == "churn_propensity":
        if dist.kind == "fixed":  # converted once: the value stays a fixed one
            return Distribution("fixed", (float(monthly_churn(dist.params[0])),))
        return Distribution(dist.kind, dist.params, annual_churn=True)
    if dist.kind == "beta":
        raise s.error(f"{annual}.dist", "an annual amount is converted to a monthly one by "
                      "dividing it by 12: use \"lognormal\", \"normal\", \"uniform\" or "
                      "\"fixed\", not \"beta\"")
    return Distribution(dist.kind, tuple(v / 12.0 for v in dist.params))


#: The placeholder ``revenue`` of a repeat-purchase segment (a fixed value draws nothing).
_NO_CONTRACT = Distribution("fixed", (0.0,))


def _segments(t: Table, revenue_model: str = "subscription") -> tuple[Segment, ...]:
    repeat = revenue_model == "repeat_purchase"
    segments = []
    for name in list(t.keys()):
        s = t.table(name)
        share = s.share("share")
        cac = s.cost("acquisition_cost", 0.0)
        purchases = _purchase_traits(s, repeat)
        traits = {trait: _NO_CONTRACT if repeat and trait == "revenue" else _trait(s, trait)
                  for trait in TRAITS}
        allowed = ("share", "acquisition_cost", *TRAITS, *ANNUAL_FORMS.values(),
                   *(PURCHASE_TRAITS if repeat else ()))
        s.finish(allowed)
        segments.append(Segment(name, share, cac, traits, purchases))
    if not segments:
        raise t.error("", "define at least one segment")
    total = sum(s.share for s in segments)
    if abs(total - 1.0) > SHARE_TOLERANCE:
        raise t.error("", f"segment shares must sum to 1, they sum to {total:g}")
    return tuple(segments)


def _purchase_traits(s: Table, repeat: bool) -> dict[str, Distribution]:
    """A segment's ``order_frequency`` and ``basket`` (repeat purchases) or nothing.

    A repeat-purchase segment states them instead of ``revenue`` / ``acv``; a
    subscription segment may not state them (:mod:`sim.engine.purchases`).
    """
    if not repeat:
        for key in PURCHASE_TRAITS:
            if key in s:
                raise s.error(key, f"{key} is a trait of repeat purchases: set [economics] "
                              "revenue_model = \"repeat_purchase\" or remove it (a "
                              "subscription's revenue is revenue or acv)")
        return {}
    for key in ("revenue", ANNUAL_FORMS["revenue"]):
        if key in s:
            raise s.error(key, "a repeat-purchase segment's revenue is its orders × basket: "
                          "state order_frequency (orders a month at full engagement) and "
                          "basket (order value) instead of revenue or acv")
    return {key: _distribution(s.table(key), unit=False) for key in PURCHASE_TRAITS}


#: Stage names that would collide with another column of ``timeseries.csv``.
RESERVED_STAGE_NAMES = frozenset({"step", *STEP_METRICS, "users", "activations",
                                  *PURCHASE_COLUMNS})


#: Metric columns that count the agents of one stage kind: a stage of that name is
#: allowed when it is the only stage of that kind (the two columns are then one count).
_KIND_COUNTS = {"churned": "churned", "active": "customer", "prospects": "prospect"}


def _same_count(stage: Stage, stages: list[Stage]) -> bool:
    """Whether the metric column named like ``stage`` counts exactly that stage."""
    kind = _KIND_COUNTS.get(stage.name)
    return kind == stage.kind and sum(s.kind == kind for s in stages) == 1


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
    for stage in stages:
        if stage.name in RESERVED_STAGE_NAMES and not _same_count(stage, stages):
            raise st.error(stage.name, "this name is another column of timeseries.csv, "
                           "which has a count column per stage; rename the stage (e.g. "
                           f"{stage.name}_stage)")
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
    agents = t.integer("agents", low=1) if "agents" in t else None
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
    return PopulationSpec(customers, tuple(pairs), agents)


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
        revenue_model=t.string("revenue_model", "subscription", choices=REVENUE_MODELS),
    )
    t.finish()
    return spec


#: The keys a CSM team table may set (the cost as ``annual_cost`` or ``monthly_cost``).
TEAM_COSTS = ("annual_cost", "monthly_cost")


def _team(t: Table, name: str) -> TeamSpec:
    headcount_raw = t.raw("headcount", "auto")
    headcount = None if headcount_raw == "auto" else t.integer("headcount", low=0)
    given = [k for k in TEAM_COSTS if k in t]
    if len(given) > 1:
        raise t.error("annual_cost", "give the loaded cost of a CSM either as annual_cost "
                      "(per year) or as monthly_cost (per month), not both")
    if not given:
        raise t.error("monthly_cost", "required key is missing: give the fully loaded cost "
                      "of one CSM as annual_cost (per year) or monthly_cost (per month)")
    monthly_cost = t.cost(given[0]) / (12.0 if given[0] == "annual_cost" else 1.0)
    spec = TeamSpec(
        name=name,
        accounts_per_csm=t.positive("accounts_per_csm"),
        headcount=headcount,
        monthly_cost=monthly_cost,
        hours_per_month=t.positive("hours_per_month", 120.0),
        priority=t.string("priority", "lowest_health", choices=PRIORITIES),
        overload_penalty=t.nonneg("overload_penalty", 0.5),
    )
    t.finish()
    return spec


def _team_kind(t: Table, name: str) -> None:
    if name not in CHANNEL_TEAM.values():
        raise t.error(name, "unknown team" + suggest(name, CHANNEL_TEAM.values())
                      + "; teams are 'named' and 'pooled'")


def _team_defaults(t: Table) -> dict[str, dict[str, Any]]:
    """The top-level ``[teams.named]`` / ``[teams.pooled]`` tables, each validated whole.

    Every policy whose programs use a team of that kind inherits it; a policy's own
    ``[policies.X.teams.KIND]`` table overrides single keys.
    """
    defaults = {}
    for name in list(t.keys()):
        _team_kind(t, name)
        _team(t.table(name), name)
        defaults[name] = t.data[name]
    t.finish()
    return defaults


def _policy_teams(
    p: Table, name: str, defaults: Mapping[str, Mapping[str, Any]], needed: set[str]
) -> dict[str, TeamSpec]:
    """A policy's teams: its own tables over the top-level defaults, plus those it needs.

    ``teams`` is a table of team tables (each complete, or overriding single keys of the
    top-level table of its kind), or a list of team kinds that use the defaults as they
    are. A team its programs need comes from the defaults when the policy does not name it.
    """
    raw = p.raw("teams", {})
    if isinstance(raw, list):
        if not all(isinstance(k, str) for k in raw):
            raise p.error("teams", f"expected a list of team kinds or a table, got {raw!r}")
        listed = {k: {} for k in raw}
    elif isinstance(raw, dict):
        listed = None
    else:
        raise p.error("teams", f"expected a table of teams or a list of team kinds, got {raw!r}")
    teams_t = Table(listed if listed is not None else raw, p.file, p.key("teams"))
    teams = {}
    for team_name in list(teams_t.keys()):
        _team_kind(teams_t, team_name)
        if listed is not None and team_name not in defaults:
            raise teams_t.error(team_name, f"policy {name!r} lists team {team_name!r} but "
                                f"there is no top-level [teams.{team_name}] table to use")
        own = listed[team_name] if listed is not None else teams_t.table(team_name).data
        merged = dict(defaults.get(team_name, {}))
        if any(k in own for k in TEAM_COSTS):  # the policy's cost replaces the default's
            for k in TEAM_COSTS:
                merged.pop(k, None)
        merged.update(own)
        teams[team_name] = _team(Table(merged, p.file, teams_t.key(team_name)), team_name)
    for team_name in sorted(needed - set(teams)):
        if team_name in defaults:
            teams[team_name] = _team(Table(dict(defaults[team_name]), p.file,
                                           f"teams.{team_name}"), team_name)
    return teams


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
        effect=t.nonneg("effect", 0.0) if "targets" in t else t.nonneg("effect"),
        cost_per_touch=t.cost("cost_per_touch", 0.0),
        setup_cost=t.cost("setup_cost", 0.0),
        **_aims_and_costs(t, lifecycle),
    )
    t.finish()
    return spec


def _aims_and_costs(t: Table, lifecycle: Lifecycle) -> dict[str, Any]:
    """A program's ``targets`` table, ``saturation``, ``decay`` and cost models (all optional).

    See :mod:`sim.engine.targets` and :class:`~sim.engine.policies.ProgramSpec`.
    """
    aims: list[tuple[str, float]] = []
    if "targets" in t:
        g = t.table("targets")
        for key in list(g.keys()):
            if key not in TARGETS:
                raise g.error(key, f"unknown target {key!r}" + suggest(key, TARGETS)
                              + f"; targets are {', '.join(TARGETS)}")
            if key == "price":
                aims.append((key, g.number(key, low=0.0, high=1.0, what_states_bounds=True,
                                           what="a discount, a share in [0, 1]")))
                continue
            if key != "conversion":
                aims.append((key, g.number(key)))
                continue
            c = g.table("conversion")
            edges = {f"{lifecycle.names[e.source]}->{lifecycle.names[e.target]}"
                     for e in lifecycle.edges}
            for edge in list(c.keys()):
                if edge not in edges:
                    raise c.error(edge, f"no edge {edge!r} in the lifecycle" + suggest(edge, edges)
                                  + "; write \"SOURCE->TARGET\" with stage names")
                source, _, target = edge.partition("->")
                aims.append((conversion_key(source, target), c.number(edge)))
            c.finish()
        g.finish()
    if "amortise_months" in t and "build_cost" not in t:
        raise t.error("amortise_months", "amortise_months spreads a build_cost: give "
                      "build_cost or remove amortise_months")
    if not aims and "saturation" in t:
        raise t.error("saturation", "saturation shapes the response of a program with "
                      "targets: give a targets table or remove it")
    return dict(
        targets=tuple(aims),
        saturation=t.positive("saturation", 1.0),
        decay=_decay(t, aims),
        fixed_cost_per_month=t.cost("fixed_cost_per_month", 0.0),
        cost_per_enrolled_month=t.cost("cost_per_enrolled_month", 0.0),
        cost_per_reward=t.cost("cost_per_reward", 0.0),
        rewards_per_month=t.nonneg("rewards_per_month", 0.0),
        cost_per_referral=t.cost("cost_per_referral", 0.0),
        build_cost=t.cost("build_cost", 0.0),
        amortise_months=t.positive("amortise_months", 1.0),
    )


def _decay(t: Table, aims: list[tuple[str, float]]) -> float:
    """A program's ``decay``: the share of its targets' effect carried over per month.

    See :class:`sim.engine.targets.Carry`. It applies to targets other than ``price``;
    a program without them has nothing to carry (its pooled touch dose already lasts
    through the engagement, satisfaction and onboarding it moves).
    """
    if "decay" not in t:
        return 0.0
    what = "a share of the effect carried over per month in [0, 1)"
    decay = t.number("decay", low=0.0, what=what, what_states_bounds=True)
    if decay >= 1.0:
        raise t.error("decay", f"expected {what}, got {decay:g}: an effect that never fades "
                      "would build up without end (0.9 is a half-life of 6.6 months)")
    if not any(key != NOT_CARRIED for key, _ in aims):
        raise t.error("decay", "decay carries the effect of a program's targets over to "
                      "later months; this program has no targets it could carry (a price "
                      "discount lasts while enrolled, and a program without targets feeds "
                      "the pooled touch dose, whose effect lasts through the states it "
                      "moves): give a targets table or remove decay")
    return decay


def _community(p: Table) -> CommunitySpec | None:
    """A policy's ``community`` table (``None`` when it has none)."""
    if "community" not in p:
        return None
    t = p.table("community")
    spec = CommunitySpec(
        strength=t.number("strength", low=0.0, low_open=True, high=1.0,
                          what="a share in (0, 1]", what_states_bounds=True),
        monthly_cost=t.cost("monthly_cost"),
        cost_per_member_month=t.cost("cost_per_member_month", 0.0),
    )
    t.finish()
    return spec


def _roadmap(p: Table) -> RoadmapSpec | None:
    """A policy's ``roadmap`` table (``None`` when it has none)."""
    if "roadmap" not in p:
        return None
    t = p.table("roadmap")
    spec = RoadmapSpec(
        feedback_rate=t.number("feedback_rate", low=0.0, low_open=True, high=1.0,
                               what="a monthly rate in (0, 1]", what_states_bounds=True),
        monthly_cost=t.cost("monthly_cost"),
    )
    t.finish()
    return spec


def _community_needs_network(
    policies: Mapping[str, PolicySpec], network: NetworkSpec, file: str
) -> None:
    """Refuse a community where customers have no neighbours to be pulled toward."""
    if network.kind == "small_world":
        return
    for name, policy in policies.items():
        if policy.community is not None:
            raise InputError(
                file, f"policies.{name}.community",
                "a community pulls each customer toward its active neighbours on the "
                f"network, but network.kind is {network.kind!r}: set [network] "
                "kind = \"small_world\" or remove the community",
            )


def _policies(
    t: Table,
    lifecycle: Lifecycle,
    segments: tuple[Segment, ...],
    team_defaults: Mapping[str, Mapping[str, Any]],
) -> Mapping[str, PolicySpec]:
    policies = {}
    for name in list(t.keys()):
        p = t.table(name)
        p.strings("tactics", ())  # written out by from_dict (README "The tactics library")
        progs_t = p.table("programs", {})
        programs = tuple(
            _program(progs_t.table(k), k, lifecycle, segments) for k in list(progs_t.keys())
        )
        needed = {CHANNEL_TEAM[g.channel] for g in programs if g.channel in CHANNEL_TEAM}
        teams = _policy_teams(p, name, team_defaults, needed)
        for prog in programs:
            team = CHANNEL_TEAM.get(prog.channel)
            if team is None:
                continue
            key = f"programs.{prog.name}.channel"
            if team not in teams:
                raise p.error(
                    key,
                    f"a {prog.channel!r} program needs CSMs, but policy {name!r} has no "
                    f"[policies.{name}.teams.{team}] table and there is no top-level "
                    f"[teams.{team}] table",
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
            community=_community(p),
            roadmap=_roadmap(p),
            churned_stages=tuple(
                i for i, stage in enumerate(lifecycle.stages) if stage.kind == "churned"
            ),
        )
        p.finish()
    if not policies:
        raise t.error("", "define at least one policy")
    return policies
