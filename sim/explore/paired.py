"""Two policies on the same customers and the same random numbers, stepped together.

:class:`PairedModel` is the model behind the live page. It builds one
:class:`~sim.engine.model.EngagementModel` per policy from the same scenario and the same seed.
The engine draws the population first and then fixed-shape blocks of random numbers
every step (common random numbers), so both runs start from identical customers and
face identical luck: whatever differs between the two panels is the policy's doing.

It also keeps what the page draws but a run does not record: per-segment stage counts
and cumulative money after every step, a sample of the customer network with a fixed
layout, and customer inspection under both policies.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import mesa
import networkx as nx
import numpy as np
from scipy.sparse.csgraph import breadth_first_order

from sim.engine.metrics import retention_curve
from sim.engine.model import EngagementModel
from sim.engine.scenario import Scenario, load_scenario
from sim.explore.levers import Levers, apply, parse_controls

#: Most customers drawn in the network panel.
SAMPLE_SIZE = 150
#: The ``compare_with`` value for a single run (the page's "no policy B" choice).
NO_COMPARISON = "(none)"
#: ``switches_apply_to`` choices → the runs whose policies the program switches change;
#: "A only" compares a policy without a program (A) with the whole policy (B).
SWITCHES_APPLY_TO = {"A and B": ("A", "B"), "A only": ("A",), "B only": ("B",)}


@dataclass
class History:
    """Per-step records of one run, by segment (rows: step 0..t).

    Attributes:
        months: Month at each record.
        stages: ``(t+1, segments, stages)`` customer counts.
        revenue: ``(t+1, segments)`` cumulative revenue of the segment's customers.
        cost: ``(t+1, segments)`` cumulative cost to serve plus acquisition cost.
    """

    months: list[float] = field(default_factory=list)
    stages: list[np.ndarray] = field(default_factory=list)
    revenue: list[np.ndarray] = field(default_factory=list)
    cost: list[np.ndarray] = field(default_factory=list)

    def record(self, run: EngagementModel) -> None:
        """Append the run's current state."""
        n_segments, n_stages = len(run.spec.segments), len(run.spec.lifecycle.stages)
        segment_stage = run.segment.astype(np.int64) * n_stages + run.stage
        self.months.append(run.steps / run.steps_per_month)
        counts = np.bincount(segment_stage, minlength=n_segments * n_stages)
        self.stages.append(counts.reshape(n_segments, n_stages))
        self.revenue.append(np.bincount(run.segment, run.revenue_cum, minlength=n_segments))
        spent = run.cost_cum + run.acquisition
        self.cost.append(np.bincount(run.segment, spent, minlength=n_segments))


class PairedModel(mesa.Model):
    """Policy A and (optionally) policy B on the same customers and random numbers.

    Every keyword is a control of the live page, so SolaraViz can rebuild the model
    from its sliders on Reset.

    Args:
        source: Scenario (object, shipped name or path).
        policy: Policy A.
        compare_with: Policy B, or ``None``/:data:`NO_COMPARISON` for a single run.
        seed: Seed of both runs.
        customers: Number of customers (``None``: the scenario's).
        months: Horizon in months (``None``: the scenario's).
        book_scale: See :class:`~sim.explore.levers.Levers`.
        escalation_scale: See :class:`~sim.explore.levers.Levers`.
        cadence_scale: See :class:`~sim.explore.levers.Levers`.
        marketing_scale: See :class:`~sim.explore.levers.Levers`.
        referral_scale: See :class:`~sim.explore.levers.Levers`.
        switches_apply_to: Which runs the program switches and added tactics change
            (a key of :data:`SWITCHES_APPLY_TO`); the others run the scenario's policy.
        scenario: Mesa's experimental scenario, which SolaraViz passes on Reset; unused
            (the engagesim scenario is ``source``).
        **controls: ``weight_<segment>`` relative weights of the segments, and the
            program switches ``program:<policy>/<program>`` (``False``: off) and
            library tactics ``tactic:<policy>`` of the page
            (:func:`~sim.explore.levers.parse_controls`).

    Attributes:
        spec: The scenario with the levers applied (named as
            :attr:`sim.engine.model.EngagementModel.spec`: ``mesa.Model`` reserves
            ``scenario``). A run the switches do not change runs its own
            ``runs[label].spec``, which differs only in the policies.
        levers: The lever settings of this model.
        run_levers: Label → the levers of that run (:attr:`levers`, or them without
            the switches for a run they do not apply to).
        notes: Settings that could not be used as given, and what was used instead.
        seed: The seed of both runs.
        runs: Policy label (``"A"``, ``"B"``) → its :class:`EngagementModel`.
        history: Policy label → its :class:`History`.
    """

    def __init__(
        self,
        source: Scenario | str = "default",
        policy: str | None = None,
        compare_with: str | None = None,
        *,
        seed: int = 1,
        customers: int | None = None,
        months: int | None = None,
        book_scale: float = 1.0,
        escalation_scale: float = 1.0,
        cadence_scale: float = 1.0,
        marketing_scale: float = 1.0,
        referral_scale: float = 1.0,
        switches_apply_to: str = "A and B",
        scenario: Any = None,
        **controls: Any,
    ):
        super().__init__(rng=seed)
        base = source if isinstance(source, Scenario) else load_scenario(source)
        switches = parse_controls(controls)
        weights = switches.pop("segment_weights")
        #: Notes for the page about settings that could not be used as given.
        self.notes: list[str] = []
        effective = [weights.get(seg.name, seg.share) for seg in base.segments]
        if not any(w > 0 for w in effective):
            self.notes.append("every segment weight was 0: using the scenario's segment mix")
            weights = {}
        levers = Levers(
            book_scale=book_scale,
            escalation_scale=escalation_scale,
            cadence_scale=cadence_scale,
            marketing_scale=marketing_scale,
            referral_scale=referral_scale,
            segment_weights=weights,
            customers=customers,
            months=months,
            **switches,
        )
        if switches_apply_to not in SWITCHES_APPLY_TO:
            raise ValueError(f"switches_apply_to must be one of {', '.join(SWITCHES_APPLY_TO)}, "
                             f"got {switches_apply_to!r}")
        self.spec = apply(base, levers)
        self.seed = seed
        self.levers = levers
        names = list(self.spec.policies)
        chosen = {"A": policy or names[0]}
        if compare_with not in (None, "", NO_COMPARISON):
            chosen["B"] = compare_with
        plain = dataclasses.replace(levers, programs_off={}, tactics_on={})
        switched = SWITCHES_APPLY_TO[switches_apply_to]
        self.run_levers = {label: levers if label in switched else plain for label in chosen}
        whole = self.spec if plain == levers else apply(base, plain)
        self.runs = {
            label: EngagementModel(self.spec if label in switched else whole, name, rng=seed)
            for label, name in chosen.items()
        }
        self.history = {label: History() for label in self.runs}
        for label, run in self.runs.items():
            self.history[label].record(run)
        self._sample: dict[str, Any] | None = None

    @property
    def labels(self) -> list[str]:
        """The run labels, ``["A"]`` or ``["A", "B"]``."""
        return list(self.runs)

    @property
    def month(self) -> float:
        """Months simulated so far."""
        run = self.runs["A"]
        return run.steps / run.steps_per_month

    def step(self) -> None:
        """Advance every run by one step; stop at the horizon."""
        for label, run in self.runs.items():
            run.step()
            self.history[label].record(run)
        self.running = all(run.running for run in self.runs.values())

    def series(self, label: str, segment: str | None = None) -> dict[str, np.ndarray]:
        """Time series of one run for the charts.

        Args:
            label: ``"A"`` or ``"B"``.
            segment: A segment name, or ``None`` for all customers.

        Returns:
            ``month``; ``stages`` ``(t+1, stages)``; cumulative ``revenue``, ``cost`` and
            ``profit``. For all customers, revenue is gross and cost is the company's
            whole cost (fixed, marketing, acquisition, service); for a segment they are
            the segment's customers' revenue and their cost to serve plus acquisition.
        """
        history = self.history[label]
        stages = np.asarray(history.stages)
        out: dict[str, np.ndarray] = {"month": np.asarray(history.months)}
        if segment is None:
            out["stages"] = stages.sum(axis=1)
            steps = self.runs[label].timeseries()
            zero = np.zeros(1)
            out["revenue"] = np.concatenate([zero, steps["revenue"].cumsum().to_numpy()])
            out["cost"] = np.concatenate([zero, steps["cost_total"].cumsum().to_numpy()])
            margin = np.concatenate([zero, steps["margin"].cumsum().to_numpy()])
            out["profit"] = margin - out["cost"]
        else:
            index = self.spec.segment_names.index(segment)
            out["stages"] = stages[:, index, :]
            out["revenue"] = np.asarray(history.revenue)[:, index]
            out["cost"] = np.asarray(history.cost)[:, index]
            margin = out["revenue"] * self.spec.economics.gross_margin
            out["profit"] = margin - out["cost"]
        return out

    def retention(self, label: str, segment: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Kaplan–Meier retention so far by months since conversion.

        Returns:
            ``(months, share)``; ``share`` is ``nan`` where nobody has been observed.
        """
        run = self.runs[label]
        mask = slice(None)
        if segment is not None:
            mask = run.segment == self.spec.segment_names.index(segment)
        share, _ = retention_curve(run.converted_step[mask], run.churn_step[mask], run.steps)
        return np.arange(share.size) / run.steps_per_month, share

    def network_sample(self) -> dict[str, Any]:
        """A fixed sample of customers, their links among themselves and a layout.

        The sample is the neighbourhood of customer 0, grown breadth-first to
        :data:`SAMPLE_SIZE` customers, so it keeps the network's local structure: the
        lattice neighbours and the rewired shortcuts to other parts of the network (a
        random sample would have almost no links). Segments are drawn independently
        of the network, so the sample is a random mix of segments. Positions come
        from a seeded spring layout, computed once. Without a network (fully mixed or
        none) the first customers are shown on a grid.

        Returns:
            ``rows`` (customer ids), ``xy`` (``(m, 2)`` in the unit square) and ``edges``
            (pairs of positions in ``rows``).
        """
        if self._sample is None:
            run = self.runs["A"]
            size = min(run.n, SAMPLE_SIZE)
            if run.network is None:
                rows = np.arange(size)
                side = int(np.ceil(np.sqrt(size)))
                xy = np.column_stack([rows % side, rows // side]).astype(float)
                edges: list[tuple[int, int]] = []
            else:
                order = breadth_first_order(run.network, 0, return_predecessors=False)
                rows = order[:size].astype(np.int64)
                sub = run.network[rows][:, rows].tocoo()
                edges = [(int(i), int(j)) for i, j in zip(sub.row, sub.col, strict=True) if i < j]
                graph = nx.Graph(edges)
                graph.add_nodes_from(range(rows.size))
                pos = nx.spring_layout(graph, seed=self.seed, iterations=100)
                xy = np.array([pos[k] for k in range(rows.size)])
            span = np.ptp(xy, axis=0)
            xy = (xy - xy.min(axis=0)) / np.where(span > 0, span, 1.0)
            self._sample = {"rows": rows, "xy": xy, "edges": edges}
        return self._sample

    def inspect(self, row: int) -> dict[str, Any]:
        """One customer's traits and its state under each policy.

        Args:
            row: The customer's id.

        Returns:
            ``{"segment", "traits", "state": {label: state dict}}``.

        Raises:
            IndexError: No such customer.
        """
        run = self.runs["A"]
        if not 0 <= row < run.n:
            raise IndexError(f"no customer {row}: ids run from 0 to {run.n - 1}")
        view = run.customer(row)
        return {
            "segment": view.segment,
            "traits": view.traits,
            "state": {label: other.customer(row).state() for label, other in self.runs.items()},
        }
