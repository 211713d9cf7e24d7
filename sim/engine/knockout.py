"""A knockout: a scenario policy with one of its programs (or all of them) removed.

A knockout is named ``knockout:POLICY/PROGRAM`` — the policy ``POLICY`` of the scenario
without its program ``PROGRAM`` — or ``knockout:POLICY/*``, the policy without any of
its programs (its platform alone: the "none of them" baseline of ``engagesim
tactics``). The name is accepted wherever a policy name is (``run --policy``, the runs
of ``engagesim tactics``): :func:`~sim.engine.model.make_policy` builds it with
:func:`make_knockout`. Names with a colon are reserved for such constructions
(``plan:…``, ``FILE.py:Class``, ``knockout:…``), so a knockout cannot be mistaken for a
scenario's own policy.

The rules:

* The other programs are kept exactly as they are, and so is the platform
  (``fixed_cost_per_month``).
* A team whose programs are all removed is not hired; a team that still serves a
  program is kept whole (its book size and cost unchanged; an ``auto`` team is staffed
  for the accounts its remaining programs cover).
* A knockout draws exactly the random numbers the policy draws: a
  :class:`~sim.engine.policies.ProgramPolicy` draws none of its own, the customers'
  draws have a fixed shape whatever the policy, and the policy's generator is spawned
  from the run's. So the runs of a policy and of its knockouts on one seed are paired,
  and removing a program that does nothing (no effect, no cost, no CSM hours) gives the
  policy's results number for number.

:func:`knock_out` applies the same removal to a whole scenario, each policy keeping its
name: the live page's program switches (:mod:`sim.explore.levers`) use it, so a policy
switched off there runs exactly as its knockout does.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from sim.engine.policies import CHANNEL_TEAM, PolicySpec, ProgramPolicy
from sim.engine.scenario import Scenario
from sim.schema import InputError, suggest

PREFIX = "knockout:"
"""How a knockout's name starts."""
SEPARATOR = "/"
"""Between the policy and the program in a knockout's name."""
EVERY = "*"
"""The program name that removes every program (the policy's platform alone)."""


def is_knockout(name: object) -> bool:
    """Whether ``name`` names a knockout (``knockout:POLICY/PROGRAM``)."""
    return isinstance(name, str) and name.startswith(PREFIX)


def knockout_name(policy: str, program: str = EVERY) -> str:
    """The name of ``policy`` without ``program`` (default: without every program).

    >>> knockout_name("hybrid", "escalation")
    'knockout:hybrid/escalation'
    >>> knockout_name("hybrid")
    'knockout:hybrid/*'
    """
    return f"{PREFIX}{policy}{SEPARATOR}{program}"


def parse_knockout(scenario: Scenario, name: str) -> tuple[str, str]:
    """The ``(policy, program)`` of a knockout's name, checked against the scenario.

    Args:
        scenario: The scenario whose policy is meant.
        name: ``knockout:POLICY/PROGRAM`` or ``knockout:POLICY/*``.

    Returns:
        The policy and the program (:data:`EVERY` for every program).

    Raises:
        InputError: Malformed, an unknown policy, a policy without programs, or a
            program the policy does not have.
    """
    where = (scenario.source, "policies")
    policy, sep, program = name[len(PREFIX):].rpartition(SEPARATOR)
    policy, program = policy.strip(), program.strip()
    if not (sep and policy and program):
        raise InputError(*where, f"knockout {name!r}: expected {PREFIX}POLICY{SEPARATOR}PROGRAM "
                         f"or {PREFIX}POLICY{SEPARATOR}{EVERY}")
    if policy not in scenario.policies:
        raise InputError(*where, f"knockout {name!r}: no policy named {policy!r}"
                         + suggest(policy, scenario.policies)
                         + f"; this scenario defines: {', '.join(scenario.policies)}")
    programs = [p.name for p in scenario.policies[policy].programs]
    if not programs:
        raise InputError(*where, f"knockout {name!r}: policy {policy!r} has no programs")
    if program != EVERY and program not in programs:
        raise InputError(*where, f"knockout {name!r}: policy {policy!r} has no program named "
                         f"{program!r}" + suggest(program, programs)
                         + f"; its programs: {', '.join(programs)}")
    return policy, program


def without(spec: PolicySpec, removed: set[str], name: str) -> PolicySpec:
    """``spec`` without the programs in ``removed`` and the teams only they used.

    Args:
        spec: The policy.
        removed: Names of the programs to remove.
        name: The new policy's name.
    """
    kept = tuple(p for p in spec.programs if p.name not in removed)
    used = {CHANNEL_TEAM.get(p.channel) for p in kept}
    orphaned = {CHANNEL_TEAM.get(p.channel) for p in spec.programs if p.name in removed} - used
    teams = {team: t for team, t in spec.teams.items() if team not in orphaned}
    return dataclasses.replace(spec, name=name, programs=kept, teams=teams)


def make_knockout(scenario: Scenario, name: str) -> ProgramPolicy:
    """The policy named ``name`` (``knockout:POLICY/PROGRAM`` or ``knockout:POLICY/*``).

    Raises:
        InputError: See :func:`parse_knockout`.
    """
    policy, program = parse_knockout(scenario, name)
    spec = scenario.policies[policy]
    removed = {p.name for p in spec.programs} if program == EVERY else {program}
    return ProgramPolicy(without(spec, removed, name))


@dataclasses.dataclass(frozen=True)
class KnockedOut(Scenario):
    """A scenario whose policies run without some of their programs (:func:`knock_out`).

    Its ``raw`` table still lists the programs; :meth:`with_overrides` removes them
    again from the copy it returns, and :attr:`digest` tells it from the whole scenario.

    Attributes:
        removed: Policy name → names of the programs removed.
    """

    removed: Mapping[str, frozenset[str]] = dataclasses.field(default_factory=dict)

    @property
    def digest(self) -> str:
        """The whole scenario's digest and the programs removed, hashed together."""
        removed = sorted((p, sorted(names)) for p, names in self.removed.items())
        return hashlib.sha256(f"{super().digest}{removed}".encode()).hexdigest()

    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """A re-validated copy with ``overrides`` applied, the programs still removed."""
        return knock_out(super().with_overrides(overrides), self.removed)


def knock_out(scenario: Scenario, removed: Mapping[str, Iterable[str]]) -> Scenario:
    """``scenario`` with programs of its policies removed, each policy keeping its name.

    Each policy loses its programs by :func:`without`, the rule of :func:`make_knockout`:
    policy ``P`` of the result runs exactly as ``knockout:P/X`` of ``scenario`` when
    ``removed = {"P": {"X"}}``.

    Args:
        scenario: The scenario.
        removed: Policy name → names of the programs to remove (empty: none).

    Returns:
        ``scenario`` itself when nothing is removed, else a :class:`KnockedOut` copy.

    Raises:
        InputError: An unknown policy or program (the messages of :func:`parse_knockout`).
    """
    policies = dict(scenario.policies)
    gone = {p: frozenset(names) for p, names in getattr(scenario, "removed", {}).items()}
    for policy, names in removed.items():
        programs = set(names)
        for program in sorted(programs):
            parse_knockout(scenario, knockout_name(policy, program))
        if programs:
            policies[policy] = without(policies[policy], programs, policy)
            gone[policy] = gone.get(policy, frozenset()) | programs
    if all(policies[name] is spec for name, spec in scenario.policies.items()):
        return scenario
    fields = {f.name: getattr(scenario, f.name) for f in dataclasses.fields(Scenario)}
    return KnockedOut(**{**fields, "policies": policies}, removed=gone)
