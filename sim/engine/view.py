"""What a policy sees: a read-only view of the customers and a generator of its own.

A policy is not handed the model. Each step the model builds a :class:`PolicyView`
and passes it to :meth:`~sim.engine.policies.Policy.engage` (and once, before the first
step, to :meth:`~sim.engine.policies.Policy.setup`). The view exposes the customer state
a policy may base its decisions on, as numpy arrays that are *views* of the model's own
arrays with ``flags.writeable = False``: reading costs nothing (no copies), and writing
raises numpy's ``ValueError: assignment destination is read-only``. Derive new arrays
(``view.health < 0.4``, ``np.where(view.active, …)``) instead.

``view.rng`` is the policy's own ``numpy.random.Generator``, spawned from the run's
generator (``model.rng.spawn(1)[0]``). Spawning does not advance the run's stream, and a
policy never sees ``model.rng``, so whatever a policy draws, two policies run with the
same seed still meet the same random numbers for the same customers (common random
numbers).

A view is built per step (a few microseconds: arrays are wrapped on first access and
cached for the step) and is valid during that call; keep what you need, not the view.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np


def read_only(array: np.ndarray) -> np.ndarray:
    """Return a view of ``array`` that cannot be written to (no copy)."""
    view = np.asarray(array).view()
    view.flags.writeable = False
    return view


class _State:
    """A view attribute: the model's array of the same name, read-only (made once per view)."""

    def __init__(self, doc: str):
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.attr = name

    def __get__(self, view: PolicyView | None, owner: type | None = None) -> Any:
        if view is None:
            return self
        cache = view._cache
        value = cache.get(self.attr)
        if value is None:
            value = cache[self.attr] = read_only(getattr(view._source, self.attr))
        return value


class PolicyView:
    """The read-only state of every customer, as a policy sees it during one call.

    Every array has one row per customer (``n`` rows; the row is the customer's ``id``
    in the outputs) and is read-only.

    Attributes:
        n: Number of customers.
        weight: Company customers each row stands for (1 when all are simulated).
        steps_per_month: Steps per month (1 for monthly steps, 52/12 for weekly).
        step: The step being simulated (1 for the first; 0 during ``setup``).
        stage_names: Lifecycle stage names; ``stage`` holds indices into it.
        segment_names: Segment names; ``segment`` holds indices into it.
        stage: Lifecycle stage index (``int8``).
        segment: Segment index (``int8``).
        active: Whether the customer is a (paying) customer now.
        traits: Trait name → array: the fixed traits drawn at the start
            (``digital_affinity``, ``human_preference``, ``responsiveness``,
            ``complexity``, ``revenue``, …), a read-only mapping of read-only arrays.
        health: The health score the company observes (0..1; 0 for non-customers).
        monthly_revenue: Current monthly revenue (0 before conversion).
        engagement: Engagement (0..1).
        satisfaction: Satisfaction (0..1).
        onboarding: Onboarding progress (0..1).
        steps_in_stage: Steps spent in the current stage.
        months_in_stage: The same in months.
        tenure_months: Months since conversion (0 for prospects).
        rng: The policy's own random generator (see the module docstring).

    Args:
        source: The model (or any object with the same arrays).
        rng: The policy's generator (``None``: a view without one).
    """

    __slots__ = ("_cache", "_rng", "_source")

    stage = _State(doc="Lifecycle stage index of each customer.")
    segment = _State(doc="Segment index of each customer.")
    active = _State(doc="Whether each customer is a customer now.")
    health = _State(doc="Observed health score, 0..1.")
    monthly_revenue = _State(doc="Current monthly revenue.")
    engagement = _State(doc="Engagement, 0..1.")
    satisfaction = _State(doc="Satisfaction, 0..1.")
    onboarding = _State(doc="Onboarding progress, 0..1.")
    steps_in_stage = _State(doc="Steps spent in the current stage.")
    tenure_months = _State(doc="Months since conversion (0 for prospects).")

    def __init__(self, source: Any, rng: np.random.Generator | None = None):
        set_slot = object.__setattr__
        set_slot(self, "_source", source)
        set_slot(self, "_rng", rng)
        set_slot(self, "_cache", {})

    @classmethod
    def of(cls, source: Any) -> PolicyView:
        """Return ``source`` if it is a view already, else a view (without a generator) of it."""
        return source if isinstance(source, PolicyView) else cls(source)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a policy view is read-only: cannot set {name!r}")

    @property
    def n(self) -> int:
        """Number of customers."""
        return int(self._source.n)

    @property
    def weight(self) -> float:
        """Company customers each customer row stands for (``customers / agents``).

        A run simulates a sample of the company; costs that belong to the company (a
        platform, a team of CSMs) are shared by its customers, so a policy allocating
        such a cost to the sample allocates ``cost / weight``. 1 when every customer is
        simulated.
        """
        return float(getattr(self._source, "weight", 1.0))

    @property
    def steps_per_month(self) -> float:
        """Steps per month (1 for monthly steps, 52/12 for weekly steps)."""
        return self._source.steps_per_month

    @property
    def step(self) -> int:
        """The step being simulated (1 for the first; 0 during ``setup``)."""
        return int(getattr(self._source, "steps", 0))

    @property
    def stage_names(self) -> tuple[str, ...]:
        """Lifecycle stage names, in index order."""
        return tuple(self._source.spec.lifecycle.names)

    @property
    def segment_names(self) -> tuple[str, ...]:
        """Segment names, in index order."""
        return tuple(self._source.spec.segment_names)

    @property
    def traits(self) -> Mapping[str, np.ndarray]:
        """Trait name → read-only array of the fixed traits drawn at the start."""
        traits = self._cache.get("traits")
        if traits is None:
            traits = self._cache["traits"] = MappingProxyType(
                {name: read_only(values) for name, values in self._source.traits.items()}
            )
        return traits

    @property
    def months_in_stage(self) -> np.ndarray:
        """Months spent in the current stage."""
        return self.steps_in_stage / self.steps_per_month

    @property
    def rng(self) -> np.random.Generator:
        """The policy's own generator: draw from it freely, it cannot disturb the run's."""
        if self._rng is None:
            raise AttributeError("this view has no generator (it was not built by a model)")
        return self._rng

    def in_stage(self, *names: str) -> np.ndarray:
        """Whether each customer is in one of the stages ``names``."""
        return np.isin(self.stage, [_index(self.stage_names, s, "stage") for s in names])

    def in_segment(self, *names: str) -> np.ndarray:
        """Whether each customer belongs to one of the segments ``names``."""
        return np.isin(self.segment, [_index(self.segment_names, s, "segment") for s in names])

    def __repr__(self) -> str:
        return f"PolicyView(n={self.n}, step={self.step}, steps_per_month={self.steps_per_month})"


def _index(names: tuple[str, ...], name: str, what: str) -> int:
    if name not in names:
        raise KeyError(f"no {what} named {name!r}; expected one of: {', '.join(names)}")
    return names.index(name)
