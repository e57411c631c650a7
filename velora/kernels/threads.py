"""The one thread pool of velora's compiled loops, sized to the CPUs this process may use.

Compiled loops release the GIL, so Python threads run them in parallel without numba's own
threading layer (which would keep threads spinning that then compete with PyTorch's).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

_pool: ThreadPoolExecutor | None = None


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def pool() -> ThreadPoolExecutor:
    """The shared pool, created on first use with one thread per usable CPU."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(cpu_count(), thread_name_prefix="velora")
    return _pool
