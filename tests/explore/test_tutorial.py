"""docs/tutorial.md says what the live page shows: every number in it is recomputed here.

Each claim is rebuilt from the page's own code (its default controls,
:class:`~sim.explore.paired.PairedModel`, :func:`sim.explore.charts.difference`) or from
the scenario, formatted as the tutorial writes it, and looked up in the text (whitespace
collapsed, so line breaks don't matter). Words such as "in every seed", "stays" or
"turns positive" are checked too. The last tests check that no number of the tutorial
is left unchecked and that the controls it names are the page's. When the engine
changes, the failure lists the sentences to update: rerun the experiment on the page,
or read the new numbers off the failure.
"""

import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

import ipyvuetify as v
import numpy as np
import pytest
import solara

from sim.engine.scenario import load_scenario
from sim.explore import charts
from sim.explore.page import initial_kwargs, make_app, model_params
from sim.explore.paired import SAMPLE_SIZE, PairedModel

pytestmark = pytest.mark.slow  # statistical: the tutorial's numbers over ten seeds

TUTORIAL = Path(__file__).parents[2] / "docs" / "tutorial.md"
SCENARIO = load_scenario("default")
PARAMS = model_params(SCENARIO)
DEFAULTS = initial_kwargs(PARAMS)
SEEDS = range(1, 11)  # "the ranges come from seeds 1–10"
LONG = 120  # Experiment 1's lifetime view (months)
WHITE_GLOVE, STRETCHED = 0.4, 4.0  # CSM book sizes of the "Try it"s
REFERRAL = (0.0, 1.0, 3.0)  # Experiment 3's referral strengths
RETENTION, ACTIVE = "12-month retention (%)", "active customers"


@cache
def _finished(items: tuple) -> PairedModel:
    model = PairedModel(**{**DEFAULTS, **dict(items)})
    while model.running:
        model.step()
    return model


def finished(**controls) -> PairedModel:
    """The page's model with these controls (the rest as the page starts), run to the end."""
    changed = {k: v for k, v in controls.items() if DEFAULTS.get(k) != v}
    return _finished(tuple(sorted(changed.items())))


def seeds(**controls) -> list[PairedModel]:
    return [finished(**controls, seed=seed) for seed in SEEDS]


def gaps(models: list[PairedModel], key: str, segment: str | None = None) -> np.ndarray:
    """A − B of a headline number (``charts.difference``), one per model."""
    return np.array([np.subtract(*charts.difference(model, segment)[key]) for model in models])


def every(k: int, phrase: str = "every seed") -> str:
    return phrase if k == len(SEEDS) else f"{k} of the {len(SEEDS)} seeds"


def money(x: float) -> str:
    """Money as the tutorial writes it: ``18.4 M``."""
    return f"{x / 1e6:.1f} M"


def signed(x: float) -> str:
    return f"{x / 1e6:+.1f} M".replace("-", "−")


def pct(x: float) -> str:
    return f"{x:.0f} %"


def mean(segment: str, trait: str) -> float:
    return next(s for s in SCENARIO.segments if s.name == segment).traits[trait].mean()


NAMED = SCENARIO.policies["high_touch"].teams["named"]
PER_ACCOUNT = NAMED.monthly_cost / NAMED.accounts_per_csm
MARGIN = SCENARIO.economics.gross_margin
MONTHS = DEFAULTS["months"]
SEED = DEFAULTS["seed"]


def back_to_defaults() -> str:
    """The page's starting controls, as an experiment's first step lists them."""
    return (f"Put the controls back to the page's defaults (policy A `{DEFAULTS['policy']}`, "
            f"policy B `{DEFAULTS['compare_with']}`, **Months** {MONTHS}, **CSM book size** "
            f"×{DEFAULTS['book_scale']:g})")


def page_claims() -> list[str]:
    model = finished()
    n, company = model.runs["A"].n, SCENARIO.population.customers
    claims = [
        f"by default {n:,} of the company's {company:,} customers and prospects",
        f"multiply money and customer counts by {company / n:g}",
        f"{PARAMS['book_scale']['value']:.1f} means \"as the scenario says\"",
        f"It shows {SAMPLE_SIZE} of the simulated customers",
        f"The numbers below come from seed {SEED}",
        "scored from 0 to 1",
        f"Is that seed {SEED}'s luck",
        f"Seeds {SEEDS[0]}–{SEEDS[-1]} give the same picture",
        f"seeds {SEEDS[0]}–{SEEDS[-1]}",
        f"({n:,} customers simulated, {MONTHS} months unless a step says otherwise)",
        f"The CSM covers {NAMED.accounts_per_csm:g} accounts and costs "
        f"{NAMED.monthly_cost:,.0f} a month, which is {PER_ACCOUNT:,.0f} per account per month",
        f"{RETENTION.split(' (')[0]}",
        f"month {MONTHS}",
        f"{MONTHS} months",
    ]
    for segment in SCENARIO.segments:
        traits = segment.traits
        claims.append(
            f"| {segment.name} | {pct(100 * segment.share)} | ≈ {traits['revenue'].mean():,.0f} "
            f"| ≈ {traits['complexity'].mean():.2g} | ≈ {traits['human_preference'].mean():.2g} "
            f"| {segment.acquisition_cost:,.0f} |"
        )
    return claims


def experiment_1_claims() -> list[str]:
    model, long = finished(), finished(months=LONG)
    policies = [run.policy.name for run in model.runs.values()]
    claims = [f"policy A `{policies[0]}`, policy B `{policies[1]}`",
              f"run to month {MONTHS}. Then pause."]
    d, dl = charts.difference(model, "enterprise"), charts.difference(long, "enterprise")
    claims += [
        "| 12-month retention | ≈ {:.0f} % | ≈ {:.0f} % |".format(*d[RETENTION]),
        "| active enterprise customers after {} months | {:.0f} | {:.0f} |".format(
            MONTHS, *d[ACTIVE]),
        f"| profit, enterprise customers ({MONTHS} months) | {money(d['profit'][0])} "
        f"| {money(d['profit'][1])} |",
        "| active enterprise customers after {} months | {:.0f} | {:.0f} |".format(
            LONG, *dl[ACTIVE]),
        f"| profit, enterprise customers ({LONG} months) | {money(dl['profit'][0])} "
        f"| {money(dl['profit'][1])} |",
    ]
    runs = seeds()
    kept, ret, profit = (gaps(runs, key, "enterprise") for key in (ACTIVE, RETENTION, "profit"))
    claims += [
        f"high-touch keeps more enterprise customers in {every(int(np.sum(kept > 0)))}: "
        f"{kept.mean():.0f} more at month {MONTHS} on average, and {ret.mean():.1f} points "
        f"more 12-month retention (standard deviation {ret.std(ddof=1):.1f})",
        f"ahead in only {every(int(np.sum(profit > 0)))}, by {money(profit.mean())} on average "
        f"with a standard deviation of {money(profit.std(ddof=1))}",
    ]
    a, b = long.series("A", "enterprise"), long.series("B", "enterprise")
    behind = np.flatnonzero(a["profit"] < b["profit"])
    lifetime = gaps(seeds(months=LONG), "profit", "enterprise")
    claims += [
        f"Set **Months** to {LONG} (ten years)",
        f"stays below the dashed one (B's) until month {a['month'][behind[-1]]:.0f}, "
        "then pulls ahead for good",
        f"high-touch makes {money(lifetime.mean())} more over ten years, with a standard "
        f"deviation of {money(lifetime.std(ddof=1))}, and wins in "
        f"{every(int(np.sum(lifetime > 0)), f'all {len(SEEDS)} seeds')}",
        f"about {mean('enterprise', 'human_preference'):.2g} for enterprise, "
        f"{mean('smb', 'human_preference'):.2g} for SMB",
        f"Even under no-touch about {pct(d[RETENTION][1])} of enterprise customers",
        f"A CSM costs {PER_ACCOUNT:,.0f} per account from the first month",
        f"pays about {MARGIN * mean('enterprise', 'revenue'):,.0f} a month in margin "
        f"({mean('enterprise', 'revenue'):,.0f} at an {pct(100 * MARGIN)} gross margin)",
        f"grows from {np.subtract(*d[ACTIVE]):.0f} at month {MONTHS} to "
        f"{np.subtract(*dl[ACTIVE]):.0f} at month {LONG}",
        f"At {MONTHS} months this one looks like a wash",
    ]
    book = finished(book_scale=WHITE_GLOVE)
    db = charts.difference(book, "enterprise")
    assert round(db[RETENTION][0]) == round(d[RETENTION][0])  # "stays"
    assert db["profit"][0] < d["profit"][0]  # "falls"
    claims += [
        f"Set **Months** back to {MONTHS}, set **CSM book size** to ×{WHITE_GLOVE:g} "
        f"({NAMED.accounts_per_csm * WHITE_GLOVE:g} accounts per CSM",
        f"Enterprise retention stays at {pct(db[RETENTION][0])} and profit falls to "
        f"{money(db['profit'][0])}",
        f"using about {pct(100 * model.runs['A'].summary()['csm_utilisation'])} of their "
        f"hours at {NAMED.accounts_per_csm:g} accounts each",
    ]
    return claims


def experiment_2_claims() -> list[str]:
    model = finished()
    d = charts.difference(model, "smb")
    claims = [
        back_to_defaults(),
        "| 12-month retention | ≈ {:.0f} % | ≈ {:.0f} % |".format(*d[RETENTION]),
        f"| cost to serve + acquisition ({MONTHS} months) | {money(d['cost'][0])} "
        f"| {money(d['cost'][1])} |",
        f"| profit | **{signed(d['profit'][0])}** | **{signed(d['profit'][1])}** |",
    ]
    runs = seeds()
    profit, ret = gaps(runs, "profit", "smb"), gaps(runs, RETENTION, "smb")
    claims += [
        f"high-touch loses {money(-profit.mean())} against no-touch on SMB in "
        f"{every(int(np.sum(profit < 0)))}, with a standard deviation of "
        f"{money(profit.std(ddof=1))}",
        f"it still buys about {ret.mean():.1f} points of retention",
    ]
    a = model.series("A", "smb")
    assert np.all(a["cost"][1:] > a["revenue"][1:])  # "from the first month on"
    smb_long = charts.difference(finished(months=LONG), "smb")
    claims += [
        f"An SMB account pays about {mean('smb', 'revenue'):,.0f} a month, and "
        f"{pct(100 * MARGIN)} of that is margin. Its share of a named CSM costs "
        f"{PER_ACCOUNT:,.0f} a month",
        f"with **Months** at {LONG}, high-touch SMB profit is {signed(smb_long['profit'][0])} "
        f"against {signed(smb_long['profit'][1])}",
        f"(preference for humans ≈ {mean('smb', 'human_preference'):.2g})",
    ]
    ds = charts.difference(finished(book_scale=STRETCHED), "smb")
    assert ds["profit"][0] > 0 > d["profit"][0]  # "turns positive"
    assert ds["profit"][1] > ds["profit"][0]  # "no-touch still makes more"
    claims += [
        f"set **CSM book size** to ×{STRETCHED:g} ({NAMED.accounts_per_csm * STRETCHED:g} "
        f"accounts per CSM) and press Reset. High-touch SMB cost falls to {money(ds['cost'][0])} "
        f"and profit turns positive ({money(ds['profit'][0])})",
        "({:.0f} % against {:.0f} %)".format(*ds[RETENTION]),
        f"No-touch still makes more ({money(ds['profit'][1])})",
    ]
    mid = charts.difference(model, "mid_market")
    mid_ret, mid_profit = gaps(runs, RETENTION, "mid_market"), gaps(runs, "profit", "mid_market")
    claims += [
        f"High-touch buys {np.subtract(*mid[RETENTION]):.1f} points of retention there in seed "
        f"{SEED} ({mid[RETENTION][0]:.1f} % against {mid[RETENTION][1]:.1f} %; "
        f"{mid_ret.mean():.1f} points on average over seeds {SEEDS[0]}–{SEEDS[-1]})",
        f"It still makes {money(-np.subtract(*mid['profit']))} less profit than no-touch, and less "
        f"in {every(int(np.sum(mid_profit < 0)))}: at {mean('mid_market', 'revenue'):,.0f} a "
        f"month, the few accounts it saves don't pay for a CSM on every account at "
        f"{PER_ACCOUNT:,.0f} a month each",
    ]
    tiered = finished(policy="no_touch", compare_with="hybrid", months=LONG)
    hybrid = {s: np.subtract(*charts.difference(tiered, s)["profit"][::-1])
              for s in (None, "enterprise", "smb")}
    assert hybrid["smb"] < 0  # "on SMB it costs"
    claims += [
        f"set **CSM book size** back to ×{DEFAULTS['book_scale']:g}",
        f"**Months** to {LONG}, and press Reset",
        f"hybrid makes {money(hybrid[None])} more than no-touch over ten years, and "
        f"{money(hybrid['enterprise'])} of that on enterprise; on SMB it costs "
        f"{money(-hybrid['smb'])}",
    ]
    return claims


def experiment_3_claims() -> list[str]:
    claims = []
    rows = {}
    for scale in REFERRAL:
        model = finished(referral_scale=scale)
        new = [model.runs[label].summary()["new_customers"] for label in model.labels]
        unaware = [model.series(label)["stages"][-1][0] for label in model.labels]
        active = charts.difference(model)[ACTIVE]
        rows[scale] = model, new
        claims.append(
            f"| ×{scale:g} | {new[0]:,} / {new[1]:,} | {unaware[0]:,} / {unaware[1]:,} "
            f"| {active[0]:,.0f} / {active[1]:,.0f} |"
        )
    off, default, strong = REFERRAL
    assert rows[off][1][0] == rows[off][1][1]  # "exactly the same"
    averages = [np.mean([run.runs["A"].summary()["new_customers"]
                         for run in seeds(referral_scale=scale)]) for scale in REFERRAL]
    gap = [gaps(seeds(referral_scale=scale), ACTIVE).mean() for scale in REFERRAL]
    referrals = [run.summary()["referrals"] for run in rows[default][0].runs.values()]
    claims += [
        back_to_defaults(),
        f"Set **Referral strength** to {off:g}, press Reset and run to month {MONTHS}",
        f"Repeat with referral strength {default:g} (the scenario's own) and {strong:g}",
        f"(Focus: all customers, seed {SEED})",
        "new customers under high-touch go from {:.0f} to {:.0f} to {:.0f}".format(*averages),
        "in active customers grows from {:.0f} to {:.0f} to {:.0f}".format(*gap),
        f"at a constant {pct(100 * SCENARIO.marketing.awareness_rate)} a month",
        f"win exactly the same {rows[off][1][0]} customers",
        f"({referrals[0]} against {referrals[1]} under no-touch)",
    ]
    word_of_mouth = finished(marketing_scale=0.0)
    nothing = finished(marketing_scale=0.0, referral_scale=0.0)
    alone = [run.summary()["new_customers"] for run in nothing.runs.values()]
    assert alone[0] == alone[1]
    company = SCENARIO.population.customers
    slider = PARAMS["customers"]
    assert slider["min"] <= company <= slider["max"] and company % slider["step"] == 0
    claims += [
        f"Set **Marketing spend** to 0 with referral strength {default:g}",
        f"{word_of_mouth.runs['A'].summary()['new_customers']} new customers under "
        f"high-touch (seed {SEED})",
        f"With both levers at 0, only the prospects who were already aware at the start can "
        f"buy, and that gives {alone[0]}",
        f"Set **Customers simulated** to {company:,}: the page then simulates every customer",
    ]
    return claims


CLAIMS: dict[str, Callable[[], list[str]]] = {
    "page": page_claims,
    "experiment 1": experiment_1_claims,
    "experiment 2": experiment_2_claims,
    "experiment 3": experiment_3_claims,
}


def collapsed(text: str) -> str:
    return " ".join(text.split())


def tutorial() -> str:
    return collapsed(TUTORIAL.read_text(encoding="utf-8"))


@pytest.mark.parametrize("section", list(CLAIMS))
def test_the_tutorial_says_what_the_page_shows(section):
    text = tutorial()
    missing = [claim for claim in map(collapsed, CLAIMS[section]()) if claim not in text]
    assert not missing, "docs/tutorial.md should say:\n" + "\n".join(missing)


def test_every_number_in_the_tutorial_is_checked():
    raw = TUTORIAL.read_text(encoding="utf-8")
    body = raw[raw.index("### What you see"):raw.index("## Going further")]
    body = re.sub(r"(?m)^(\s*)\d+\. ", r"\1#. ", body)  # the steps' numbers
    body = re.sub(r"## Experiment \d", "## Experiment #", body)
    text = collapsed(body)
    covered = np.zeros(len(text), dtype=bool)
    for make in CLAIMS.values():
        for claim in map(collapsed, make()):
            for hit in re.finditer(re.escape(claim), text):
                covered[hit.start():hit.end()] = True
    unchecked = [
        text[max(0, hit.start() - 30):hit.end() + 10]
        for hit in re.finditer(r"(?<!\w)\d+(?:[.,]\d+)*", text)  # not B2B's 2
        if not covered[hit.start():hit.end()].all()
    ]
    assert not unchecked, "numbers no test recomputes:\n" + "\n".join(unchecked)


def test_the_controls_the_tutorial_names_are_the_pages():
    _, rc = solara.render(make_app("default")(), handle_error=False)
    try:
        labels = [w.label for kind in (v.Slider, v.Select) for w in rc.find(kind).widgets]
        labels += [str(w.children[0]) for w in rc.find(v.Btn).widgets if w.children]
    finally:
        rc.close()
    text = tutorial()
    named = re.findall(r"(?:[Ss]et|[Pp]ress) \*\*([^*]+)\*\*", text)
    named += re.findall(r"\*\*([^*]+)\*\* (?:slider|menu)\b", text)
    named += re.findall(r"\*\*([^*]+)\*\* (?:advances|plays)\b", text)
    used = {"Reset", "Focus", "Months", "CSM book size", "Referral strength",
            "Marketing spend", "Customers simulated", "Step", "▶"}
    assert used <= set(named), f"the tutorial no longer names {used - set(named)}"
    stale = [name for name in named if not any(label.startswith(name) for label in labels)]
    assert not stale, f"the page has no control {stale}; it has {labels}"
