"""Writing files so that a reader never sees half of one: atomic writes, JSON and PNG.

Every output engagesim writes goes through :func:`atomic_write`: the content is written
to a temporary file beside the destination, flushed to disk, given the permissions of an
ordinary new file (``0o666`` less the umask; ``mkstemp`` would leave ``0o600``) and
renamed over the destination in one step (``os.replace``). An interrupted write leaves
the old file (or none) and no temporary file behind.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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
