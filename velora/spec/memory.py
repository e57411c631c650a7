"""How much memory a spec's network needs, estimated from its sizes before anything is built.

Every estimate counts the same three things, each defined once here: float32 copies of the cells'
weights alive at the peak of a command (``WEIGHT_COPIES``), the peak of drawing the masks
(``velora.wiring.mask_bytes``), and for training the values kept per step of a window for
back-propagation (``ACTIVATION_FLOATS``). The counts were measured as the growth of each
command's peak resident memory over that of a tiny network (``benchmarks/bench_memory.py``) and
rounded up so that the estimate exceeds every measured peak by ``MARGIN_PERCENT`` or more.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

from velora.errors import SpecError
from velora.spec.parse import spec_error
from velora.spec.schema import NetworkSpec, Spec
from velora.wiring import GROUPS, NeuronCounts, layer_sizes, mask_bytes

DEFAULT_MAX_MEMORY = 4 * 2**30  # bytes
BYTES_PER_FLOAT = 4  # float32: a weight, a gradient, an optimizer moment, an activation
# What a command does with the network: "network" builds and runs it (wire, validate, run,
# eval), an export format writes and reads it back, "prune" also keeps the pruned copy,
# "train" fits it.
Purpose = Literal["network", "safetensors", "pt2", "onnx", "c", "prune", "train"]
PURPOSES: tuple[Purpose, ...] = get_args(Purpose)
# Float32 copies of every cell's (n_hidden, inputs + n_hidden) weight matrix alive at the peak,
# and (in brackets) the copies measured for networks of 1,024 to 4,096 neurons:
# - network: five heads, the mask buffer, the fused four-head cache and the temporaries of
#   fusing (run: 8 to 11);
# - an export adds the exported module's weights, the file's bytes and reading it back
#   (safetensors 27 to 32, pt2 15 to 19, onnx 24 to 26); for C the compiler's peak on the
#   source dominates (about 180 at 1,536 neurons, growing a little faster than the network);
# - prune also keeps the pruned network and reads its checkpoint back (39 to 42);
# - train adds gradients, Adam's two moments, the epoch states kept for resuming and the best
#   epoch (old and new while one is replaced), and the checkpoint written with all of them
#   (84 to 107 at 512 to 1,536 neurons).
WEIGHT_COPIES: dict[Purpose, int] = {
    "network": 20,
    "safetensors": 48,
    "pt2": 32,
    "onnx": 40,
    "c": 256,
    "prune": 64,
    "train": 160,
}
# Float32 values kept per (sequence, step, input or unit) of a training window for
# back-propagation: every step's cell inputs, pre-activations, g, h~ and gate, and their
# gradients (measured: 9 to 11, in the PyTorch and the BLAS loops; the compiled loop keeps fewer).
ACTIVATION_FLOATS = 14
# Every estimate exceeds the peak measured for its command by at least this share.
MARGIN_PERCENT = 25


class MemoryLimitError(SpecError):
    """The network is estimated to need more memory than the limit allows."""


def _counts(network: NetworkSpec) -> NeuronCounts:
    """Neurons per group, split as the network's wiring design says."""
    inter, command = network.design.split()
    return NeuronCounts(network.in_features, inter, command, network.out_features)


def neuron_counts(network: NetworkSpec) -> dict[str, int]:
    """Neurons per group (sensory, inter, command, motor), as the wiring design splits them."""
    counts = _counts(network)
    return {group: getattr(counts, group) for group in GROUPS}


def weight_count(network: NetworkSpec) -> int:
    """Weights of one head summed over the three cells: n_hidden x (inputs + n_hidden) each."""
    return sum(n_hidden * (n_in + n_hidden) for n_in, n_hidden in layer_sizes(_counts(network)))


def estimate_memory(
    network: NetworkSpec, purpose: Purpose = "network", *, batch: int = 1, window: int = 1
) -> int:
    """Bytes needed at the peak of ``purpose`` (see ``PURPOSES``), estimated before allocating:
    copies of the cells' weights, drawing the masks as the wiring design does (``mask_bytes``)
    and, to train ``batch`` sequences in windows of ``window`` steps, what back-propagation
    keeps of each step. Integer arithmetic: sizes may be absurd, never overflow."""
    if purpose not in WEIGHT_COPIES:
        raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}, got {purpose!r}")
    counts = _counts(network)
    total = mask_bytes(network.design, counts)
    total += WEIGHT_COPIES[purpose] * BYTES_PER_FLOAT * weight_count(network)
    if purpose == "train":
        values = counts.sensory + counts.units  # a step's inputs and every unit's state
        total += ACTIVATION_FLOATS * BYTES_PER_FLOAT * max(batch, 1) * max(window, 1) * values
    return total


def _doing(purpose: Purpose, batch: int, window: int) -> str:
    """What the estimate is for, as the error message says it."""
    if purpose == "network":
        return ""
    if purpose == "train":
        return f" to train {_count(batch)} sequences x {_count(window)} steps at a time"
    if purpose == "prune":
        return " to prune"
    return f" to export as {purpose}"


def _count(n: int) -> str:
    """A size as a message shows it: digits up to 30, else their number (bounded lines)."""
    return (
        str(n)
        if n < 10**30
        else f"(an integer of about {int(n.bit_length() * 0.30103) + 1:,} digits)"
    )


def format_bytes(n: float) -> str:
    """Human-readable bytes: 1.5 GiB, 12.0 MiB, 512 B; absurd sizes as a power of ten."""
    if n >= 1024**7:  # integers of any size: no float conversion, which would overflow
        return f"10^{int(int(n).bit_length() * 0.30103)} B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if abs(n) < 1024 or unit == "EiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_bytes(text: str) -> int:
    """Parse '4GiB', '512 MB', '2g' or '1000000' into bytes; a ValueError when unreadable."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS:
        shown = text if len(str(text)) <= 40 else str(text)[:37] + "..."
        raise ValueError(f"expected a size such as 4GiB, 512MB or 2000000000, got {shown!r}")
    whole, _, fraction = match.group(1).partition(".")
    if len(whole) > 30:
        raise ValueError(f"expected a size of at most 30 digits, got {len(whole):,} digits")
    # Exact decimal arithmetic: no float, so no overflow and no rounding of large sizes.
    scale = 10 ** len(fraction)
    return (int(whole) * scale + int(fraction or 0)) * _UNITS[unit] // scale


def check_memory(
    spec: Spec,
    max_bytes: int | None = DEFAULT_MAX_MEMORY,
    purpose: Purpose = "network",
    *,
    batch: int = 1,
    window: int = 1,
) -> int:
    """Return the estimated bytes of ``purpose`` (see ``estimate_memory``); raise
    ``MemoryLimitError`` above ``max_bytes`` (None: no limit)."""
    need = estimate_memory(spec.network, purpose, batch=batch, window=window)
    if max_bytes is not None and need > max_bytes:
        n = spec.network
        error = spec_error(
            spec.source,
            f"too large{_doing(purpose, batch, window)}: in_features={_count(n.in_features)}, "
            f"n_neurons={_count(n.n_neurons)}, out_features={_count(n.out_features)} need about "
            f"{format_bytes(need)}, more than the limit of {format_bytes(max_bytes)}",
            key="network",
            kind=MemoryLimitError,
        )
        error.parameter = "max_memory"
        raise error
    return need
