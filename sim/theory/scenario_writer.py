"""A scenario from a strategist's own numbers (``engagesim init``).

The answers are the numbers a business knows: customers, annual contract value (ACV) and
annual logo churn per segment, the loaded annual cost and book size of a named and of a
pooled CSM, and the monthly platform cost. :func:`scenario_text` puts them into a copy of
``scenarios/default.toml`` — its structure, policies, dynamics and source comments — and
marks every value that came from the user with ``# from you``; everything else keeps the
default's value and source. :func:`write_scenario` checks the text with the scenario
loader before it writes it, and never overwrites a file unless told to.

Segments are the default's (``enterprise``, ``mid_market``, ``smb``): their behavioural
traits (complexity, preference for people, …) and the policies that target them come
from the default. A segment the user leaves out keeps its place with share 0.
"""

from __future__ import annotations

import math
import re
import textwrap
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize, special

from sim.engine.model import make_policy
from sim.engine.scenario import SCENARIO_DIR, from_dict
from sim.schema import InputError, suggest
from sim.theory.simulated_calibration import (
    ANNUAL_CHURN,
    Z_LIMIT,
    Cohort,
    SimulatedRetention,
    cohort,
    scenario_retention,
)

TEMPLATE = SCENARIO_DIR / "default.toml"
#: What a ``--segment`` flag looks like.
SEGMENT_FORMAT = "NAME:CUSTOMERS:ACV:CHURN (e.g. smb:2000:3600:35%)"
#: The engagement a company runs today unless it says otherwise.
DEFAULT_POLICY = "no_touch"


@dataclass(frozen=True)
class SegmentAnswer:
    """One segment in the user's words.

    Attributes:
        customers: Customers (accounts) the company has in the segment today.
        acv: Mean annual contract value (currency / year).
        annual_churn: Annual logo churn as a fraction (0.3 = 30 % a year).
    """

    customers: int
    acv: float
    annual_churn: float


@dataclass(frozen=True)
class Answers:
    """Everything ``engagesim init`` asks.

    Attributes:
        segments: Segment name → its answer, for every default segment.
        csm_annual_cost: Fully loaded annual cost of a named CSM.
        csm_book: Accounts per named CSM.
        pooled_annual_cost: Fully loaded annual cost of a pooled CSM.
        pooled_book: Accounts per pooled CSM.
        platform_cost: Platform, content and tooling cost per month (every policy).
        from_user: Names of the answers the user gave (``"segments.smb"``,
            ``"csm_annual_cost"``, …); the rest are the defaults.
        current_policy: The engagement the company runs today, under which its stated
            churn is seen (what :func:`calibrate_churn` simulates).
    """

    segments: Mapping[str, SegmentAnswer]
    csm_annual_cost: float
    csm_book: int
    pooled_annual_cost: float
    pooled_book: int
    platform_cost: float
    from_user: frozenset[str] = field(default_factory=frozenset)
    current_policy: str = DEFAULT_POLICY


#: The scalar questions: answer name → (question, kind).
QUESTIONS = {
    "csm_annual_cost": ("Loaded annual cost of a named CSM (salary, taxes, benefits, tools)",
                        "money"),
    "csm_book": ("Accounts per named CSM (book size)", "count"),
    "pooled_annual_cost": ("Loaded annual cost of a pooled (shared) CSM", "money"),
    "pooled_book": ("Accounts per pooled CSM", "count"),
    "platform_cost": ("Platform, content and tooling cost per month", "money"),
}


def _template() -> dict[str, Any]:
    return tomllib.loads(TEMPLATE.read_text())


def customer_share(raw: Mapping[str, Any]) -> float:
    """Share of the agents that start as customers (the rest are prospects)."""
    kinds = raw["lifecycle"]["stages"]
    return sum(share for stage, share in raw["population"]["initial_stages"].items()
               if kinds[stage]["kind"] == "customer")


def default_answers() -> Answers:
    """The default scenario's numbers, in the words :class:`Answers` uses."""
    raw = _template()
    customers = raw["population"]["customers"] * customer_share(raw)
    segments = {
        name: SegmentAnswer(
            customers=round(customers * seg["share"]),
            acv=float(seg["acv"]["mean"]),
            annual_churn=float(seg["annual_churn"]["mean"]),
        )
        for name, seg in raw["segments"].items()
    }
    named, pooled = raw["teams"]["named"], raw["teams"]["pooled"]
    return Answers(
        segments=segments,
        csm_annual_cost=float(named["annual_cost"]),
        csm_book=int(named["accounts_per_csm"]),
        pooled_annual_cost=float(pooled["annual_cost"]),
        pooled_book=int(pooled["accounts_per_csm"]),
        platform_cost=float(raw["policies"]["no_touch"]["fixed_cost_per_month"]),
    )


# ----------------------------------------------------------------------------------
# reading answers


def parse_number(text: str, key: str, kind: str) -> float:
    """A user's number, checked for its ``kind``.

    Kinds: ``money`` (≥ 0), ``count`` (whole, ≥ 1), ``customers`` (whole, ≥ 0), ``acv``
    (> 0) or ``churn`` (a fraction in (0, 1), or a percentage such as ``35%``).

    Raises:
        InputError: Naming ``key`` and what was expected.
    """
    raw = text.strip().replace(",", "").replace("_", "")
    percent = kind == "churn" and raw.endswith("%")
    try:
        # a percentage is read as the decimal it is: "99.99%" is 0.9999, not 99.99 / 100
        value = float(Decimal(raw.rstrip("%").strip()) / 100) if percent else float(raw)
    except (ValueError, ArithmeticError):
        raise InputError(None, key, f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise InputError(None, key, f"expected a finite number, got {text!r}")
    if kind == "money" and value < 0:
        raise InputError(None, key, f"expected an amount ≥ 0, got {text!r}")
    if kind == "count" and (value < 1 or not value.is_integer()):
        raise InputError(None, key, f"expected a whole number ≥ 1, got {text!r}")
    if kind == "customers" and (value < 0 or not value.is_integer()):
        raise InputError(None, key, f"expected a whole number of customers ≥ 0, got {text!r}")
    if kind == "churn" and not 0.0 < value < 1.0:
        raise InputError(None, key, "expected an annual churn between 0 and 1 (or 0 % and "
                         f"100 %, e.g. 0.3 or 30%), got {text!r}")
    if kind == "acv" and value <= 0:
        raise InputError(None, key, f"expected an annual contract value > 0, got {text!r}")
    return value


def parse_segment(text: str, names: Iterable[str]) -> tuple[str, SegmentAnswer]:
    """One ``--segment NAME:CUSTOMERS:ACV:CHURN`` flag.

    Raises:
        InputError: A part is missing or invalid, or the name is not a default segment.
    """
    parts = text.split(":")
    if len(parts) != 4:
        raise InputError(None, "--segment", f"expected {SEGMENT_FORMAT}, got {text!r}")
    name, customers, acv, churn = (p.strip() for p in parts)
    names = list(names)
    if name not in names:
        raise InputError(None, "--segment", f"unknown segment {name!r}" + suggest(name, names)
                         + f"; the segments are {', '.join(names)} (their behaviour comes "
                         "from the default scenario; rename them in the file afterwards)")
    return name, SegmentAnswer(
        customers=int(parse_number(customers, f"--segment {name} customers", "customers")),
        acv=parse_number(acv, f"--segment {name} ACV", "acv"),
        annual_churn=parse_number(churn, f"--segment {name} churn", "churn"),
    )


def parse_policy(text: str, key: str = "--current-policy") -> str:
    """The name of one of the default scenario's policies.

    Raises:
        InputError: Naming ``key``: not a policy of the default scenario.
    """
    name = text.strip()
    names = list(_template()["policies"])
    if name not in names:
        raise InputError(None, key, f"unknown policy {name!r}" + suggest(name, names)
                         + f"; the policies are {', '.join(names)}")
    return name


def collect(
    segments: Iterable[str] = (),
    values: Mapping[str, str | None] | None = None,
    ask: Callable[[str, str], str] | None = None,
    *,
    policy: str | None = None,
    ask_policy: bool = True,
) -> Answers:
    """Answers from flags, then questions for what is missing, then the defaults.

    Args:
        segments: ``--segment`` texts (:data:`SEGMENT_FORMAT`). When any is given, the
            default segments not given have no customers (share 0).
        values: Answer name (:data:`QUESTIONS`) → the flag's text, or ``None`` if absent.
        ask: ``ask(question, default_text)`` returns the user's reply (blank: the
            default); ``None`` asks nothing and takes the defaults.
        policy: ``--current-policy``: the engagement run today (``None``: asked when
            ``ask`` and ``ask_policy`` and the user stated a segment, else
            :data:`DEFAULT_POLICY`).
        ask_policy: Whether the current policy matters (the churn is calibrated).

    Returns:
        The answers, with ``from_user`` naming those the user gave.

    Raises:
        InputError: A flag or a reply is invalid.
    """
    defaults = default_answers()
    names = list(defaults.segments)
    given: dict[str, SegmentAnswer] = {}
    for text in segments:
        name, answer = parse_segment(text, names)
        if name in given:
            raise InputError(None, "--segment", f"segment {name!r} is given twice")
        given[name] = answer
    asked = not given and ask is not None
    if asked:  # Enter keeps a segment's defaults, 0 leaves it out
        for name in names:
            d = defaults.segments[name]
            reply = ask(f"{name}: customers, ACV per year, annual churn you see today "
                        "(e.g. 350:96000:10%; 0 leaves the segment out)",
                        f"{d.customers}:{d.acv:g}:{d.annual_churn:g}").strip()
            if reply:
                if reply == "0":
                    reply = f"0:{d.acv:g}:{d.annual_churn:g}"
                given[name] = parse_segment(f"{name}:{reply}", names)[1]
    from_user = {f"segments.{n}" for n in given}
    if given and not asked:  # flags: the segments not given have no customers
        seg = {n: given.get(n, replace(defaults.segments[n], customers=0)) for n in names}
    else:
        seg = {n: given.get(n, defaults.segments[n]) for n in names}
    if sum(s.customers for s in seg.values()) == 0:
        raise InputError(None, "--segment", "every segment has 0 customers: give at least one")
    if (policy is None and ask is not None and ask_policy
            and any(a.customers for a in given.values())):
        reply = ask("The engagement you run today, under which you see that churn ("
                    + ", ".join(_template()["policies"]) + ")", DEFAULT_POLICY).strip()
        policy = reply or None
    if policy is not None:
        policy = parse_policy(policy)
        from_user.add("current_policy")
    scalars: dict[str, float] = {}
    for key, (question, kind) in QUESTIONS.items():
        text = (values or {}).get(key)
        flag = "--" + key.replace("_", "-")
        if text is None and ask is not None:
            reply = ask(question, f"{getattr(defaults, key):g}")
            text = reply if reply.strip() else None
        if text is None:
            scalars[key] = getattr(defaults, key)
        else:
            scalars[key] = parse_number(str(text), flag, kind)
            from_user.add(key)
    return Answers(
        segments=seg,
        csm_annual_cost=scalars["csm_annual_cost"],
        csm_book=int(scalars["csm_book"]),
        pooled_annual_cost=scalars["pooled_annual_cost"],
        pooled_book=int(scalars["pooled_book"]),
        platform_cost=scalars["platform_cost"],
        from_user=frozenset(from_user),
        current_policy=policy or DEFAULT_POLICY,
    )


# ----------------------------------------------------------------------------------
# writing the file


def _number(value: float) -> str:
    """A TOML number: an int as an integer, a float as a float (``96000.0``)."""
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def _set(text: str, header: str, key: str, value: str, comment: str) -> str:
    """Set ``key = value  # comment`` in the table that starts at line ``header``."""
    found = re.search(rf"^{re.escape(header)}[ \t]*(#.*)?$", text, re.MULTILINE)
    if found is None:
        raise ValueError(f"template has no table {header}")
    start = found.start()
    end = text.find("\n[", start + len(header))
    end = len(text) if end < 0 else end
    block = text[start:end]
    pattern = re.compile(rf"^{re.escape(key)} = .*$", re.MULTILINE)
    if not pattern.search(block):
        raise ValueError(f"template table {header} has no key {key}")
    line = f"{key} = {value}"
    line = f"{line:<32} # {comment}" if comment else line
    block = pattern.sub(lambda _: line, block, count=1)
    return text[:start] + block + text[end:]


def _scaled_range(text: str, path: str, mode: float, integer: bool, comment: str) -> str:
    """Move an uncertainty's triangular range so its mode is the user's value."""
    header = f'[uncertainties."{path}"]'
    raw = tomllib.loads(text)["uncertainties"][path]
    ratio = mode / raw["mode"] if raw["mode"] else 1.0
    for key in ("low", "mode", "high"):
        value = mode if key == "mode" else raw[key] * ratio
        if integer:
            value = max(1, round(value))
        text = _set(text, header, key, _number(value), comment if key == "mode" else "")
    return text


def _churn_sd(mean: float, template: Mapping[str, Any]) -> float:
    """The default's relative spread of annual churn, kept inside what a Beta allows."""
    cv = template["sd"] / template["mean"]
    return min(cv * mean, 0.9 * math.sqrt(mean * (1.0 - mean)))


def _significant(value: float) -> float:
    """``value`` to 4 significant digits (how a calibrated churn is written)."""
    return float(f"{value:.4g}")


def scenario_text(
    answers: Answers,
    today: date | None = None,
    calibration: Mapping[str, ChurnFit] | None = None,
) -> str:
    """The default scenario's text with the user's numbers in, each marked ``# from you``.

    Args:
        answers: The user's answers (:func:`collect`).
        today: The date stamped in the header (default: today).
        calibration: Segment → its calibrated churn (:func:`calibrate_churn`): the
            segment's ``annual_churn`` is the fitted base, and the header says what was
            stated and measured. Segments not in it keep their stated (or default) churn.

    Returns:
        TOML text that :func:`sim.engine.scenario.load_scenario` accepts.
    """
    text = TEMPLATE.read_text()
    raw = tomllib.loads(text)
    yours = answers.from_user
    mark = "from you"
    total = sum(s.customers for s in answers.segments.values())
    share_customers = customer_share(raw)
    agents = max(1, round(total / share_customers))
    for name, seg in answers.segments.items():
        header = f"[segments.{name}]"
        template = raw["segments"][name]
        note = mark if f"segments.{name}" in yours else "default"
        if seg.customers == 0:
            note = "not in your business: no customers"
        text = _set(text, header, "share", _number(round(seg.customers / total, 12)),
                    f"{note}: {seg.customers:,} of {total:,} customers")
        cv = template["acv"]["sd"] / template["acv"]["mean"]
        text = _set(text, header, "acv", "{ dist = \"lognormal\", mean = "
                    f"{_number(seg.acv)}, sd = {_number(round(cv * seg.acv, 2))} }}",
                    f"{note}: mean ACV; sd: the default's spread")
        fit = (calibration or {}).get(name)
        if fit is None:
            mean, sd = seg.annual_churn, _significant(
                _churn_sd(seg.annual_churn, template["annual_churn"]))
            comment = f"{note}: mean; sd: the default's spread"
        else:
            mean, sd = fit.mean, fit.sd
            comment = (f"{note}: base so that new customers lose {fit.stated:.1%} a year "
                       f"under {fit.policy} (see the top); sd: the default's spread")
        text = _set(text, header, "annual_churn", "{ dist = \"beta\", mean = "
                    f"{_number(mean)}, sd = {_number(sd)} }}", comment)
    text = _set(text, "[population]", "customers", str(agents),
                f"{total:,} customers ÷ {share_customers:g} (the share of agents that start as "
                "customers; the rest are prospects)")
    for key, team, field_name, integer in (
        ("csm_annual_cost", "named", "annual_cost", False),
        ("csm_book", "named", "accounts_per_csm", True),
        ("pooled_annual_cost", "pooled", "annual_cost", False),
        ("pooled_book", "pooled", "accounts_per_csm", True),
    ):
        value = getattr(answers, key)
        if key not in yours:
            continue
        number = _number(int(value) if integer else float(value))
        text = _set(text, f"[teams.{team}]", field_name, number, mark)
        path = f"teams.{team}.{field_name}"
        if path in raw.get("uncertainties", {}):
            text = _scaled_range(text, path, value, integer, f"{mark} (the range moved with it)")
    if "platform_cost" in yours:
        for name in raw["policies"]:
            text = _set(text, f"[policies.{name}]", "fixed_cost_per_month",
                        _number(float(answers.platform_cost)), mark)
        path = "policies.no_touch.fixed_cost_per_month"
        if path in raw.get("uncertainties", {}):
            text = _scaled_range(text, path, answers.platform_cost, False,
                                 f"{mark} (the range moved with it)")
    given = ", ".join(sorted(yours)) or "none: every number is the default's"
    yours_lines = textwrap.wrap(f"Your numbers (marked `# from you` below): {given}.", 86)
    header = (
        f"# Written by `engagesim init` on {(today or date.today()).isoformat()} from the "
        "default scenario.\n"
        + "".join(f"# {line}\n" for line in yours_lines)
        + "# Everything else is the default scenario's, with its sources.\n"
        + (_calibration_note(calibration) if calibration else _uncalibrated_note(answers))
        + "#\n"
    )
    text = header + text.replace(
        f'description = "{raw["description"]}"',
        'description = "My company (engagesim init): ' + raw["description"] + '"', 1)
    return text


def _uncalibrated_note(answers: Answers) -> str:
    stated = any(f"segments.{name}" in answers.from_user and seg.customers
                 for name, seg in answers.segments.items())
    return (
        "# annual_churn is the churn of a middling customer; content customers churn less\n"
        "# (the churn edges' drivers: in the default, realised no-touch churn is ≈ 0.65 ×\n"
        "# annual_churn)"
        + (", and it was written as you stated it (--no-calibrate): the\n"
           "# simulated segments lose less than you said. Without --no-calibrate, init sets\n"
           "# it so that they lose what you said under the engagement you run today.\n"
           if stated else ".\n")
    )


def _calibration_note(calibration: Mapping[str, ChurnFit]) -> str:
    first = next(iter(calibration.values()))
    lines = [
        "# annual_churn is the churn of a middling customer (satisfaction = engagement = 0.5,",
        "# no touches); content customers churn less, struggling ones more. So that each",
        "# segment you stated loses the churn you stated, init calibrated its annual_churn",
        f"# mean (the sd keeps the default's relative spread) through the simulation: "
        f"{first.agents:,}",
        "# new customers of the segment alone, converting together, under the engagement",
        "# you run today, lose the stated share in their first 12 months from the first",
        "# month they can churn (Kaplan-Meier; sim.theory.simulated_calibration), within "
        f"{Z_LIMIT:g} SE",
        f"# on a fresh seed (root seed {first.seed}). Under another policy the same base "
        "gives another",
        "# churn: that is what `engagesim compare` measures. `engagesim run`'s retention mixes",
        "# in the installed base (mid-life customers) and counts from the purchase, so it is",
        "# near, not exactly, 1 - the churn stated.",
    ]
    for fit in calibration.values():
        lines += [
            f"#   {fit.segment}: you said {fit.stated:.1%} a year under {fit.policy}; the base "
            f"churn is {fit.mean:.4g}",
            f"#     (sd {fit.sd:.4g}) so that the simulated segment loses {fit.stated:.1%} "
            f"(measured: {fit.measured:.1%} ± {fit.se:.1%};",
            f"#     z = {fit.z:+.2f} with the fit's own sampling error; "
            f"{fit.evaluations} simulations)",
        ]
    return "\n".join(lines) + "\n"


def write_scenario(
    path: Path,
    answers: Answers,
    *,
    force: bool = False,
    calibration: Mapping[str, ChurnFit] | None = None,
) -> Path:
    """Write the scenario of ``answers`` to ``path`` after checking that it loads.

    Args:
        path: The file to write.
        answers: The user's answers.
        force: Overwrite ``path`` if it exists.
        calibration: The calibrated churn (:func:`calibrate_churn`), or ``None`` to
            write the stated churn as the base.

    Raises:
        InputError: ``path`` exists and ``force`` is false.
    """
    if path.exists() and not force:
        raise InputError(path, "", "the file exists; choose another --out or add --force "
                         "to overwrite it")
    text = scenario_text(answers, calibration=calibration)
    from_dict(tomllib.loads(text), str(path), name=path.stem)  # the loader's own check
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------------
# the stated churn: what the simulated segment loses


#: Agents of each calibration cohort: the SE of a 12-month churn of 30 % is ≈ 0.65
#: points, and a run takes ≈ 0.1 s, so three segments calibrate in a few seconds.
CALIBRATION_AGENTS = 5000
#: Months over which the stated (annual) churn is measured.
CHURN_MONTHS = 12
#: The base annual churn (Beta mean of ``annual_churn``) searched: almost none to almost
#: certain.
BASE_BOUNDS = (1e-4, 0.999)
#: Resolution of the root in logit(base): 0.5 % of the base's odds.
ROOT_XTOL = 0.005
#: Simulations a segment's root may use.
ROOT_EVALUATIONS = 30
#: Typical simulations per segment (for a progress bar's length).
RUNS_PER_SEGMENT = 12


@dataclass(frozen=True)
class ChurnFit:
    """One segment's ``annual_churn``, set so that the simulation shows the stated churn.

    Attributes:
        segment: The segment.
        policy: The engagement run today (simulated).
        stated: The annual logo churn the user sees (a fraction).
        mean: The base annual churn written (the Beta's mean, 4 significant digits).
        sd: Its sd: the default's relative spread (:func:`_churn_sd`).
        measured: 12-month logo churn of the segment's new customers at ``mean`` on a
            fresh seed (Kaplan–Meier).
        se: Greenwood SE of ``measured``.
        fit_se: SE of the churn the root matched (on the fit's own seed).
        agents: Agents of each cohort run.
        evaluations: Simulations run (the root's and the check).
        seed: The root seed of the calibration.
    """

    segment: str
    policy: str
    stated: float
    mean: float
    sd: float
    measured: float
    se: float
    fit_se: float
    agents: int
    evaluations: int
    seed: int

    @property
    def z(self) -> float:
        """``(measured − stated) / sqrt(se² + fit_se²)``: the check and the fit's noise."""
        return (self.measured - self.stated) / math.hypot(self.se, self.fit_se)


def calibrated_segments(answers: Answers) -> list[str]:
    """The segments whose churn the user stated and that have customers."""
    return [name for name, seg in answers.segments.items()
            if f"segments.{name}" in answers.from_user and seg.customers > 0]


def _with_annual_churn(raw: Mapping[str, Any], segment: str, mean: float, sd: float
                       ) -> dict[str, Any]:
    """A copy of a raw scenario whose segment states ``annual_churn`` Beta(mean, sd)."""
    data = dict(raw)
    data["segments"] = {name: dict(table) for name, table in raw["segments"].items()}
    table = data["segments"][segment]
    table.pop("churn_propensity", None)
    table[ANNUAL_CHURN] = {"dist": "beta", "mean": float(mean), "sd": float(sd)}
    return data


def fit_annual_churn(
    run: Cohort,
    stated: float,
    template: Mapping[str, Any],
    seed: np.random.SeedSequence,
    *,
    progress: Callable[[], None] | None = None,
) -> ChurnFit:
    """The base annual churn at which ``run``'s new customers lose ``stated`` in a year.

    A 1-D root (:func:`scipy.optimize.brentq`) on ``logit(mean)`` of the segment's
    ``annual_churn`` Beta, its sd the default's relative spread, with common random
    numbers (every evaluation on the same seed): the bracket is the stated figure and
    the bound of :data:`BASE_BOUNDS` on the side the simulated churn must move to. The
    written (rounded) base is then simulated on a fresh seed.

    Args:
        run: The segment's cohort (:func:`sim.theory.simulated_calibration.cohort`,
            :data:`CHURN_MONTHS` periods, the current policy).
        stated: The annual logo churn the user sees (0..1).
        template: The default segment's ``annual_churn`` table (its relative spread).
        seed: Spawned: one child for the root's runs, one for the check.
        progress: Called after every simulation.

    Raises:
        InputError: ``stated`` cannot be reached at any base in :data:`BASE_BOUNDS`
            (the message gives the closest the simulation gets), or the fresh-seed check
            is off by more than :data:`Z_LIMIT` SE.
    """
    fit_seed, check_seed = seed.spawn(2)
    runs: dict[float, SimulatedRetention] = {}
    key = f"segments.{run.segment}.{ANNUAL_CHURN}"

    def simulate(mean: float, sd: float, child: np.random.SeedSequence) -> SimulatedRetention:
        raw = _with_annual_churn(run.raw, run.segment, mean, sd)
        result = scenario_retention(run, from_dict(raw, run.file, name="cohort"), child)
        if progress is not None:
            progress()
        return result

    def at(d: float) -> SimulatedRetention:
        d = round(float(d), 10)
        if d not in runs:
            mean = float(special.expit(d))
            runs[d] = simulate(mean, _churn_sd(mean, template), fit_seed)
        return runs[d]

    def gap(d: float) -> float:
        return float(1.0 - at(d).retention[-1] - stated)

    lo, hi = (float(special.logit(b)) for b in BASE_BOUNDS)
    start = float(np.clip(special.logit(stated), lo, hi))
    tol = Z_LIMIT * math.sqrt(stated * (1.0 - stated) / run.agents)
    g_start = gap(start)
    end = hi if g_start < 0 else lo
    g_end = gap(end) if g_start != 0 else 0.0
    if g_start * g_end > 0 and abs(g_end) > tol:
        bound = BASE_BOUNDS[end == hi]
        closest = stated + g_end
        raise InputError(None, key,
                         f"segment {run.segment!r}: a churn of {stated:.2%} a year cannot be "
                         f"reached under policy {run.policy!r}: even at a base annual churn of "
                         f"{bound:.2%} its new customers lose {closest:.2%} in 12 months (the "
                         f"closest the simulation gets); state a churn "
                         f"{'below' if g_end < 0 else 'above'} that, give the engagement you "
                         "run today with --current-policy, or keep your figure as the base "
                         "churn with --no-calibrate")
    if g_start == 0:
        root = start
    elif g_start * g_end >= 0:  # the bound itself is within tol
        root = end
    else:
        root = optimize.brentq(gap, min(start, end), max(start, end), xtol=ROOT_XTOL,
                               maxiter=ROOT_EVALUATIONS, disp=False)
    fit_se = float(at(root).se[-1])
    mean = _significant(float(special.expit(root)))
    sd = _significant(_churn_sd(mean, template))
    check = simulate(mean, sd, check_seed)
    fit = ChurnFit(
        segment=run.segment, policy=run.policy, stated=float(stated), mean=mean, sd=sd,
        measured=float(1.0 - check.retention[-1]), se=float(check.se[-1]), fit_se=fit_se,
        agents=run.agents, evaluations=len(runs) + 1, seed=int(seed.entropy),
    )
    if not abs(fit.z) <= Z_LIMIT:
        raise InputError(None, key,
                         f"segment {run.segment!r}: the calibrated base annual churn {mean:.4g} "
                         f"loses {fit.measured:.2%} ± {fit.se:.2%} on a fresh seed, "
                         f"{abs(fit.z):.1f} SE from your {stated:.2%}; try another --seed or "
                         "--no-calibrate")
    return fit


def calibrate_churn(
    answers: Answers,
    *,
    seed: int = 0,
    agents: int = CALIBRATION_AGENTS,
    progress: Callable[[], None] | None = None,
) -> dict[str, ChurnFit]:
    """Each stated segment's base churn, so that it loses the churn stated (see above).

    The scenario simulated is the one ``answers`` write uncalibrated (the user's book
    sizes included), under ``answers.current_policy``; each segment the user stated
    with customers (:func:`calibrated_segments`) is fitted on its own cohort of new
    customers (:func:`fit_annual_churn`), seeded ``SeedSequence(seed).spawn(3)[i]`` by
    its place ``i`` among the default's segments.

    Returns:
        Segment → :class:`ChurnFit`, for :func:`scenario_text`.

    Raises:
        InputError: An unknown policy, or a churn that cannot be reached.
    """
    text = scenario_text(answers)
    spec = from_dict(tomllib.loads(text), "engagesim init", name="init")
    make_policy(spec, answers.current_policy)  # an unknown policy fails before any run
    template = _template()["segments"]
    names = list(answers.segments)
    seeds = dict(zip(names, np.random.SeedSequence(seed).spawn(len(names)), strict=True))
    fits = {}
    for name in calibrated_segments(answers):
        run = cohort(spec, answers.current_policy, name, CHURN_MONTHS, agents=agents)
        fits[name] = fit_annual_churn(run, answers.segments[name].annual_churn,
                                      template[name]["annual_churn"], seeds[name],
                                      progress=progress)
    return fits
