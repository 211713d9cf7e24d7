"""Prove that a change alters no output: run every command at two revisions and compare.

Usage (from the repository root, with the project's venv)::

    .venv/bin/python .ci/same_outputs.py BASE [--keep DIR]

runs ``run``, ``compare``, ``sweep`` (every shipped experiment), ``analytic``,
``calibrate``, ``validate --fast`` and two error paths on the shipped inputs, once with
the code of git revision BASE (a temporary worktree) and once with the working tree,
each writing into the same folder path so that paths printed in the outputs agree, and
compares every file byte for byte (a ``.npz`` by its arrays: a zip's bytes carry
timestamps; a folder's lock file not at all: it holds a process id). Text files may
differ only in lines that carry wall-clock times (``N runs in X s``, ``Started``,
``Runtime:``, progress bars) and in the checkout's own path. Exits 0 when every output
is the same, 1 otherwise (listing what differs).
It takes about five minutes on two cores.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK_FILE = ".engagesim.lock"
"""A results folder's lock (``sim.sweep.store.LOCK_FILE``): its text is a process id."""

#: Lines that carry wall-clock time, not results (including progress-bar rates).
TIMING = re.compile(r'"started"|Started|elapsed| runs in [0-9.]+ s|Runtime: |[0-9.]+(step|it)/s')

#: (output name, command arguments); ``{out}`` is the output folder.
COMMANDS = [
    *[
        (f"run-{scenario}", ["run", scenario, "--policy", policy, "--seed", "3",
                             "--customers", "1500", "--months", "18", "--out", "{out}",
                             "--quiet"])
        for scenario, policy in [("default", "hybrid"), ("bass", "none"),
                                 ("constant_churn", "email"), ("markov_saas", "hybrid")]
    ],
    ("run-weekly", ["run", "default", "--policy", "high_touch", "--seed", "1",
                    "--customers", "2000", "--out", "{out}"]),
    ("compare", ["compare", "--replications", "3", "--customers", "1500", "--months", "18",
                 "--jobs", "2", "--out", "{out}", "--quiet"]),
    *[
        (f"sweep-{name}", ["sweep", name, "--replications", "2", "--customers", "800",
                           "--months", "12", "--jobs", "2", "--out", "{out}", "--quiet"])
        for name in ("policy_comparison", "csm_ratio_sweep", "segment_mix_sweep")
    ],
    ("analytic-markov_saas", ["analytic", "markov_saas"]),
    ("analytic-markov_saas-json", ["analytic", "markov_saas", "--json"]),
    ("analytic-constant_churn", ["analytic", "constant_churn", "--policy", "email"]),
    ("calibrate", ["calibrate", "scenarios/cohorts_example.csv", "--out", "{out}/fit.json"]),
    ("calibrate-forecast", ["calibrate", "scenarios/cohorts_example.csv", "--fit-periods", "6",
                            "--horizon", "24", "--out", "{out}/fit.json"]),
    ("validate", ["validate", "--fast", "--out", "{out}", "--quiet"]),
    ("error-unknown-scenario", ["run", "nosuch"]),
    ("error-not-markovian", ["analytic", "default"]),
]


def run_all(code: Path, out: Path, dest: Path) -> None:
    """Run every command with the package at ``code``; results end up in ``dest``."""
    # a fixed hash seed: set iteration order is then the same on both sides
    env = {**os.environ, "PYTHONPATH": str(code), "PYTHONHASHSEED": "0"}
    for name, args in COMMANDS:
        target = out / name
        argv = [sys.executable, "-m", "sim", *(a.replace("{out}", str(target)) for a in args)]
        done = subprocess.run(argv, cwd=code, env=env, capture_output=True, text=True)
        target.mkdir(parents=True, exist_ok=True)
        (target / "console.txt").write_text(
            f"exit {done.returncode}\n{done.stdout}{done.stderr}".replace(str(code), "<ROOT>")
        )
        print(f"  {name}: exit {done.returncode}", flush=True)
    for path in out.rglob("*"):  # outputs that name a scenario's file name its checkout
        if path.is_file() and path.suffix in {".json", ".md", ".txt", ".csv", ".toml"}:
            text = path.read_text(errors="surrogateescape")
            if str(code) in text:
                path.write_text(text.replace(str(code), "<ROOT>"), errors="surrogateescape")
    shutil.move(out, dest)


def same_arrays(x: Path, y: Path) -> bool:
    """Whether two ``.npz`` files hold the same arrays (names, dtypes, values, bit for bit).

    A zip's bytes also carry its members' timestamps and compression, which are not
    outputs.
    """
    import numpy as np

    with np.load(x) as data_x, np.load(y) as data_y:
        return data_x.files == data_y.files and all(
            data_x[k].dtype == data_y[k].dtype and data_x[k].shape == data_y[k].shape
            and data_x[k].tobytes() == data_y[k].tobytes() for k in data_x.files)


def differences(a: Path, b: Path) -> list[str]:
    """What differs between two output trees (timing lines and checkout paths aside)."""
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    found = [f"only in {'BASE' if p in files_a else 'working tree'}: {p}"
             for p in sorted(files_a ^ files_b)]
    for rel in sorted(files_a & files_b):
        x, y = (a / rel).read_bytes(), (b / rel).read_bytes()
        if x == y or (rel.suffix == ".npz" and same_arrays(a / rel, b / rel)):
            continue
        if rel.name == LOCK_FILE:  # holds the process id of the sweep that locked it
            continue
        try:
            lines_x, lines_y = ([line for line in t.decode().splitlines()
                                 if not TIMING.search(line)] for t in (x, y))
        except UnicodeDecodeError:
            found.append(f"differs: {rel}")
            continue
        if lines_x != lines_y:
            diff = difflib.unified_diff(lines_x, lines_y, "BASE", "working tree", lineterm="", n=0)
            found.append(f"differs: {rel}\n    " + "\n    ".join(list(diff)[2:12]))
    return found


def main() -> int:
    """Run both sides and compare; 0 when nothing differs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="git revision to compare the working tree with")
    parser.add_argument("--keep", type=Path, help="keep both output trees in this folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="same-outputs."))
    base_code = work / "base-code"
    try:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet",
                        str(base_code), args.base], check=True)
        out = work / "out"  # the same path on both sides
        print(f"BASE ({args.base}):")
        run_all(base_code, out, work / "base")
        print("working tree:")
        run_all(ROOT, out, work / "head")
        found = differences(work / "base", work / "head")
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for side in ("base", "head"):
                shutil.copytree(work / side, args.keep / side, dirs_exist_ok=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                        str(base_code)], check=False)
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(found) if found else "every output is the same")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
