"""Policies written in Python files, named ``path/to/file.py:ClassName``.

``engagesim run``, ``compare``, ``sweep`` and ``decide`` accept such a name wherever
they accept a scenario's policy name. The file is imported once per process (a sweep's
workers each import it themselves) and every run gets a fresh instance of the class.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from sim.engine.policies import Policy
from sim.schema import InputError

SEPARATOR = ".py:"


def is_policy_file(name: str) -> bool:
    """Whether ``name`` names a policy in a Python file (``file.py:ClassName``)."""
    return isinstance(name, str) and SEPARATOR in name


@cache
def _policy_class(path_text: str, class_name: str) -> type[Policy]:
    """Import ``path_text`` and return its policy class ``class_name`` (once per process)."""
    path = Path(path_text)
    if not path.is_file():
        raise InputError(path, "", "no such policy file (expected FILE.py:ClassName)")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user's file: report, don't crash
        raise InputError(path, "", f"cannot import: {type(exc).__name__}: {exc}") from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise InputError(path, class_name, "expected a subclass of sim.Policy")
    return cls


def load_policy_file(name: str) -> Policy:
    """A fresh instance of the policy class named ``path/to/file.py:ClassName``.

    Raises:
        InputError: No such file, it does not import, or the class is not a
            :class:`~sim.engine.policies.Policy`.
    """
    path_text, _, class_name = name.rpartition(":")
    return _policy_class(path_text, class_name)()
