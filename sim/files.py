"""Writing files so that a reader never sees half of one: atomic writes, JSON and PNG.

Every output engagesim writes goes through :func:`atomic_write`: the content is written
to a temporary file beside the destination, flushed to disk, given the permissions of an
ordinary new file (``0o666`` less the umask; ``mkstemp`` would leave ``0o600``) and
renamed over the destination in one step (``os.replace``). An interrupted write leaves
the old file (or none) and no temporary file behind; a SIGKILL mid-write can leave the
temporary file (its name starts with a dot: :func:`is_temporary`), which readers skip.

The exit codes of ``engagesim`` live here too, with :func:`exit_status`, which turns an
exception into its code and one-line message (the command line's ``main`` uses it):

====  ==============================================================================
 0    success
 1    some runs failed (each recorded with its error in ``runs.csv``; ``--resume``
      retries them), or a validation check failed
 2    bad input: a file, a key, a flag or an output path that cannot be used (the
      message names it)
 3    the environment failed: a full disk, no permission, an I/O error, a results
      folder in use by another engagesim process. Retrying later may work
130   interrupted (Ctrl+C)
====  ==============================================================================
"""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sim.schema import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

EXIT_OK = 0
EXIT_FAILED_RUNS = 1
EXIT_INPUT = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERRUPTED = 130
EXIT_CODES_HELP = (
    "exit codes: 0 success; 1 some runs failed (recorded in runs.csv, --resume retries "
    "them); 2 bad input (the message names the file, key or flag); 3 the environment "
    "failed (full disk, no permission, I/O error, results folder in use); 130 interrupted"
)
"""The exit codes in one line, for the command line's help."""

#: ``OSError`` numbers that mean the path given is unusable (bad input), not the machine.
INPUT_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.ENOTDIR, errno.EISDIR, errno.EEXIST,
                          errno.ELOOP, errno.EINVAL})


class EnvironmentFailure(Exception):
    """The machine, not the input, stopped the command (e.g. a folder in use): exit 3."""


def exit_status(exc: BaseException) -> tuple[int, str] | None:
    """The exit code and one-line message of an exception that ends a command.

    Args:
        exc: The exception.

    Returns:
        ``(code, message)``, or ``None`` for an exception that is a bug (let it raise).
    """
    if isinstance(exc, InputError):
        return EXIT_INPUT, str(exc)
    if isinstance(exc, EnvironmentFailure):
        return EXIT_ENVIRONMENT, str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted"
    if isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else ""
        what = exc.strerror or str(exc)
        message = f"{where}: {what}" if where else what
        if exc.errno in INPUT_ERRNOS:
            return EXIT_INPUT, message
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            message += " (no file was left half-written; free space and run again)"
        return EXIT_ENVIRONMENT, message
    return None


def is_temporary(path: str | Path) -> bool:
    """Whether ``path`` names a temporary file of :func:`atomic_write` (a dot file)."""
    return Path(path).name.startswith(".")


def ordinary_mode() -> int:
    """The permission bits of an ordinary new file under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: Path, write: Callable[[IO[bytes]], None], suffix: str = "") -> Path:
    """Write a file through ``write(handle)`` atomically (temporary file, then rename).

    Args:
        path: The destination; its folder is created when missing.
        write: Writes the whole content to the binary handle it is given.
        suffix: Suffix of the temporary file (some writers look at it).

    Returns:
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, ordinary_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode())


def jsonable(value: Any) -> Any:
    """Convert numpy scalars and arrays, and non-finite floats, into plain JSON values.

    Non-finite floats become ``None`` (``null``): JSON has no NaN.
    """
    import numpy as np  # here, not at the top: the command line starts without numpy
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def json_text(value: Any) -> str:
    """``value`` as indented JSON with a final newline (non-finite floats refused)."""
    return json.dumps(value, indent=2, allow_nan=False) + "\n"


def save_png(fig: Figure, path: Path, dpi: float) -> Path:
    """Write ``fig`` to ``path`` as a PNG atomically, without a software stamp.

    Args:
        fig: The figure.
        path: The destination.
        dpi: Resolution.

    Returns:
        ``path``.
    """
    return atomic_write(
        path,
        lambda fh: fig.savefig(fh, format="png", dpi=dpi, metadata={"Software": None}),
        suffix=".png",
    )
