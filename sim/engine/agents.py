"""Mesa agents: customers as views of array rows, CSMs as real agents.

Customer traits and state live in the model's numpy arrays (one row per customer), so
a 100k-customer run does not build 100k Python objects. A :class:`CustomerAgent` is a
Mesa agent that *views* one row: it is created only when someone asks
(:meth:`sim.engine.model.EngagementModel.customer`, the live page, inspection) and always
reads the current values. Mesa's ``NumpyAgentDataSet`` was considered, but it keeps
one agent object per row, which is exactly what a large run must avoid.

CSMs are few and have an identity of their own (a book of accounts, hours), so they
are ordinary Mesa agents, created and removed as the policy hires.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa

from sim.engine.segments import TRAITS

if TYPE_CHECKING:
    from sim.engine.model import EngagementModel
    from sim.engine.staffing import Team


class CustomerAgent(mesa.Agent):
    """A view of one customer's row.

    Args:
        model: The model that owns the arrays.
        row: The customer's row index (its ``id`` in outputs).
    """

    model: EngagementModel

    def __init__(self, model: EngagementModel, row: int):
        super().__init__(model)
        self.row = row

    @property
    def stage(self) -> str:
        """Current lifecycle stage."""
        return self.model.spec.lifecycle.names[self.model.stage[self.row]]

    @property
    def segment(self) -> str:
        """Segment name."""
        return self.model.spec.segment_names[self.model.segment[self.row]]

    @property
    def traits(self) -> dict[str, float]:
        """Fixed traits drawn at the start."""
        return {name: float(self.model.traits[name][self.row]) for name in TRAITS}

    @property
    def csm(self) -> int | None:
        """Index of the named CSM this customer is assigned to, if any."""
        team = self.model.policy.teams.get("named")
        if team is None or team.assigned is None or team.assigned[self.row] < 0:
            return None
        return int(team.assigned[self.row])

    def state(self) -> dict[str, Any]:
        """Current state as a plain dict (for tooltips and inspection)."""
        m, i = self.model, self.row
        return {
            "id": i,
            "segment": self.segment,
            "stage": self.stage,
            "months_in_stage": float(m.steps_in_stage[i] / m.steps_per_month),
            "tenure_months": float(m.tenure_months[i]),
            "engagement": float(m.engagement[i]),
            "satisfaction": float(m.satisfaction[i]),
            "onboarding": float(m.onboarding[i]),
            "visits": int(m.visits[i]),
            "health": float(m.health[i]),
            "monthly_revenue": float(m.monthly_revenue[i]),
            "revenue": float(m.revenue_cum[i]),
            "cost_to_serve": float(m.cost_cum[i]),
            "ltv": float(m.ltv[i]),
            "referrals": int(m.referrals[i]),
            "csm": self.csm,
        }


def _live(array_name: str, doc: str) -> property:
    """A read-only property returning the customer's current value in a model array."""
    return property(lambda self: getattr(self.model, array_name)[self.row].item(), doc=doc)


CustomerAgent.engagement = _live("engagement", "Engagement, 0..1.")
CustomerAgent.satisfaction = _live("satisfaction", "Satisfaction, 0..1.")
CustomerAgent.onboarding = _live("onboarding", "Onboarding progress, 0..1.")
CustomerAgent.health = _live("health", "Observed health score, 0..1.")
CustomerAgent.visits = _live("visits", "Visits in the last step.")
CustomerAgent.monthly_revenue = _live("monthly_revenue", "Current monthly revenue.")


class CSMAgent(mesa.Agent):
    """A customer-success manager of a team.

    Args:
        model: The model.
        team: The live team it belongs to.
        index: Its index within the team.
    """

    def __init__(self, model: EngagementModel, team: Team, index: int):
        super().__init__(model)
        self.team = team
        self.index = index

    @property
    def accounts(self) -> float:
        """Accounts in this CSM's book (pooled teams: the average share)."""
        return float(self.team.book[self.index]) if self.index < self.team.book.size else 0.0

    @property
    def hours_used(self) -> float:
        """Customer-facing hours spent in the last step."""
        used = self.team.hours_used
        return float(used[self.index]) if self.index < used.size else 0.0

    @property
    def utilisation(self) -> float:
        """Share of this CSM's hours used in the last step."""
        return self.hours_used / self.team.hours_per_step
