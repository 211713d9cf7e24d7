"""Shared helper of the tests that start a real ``engagesim explore`` server."""

from __future__ import annotations

import re
import subprocess


def explore_address(proc: subprocess.Popen) -> str:
    """Read the server's output up to its address line and return the base URL.

    Args:
        proc: An ``engagesim explore`` process started with text stdout (stderr merged).

    Returns:
        The address it serves, ``http://host:port/``.
    """
    said: list[str] = []
    while not said or not said[-1].startswith("engagesim explore:"):
        line = proc.stdout.readline()
        assert line, f"the server stopped: {''.join(said)}"
        said.append(line)
    return re.search(r"http://\S+/", said[-1]).group(0)
