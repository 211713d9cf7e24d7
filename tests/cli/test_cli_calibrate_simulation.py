"""``engagesim calibrate TABLE --scenario S --policy P``: outputs and exit codes."""

import json

import numpy as np
import pytest

from sim import load_scenario
from sim.cli import main
from sim.theory.calibration import simulate_cohort


def cohort_table(tmp_path):
    alive = simulate_cohort(0.9, 7.0, 3000, 6, np.random.default_rng(4))
    table = tmp_path / "cohort.csv"
    table.write_text("period,alive\n" + "".join(f"{k},{a}\n" for k, a in enumerate(alive)))
    return table


def test_calibrate_through_the_simulation_writes_a_runnable_scenario(tmp_path, capsys):
    table = cohort_table(tmp_path)
    out = tmp_path / "fit" / "cohort.json"
    assert main(["calibrate", str(table), "--scenario", "constant_churn", "--policy", "none",
                 "--segment-map", "all=everyone", "--customers", "3000", "--seed", "2",
                 "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "period   table  simulated      z" in printed and "max |z|" in printed
    fit = json.loads(out.read_text())["segments"]["everyone"]
    assert fit["table_segment"] == "all" and fit["check"]["max_abs_z"] <= 4
    scenario = out.with_suffix(".toml")
    dist = load_scenario(scenario).segments[0].traits["churn_propensity"]
    assert dist.kind == "beta"
    assert dist.params == pytest.approx((fit["alpha"], fit["beta"]), rel=1e-5)
    run_dir = tmp_path / "run"
    assert main(["run", str(scenario), "--policy", "none", "--customers", "200",
                 "--months", "3", "--out", str(run_dir), "--quiet"]) == 0
    assert (run_dir / "summary.json").is_file()


def test_calibrate_through_the_simulation_refuses_bad_input(tmp_path, capsys):
    table = cohort_table(tmp_path)
    base = ["calibrate", str(table), "--scenario", "constant_churn",
            "--out", str(tmp_path / "x.json")]
    cases = [
        (["--policy", "none", "--segment-map", "all=nobody"], "no segment 'nobody'"),
        (["--policy", "none", "--segment-map", "allsegments"], "TABLE_COHORT=SCENARIO_SEGMENT"),
        (["--policy", "none"], "no cohort of the table"),
        ([], "--policy"),
        (["--policy", "none", "--segment-map", "all=everyone", "--horizon", "9"], "--horizon"),
    ]
    for extra, message in cases:
        assert main(base + extra) == 2, extra
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (extra, err)
    assert main(["calibrate", str(table), "--policy", "none"]) == 2
    assert "only with --scenario" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
