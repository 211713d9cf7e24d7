"""``mesa.batch_run`` over :class:`EngagementModel`: run outcomes and dotted overrides.

The summary outcomes a user asks for (``outcomes=``) must come back from
``mesa.batch_run`` equal to :meth:`EngagementModel.summary` of the same seeded run, and
a dotted scenario key passed as a parameter must reach the scenario.
"""

from __future__ import annotations

import math

import mesa
import pandas as pd
import pytest

from sim.engine.model import EngagementModel
from sim.schema import InputError

OUTCOMES = ("profit_per_customer", "ltv_mean", "retention.6")
MARGIN = "economics.gross_margin"


def _batch(seeds: list[int]) -> pd.DataFrame:
    rows = mesa.batch_run(
        EngagementModel,
        parameters={"scenario": "default", "policy": "hybrid", "agents": 300, "months": 6,
                     "outcomes": [OUTCOMES], MARGIN: [0.6, 0.8]},
        rng=seeds, max_steps=100, number_processes=1, display_progress=False,
    )
    return pd.DataFrame(rows)


def test_batch_run_reports_the_summary_of_each_seeded_run() -> None:
    frame = _batch([3, 4])  # 2 parameter values × 2 seeds
    assert len(frame) == 4
    assert set(OUTCOMES) <= set(frame.columns)
    assert sorted(frame[MARGIN].unique()) == [0.6, 0.8]
    for _, row in frame.iterrows():
        model = EngagementModel("default", "hybrid", rng=int(row["rng"]), agents=300, months=6,
                                **{MARGIN: row[MARGIN]}).run()
        summary = model.summary()
        assert row["Step"] == 6
        assert row["profit_per_customer"] == summary["profit_per_customer"]
        assert row["ltv_mean"] == summary["ltv_mean"]
        assert row["retention.6"] == summary["retention"]["6"]
    # the override reaches the scenario: a higher margin, more profit on the same seed
    by_seed = frame.pivot(index="rng", columns=MARGIN, values="profit_per_customer")
    assert (by_seed[0.8] > by_seed[0.6]).all()


def test_outcomes_are_nan_before_the_last_step() -> None:
    model = EngagementModel("default", "no_touch", rng=1, agents=200, months=3,
                            outcomes=["ltv_mean"])
    model.step()
    assert math.isnan(model.datacollector.model_vars["ltv_mean"][-1])
    model.run()
    assert model.datacollector.model_vars["ltv_mean"][-1] == model.summary()["ltv_mean"]


def test_an_unknown_outcome_names_the_summary() -> None:
    model = EngagementModel("default", "no_touch", rng=1, agents=200, months=1,
                            outcomes=["retention.99"])
    with pytest.raises(Exception) as caught:  # mesa may wrap a reporter's error
        model.run()
    error = caught.value
    while not isinstance(error, InputError) and error.__cause__ is not None:
        error = error.__cause__
    assert isinstance(error, InputError)
    assert "retention.99" in str(error) and "summary()" in str(error)
