"""engagesim: compare customer-engagement models with an agent-based simulation.

Typical use::

    from sim import load_scenario, EngagementModel

    scenario = load_scenario("default")
    model = EngagementModel(scenario, policy="hybrid", rng=42).run()
    model.summary()        # retention, LTV, cost, profit, NPS, ...
    model.timeseries()     # one row per step
"""

from sim.engine.model import EngagementModel, __version__, make_policy
from sim.engine.policies import Engagement, NoPolicy, Policy, ProgramPolicy
from sim.engine.scenario import Scenario, load_scenario, shipped_scenarios
from sim.schema import InputError
from sim.sweep.runner import evaluate

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
