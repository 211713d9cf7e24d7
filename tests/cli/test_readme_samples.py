"""The README's sample outputs are what the commands print today (not remembered numbers).

Each ``console`` block of the tour that shows a deterministic command is re-run here and
compared line by line; when the engine changes, the test says which block to regenerate
(run the command shown and paste its output).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _console_block(command: str) -> list[str]:
    """The lines the README shows after ``$ .venv/bin/engagesim COMMAND`` (up to the next $)."""
    text = README.read_text()
    blocks = re.findall(r"```console\n(.*?)```", text, flags=re.S)
    for block in blocks:
        lines = block.splitlines()
        for i, line in enumerate(lines):
            if line == f"$ .venv/bin/engagesim {command}":
                out = []
                for following in lines[i + 1:]:
                    if following.startswith("$ "):
                        break
                    out.append(following)
                while out and not out[-1]:
                    out.pop()
                return out
    raise AssertionError(f"README has no console block for `engagesim {command}`")


def _engagesim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_scenarios_listing_matches_the_readme(tmp_path):
    done = _engagesim("scenarios", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == _console_block("scenarios")


def test_the_tour_run_matches_the_readme(tmp_path):
    command = "run default --policy high_touch --seed 1"
    done = _engagesim(*command.split(), "--out", str(tmp_path / "out"), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    shown = _console_block(command)
    printed = done.stdout.replace(str(tmp_path / "out"), "results/runs/default-high_touch-s1")
    assert printed.splitlines() == shown, "regenerate the README's run block: " + command


def test_the_typo_message_matches_the_readme(tmp_path):
    shown = _console_block("run my_company.toml")
    assert len(shown) == 1
    section, segment = re.search(r"my_company\.toml: (\w+)\.(\w+)\.", shown[0]).groups()
    key = re.search(r"found '(\w+)'", shown[0]).group(1)  # the typo
    right_key = re.search(r"did you mean '(\w+)'", shown[0]).group(1)
    text = (ROOT / "scenarios" / "default.toml").read_text()
    table = f"[{section}.{segment}]"
    head, rest = text.split(table, 1)
    body, tail = rest.split("\n[", 1)
    assert f"\n{right_key} =" in body, f"the README's typo needs a key {right_key} in {table}"
    body = body.replace(f"\n{right_key} =", f"\n{key} =", 1)
    shutil.copy(ROOT / "scenarios" / "default.toml", tmp_path / "original.toml")
    (tmp_path / "my_company.toml").write_text(head + table + body + "\n[" + tail)
    done = _engagesim("run", "my_company.toml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == shown
