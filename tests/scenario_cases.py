"""Shared helpers of the scenario-validation tests (a plain module: not collected).

Bad scenarios are built from ``scenarios/default.toml``; :func:`check` asserts that the
:class:`sim.InputError` names the file, the full dotted key path and what was expected,
on one line.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from sim import InputError
from sim.engine.scenario import SCENARIO_DIR

DEFAULT = SCENARIO_DIR / "default.toml"
DEFAULT_TEXT = DEFAULT.read_text()
RAW = tomllib.loads(DEFAULT_TEXT)
FILE = "structural.toml"  # the file name given to from_dict


def check(exc: InputError, file: str | None, key: str, *expected: str) -> None:
    """The message names ``file`` and ``key`` and contains every ``expected`` text."""
    msg = str(exc)
    if file is not None:
        assert file in msg, msg
        assert exc.file is not None and file in exc.file, msg
    assert exc.key == key, msg
    if key:
        assert f": {key}: " in f": {msg}", msg
    for text in expected:
        assert text in msg, f"{text!r} not in {msg!r}"
    assert "\n" not in msg, msg


def write(tmp_path: Path, text: str, name: str = "my_scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def edited(old: str, new: str, count: int = 1) -> str:
    """The default scenario's text with ``old`` replaced (it must occur)."""
    assert old in DEFAULT_TEXT, old
    return DEFAULT_TEXT.replace(old, new, count)
