"""Memory a run needs, estimated before the model allocates its arrays.

A run keeps every customer's traits and state in numpy arrays, so its memory grows
linearly with the agents it simulates (``population.agents``, by default one per
company customer). Rather than die with ``MemoryError`` after filling the machine,
:func:`check_fits` compares the estimate with the memory available now and refuses
the run with an :class:`~sim.schema.InputError` saying both.

The estimate is measured, not derived: ``tracemalloc`` of the construction of a
20,000-agent model, two steps, its summary and its customers' table peaks at 448 bytes
per agent without a network (``default``, ``hybrid``), at 456–465 plus 8 per unit of
network degree for ``default`` and at 494 plus 8 per unit for ``b2c_retail``: the
sparse graph's 4-byte index and 4-byte weight per link. The run itself peaks lower
(255–306 bytes per agent plus the network; since issue 15 each phase of a step lets go
of what it has spent), so the customers' table (a data frame of every customer's
traits and outcomes) is now the largest part. :data:`BYTES_PER_AGENT` and
:data:`BYTES_PER_AGENT_DEGREE` round these up. About 220 bytes per agent are the
customers' traits and state, held for the whole run.

While a run steps, its phases free large arrays that the next step allocates again.
:func:`keep_freed_memory` has the C library keep that memory for reuse instead of
returning it to the system and faulting it back in page by page (glibc only).
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from pathlib import Path

from sim.schema import InputError

BYTES_PER_AGENT = 540
"""Bytes per agent without a network: traits, state, the step's temporaries, the results."""
BYTES_PER_AGENT_DEGREE = 8
"""Bytes per agent per unit of network degree (the sparse graph's index and weight)."""
GIB = 2.0**30
MEMINFO = Path("/proc/meminfo")

MMAP_THRESHOLD = 32 * 2**20
"""Allocations from this size up get pages of their own (glibc's ``M_MMAP_THRESHOLD``)."""
TRIM_THRESHOLD = 64 * 2**20
"""Free memory at the heap's top kept for reuse up to this much (``M_TRIM_THRESHOLD``)."""
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)


def needed_bytes(agents: int, degree: int = 0) -> float:
    """Estimated peak bytes of a run of ``agents`` agents with network ``degree``.

    Args:
        agents: Customer agents simulated.
        degree: Mean network degree (0 for a mixed network or none).
    """
    return float(agents) * (BYTES_PER_AGENT + BYTES_PER_AGENT_DEGREE * degree)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The GNU C library with ``mallopt`` (``None`` elsewhere: macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - glibc, not another libc.so.6
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def keep_freed_memory() -> bool:
    """Have glibc keep the memory a step frees for the next step's arrays.

    glibc gives an array of 128 KiB or more pages of its own and returns them to the
    system when it is freed, then raises that bound towards 32 MiB as such arrays are
    freed; and it returns free memory at the top of its heap to the system once there
    is twice that bound of it. A step frees its temporaries (issue 15) and the next one
    allocates them again: at 100k customers (arrays of 0.8 MB) that is about 1,250 page
    faults a step, each a fresh zeroed page. This sets the two bounds where glibc's own
    adjustment ends (:data:`MMAP_THRESHOLD`, :data:`TRIM_THRESHOLD`) at once: freed
    arrays are reused, a step at 100k is about 5–10 % faster, and the peak memory is
    the same (the memory reused is memory the run held before). It is process-wide and
    lasts (glibc does not adjust the bounds itself once they are set); up to
    :data:`TRIM_THRESHOLD` of freed memory stays with the process instead of going back
    to the system. Elsewhere it does nothing.

    Returns:
        Whether the bounds were set (glibc accepted both).
    """
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def available_bytes() -> float | None:
    """Memory available to a new allocation now (``None`` where it cannot be read).

    Linux's ``MemAvailable`` (free memory plus what the kernel can reclaim), else the
    free physical pages (``SC_AVPHYS_PAGES``).
    """
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(agents: int, degree: int, source: str | None, key: str) -> None:
    """Raise :class:`InputError` if a run of ``agents`` agents would not fit in memory.

    Args:
        agents: Customer agents the run would simulate.
        degree: Mean network degree (0 without a graph).
        source: The scenario file, for the message.
        key: The setting that sets ``agents`` (``population.agents`` or
            ``population.customers``).

    Raises:
        InputError: The estimate (:func:`needed_bytes`) exceeds :func:`available_bytes`.
    """
    available = available_bytes()
    needed = needed_bytes(agents, degree)
    if available is None or needed <= available:
        return
    raise InputError(
        source, key,
        f"simulating {agents:,} customer agents needs about {needed / GIB:.1f} GiB of "
        f"memory, {available / GIB:.1f} GiB available; simulate a sample of the company "
        "with population.agents (--agents): each agent then stands for customers / agents "
        "customers",
    )
