"""Fuzzing the input files: any mutation of a shipped file runs, or ends in one clear line.

Hypothesis takes a shipped scenario or experiment file and mutates it: a key deleted or
renamed, a value replaced by one of another type or by an extreme (``nan``, ``inf``,
a negative, the largest 64-bit integer), or the file's bytes flipped, inserted or
deleted. The mutated file goes through the command line in this process
(``engagesim run FILE --agents 200 --months 3`` for a scenario; ``engagesim sweep FILE``
for an experiment, stopped once the experiment has loaded and every design point has
been checked, since running the sweep adds nothing to the parsing). Either it succeeds
(a mutation can be valid), or it exits with code 2 and one line on stderr that names
the file (and, for a value of the wrong type, its key path), with no traceback and
nothing written. Cases Hypothesis found are kept as ``@example``\\ s.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import shutil
import tempfile
import tomllib
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sim import cli

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = {"default": None, "aarrr": None, "b2c_retail": "low_touch"}  # name → --policy
EXPERIMENTS = ("policy_comparison", "csm_ratio_sweep")
SOURCES = {
    **{name: ROOT / "scenarios" / f"{name}.toml" for name in SCENARIOS},
    **{name: ROOT / "experiments" / f"{name}.toml" for name in EXPERIMENTS},
}
TEXTS = {name: path.read_bytes() for name, path in SOURCES.items()}
TREES = {name: tomllib.loads(text.decode()) for name, text in TEXTS.items()}

# a key path: table keys and list indices, e.g. ("lifecycle", "edges", 3, "to")
KeyPath = tuple[str | int, ...]

REPLACEMENTS: tuple[Any, ...] = (
    "text", "", [], [1, "a"], {}, {"x": 1}, True, False,
    2**63 - 1, -(2**63), -1, 0, 1.5, -0.5, math.nan, math.inf, -math.inf,
)
NEW_NAMES = ("x", "customer", "polices", "Months", "share_", "agents")
KINDS = ("delete", "replace", "rename")


def _key_paths(tree: Any, prefix: KeyPath = ()) -> list[KeyPath]:
    """Every key and list item below ``tree``, parents before children."""
    found = []
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(
        tree, list) else ()
    for key, value in items:
        found.append((*prefix, key))
        found.extend(_key_paths(value, (*prefix, key)))
    return found


PATHS = {name: _key_paths(tree) for name, tree in TREES.items()}


def dotted(path: KeyPath) -> str:
    """The path as the messages write it: ``lifecycle.edges[3].to``.

    An item of a list is named by the list (``policies`` for ``policies[1]``): the
    messages name the key, and say which item.
    """
    while path and isinstance(path[-1], int):
        path = path[:-1]
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        if not re.fullmatch(r"[\w-]+", part):
            part = f'"{part}"'  # a key with a dot in it, as TOML quotes it
        text += f".{part}" if text else part
    return text


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: same escapes
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}"
                               for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def dumps(tree: dict[str, Any]) -> str:
    """TOML text for ``tree``: one ``key = value`` line per top-level key."""
    return "".join(f"{json.dumps(key)} = {_toml_value(value)}\n" for key, value in tree.items())


def _type_class(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def mutated(source: str, path: KeyPath, kind: str, value: Any, name: str) -> dict[str, Any]:
    """A copy of the source's parsed TOML with the key at ``path`` deleted, replaced or
    renamed (a list item cannot be renamed: it is deleted)."""
    tree = json.loads(json.dumps(TREES[source]))  # a deep copy (no dates in these files)
    parent = tree
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if kind == "replace":
        parent[last] = value
    elif kind == "rename" and isinstance(last, str):
        parent = {(name if key == last else key): item for key, item in parent.items()} \
            if name not in parent else parent
        if len(path) == 1:
            tree = parent
        else:
            grand = tree
            for part in path[:-2]:
                grand = grand[part]
            grand[path[-2]] = parent
    else:
        del parent[last]
    return tree


def _run_cli(source: str, data: bytes) -> tuple[int, str, Path, Path]:
    """Write ``data`` as the source's file in a fresh folder and run the command line.

    Returns:
        The exit code, stderr, the file and the output folder (the file's folder must
        hold nothing else afterwards).
    """
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    path = folder / f"{source}.toml"
    path.write_bytes(data)
    out = folder / "out"
    err = io.StringIO()
    if source in SCENARIOS:
        args = ["run", str(path), "--agents", "200", "--months", "3", "--quiet",
                "--out", str(out)]
        if SCENARIOS[source]:
            args += ["--policy", SCENARIOS[source]]
        loaded = contextlib.nullcontext()
    else:
        args = ["sweep", str(path), "--agents", "200", "--months", "3", "--replications",
                "1", "--jobs", "1", "--quiet", "--out", str(out)]
        loaded = mock.patch.object(cli, "_execute", lambda *a, **k: 0)
    with loaded, contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(args)
    return code, err.getvalue(), path, out


def _check(code: int, err: str, path: Path, out: Path, key: str | None = None) -> None:
    """Exit 0, or exit 2 with one line naming the file (and ``key``), nothing written."""
    try:
        assert "Traceback" not in err, err
        if code == 0:
            return
        assert code == 2, (code, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith(f"engagesim: error: {path}"), lines[0]
        if key is not None:
            assert f": {key}" in lines[0], (key, lines[0])
        assert not out.exists(), list(out.rglob("*"))
        assert [p.name for p in path.parent.iterdir()] == [path.name]
    finally:
        shutil.rmtree(path.parent)


@st.composite
def key_mutations(draw) -> tuple[str, KeyPath, str, Any, str]:
    source = draw(st.sampled_from(sorted(SOURCES)))
    path = draw(st.sampled_from(PATHS[source]))
    return (source, path, draw(st.sampled_from(KINDS)), draw(st.sampled_from(REPLACEMENTS)),
            draw(st.sampled_from(NEW_NAMES)))


FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def test_the_writer_round_trips_every_shipped_file():
    for tree in TREES.values():
        assert tomllib.loads(dumps(tree)) == tree


@FUZZ
@given(key_mutations())
@example(("aarrr", ("lifecycle", "edges", 2), "replace", "text", "x"))  # named the list
@example(("csm_ratio_sweep", ("factors", 0, "values", 0), "replace", "text", "x"))
@example(("csm_ratio_sweep", ("factors", 0, "values"), "replace", "text", "x"))
@example(("csm_ratio_sweep", ("factors", 0, "path"), "replace", "", "x"))  # IndexError
@example(("aarrr", ("uncertainties", "policies.high_touch.programs.custom_onboarding.effect"),
          "replace", "text", "x"))
def test_a_mutated_key_runs_or_is_named(mutation):
    source, path, kind, value, name = mutation
    tree = mutated(source, path, kind, value, name)
    code, err, file, out = _run_cli(source, dumps(tree).encode())
    original = TREES[source]
    for part in path:
        original = original[part]
    # a value of another type (or not a number where a number was) names its key
    wrong_type = kind == "replace" and (
        _type_class(value) != _type_class(original)
        or (isinstance(value, float) and not math.isfinite(value))
    )
    key = dotted(path)
    if source in EXPERIMENTS and path[0] == "factors" and path[2:3] == ("values",) \
            and len(path) > 3:
        # a factor's values are checked against the scenario, one design point at a
        # time: the message names "factors", the design point and the scenario's key
        key = "factors: design point"
    _check(code, err, file, out, key if wrong_type else None)


@st.composite
def byte_mutations(draw) -> tuple[str, tuple[tuple[str, int, int], ...]]:
    source = draw(st.sampled_from(sorted(SOURCES)))
    edits = draw(st.lists(st.tuples(
        st.sampled_from(("flip", "insert", "delete", "replace")),
        st.integers(0, len(TEXTS[source]) - 1),
        st.integers(0, 255),
    ), min_size=1, max_size=4))
    return source, tuple(edits)


def byte_mutated(source: str, edits: tuple[tuple[str, int, int], ...]) -> bytes:
    """The source's bytes with each edit applied at its position (modulo the length)."""
    data = bytearray(TEXTS[source])
    for action, position, byte in edits:
        at = position % max(len(data), 1)
        if action == "flip" and data:
            data[at] ^= 1 << (byte % 8)
        elif action == "insert":
            data.insert(at, byte)
        elif action == "delete" and data:
            del data[at]
        elif data:
            data[at] = byte
    return bytes(data)


@FUZZ
@given(byte_mutations())
def test_mutated_bytes_run_or_name_the_file(mutation):
    source, edits = mutation
    code, err, file, out = _run_cli(source, byte_mutated(source, edits))
    _check(code, err, file, out)


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_the_shipped_files_pass_unchanged(source):
    code, err, file, out = _run_cli(source, TEXTS[source])
    assert code == 0, err
    _check(code, err, file, out)
