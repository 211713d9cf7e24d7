"""The engagement model: a Mesa model whose step is vectorised over all customers.

:class:`EngagementModel` is a real ``mesa.Model`` (``rng=``, a ``DataCollector``, CSM
agents, customer agents on demand) whose customer traits and state live in numpy
arrays. :meth:`EngagementModel.step` is the list of the step's phases, each a rule
written once, over whole arrays, in the module named after it:

1. engage — the policy's touches, rationed CSM hours and costs
   (:mod:`sim.engine.policies`);
2. respond — onboarding, engagement and satisfaction move, with the community pull of
   the scenario and of the policy's community (:func:`sim.engine.dynamics.respond`,
   done in place by :func:`sim.engine.dynamics.respond_in_place`); the hazards use the
   mid-step state;
3. word of mouth — the pressure on every customer (:func:`sim.engine.network.pressure`),
   predicted for the middle of the step (:func:`sim.engine.network.midstep_pressure`);
4. transitions — every customer takes at most one lifecycle edge, by competing risks
   (:func:`sim.engine.lifecycle.transitions`); word-of-mouth moves are credited to a
   recommending neighbour (:func:`sim.engine.network.credit_referrers`);
5. apply moves — stages, conversions, churn (:func:`sim.engine.lifecycle.sort_moves`);
6. book money — revenue, margin and costs, discounted (:func:`sim.engine.economics.book`,
   added to the running totals in place by :func:`sim.engine.economics.accrue`),
   contract expansion (:func:`sim.engine.economics.expand`), marketing spend, and the
   product's feedback loop of the scenario and of the policy's roadmap
   (:func:`sim.engine.dynamics.improve_product`);
7. observe — usage and the health score the company sees
   (:func:`sim.engine.dynamics.observe`);
8. record — the step's metrics (:func:`sim.engine.results.step_record`), collected by
   the ``DataCollector``.

Run results (:meth:`EngagementModel.summary`, :meth:`~EngagementModel.timeseries`,
:meth:`~EngagementModel.customers_frame`) are computed in :mod:`sim.engine.results`.

Randomness: one ``numpy.random.Generator`` per run (``model.rng``). Every step draws
fixed-shape blocks (three uniforms and one normal per customer, in that order, each
row when its phase needs it and nothing else drawn from ``model.rng`` in between)
whatever the policy, so two policies run with the same seed see the same random
numbers for the same customers (common random numbers): policy differences are paired.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd

from sim.engine import dynamics as dyn
from sim.engine import economics as econ
from sim.engine import funnel, lifecycle, memory, results
from sim.engine import network as net
from sim.engine import targets as aim
from sim.engine.agents import CSMAgent, CustomerAgent
from sim.engine.continuation import count_moves
from sim.engine.knockout import is_knockout, make_knockout
from sim.engine.plan import is_plan, make_plan
from sim.engine.policies import (
    Engagement,
    Policy,
    PolicyError,
    ProgramPolicy,
    check_engagement,
)
from sim.engine.policy_files import is_policy_file, load_policy_file
from sim.engine.purchases import Purchases, spend_potential
from sim.engine.scenario import Scenario, load_scenario
from sim.engine.segments import sample_population
from sim.engine.view import PolicyView
from sim.schema import InputError, suggest

__version__ = "0.1.0"

#: What an :class:`Engagement` array the step has no more use for is replaced by, in the
#: step's own copy of it: the policy's array can then be freed before the later phases
#: allocate theirs (a run's peak memory, issue 15). The policy's object is not changed.
SPENT = np.empty(0)
SPENT.flags.writeable = False


def make_policy(scenario: Scenario, policy: str | Policy) -> Policy:
    """Return a policy object: a :class:`Policy` as is, or a scenario policy by name.

    Args:
        scenario: The scenario whose policies names refer to.
        policy: A policy, the name of one of the scenario's policies, a policy class
            in a Python file, ``path/to/file.py:ClassName`` (a fresh instance), or a plan
            of one policy per segment, ``plan:SEGMENT=POLICY,…`` (:mod:`sim.engine.plan`),
            or a policy without one of its programs, ``knockout:POLICY/PROGRAM``
            (:mod:`sim.engine.knockout`).

    Returns:
        The policy.

    Raises:
        InputError: No policy of that name in the scenario, a policy file that cannot
            be loaded, or a malformed plan or knockout.
    """
    if isinstance(policy, Policy):
        return policy
    if is_plan(policy):
        return make_plan(scenario, policy)
    if is_knockout(policy):
        return make_knockout(scenario, policy)
    if is_policy_file(policy):
        return load_policy_file(policy)
    if policy not in scenario.policies:
        raise InputError(
            scenario.source,
            "policies",
            f"no policy named {policy!r}" + suggest(policy, scenario.policies)
            + f"; this scenario defines: {', '.join(scenario.policies)}",
        )
    return ProgramPolicy(scenario.policies[policy])


class EngagementModel(mesa.Model):
    """Customers moving through lifecycle stages under an engagement policy.

    Args:
        scenario: A :class:`~sim.engine.scenario.Scenario`, a shipped scenario name or a path.
        policy: A policy name defined in the scenario or a :class:`~sim.engine.policies.Policy`.
        rng: Seed or generator for the run's ``numpy.random.Generator`` (Mesa's ``rng``).
        customers: Override the company's size (``population.customers``; the agents
            follow it unless the scenario or ``agents`` sets them).
        months: Override the scenario's horizon.
        agents: Override how many customers the run simulates (``population.agents``):
            a sample of the company, each agent standing for ``weight`` customers.
        outcomes: Entries of :meth:`summary` the ``DataCollector`` also reports, each a
            key (``"profit_per_customer"``) or a dotted path into it
            (``"retention.12"``, ``"segments.smb.ltv_mean"``): ``nan`` until the last
            step, then the run's value — so ``mesa.batch_run`` (which keeps the last
            collection) returns the run's outcomes beside the step metrics.
        **overrides: Scenario values by dotted key path
            (``**{"economics.gross_margin": 0.7}``), as in a sweep's factors; so
            ``mesa.batch_run(EngagementModel, {"economics.gross_margin": [0.6, 0.7]})``
            sweeps them.

    Attributes:
        spec: The scenario. (It is not called ``scenario``: ``mesa.Model`` reserves
            ``model.scenario`` for its own experimental scenario.)
        policy: The policy.
        n: Number of customer agents simulated.
        weight: Company customers each agent stands for (``customers / agents``).
        steps_per_month: 1 for monthly steps, 52/12 for weekly steps.
        horizon: Number of steps :meth:`run` simulates.
        datacollector: The ``mesa.DataCollector`` of the per-step metrics.
        monthly_revenue: Each customer's current monthly revenue (0 before conversion).
        mid_step: Onboarding, engagement and satisfaction halfway through the step
            being taken (a :class:`~sim.engine.dynamics.MidStep`: held at the rows
            that moved; what the lifecycle hazards use), from the step's response to
            its transitions;
            ``None`` otherwise (released once the transitions are drawn: three
            arrays per customer the rest of the step need not hold).
        stage_tables: Per-stage lookups of the lifecycle
            (:class:`~sim.engine.lifecycle.StageTables`).
        csm_hours_used: CSM hours delivered over the run so far.
        csm_hours_available: CSM hours available over the run so far.
    """

    def __init__(
        self,
        scenario: Scenario | str | Path = "default",
        policy: str | Policy = "hybrid",
        *,
        rng: Any = None,
        customers: int | None = None,
        months: int | None = None,
        agents: int | None = None,
        outcomes: Sequence[str] = (),
        **overrides: Any,
    ):
        super().__init__(rng=rng)
        if not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        if customers is not None:
            overrides["population.customers"] = customers
        if months is not None:
            overrides["time.months"] = months
        if agents is not None:
            overrides["population.agents"] = agents
        if overrides:
            scenario = scenario.with_overrides(overrides)
        self.spec = scenario
        self.policy = make_policy(scenario, policy)
        self.n = scenario.population.n_agents
        self.weight = scenario.population.weight
        self.steps_per_month = scenario.time.steps_per_month
        self.horizon = scenario.time.steps
        population = scenario.population
        memory.check_fits(  # before allocating: refuse, rather than die of MemoryError
            self.n, 0 if scenario.network.kind in ("mixed", "none") else scenario.network.degree,
            scenario.source,
            "population.agents" if population.agents is not None else "population.customers",
        )
        self._init_population()
        self._init_structure()
        # the policy's own generator: spawning leaves self.rng's stream untouched
        self._policy_rng = self.rng.spawn(1)[0]
        #: a repeat-purchase run's orders (``None``: a subscription), drawn from a stream
        #: spawned after the policy's (:mod:`sim.engine.purchases`)
        self.purchases: Purchases | None = None
        #: each customer's price discount in the last step (``None``: no program gives one)
        self.price_discount: np.ndarray | None = None
        if scenario.economics.revenue_model == "repeat_purchase":
            self._start_purchases()
        self._call_policy("setup", PolicyView(self, self._policy_rng))
        self.csm_agents: dict[str, list[CSMAgent]] = {}
        self._views: dict[int, CustomerAgent] = {}
        self.metrics: dict[str, float] = {}
        # the step metrics, and run outcomes for mesa.batch_run (reported at the end)
        self.datacollector = results.collector(
            scenario.lifecycle.names, {name: self._final_outcome(name) for name in outcomes})
        self.csm_hours_used = 0.0
        self.csm_hours_available = 0.0

    # ------------------------------------------------------------------------------
    # set-up

    def _init_population(self) -> None:
        scenario, n, rng = self.spec, self.n, self.rng
        self.segment, self.traits = sample_population(rng, scenario.segments, n)
        stages, shares = zip(*scenario.population.initial_stages, strict=True)
        self.stage = rng.choice(np.array(stages, dtype=np.int8), size=n, p=np.array(shares))
        self.network = net.build(scenario.network, n, rng)

        tables = self.stage_tables = lifecycle.stage_tables(scenario.lifecycle)
        self.active = tables.customer[self.stage]
        #: in a user or customer stage: whose state the dynamics move (``active`` are
        #: only the paying customers; :mod:`sim.engine.lifecycle`)
        self.engaged = tables.engaged[self.stage]
        self.product_value = scenario.dynamics.product_value
        state, self.health = dyn.starting_state(
            scenario.dynamics, self.engaged, tables.initial_onboarding[self.stage],
            self.traits["complexity"],
        )
        self.onboarding, self.engagement, self.satisfaction = state
        self.mid_step: dyn.MidStep | None = None
        self.steps_in_stage = np.zeros(n, dtype=np.int32)
        self.converted_step = np.where(self.active, 0, -1).astype(np.int32)
        #: step of first entering a user or customer stage (−1: never); without user
        #: stages that is the conversion, and the array is ``converted_step`` itself
        self.activated_step = (
            np.where(self.engaged, 0, -1).astype(np.int32)
            if funnel.has_users(scenario.lifecycle) else self.converted_step
        )
        self.churn_step = np.full(n, -1, dtype=np.int32)
        #: visits in the last step (int32: a step's visits are fewer than 1,000, the most
        #: terms dynamics.poisson_from_uniform sums)
        self.visits = np.zeros(n, dtype=np.int32)
        self.monthly_revenue = np.where(self.active, self.traits["revenue"], 0.0)
        #: the installed base: who paid at the start (:attr:`base_revenue`)
        self._base = self.active.copy()
        #: :attr:`base_revenue_12` at the installed base's rows (``None`` until a year in)
        self._base_revenue_12: np.ndarray | None = None
        self.revenue_cum = np.zeros(n)
        self.cost_cum = np.zeros(n)
        self.cost_disc = np.zeros(n)
        self.ltv = np.zeros(n)
        #: word-of-mouth moves credited to each agent (int32: at most one per agent and
        #: step, so fewer than agents × steps; results widen it to int64)
        self.referrals = np.zeros(n, dtype=np.int32)
        n_stages = len(scenario.lifecycle.stages)
        #: ``(segments, stages, stages)`` stage moves of every agent, counted every step
        #: (the conversion rates of :func:`sim.engine.metrics.conversion_rates`; its
        #: customer rows are :attr:`moves_count`)
        self.flow_count = np.zeros((len(scenario.segments), n_stages, n_stages), np.int64)
        #: with user stages (:mod:`sim.engine.funnel`), every step's ``(stages,
        #: stages)`` moves (``flow.csv``) and each agent's deepest funnel stage
        funnel_run = funnel.has_users(scenario.lifecycle)
        self.step_flows: list[np.ndarray] | None = [] if funnel_run else None
        self.depth = funnel.depth(self.stage, tables.churned, None) if funnel_run else None

    def _start_purchases(self) -> None:
        self.purchases = Purchases.start(
            self.rng, self.spec.segments, self.segment, self.steps_per_month
        )
        self.traits.update(self.purchases.traits)
        self.traits["revenue"] = spend_potential(self.traits)
        self.monthly_revenue = np.where(self.active, self.traits["revenue"], 0.0)

    def _init_structure(self) -> None:
        scenario = self.spec
        self._base_logit: dict[str, lifecycle.Driver | float] = {
            "churn_propensity": self._churn_logit,
            "marketing": float(lifecycle.logit(scenario.marketing.awareness_rate)),
        }
        #: each segment's acquisition cost (what a conversion books)
        self._segment_cac = np.array([s.acquisition_cost for s in scenario.segments])
        self._discount = econ.discount_factors(
            scenario.economics.annual_discount_rate, self.steps_per_month, self.horizon + 1
        )
        self._wom = self.stage_tables.word_of_mouth and scenario.network.kind != "none"
        self._pressure_before: np.ndarray | None = None  # the last step's pressure

    def _churn_logit(self, rows: np.ndarray) -> np.ndarray:
        """The logit of ``churn_propensity`` at ``rows``: the base of the churn edges.

        Computed at the rows of a stage when its edges are drawn rather than held for
        every customer (8 bytes per customer; the same numbers: the logit is elementwise).
        """
        return lifecycle.logit(self.traits["churn_propensity"][rows])

    # ------------------------------------------------------------------------------
    # derived views

    @property
    def moves_count(self) -> np.ndarray:
        """``(segments, stages, stages)`` stage moves of customers (from a customer stage).

        What :mod:`sim.engine.continuation` reads the value beyond the horizon from: the
        customer rows of :attr:`flow_count` (a customer is exactly an agent in a customer
        stage at the step's start), the other rows 0.
        """
        return np.where(self.stage_tables.customer[None, :, None], self.flow_count, 0)

    @property
    def acquisition(self) -> np.ndarray:
        """Each agent's acquisition cost: its segment's if it converted during the run.

        0 for the installed base (converted at step 0) and for who never converted. It
        is what the conversion booked, computed when asked instead of held (8 bytes per
        customer).
        """
        return np.where(self.converted_step > 0, self._segment_cac[self.segment], 0.0)

    @property
    def base_revenue_12(self) -> np.ndarray | None:
        """The installed base's monthly revenue a year in (``None`` until then).

        What net and gross revenue retention compare :attr:`base_revenue` with: 0 for
        who churned by then and for everyone outside the installed base. Held at the
        base's rows alone and spread out when asked (5 bytes per customer fewer at the
        default scenario's 35 % installed base).
        """
        if self._base_revenue_12 is None:
            return None
        revenue = np.zeros(self.n)
        revenue[self._base] = self._base_revenue_12
        return revenue

    @property
    def base_revenue(self) -> np.ndarray:
        """The installed base's monthly revenue at the start (0 for everyone else).

        What net and gross revenue retention compare :attr:`base_revenue_12` with. It is
        the starting revenue of who paid at the start (``traits["revenue"]``, which a
        run does not change), so it is computed when asked instead of held (8 bytes per
        customer).
        """
        return np.where(self._base, self.traits["revenue"], 0.0)

    @property
    def tenure_months(self) -> np.ndarray:
        """Months since conversion (frozen at churn; 0 for prospects)."""
        end = np.where(self.churn_step >= 0, self.churn_step, self.steps)
        return np.where(self.converted_step >= 0, end - self.converted_step, 0) / (
            self.steps_per_month
        )

    def customer(self, row: int) -> CustomerAgent:
        """Return the Mesa agent viewing customer ``row`` (created on first request).

        Args:
            row: The customer's row (its ``id`` in the outputs).

        Returns:
            The :class:`~sim.engine.agents.CustomerAgent`.

        Raises:
            IndexError: ``row`` is not a customer.
        """
        if not 0 <= row < self.n:
            raise IndexError(f"customer {row} out of range 0..{self.n - 1}")
        view = self._views.get(row)
        if view is None:
            view = self._views[row] = CustomerAgent(self, row)
        return view

    def _state(self) -> dyn.CustomerState:
        return dyn.CustomerState(self.onboarding, self.engagement, self.satisfaction)

    def _drivers(self, response: np.ndarray) -> dict[str, lifecycle.Driver]:
        """The hazard drivers the edges use (:data:`~sim.engine.lifecycle.DRIVERS`).

        Each is computed at the rows of one stage when the transitions ask for them
        (:func:`~sim.engine.lifecycle.driver_at`; the same numbers as a full-length
        array's rows), not for every customer; the tenure is computed once.
        """
        mid, in_stage, months = self.mid_step, self.steps_in_stage, 12.0 * self.steps_per_month

        def centred(values: np.ndarray) -> lifecycle.Driver:
            return lambda rows: values[rows] - 0.5

        def halfway(name: str) -> lifecycle.Driver:
            return lambda rows: mid.at(name, rows) - 0.5

        values: dict[str, Callable[[], lifecycle.Driver]] = {
            "engagement": lambda: halfway("engagement"),
            "satisfaction": lambda: halfway("satisfaction"),
            "onboarding": lambda: halfway("onboarding"),
            "health": lambda: centred(self.health),
            "touch": lambda: response,
            "months_in_stage": lambda: lambda rows: in_stage[rows] / months,
            "tenure": lambda: self.tenure_months / 12.0,
        }
        return {name: values[name]() for name in self.stage_tables.drivers}

    def _referral_weight(self) -> np.ndarray:
        return net.referral_weight(
            self.stage_tables.referral_weight, self.stage, self.traits["referral_propensity"]
        )

    def referral_pressure(self) -> np.ndarray:
        """Word-of-mouth pressure on every customer right now.

        Each customer recommends with strength ``referral_weight`` of its stage ×
        its ``referral_propensity`` (:func:`sim.engine.network.referral_weight`); the
        pressure on a customer is the network-weighted sum of its neighbours' strengths
        (fully mixed: everyone's mean; :func:`sim.engine.network.pressure`).

        Returns:
            One pressure per customer.
        """
        return net.pressure(self.network, self._referral_weight())

    # ------------------------------------------------------------------------------
    # the step

    def step(self) -> None:
        """Advance every customer by one step: the phases below, in this order.

        Each phase is a method of its own, so its temporaries are freed when it returns,
        and what the later phases no longer need is let go as soon as it is spent (the
        touches and responses once drawn on, the money once summed): a run's peak
        memory is the state it holds plus the largest phase's temporaries (issue 15).
        """
        t = self.steps
        # fixed-shape draws whatever the policy (common random numbers): one uniform per
        # customer for the moves, then for crediting referrals and for the visits, then
        # one normal for the health noise, each drawn where first used (only then held):
        # nothing between them draws from self.rng (the policy and the repeat purchases
        # have streams of their own), so they are the numbers of one (3, n) block and a row
        was_active, stage_before = self.active, self.stage
        # the last step's visits: nothing in the step reads them (a policy's view has
        # none) until observe makes this step's, so their memory is the phases' (issue 15)
        self.visits = None
        engaged, tally = self._engage(t)  # 1. engage
        if "health" not in self.stage_tables.drivers:  # no hazard reads it: its readers
            self.health = None  # were the policy's; observe makes the step's (below)
        self._respond(engaged)  # 2. respond
        moves = self._move(engaged, tally, t)  # 3.-5. word of mouth, transitions, moves
        engaged = replace(engaged, response=SPENT)  # its last reader was the transitions
        if self.step_flows is not None:
            n_stages = len(self.spec.lifecycle.stages)
            self.step_flows.append(funnel.step_flow(stage_before, self.stage, n_stages))
            self.depth = funnel.depth(self.stage, self.stage_tables.churned, self.depth)
        self._book(engaged, tally, was_active & self.active, moves.converted, stage_before, t)
        del moves, was_active  # 6. book money (above): the moves' masks are spent
        engaged = replace(engaged, cost=SPENT)  # booked
        self._observe(engaged)  # 7. observe
        # 8. record
        if t == round(12 * self.steps_per_month):  # a year in: the installed base's revenue
            base = self._base
            self._base_revenue_12 = np.where(self.active[base], self.monthly_revenue[base], 0.0)
        self.csm_hours_used += engaged.csm_hours_used
        self.csm_hours_available += engaged.csm_hours_available
        self.metrics = results.step_record(self, engaged, tally, stage_before)
        self.datacollector.collect(self)
        if t >= self.horizon:
            self.running = False

    def _engage(self, t: int) -> tuple[Engagement, results.StepTally]:
        """The policy's engagement this step, without its touches (summed for the record)."""
        view = PolicyView(self, self._policy_rng)
        engaged = self._call_policy("engage", view, f"step {t}: ")
        engaged = check_engagement(self.policy, engaged, self.n, step=t)
        self._sync_csm_agents()
        tally = results.StepTally(touches=float(engaged.touches.sum()))
        return replace(engaged, touches=SPENT), tally

    def _respond(self, engaged: Engagement) -> None:
        """Move the state by the step's touches (in place); keep the midpoint for the hazards."""
        scenario = self.spec
        self.mid_step = dyn.respond_in_place(
            scenario.dynamics, self.steps_per_month, self._state(), engaged.response,
            active=self.engaged, complexity=self.traits["complexity"],
            product_value=self.product_value, network=self.network,
            community=engaged.community_strength, aimed=engaged.targets or None,
        )

    def _move(self, engaged: Engagement, tally: results.StepTally, t: int) -> lifecycle.Moves:
        """Word of mouth, every customer's transition and its consequences.

        Returns:
            The step's moves (their counts are in ``tally``).
        """
        n, spm = self.n, self.steps_per_month
        # word of mouth: the pressure predicted for mid-step from its last change
        weight = self._word_of_mouth_weight(engaged, for_pressure=True)
        now = None if weight is None else net.pressure(self.network, weight)
        del weight  # made again for the referrers: not held through the transitions
        pressure = None if now is None else net.midstep_pressure(now, self._pressure_before)
        self._pressure_before = now
        del now
        # transitions (and who gets the credit for a referral)
        moved_to, referred = lifecycle.transitions(
            self.stage, self.stage_tables.out_edges, self._drivers(engaged.response),
            self._base_logit, pressure, spm, self.rng.random(n), self._edge_shifts(engaged),
        )
        # spent, and so is the observed health until observe makes the new one (its last
        # readers were the policy and the hazards): the rest of the step does without
        self.mid_step = self.health = None
        del pressure
        u_credit = self.rng.random(n)
        if referred.size:
            weight = self._word_of_mouth_weight(engaged)  # the same numbers as above
            referrers = net.credit_referrers(referred, u_credit, weight, self.network)
            del weight
            np.add.at(self.referrals, referrers, 1)
            if engaged.referral_cost is not None:  # programs that reward referrals
                paid = engaged.referral_cost[referrers]
                np.add.at(engaged.cost, referrers, paid)
                engaged.costs_by_type["touch"] += float(paid.sum())
        del u_credit
        stage_before = self.stage
        moves = self._apply_moves(moved_to, t)
        count_moves(self.flow_count, self.segment, stage_before, self.stage)
        new_cac = self._segment_cac[self.segment[moves.converted]]  # what they booked
        tally.count_moves(moves, int(referred.size), new_cac)
        return moves

    def _word_of_mouth_weight(
        self, engaged: Engagement, for_pressure: bool = False
    ) -> np.ndarray | None:
        """How strongly each customer recommends this step (``None``: no word of mouth).

        The stage's weight × the referral propensity (:meth:`_referral_weight`) × the
        factor of programs aimed at referrals. It is made where it is used (the
        pressure before the transitions, the referrers after them) rather than held
        between (the stages do not change until the moves are applied).

        Args:
            engaged: What the policy did this step.
            for_pressure: For the pressure on a network: as the float32 it is rounded
                to there, made without a float64 array
                (:func:`~sim.engine.network.referral_weight32`).
        """
        if not self._wom:
            return None
        referral_factor = aim.factor(engaged.targets, "referral")
        if for_pressure and self.network is not None:
            return net.referral_weight32(
                self.stage_tables.referral_weight, self.stage,
                self.traits["referral_propensity"], referral_factor,
            )
        weight = self._referral_weight()
        return weight if referral_factor is None else weight * referral_factor

    def _book(
        self,
        engaged: Engagement,
        tally: results.StepTally,
        payers: np.ndarray,
        converted: np.ndarray,
        stage_before: np.ndarray,
        t: int,
    ) -> None:
        """Book the step's money, grow the contracts, improve the product.

        Args:
            engaged: What the policy did this step.
            tally: Where the step's revenue, margin and marketing spend are summed.
            payers: Customers at both the start and the end of the step.
            converted: Who became a customer this step.
            stage_before: Every agent's stage at the start of the step.
            t: The step.
        """
        scenario, spm = self.spec, self.steps_per_month
        # repeat purchases: this step's orders (sim.engine.purchases)
        price = aim.price_discount(engaged.targets)
        self.price_discount = price  # held beyond the horizon (results.lifetime)
        spend = None if self.purchases is None else self.purchases.step(
            payers, self.engagement, self.monthly_revenue,
            aim.factor(engaged.targets, "visits"), first=converted, discount=price,
        )
        tally.revenue, tally.margin = econ.accrue(
            scenario.economics, spm,
            payers=payers, monthly_revenue=self.monthly_revenue,
            cost=engaged.cost, age=t - np.maximum(self.converted_step, 0),
            discount=self._discount, price_discount=price, spend=spend,
            revenue_cum=self.revenue_cum, value_cum=self.ltv, cost_cum=self.cost_cum,
            cost_discounted_cum=self.cost_disc,
        )
        del spend
        self.monthly_revenue = econ.expand(
            scenario.economics, spm, self.monthly_revenue,
            growing=lifecycle.in_stages(
                self.stage_tables.customer & self.stage_tables.expands, self.stage),
            potential=self.traits["expansion_potential"], engagement=self.engagement,
            contract=self.traits["revenue"],
            rate_factor=aim.factor(engaged.targets, "expansion"), in_place=True,
        )
        reached = np.count_nonzero(lifecycle.in_stages(self.stage_tables.marketed, stage_before))
        tally.marketing = econ.marketing_cost(scenario.marketing, reached, spm)
        self.product_value = dyn.improve_product(
            self.product_value, scenario.dynamics, spm, self.engaged, self.engagement,
            engaged.feedback_rate,
        )

    def _observe(self, engaged: Engagement) -> None:
        """This step's visits and the health score the company sees."""
        # the last step's visits and health were let go before (whoever else holds them,
        # a policy that kept its view's arrays, still sees them as they were)
        self.visits, self.health = dyn.observe(
            self.spec.dynamics, self.steps_per_month, self.engaged, self.engagement,
            self.onboarding, self.rng, aim.factor(engaged.targets, "visits"),
        )

    def _call_policy(self, hook: str, view: PolicyView, when: str = "") -> Any:
        """The policy's ``setup`` or ``engage``; its own errors become :class:`PolicyError`.

        Args:
            hook: ``"setup"`` or ``"engage"``.
            view: What the policy sees.
            when: Prefix of the message saying when (``"step 3: "``).
        """
        try:
            return getattr(self.policy, hook)(view)
        except InputError:  # already says what is wrong (a plan's policy, a PolicyError)
            raise
        except Exception as exc:  # a user's policy: name it (and the step), no traceback
            raise PolicyError(
                self.policy, f"{when}{hook}() raised {type(exc).__name__}: {exc}"
            ) from exc

    def _edge_shifts(self, engaged: Engagement) -> dict[tuple[int, int], np.ndarray] | None:
        """The edges' logit shifts from programs aimed at churn or conversion."""
        if not engaged.targets:
            return None
        try:
            return aim.edge_shifts(
                engaged.targets, self.spec.lifecycle.names, self.stage_tables.out_edges,
                self.stage_tables.churned,
            )
        except ValueError as err:
            raise PolicyError(self.policy, str(err)) from None

    def _apply_moves(self, moved_to: np.ndarray, t: int) -> lifecycle.Moves:
        """Put every customer in its new stage; newly activated agents start afresh."""
        moves = lifecycle.sort_moves(
            self.stage, moved_to, self.stage_tables.customer, self.stage_tables.churned,
            self.converted_step, self.churn_step,
            self.stage_tables.engaged, self.activated_step,
        )
        self.stage = moved_to
        # each mask's rows (few) written by index: faster than by the full-length mask
        self.steps_in_stage += 1
        self.steps_in_stage[moves.changed.nonzero()[0]] = 0
        self.active = moves.active
        self.engaged = moves.engaged
        # retention and tenure count to the first churn
        self.churn_step[moves.first_churn.nonzero()[0]] = t
        started, d = moves.activated.nonzero()[0], self.spec.dynamics
        new = started if moves.converted is moves.activated else moves.converted.nonzero()[0]
        self.converted_step[new] = t
        self.activated_step[started] = t
        self.onboarding[started] = 0.0
        self.engagement[started] = d.new_customer_engagement
        self.satisfaction[started] = d.new_customer_satisfaction
        self.monthly_revenue[new] = self.traits["revenue"][new]
        return moves

    def _sync_csm_agents(self) -> None:
        for name, team in self.policy.teams.items():
            agents = self.csm_agents.setdefault(name, [])
            while len(agents) < team.headcount:
                agents.append(CSMAgent(self, team, len(agents)))
            while len(agents) > team.headcount:
                agents.pop().remove()

    # ------------------------------------------------------------------------------
    # running and results

    def run(self, progress: Callable[[int, int], None] | None = None) -> EngagementModel:
        """Simulate the whole horizon.

        Args:
            progress: Called as ``progress(step, total)`` after each step.

        Returns:
            The model itself.
        """
        memory.keep_freed_memory()  # a step's freed arrays are the next step's
        # float64 overflow (a revenue of 1e308) is not warned about step after step: the
        # summary refuses non-finite results (sim.engine.results.check_finite)
        with np.errstate(over="ignore", invalid="ignore"):
            while self.steps < self.horizon:
                self.step()
                if progress is not None:
                    progress(self.steps, self.horizon)
        return self

    def timeseries(self) -> pd.DataFrame:
        """One row per step: a ``step`` column, stage counts and the step metrics.

        See :func:`sim.engine.results.timeseries`. Built once per step count from
        :meth:`series_columns` and handed out as a copy.
        """
        if getattr(self, "_timeseries", (None,))[0] != self.steps:
            self._timeseries = (self.steps, pd.DataFrame(self.series_columns()))
        return self._timeseries[1].copy()

    def series_columns(self) -> dict[str, np.ndarray]:
        """The columns of :meth:`timeseries` as arrays (what a sweep stores of a run).

        See :func:`sim.engine.results.series_columns`. Built once per step count; the
        arrays are fresh copies, the caller's to keep or change.
        """
        if getattr(self, "_series_columns", (None,))[0] != self.steps:
            self._series_columns = (self.steps, results.series_columns(self))
        return {name: column.copy() for name, column in self._series_columns[1].items()}

    def customers_frame(self) -> pd.DataFrame:
        """One row per customer: id, segment, traits and outcomes.

        See :func:`sim.engine.results.customers_frame`.
        """
        return results.customers_frame(self)

    def _final_outcome(self, path: str) -> Callable[[EngagementModel], Any]:
        """A reporter of the summary entry at dotted ``path``: ``nan`` before the last step."""
        keys = path.split(".")

        def report(model: EngagementModel) -> Any:
            if model.steps < model.horizon:
                return np.nan
            if getattr(model, "_final", (None,))[0] != model.steps:  # one summary per run
                model._final = (model.steps, model.summary())
            value: Any = model._final[1]
            for key in keys:
                if not isinstance(value, dict) or key not in value:
                    raise InputError(None, f"outcomes: {path!r}",
                                     "a key of EngagementModel.summary() or a dotted path "
                                     "into it, e.g. 'profit_per_customer', 'retention.12'")
                value = value[key]
            return value

        return report

    def summary(self, seed: int | None = None) -> dict[str, Any]:
        """Run-level results (the contents of ``summary.json``).

        Args:
            seed: The seed to report.

        Returns:
            See :func:`sim.engine.results.summary`.
        """
        return results.summary(self, seed, __version__)
