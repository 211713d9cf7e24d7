"""Experiment files: validation, designs (sizes, bounds, stratification), seeds."""

import numpy as np
import pytest

from sim import InputError
from sim.cli import main
from sim.sweep.design import design_size, experiment_from_dict, load_experiment, run_seed

BASE = {"scenario": "default", "replications": 2, "months": 6, "customers": 200, "seed": 5}


def exp_with(**extra):
    return experiment_from_dict({**BASE, **extra}, "exp.toml")


@pytest.mark.parametrize("name", ["policy_comparison", "csm_ratio_sweep", "segment_mix_sweep"])
def test_shipped_experiments_load(name):
    exp = load_experiment(name)
    assert len(exp.runs()) == design_size(exp) * exp.replications * len(exp.policies)


def test_grid_is_the_cartesian_product():
    exp = exp_with(design={"kind": "grid"}, factors=[
        {"path": "segments.smb.acv.mean", "low": 200.0, "high": 600.0, "levels": 3},
        {"path": "teams.named.accounts_per_csm", "values": [10, 25]},
    ])
    points = exp.points()
    assert design_size(exp) == len(points) == 6
    assert sorted({p["segments.smb.acv.mean"] for p in points}) == [200.0, 400.0, 600.0]
    assert len({tuple(p.values()) for p in points}) == 6


@pytest.mark.parametrize("kind", ["lhs", "sobol"])
def test_sampled_designs_stay_in_bounds_and_are_stratified(kind):
    n = 16
    exp = exp_with(design={"kind": kind, "samples": n}, factors=[
        {"path": "segments.smb.acv.mean", "low": 200.0, "high": 600.0},
        {"path": "teams.named.accounts_per_csm", "low": 10, "high": 50,
         "integer": True},
    ])
    points = exp.points()
    assert len(points) == n
    revenue = np.array([p["segments.smb.acv.mean"] for p in points])
    book = [p["teams.named.accounts_per_csm"] for p in points]
    assert revenue.min() >= 200 and revenue.max() <= 600
    assert all(isinstance(b, int) and 10 <= b <= 50 for b in book)
    # one point in each of the n equal strata of the range (LHS; Sobol at n = 2^k)
    strata = np.floor((revenue - 200) / 400 * n).astype(int)
    assert sorted(strata) == list(range(n))
    assert exp.points() == points  # the design is seeded


def test_complement_keeps_segment_shares_summing_to_one():
    exp = exp_with(design={"kind": "lhs", "samples": 5}, factors=[
        {"path": "segments.enterprise.share", "low": 0.02, "high": 0.3,
         "complement": "segments.smb.share"},
    ])
    for point in exp.points():
        scenario = exp.scenario.with_overrides(exp.overrides(point))
        assert sum(s.share for s in scenario.segments) == pytest.approx(1.0)
        assert scenario.segments[0].share == pytest.approx(point["segments.enterprise.share"])


def test_policies_share_seeds_within_a_replication():
    exp = exp_with(policies=["no_touch", "hybrid"], replications=3)
    runs = exp.runs()
    by_key = {}
    for run in runs:
        by_key.setdefault((run.point, run.replication), set()).add(run.seed)
    assert all(len(seeds) == 1 for seeds in by_key.values())
    assert len({next(iter(s)) for s in by_key.values()}) == 3
    assert run_seed(5, 0, 1) == run_seed(5, 0, 1) != run_seed(6, 0, 1)


@pytest.mark.parametrize(
    ("change", "key", "expected"),
    [
        ({"policies": ["no_touch", "hybird"]}, "policies", "did you mean 'hybrid'"),
        ({"baseline": "high_touch", "policies": ["no_touch"]}, "baseline", "compared"),
        ({"design": {"kind": "factorial"}}, "design.kind", "'grid'"),
        ({"factors": [{"path": "segments.smb.revnue.mean", "low": 1, "high": 2}]},
         "factors[0].path", "no key"),
        ({"factors": [{"path": "segments.smb.share", "low": 0.5, "high": 0.9}]},
         "factors", "shares must sum to 1"),
        ({"replications": 0}, "replications", "≥ 1"),
        ({"replicatons": 3}, "replicatons", "did you mean 'replications'"),
    ],
)
def test_bad_experiments_name_the_key(change, key, expected):
    with pytest.raises(InputError) as err:
        exp_with(**change)
    message = str(err.value)
    assert message.startswith("exp.toml: ")
    assert key in message and expected in message


def test_bad_experiment_file_exits_2_without_traceback(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('scenario = "default"\nreplications = "many"\n')
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "bad.toml: replications: expected an integer" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
