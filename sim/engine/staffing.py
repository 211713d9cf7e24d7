"""Customer-success teams: headcount, books of accounts, and rationing of hours.

A team of CSMs has a book size (accounts per CSM), a monthly cost per CSM and a number
of hours per month. Its headcount is either fixed or sized to the accounts it covers.
A *named* team assigns each covered account to one CSM (sticky, least-loaded first);
a *pooled* team shares its hours among everyone who asks. When the touches asked of a
CSM (or of the pool) need more hours than it has, they are rationed by the policy's
priority rule (most urgent first) and the quality of every touch it still delivers
drops by ``(capacity / demand) ** overload_penalty`` — over-stretched teams lose
effectiveness.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.engine.sorted_rows import locate

PRIORITIES = ("lowest_health", "highest_revenue", "newest")


@dataclass(frozen=True)
class TeamSpec:
    """A CSM team as a scenario describes it.

    Attributes:
        name: ``named`` (one CSM per account) or ``pooled`` (shared hours).
        accounts_per_csm: Book size: accounts one CSM covers (sizes ``auto`` headcount).
        headcount: Fixed number of CSMs, or ``None`` to hire ``ceil(accounts / book)``.
        monthly_cost: Fully loaded cost of one CSM per month.
        hours_per_month: Customer-facing hours one CSM has per month.
        priority: Rationing rule when demand exceeds hours (see :data:`PRIORITIES`).
        overload_penalty: Exponent of the quality loss of an overloaded CSM.
    """

    name: str
    accounts_per_csm: float
    headcount: int | None
    monthly_cost: float
    hours_per_month: float
    priority: str = "lowest_health"
    overload_penalty: float = 0.5


def priority_key(rule: str, view) -> np.ndarray:
    """Return the array whose ascending order is the service order for ``rule``.

    Args:
        rule: One of :data:`PRIORITIES`.
        view: The policy's :class:`~sim.engine.view.PolicyView`, whose ``health``,
            ``monthly_revenue`` or ``tenure_months`` rank customers.
    """
    match rule:
        case "lowest_health":
            return view.health
        case "highest_revenue":
            return -view.monthly_revenue
        case "newest":
            return view.tenure_months
    raise ValueError(f"unknown priority rule {rule!r}")


def water_fill(load: np.ndarray, m: int) -> np.ndarray:
    """Spread ``m`` new accounts over CSMs with books ``load``, least-loaded first.

    Returns:
        How many new accounts each CSM gets; the largest resulting book is as small
        as possible (ties go to the lower CSM index).
    """

    def fill(level: int) -> int:
        return int(np.maximum(level - load, 0).sum())

    lo, hi = int(load.min()), int(load.min()) + m  # fill(hi) >= m
    while lo < hi:  # smallest level whose fill reaches m
        mid = (lo + hi) // 2
        if fill(mid) >= m:
            hi = mid
        else:
            lo = mid + 1
    extra = np.maximum(lo - 1 - load, 0)
    rest = m - int(extra.sum())
    room = np.flatnonzero(load <= lo - 1)
    extra[room[:rest]] += 1
    return extra


class Team:
    """The live state of one CSM team during a run.

    The team is the company's: when each simulated customer stands for ``weight``
    company accounts, the team covers ``weight ×`` the simulated accounts (headcount
    ``ceil(weight · accounts / book)``), and in the sample each CSM has ``1 / weight`` of
    its hours (the sample's share of its book); :attr:`cost_per_step` is the company's
    staff cost, :attr:`sample_cost_per_step` the part the simulated customers carry.

    Args:
        spec: The team's description.
        n_customers: Population size (for the account → CSM assignment array).
        steps_per_month: Step length (1 for months, 52/12 for weeks).
        weight: Company accounts each simulated customer stands for.
    """

    def __init__(self, spec: TeamSpec, n_customers: int, steps_per_month: float,
                 weight: float = 1.0):
        self.spec = spec
        self.steps_per_month = steps_per_month
        self.weight = weight
        self.headcount = 0
        self.assigned = np.full(n_customers, -1, dtype=np.int32) if spec.name == "named" else None
        self.book = np.zeros(0, dtype=np.int64)
        self.hours_used = np.zeros(0)
        self.hours_demanded = np.zeros(0)

    @property
    def hours_per_step(self) -> float:
        """Hours one CSM has in one step for the simulated customers (all its hours / weight)."""
        return self.spec.hours_per_month / self.steps_per_month / self.weight

    @property
    def cost_per_step(self) -> float:
        """Staff cost of the whole (company's) team for one step."""
        return self.headcount * self.spec.monthly_cost / self.steps_per_month

    @property
    def sample_cost_per_step(self) -> float:
        """The simulated customers' share of the staff cost of one step (cost / weight)."""
        return self.cost_per_step / self.weight

    def staff(self, covered: np.ndarray, priority: np.ndarray) -> None:
        """Size the team for ``covered`` accounts and (named teams) assign them.

        Args:
            covered: Sorted indices of the accounts the team covers this step.
            priority: Full-length service-order key (lower first).
        """
        spec = self.spec
        if spec.headcount is None:
            # rounded so that float noise in weight · accounts cannot hire one CSM more
            accounts = round(covered.size * self.weight, 9)
            self.headcount = int(np.ceil(accounts / spec.accounts_per_csm))
        else:
            self.headcount = spec.headcount
        h = self.headcount
        if self.assigned is not None:
            assigned = self.assigned
            # who had a CSM keeps it while still covered and the CSM still employed
            held = (assigned >= 0).nonzero()[0]
            kept, _ = locate(covered, held)
            kept &= assigned[held] < h
            assigned[held[~kept]] = -1
            book = np.bincount(assigned[held[kept]], minlength=h)
            waiting = covered[assigned[covered] < 0]
            if h > 0 and waiting.size:
                waiting = waiting[np.argsort(priority[waiting], kind="stable")]
                extra = water_fill(book, waiting.size)
                assigned[waiting] = np.repeat(np.arange(h, dtype=np.int32), extra)
                book += extra  # each CSM's new accounts
            self.book = book
        else:
            self.book = np.full(h, covered.size / h) if h else np.zeros(0)
        self.hours_used = np.zeros(h)
        self.hours_demanded = np.zeros(h)

    def ration(
        self, rows: np.ndarray, hours: np.ndarray, priority: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Ration the team's hours among the customers ``rows`` asking for ``hours``.

        Args:
            rows: Customers asking for touches (each at most once per call).
            hours: Hours each of them asks for this step.
            priority: Full-length service-order key (lower first).

        Returns:
            ``(served, quality)``: the share of its asked-for touches each customer gets
            and the quality multiplier of those touches.
        """
        served = np.zeros(rows.size)
        quality = np.zeros(rows.size)
        h = self.headcount
        if h == 0 or rows.size == 0:
            return served, quality
        if self.assigned is not None:
            group = self.assigned[rows]
            ok = group >= 0
        else:
            group = np.zeros(rows.size, dtype=np.int32)
            ok = np.ones(rows.size, dtype=bool)
        cap = self.hours_per_step * (1 if self.assigned is not None else h)
        n_groups = h if self.assigned is not None else 1
        demand = np.bincount(group[ok], weights=hours[ok], minlength=n_groups)
        served[ok] = 1.0
        quality[ok] = 1.0
        over = demand > cap
        if over.any():
            sel = np.flatnonzero(ok & over[np.where(ok, group, 0)])
            order = sel[np.lexsort((priority[rows[sel]], group[sel]))]
            g, d = group[order], hours[order]
            cum = np.cumsum(d)
            first = np.searchsorted(g, g, side="left")
            before = cum - d - (cum[first] - d[first])
            share = np.clip((cap - before) / np.where(d > 0, d, 1.0), 0.0, 1.0)
            served[order] = share
            quality[order] = (cap / demand[g]) ** self.spec.overload_penalty
        used = np.bincount(group[ok], weights=hours[ok] * served[ok], minlength=n_groups)
        if self.assigned is not None:
            self.hours_demanded += demand
            self.hours_used += used
        else:
            self.hours_demanded += demand[0] / h
            self.hours_used += used[0] / h
        return served, quality
