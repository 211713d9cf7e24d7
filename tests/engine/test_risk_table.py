"""The Kaplan–Meier risk table's counts, of a run and of its groups, by their definitions."""

from __future__ import annotations

import numpy as np

from sim.engine.metrics import RiskTable


def _counted(converted_step, churn_step, steps):
    """``(at_risk, churned, observed)`` counted customer by customer, k by k."""
    at_risk, churned, observed = (np.zeros(steps + 1, dtype=np.int64) for _ in range(3))
    for conv, churn in zip(converted_step, churn_step, strict=True):
        if conv < 0:
            continue
        horizon = steps - conv
        lifetime = churn - conv if churn >= 0 else steps + 1
        for k in range(steps + 1):
            observed[k] += horizon >= k
            at_risk[k] += min(lifetime, horizon) >= k
        if lifetime <= horizon:
            churned[lifetime] += 1
    return at_risk, churned, observed


def _random_run(rng, n, steps):
    conv = np.where(rng.random(n) < 0.3, -1, rng.integers(0, steps + 1, n))
    churn = np.where((conv >= 0) & (rng.random(n) < 0.5), conv + rng.integers(0, steps + 1, n), -1)
    return conv.astype(np.int32), np.where(churn > steps, -1, churn).astype(np.int32)


def test_the_tables_count_what_they_say_for_a_run_and_for_each_group():
    rng = np.random.default_rng(15)
    for _ in range(40):
        n, steps = int(rng.integers(0, 60)), int(rng.integers(0, 15))
        conv, churn = _random_run(rng, n, steps)
        group = rng.integers(0, 3, n).astype(np.int8)
        whole = RiskTable.of(conv, churn, steps)
        for got, want in zip((whole.at_risk, whole.churned, whole.observed),
                             _counted(conv, churn, steps), strict=True):
            np.testing.assert_array_equal(got, want)
        for g, table in enumerate(RiskTable.by_group(conv, churn, steps, group, 3)):
            mine = group == g
            for got, want in zip((table.at_risk, table.churned, table.observed),
                                 _counted(conv[mine], churn[mine], steps), strict=True):
                np.testing.assert_array_equal(got, want)
