"""Each tactic of the library moves what it aims at, in the direction it promises.

A policy running one tactic (at the strong end of its effect range: the test is of the
direction, not the size) against a policy running nothing, on the same customers and
random numbers (paired seeds), over twelve months of the default scenario:

* a touch program (``effect``) raises satisfaction (its touches feed the response);
* a program aimed at ``churn`` lowers the customers lost;
* one aimed at ``engagement`` raises the engagement index, at ``referral`` the referrals;
* the collaborative roadmap raises satisfaction (product value feeds it).

The difference must clear 4 standard errors of the paired mean. ``community`` pulls a
customer towards its active neighbours' engagement, so its direction depends on theirs:
``tests/engine/test_community.py`` checks it where neighbours are engaged.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import numpy as np
import pytest

from sim.engine.model import EngagementModel
from sim.engine.scenario import from_dict
from sim.engine.tactics_library import load_library

pytestmark = pytest.mark.slow

DEFAULT = Path(__file__).resolve().parents[2] / "scenarios" / "default.toml"
SEEDS = range(6)
#: what each kind of main effect moves, and which way (+1 up, −1 down)
MOVES = {
    "effect": ("satisfaction", +1),
    "targets.churn": ("churned", -1),
    "targets.engagement": ("engagement_index", +1),
    "targets.referral": ("referrals", +1),
    "roadmap.feedback_rate": ("satisfaction", +1),
}
#: customers simulated per run: churn is a count of rare events (`incentives` reaches only
#: customers whose health fell below 0.4), so it needs more of them to clear 4 SE
AGENTS = {"churned": 8000}


def _strong(name: str) -> dict:
    """A policy running tactic ``name`` at the strong end of its effect range."""
    tactic = load_library()[name]
    low, high = tactic.effect_range
    kind, _, key = tactic.range_of.partition(".")
    if tactic.range_of == "effect":
        return {"tactics": [name], "programs": {name: {"effect": high}}}
    if kind == "targets":
        value = low if key == "churn" else high
        targets = {**tactic.body["targets"], key: value}
        return {"tactics": [name], "programs": {name: {"targets": targets}}}
    return {"tactics": [name], kind: {key: high}}


@pytest.mark.parametrize("name", [n for n, t in load_library().items() if t.range_of in MOVES])
def test_a_tactic_moves_its_target_its_way(name):
    with open(DEFAULT, "rb") as f:
        data = tomllib.load(f)
    data = copy.deepcopy(data)
    data.pop("uncertainties")
    data["policies"] = {"nothing": {}, "tactic": _strong(name)}
    scenario = from_dict(data, "default.toml")
    metric, sign = MOVES[load_library()[name].range_of]
    diffs = []
    for seed in SEEDS:
        runs = [EngagementModel(scenario, p, rng=seed, agents=AGENTS.get(metric, 3000),
                                months=12).run()
                for p in ("tactic", "nothing")]
        diffs.append(runs[0].summary()[metric] - runs[1].summary()[metric])
    d = sign * np.asarray(diffs, dtype=float)
    se = d.std(ddof=1) / np.sqrt(d.size)
    assert d.mean() > 4 * se, (metric, d.mean(), se)


def test_every_tactic_is_either_checked_here_or_in_the_community_test():
    kinds = {t.range_of for t in load_library().values()}
    assert kinds - set(MOVES) == {"community.strength"}
