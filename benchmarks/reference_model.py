"""Reference model: the core engagesim rules as a plain, per-agent Mesa model.

This is the *differential oracle* and the speed baseline of :class:`sim.EngagementModel`.
It restates the same core rules the vectorised model implements over arrays, but the
textbook way: one :class:`mesa.Agent` per customer, every agent stepping itself with
scalar arithmetic, the model calling ``self.agents.shuffle_do("step")``. Agreement with
the vectorised model is statistical (the random streams differ), see
``tests/engine/test_reference_oracle.py``.

Covered, per customer and per step (in the vectorised model's order):

1. digital programs touch the customers in their scope; the dose is
   ``Σ touches per month × effect × digital_affinity × responsiveness`` (per month, so
   the response does not depend on the step length) and the response ``1 − exp(−dose)``;
   touch, set-up and the evenly shared fixed platform cost are charged;
2. onboarding, engagement and satisfaction move (the :mod:`sim.engine.dynamics` formulas);
3. the customer leaves its stage through at most one edge: each edge has the
   logit-linear probability ``p = sigmoid(logit(base) + ln(odds) + Σ β·x)`` with the
   drivers ``x`` read at the midpoint of the step, i.e. the monthly rate
   ``λ = softplus(z)``, plus word of mouth: the additive monthly rate ``q · P`` (``q`` the
   edge's ``referral``, ``P`` the pressure, below); the stage is left with probability
   ``1 − exp(−Σλ / steps_per_month)`` and the edge taken is chosen in proportion to
   ``λ`` (competing risks, :mod:`sim.engine.lifecycle`);
4. conversion resets the customer's state and starts its contract;
5. revenue and margin are booked at period end for customers who were customers at
   both ends of the step, discounted from conversion; revenue expands in expanding
   stages;
6. product visits ~ Poisson and the noisy observed health score are drawn.

Word of mouth on a fully mixed population (``network.kind = "mixed"``): at the start of
each step, before anyone moves, every customer recommends with strength
``referral_weight`` of its stage × its ``referral_propensity``, and the pressure now,
``P_k``, is the mean strength over all customers. The step uses the pressure predicted
for the middle of the step from the last step's change, ``max(P_k + (P_k − P_{k−1}) / 2,
0)`` (``P_k`` itself on the first step), the same for everyone.

The company and its sample: a run simulates ``population.agents`` customers (default:
``population.customers``), each standing for ``weight = customers / agents`` of the
company's; the policy's fixed platform cost is the company's, so the simulated customers
carry ``1 / weight`` of it (shared evenly by the active ones), while per-touch, set-up and
acquisition costs are per customer and not scaled.

The would-recommend score of an active customer with satisfaction ``s`` in a stage of
``referral_weight`` ``w`` is ``round(10 · (s + w · (1 − s)))``; NPS is % of scores 9–10
minus % of scores 0–6 (recorded every step as ``nps``).

Cohort retention (:meth:`ReferenceModel.retention`) is the Kaplan–Meier estimate over
each customer's lifetime since conversion, as :mod:`sim.engine.metrics` defines it, counted
agent by agent.

Left out on purpose: CSM teams and rationing (policies must be digital-only), the
small-world network (word of mouth needs ``network.kind = "mixed"`` or ``"none"``), the
community pull on engagement, and who is credited with a referral. The scenario, its
validation and the per-customer trait sampling (including the annual → monthly churn
conversion) are reused from :mod:`sim.engine.scenario` and :mod:`sim.engine.segments`.

Example::

    from benchmarks.reference_model import ReferenceModel
    model = ReferenceModel("default", "no_touch", rng=1, customers=2000, months=24,
                           overrides={"network.kind": "mixed"}).run()
    model.summary()["retention"]["12"]
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mesa
import numpy as np

from sim.engine.policies import PolicySpec
from sim.engine.scenario import Scenario, load_scenario
from sim.engine.segments import TRAITS, sample_population

#: Probabilities are clipped to [P_MIN, 1 − P_MIN] before taking their logit.
P_MIN = 1e-12

#: Months at which :meth:`ReferenceModel.summary` reports cohort retention.
RETENTION_MONTHS = (3, 6, 12, 24)


def clip01(x: float) -> float:
    """Clip ``x`` to [0, 1]."""
    return min(max(x, 0.0), 1.0)


def logit(p: float) -> float:
    """Log-odds of the probability ``p`` (clipped away from 0 and 1)."""
    p = min(max(p, P_MIN), 1.0 - P_MIN)
    return math.log(p) - math.log1p(-p)


def softplus(z: float) -> float:
    """``ln(1 + e^z)``, computed without overflow; equals ``−ln(1 − sigmoid(z))``."""
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def per_step(rate_per_month: float, steps_per_month: float) -> float:
    """Per-step share-of-gap rate equivalent to a monthly one."""
    return 1.0 - (1.0 - rate_per_month) ** (1.0 / steps_per_month)


class ReferenceCustomer(mesa.Agent):
    """One customer: its segment, fixed traits and lifecycle state.

    Args:
        model: The model.
        segment: Index of the customer's segment.
        traits: Trait name → value (see :data:`sim.engine.segments.TRAITS`).
        stage: Index of the stage the customer starts in.
    """

    model: ReferenceModel

    def __init__(self, model: ReferenceModel, segment: int, traits: dict[str, float], stage: int):
        super().__init__(model)
        spec = model.spec
        stage_spec = spec.lifecycle.stages[stage]
        self.segment = segment
        self.traits = traits
        self.churn_logit = logit(traits["churn_propensity"])
        self.acquisition_cost = spec.segments[segment].acquisition_cost
        self.stage = stage
        self.active = stage_spec.kind == "customer"
        self.steps_in_stage = 0
        self.set_up: set[str] = set()  # programs whose set-up cost was paid
        if self.active:  # installed base
            d = spec.dynamics
            self.onboarding = stage_spec.initial_onboarding
            self.engagement = (
                model.product_value
                * (0.3 + 0.7 * self.onboarding)
                * (1.0 - d.complexity_drag * traits["complexity"])
            )
            self.satisfaction = clip01(d.satisfaction_base + d.satisfaction_slope * self.engagement)
            self.health = 0.8 * self.engagement + 0.2 * self.onboarding
            self.converted_step = 0
            self.mrr = traits["revenue"]
        else:
            self.onboarding = self.engagement = self.satisfaction = self.health = 0.0
            self.converted_step = -1
            self.mrr = 0.0
        self.churn_step = -1
        self.visits = 0
        self.acquisition = 0.0
        self.revenue_cum = 0.0
        self.ltv = 0.0
        self.cost_cum = 0.0
        self.cost_disc = 0.0

    # ------------------------------------------------------------------------------

    def step(self) -> None:
        """Advance this customer by one step."""
        model = self.model
        spec, spm, t = model.spec, model.steps_per_month, model.steps
        d = spec.dynamics
        was_active = self.active
        stage_before = self.stage

        # 1. the policy's digital programs
        response, touches, cost = self.engage()

        # 2. onboarding, engagement and satisfaction respond
        before = (self.engagement, self.satisfaction, self.onboarding)
        if self.active:
            self.respond(response)
        mid_e = 0.5 * (before[0] + self.engagement)
        mid_s = 0.5 * (before[1] + self.satisfaction)
        mid_o = 0.5 * (before[2] + self.onboarding)

        # 3. at most one lifecycle edge (competing risks)
        drivers = {
            "engagement": mid_e - 0.5,
            "satisfaction": mid_s - 0.5,
            "onboarding": mid_o - 0.5,
            "health": self.health - 0.5,
            "touch": response,
            "months_in_stage": self.steps_in_stage / (12.0 * spm),
            "tenure": self.tenure_months() / 12.0,
        }
        new_stage = self.choose_exit(drivers)

        # 4. move
        stage_spec = spec.lifecycle.stages[new_stage]
        changed = new_stage != stage_before
        self.stage = new_stage
        self.steps_in_stage = 0 if changed else self.steps_in_stage + 1
        self.active = stage_spec.kind == "customer"
        converted = changed and self.active and self.converted_step < 0
        if changed and stage_spec.kind == "churned":
            if self.churn_step < 0:  # retention and tenure count to the first churn
                self.churn_step = t
            model.tally["churned_this_step"] += 1
        if converted:
            self.converted_step = t
            self.onboarding = 0.0
            self.engagement = d.new_customer_engagement
            self.satisfaction = d.new_customer_satisfaction
            self.mrr = self.traits["revenue"]
            self.acquisition = self.acquisition_cost
            model.tally["new_customers"] += 1
            model.tally["cost_acquisition"] += self.acquisition_cost

        # 5. money, booked at period end and discounted from conversion
        econ = spec.economics
        revenue = self.mrr / spm if (was_active and self.active) else 0.0
        margin = econ.gross_margin * revenue
        age = t - max(self.converted_step, 0)
        discount = (1.0 + econ.annual_discount_rate) ** (-age / (12.0 * spm))
        self.revenue_cum += revenue
        self.ltv += margin * discount
        self.cost_cum += cost
        self.cost_disc += cost * discount
        if self.active and stage_spec.expands:
            growth = econ.expansion_rate / spm * self.traits["expansion_potential"]
            cap = econ.max_expansion * self.traits["revenue"]
            self.mrr = min(self.mrr * (1.0 + growth * self.engagement), cap)
        model.tally["revenue"] += revenue
        model.tally["margin"] += margin
        model.tally["touches"] += touches

        # 6. usage and the health score the company observes
        if self.active:
            visits_per_step = d.visits_per_month / spm
            self.visits = int(model.rng.poisson(visits_per_step * self.engagement))
            usage = min(self.visits / visits_per_step, 1.0)
            noise = d.health_noise * model.rng.standard_normal()
            self.health = clip01(0.8 * usage + 0.2 * self.onboarding + noise)
        else:
            self.visits = 0
            self.health = 0.0

    def engage(self) -> tuple[float, float, float]:
        """Apply the policy's digital programs; return ``(response, touches, cost)``."""
        model = self.model
        spm = model.steps_per_month
        dose = touches = cost = 0.0
        for p in model.policy.programs:
            if self.stage not in p.stages or self.segment not in p.segments:
                continue
            if p.min_revenue > 0 and self.mrr < p.min_revenue:
                continue
            if p.health_below is not None and self.health >= p.health_below:
                continue
            wanted = p.touches_per_month / spm  # touches this step
            fit = self.traits["digital_affinity"]
            # the dose is measured per month, so the response is step-length invariant
            dose += p.touches_per_month * p.effect * fit * self.traits["responsiveness"]
            touches += wanted
            cost += wanted * p.cost_per_touch
            model.tally["cost_touch"] += wanted * p.cost_per_touch
            if p.setup_cost > 0 and wanted > 0 and p.name not in self.set_up:
                self.set_up.add(p.name)  # once per customer and program
                cost += p.setup_cost
                model.tally["cost_setup"] += p.setup_cost
        if self.active:
            cost += model.fixed_cost_share
        return 1.0 - math.exp(-dose), touches, cost

    def respond(self, r: float) -> None:
        """Move onboarding, engagement and satisfaction given the touch response ``r``."""
        model = self.model
        d, spm = model.spec.dynamics, model.steps_per_month
        c = self.traits["complexity"]
        o, e, s = self.onboarding, self.engagement, self.satisfaction
        k_o = per_step(d.onboarding_rate, spm)
        g_o = per_step(d.touch_onboarding_gain, spm)
        o_new = o + (k_o * (1.0 - c) + g_o * r) * (1.0 - o)
        target_e = model.product_value * (0.3 + 0.7 * o_new) * (1.0 - d.complexity_drag * c)
        e_new = (
            e
            + per_step(d.engagement_adjust, spm) * (target_e - e)
            + per_step(d.touch_engagement_gain, spm) * r * (1.0 - e)
        )
        target_s = clip01(d.satisfaction_base + d.satisfaction_slope * e_new)
        s_new = (
            s
            + per_step(d.satisfaction_adjust, spm) * (target_s - s)
            + per_step(d.touch_satisfaction_gain, spm) * r * (1.0 - s)
        )
        self.onboarding = clip01(o_new)
        self.engagement = clip01(e_new)
        self.satisfaction = clip01(s_new)

    def choose_exit(self, drivers: dict[str, float]) -> int:
        """Draw the stage this customer is in after this step's competing exits."""
        model = self.model
        edges = model.out_edges[self.stage]
        if not edges:
            return self.stage
        rates = []
        for edge in edges:
            if edge.base_source == "churn_propensity":
                z = self.churn_logit
            elif edge.base_source == "marketing":
                z = model.marketing_logit
            else:
                z = logit(edge.base)
            z += math.log(edge.odds)
            for name, beta in edge.drivers:
                z += beta * drivers[name]
            rate = softplus(z)  # monthly rate of the logit-linear probability
            if edge.referral > 0.0:  # word of mouth: an additive monthly rate q · P
                rate += edge.referral * model.pressure
            rates.append(rate / model.steps_per_month)
        total = sum(rates)
        if model.rng.random() >= 1.0 - math.exp(-total):
            return self.stage
        pick = model.rng.random() * total
        for edge, rate in zip(edges, rates, strict=True):
            pick -= rate
            if pick < 0.0:
                return edge.target
        return edges[-1].target

    def tenure_months(self) -> float:
        """Months since conversion (frozen at churn; 0 for prospects)."""
        if self.converted_step < 0:
            return 0.0
        end = self.churn_step if self.churn_step >= 0 else self.model.steps
        return (end - self.converted_step) / self.model.steps_per_month

    def lifetime(self) -> tuple[int, bool] | None:
        """``(steps observed since conversion, whether it churned then)``; None: never bought.

        A customer who churned is observed until its (first) churn; one still a customer
        is observed until now (right-censored).
        """
        if self.converted_step < 0:
            return None
        if self.churn_step >= 0:
            return self.churn_step - self.converted_step, True
        return self.model.steps - self.converted_step, False


class ReferenceModel(mesa.Model):
    """The per-agent reference implementation of the engagesim core rules.

    Args:
        scenario: A :class:`~sim.engine.scenario.Scenario`, a shipped scenario name or a path.
        policy: The name of a policy of the scenario, or a :class:`~sim.engine.policies.PolicySpec`,
            made of digital programs only.
        rng: Seed or generator for the run's ``numpy.random.Generator`` (Mesa's ``rng``).
        customers: Override the company's size (``population.customers``).
        months: Override the scenario's horizon.
        agents: Override how many customers the run simulates (``population.agents``).
        overrides: Further dotted-key scenario overrides (e.g. ``{"network.kind": "mixed"}``).

    Attributes:
        n: Customer agents simulated.
        weight: Company customers each agent stands for (``customers / agents``).
        pressure: The word-of-mouth pressure this step's hazards use (0 without it).

    Raises:
        ValueError: The scenario or policy uses a mechanism the reference leaves out
            (CSM channels, word of mouth on a small-world network, the community pull).
    """

    def __init__(
        self,
        scenario: Scenario | str | Path = "default",
        policy: str | PolicySpec = "no_touch",
        *,
        rng: Any = None,
        customers: int | None = None,
        months: int | None = None,
        agents: int | None = None,
        overrides: Mapping[str, Any] | None = None,
    ):
        super().__init__(rng=rng)
        if not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        extra = dict(overrides or {})
        if customers is not None:
            extra["population.customers"] = customers
        if months is not None:
            extra["time.months"] = months
        if agents is not None:
            extra["population.agents"] = agents
        if extra:
            scenario = scenario.with_overrides(extra)
        self.spec = scenario
        self.policy = scenario.policies[policy] if isinstance(policy, str) else policy
        self._check_supported()
        population = scenario.population
        self.n = population.customers if population.agents is None else population.agents
        self.weight = population.customers / self.n
        self.steps_per_month = scenario.time.steps_per_month
        self.horizon = scenario.time.steps
        lc = scenario.lifecycle
        self.out_edges = [lc.out_edges(s) for s in range(len(lc.stages))]
        self.marketing_logit = logit(scenario.marketing.awareness_rate)
        self.product_value = scenario.dynamics.product_value
        self.fixed_cost_share = 0.0
        self.tally: dict[str, float] = {}
        self.word_of_mouth = scenario.network.kind == "mixed" and any(
            e.referral > 0 for e in lc.edges
        )
        self.pressure = 0.0
        self._pressure_before: float | None = None

        # the population: traits per customer (same sampler as the product), start stages
        segment, traits = sample_population(self.rng, scenario.segments, self.n)
        stages, shares = zip(*scenario.population.initial_stages, strict=True)
        start = self.rng.choice(np.array(stages, dtype=np.int8), size=self.n, p=np.array(shares))
        for i in range(self.n):
            ReferenceCustomer(
                self,
                int(segment[i]),
                {name: float(traits[name][i]) for name in TRAITS},
                int(start[i]),
            )

        self.metrics: dict[str, float] = {}
        reporters = {name: _reporter(name) for name in (*lc.names, *STEP_METRICS)}
        self.datacollector = mesa.DataCollector(model_reporters=reporters)

    def _check_supported(self) -> None:
        spec = self.spec
        for p in self.policy.programs:
            if p.channel != "digital":
                raise ValueError(
                    f"program {p.name!r} uses the {p.channel!r} channel; the reference "
                    "model supports digital programs only"
                )
        wom = any(e.referral > 0 for e in spec.lifecycle.edges)
        if wom and spec.network.kind not in ("mixed", "none"):
            raise ValueError(
                "the reference model has word of mouth on a fully mixed population only: "
                "override network.kind to 'mixed' or 'none'"
            )
        if spec.dynamics.community_strength > 0 and spec.network.kind == "small_world":
            raise ValueError("the reference model has no community pull on engagement")

    # ------------------------------------------------------------------------------

    def step(self) -> None:
        """Advance every customer by one step, then record the step's metrics."""
        spm = self.steps_per_month
        lc = self.spec.lifecycle
        self.tally = dict.fromkeys(TALLIES, 0.0)
        customers = [a for a in self.agents if a.active]
        # the platform is the company's: the sample carries 1 / weight of its cost
        fixed = self.policy.fixed_cost_per_month / spm / self.weight
        self.fixed_cost_share = fixed / len(customers) if customers else 0.0
        if self.word_of_mouth:
            self.pressure = self._midstep_pressure()
        marketed = {e.source for e in lc.edges if e.base_source == "marketing"}
        prospects_marketed = sum(1 for a in self.agents if a.stage in marketed)

        self.agents.shuffle_do("step")

        d = self.spec.dynamics
        active = [a for a in self.agents if a.active]
        if d.feedback_rate > 0 and active:
            mean_e = sum(a.engagement for a in active) / len(active)
            self.product_value += d.feedback_rate / spm * mean_e * (1.0 - self.product_value)
        marketing = self.spec.marketing.cost_per_prospect_month * prospects_marketed / spm
        self._record(active, fixed, marketing)
        if self.steps >= self.horizon:
            self.running = False

    def _midstep_pressure(self) -> float:
        """The pressure for this step: now, extrapolated half a step along its last change."""
        stages = self.spec.lifecycle.stages
        now = sum(
            stages[a.stage].referral_weight * a.traits["referral_propensity"] for a in self.agents
        ) / self.n
        before, self._pressure_before = self._pressure_before, now
        if before is None:  # the first step has no change to extrapolate
            return now
        return max(now + 0.5 * (now - before), 0.0)

    def _record(self, active: list[ReferenceCustomer], fixed: float, marketing: float) -> None:
        lc = self.spec.lifecycle
        counts = [0] * len(lc.stages)
        for a in self.agents:
            counts[a.stage] += 1
        churned = sum(c for c, s in zip(counts, lc.stages, strict=True) if s.kind == "churned")
        tally = self.tally
        cost_total = (
            fixed
            + tally["cost_touch"]
            + tally["cost_setup"]
            + tally["cost_acquisition"]
            + marketing
        )
        m: dict[str, float] = dict(zip(lc.names, counts, strict=True))
        m.update(
            month=self.steps / self.steps_per_month,
            active=len(active),
            churned=churned,
            new_customers=tally["new_customers"],
            churned_this_step=tally["churned_this_step"],
            revenue=tally["revenue"],
            margin=tally["margin"],
            cost_total=cost_total,
            profit=tally["margin"] - cost_total,
            touches=tally["touches"],
            engagement_mean=_mean([a.engagement for a in active]),
            satisfaction_mean=_mean([a.satisfaction for a in active]),
            nps=self.nps(active),
        )
        self.metrics = m
        self.datacollector.collect(self)

    def nps(self, active: list[ReferenceCustomer]) -> float:
        """Net Promoter Score of the active customers (``nan`` when there are none)."""
        if not active:
            return math.nan
        stages = self.spec.lifecycle.stages
        promoters = detractors = 0
        for a in active:
            w = stages[a.stage].referral_weight
            score = round(10.0 * (a.satisfaction + w * (1.0 - a.satisfaction)))
            promoters += score >= 9
            detractors += score <= 6
        return 100.0 * (promoters - detractors) / len(active)

    def run(self) -> ReferenceModel:
        """Simulate the whole horizon."""
        while self.steps < self.horizon:
            self.step()
        return self

    # ------------------------------------------------------------------------------

    def stage_counts(self) -> dict[str, int]:
        """Number of customers in each stage now."""
        names = self.spec.lifecycle.names
        counts = dict.fromkeys(names, 0)
        for a in self.agents:
            counts[names[a.stage]] += 1
        return counts

    def retention(self, months: float) -> float:
        """Share of customers still customers ``months`` after converting (Kaplan–Meier).

        Customers convert at different times, so later ones are observed for fewer steps;
        the product-limit estimate uses each for as long as it is observed:
        ``S(k) = Π_{j ≤ k} (1 − churned at j / at risk at j)``. Returns ``nan`` when
        nobody has been observed that long.
        """
        k = round(months * self.steps_per_month)
        bought = [a for a in self.agents if a.converted_step >= 0]
        if k > self.steps or not any(self.steps - a.converted_step >= k for a in bought):
            return math.nan
        lifetimes = [a.lifetime() for a in bought]
        leaves = Counter(length for length, _ in lifetimes)  # last step at risk
        churns = Counter(length for length, churned in lifetimes if churned)
        at_risk = len(lifetimes)
        share = 1.0
        for j in range(1, k + 1):
            at_risk -= leaves[j - 1]
            if at_risk:
                share *= 1.0 - churns[j] / at_risk
        return share

    def summary(self) -> dict[str, Any]:
        """Run-level results, named as in :meth:`sim.EngagementModel.summary`.

        Counts and means are the simulated customers'; ``revenue_total`` is the company's.
        """
        customers = list(self.agents)
        converted = [a for a in customers if a.converted_step >= 0]
        active = [a for a in customers if a.active]
        retention = {}
        for m in RETENTION_MONTHS:
            value = self.retention(m)
            if not math.isnan(value):
                retention[str(m)] = value
        return {
            "customers": self.spec.population.customers,
            "agents": self.n,
            "months": self.spec.time.months,
            "retention": retention,
            "converted": len(converted),
            "active": len(active),
            "churned": self.metrics.get("churned", 0),
            "engagement_mean": _mean([a.engagement for a in active]),
            "ltv_mean": _mean([a.ltv for a in converted]),
            "cost_per_customer": _mean([a.cost_disc for a in converted]),
            # the company's revenue: each simulated customer stands for weight of its own
            "revenue_total": sum(a.revenue_cum for a in customers) * self.weight,
            "nps": self.metrics.get("nps", math.nan),
        }


#: Per-step totals the customers add to while stepping.
TALLIES = (
    "new_customers",
    "churned_this_step",
    "revenue",
    "margin",
    "touches",
    "cost_touch",
    "cost_setup",
    "cost_acquisition",
)

#: Per-step metrics recorded by the DataCollector (besides one count per stage).
STEP_METRICS = (
    "month",
    "active",
    "churned",
    "new_customers",
    "churned_this_step",
    "revenue",
    "margin",
    "cost_total",
    "profit",
    "touches",
    "engagement_mean",
    "satisfaction_mean",
    "nps",
)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _reporter(name: str):
    def report(model: ReferenceModel) -> float:
        return model.metrics[name]

    report.__name__ = f"report_{name}"
    return report
