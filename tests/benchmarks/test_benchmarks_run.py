"""The benchmarks in ``benchmarks/`` run end to end at toy sizes and print their JSON line.

Their numbers are not checked here (speed is measured by running them, see README:
Speed); what is checked is that each still runs against the code it measures, since a
benchmark that broke with a change (an argument added to what it wraps, say) would
leave the README's figures without their command.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

CASES = {
    "parent_load": ["--runs", "40", "--flush-batches", "1", "--pool-runs", "40"],
    "harness_overhead": ["--runs", "3", "--customers", "300", "--months", "3"],
    "sweep_scaling": ["--workers", "1,2", "--runs-per-worker", "4", "--customers", "200",
                      "--months", "3"],
    "step_speed": ["--baseline", str(ROOT), "--sizes", "300", "--months", "3",
                   "--repeats", "1"],
    "step_phases": ["--sizes", "100", "300", "--months", "3", "2", "--repeats", "1"],
    "throughput": ["--sizes", "2000", "--months", "3", "--reference-customers", "200",
                   "--reference-months", "2", "--repeat", "1"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_benchmark_runs_and_ends_with_its_json_line(name, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{name}.py"),
                           *CASES[name]], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert isinstance(json.loads(last), dict), last


def test_step_phases_times_every_phase_within_its_step(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "step_phases.py"),
                           "--sizes", "300", "--months", "4", "--repeats", "2"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    row = json.loads(done.stdout.strip().splitlines()[-1])["ms_per_step"]["300"]
    phases = [value for label, value in row.items() if label != "step" and
              not label.startswith(" ")]
    assert all(value > 0 for value in row.values()), row
    # the phases are called from the step, one after another: their sum is inside it
    assert sum(phases) <= row["step"], row
    assert row["  of which transitions"] <= row["move (word of mouth, transitions, moves)"]
