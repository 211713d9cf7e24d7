"""The engagement model: a Mesa model whose step is vectorised over all customers.

:class:`EngagementModel` is a real ``mesa.Model`` (``rng=``, a ``DataCollector``, CSM
agents, customer agents on demand) whose customer traits and state live in numpy
arrays. The step is written once, over whole arrays:

1. the policy engages (touches, rationed CSM hours, costs);
2. onboarding, engagement and satisfaction respond (:mod:`sim.engine.dynamics`);
3. word-of-mouth pressure is read off the network;
4. every customer takes at most one lifecycle edge (competing risks, :mod:`sim.engine.lifecycle`);
5. revenue, margin and costs are booked and discounted (:mod:`sim.engine.economics`);
6. usage and the observed health score are drawn; metrics are collected.

Randomness: one ``numpy.random.Generator`` per run (``model.rng``). Every step draws
fixed-shape blocks (three uniforms and one normal per customer) whatever the policy,
so two policies run with the same seed see the same random numbers for the same
customers (common random numbers): policy differences are paired.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd

from sim.engine import dynamics as dyn
from sim.engine import network as net
from sim.engine.agents import CSMAgent, CustomerAgent
from sim.engine.economics import discount_factors, payback_months
from sim.engine.lifecycle import choose_exits, edge_rate, logit
from sim.engine.metrics import (
    STEP_METRICS,
    engagement_index,
    mean_or_nan,
    nps,
    recommend_scores,
    retention,
)
from sim.engine.policies import (
    COST_TYPES,
    Engagement,
    Policy,
    ProgramPolicy,
    check_engagement,
)
from sim.engine.scenario import Scenario, load_scenario
from sim.engine.segments import TRAITS, sample_population
from sim.engine.view import PolicyView
from sim.schema import InputError, suggest

__version__ = "0.1.0"

#: Output column names of traits whose own name is taken by an outcome column.
TRAIT_COLUMNS = {"revenue": "contract_revenue"}


def make_policy(scenario: Scenario, policy: str | Policy) -> Policy:
    """Return a policy object: a :class:`Policy` as is, or a scenario policy by name."""
    if isinstance(policy, Policy):
        return policy
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
        customers: Override the scenario's number of customers.
        months: Override the scenario's horizon.

    Attributes:
        spec: The scenario (``model.scenario`` is Mesa's own experimental scenario).
        policy: The policy.
        n: Number of customers.
        steps_per_month: 1 for monthly steps, 52/12 for weekly steps.
        horizon: Number of steps :meth:`run` simulates.
        datacollector: The ``mesa.DataCollector`` of the per-step metrics.
    """

    def __init__(
        self,
        scenario: Scenario | str | Path = "default",
        policy: str | Policy = "hybrid",
        *,
        rng: Any = None,
        customers: int | None = None,
        months: int | None = None,
    ):
        super().__init__(rng=rng)
        if not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        overrides: dict[str, Any] = {}
        if customers is not None:
            overrides["population.customers"] = customers
        if months is not None:
            overrides["time.months"] = months
        if overrides:
            scenario = scenario.with_overrides(overrides)
        self.spec = scenario
        self.policy = make_policy(scenario, policy)
        self.n = scenario.population.customers
        self.steps_per_month = scenario.time.steps_per_month
        self.horizon = scenario.time.steps
        self._init_population()
        self._init_structure()
        # the policy's own generator: spawning leaves self.rng's stream untouched
        self._policy_rng = self.rng.spawn(1)[0]
        self.policy.setup(PolicyView(self, self._policy_rng))
        self.csm_agents: dict[str, list[CSMAgent]] = {}
        self._views: dict[int, CustomerAgent] = {}
        self.metrics: dict[str, float] = {}
        self.datacollector = mesa.DataCollector(
            model_reporters={
                name: _reporter(name)
                for name in (*scenario.lifecycle.names, *STEP_METRICS)
            }
        )
        self._csm_hours = [0.0, 0.0]  # used, available over the run

    # ------------------------------------------------------------------------------
    # set-up

    def _init_population(self) -> None:
        spec, n, rng = self.spec, self.n, self.rng
        self.segment, self.traits = sample_population(rng, spec.segments, n)
        stages, shares = zip(*spec.population.initial_stages, strict=True)
        self.stage = rng.choice(np.array(stages, dtype=np.int8), size=n, p=np.array(shares))
        self.network = net.build(spec.network, n, rng)

        lc = spec.lifecycle
        self._customer_stage = lc.kind_mask("customer")
        self._churned_stage = lc.kind_mask("churned")
        self._prospect_stage = lc.kind_mask("prospect")
        self._expands = np.array([s.expands for s in lc.stages])
        self._referral_weight = np.array([s.referral_weight for s in lc.stages])
        self.active = self._customer_stage[self.stage]

        d = spec.dynamics
        self.product_value = d.product_value
        onboarded = np.array([s.initial_onboarding for s in lc.stages])
        self.onboarding = np.where(self.active, onboarded[self.stage], 0.0)
        self.engagement = np.where(
            self.active,
            dyn.engagement_target(
                d.product_value, self.onboarding, self.traits["complexity"], d.complexity_drag
            ),
            0.0,
        )
        self.satisfaction = np.where(self.active, dyn.satisfaction_target(d, self.engagement), 0.0)
        self.steps_in_stage = np.zeros(n, dtype=np.int32)
        self.converted_step = np.where(self.active, 0, -1).astype(np.int32)
        self.churn_step = np.full(n, -1, dtype=np.int32)
        self.visits = np.zeros(n, dtype=np.int64)
        self.health = np.where(self.active, 0.8 * self.engagement + 0.2 * self.onboarding, 0.0)
        self.mrr = np.where(self.active, self.traits["revenue"], 0.0)
        self.revenue_cum = np.zeros(n)
        self.cost_cum = np.zeros(n)
        self.cost_disc = np.zeros(n)
        self.ltv = np.zeros(n)
        self.acquisition = np.zeros(n)
        self.referrals = np.zeros(n, dtype=np.int64)

    def _init_structure(self) -> None:
        spec = self.spec
        lc = spec.lifecycle
        self._out = [lc.out_edges(s) for s in range(len(lc.stages))]
        used = {name for e in lc.edges for name, _ in e.drivers}
        self._drivers_used = used
        self._base_logit: dict[str, np.ndarray | float] = {
            "churn_propensity": logit(self.traits["churn_propensity"]),
            "marketing": float(logit(spec.marketing.awareness_rate)),
        }
        self._cac = np.array([s.acquisition_cost for s in spec.segments])[self.segment]
        self._discount = discount_factors(
            spec.economics.annual_discount_rate, self.steps_per_month, self.horizon + 1
        )
        self._marketed_stage = np.zeros(len(lc.stages), dtype=bool)
        for e in lc.edges:
            if e.base_source == "marketing":
                self._marketed_stage[e.source] = True
        self._wom = any(e.referral > 0 for e in lc.edges) and spec.network.kind != "none"

    # ------------------------------------------------------------------------------
    # derived views

    @property
    def tenure_months(self) -> np.ndarray:
        """Months since conversion (frozen at churn; 0 for prospects)."""
        end = np.where(self.churn_step >= 0, self.churn_step, self.steps)
        return np.where(self.converted_step >= 0, end - self.converted_step, 0) / (
            self.steps_per_month
        )

    def customer(self, row: int) -> CustomerAgent:
        """Return the Mesa agent viewing customer ``row`` (created on first request)."""
        if not 0 <= row < self.n:
            raise IndexError(f"customer {row} out of range 0..{self.n - 1}")
        view = self._views.get(row)
        if view is None:
            view = self._views[row] = CustomerAgent(self, row)
        return view

    def _drivers(self, response: np.ndarray) -> dict[str, np.ndarray]:
        values: dict[str, Callable[[], np.ndarray]] = {
            "engagement": lambda: self._midpoint[0] - 0.5,
            "satisfaction": lambda: self._midpoint[1] - 0.5,
            "onboarding": lambda: self._midpoint[2] - 0.5,
            "health": lambda: self.health - 0.5,
            "touch": lambda: response,
            "months_in_stage": lambda: self.steps_in_stage / (12.0 * self.steps_per_month),
            "tenure": lambda: self.tenure_months / 12.0,
        }
        return {name: values[name]() for name in self._drivers_used}

    def referral_pressure(self) -> np.ndarray:
        """Word-of-mouth pressure on every customer right now.

        Each customer recommends with strength ``referral_weight`` of its stage ×
        its ``referral_propensity``; the pressure on a customer is the network-weighted
        sum of its neighbours' strengths (fully mixed: everyone's mean).
        """
        weight = self._referral_weight[self.stage] * self.traits["referral_propensity"]
        if self.network is None:  # fully mixed
            return np.broadcast_to(weight.mean(), (self.n,))
        # float32 like the matrix: a float64 vector would make scipy copy the matrix
        return self.network @ weight.astype(np.float32)

    def _pressure(self) -> np.ndarray | None:
        return self.referral_pressure() if self._wom else None

    # ------------------------------------------------------------------------------
    # the step

    def step(self) -> None:
        """Advance every customer by one step."""
        t = self.steps
        n, spm, spec = self.n, self.steps_per_month, self.spec
        u = self.rng.random((3, n))
        z = self.rng.standard_normal(n)
        was_active = self.active

        view = PolicyView(self, self._policy_rng)
        engaged = check_engagement(self.policy, self.policy.engage(view), n)
        self._sync_csm_agents()
        before = (self.engagement, self.satisfaction, self.onboarding)
        self._respond(engaged.response)  # replaces the three arrays
        after = (self.engagement, self.satisfaction, self.onboarding)
        self._midpoint = tuple(0.5 * (a + b) for a, b in zip(before, after, strict=True))
        moved_to, referred = self._transitions(engaged.response, u[0], u[1])

        # apply moves
        stage_before = self.stage
        self.stage = moved_to
        changed = moved_to != stage_before
        self.steps_in_stage += 1
        self.steps_in_stage[changed] = 0
        self.active = self._customer_stage[self.stage]
        converted = changed & self.active & (self.converted_step < 0)
        churned_now = changed & self._churned_stage[self.stage]
        # prospects who drop out before buying are not churned customers
        first_churn = churned_now & (self.churn_step < 0) & (self.converted_step >= 0)
        self.churn_step[first_churn] = t  # retention and tenure count to the first churn
        self.converted_step[converted] = t
        d = spec.dynamics
        self.onboarding[converted] = 0.0
        self.engagement[converted] = d.new_customer_engagement
        self.satisfaction[converted] = d.new_customer_satisfaction
        self.mrr[converted] = self.traits["revenue"][converted]
        self.acquisition[converted] = self._cac[converted]

        # money
        payers = was_active & self.active
        conv = self.converted_step
        age = t - np.maximum(conv, 0)
        revenue = np.where(payers, self.mrr / spm, 0.0)
        margin = spec.economics.gross_margin * revenue
        disc = self._discount[np.minimum(age, self._discount.size - 1)]
        self.revenue_cum += revenue
        self.ltv += margin * disc
        self.cost_cum += engaged.cost
        self.cost_disc += engaged.cost * disc
        self._expand(spm)
        unaware = np.count_nonzero(self._marketed_stage[stage_before])
        marketing = spec.marketing.cost_per_prospect_month * unaware / spm
        if d.feedback_rate > 0 and self.active.any():
            lift = d.feedback_rate / spm * float(self.engagement[self.active].mean())
            self.product_value += lift * (1.0 - self.product_value)

        # usage and what the company observes
        lam = np.where(self.active, d.visits_per_month / spm * self.engagement, 0.0)
        self.visits = dyn.poisson_from_uniform(lam, u[2])
        noise = d.health_noise * z
        self.health = np.where(
            self.active,
            dyn.observed_health(self.visits, self.onboarding, d.visits_per_month / spm, noise),
            0.0,
        )
        self._record(t, engaged, revenue, margin, converted, churned_now, referred, marketing)

    def _respond(self, r: np.ndarray) -> None:
        d, spm = self.spec.dynamics, self.steps_per_month
        act = self.active
        o, e, s = self.onboarding, self.engagement, self.satisfaction
        k_o = dyn.per_step(d.onboarding_rate, spm)
        g_o = dyn.per_step(d.touch_onboarding_gain, spm)
        complexity = self.traits["complexity"]
        o_new = o + (k_o * (1.0 - complexity) + g_o * r) * (1.0 - o)
        target_e = dyn.engagement_target(self.product_value, o_new, complexity, d.complexity_drag)
        if d.community_strength > 0 and self.network is not None:
            neighbours = self.network @ np.where(act, e, 0.0)
            target_e = (1 - d.community_strength) * target_e + d.community_strength * neighbours
        k_e = dyn.per_step(d.engagement_adjust, spm)
        g_e = dyn.per_step(d.touch_engagement_gain, spm)
        e_new = e + k_e * (target_e - e) + g_e * r * (1.0 - e)
        k_s = dyn.per_step(d.satisfaction_adjust, spm)
        g_s = dyn.per_step(d.touch_satisfaction_gain, spm)
        s_new = s + k_s * (dyn.satisfaction_target(d, e_new) - s) + g_s * r * (1.0 - s)
        self.onboarding = np.where(act, np.clip(o_new, 0.0, 1.0), o)
        self.engagement = np.where(act, np.clip(e_new, 0.0, 1.0), e)
        self.satisfaction = np.where(act, np.clip(s_new, 0.0, 1.0), s)

    def _transitions(
        self, response: np.ndarray, u_move: np.ndarray, u_credit: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """Draw every customer's exit; return the new stages and the referral count."""
        drivers = self._drivers(response)
        pressure = self._pressure()
        new_stage = self.stage.copy()
        order = np.argsort(self.stage, kind="stable")
        bounds = np.cumsum(np.bincount(self.stage, minlength=len(self._out)))
        referred_rows = []
        start = 0
        for s, stop in enumerate(bounds):
            rows = order[start:stop]
            start = stop
            edges = self._out[s]
            if not edges or rows.size == 0:
                continue
            rates, ref_rates = zip(
                *(edge_rate(e, rows, drivers, self._base_logit, pressure) for e in edges),
                strict=True,
            )
            choice, share = choose_exits(list(rates), rows.size, self.steps_per_month, u_move[rows])
            moved = choice >= 0
            targets = np.array([e.target for e in edges], dtype=np.int8)
            new_stage[rows[moved]] = targets[choice[moved]]
            for j, e in enumerate(edges):
                if e.referral <= 0 or pressure is None:
                    continue
                took = choice[moved] == j
                who = rows[moved][took]
                total = np.broadcast_to(rates[j], rows.shape)[moved][took]
                by_ref = np.broadcast_to(ref_rates[j], rows.shape)[moved][took]
                referred_rows.append(who[share[took] < by_ref / total])
        referred = np.concatenate(referred_rows) if referred_rows else np.empty(0, np.int64)
        self._credit_referrers(referred, u_credit)
        return new_stage, int(referred.size)

    def _credit_referrers(self, referred: np.ndarray, u: np.ndarray) -> None:
        """Credit each referral to one referring neighbour, chosen with ``u``.

        Neighbours are chosen in proportion to how strongly each recommends (the same
        weights as the pressure).
        """
        if referred.size == 0:
            return
        weight = self._referral_weight[self.stage] * self.traits["referral_propensity"]
        if self.network is None:  # fully mixed: anyone who recommends
            pool = np.flatnonzero(weight > 0)
            if pool.size:
                cum = np.cumsum(weight[pool])
                pick = np.searchsorted(cum, u[referred] * cum[-1], side="right")
                np.add.at(self.referrals, pool[np.minimum(pick, pool.size - 1)], 1)
            return
        indptr, indices = self.network.indptr, self.network.indices
        lo, hi = indptr[referred], indptr[referred + 1]
        degree = hi - lo
        owner = np.repeat(np.arange(referred.size), degree)
        start = np.cumsum(degree) - degree  # where each customer's neighbours begin
        slots = np.arange(owner.size) - start[owner] + lo[owner]
        neigh = indices[slots]
        w = weight[neigh]
        ok = w > 0
        owner, neigh, w = owner[ok], neigh[ok], w[ok]
        if owner.size == 0:
            return
        cum = np.cumsum(w)
        total = np.bincount(owner, weights=w, minlength=referred.size)
        before = np.cumsum(total) - total  # weight of earlier customers' neighbours
        has = total > 0
        target = before[has] + u[referred[has]] * total[has]
        pick = np.searchsorted(cum, target, side="right")
        last = np.cumsum(np.bincount(owner, minlength=referred.size))[has] - 1
        np.add.at(self.referrals, neigh[np.minimum(pick, last)], 1)

    def _expand(self, spm: float) -> None:
        grow = self.active & self._expands[self.stage]
        if not grow.any():
            return
        econ = self.spec.economics
        rate = econ.expansion_rate / spm
        factor = 1.0 + rate * self.traits["expansion_potential"] * self.engagement
        cap = econ.max_expansion * self.traits["revenue"]
        self.mrr = np.where(grow, np.minimum(self.mrr * factor, cap), self.mrr)

    def _sync_csm_agents(self) -> None:
        for name, team in self.policy.teams.items():
            agents = self.csm_agents.setdefault(name, [])
            while len(agents) < team.headcount:
                agents.append(CSMAgent(self, team, len(agents)))
            while len(agents) > team.headcount:
                agents.pop().remove()

    def _record(
        self,
        t: int,
        engaged: Engagement,
        revenue: np.ndarray,
        margin: np.ndarray,
        converted: np.ndarray,
        churned_now: np.ndarray,
        referred: int,
        marketing: float,
    ) -> None:
        act = np.flatnonzero(self.active)
        n_active = act.size
        ever = int(np.count_nonzero(self.converted_step >= 0))
        visits_pm = float(self.visits[act].mean()) * self.steps_per_month if n_active else 0.0
        satisfaction = self.satisfaction[act]
        counts = np.bincount(self.stage, minlength=len(self.spec.lifecycle.stages))
        acq = float(self.acquisition[converted].sum())
        costs = {f"cost_{k}": float(engaged.costs_by_type.get(k, 0.0)) for k in COST_TYPES}
        costs["cost_acquisition"] = acq
        costs["cost_marketing"] = marketing
        cost_total = sum(costs.values())
        available = engaged.csm_hours_available
        self._csm_hours[0] += engaged.csm_hours_used
        self._csm_hours[1] += available
        m = dict(zip(self.spec.lifecycle.names, counts.tolist(), strict=True))
        m.update(
            month=t / self.steps_per_month,
            prospects=int(np.count_nonzero(self._prospect_stage[self.stage])),
            active=n_active,
            churned=int(np.count_nonzero(self._churned_stage[self.stage])),
            new_customers=int(np.count_nonzero(converted)),
            churned_this_step=int(np.count_nonzero(churned_now)),
            revenue=float(revenue.sum()),
            margin=float(margin.sum()),
            **costs,
            cost_total=cost_total,
            profit=float(margin.sum()) - cost_total,
            engagement_index=engagement_index(n_active, ever, visits_pm),
            visits_per_active=visits_pm,
            nps=nps(recommend_scores(satisfaction)),
            satisfaction_mean=mean_or_nan(satisfaction),
            engagement_mean=mean_or_nan(self.engagement[act]),
            touches=float(engaged.touches.sum()),
            referrals=referred,
            csm_headcount=engaged.csm_headcount,
            csm_utilisation=engaged.csm_hours_used / available if available > 0 else math.nan,
        )
        self.metrics = m
        self.datacollector.collect(self)
        if t >= self.horizon:
            self.running = False

    # ------------------------------------------------------------------------------
    # running and results

    def run(self, progress: Callable[[int, int], None] | None = None) -> EngagementModel:
        """Simulate the whole horizon (``progress(step, total)`` after each step)."""
        while self.steps < self.horizon:
            self.step()
            if progress is not None:
                progress(self.steps, self.horizon)
        return self

    def timeseries(self) -> pd.DataFrame:
        """One row per step: a ``step`` column, stage counts and the step metrics."""
        frame = self.datacollector.get_model_vars_dataframe()
        frame.insert(0, "step", np.arange(1, len(frame) + 1))
        return frame.reset_index(drop=True)

    def customers_frame(self) -> pd.DataFrame:
        """One row per customer: id, segment, traits and outcomes."""
        lc = self.spec.lifecycle
        frame = pd.DataFrame(
            {
                "id": np.arange(self.n),
                "segment": np.array(self.spec.segment_names)[self.segment],
                **{TRAIT_COLUMNS.get(k, k): self.traits[k] for k in TRAITS},
                "final_stage": np.array(lc.names)[self.stage],
                "converted_month": np.where(
                    self.converted_step >= 0, self.converted_step / self.steps_per_month, np.nan
                ),
                "tenure": self.tenure_months,
                "revenue": self.revenue_cum,
                "cost_to_serve": self.cost_cum,
                "acquisition_cost": self.acquisition,
                "ltv": self.ltv,
                "profit": self.ltv - self.cost_disc - self.acquisition,
                "referrals": self.referrals,
            }
        )
        return frame

    def summary(self, seed: int | None = None) -> dict[str, Any]:
        """Run-level results (the contents of ``summary.json``)."""
        ts = self.timeseries()
        conv = self.converted_step >= 0
        new = self.converted_step > 0
        profit = self.ltv - self.cost_disc - self.acquisition
        n_new = int(np.count_nonzero(new))
        acq_total = float(self.acquisition[new].sum()) + float(ts["cost_marketing"].sum())
        cac = acq_total / n_new if n_new else math.nan
        ltv_new = float(self.ltv[new].mean()) if n_new else math.nan
        months_active_new = float(self.tenure_months[new].sum())
        net_new = float((self.ltv[new] - self.cost_disc[new]).sum())
        monthly_net = net_new / months_active_new if months_active_new > 0 else 0.0
        payback = payback_months(cac, monthly_net) if n_new else None
        used, available = self._csm_hours
        out: dict[str, Any] = {
            "scenario": self.spec.name,
            "policy": self.policy.name,
            "seed": seed,
            "customers": self.n,
            "months": self.spec.time.months,
            "step": self.spec.time.step,
            "retention": retention(
                self.converted_step, self.churn_step, self.steps, self.steps_per_month
            ),
            "converted": int(np.count_nonzero(conv)),
            "new_customers": n_new,
            "active": int(np.count_nonzero(self.active)),
            "churned": int(np.count_nonzero(self._churned_stage[self.stage])),
            "ltv_mean": mean_or_nan(self.ltv[conv]),
            "cost_per_customer": mean_or_nan(self.cost_disc[conv]),
            "profit_per_customer": mean_or_nan(profit[conv]),
            "revenue_total": float(self.revenue_cum.sum()),
            "cost_total": float(ts["cost_total"].sum()),
            "profit_total": float(ts["profit"].sum()),
            "cac": cac,
            "ltv_to_cac": ltv_new / cac if n_new and cac > 0 else math.nan,
            "payback_months": payback if n_new else math.nan,
            "nps": float(ts["nps"].iloc[-1]) if len(ts) else math.nan,
            "satisfaction": float(ts["satisfaction_mean"].iloc[-1]) if len(ts) else math.nan,
            "engagement_index": float(ts["engagement_index"].iloc[-1]) if len(ts) else 0.0,
            "csm_utilisation": used / available if available > 0 else math.nan,
            "csm_headcount_mean": float(ts["csm_headcount"].mean()) if len(ts) else 0.0,
            "referrals": int(self.referrals.sum()),
            "segments": self._segment_summary(profit),
            "version": __version__,
        }
        return out

    def _segment_summary(self, profit: np.ndarray) -> dict[str, dict[str, Any]]:
        out = {}
        for k, name in enumerate(self.spec.segment_names):
            mine = (self.segment == k) & (self.converted_step >= 0)
            out[name] = {
                "converted": int(np.count_nonzero(mine)),
                "retention": retention(
                    self.converted_step[mine],
                    self.churn_step[mine],
                    self.steps,
                    self.steps_per_month,
                ),
                "ltv_mean": mean_or_nan(self.ltv[mine]),
                "cost_per_customer": mean_or_nan(self.cost_disc[mine]),
                "profit_per_customer": mean_or_nan(profit[mine]),
            }
        return out


def _reporter(name: str) -> Callable[[EngagementModel], float]:
    def report(model: EngagementModel) -> float:
        return model.metrics[name]

    report.__name__ = f"report_{name}"
    return report
