"""The lifecycle stage graph and its edge hazards.

Stages are data, not branches: a scenario defines its stages (each a prospect stage, a
user stage, a customer stage or a churned stage) and its edges. Each edge's monthly probability is
logit-linear in the customer's state and in what the policy did this step::

    p = sigmoid(logit(base) + log(odds) + Σ_k β_k · x_k)

and becomes a monthly rate ``λ = −ln(1 − p)``; word of mouth adds the rate
``q · pressure`` per month on top (``q`` the edge's ``referral``), so a prospect with
advertising rate ``p`` on a fully mixed network has exactly Bass's hazard ``p + q·F``
(:mod:`sim.theory.bass`). The competing exits from a stage are drawn once per step as
competing risks: the stage is left with probability ``1 − exp(−Σλ·Δ)`` for a step of
``Δ`` months and the exit taken is chosen in proportion to the rates. A single exit is
therefore drawn with exactly its own probability, several exits can never sum past
one, and weekly steps rescale rates exactly (``λ_week = λ_month · 12/52``). The
pressure a step uses is predicted for the middle of the step
(:func:`sim.engine.network.midstep_pressure`).

Stage kinds (:data:`STAGE_KINDS`): a **prospect** has not started; a **user** uses the
product but does not pay (AARRR's activation before revenue: engagement, satisfaction,
visits and touches like a customer, may churn and recommend, books no revenue); a
**customer** pays; a **churned** agent has left. Users and customers are *engaged*
(:attr:`StageTables.engaged`: they have the dynamics); only customers are *active*
(paying: revenue, conversion, retention and the ``active`` counts). An agent is
*activated* when it first enters an engaged stage (its state starts afresh then) and
*converted* when it first enters a customer stage (its revenue and acquisition cost
start then). Without user stages the two are the same moment.

The step's phases that own these rules: :func:`transitions` draws every customer's
exit (and which exits were word of mouth), :func:`sort_moves` says what the moves
mean (conversions, churn) for the model to apply. :func:`stage_tables` gathers the
per-stage lookups the step uses.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Stage kinds: not started, using without paying, paying, left.
STAGE_KINDS = ("prospect", "user", "customer", "churned")

#: Hazard drivers and how each is computed from the state (see docs in README).
DRIVERS = {
    "engagement": "engagement − 0.5",
    "satisfaction": "satisfaction − 0.5",
    "onboarding": "onboarding progress − 0.5",
    "health": "observed health score − 0.5",
    "touch": "response to this step's touches (0 = none, → 1 = saturated)",
    "months_in_stage": "months spent in the current stage / 12",
    "tenure": "years since conversion",
}

#: A driver's values: a full-length array, or a function of the rows returning the
#: values at them (:func:`driver_at`)
type Driver = np.ndarray | Callable[[np.ndarray], np.ndarray]

#: Bases an edge may take from somewhere other than a constant.
BASE_SOURCES = ("churn_propensity", "marketing")

_P_MAX = 1.0 - 1e-12


@dataclass(frozen=True)
class Stage:
    """A lifecycle stage.

    Attributes:
        name: Stage name.
        kind: ``prospect`` (has not started), ``user`` (uses the product, does not pay),
            ``customer`` (pays) or ``churned``.
        expands: Whether revenue expands while a customer is in this stage.
        initial_onboarding: Onboarding progress of installed-base customers who start
            the run in this stage.
        referral_weight: How strongly a customer in this stage recommends the product to
            its neighbours (advocates 1, loyal customers less, others 0), multiplied by
            the customer's referral propensity.
    """

    name: str
    kind: str
    expands: bool = False
    initial_onboarding: float = 1.0
    referral_weight: float = 0.0


@dataclass(frozen=True)
class Edge:
    """A transition between two stages.

    Attributes:
        source: Index of the stage left.
        target: Index of the stage entered.
        base: Monthly probability for a middling customer with no touches, or ``None``
            when ``base_source`` supplies it.
        base_source: ``churn_propensity`` (the customer's own trait) or ``marketing``
            (the scenario's marketing awareness rate), else ``None``.
        odds: Odds multiplier applied to the base (e.g. loyal customers churn at half
            the odds).
        drivers: ``(driver name, coefficient on the logit scale)`` pairs.
        referral: Word-of-mouth strength ``q``: an extra rate ``q × referral
            pressure`` per month, added to the edge's rate (Bass's imitation
            coefficient on a fully mixed network).
    """

    source: int
    target: int
    base: float | None
    base_source: str | None = None
    odds: float = 1.0
    drivers: tuple[tuple[str, float], ...] = ()
    referral: float = 0.0


@dataclass(frozen=True)
class Lifecycle:
    """The stage graph.

    Attributes:
        stages: All stages, in display order.
        edges: All edges.
        allow_winback: Whether edges may leave a churned stage.
    """

    stages: tuple[Stage, ...]
    edges: tuple[Edge, ...]
    allow_winback: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """Stage names in order."""
        return tuple(s.name for s in self.stages)

    def index(self, name: str) -> int:
        """Return the index of stage ``name``."""
        return self.names.index(name)

    def kind_mask(self, kind: str) -> np.ndarray:
        """Boolean mask over stage indices of the given kind."""
        return np.array([s.kind == kind for s in self.stages])

    def out_edges(self, source: int) -> tuple[Edge, ...]:
        """Edges leaving stage ``source``."""
        return tuple(e for e in self.edges if e.source == source)

    def unreachable(self, entry: set[int]) -> list[str]:
        """Names of stages no customer can ever be in.

        A stage is reachable if customers start in it (``entry``) or if edges lead to
        it from such a stage or from the first stage (the graph's entry: where new
        prospects come from, even in a run that starts from an installed base).
        """
        seen = set(entry) | {0}
        frontier = list(seen)
        while frontier:
            s = frontier.pop()
            for e in self.out_edges(s):
                if e.target not in seen:
                    seen.add(e.target)
                    frontier.append(e.target)
        return [st.name for i, st in enumerate(self.stages) if i not in seen]


@dataclass(frozen=True)
class StageTables:
    """Per-stage lookups of a lifecycle, indexed by stage (``table[stage]``).

    Attributes:
        prospect: Prospect stages.
        user: User stages (using the product, not paying).
        customer: Customer stages (paying).
        engaged: User or customer stages (the agents whose state the dynamics move).
        churned: Churned stages.
        expands: Stages in which revenue expands.
        referral_weight: How strongly a customer in the stage recommends the product
            (before its own referral propensity).
        initial_onboarding: Onboarding of installed-base customers starting there.
        marketed: Stages left by an edge whose base is ``marketing`` (the prospects
            marketing spends on).
        out_edges: The edges leaving each stage.
        drivers: The hazard drivers some edge uses.
        word_of_mouth: Whether some edge has a word-of-mouth strength.
    """

    prospect: np.ndarray
    user: np.ndarray
    customer: np.ndarray
    engaged: np.ndarray
    churned: np.ndarray
    expands: np.ndarray
    referral_weight: np.ndarray
    initial_onboarding: np.ndarray
    marketed: np.ndarray
    out_edges: list[tuple[Edge, ...]]
    drivers: frozenset[str]
    word_of_mouth: bool


def stage_tables(lifecycle: Lifecycle) -> StageTables:
    """Build the per-stage lookups of ``lifecycle``.

    Args:
        lifecycle: The stage graph.

    Returns:
        Its :class:`StageTables`.
    """
    stages, edges = lifecycle.stages, lifecycle.edges
    marketed = np.zeros(len(stages), dtype=bool)
    for e in edges:
        if e.base_source == "marketing":
            marketed[e.source] = True
    return StageTables(
        prospect=lifecycle.kind_mask("prospect"),
        user=lifecycle.kind_mask("user"),
        customer=lifecycle.kind_mask("customer"),
        engaged=lifecycle.kind_mask("user") | lifecycle.kind_mask("customer"),
        churned=lifecycle.kind_mask("churned"),
        expands=np.array([s.expands for s in stages]),
        referral_weight=np.array([s.referral_weight for s in stages]),
        initial_onboarding=np.array([s.initial_onboarding for s in stages]),
        marketed=marketed,
        out_edges=[lifecycle.out_edges(s) for s in range(len(stages))],
        drivers=frozenset(name for e in edges for name, _ in e.drivers),
        word_of_mouth=any(e.referral > 0 for e in edges),
    )


def logit(p: np.ndarray | float) -> np.ndarray:
    """Log-odds of ``p``, clipped away from 0 and 1.

    Args:
        p: Probabilities.

    Returns:
        ``ln p − ln(1 − p)`` of ``p`` clipped to [1e-12, 1 − 1e-12].
    """
    p = np.clip(p, 1e-12, _P_MAX)
    return np.log(p) - np.log1p(-p)


def softplus(z: np.ndarray | float) -> np.ndarray | float:
    """``ln(1 + e^z)``, the rate ``−ln(1 − sigmoid(z))`` of a logit ``z``.

    Computed stably as ``max(z, 0) + ln(1 + e^{−|z|})`` (faster than ``logaddexp``).
    """
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


# the step's per-edge constants, computed once (the same numbers every step)
_constant_logit = functools.lru_cache(maxsize=1024)(lambda p: float(logit(p)))
_log = functools.lru_cache(maxsize=1024)(np.log)
_scalar_softplus = functools.lru_cache(maxsize=4096)(softplus)


def in_stages(table: np.ndarray, stage: np.ndarray) -> np.ndarray:
    """``table[stage]`` for a boolean table over the stages, by comparisons.

    Each run of consecutive stages the table holds is at most two comparisons of
    ``stage`` (a bound at either end of the table is left out), and the runs are
    or-ed: a gather by a small-integer index (``table[stage]``) first widens every
    index, several times slower at 100k customers.

    Args:
        table: One boolean per stage.
        stage: Stage indices (each in ``0 .. table.size − 1``).

    Returns:
        Whether each entry of ``stage`` is a stage of ``table`` (a new array).
    """
    member = None
    for first, last in _stage_runs(np.asarray(table, dtype=bool).tobytes()):
        if first is None and last is None:
            run = np.ones(stage.shape, dtype=bool)
        elif first is None:
            run = np.less_equal(stage, last)
        else:
            run = np.greater_equal(stage, first)
            if last is not None:
                run &= stage <= last
        if member is None:
            member = run
        else:
            member |= run
    return np.zeros(stage.shape, dtype=bool) if member is None else member


@functools.lru_cache(maxsize=256)
def _stage_runs(table: bytes) -> tuple[tuple[int | None, int | None], ...]:
    """The runs of consecutive stages a boolean table holds, as ``(first, last)``.

    A bound at either end of the table is ``None`` (no comparison needed there). A
    table is the same every step, so its runs are found once (by its bytes).
    """
    inside = np.flatnonzero(np.frombuffer(table, dtype=bool))
    if inside.size == 0:
        return ()
    breaks = np.flatnonzero(np.diff(inside) > 1)
    firsts = [int(inside[0]), *(int(inside[b + 1]) for b in breaks)]
    lasts = [*(int(inside[b]) for b in breaks), int(inside[-1])]
    end = len(table) - 1
    return tuple((None if first == 0 else first, None if last == end else last)
                 for first, last in zip(firsts, lasts, strict=True))


def _add_owned(
    z: np.ndarray | float, owned: bool, term: np.ndarray
) -> tuple[np.ndarray, bool]:
    """``z + term`` (``term`` a fresh array), written into an array made here: no new one.

    Returns:
        The sum and ``True`` (it is an array made here).
    """
    if owned:
        z += term
        return z, True
    term += z  # the same sum: addition is commutative, bit for bit
    return term, True


def _softplus_overwriting(z: np.ndarray) -> np.ndarray:
    """:func:`softplus` of ``z``, the same numbers, using ``z``'s memory for its terms."""
    rate = np.maximum(z, 0.0)
    np.abs(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    rate += np.log1p(z, out=z)
    return rate


def driver_at(driver: Driver, rows: np.ndarray) -> np.ndarray:
    """A driver's values at ``rows``: a full-length array's gathered, a function's asked.

    Args:
        driver: A full-length array of the driver's values, or a function returning
            its values at the rows it is given (computed for those rows alone).
        rows: Indices of customers.
    """
    return driver(rows) if callable(driver) else driver[rows]


def edge_rate(
    edge: Edge,
    rows: np.ndarray,
    drivers: dict[str, Driver],
    base_logit: dict[str, Driver | float],
    pressure: np.ndarray | None,
    shift: np.ndarray | None = None,
    gathered: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Monthly hazard rate of ``edge`` for the customers ``rows``.

    The rate is ``λ = −ln(1 − p) + q · pressure``: the logit-linear probability ``p`` as
    a rate plus word of mouth, an additive rate (Bass's ``q·F`` on a mixed network).

    Args:
        edge: The edge.
        rows: Indices of the customers in the edge's source stage.
        drivers: Driver name → full-length array of driver values, or a function of
            the rows returning the values at them (:func:`driver_at`).
        base_logit: Base source name → logit of the base (array over all customers, a
            function of the rows returning it at them as a driver (:func:`driver_at`), or
            a scalar).
        pressure: Full-length word-of-mouth pressure array (``None`` when no network).
        shift: Full-length logit shift of this edge from programs aimed at it
            (:func:`sim.engine.targets.edge_shifts`; ``None``: none).
        gathered: Driver name → its values at ``rows``, filled as they are first read
            (the edges of one stage share ``rows``: each driver is gathered once;
            ``None``: gathered for this edge alone).

    Returns:
        ``(rate, referral_rate)`` for ``rows``: the total rate and the part of it due
        to word of mouth (scalars when the same for all of them).
    """
    if edge.base_source is None:
        z: np.ndarray | float = _constant_logit(edge.base)
    else:
        src = base_logit[edge.base_source]
        z = driver_at(src, rows) if isinstance(src, np.ndarray) or callable(src) else float(src)
    if edge.odds != 1.0:
        z = z + _log(edge.odds)
    owned = False  # whether z is an array made here (so it may be overwritten)
    for name, beta in edge.drivers:
        if gathered is None:
            values = driver_at(drivers[name], rows)
        elif (values := gathered.get(name)) is None:
            values = gathered[name] = driver_at(drivers[name], rows)
        z, owned = _add_owned(z, owned, beta * values)
    if shift is not None:
        z, owned = _add_owned(z, owned, shift[rows])
    if owned:
        rate = _softplus_overwriting(z)
    else:
        rate = softplus(z) if isinstance(z, np.ndarray) else _scalar_softplus(z)
    if edge.referral > 0.0 and pressure is not None:
        referral_rate = edge.referral * pressure[rows]
        return rate + referral_rate, referral_rate
    return rate, 0.0


def choose_exits(
    rates: list[np.ndarray | float], n: int, steps_per_month: float, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one competing-risk exit per customer.

    Args:
        rates: Monthly rates of each out-edge (arrays of length ``n`` or scalars).
        n: Number of customers in the stage.
        steps_per_month: 1 for monthly steps, 52/12 for weekly steps.
        u: One uniform per customer.

    Returns:
        ``(choice, share)``: the index of the edge taken (``-1`` to stay) and, for the
        customers who moved, ``u`` rescaled to [0, 1) within the chosen edge (fresh
        randomness for secondary draws such as attributing a referral).
    """
    lam = np.empty((len(rates), n))
    for j, r in enumerate(rates):
        lam[j] = r
    lam /= steps_per_month
    return draw_exits(lam, len(rates), u)


def draw_exits(
    lam: np.ndarray, count: np.ndarray | int, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one competing-risk exit per customer from per-step rates.

    Args:
        lam: Per-step rates, one row per out-edge and one column per customer; a
            customer with fewer out-edges than rows has zeros in the rows after its
            last edge.
        count: Each customer's number of out-edges (or one number for all), ≥ 1 for
            a customer who can move.
        u: One uniform per customer.

    Returns:
        ``(choice, share)`` as :func:`choose_exits`.
    """
    moved, pick, share = _movers(lam, count, u)
    choice = np.full(u.size, -1, dtype=np.int64)
    choice[moved] = pick
    return choice, share


def _movers(
    lam: np.ndarray, count: np.ndarray | int, u: np.ndarray, stage: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`draw_exits` for the movers alone: ``(moved, pick, share)``.

    Args:
        lam: Per-step rates, as :func:`draw_exits`.
        count: Each customer's number of out-edges, or one number for all; with
            ``stage``, each stage's number (a customer's is ``count[stage]``).
        u: One uniform per customer.
        stage: Each customer's stage (``None``: ``count`` is per customer).

    Returns:
        The movers' rows (ascending), the index of the edge each takes and ``share``
        as :func:`choose_exits`.
    """
    total = lam.sum(axis=0)
    p_exit = np.negative(total)
    np.negative(np.expm1(p_exit, out=p_exit), out=p_exit)  # 1 − e^(−total)
    moved = (u < p_exit).nonzero()[0]  # the movers' rows: one scan of the mask, not five
    if moved.size == 0:
        return moved, np.empty(0, np.int64), np.empty(0)
    # position of u inside the exit interval, split in proportion to the rates
    lam_moved = lam.take(moved, axis=1)
    pos = (u[moved] / p_exit[moved]) * total[moved]
    cum = lam_moved.copy()  # the running sums over the edges, row by row (as np.cumsum)
    for j in range(1, cum.shape[0]):
        cum[j] += cum[j - 1]
    passed = pos >= cum
    pick = passed[0].astype(np.int64)  # edges whose interval ends at or before pos
    for row in passed[1:]:
        pick += row
    if stage is not None:
        count = count[stage[moved]]
    elif isinstance(count, np.ndarray):
        count = count[moved]
    last = count - 1
    np.minimum(pick, last, out=pick)
    cols = np.arange(pick.size)
    width = lam_moved[pick, cols]
    lower = cum[pick, cols] - width
    share = np.clip((pos - lower) / np.where(width > 0, width, 1.0), 0.0, 1.0 - 1e-12)
    return moved, pick, share


#: Customers whose exits :func:`transitions` draws at a time: the rates of a block
#: (an out-edges × block array and each stage's rows in it) are all the memory it adds
#: to the run, not an array of rates per customer (issue 15).
TRANSITION_BLOCK = 1 << 16


def transitions(
    stage: np.ndarray,
    out_edges: list[tuple[Edge, ...]],
    drivers: dict[str, Driver],
    base_logit: dict[str, Driver | float],
    pressure: np.ndarray | None,
    steps_per_month: float,
    u: np.ndarray,
    shifts: dict[tuple[int, int], np.ndarray] | None = None,
    block: int = TRANSITION_BLOCK,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw every customer's lifecycle move for one step (competing risks per stage).

    Every stage's rates go into one (out-edges × customers) array and the exits of all
    stages are drawn at once (:func:`draw_exits`), customer by customer the same
    numbers as drawing each stage on its own (:func:`choose_exits`). This is done for
    ``block`` customers at a time: each customer's numbers are its own whatever the
    blocks (every operation is elementwise), and the rates of only one block are held.

    Args:
        stage: Each customer's stage index at the start of the step.
        out_edges: The edges leaving each stage (``Lifecycle.out_edges`` of each).
        drivers: Driver name → full-length array of driver values, or a function of
            the rows returning them (:func:`driver_at`; see :data:`DRIVERS`).
        base_logit: Base source name → logit of the base (see :func:`edge_rate`).
        pressure: Full-length word-of-mouth pressure (``None``: no word of mouth).
        steps_per_month: 1 for monthly steps, 52/12 for weekly steps.
        u: One uniform per customer (full length).
        shifts: ``(source, target)`` → full-length logit shift of that edge (programs
            aimed at churn or conversion; ``None``: none).
        block: Customers drawn at a time (:data:`TRANSITION_BLOCK`).

    Returns:
        ``(new_stage, referred)``: every customer's stage after the step (a new array)
        and the rows of the customers whose move was due to word of mouth (edge by
        edge, in stage order, each edge's rows ascending).
    """
    new_stage = stage.copy()
    n = stage.size
    width = max((len(edges) for edges in out_edges), default=0)
    if width == 0 or n == 0:
        return new_stage, np.empty(0, np.int64)
    targets = np.zeros((len(out_edges), width), dtype=np.int64)
    for s, edges in enumerate(out_edges):
        for j, e in enumerate(edges):
            targets[s, j] = e.target
    count = np.array([len(edges) for edges in out_edges])
    rates = functools.partial(
        _block_moves, out_edges=out_edges, drivers=drivers, base_logit=base_logit,
        pressure=pressure, steps_per_month=steps_per_month, shifts=shifts, width=width,
        count=count,
    )
    # each word-of-mouth edge's referred rows, block after block: concatenated edge by
    # edge (in stage and slot order), they are in the order one block would give
    referred_by_edge: dict[tuple[int, int], list[np.ndarray]] = {}
    for start in range(0, n, max(block, 1)):
        stop = min(start + block, n)
        in_block = stage[start:stop]
        moved, pick, referred = rates(in_block, start, u[start:stop])
        new_stage[start + moved] = targets[in_block[moved], pick]
        for edge, who in referred.items():
            referred_by_edge.setdefault(edge, []).append(who)
    rows = [who for edge in sorted(referred_by_edge) for who in referred_by_edge[edge]]
    return new_stage, np.concatenate(rows) if rows else np.empty(0, np.int64)


def _block_moves(
    stage: np.ndarray,
    start: int,
    u: np.ndarray,
    *,
    out_edges: list[tuple[Edge, ...]],
    drivers: dict[str, Driver],
    base_logit: dict[str, Driver | float],
    pressure: np.ndarray | None,
    steps_per_month: float,
    shifts: dict[tuple[int, int], np.ndarray] | None,
    width: int,
    count: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, dict[tuple[int, int], np.ndarray]]:
    """:func:`transitions` of the customers ``start .. start + stage.size − 1``.

    Args:
        stage: Their stages.
        start: The first one's row.
        u: Their uniforms.
        out_edges: As :func:`transitions`.
        drivers: As :func:`transitions` (read at the block's rows).
        base_logit: As :func:`transitions`.
        pressure: As :func:`transitions` (full length, read at the block's rows).
        steps_per_month: As :func:`transitions`.
        shifts: As :func:`transitions` (full length, read at the block's rows).
        width: The most out-edges of a stage.
        count: Each stage's number of out-edges.

    Returns:
        ``(moved, pick, referred)``: the movers' positions in the block (ascending),
        the edge each takes, and per word-of-mouth edge ``(stage, slot)`` the rows (of
        the whole population, ascending) of those who took it by word of mouth.
    """
    lam = np.zeros((width, stage.size))
    by_word = []  # (stage, slot, rows, total rate, referral rate) of word-of-mouth edges
    for s, edges in enumerate(out_edges):
        if not edges:
            continue
        at = (stage == s).nonzero()[0]  # ascending
        if at.size == 0:
            continue
        rows = at + start
        gathered: dict[str, np.ndarray] = {}
        for j, e in enumerate(edges):
            shift = None if shifts is None else shifts.get((e.source, e.target))
            rate, ref_rate = edge_rate(e, rows, drivers, base_logit, pressure, shift, gathered)
            lam[j, at] = rate
            if e.referral > 0 and pressure is not None:
                by_word.append((s, j, rows, rate, ref_rate))
    if steps_per_month != 1.0:  # a monthly step's rates are the monthly rates themselves
        lam /= steps_per_month
    moved, pick, share = _movers(lam, count, u, stage)
    del lam
    referred = {}
    for s, j, rows, total, by_ref in by_word:
        took = (stage[moved] == s) & (pick == j)
        who = moved[took] + start
        at = np.searchsorted(rows, who)  # a stage's rows are in ascending order
        total, by_ref = (x[at] if np.ndim(x) else x for x in (total, by_ref))
        referred[s, j] = who[share[took] < by_ref / total]
    return moved, pick, referred


@dataclass(frozen=True)
class Moves:
    """What a step's moves mean (boolean masks over customers).

    Attributes:
        changed: Changed stage.
        active: In a customer stage after the move.
        converted: Became a customer for the first time.
        churned: Entered a churned stage.
        first_churn: Churned for the first time after having been a customer (a
            prospect who drops out before buying is not a churned customer).
        engaged: In a user or customer stage after the move.
        activated: Entered a user or customer stage for the first time (equals
            ``converted`` when the lifecycle has no user stages).
    """

    changed: np.ndarray
    active: np.ndarray
    converted: np.ndarray
    churned: np.ndarray
    first_churn: np.ndarray
    engaged: np.ndarray
    activated: np.ndarray


def sort_moves(
    stage_before: np.ndarray,
    stage_after: np.ndarray,
    customer_stage: np.ndarray,
    churned_stage: np.ndarray,
    converted_step: np.ndarray,
    churn_step: np.ndarray,
    engaged_stage: np.ndarray | None = None,
    activated_step: np.ndarray | None = None,
) -> Moves:
    """Say what each customer's move means.

    Args:
        stage_before: Stages at the start of the step.
        stage_after: Stages after :func:`transitions`.
        customer_stage: Whether each stage is a customer stage.
        churned_stage: Whether each stage is a churned stage.
        converted_step: Step of conversion so far (−1: never converted).
        churn_step: Step of first churn so far (−1: never churned).
        engaged_stage: Whether each stage is a user or customer stage (default: the
            customer stages).
        activated_step: Step of activation so far (−1: never; default:
            ``converted_step``).

    Returns:
        The :class:`Moves`.
    """
    changed = stage_after != stage_before
    active = in_stages(customer_stage, stage_after)
    converted = changed & active & (converted_step < 0)
    churned = changed & in_stages(churned_stage, stage_after)
    first_churn = churned & (churn_step < 0) & (converted_step >= 0)
    if engaged_stage is None:
        return Moves(changed, active, converted, churned, first_churn, active, converted)
    engaged = in_stages(engaged_stage, stage_after)
    activated = changed & engaged & (activated_step < 0)
    return Moves(changed, active, converted, churned, first_churn, engaged, activated)
