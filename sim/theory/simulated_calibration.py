"""Calibrating a scenario's churn to a cohort table through the simulation itself.

:mod:`sim.theory.calibration` fits the shifted-beta-geometric model to a table, which is
the simulated retention only on a churn edge without odds or drivers. On a scenario's
real edges the drivers (satisfaction, engagement, onboarding) and the policy's touches
move churn away from the base, so the sBG fragment does not carry through.
:func:`calibrate_to_simulation` closes that gap: for a chosen policy it searches the
Beta ``(alpha, beta)`` of each mapped segment's ``churn_propensity`` such that the
**simulated** retention of that segment reproduces the table at every period, and
:func:`calibrated_scenario_text` writes the scenario that does it (the input scenario
with those churn propensities replaced).

**How the simulation is measured (the cohort).** A table counts the customers of a
cohort alive ``k`` periods after they started. The run that matches it
(:func:`cohort`) has only the segment being calibrated (its share set to 1), and, when
the scenario has prospects, starts every agent in the prospect stages that convert
(those with an edge into a customer stage, e.g. ``consideration``) with those edges
made near-certain (:data:`CONVERSION`, no odds, drivers or word of mouth): the whole
cohort converts in the first step, as the customers of one acquisition month, and is
measured from its conversion by Kaplan–Meier (:class:`sim.engine.metrics.RiskTable`)
exactly as the engine reports retention (the few who do not convert at once are
followed from their own conversion, or censored). How a prospect converts does not
change what happens after: every new customer starts in the scenario's new-customer
state (``dynamics.new_customer_*``), goes through onboarding and gets the policy's
touches as in any run. The scenario's installed base is left out on purpose: it starts
mid-life (settled engagement, later stages, lower-churn edges), so it is not a cohort
"since conversion", and mixing it in (as the run summary's per-segment retention does)
would make the fit depend on the initial stage shares. A scenario without prospect
stages has no conversions; its installed base (converted at step 0) is then the cohort.
What a cohort run leaves out: the load the rest of the company puts on a CSM team of
fixed headcount, and word of mouth (it moves prospects, not churn).

Period 0 of the table is the start of the first month in which a new customer *can*
churn: the lifecycle's shortest path from the stage customers convert into to a churned
stage, less one step (:attr:`Cohort.lag`). In the default scenario ``purchase`` has no
churn exit (the deal is closed; onboarding starts the month after), so a new customer's
retention one month after purchase is 100 % whatever its churn propensity; a real table
starts its clock at first billing/go-live, when churn is possible, which is one month
later. For the installed-base case the lag is 0.

**The fit.** Evaluations use common random numbers (the same seed every time), so the
simulated curve moves smoothly-ish with the parameters. The search runs on
``x = (logit mean, log(alpha + beta))`` of the Beta:

1. start from the sBG fit of the table (:func:`sim.theory.sbg.fit_sbg`; its mean and
   concentration); check the table is reachable: at almost zero base churn
   (``mean = 1e-6``) the segment must keep at least the table's final retention, and at
   almost certain churn (``mean = 0.99``) no more; otherwise :class:`InputError` says
   which segment and the best the simulation can do;
2. a 1-D root (:func:`scipy.optimize.brentq`) on the mean, keeping the sBG
   concentration, matches the final period;
3. least squares (:func:`scipy.optimize.least_squares`) on both, on the residuals
   ``(S_sim(k) − S_table(k)) / SE(k)`` at every period, where ``SE(k)² = S(1 − S) ·
   (1 / n_table + 1 / n_sim(k))`` with the table's cohort size and the simulated
   customers observed at ``k``;
4. when a |z| is still above 2.4, Nelder–Mead on the largest |z| itself (the criterion):
   a Beta cannot bend the simulated curve into every table's shape (the default
   scenario's onboarding, for one, churns more in the first months than later), and
   least squares spreads such a misfit of shape instead of capping it.

The fitted parameters are then checked on a run with a *fresh* seed (independent of the
fit's), with ``z(k) = (S_sim(k) − S_table(k)) / sqrt(SE_table(k)² + SE_sim(k)²)``
(binomial SE of the table, Greenwood SE of the simulation). The fit must reach
``max |z| ≤ 4`` (:data:`Z_LIMIT`) on its own seed, or the table cannot be reached and
:class:`InputError` gives the best max |z|.

Typical use::

    from sim.theory.simulated_calibration import calibrate_to_simulation

    result = calibrate_to_simulation(
        "scenarios/cohorts_example.csv", "default", "no_touch", seed=1
    )
    result.segments["smb"].alpha, result.segments["smb"].check.max_abs_z
    write_simulated_outputs(result, Path("fit.json"))   # fit.json + fit.toml (scenario)
"""

from __future__ import annotations

import copy
import json
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize, sparse, special
from scipy.sparse import csgraph

from sim.engine.metrics import RiskTable
from sim.engine.model import EngagementModel, make_policy
from sim.engine.scenario import Scenario, from_dict, load_scenario, resolve
from sim.engine.segments import ANNUAL_FORMS
from sim.files import atomic_write_text, json_text, jsonable
from sim.schema import InputError
from sim.theory.calibration import fragment_path, monthly_beta
from sim.theory.cohorts import read_table
from sim.theory.sbg import fit_sbg

#: Largest |z| at any period for a fit to count as reproducing the table.
Z_LIMIT = 4.0
#: Agents simulated per cohort by default.
DEFAULT_AGENTS = 10_000
#: Simulations per segment the least-squares step may use (besides the root's).
MAX_EVALUATIONS = 30
#: Simulations the last step may use to lower the largest |z| (Nelder–Mead), which runs
#: when least squares leaves a |z| above ``MINIMAX_FROM × Z_LIMIT``.
MINIMAX_EVALUATIONS = 24
MINIMAX_FROM = 0.6
#: Simulations per segment the 1-D root may use.
ROOT_EVALUATIONS = 14
#: The Beta means probed for reachability: almost no and almost certain base churn.
MEAN_BOUNDS = (1e-6, 0.99)
#: Monthly probability of the edges into customer stages in a cohort run (the whole
#: cohort converts in its first step or so; see :func:`cohort`).
CONVERSION = 0.999
#: Bounds of log(alpha + beta) in the search.
LOG_CONCENTRATION = (math.log(0.05), math.log(1e4))
#: The value of ``SimulatedCalibration.model``.
MODEL = "simulation"


# ----------------------------------------------------------------------------------
# the cohort run


@dataclass(frozen=True)
class Cohort:
    """How one segment's retention is measured in the simulation.

    Attributes:
        raw: The cohort scenario as a raw table (only the calibrated segment, agents in
            the converting prospect stages, conversion near-certain); its churn
            propensity is set per evaluation.
        file: The scenario file (for messages and :func:`from_dict`).
        policy: The policy simulated.
        segment: The scenario segment calibrated.
        agents: Agents per run.
        new_only: Measure only the customers who convert during the run (``False``:
            the scenario has no prospects, the installed base is the cohort).
        lag: Steps from conversion to the first step in which a customer can churn.
        reads: Step after conversion (less ``lag``) at which each table period is read.
        steps: Steps simulated.
    """

    raw: Mapping[str, Any]
    file: str
    policy: str
    segment: str
    agents: int
    new_only: bool
    lag: int
    reads: tuple[int, ...]
    steps: int

    def scenario(self, alpha: float, beta: float) -> Scenario:
        """The cohort scenario with the segment's churn propensity Beta(alpha, beta)."""
        return from_dict(with_churn(self.raw, self.segment, alpha, beta), self.file,
                         name="cohort")


#: The key that states a segment's churn per year instead of ``churn_propensity``.
ANNUAL_CHURN = ANNUAL_FORMS["churn_propensity"]


def with_churn(raw: Mapping[str, Any], segment: str, alpha: float, beta: float
               ) -> dict[str, Any]:
    """A copy of a raw scenario with ``segments.SEGMENT.churn_propensity`` a Beta.

    An annual form of the churn (if the segment states one) is dropped: the monthly
    Beta replaces it.
    """
    data = copy.deepcopy(dict(raw))
    table = data["segments"][segment]
    table.pop(ANNUAL_CHURN, None)
    table["churn_propensity"] = {"dist": "beta", "alpha": float(alpha), "beta": float(beta)}
    return data


def _hops_to_churn(scenario: Scenario) -> np.ndarray:
    """Fewest edges from each stage to a churned stage (``inf`` where none leads there)."""
    lc = scenario.lifecycle
    n = len(lc.stages)
    graph = sparse.csr_array(
        (np.ones(len(lc.edges)), ([e.source for e in lc.edges], [e.target for e in lc.edges])),
        shape=(n, n),
    )
    hops = csgraph.shortest_path(graph, directed=True, unweighted=True)
    churned = lc.kind_mask("churned")
    return hops[:, churned].min(axis=1) if churned.any() else np.full(n, np.inf)


def cohort(
    scenario: Scenario,
    policy: str,
    segment: str,
    periods: int,
    *,
    period_months: float = 1.0,
    agents: int = DEFAULT_AGENTS,
) -> Cohort:
    """The run that measures ``segment``'s retention the way a cohort table does.

    See the module docstring: only that segment, agents starting in the prospect stages
    that convert and converting at once (or the installed base when there are no
    prospects), read at each period after the lifecycle's no-churn lag.

    Args:
        scenario: The scenario.
        policy: The policy simulated.
        segment: The scenario segment.
        periods: The table's last period K.
        period_months: Months per period of the table.
        agents: Agents per run.

    Raises:
        InputError: ``segment`` is not a segment of the scenario, or no customer stage
            leads to churn, or the cohort run does not load (a stage only reachable
            from a prospect stage that does not convert).
    """
    if segment not in scenario.segment_names:
        raise InputError(scenario.source, f"segments.{segment}",
                         f"no such segment; the scenario has {', '.join(scenario.segment_names)}")
    lc = scenario.lifecycle
    prospect, customer = lc.kind_mask("prospect"), lc.kind_mask("customer")
    converting = sorted({e.source for e in lc.edges if prospect[e.source] and customer[e.target]})
    hops = _hops_to_churn(scenario)
    if converting:
        entry = sorted({e.target for e in lc.edges
                        if e.source in converting and customer[e.target]})
    else:
        entry = [i for i, share in scenario.population.initial_stages if share > 0 and customer[i]]
    lag = float(hops[entry].min()) - 1 if entry else math.inf
    if not math.isfinite(lag):
        raise InputError(scenario.source, "lifecycle.edges",
                         "no customer stage leads to a churned stage: there is no churn to "
                         "calibrate")
    spm = scenario.time.steps_per_month
    reads = tuple(round(k * period_months * spm) for k in range(periods + 1))
    lag_steps = int(lag)  # a customer takes at most one edge per step
    raw = copy.deepcopy(dict(scenario.raw))
    for name in raw["segments"]:
        raw["segments"][name]["share"] = 1.0 if name == segment else 0.0
    population = raw["population"]
    population["customers"] = int(agents)
    if "agents" in population:
        population["agents"] = int(agents)
    lead = 0
    if converting:
        population["initial_stages"] = {lc.stages[i].name: 1.0 / len(converting)
                                        for i in converting}
        for i, edge in enumerate(lc.edges):
            if edge.source in converting and customer[edge.target]:
                raw_edge = raw["lifecycle"]["edges"][i]
                for key in ("odds", "drivers", "referral"):
                    raw_edge.pop(key, None)
                raw_edge["base"] = CONVERSION
        lead = math.ceil(spm)  # a month for the few who do not convert in the first step
    raw.setdefault("time", {})["months"] = math.ceil((lead + lag_steps + reads[-1]) / spm) + 1
    try:
        from_dict(raw, scenario.source, name="cohort")
    except InputError as exc:
        raise InputError(scenario.source, exc.key,
                         f"the cohort run of segment {segment!r} (agents starting in "
                         f"{', '.join(population['initial_stages'])}) does not load: "
                         f"{exc.problem}") from None
    steps = round(raw["time"]["months"] * spm)
    return Cohort(raw, scenario.source, policy, segment, int(agents), bool(converting),
                  int(lag_steps), reads, steps)


@dataclass(frozen=True)
class SimulatedRetention:
    """A cohort's simulated retention at the table's periods.

    Attributes:
        retention: Share retained at periods 0..K (Kaplan–Meier, from the first step
            a customer can churn).
        se: Greenwood's standard error at each period.
        observed: Customers observed at each period.
    """

    retention: np.ndarray
    se: np.ndarray
    observed: np.ndarray


def simulate_retention(
    cohort_run: Cohort, alpha: float, beta: float, seed: np.random.SeedSequence | int
) -> SimulatedRetention:
    """Run the cohort with churn propensity Beta(alpha, beta) and read its retention.

    Args:
        cohort_run: What :func:`cohort` returned.
        alpha: α of the segment's churn propensity.
        beta: β of it.
        seed: The run's seed (the same seed gives common random numbers).

    Raises:
        InputError: Nobody of the segment is observed for the table's periods.
    """
    return scenario_retention(cohort_run, cohort_run.scenario(alpha, beta), seed)


def scenario_retention(
    cohort_run: Cohort, scenario: Scenario, seed: np.random.SeedSequence | int
) -> SimulatedRetention:
    """Run a cohort scenario as given (its churn as it states it) and read its retention.

    :func:`simulate_retention` with the segment's churn stated any other way, e.g. an
    ``annual_churn`` (``engagesim init`` calibrates that one).

    Args:
        cohort_run: What :func:`cohort` returned (what is read, and the policy).
        scenario: ``cohort_run.raw`` with the segment's churn set, loaded by
            :func:`sim.engine.scenario.from_dict`.
        seed: The run's seed (the same seed gives common random numbers).

    Raises:
        InputError: Nobody of the segment is observed for the table's periods.
    """
    model = EngagementModel(scenario, cohort_run.policy, rng=np.random.default_rng(seed)).run()
    conv = model.converted_step
    mine = conv > 0 if cohort_run.new_only else conv >= 0
    table = RiskTable.of(conv[mine], model.churn_step[mine], model.steps)
    curve = table.curve()
    steps = [cohort_run.lag + r for r in cohort_run.reads]
    observed = table.observed[steps]
    if observed[-1] <= 0:
        raise InputError(cohort_run.file, f"segments.{cohort_run.segment}",
                         f"no customer is observed {cohort_run.reads[-1]} steps after "
                         f"converting in a run of {cohort_run.agents} agents; simulate more")
    start = curve[cohort_run.lag]
    retention = curve[steps] / start
    se = np.array([table.greenwood_se(k) for k in steps]) / start
    return SimulatedRetention(retention, se, observed)


def simulate_table(
    cohort_run: Cohort, alpha: float, beta: float, seed: np.random.SeedSequence | int
) -> np.ndarray:
    """A cohort table drawn from the simulation: alive counts at the table's periods.

    Only the customers observed for all the periods count (those who converted early
    enough), so the counts are those of one uncensored cohort: at period ``k``, how many
    of them are still customers (from the first step they can churn, as
    :func:`simulate_retention` reads it). What tests and the validation calibrate to.

    Args:
        cohort_run: The segment's cohort run (:func:`cohort`).
        alpha: α of the segment's churn propensity.
        beta: β of it.
        seed: The run's seed.

    Returns:
        An ``int64`` array of alive counts at periods 0..K.
    """
    model = EngagementModel(cohort_run.scenario(alpha, beta), cohort_run.policy,
                            rng=np.random.default_rng(seed)).run()
    conv, churn = model.converted_step, model.churn_step
    first = 1 if cohort_run.new_only else 0
    start = conv + cohort_run.lag
    whole = (conv >= first) & (start + cohort_run.reads[-1] <= model.steps)
    lifetime = np.where(churn >= 0, churn - start, np.iinfo(np.int32).max)[whole]
    return np.array([np.count_nonzero(lifetime > k) for k in cohort_run.reads], np.int64)


# ----------------------------------------------------------------------------------
# the fit


@dataclass(frozen=True)
class Comparison:
    """Table vs simulated retention at every period of a table.

    Attributes:
        seed: The run's seed (entropy of its ``SeedSequence`` and its spawn key).
        table: The table's retention at periods 0..K.
        simulated: The simulated retention.
        z: ``(simulated − table) / sqrt(SE_table² + SE_sim²)`` (0 at period 0).
        max_abs_z: Largest ``|z|``.
    """

    seed: str
    table: tuple[float, ...]
    simulated: tuple[float, ...]
    z: tuple[float, ...]
    max_abs_z: float

    @classmethod
    def of(cls, alive: np.ndarray, sim: SimulatedRetention, seed: str) -> Comparison:
        """Compare a table cohort (alive counts) with a simulated retention."""
        share = alive / alive[0]
        var = share * (1.0 - share) / alive[0] + sim.se**2
        diff = sim.retention - share
        z = np.divide(diff, np.sqrt(var), out=np.zeros_like(diff), where=var > 0)
        z[(var <= 0) & (np.abs(diff) > 1e-12)] = np.inf
        return cls(seed, tuple(share.tolist()), tuple(sim.retention.tolist()),
                   tuple(z.tolist()), float(np.max(np.abs(z))))

    def to_dict(self) -> dict[str, Any]:
        """The JSON entry."""
        return {"seed": self.seed, "table": list(self.table),
                "simulated": list(self.simulated), "z": list(self.z),
                "max_abs_z": self.max_abs_z}


@dataclass(frozen=True)
class SimulatedFit:
    """The calibration of one table cohort through the simulation.

    Attributes:
        table_segment: The cohort's name in the table.
        segment: The scenario segment it was fitted to.
        alpha: Fitted α of the segment's monthly churn propensity.
        beta: Fitted β.
        start_alpha: α of the starting point (the table's sBG fit, monthly).
        start_beta: β of it.
        previous: The scenario's churn propensity before (its raw TOML table).
        cohort_size: Customers at period 0 of the table.
        evaluations: Simulations run.
        fit: Table vs simulation on the fit's own seed.
        check: Table vs simulation on a fresh seed.
    """

    table_segment: str
    segment: str
    alpha: float
    beta: float
    start_alpha: float
    start_beta: float
    previous: Any
    cohort_size: int
    evaluations: int
    fit: Comparison
    check: Comparison

    def to_dict(self) -> dict[str, Any]:
        """The JSON entry of this segment."""
        return {
            "table_segment": self.table_segment,
            "segment": self.segment,
            "alpha": self.alpha,
            "beta": self.beta,
            "mean_churn_propensity": self.alpha / (self.alpha + self.beta),
            "start_alpha": self.start_alpha,
            "start_beta": self.start_beta,
            "previous": self.previous,
            "cohort_size": self.cohort_size,
            "evaluations": self.evaluations,
            "fit": self.fit.to_dict(),
            "check": self.check.to_dict(),
        }


@dataclass(frozen=True)
class SimulatedCalibration:
    """What :func:`calibrate_to_simulation` returns.

    Attributes:
        table: The cohort table.
        scenario: The scenario file calibrated.
        policy: The policy simulated.
        seed: The root seed.
        agents: Agents per cohort run.
        period_months: Months per period of the table.
        segments: Scenario segment → :class:`SimulatedFit`, in the table's order.
        skipped: Table cohorts mapped to no scenario segment.
        model: ``"simulation"``.
    """

    table: str
    scenario: str
    policy: str
    seed: int
    agents: int
    period_months: float
    segments: Mapping[str, SimulatedFit]
    skipped: tuple[str, ...] = ()
    model: str = MODEL

    def to_dict(self) -> dict[str, Any]:
        """The JSON result ``engagesim calibrate --scenario`` writes."""
        return {
            "model": self.model,
            "table": self.table,
            "scenario": self.scenario,
            "policy": self.policy,
            "seed": self.seed,
            "agents": self.agents,
            "period_months": self.period_months,
            "z_limit": Z_LIMIT,
            "segments": {name: fit.to_dict() for name, fit in self.segments.items()},
            "skipped": list(self.skipped),
        }


def _beta_of(x: np.ndarray) -> tuple[float, float]:
    """``(alpha, beta)`` of ``x = (logit mean, log(alpha + beta))``."""
    mean, concentration = float(special.expit(x[0])), float(np.exp(x[1]))
    return mean * concentration, (1.0 - mean) * concentration


@dataclass
class _Objective:
    """The simulated retention as a function of ``x``, memoised, counting runs."""

    cohort_run: Cohort
    seed: np.random.SeedSequence
    progress: Callable[[], None] | None
    runs: dict[tuple[float, float], SimulatedRetention] = field(default_factory=dict)

    def __call__(self, x: np.ndarray) -> SimulatedRetention:
        key = (round(float(x[0]), 10), round(float(x[1]), 10))
        if key not in self.runs:
            self.runs[key] = simulate_retention(self.cohort_run, *_beta_of(x), self.seed)
            if self.progress is not None:
                self.progress()
        return self.runs[key]


def _seed_text(seed: np.random.SeedSequence) -> str:
    return f"{seed.entropy}/{'.'.join(str(k) for k in seed.spawn_key)}"


def fit_segment(
    alive: np.ndarray,
    cohort_run: Cohort,
    seed: np.random.SeedSequence,
    *,
    table_segment: str = "",
    period_months: float = 1.0,
    previous: Any = None,
    progress: Callable[[], None] | None = None,
) -> SimulatedFit:
    """Fit one segment's churn propensity so that its simulated cohort matches ``alive``.

    Args:
        alive: The table cohort's alive counts at periods 0..K.
        cohort_run: The segment's cohort run (:func:`cohort`).
        seed: Root of the fit's seed (spawned: one child for every fit evaluation, one
            for the fresh-seed check).
        table_segment: The cohort's name in the table (for messages).
        period_months: Months per period of the table.
        previous: The segment's churn propensity before (reported).
        progress: Called after every simulation.

    Returns:
        The :class:`SimulatedFit`.

    Raises:
        InputError: The table cannot be reached under the policy (says the best the
            simulation can do).
    """
    fit_seed, check_seed = seed.spawn(2)
    where = f"segments.{cohort_run.segment}"
    label = (f"table cohort {table_segment!r} → scenario segment {cohort_run.segment!r}"
             if table_segment and table_segment != cohort_run.segment
             else f"segment {cohort_run.segment!r}")
    sbg = fit_sbg(alive)
    a0, b0, _ = monthly_beta(sbg.alpha, sbg.beta, period_months, alive.size - 1)
    log_k0 = float(np.clip(np.log(a0 + b0), *LOG_CONCENTRATION))
    share = alive / alive[0]
    objective = _Objective(cohort_run, fit_seed, progress)

    def final_gap(d: float) -> float:
        return float(objective(np.array([d, log_k0])).retention[-1] - share[-1])

    lo, hi = (float(special.logit(m)) for m in MEAN_BOUNDS)
    last = len(share) - 1
    tol = 4.0 * math.sqrt(share[-1] * (1 - share[-1]) / alive[0])
    gap_lo = final_gap(lo)
    if gap_lo < -tol:
        best = objective(np.array([lo, log_k0])).retention[-1]
        raise InputError(cohort_run.file, where,
                         f"{label}: the table's retention at period {last} ({share[-1]:.1%}) "
                         f"is higher than policy {cohort_run.policy!r} allows even at zero "
                         f"base churn: the simulation keeps at best {best:.1%}")
    gap_hi = final_gap(hi)
    if gap_hi > tol:
        best = objective(np.array([hi, log_k0])).retention[-1]
        raise InputError(cohort_run.file, where,
                         f"{label}: the table's retention at period {last} ({share[-1]:.1%}) "
                         f"is lower than policy {cohort_run.policy!r} allows even at a base "
                         f"churn of {MEAN_BOUNDS[1]:.0%} a month: the simulation keeps at "
                         f"least {best:.1%}")
    if gap_lo <= 0:
        d0 = lo
    elif gap_hi >= 0:
        d0 = hi
    else:
        # a noisy root: after ROOT_EVALUATIONS the estimate so far (least squares goes on)
        d0 = optimize.brentq(final_gap, lo, hi, xtol=0.02, maxiter=ROOT_EVALUATIONS,
                             disp=False)

    n_sim = objective(np.array([d0, log_k0])).observed
    weight = 1.0 / np.sqrt(np.maximum(share * (1 - share) * (1 / alive[0] + 1 / n_sim), 1e-12))

    def residuals(x: np.ndarray) -> np.ndarray:
        return ((objective(x).retention - share) * weight)[1:]

    result = optimize.least_squares(
        residuals, np.array([d0, log_k0]), method="trf", diff_step=0.02,
        bounds=([lo, LOG_CONCENTRATION[0]], [hi, LOG_CONCENTRATION[1]]),
        x_scale=1.0, ftol=1e-3, xtol=1e-3, max_nfev=MAX_EVALUATIONS // 3,
    )
    # the best point seen (the noisy objective can end the search off its best)
    x_best = min((np.array(k) for k in objective.runs),
                 key=lambda k: float(np.sum(residuals(k) ** 2)))
    if np.sum(residuals(result.x) ** 2) <= np.sum(residuals(x_best) ** 2):
        x_best = result.x
    fitted = Comparison.of(alive, objective(x_best), _seed_text(fit_seed))
    if fitted.max_abs_z > MINIMAX_FROM * Z_LIMIT:
        # least squares spreads a misfit of shape; what must hold is the largest |z|
        def worst_z(x: np.ndarray) -> float:
            return Comparison.of(alive, objective(x), "").max_abs_z

        lower, upper = np.array([lo, LOG_CONCENTRATION[0]]), np.array([hi, LOG_CONCENTRATION[1]])
        x_best = np.clip(x_best, lower, upper)
        outward = np.array([0.1, 0.3])
        step = np.where(x_best + outward <= upper, outward, -outward)  # inwards at a bound
        refined = optimize.minimize(
            worst_z, x_best, method="Nelder-Mead", bounds=list(zip(lower, upper, strict=True)),
            options={"maxfev": MINIMAX_EVALUATIONS, "xatol": 0.01, "fatol": 0.05,
                     "initial_simplex": x_best + np.array([[0, 0], [step[0], 0], [0, step[1]]])},
        )
        if refined.fun < fitted.max_abs_z:
            x_best = refined.x
            fitted = Comparison.of(alive, objective(x_best), _seed_text(fit_seed))
    alpha, beta = _beta_of(x_best)
    if fitted.max_abs_z > Z_LIMIT:
        worst = int(np.argmax(np.abs(fitted.z)))
        raise InputError(cohort_run.file, where,
                         f"{label}: no churn propensity Beta reproduces the table under "
                         f"policy {cohort_run.policy!r} within {Z_LIMIT:g} SE; the best "
                         f"(alpha = {alpha:.4g}, beta = {beta:.4g}) is off by "
                         f"{fitted.max_abs_z:.1f} SE at period {worst} (table "
                         f"{fitted.table[worst]:.1%}, simulated {fitted.simulated[worst]:.1%})")
    check_run = simulate_retention(cohort_run, alpha, beta, check_seed)
    if progress is not None:
        progress()
    return SimulatedFit(
        table_segment=table_segment or cohort_run.segment,
        segment=cohort_run.segment,
        alpha=alpha,
        beta=beta,
        start_alpha=a0,
        start_beta=b0,
        previous=previous,
        cohort_size=int(alive[0]),
        evaluations=len(objective.runs) + 1,
        fit=fitted,
        check=Comparison.of(alive, check_run, _seed_text(check_seed)),
    )


def segment_mapping(
    table_names: list[str], scenario: Scenario, mapping: Mapping[str, str] | None, table: str
) -> dict[str, str]:
    """Table cohort → scenario segment: same names by default, then ``mapping``.

    Raises:
        InputError: ``mapping`` names a cohort the table lacks or a segment the scenario
            lacks, or no cohort maps to a segment.
    """
    segments = scenario.segment_names
    out = {name: name for name in table_names if name in segments}
    for cohort_name, segment in (mapping or {}).items():
        if cohort_name not in table_names:
            raise InputError(table, "--segment-map",
                             f"{cohort_name}={segment}: the table has no cohort "
                             f"{cohort_name!r} (it has {', '.join(table_names)})")
        if segment not in segments:
            raise InputError(scenario.source, "--segment-map",
                             f"{cohort_name}={segment}: the scenario has no segment "
                             f"{segment!r} (it has {', '.join(segments)})")
        out[cohort_name] = segment
    if not out:
        raise InputError(table, "--segment-map",
                         f"no cohort of the table ({', '.join(table_names)}) is a segment of "
                         f"the scenario ({', '.join(segments)}); map them with "
                         "TABLE_COHORT=SCENARIO_SEGMENT")
    taken: dict[str, str] = {}
    for cohort_name, segment in out.items():
        if segment in taken:
            raise InputError(table, "--segment-map",
                             f"cohorts {taken[segment]!r} and {cohort_name!r} both map to "
                             f"segment {segment!r}")
        taken[segment] = cohort_name
    return {name: out[name] for name in table_names if name in out}


def calibrate_to_simulation(
    table: str | Path,
    scenario: str | Path,
    policy: str,
    *,
    segment_map: Mapping[str, str] | None = None,
    seed: int = 0,
    agents: int = DEFAULT_AGENTS,
    period_months: float = 1.0,
    progress: Callable[[], None] | None = None,
) -> SimulatedCalibration:
    """Fit each mapped segment's churn propensity so the simulation reproduces a table.

    Args:
        table: The cohort table (:func:`sim.theory.cohorts.read_cohorts`).
        scenario: A shipped scenario name or a TOML path.
        policy: The policy the table's customers were under.
        segment_map: Table cohort → scenario segment (cohorts named like a segment map
            to it without being listed).
        seed: Root seed; segment ``i`` uses ``SeedSequence(seed).spawn(...)[i]``.
        agents: Agents per cohort run.
        period_months: Months per period of the table.
        progress: Called after every simulation.

    Returns:
        The :class:`SimulatedCalibration`.

    Raises:
        InputError: Bad table, scenario, policy or mapping, or a table the simulation
            cannot reproduce (the message names the segment and the best it did).
    """
    spec = load_scenario(scenario)
    make_policy(spec, policy)  # an unknown policy fails here, before any simulation
    cohorts, _ = read_table(table)
    mapping = segment_mapping(list(cohorts), spec, segment_map, str(table))
    seeds = np.random.SeedSequence(seed).spawn(len(mapping))
    fits = {}
    for (name, segment), child in zip(mapping.items(), seeds, strict=True):
        alive = cohorts[name]
        run = cohort(spec, policy, segment, alive.size - 1, period_months=period_months,
                     agents=agents)
        previous = {k: v for k, v in spec.raw["segments"][segment].items()
                    if k in ("churn_propensity", ANNUAL_CHURN)}
        fits[segment] = fit_segment(alive, run, child, table_segment=name,
                                    period_months=period_months, previous=previous,
                                    progress=progress)
    return SimulatedCalibration(
        table=str(table), scenario=str(spec.source), policy=policy, seed=int(seed),
        agents=int(agents), period_months=float(period_months), segments=fits,
        skipped=tuple(n for n in cohorts if n not in mapping),
    )


# ----------------------------------------------------------------------------------
# the calibrated scenario


def _header_pattern(segment: str) -> re.Pattern[str]:
    name = re.escape(segment)
    return re.compile(rf'^\s*\[\s*segments\s*\.\s*(?:{name}|"{name}"|\'{name}\')\s*\]\s*(?:#.*)?$')


def _churn_line(fit: SimulatedFit) -> str:
    return (f'churn_propensity = {{ dist = "beta", alpha = {fit.alpha:.6g}, '
            f'beta = {fit.beta:.6g} }}')


def _replace_churn(lines: list[str], fit: SimulatedFit, file: str) -> None:
    """Replace the churn line of ``[segments.NAME]`` in ``lines`` (in place)."""
    header = _header_pattern(fit.segment)
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        raise InputError(file, f"segments.{fit.segment}",
                         "cannot find the [segments.NAME] table to rewrite its churn")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")),
               len(lines))
    keys = "|".join(re.escape(k) for k in ("churn_propensity", ANNUAL_CHURN))
    churn = re.compile(rf"^(\s*)(?:{keys})\s*=")
    found = [i for i in range(start + 1, end) if churn.match(lines[i])]
    if len(found) != 1:
        raise InputError(file, f"segments.{fit.segment}.churn_propensity",
                         "cannot rewrite the churn: state it on one line of "
                         "[segments.NAME], as churn_propensity = { dist = ..., ... }")
    indent = churn.match(lines[found[0]]).group(1)
    lines[found[0]] = indent + _churn_line(fit) + "  # calibrated by simulation (see the top)"


def calibrated_scenario_text(result: SimulatedCalibration) -> str:
    """The input scenario's text with every fitted churn propensity replaced.

    A comment header says how it was fitted (table, policy, seed, agents) and compares
    the table with the simulated retention (fresh seed) per period. The rest of the
    file is unchanged except each fitted segment's ``churn_propensity`` line.

    Raises:
        InputError: A segment's churn is not stated on one line (cannot be rewritten),
            or the rewritten file does not load back with the fitted values.
    """
    source = resolve(result.scenario)
    lines = source.read_text(encoding="utf-8").splitlines()
    for fit in result.segments.values():
        _replace_churn(lines, fit, str(source))
    head = [
        "# engagesim scenario: churn calibrated to a cohort table through the simulation",
        f"# (engagesim calibrate {result.table} --scenario {result.scenario} "
        f"--policy {result.policy} --seed {result.seed} --customers {result.agents})",
        "#",
        "# Each calibrated segment's churn_propensity Beta(alpha, beta) was fitted so that its",
        f"# simulated retention under policy {result.policy!r} reproduces the table within "
        f"{Z_LIMIT:g} SE at",
        f"# every period: {result.agents} agents of the segment, converting together, "
        "followed by",
        "# Kaplan-Meier from the first month a customer can churn "
        "(sim.theory.simulated_calibration);",
        "# z = (simulated - table) / sqrt(SE_table^2 + SE_sim^2), checked on a fresh seed.",
        "# Under another policy the same churn propensities give another retention.",
    ]
    for fit in result.segments.values():
        c = fit.check
        head += [
            "#",
            f"# segment {fit.segment} <- table cohort {fit.table_segment} "
            f"({fit.cohort_size:,} customers): alpha = {fit.alpha:.4g}, "
            f"beta = {fit.beta:.4g}",
            f"#   (mean monthly churn propensity {fit.alpha / (fit.alpha + fit.beta):.2%}; "
            f"was {_inline(fit.previous)})",
            f"#   max |z| {c.max_abs_z:.2f} (fresh seed {c.seed}); "
            f"{fit.fit.max_abs_z:.2f} on the fit's seed",
            "#   period   table  simulated      z",
        ]
        head += [f"#   {k:>6}  {t:6.1%}  {s:9.1%}  {z:+5.2f}"
                 for k, (t, s, z) in enumerate(zip(c.table, c.simulated, c.z, strict=True))]
    head += ["# " + "-" * 86, ""]
    text = "\n".join(head + lines) + "\n"
    try:
        data = tomllib.loads(text)
        for fit in result.segments.values():
            got = data["segments"][fit.segment]["churn_propensity"]
            if not (math.isclose(got["alpha"], fit.alpha, rel_tol=1e-5)
                    and math.isclose(got["beta"], fit.beta, rel_tol=1e-5)):
                raise ValueError(f"segment {fit.segment}: read back {got}")
        from_dict(data, str(source))
    except (tomllib.TOMLDecodeError, KeyError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(str(source), "", f"the calibrated scenario does not load back: {exc}"
                         ) from None
    return text


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        parts = [f"{k} = {_inline(v)}" for k, v in value.items()]
        return "{ " + ", ".join(parts) + " }"
    return json.dumps(value) if isinstance(value, str) else f"{value}"


def write_simulated_outputs(result: SimulatedCalibration, out_json: str | Path
                            ) -> tuple[Path, Path]:
    """Write the result (JSON) and the calibrated scenario (TOML next to it), atomically.

    Returns:
        ``(json_path, toml_path)``.

    Raises:
        InputError: ``out_json`` ends in ``.toml``, or the scenario cannot be rewritten.
    """
    out_json = Path(out_json)
    toml_path = fragment_path(out_json)
    if toml_path == out_json:
        raise InputError(None, "--out", f"{out_json}: the JSON result cannot end in .toml "
                         "(the calibrated scenario is written there); use FILE.json")
    text = calibrated_scenario_text(result)
    atomic_write_text(out_json, json_text(jsonable(result.to_dict())))  # an infinite z: null
    atomic_write_text(toml_path, text)
    return out_json, toml_path
