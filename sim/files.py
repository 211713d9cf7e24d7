"""Writing files so that a reader never sees half of one: atomic writes, JSON and PNG.

Every output engagesim writes goes through :func:`atomic_write`: the content is written
to a temporary file beside the destination, flushed to disk (:func:`flush_files`), given
the permissions of an ordinary new file (``0o666`` less the umask; ``mkstemp`` would leave
``0o600``), renamed over the destination in one step (``os.replace``) and the rename made
durable (the folder fsynced). An interrupted write leaves the old file (or none) and no
temporary file behind; a SIGKILL mid-write can leave the temporary file (its name starts
with a dot: :func:`is_temporary`), which readers skip.

:func:`flush_files` is the one durable flush: on Linux one ``syncfs(2)`` commits a whole
batch of files (and every rename made before it) in one wait, where an ``fsync`` per file
would wait once per file; elsewhere it fsyncs each file.

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

import ctypes
import errno
import functools
import json
import math
import os
import platform
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
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


SYNCFS_REPORTS_ERRORS = (5, 8)
"""The first Linux release whose ``syncfs(2)`` returns write-back errors (EIO, ENOSPC);
before it, ``syncfs`` may return 0 after losing a write, so :func:`flush_files` fsyncs."""


@functools.cache
def libc_syncfs() -> Callable[[int], int] | None:
    """The C library's ``syncfs(2)``, or ``None`` where it cannot be trusted or is missing.

    ``None`` off Linux, on a kernel older than :data:`SYNCFS_REPORTS_ERRORS` and where
    the C library has no ``syncfs`` symbol. Called with a descriptor, it returns 0 or -1
    and sets the ``ctypes`` errno (``ctypes.get_errno``).
    """
    release = re.match(r"(\d+)\.(\d+)", platform.release())
    if not sys.platform.startswith("linux") or release is None or (
            (int(release[1]), int(release[2])) < SYNCFS_REPORTS_ERRORS):
        return None
    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    syncfs.argtypes = [ctypes.c_int]
    syncfs.restype = ctypes.c_int
    return syncfs


def open_folder(folder: str | Path) -> int:
    """A read-only descriptor of ``folder``, for :func:`flush_files` (close it after)."""
    return os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def flush_files(fds: Sequence[int], folder: int, name: str | Path | None = None,
                each_file: bool = False) -> None:
    """Make what was written to the open files ``fds`` durable, in one wait where possible.

    Where :func:`libc_syncfs` is available, one ``syncfs`` of ``folder``'s file system
    commits every file of ``fds`` at once, and with them every rename and new name made
    on that file system before the call (a file of ``fds`` on another file system is
    fsynced by itself first). Elsewhere each file is fsynced, one wait each.

    ``syncfs`` reports the write-back errors of the whole file system since ``folder``
    was opened, so open it (:func:`open_folder`) before writing the files: an error in
    a write-back the kernel started on its own before the flush is then reported too.

    Args:
        fds: Open descriptors of the files written (may be empty: then only what came
            before is committed, on Linux).
        folder: A descriptor of a folder on the files' file system, opened before they
            were written.
        name: What the error names (the folder's path), if any.
        each_file: ``fsync`` each file, never ``syncfs`` (where other processes write
            to the file system at the same time, one ``syncfs`` would wait for their
            files too).

    Raises:
        OSError: The data could not be made durable (``ENOSPC``, ``EIO``…), with the
            system's errno and message, as ``os.fsync`` raises it.
    """
    syncfs = None if each_file else libc_syncfs()
    if syncfs is None:
        for fd in fds:
            os.fsync(fd)
        return
    device = os.fstat(folder).st_dev
    for fd in fds:
        if os.fstat(fd).st_dev != device:
            os.fsync(fd)
    if syncfs(folder) != 0:
        number = ctypes.get_errno()
        if name is None:
            raise OSError(number, os.strerror(number))
        raise OSError(number, os.strerror(number), str(name))


def atomic_write(path: Path, write: Callable[[IO[bytes]], None], suffix: str = "") -> Path:
    """Write a file through ``write(handle)`` atomically and durably.

    The content goes to a temporary file beside ``path``, is made durable
    (:func:`flush_files`: on Linux this also commits every earlier write and rename of
    the file system, so what a file vouches for is on disk before it), is renamed over
    ``path``, and the folder is fsynced so that the rename is durable when this returns.

    Args:
        path: The destination; its folder is created when missing.
        write: Writes the whole content to the binary handle it is given.
        suffix: Suffix of the temporary file (some writers look at it).

    Returns:
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = open_folder(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                flush_files([fh.fileno()], folder, path.parent)
            os.chmod(tmp, ordinary_mode())
            os.replace(tmp, path)
            os.fsync(folder)  # the new name durable too
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    finally:
        os.close(folder)
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
