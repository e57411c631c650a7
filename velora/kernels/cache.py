"""Whether the compiled loops are already on disk, so that a first call will be quick.

numba keeps compiled loops in its disk cache but offers no public way to ask whether a function
is cached before calling it. velora keeps its own marker instead: after a group of loops has run
once (and so was compiled and cached), a small file beside numba's cache says so. The marker's
name covers numba's version and each kernel source file's size and modification time, which is
what numba's own cache checks, so a new installation or an edited kernel starts unmarked.
Best effort: where no marker can be kept, the loops count as ready (no note is shown).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

GROUPS = {
    "inference": ("step.py", "sequence.py"),
    "training": ("step.py", "backprop.py"),
    "tables": ("csvparse.py",),
}
_marked: set[str] = set()
_building: set[str] = set()
_announced: set[str] = set()
log = logging.getLogger("velora")


def cache_dir() -> Path:
    """Where numba caches velora's loops: ``NUMBA_CACHE_DIR`` if set, else ``__pycache__``."""
    root = os.environ.get("NUMBA_CACHE_DIR")
    return Path(root) if root else Path(__file__).parent / "__pycache__"


def marker_path(group: str) -> Path:
    """The marker file of ``group`` for this numba version and these kernel sources."""
    numba = sys.modules.get("numba")  # imported already wherever a loop has run
    digest = hashlib.sha256((numba.__version__ if numba else version("numba")).encode())
    for name in GROUPS[group]:
        stat = (Path(__file__).parent / name).stat()
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return cache_dir() / f"velora-{group}-{digest.hexdigest()[:16]}.ready"


def is_ready(group: str = "inference") -> bool:
    """Whether the loops of ``group`` ("inference", "training" or "tables") have run before,
    here (or are being built, within ``building``)."""
    if group in _marked or group in _building:
        return True
    folder = cache_dir()
    if not os.access(folder if folder.exists() else folder.parent, os.W_OK):
        return True  # no marker can be kept here: do not claim a compile every time
    return marker_path(group).exists()


def mark_ready(group: str) -> None:
    """Record that the loops of ``group`` ran (once per process; errors are ignored)."""
    if group in _marked:
        return
    _marked.add(group)
    try:
        path = marker_path(group)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except OSError:
        pass


@contextmanager
def building(*groups: str) -> Iterator[None]:
    """Within the block, ``groups`` count as ready, so that a caller which skips loops not yet
    built (the CSV reader's parser) takes them and builds them; ``velora warmup`` uses it."""
    added = set(groups) - _building
    _building.update(added)
    try:
        yield
    finally:
        _building.difference_update(added)


def announce(group: str) -> None:
    """Log (logger ``velora``, level INFO) that the loops of ``group`` are about to compile,
    once per process, when they have not run here before: the first call takes seconds."""
    if group in _announced:
        return
    _announced.add(group)
    if not is_ready(group):
        log.info(
            "compiling velora's CPU %s loops: once per installation, cached for later runs", group
        )


@dataclass(frozen=True)
class LoopStats:
    """What numba did for one compiled loop in this process: specialisations loaded from its
    disk cache and compiled (then written to it), and where that cache is."""

    name: str  # "module.function", e.g. "sequence.run_blocks"
    loaded: int
    compiled: int
    cache_path: Path | None


def loop_stats() -> dict[str, LoopStats]:
    """Every compiled loop of the kernel modules imported so far, by name; comparing two calls
    tells what ran in between and whether it was compiled or came from the cache."""
    from numba.core.dispatcher import Dispatcher

    found: dict[str, LoopStats] = {}
    prefix = __name__.rpartition(".")[0] + "."
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith(prefix) or module is None:
            continue
        short = module_name[len(prefix) :]
        for attr, value in list(vars(module).items()):
            if not isinstance(value, Dispatcher) or value.__module__ != module_name:
                continue
            stats = value.stats
            path = stats.cache_path
            found[f"{short}.{attr}"] = LoopStats(
                name=f"{short}.{attr}",
                loaded=sum(stats.cache_hits.values()),
                compiled=sum(stats.cache_misses.values()),
                cache_path=Path(path) if path else None,
            )
    return found
