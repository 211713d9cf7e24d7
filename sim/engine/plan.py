"""A plan: one policy per segment, run together as one policy of its own.

A plan is named ``plan:SEGMENT=POLICY,SEGMENT=POLICY,…`` — for instance
``plan:enterprise=high_touch,mid_market=hybrid,smb=no_touch`` ("CSMs for enterprise,
automation for the rest") — and is accepted wherever a policy name is (``run
--policy``, ``compare --policies``, experiment files, ``decide``): the engine's
:func:`~sim.engine.model.make_policy` builds it with :func:`make_plan`.

The rules:

* **Every segment of the scenario must be named**, once; a segment left unnamed is
  refused rather than silently given no engagement (write ``SEGMENT=none`` for that:
  ``none`` is no touch at all, whether or not the scenario defines it).
* The policies are the scenario's (and ``none``); a policy class in a Python file
  cannot be part of a plan (its costs cannot be split by segment).
* Each chosen policy runs its own programs restricted to the segments it is given
  (:func:`restrict`), with **its own teams**, sized to the accounts it covers there:
  chosen policies do not share CSM hours. (A team with a fixed headcount keeps that
  headcount whole in each policy that has it.)
* The platform (``fixed_cost_per_month``) is paid **once**: the largest of the chosen
  policies' (a company runs one platform), shared evenly by the active customers as a
  single policy's is.

A plan that gives every segment the same policy is that policy: its runs are identical
to the policy's, number for number (only the policy's name differs). The segments of a
plan meet each other only where the model couples customers — word of mouth over the
network, the community pull and the product feedback loop — so a plan's outcome in a
segment equals its chosen policy's outcome there up to those couplings (and to the
chosen policy's team no longer mixing in other segments' accounts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from sim.engine.policies import COST_TYPES, Engagement, Policy, PolicySpec, ProgramPolicy, allocate
from sim.engine.scenario import Scenario
from sim.engine.view import PolicyView
from sim.schema import InputError, suggest

PREFIX = "plan:"
"""How a plan's name starts."""
NONE = "none"
"""The policy name that means no engagement in a segment."""
SEPARATOR = "/"
"""Between a chosen policy's name and its team's in a plan's team names."""


def is_plan(name: object) -> bool:
    """Whether ``name`` names a plan (``plan:SEGMENT=POLICY,…``)."""
    return isinstance(name, str) and name.startswith(PREFIX)


def plan_name(assignment: Mapping[str, str]) -> str:
    """The plan's name for a segment → policy mapping, in the mapping's order.

    >>> plan_name({"enterprise": "high_touch", "smb": "no_touch"})
    'plan:enterprise=high_touch,smb=no_touch'
    """
    return PREFIX + ",".join(f"{segment}={policy}" for segment, policy in assignment.items())


def plan_entries(name: str) -> list[tuple[str, str]]:
    """The ``(segment, policy)`` entries of a plan's name, as written (no checks).

    An entry without ``=`` gives an empty policy; a name that is not a plan gives no
    entries.

    >>> plan_entries("plan:enterprise=high_touch, smb=no_touch")
    [('enterprise', 'high_touch'), ('smb', 'no_touch')]
    """
    if not is_plan(name) or not name[len(PREFIX):].strip():
        return []
    entries = []
    for entry in name[len(PREFIX):].split(","):
        segment, _, policy = entry.partition("=")
        entries.append((segment.strip(), policy.strip()))
    return entries


def parse_plan(scenario: Scenario, name: str) -> dict[str, str]:
    """The segment → policy mapping of a plan, in the scenario's segment order.

    Args:
        scenario: The scenario whose segments and policies the plan names.
        name: ``plan:SEGMENT=POLICY,…``.

    Returns:
        Every segment of the scenario with its policy.

    Raises:
        InputError: Malformed, an unknown or repeated segment, a segment left out, or
            an unknown policy.
    """
    where = (scenario.source, "policies")
    segments = list(scenario.segment_names)
    choices = [*scenario.policies, *([] if NONE in scenario.policies else [NONE])]
    example = plan_name({s: "POLICY" for s in segments})
    found: dict[str, str] = {}
    for segment, policy in plan_entries(name) or [("", "")]:
        if not (segment and policy):
            raise InputError(*where, f"plan {name!r}: expected {example}, "
                             f"got the entry {segment!r}")
        if segment not in segments:
            raise InputError(*where, f"plan {name!r}: no segment named {segment!r}"
                             + suggest(segment, segments) + f"; segments: {', '.join(segments)}")
        if segment in found:
            raise InputError(*where, f"plan {name!r}: segment {segment!r} is named twice")
        if policy not in choices:
            raise InputError(*where, f"plan {name!r}: no policy named {policy!r}"
                             + suggest(policy, choices) + f"; choose from {', '.join(choices)}"
                             + " (a policy in a Python file cannot be part of a plan)")
        found[segment] = policy
    missing = [s for s in segments if s not in found]
    if missing:
        raise InputError(*where, f"plan {name!r}: every segment needs a policy, missing "
                         f"{', '.join(missing)} (give `{missing[0]}={NONE}` for no engagement)")
    return {segment: found[segment] for segment in segments}


def restrict(spec: PolicySpec, segments: tuple[int, ...]) -> PolicySpec:
    """A policy's programs restricted to ``segments``, without its platform cost.

    Programs that reach none of the segments are dropped; the teams are kept (each is
    staffed for the accounts its programs still cover).

    Args:
        spec: The policy.
        segments: Segment indices it serves in the plan.
    """
    programs = tuple(
        dataclasses.replace(p, segments=tuple(s for s in p.segments if s in segments))
        for p in spec.programs if set(p.segments) & set(segments)
    )
    return dataclasses.replace(spec, fixed_cost_per_month=0.0, programs=programs)


class PlanPolicy(Policy):
    """Several policies, each serving its own segments, as one policy (see the module).

    Args:
        scenario: The scenario.
        assignment: Segment → policy, every segment once (:func:`parse_plan`).

    Attributes:
        assignment: Segment → policy, in the scenario's segment order.
        fixed_cost_per_month: The platform cost paid once: the largest chosen policy's.
        parts: One :class:`~sim.engine.policies.ProgramPolicy` per chosen policy with
            engagement, restricted to its segments.
    """

    def __init__(self, scenario: Scenario, assignment: Mapping[str, str]):
        self.assignment = dict(assignment)
        self.name = plan_name(self.assignment)
        index = {segment: k for k, segment in enumerate(scenario.segment_names)}
        chosen = list(dict.fromkeys(self.assignment.values()))
        specs = {p: scenario.policies[p] for p in chosen if p in scenario.policies}
        self.fixed_cost_per_month = max(
            (spec.fixed_cost_per_month for spec in specs.values()), default=0.0
        )
        self.parts = [
            ProgramPolicy(restrict(spec, tuple(sorted(
                index[s] for s, p in self.assignment.items() if p == policy))))
            for policy, spec in specs.items()
        ]
        self.teams = {}

    def setup(self, view: PolicyView) -> None:
        """Set up every chosen policy; their teams show as ``policy/team``."""
        for part in self.parts:
            part.setup(view)
        self.teams = {f"{part.name}{SEPARATOR}{name}": team
                      for part in self.parts for name, team in part.teams.items()}

    def engage(self, view: PolicyView) -> Engagement:
        """Every chosen policy engages its segments; the platform cost is added once."""
        n, spm = view.n, view.steps_per_month
        total = Engagement(np.zeros(n), np.zeros(n), np.zeros(n), dict.fromkeys(COST_TYPES, 0.0))
        for part in self.parts:
            engaged = part.engage(view)
            # each customer is in one segment, so at most one part touches it
            total.response += engaged.response
            total.touches += engaged.touches
            total.cost += engaged.cost
            for key, value in engaged.costs_by_type.items():
                total.costs_by_type[key] += value
            total.csm_hours_available += engaged.csm_hours_available
            total.csm_hours_used += engaged.csm_hours_used
            total.csm_headcount += engaged.csm_headcount
            # a community or a roadmap reaches every customer: the strongest one runs
            total.community_strength = max(total.community_strength, engaged.community_strength)
            total.feedback_rate = max(total.feedback_rate, engaged.feedback_rate)
            for key, effect in engaged.targets.items():  # programs aimed at outcomes
                total.targets[key] = total.targets.get(key, 0.0) + effect
            if engaged.referral_cost is not None:
                total.referral_cost = engaged.referral_cost + (
                    0.0 if total.referral_cost is None else total.referral_cost)
        fixed = self.fixed_cost_per_month / spm / view.weight  # the sample's share
        total.costs_by_type["fixed"] += fixed
        allocate(fixed, np.zeros(0), np.flatnonzero(view.active), total.cost)
        return total


def make_plan(scenario: Scenario, name: str) -> PlanPolicy:
    """The :class:`PlanPolicy` named ``name`` (``plan:SEGMENT=POLICY,…``).

    Raises:
        InputError: See :func:`parse_plan`.
    """
    return PlanPolicy(scenario, parse_plan(scenario, name))
