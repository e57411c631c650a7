"""Build velora's compiled loops before they are first needed (``velora warmup``).

Each compiled (numba) loop is built the first time it runs, which takes seconds, and loads from
numba's disk cache afterwards. ``compile_all`` runs every loop once on tiny inputs, through the
same calls that reading a table, running a network and training it make, so the cache holds
exactly the specialisations later commands use and none of them waits for a compiler. Run it
once after installing (``make demo`` does); with the cache in place it only loads.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from velora.models.lnn.ncp import Backend

# The training loops that run on the CPU and are compiled: fit picks one by network size.
TRAINING_BACKENDS: tuple[Backend, ...] = ("compiled", "blas")


@dataclass(frozen=True)
class LoopBuild:
    """One compiled loop as a warm-up step met it: specialisations compiled now (and written to
    the cache) and specialisations loaded from the cache."""

    name: str  # "module.function" under velora.kernels, e.g. "sequence.run_blocks"
    compiled: int
    loaded: int


@dataclass(frozen=True)
class WarmupStep:
    """One step of the warm-up ("tables", "inference" or "training"), its loops and time."""

    name: str
    seconds: float
    loops: tuple[LoopBuild, ...]


@dataclass(frozen=True)
class Warmup:
    """What ``compile_all`` did, step by step, and where numba keeps the cache."""

    steps: tuple[WarmupStep, ...]
    cache_dir: Path | None

    @property
    def seconds(self) -> float:
        return sum(step.seconds for step in self.steps)

    @property
    def compiled(self) -> int:
        """Specialisations compiled (and cached) by this warm-up."""
        return sum(loop.compiled for step in self.steps for loop in step.loops)

    @property
    def loaded(self) -> int:
        """Specialisations that were already cached and only loaded."""
        return sum(loop.loaded for step in self.steps for loop in step.loops)


def _tables() -> Callable[[], object]:
    """Reading a CSV: the newline counter and the number parser of CSV input, which commands
    take only once built (building them is this step's purpose)."""
    from velora.files.tables import COMPILED_MIN_BYTES, read_table
    from velora.kernels import cache

    # Enough lines (times increasing) for the compiled parser to take the block.
    lines = [b"%d,1.5,-2,3e-1\n" % i for i in range(COMPILED_MIN_BYTES // 12)]
    text = b"t,a,b,c\n" + b"".join(lines)
    options = {"columns": ["a", "b"], "target_columns": ["c"], "time_column": "t"}

    def run() -> None:
        with cache.building("tables"):
            read_table(io.BytesIO(text), **options)

    return run


def _inference() -> Callable[[], object]:
    """Running a network outside autograd: the compiled inference loop."""
    import torch

    from velora.models import LiquidNCPNetwork

    net = LiquidNCPNetwork(2, 4, 1, seed=0)  # loops are specialised by types, not by sizes

    def run() -> None:
        with torch.no_grad():
            net.forward_sequence(torch.zeros(2, 3, 2), backend="compiled")

    return run


def _training() -> Callable[[], object]:
    """One forward and backward pass through each compiled training loop, the weights
    requiring gradients and the data not, as in training."""
    import torch

    from velora.models import LiquidNCPNetwork

    net = LiquidNCPNetwork(2, 4, 1, seed=0)

    def run() -> None:
        for backend in TRAINING_BACKENDS:
            y, _ = net.forward_sequence(torch.zeros(2, 3, 2), backend=backend)
            y.sum().backward()

    return run


# Each step imports what it needs and returns the call that meets its loops (the part timed).
PREPARE: dict[str, Callable[[], Callable[[], object]]] = {
    "tables": _tables,
    "inference": _inference,
    "training": _training,
}
STEPS = tuple(PREPARE)  # in the order a command meets them


def compile_all(steps: tuple[str, ...] = STEPS) -> Warmup:
    """Compile (or load from the disk cache) every compiled loop that ``steps`` use, in order;
    returns what each step compiled and loaded, and how long it took."""
    from velora.kernels.cache import loop_stats

    unknown = [name for name in steps if name not in PREPARE]
    if unknown:
        raise ValueError(f"unknown warm-up step {unknown[0]!r}; expected one of {', '.join(STEPS)}")
    done = []
    for name in steps:
        run = PREPARE[name]()
        before = loop_stats()
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
        loops = []
        for loop, after in sorted(loop_stats().items()):
            old = before.get(loop)
            compiled = after.compiled - (old.compiled if old else 0)
            loaded = after.loaded - (old.loaded if old else 0)
            if compiled or loaded:
                loops.append(LoopBuild(loop, compiled, loaded))
        done.append(WarmupStep(name, seconds, tuple(loops)))
    paths = [s.cache_path for s in loop_stats().values() if s.cache_path is not None]
    return Warmup(tuple(done), paths[0] if paths else None)
