"""Engagement policies: the :class:`Policy` interface and the scenario-driven programs.

A policy decides, each step, which customers get which touches. Its result is an
:class:`Engagement`: the *response* of each customer (``1 − exp(−dose)``, in [0, 1),
with the dose per month),
the touches delivered, what they cost per customer, and the cost totals by type.

The four shipped models (``no_touch``, ``low_touch``, ``high_touch``, ``hybrid``) are
data: a :class:`PolicySpec` in the scenario made of *programs*. A program reaches the
customers in some stages and segments (and above a revenue tier, or only when their
observed health drops below a threshold: escalation) through one channel:

* ``digital`` — e-mail, in-app guides, chatbot: no capacity limit; a touch's effect
  is scaled by the customer's digital affinity;
* ``pooled`` — a shared CSM team (webinars, office hours, help on request);
* ``named_csm`` — a named CSM per account.

Human touches are scaled by the customer's preference for human contact, so
over-touching a self-serve customer buys little. The dose of a customer is
``Σ touches × effect × fit × responsiveness × quality``.

A program may instead be **aimed at outcomes** (``targets``: churn, engagement,
satisfaction, onboarding, referral, visits, expansion, price, conversion on named
edges). It then does not add to the dose: it has its own response
``1 − exp(−touches × fit × responsiveness × quality / saturation)`` and moves each
target by its effect × that response, carried to the model in
:attr:`Engagement.targets` and applied where the target acts (:mod:`sim.engine.targets`).
With a ``decay`` (the share of its effect carried over per month) that effect outlasts
the step: each customer keeps a level that fades geometrically, capped at the effect at
full response (:class:`~sim.engine.targets.Carry`, per run).
Any program may add cost models beyond per touch: its own platform
(``fixed_cost_per_month``, type ``fixed``), per enrolled customer per month and per
reward redeemed (type ``touch``), per referral credited to an enrolled referrer (type
``touch``, booked by the model) and a build cost amortised over its first months (type
``setup``) — :func:`book_program_costs`.

A policy may also run two programs that act on everyone at once rather than touch
customers one by one:

* a **community** (:class:`CommunitySpec`: moderation, events) — each active
  customer's engagement is pulled toward the mean engagement of its *active*
  neighbours with the program's ``strength`` (:func:`sim.engine.dynamics.respond`), so
  it lifts engagement where neighbours are engaged and does nothing where they are not;
  it costs ``monthly_cost`` (the company's) plus ``cost_per_member_month`` for every
  active customer;
* a **collaborative roadmap** (:class:`RoadmapSpec`) — feedback from engaged customers
  raises the product's value at ``feedback_rate`` per month
  (:func:`sim.engine.dynamics.improve_product`) for the run of this policy only; it
  costs ``monthly_cost`` (the company's).

Both costs are booked as type ``fixed``. The :class:`Engagement` carries the programs'
strength and rate to the model (``community_strength``, ``feedback_rate``; 0 when the
policy runs none, as for every custom policy that does not set them).

The policy contract (what a custom policy may rely on and must honour):

* **What it receives.** :meth:`Policy.setup` (once, after the population exists) and
  :meth:`Policy.engage` (every step) receive a :class:`~sim.engine.view.PolicyView`,
  not the model: ``n``, ``weight``, ``steps_per_month``, ``step``, ``stage``/``stage_names``,
  ``segment``/``segment_names``, ``active``, ``traits``, ``health``,
  ``monthly_revenue``, ``engagement``, ``satisfaction``, ``onboarding``,
  ``steps_in_stage``, ``tenure_months``. The arrays are read-only views of the model's
  arrays (writing to one raises ``ValueError``).
* **Its randomness.** ``view.rng`` is the policy's own generator, spawned from the
  run's; drawing from it cannot change the random numbers the customers meet, so
  common random numbers between policies hold whatever a policy draws.
* **What it returns.** An :class:`Engagement` whose ``response``, ``touches`` and
  ``cost`` have one entry per customer, touches and cost *per step*, and whose
  ``costs_by_type`` uses only the keys of :data:`COST_TYPES`, with ``response`` in
  [0, 1] and touches, costs and cost totals finite and ≥ 0; anything else, and an
  exception raised in ``engage`` or ``setup``, is refused with a :class:`PolicyError`
  naming the policy and the step (:func:`check_engagement`).
  :meth:`Engagement.from_touches` builds one from touches *per month* and handles the
  step length. Its optional
  ``community_strength`` (in [0, 1]) and ``feedback_rate`` (≥ 0, per month) switch on
  the community pull and the roadmap's product feedback for this step. Its optional
  ``targets`` (target name → one finite value per customer; see
  :mod:`sim.engine.targets`) and ``referral_cost`` (per credited referral, one value
  per customer) act on outcomes directly.
* **Company costs.** The run simulates a sample of the company: each customer row
  stands for ``view.weight`` company customers. A cost the company pays whatever its
  size (a platform, a team) is allocated to the sample as ``cost / view.weight`` (as
  :meth:`Engagement.from_touches` and the teams do); per-customer costs are not scaled.

See README "6. Write your own policy".
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from sim.engine import targets
from sim.engine.lifecycle import in_stages
from sim.engine.sorted_rows import locate
from sim.engine.staffing import Team, TeamSpec, priority_key
from sim.engine.view import PolicyView
from sim.schema import InputError, suggest

CHANNELS = ("digital", "pooled", "named_csm")
CHANNEL_TEAM = {"pooled": "pooled", "named_csm": "named"}
#: The cost types an :class:`Engagement` may report (``costs_by_type`` keys).
COST_TYPES = ("fixed", "touch", "setup", "staff")


@dataclass(frozen=True)
class ProgramSpec:
    """One engagement program of a policy.

    Attributes:
        name: Program name.
        channel: One of :data:`CHANNELS`.
        stages: Indices of the stages it applies to.
        segments: Indices of the segments it applies to.
        min_revenue: Only customers with at least this monthly revenue (tiering).
        health_below: If set, only customers whose observed health is below it
            (escalation); ``None`` for everyone in scope.
        touches_per_month: Touches each reached customer gets per month.
        hours_per_touch: CSM hours one touch takes (human channels).
        effect: Dose of one touch for a perfectly fitting, fully responsive customer.
        cost_per_touch: Direct cost of one touch.
        setup_cost: One-off cost the first time a customer enters the program.
        targets: ``(target, effect at full response)`` pairs
            (:mod:`sim.engine.targets`); empty: the program feeds the pooled touch
            dose with ``effect``, as always.
        saturation: Monthly fitted touches at which a targeted program's response is
            63 % (``r = 1 − exp(−touches × fit / saturation)``).
        decay: Share of a targeted program's effect carried over per month, in [0, 1)
            (0: the effect lasts the step it is delivered in; see
            :class:`~sim.engine.targets.Carry`).
        fixed_cost_per_month: The program's own platform per month (the company's;
            type ``fixed``).
        cost_per_enrolled_month: Per customer in scope per month (type ``touch``).
        cost_per_reward: Cost of one reward redeemed (type ``touch``).
        rewards_per_month: Rewards each enrolled customer redeems per month (the
            expected cost is booked; no draws).
        cost_per_referral: Paid per word-of-mouth conversion credited to an enrolled
            referrer (type ``touch``, booked by the model where referrals are credited).
        build_cost: One-off build cost (the company's; type ``setup``), spread evenly
            over the first ``amortise_months`` months.
        amortise_months: Months over which ``build_cost`` is spread.
    """

    name: str
    channel: str
    stages: tuple[int, ...]
    segments: tuple[int, ...]
    min_revenue: float = 0.0
    health_below: float | None = None
    touches_per_month: float = 1.0
    hours_per_touch: float = 1.0
    effect: float = 0.0
    cost_per_touch: float = 0.0
    setup_cost: float = 0.0
    targets: tuple[tuple[str, float], ...] = ()
    saturation: float = 1.0
    decay: float = 0.0
    fixed_cost_per_month: float = 0.0
    cost_per_enrolled_month: float = 0.0
    cost_per_reward: float = 0.0
    rewards_per_month: float = 0.0
    cost_per_referral: float = 0.0
    build_cost: float = 0.0
    amortise_months: float = 1.0


@dataclass(frozen=True)
class CommunitySpec:
    """A policy's community program (moderation, events).

    Attributes:
        strength: Share of each active customer's engagement target pulled toward the
            mean engagement of its active neighbours, in (0, 1].
        monthly_cost: The company's cost of running it per month (allocated to the
            simulated sample as ``cost / weight``).
        cost_per_member_month: Cost per active customer (member) per month.
    """

    strength: float
    monthly_cost: float
    cost_per_member_month: float = 0.0


@dataclass(frozen=True)
class RoadmapSpec:
    """A policy's collaborative roadmap: engaged customers' feedback improves the product.

    Attributes:
        feedback_rate: Per month: ``v += feedback_rate · mean engagement · (1 − v)``.
        monthly_cost: The company's cost of running it per month (product managers,
            research; allocated to the simulated sample as ``cost / weight``).
    """

    feedback_rate: float
    monthly_cost: float


@dataclass(frozen=True)
class PolicySpec:
    """An engagement model as a scenario describes it.

    Attributes:
        name: Policy name.
        description: One line for listings and reports.
        fixed_cost_per_month: Platform and tooling cost per month.
        teams: Team name (``named``/``pooled``) → :class:`TeamSpec`.
        programs: The programs.
        community: Its community program, or ``None``.
        roadmap: Its collaborative roadmap, or ``None``.
        churned_stages: Indices of the lifecycle's churned stages: a customer entering
            one loses what its programs' ``decay`` carried (empty: nobody does).
    """

    name: str
    description: str
    fixed_cost_per_month: float
    teams: dict[str, TeamSpec]
    programs: tuple[ProgramSpec, ...]
    community: CommunitySpec | None = None
    roadmap: RoadmapSpec | None = None
    churned_stages: tuple[int, ...] = ()


@dataclass
class Engagement:
    """What a policy did in one step.

    Attributes:
        response: Per-customer response to the touches, in [0, 1): ``1 − exp(−dose)``
            where the dose is measured per *month* (touches per month × effect × fit),
            so that the response does not depend on the step length.
        touches: Per-customer touches delivered.
        cost: Per-customer engagement cost allocated this step.
        costs_by_type: Totals this step by type (see :data:`COST_TYPES`), including any
            cost that could not be allocated to a customer.
        csm_hours_available: Customer-facing CSM hours the policy had this step.
        csm_hours_used: CSM hours spent on touches this step.
        csm_headcount: CSMs employed this step.
        community_strength: Strength of the community pull the policy runs this step,
            in [0, 1] (0: no community; see :class:`CommunitySpec`).
        feedback_rate: Monthly rate at which the policy's collaborative roadmap turns
            engaged customers' feedback into product value, ≥ 0 (0: none; see
            :class:`RoadmapSpec`).
        targets: Target name → per-customer effect of programs aimed at outcomes
            (:mod:`sim.engine.targets`; empty: none).
        referral_cost: Per-customer cost of each word-of-mouth conversion credited to
            the customer this step (``None``: no referral rewards).
    """

    response: np.ndarray
    touches: np.ndarray
    cost: np.ndarray
    costs_by_type: dict[str, float] = field(default_factory=dict)
    csm_hours_available: float = 0.0
    csm_hours_used: float = 0.0
    csm_headcount: int = 0
    community_strength: float = 0.0
    feedback_rate: float = 0.0
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    referral_cost: np.ndarray | None = None

    @classmethod
    def none(cls, n: int) -> Engagement:
        """Return an engagement with no touches and no cost for ``n`` customers."""
        return cls(np.zeros(n), np.zeros(n), np.zeros(n), dict.fromkeys(COST_TYPES, 0.0))

    @classmethod
    def from_touches(
        cls,
        view: PolicyView,
        touches_per_month: float | np.ndarray,
        *,
        effect: float,
        fit: float | np.ndarray = 1.0,
        cost_per_touch: float = 0.0,
        fixed_cost_per_month: float = 0.0,
    ) -> Engagement:
        """Build an engagement from touches *per month*, whatever the step length.

        With ``spm = view.steps_per_month``, each customer gets
        ``touches_per_month / spm`` touches this step, a monthly dose of
        ``touches_per_month × effect × fit`` and the response ``1 − exp(−dose)``;
        touches cost ``cost_per_touch`` each (type ``touch``) and the fixed cost
        ``fixed_cost_per_month / spm`` per step (type ``fixed``) is the company's: the
        simulated customers carry ``1 / view.weight`` of it, shared evenly by the active
        ones.

        Args:
            view: The view the policy was given.
            touches_per_month: Touches per month, one number for everyone or one per
                customer (≥ 0; give 0 to whoever you do not touch).
            effect: Dose of one touch for a perfectly fitting customer.
            fit: How well the touch suits each customer (a number or one per
                customer), e.g. ``view.traits["digital_affinity"] *
                view.traits["responsiveness"]`` as the digital programs use.
            cost_per_touch: Direct cost of one touch.
            fixed_cost_per_month: Platform or tooling cost per month.

        Raises:
            ValueError: Touches are negative or not finite, or an array has the wrong
                length.
        """
        n, spm = view.n, view.steps_per_month
        per_month = _per_customer(touches_per_month, n, "touches_per_month")
        if not np.all(np.isfinite(per_month)) or np.any(per_month < 0):
            raise ValueError("touches_per_month must be finite and ≥ 0")
        dose = per_month * effect * _per_customer(fit, n, "fit")
        touches = per_month / spm
        cost = touches * cost_per_touch
        by_type = dict.fromkeys(COST_TYPES, 0.0)
        by_type["touch"] = float(cost.sum())
        fixed = fixed_cost_per_month / spm / view.weight  # the simulated customers' share
        by_type["fixed"] = fixed
        allocate(fixed, np.zeros(0), np.flatnonzero(view.active), cost)
        return cls(response=-np.expm1(-dose), touches=touches, cost=cost, costs_by_type=by_type)


def _per_customer(value: float | np.ndarray, n: int, what: str) -> np.ndarray:
    """``value`` as a float array of length ``n`` (a number is repeated)."""
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return np.full(n, float(array))
    if array.shape != (n,):
        raise ValueError(f"{what}: expected one value per customer ({n}), got shape {array.shape}")
    return array


class PolicyError(InputError):
    """A policy broke the contract (for instance an unknown cost type).

    An :class:`~sim.schema.InputError`, so the command line reports it in one line
    (exit code 2). The message names the policy's file and class, the policy and the
    problem.
    """

    def __init__(self, policy: Policy, problem: str):
        cls = type(policy)
        try:  # where its engage() is written (works for files loaded by path, too)
            file = inspect.getsourcefile(cls.engage)
        except TypeError:  # not written in Python
            file = None
        super().__init__(file, cls.__qualname__, f"policy {policy.name!r}: {problem}")


#: The per-customer arrays of an :class:`Engagement` and the range each must lie in.
ENGAGEMENT_RANGES = {"response": (0.0, 1.0), "touches": (0.0, np.inf), "cost": (0.0, np.inf)}


def _members(size: int, chosen: Iterable[int]) -> np.ndarray:
    """A mask of ``size`` entries, true at the indices ``chosen``.

    ``np.isin(np.arange(size), chosen)`` without its set-up (50 µs a call on a handful
    of stages; a policy's set-up builds two masks per program).
    """
    chosen = set(chosen)
    return np.array([index in chosen for index in range(size)], dtype=bool)


def _within(values: np.ndarray, low: float, high: float) -> bool:
    """Whether every one of ``values`` (at least one) is finite and in [low, high].

    A NaN makes the smallest and the largest NaN, which fails both comparisons.
    """
    smallest, largest = np.minimum.reduce(values), np.maximum.reduce(values)
    return bool(smallest >= low and largest <= high and np.isfinite(largest))


def check_engagement(
    policy: Policy, engaged: Engagement, n: int, step: int | None = None
) -> Engagement:
    """Return ``engaged`` if it honours the contract, else raise :class:`PolicyError`.

    The model calls this on what :meth:`Policy.engage` returned: an :class:`Engagement`
    whose ``response`` (in [0, 1]), ``touches`` and ``cost`` (finite, ≥ 0) have one
    value per customer and whose ``costs_by_type`` uses only :data:`COST_TYPES` with
    finite, non-negative totals, with ``community_strength`` in [0, 1],
    ``feedback_rate`` finite and ≥ 0, and ``targets`` (and ``referral_cost``) of known
    targets, one finite value per customer. A NaN or a negative cost would otherwise
    flow silently into every result (a negative cost inflates profit).

    Args:
        policy: The policy that returned it (named in the message).
        engaged: What it returned.
        n: Customers in the run.
        step: The step it was returned for (named in the message; ``None``: not said).
    """
    def fail(problem: str) -> PolicyError:
        return PolicyError(policy, problem if step is None else f"step {step}: {problem}")

    if not isinstance(engaged, Engagement):
        raise fail(f"engage() must return an Engagement, got {type(engaged).__name__}")
    for name, (low, high) in ENGAGEMENT_RANGES.items():
        shape = np.shape(getattr(engaged, name))
        if shape != (n,):
            raise fail(
                f"Engagement.{name} must have one value per customer ({n},), got shape {shape}"
            )
        values = np.asarray(getattr(engaged, name), dtype=float)
        if n and _within(values, low, high):  # the usual case, in two reductions
            continue
        bad = np.flatnonzero(~(np.isfinite(values) & (values >= low) & (values <= high)))
        if bad.size:
            expected = "finite and ≥ 0" if high == np.inf else f"in [{low:g}, {high:g}]"
            raise fail(
                f"Engagement.{name} must be {expected}, got {float(values[bad[0]])!r} for "
                f"customer {bad[0]} ({bad.size} of {n} customers)"
            )
    if not 0.0 <= engaged.community_strength <= 1.0:
        raise fail(
            f"Engagement.community_strength must be in [0, 1], got {engaged.community_strength!r}",
        )
    if not 0.0 <= engaged.feedback_rate < np.inf:
        raise fail(
            f"Engagement.feedback_rate must be finite and ≥ 0, got {engaged.feedback_rate!r}",
        )
    arrays = dict(engaged.targets)
    if engaged.referral_cost is not None:
        arrays["referral_cost"] = engaged.referral_cost
    for key, value in arrays.items():
        if key != "referral_cost" and not targets.is_known(key):
            raise fail(
                f"Engagement.targets has unknown target {key!r}"
                + suggest(key, targets.TARGETS) + f"; allowed: {', '.join(targets.TARGETS)}",
            )
        value = np.asarray(value)
        if value.shape != (n,) or not np.all(np.isfinite(value)):
            raise fail(
                f"Engagement {key!r} must have one finite value per customer ({n},), "
                f"got shape {value.shape}",
            )
    unknown = [key for key in engaged.costs_by_type if key not in COST_TYPES]
    if unknown:
        raise fail(
            f"Engagement.costs_by_type has unknown cost type {unknown[0]!r}; "
            f"allowed: {', '.join(COST_TYPES)}",
        )
    for key, total in engaged.costs_by_type.items():
        if not 0.0 <= total < np.inf:
            raise fail(f"Engagement.costs_by_type[{key!r}] must be finite and ≥ 0, got {total!r}")
    if engaged.referral_cost is not None and np.any(np.asarray(engaged.referral_cost) < 0):
        raise fail("Engagement 'referral_cost' must be ≥ 0 for every customer")
    return engaged


class Policy(ABC):
    """The interface every engagement policy implements.

    Both hooks receive a read-only :class:`~sim.engine.view.PolicyView` of the
    customers (not the model); ``view.rng`` is the policy's own generator. See the
    module docstring for the whole contract.

    Attributes:
        name: Shown in outputs.
        teams: Live CSM teams (empty for policies without people).
    """

    name: str = "custom"
    teams: Mapping[str, Team] = MappingProxyType({})

    def setup(self, view: PolicyView) -> None:  # noqa: B027 - optional hook
        """Prepare for a run (called once, after the population exists)."""

    @abstractmethod
    def engage(self, view: PolicyView) -> Engagement:
        """Decide this step's touches and return what they did and cost."""


class NoPolicy(Policy):
    """No engagement at all: the control."""

    name = "none"

    def engage(self, view: PolicyView) -> Engagement:
        """Return no touches and no cost."""
        return Engagement.none(view.n)


def allocate(
    total: float,
    weights: np.ndarray,
    fallback: np.ndarray,
    out: np.ndarray,
    weighted: np.ndarray | None = None,
) -> None:
    """Add ``total`` to ``out`` in proportion to ``weights`` (else evenly over ``fallback``).

    Cost with nobody to carry it (no weight, empty fallback) is left unallocated.

    Args:
        total: The cost to allocate.
        weights: Full-length weights (≥ 0).
        fallback: The rows that share it evenly when no weight is positive.
        out: Full-length costs to add to.
        weighted: The rows outside which every weight is 0, whose shares alone are
            added (the others' share is 0; ``None``: every row's is added).
    """
    if total <= 0:
        return
    w = weights.sum()
    if w > 0 and weighted is None:
        out += total * weights / w
    elif w > 0:
        out[weighted] += total * weights[weighted] / w
    elif fallback.size:
        out[fallback] += total / fallback.size


class ProgramPolicy(Policy):
    """A policy made of scenario programs (the shipped models and any you define).

    Args:
        spec: The policy's description.
    """

    def __init__(self, spec: PolicySpec):
        self.spec = spec
        self.name = spec.name
        self.teams = {}

    def setup(self, view: PolicyView) -> None:
        """Create the teams, the per-program set-up records and the carried levels.

        Everything a run accumulates starts here afresh, so one policy object run
        twice (one run after the other) gives the same results both times.

        Args:
            view: The model's view (or any object with the same arrays and ``spec``).
        """
        view = PolicyView.of(view)
        self.teams = {
            name: Team(team, view.n, view.steps_per_month, view.weight)
            for name, team in self.spec.teams.items()
        }
        #: who has been set up, for each program with a set-up cost (booked once each)
        self._set_up = {
            p.name: np.zeros(view.n, dtype=bool) for p in self.spec.programs if p.setup_cost > 0
        }
        self._carry = targets.Carry(
            self.spec.programs, view.n, view.steps_per_month, self.spec.churned_stages
        )
        n_stages = len(view.stage_names)
        n_segments = len(view.segment_names)
        # one lookup per program over (stage, segment) cells: cell = stage · S + segment
        self._n_segments = n_segments
        self._cell_in = {
            p.name: np.logical_and.outer(_members(n_stages, p.stages),
                                         _members(n_segments, p.segments)).ravel()
            for p in self.spec.programs
        }
        #: the stages some program may reach: only their customers are looked at
        self._stage_reached = np.zeros(n_stages, dtype=bool)
        for cells in self._cell_in.values():
            self._stage_reached |= cells.reshape(n_stages, n_segments).any(axis=1)

    def _reach(
        self, view: PolicyView, p: ProgramSpec, candidates: np.ndarray, cell: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(in_scope, asking)`` of program ``p`` as positions in ``candidates``.

        Args:
            view: The model's view.
            p: The program.
            candidates: The customers in a stage some program reaches (ascending).
            cell: Their (stage, segment) cells (``stage · segments + segment``).
        """
        scope = self._cell_in[p.name][cell]
        if p.min_revenue > 0:
            scope &= view.monthly_revenue[candidates] >= p.min_revenue
        # int32 positions (fewer than 2**31 customers): every program's are held at once
        rows = scope.nonzero()[0].astype(np.int32)
        if p.health_below is None:
            return rows, rows
        return rows, rows[view.health[candidates[rows]] < p.health_below]

    def engage(self, view: PolicyView) -> Engagement:
        """Run every program for one step.

        Args:
            view: The model's view (or any object with the same arrays and ``spec``).
        """
        view = PolicyView.of(view)
        n, spm = view.n, view.steps_per_month
        traits = view.traits
        touches, cost = np.zeros(n), np.zeros(n)
        by_type = dict.fromkeys(COST_TYPES, 0.0)
        # the customers some program may reach; per program its in-scope and asking
        # customers as positions among them (ascending, as the customers' own rows)
        candidates = in_stages(self._stage_reached, view.stage).nonzero()[0]
        cell = view.stage[candidates].astype(np.intp) * self._n_segments
        cell += view.segment[candidates]
        reach = {p.name: self._reach(view, p, candidates, cell) for p in self.spec.programs}
        del cell
        dose = np.zeros(candidates.size)
        aimed = Aimed(n, self._carry)

        # staff the teams, then ration each team's hours once across its programs
        served = {
            team_name: self._serve(view, team_name, team, candidates, reach, cost, by_type)
            for team_name, team in self.teams.items()
        }
        # from here on only the asking customers: the in-scope ones are let go, and each
        # program's rows are taken from the candidates when it runs (not all held)
        asking_at = {name: asking for name, (_, asking) in reach.items()}
        del reach

        for p in self.spec.programs:
            position = asking_at[p.name]
            if position.size == 0:
                continue
            asking = candidates[position]
            wanted = p.touches_per_month / spm
            if p.channel == "digital":
                delivered = np.full(asking.size, wanted)
                fit = traits["digital_affinity"][asking]
            else:
                share, quality = served[CHANNEL_TEAM[p.channel]].at(position)
                delivered = wanted * share
                fit = traits["human_preference"][asking] * quality
            if p.targets:  # aimed at outcomes: its own response (sim.engine.targets)
                aimed.add(asking, delivered * spm * fit * traits["responsiveness"][asking], p)
            else:  # delivered · effect · fit · responsiveness, in that order, in place
                fit *= delivered * p.effect  # (the same product: multiplication commutes)
                fit *= traits["responsiveness"][asking]
                dose[position] += fit
            touches[asking] += delivered
            touch_cost = delivered * p.cost_per_touch
            cost[asking] += touch_cost
            by_type["touch"] += float(touch_cost.sum())
            if p.setup_cost > 0:
                new = asking[~self._set_up[p.name][asking] & (delivered > 0)]
                self._set_up[p.name][new] = True
                cost[new] += p.setup_cost
                by_type["setup"] += p.setup_cost * new.size

        del served  # spent: its memory is free for the rest of the step
        aimed.settle(view)  # the decaying programs' carried levels
        for p in self.spec.programs:
            if p.targets or program_costs(p):
                enrolled = candidates[asking_at[p.name]]
                book_program_costs(p, view, enrolled, cost, by_type, aimed)
        fixed = self.spec.fixed_cost_per_month / spm / view.weight  # the sample's share
        by_type["fixed"] += fixed
        allocate(fixed, np.zeros(0), view.active.nonzero()[0], cost)
        strength, rate = self._community_and_roadmap(view, cost, by_type)
        dose *= spm  # per month: whatever the step length
        dosed, reaction = _response(dose)
        del dose
        response = np.zeros(n)  # 0 wherever there was no dose
        response[candidates[dosed]] = reaction
        del dosed, reaction
        return Engagement(
            response=response,
            touches=touches,
            cost=cost,
            costs_by_type=by_type,
            csm_hours_available=sum(t.headcount * t.hours_per_step for t in self.teams.values()),
            csm_hours_used=sum(float(t.hours_used.sum()) for t in self.teams.values()),
            csm_headcount=sum(t.headcount for t in self.teams.values()),
            community_strength=strength,
            feedback_rate=rate,
            targets=aimed.effects,
            referral_cost=aimed.referral_cost,
        )

    def _serve(
        self,
        view: PolicyView,
        team_name: str,
        team: Team,
        candidates: np.ndarray,
        reach: dict[str, tuple[np.ndarray, np.ndarray]],
        cost: np.ndarray,
        by_type: dict[str, float],
    ) -> Served:
        """Staff one team and ration its hours once across its programs.

        Books the team's staff cost (type ``staff``) on the customers it serves, in
        proportion to the hours each gets.

        Args:
            view: The model's view.
            team_name: The team's name.
            team: The team.
            candidates: The customers some program may reach (ascending).
            reach: Per program its in-scope and asking customers (positions in
                ``candidates``).
            cost: Each customer's cost this step (added to).
            by_type: The step's costs by type (added to).

        Returns:
            The share and quality of the touches each asking customer gets.
        """
        spm = view.steps_per_month
        progs = [p for p in self.spec.programs if CHANNEL_TEAM.get(p.channel) == team_name]
        in_scope = np.zeros(candidates.size, dtype=bool)
        for p in progs:
            in_scope[reach[p.name][0]] = True
        covered = candidates[in_scope.nonzero()[0]]
        key = priority_key(team.spec.priority, view)
        team.staff(covered, key)
        hours = np.zeros(candidates.size)
        for p in progs:
            hours[reach[p.name][1]] += p.touches_per_month / spm * p.hours_per_touch
        asking = hours.nonzero()[0]  # positions among the candidates
        asking_rows = candidates[asking]
        share, quality = team.ration(asking_rows, hours[asking], key)
        staff_cost = team.sample_cost_per_step
        by_type["staff"] += staff_cost
        weights = np.zeros(view.n)  # hours × share: 0 wherever no hours were asked for
        weights[asking_rows] = hours[asking] * share
        allocate(staff_cost, weights, covered, cost, weighted=asking_rows)
        return Served(asking, share, quality)

    def _community_and_roadmap(
        self, view: PolicyView, cost: np.ndarray, by_type: dict[str, float]
    ) -> tuple[float, float]:
        """Book this step's community and roadmap costs; return their strength and rate.

        The monthly costs are the company's (the sample carries ``1 / weight``, shared
        evenly by the active customers); the community's cost per member is booked on
        each active customer. All of it is type ``fixed``.

        Returns:
            ``(community_strength, feedback_rate)`` (0 for a program the policy lacks).
        """
        community, roadmap = self.spec.community, self.spec.roadmap
        if community is None and roadmap is None:
            return 0.0, 0.0
        spm, active = view.steps_per_month, np.flatnonzero(view.active)
        strength = rate = company = 0.0
        if community is not None:
            strength = community.strength
            company += community.monthly_cost
            per_member = community.cost_per_member_month / spm
            cost[active] += per_member
            by_type["fixed"] += per_member * active.size
        if roadmap is not None:
            rate = roadmap.feedback_rate
            company += roadmap.monthly_cost
        share = company / spm / view.weight  # the sample's share of the company's cost
        by_type["fixed"] += share
        allocate(share, np.zeros(0), active, cost)
        return strength, rate


@dataclass(frozen=True)
class Served:
    """What a team gave the customers who asked for its touches in one step.

    Held for the asking customers alone (not one number per candidate: a team's
    arrays would otherwise be alive through every program, issue 15).

    Attributes:
        asking: Their positions among the step's candidates (ascending).
        share: The share of its asked-for touches each gets.
        quality: The quality multiplier of those touches.
    """

    asking: np.ndarray
    share: np.ndarray
    quality: np.ndarray

    def at(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(share, quality)`` at candidate ``positions`` (0 where none was asked for)."""
        found, at = locate(self.asking, positions)
        share, quality = np.zeros((2, positions.size))
        share[found], quality[found] = self.share[at], self.quality[at]
        return share, quality


def _response(dose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``1 − exp(−dose)`` where the dose is not 0 (where it is, the response is 0).

    Returns:
        ``(dosed, response)``: the positions of the non-zero doses and their
        responses (computed in a gathered copy, in place: the same numbers).
    """
    dosed = dose.nonzero()[0]
    response = dose[dosed]
    np.negative(response, out=response)
    np.expm1(response, out=response)
    return dosed, np.negative(response, out=response)


class Aimed:
    """The per-target effects of a step's programs aimed at outcomes, as they add up.

    Args:
        n: Number of customers.
        carry: The run's carried levels of decaying programs (``None``: none decay).
    """

    def __init__(self, n: int, carry: targets.Carry | None = None):
        self.n = n
        self.carry = carry
        self.effects: dict[str, np.ndarray] = {}
        self.referral_cost: np.ndarray | None = None

    def _add(self, key: str, rows: np.ndarray | slice, values: np.ndarray | float) -> None:
        effect = self.effects.setdefault(key, np.zeros(self.n))
        effect[rows] += values

    def add(self, rows: np.ndarray, fitted_per_month: np.ndarray, p: ProgramSpec) -> None:
        """Add program ``p``'s effects on ``rows`` (fitted touches per month given).

        The response is ``1 − exp(−fitted / saturation)``; each target gets
        ``effect × response``, except ``price``, a discount of ``effect`` on everyone
        enrolled. A target that carries over (``decay``) is delivered to the carry
        instead and reaches :attr:`effects` in :meth:`settle`.
        """
        response = -np.expm1(-fitted_per_month / p.saturation)
        for key, x in p.targets:
            if self.carry is not None and self.carry.carries(p.name, key):
                self.carry.deliver(p.name, key, rows, x * response)
            else:
                self._add(key, rows, x if key == "price" else x * response)

    def settle(self, view: PolicyView) -> None:
        """Advance the carried levels one step and add them to :attr:`effects`.

        Called once per step after every program's :meth:`add` (a decaying program
        reaching nobody this step still fades). Without one it reads nothing from the
        view (a model-like object without ``steps_in_stage`` will do, as before).
        """
        if self.carry is None or not self.carry.levels:
            return
        for key, level in self.carry.step(view.stage, view.steps_in_stage):
            self._add(key, slice(None), level)

    def enrol_referrals(self, rows: np.ndarray, cost_per_referral: float) -> None:
        """Pay ``cost_per_referral`` for each referral credited to ``rows`` this step."""
        if self.referral_cost is None:
            self.referral_cost = np.zeros(self.n)
        self.referral_cost[rows] += cost_per_referral


def program_costs(p: ProgramSpec) -> bool:
    """Whether program ``p`` has a cost beyond its touches and set-up."""
    return any((p.fixed_cost_per_month, p.cost_per_enrolled_month,
                p.cost_per_reward * p.rewards_per_month, p.cost_per_referral, p.build_cost))


def book_program_costs(
    p: ProgramSpec,
    view: PolicyView,
    enrolled: np.ndarray,
    cost: np.ndarray,
    by_type: dict[str, float],
    aimed: Aimed,
) -> None:
    """Book one step of program ``p``'s cost models on its ``enrolled`` customers.

    Per enrolled customer (not scaled): ``cost_per_enrolled_month`` and
    ``cost_per_reward × rewards_per_month`` per month (type ``touch``); the company's
    (``/ view.weight``, shared evenly by the enrolled, else the active):
    ``fixed_cost_per_month`` (type ``fixed``) and ``build_cost`` spread evenly over the
    first ``amortise_months`` months (type ``setup``). ``cost_per_referral`` is
    recorded for the model, which pays it where referrals are credited.
    """
    spm = view.steps_per_month
    carriers = enrolled if enrolled.size else np.flatnonzero(view.active)
    per_customer = (p.cost_per_enrolled_month + p.cost_per_reward * p.rewards_per_month) / spm
    if per_customer > 0 and enrolled.size:
        cost[enrolled] += per_customer
        by_type["touch"] += per_customer * enrolled.size
    company = {"fixed": p.fixed_cost_per_month / spm / view.weight, "setup": 0.0}
    build_steps = max(1, round(p.amortise_months * spm))
    if p.build_cost > 0 and view.step <= build_steps:
        company["setup"] = p.build_cost / build_steps / view.weight
    for kind, amount in company.items():
        if amount > 0:
            by_type[kind] += amount
            allocate(amount, np.zeros(0), carriers, cost)
    if p.cost_per_referral > 0 and enrolled.size:
        aimed.enrol_referrals(enrolled, p.cost_per_referral)
