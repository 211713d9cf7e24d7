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
"""

from __future__ import annotations

import os
from pathlib import Path

from sim.schema import InputError

BYTES_PER_AGENT = 540
"""Bytes per agent without a network: traits, state, the step's temporaries, the results."""
BYTES_PER_AGENT_DEGREE = 8
"""Bytes per agent per unit of network degree (the sparse graph's index and weight)."""
GIB = 2.0**30
MEMINFO = Path("/proc/meminfo")


def needed_bytes(agents: int, degree: int = 0) -> float:
    """Estimated peak bytes of a run of ``agents`` agents with network ``degree``.

    Args:
        agents: Customer agents simulated.
        degree: Mean network degree (0 for a mixed network or none).
    """
    return float(agents) * (BYTES_PER_AGENT + BYTES_PER_AGENT_DEGREE * degree)


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
