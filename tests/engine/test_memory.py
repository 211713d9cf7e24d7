"""The memory estimate covers what a run allocates, and is not wildly above it."""

import tracemalloc

import pytest

from sim import EngagementModel, load_scenario
from sim.engine import memory


@pytest.mark.parametrize(
    ("name", "policy", "degree"),
    [("default", "hybrid", 6), ("default", "hybrid", 16), ("default", "hybrid", 0),
     ("b2c_retail", "low_touch", 6)],
)
def test_the_estimate_bounds_a_runs_measured_peak(name, policy, degree):
    network = {"network.degree": degree} if degree else {"network.kind": "mixed"}
    scenario = load_scenario(name, overrides=network)
    EngagementModel(scenario, policy, rng=0, customers=300, months=1).run()  # warm up
    n = 10_000
    tracemalloc.start()
    try:
        model = EngagementModel(scenario, policy, rng=0, customers=n, months=2)
        model.run()
        model.summary()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = memory.needed_bytes(n, degree)
    # the run itself peaks at 260-400 bytes a customer here (issue 15's memory work); the
    # estimate keeps room for the customers' table `engagesim run` then writes with
    # today's pandas (about 200 bytes a customer; 500-560 with the oldest pandas allowed,
    # where run and table together exceed the estimate by up to half)
    assert 0.4 * estimate < peak <= estimate, (peak / n, estimate / n)


def test_a_run_that_does_not_fit_is_refused_naming_the_setting(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 1e6)
    with pytest.raises(memory.InputError, match=r"population.customers: simulating 5,000 "
                       r"customer agents needs about 0.0 GiB of memory, 0.0 GiB available"):
        EngagementModel("default", "hybrid", rng=0, customers=5000, months=1)
    monkeypatch.setattr(memory, "available_bytes", lambda: None)  # unknown: no refusal
    EngagementModel("default", "hybrid", rng=0, customers=5000, months=1)
