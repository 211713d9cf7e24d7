"""engagesim: compare customer-engagement models with an agent-based simulation.

Typical use::

    from sim import load_scenario, EngagementModel

    scenario = load_scenario("default")
    model = EngagementModel(scenario, policy="hybrid", rng=42).run()
    model.summary()        # retention, LTV, cost, profit, NPS, ...
    model.timeseries()     # one row per step

The names below are imported on first use (PEP 562), so ``import sim`` (and the
command line's ``--help`` and listings) does not load Mesa, SciPy or pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

#: The package's version; ``pyproject.toml`` reads it from here.
__version__ = "0.1.0"

#: Public name → the module that defines it.
_PUBLIC = {
    "Engagement": "sim.engine.policies",
    "EngagementModel": "sim.engine.model",
    "InputError": "sim.schema",
    "NoPolicy": "sim.engine.policies",
    "Policy": "sim.engine.policies",
    "ProgramPolicy": "sim.engine.policies",
    "Scenario": "sim.engine.scenario",
    "evaluate": "sim.sweep.runner",
    "load_scenario": "sim.engine.scenario",
    "make_policy": "sim.engine.model",
    "shipped_scenarios": "sim.engine.scenario",
}

__all__ = [
    "Engagement",
    "EngagementModel",
    "InputError",
    "NoPolicy",
    "Policy",
    "ProgramPolicy",
    "Scenario",
    "__version__",
    "evaluate",
    "load_scenario",
    "make_policy",
    "shipped_scenarios",
]

if TYPE_CHECKING:
    from sim.engine.model import EngagementModel, make_policy
    from sim.engine.policies import Engagement, NoPolicy, Policy, ProgramPolicy
    from sim.engine.scenario import Scenario, load_scenario, shipped_scenarios
    from sim.schema import InputError
    from sim.sweep.runner import evaluate


def __getattr__(name: str):
    """Import a public name from its module the first time it is asked for.

    Args:
        name: The attribute asked for.

    Returns:
        The object ``name`` refers to (cached in the package afterwards).

    Raises:
        AttributeError: ``name`` is not public.
    """
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the lazily imported public ones included."""
    return sorted({*globals(), *_PUBLIC})
