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
from pathlib import Path
from typing import Any

from sim.engine.scenario import SCENARIO_DIR, from_dict
from sim.schema import InputError, suggest

TEMPLATE = SCENARIO_DIR / "default.toml"
#: What a ``--segment`` flag looks like.
SEGMENT_FORMAT = "NAME:CUSTOMERS:ACV:CHURN (e.g. smb:2000:3600:35%)"


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
    """

    segments: Mapping[str, SegmentAnswer]
    csm_annual_cost: float
    csm_book: int
    pooled_annual_cost: float
    pooled_book: int
    platform_cost: float
    from_user: frozenset[str] = field(default_factory=frozenset)


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
        value = float(raw.rstrip("%")) if percent else float(raw)
    except ValueError:
        raise InputError(None, key, f"expected a number, got {text!r}") from None
    if percent:
        value /= 100.0
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


def collect(
    segments: Iterable[str] = (),
    values: Mapping[str, str | None] | None = None,
    ask: Callable[[str, str], str] | None = None,
) -> Answers:
    """Answers from flags, then questions for what is missing, then the defaults.

    Args:
        segments: ``--segment`` texts (:data:`SEGMENT_FORMAT`). When any is given, the
            default segments not given have no customers (share 0).
        values: Answer name (:data:`QUESTIONS`) → the flag's text, or ``None`` if absent.
        ask: ``ask(question, default_text)`` returns the user's reply (blank: the
            default); ``None`` asks nothing and takes the defaults.

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
            reply = ask(f"{name}: customers, ACV per year, annual churn "
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


def scenario_text(answers: Answers, today: date | None = None) -> str:
    """The default scenario's text with the user's numbers in, each marked ``# from you``.

    Args:
        answers: The user's answers (:func:`collect`).
        today: The date stamped in the header (default: today).

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
        sd = _churn_sd(seg.annual_churn, template["annual_churn"])
        text = _set(text, header, "annual_churn", "{ dist = \"beta\", mean = "
                    f"{_number(seg.annual_churn)}, sd = {_number(round(sd, 4))} }}",
                    f"{note}: mean; sd: the default's spread")
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
        + "# Everything else is the default scenario's, with its sources. annual_churn is the\n"
        "# churn of a middling customer; content customers churn less (the churn edges'\n"
        "# drivers: in the default, realised no-touch churn is ≈ 0.65 × annual_churn). Check:\n"
        "# `engagesim run FILE --policy no_touch` prints the 12-month retention; if it is\n"
        "# above yours, raise annual_churn.\n#\n"
    )
    text = header + text.replace(
        f'description = "{raw["description"]}"',
        'description = "My company (engagesim init): ' + raw["description"] + '"', 1)
    return text


def write_scenario(path: Path, answers: Answers, *, force: bool = False) -> Path:
    """Write the scenario of ``answers`` to ``path`` after checking that it loads.

    Raises:
        InputError: ``path`` exists and ``force`` is false.
    """
    if path.exists() and not force:
        raise InputError(path, "", "the file exists; choose another --out or add --force "
                         "to overwrite it")
    text = scenario_text(answers)
    from_dict(tomllib.loads(text), str(path), name=path.stem)  # the loader's own check
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
