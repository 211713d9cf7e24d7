"""The command line starts without the simulation's libraries.

``--help``, ``--version`` and the listings must not import Mesa, SciPy, pandas or
Matplotlib (seconds on a busy machine): each command imports what it runs. Checked in a
fresh interpreter by what is in ``sys.modules``, not by a timing. The listings read only
each file's ``description``; the last tests check that they list what the loaders load.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sim
from sim import cli
from sim.engine.scenario import SCENARIO_DIR, load_scenario, shipped_scenarios
from sim.sweep.design import EXPERIMENT_DIR, load_experiment, shipped_experiments

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("mesa", "scipy", "pandas", "matplotlib", "networkx", "joblib", "tqdm")

PROBE = """
import contextlib, io, json, sys
from sim.cli import main
for argv in {argvs!r}:
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # --help, --version
            code = exc.code
    assert code == 0, (argv, code)
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def _heavy_after(*argvs: list[str]) -> list[str]:
    """The heavy modules a fresh interpreter has imported after running ``argvs``."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(argvs=list(argvs), heavy=HEAVY)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_importing_the_command_line_imports_no_heavy_library():
    assert _heavy_after() == []


def test_import_sim_imports_no_heavy_library():
    done = subprocess.run(
        [sys.executable, "-c", "import sys, sim; print(sorted(sys.modules))"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert not [m for m in HEAVY if f"'{m}'" in done.stdout]


@pytest.mark.parametrize("argv", [
    ["scenarios"], ["experiments"], ["--version"], ["--help"],
    ["run", "--help"], ["sweep", "--help"], ["decide", "--help"], ["explore", "--help"],
])
def test_listings_and_help_import_no_heavy_library(argv):
    assert _heavy_after(argv) == []


def test_a_command_that_runs_still_imports_what_it_needs():
    """The probe can fail: a command that simulates imports Mesa."""
    assert "mesa" in _heavy_after(["analytic", "--months", "2"])


def test_the_listings_list_what_the_loaders_load(capsys):
    assert cli.SHIPPED / "scenarios" == SCENARIO_DIR
    assert cli.SHIPPED / "experiments" == EXPERIMENT_DIR
    for command, shipped, load in (
        (cli.cmd_scenarios, shipped_scenarios(), load_scenario),
        (cli.cmd_experiments, shipped_experiments(), load_experiment),
    ):
        assert command(None) == 0
        expected = [f"{name:<22} {load(path).description}" for name, path in shipped.items()]
        assert capsys.readouterr().out.splitlines() == expected


def test_a_listing_marks_a_file_it_cannot_read(tmp_path, capsys):
    (tmp_path / "good.toml").write_text('description = "fine"\n')
    (tmp_path / "broken.toml").write_text("description = \n")
    (tmp_path / "number.toml").write_text("description = 3\n")
    assert cli._list_shipped(tmp_path) == 0
    lines = dict(line.split(maxsplit=1) for line in capsys.readouterr().out.splitlines())
    assert lines["good"] == "fine"
    assert lines["broken"].startswith(f"(invalid: {tmp_path / 'broken.toml'}: not valid TOML")
    assert lines["number"].startswith(f"(invalid: {tmp_path / 'number.toml'}: description:")


def test_one_version_everywhere():
    from sim.engine.model import __version__ as engine_version

    assert sim.__version__ == engine_version == importlib.metadata.version("engagesim")


def test_the_package_exports_what_it_says():
    assert set(sim.__all__) == {*sim._PUBLIC, "__version__"}
    for name in sim.__all__:
        assert getattr(sim, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        sim.nothing  # noqa: B018


def test_tab_completion_answers_from_the_parser(tmp_path):
    """argcomplete's protocol: the shell's line in, the candidates in a file, exit 0."""
    pytest.importorskip("argcomplete")
    answers = {}
    for line in ("engagesim sc", "engagesim decide --sa"):
        out = tmp_path / "candidates"
        env = {**os.environ, "_ARGCOMPLETE": "1", "_ARGCOMPLETE_IFS": "\n",
               "COMP_LINE": line, "COMP_POINT": str(len(line)),
               "_ARGCOMPLETE_STDOUT_FILENAME": str(out)}
        done = subprocess.run([sys.executable, "-m", "sim.cli"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        answers[line] = out.read_text().split()
    assert answers == {"engagesim sc": ["scenarios"], "engagesim decide --sa": ["--samples"]}
