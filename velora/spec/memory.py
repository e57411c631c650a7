"""How much memory a spec's network needs, estimated from its sizes before anything is built."""

from __future__ import annotations

import re

from velora.errors import SpecError
from velora.spec.parse import spec_error
from velora.spec.schema import NetworkSpec, Spec
from velora.wiring import GROUPS, NeuronCounts, layer_sizes, mask_bytes

DEFAULT_MAX_MEMORY = 4 * 2**30  # bytes
BYTES_PER_WEIGHT = 4  # float32
# Float32 copies of each cell's (n_hidden, in + n_hidden) matrix alive at the peak of building
# and running a step: five heads, the mask buffer, the fused four-head cache, two temporaries.
COPIES_PER_CELL = 12


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


def estimate_memory(network: NetworkSpec) -> int:
    """Bytes needed to build the network and run one step, estimated before allocating: the
    cells' weights, and drawing the masks as the wiring design does (``mask_bytes``). Integer
    arithmetic: sizes may be absurd, never overflow."""
    counts = _counts(network)
    total = mask_bytes(network.design, counts)
    for n_in, n_hidden in layer_sizes(counts):
        total += COPIES_PER_CELL * BYTES_PER_WEIGHT * n_hidden * (n_in + n_hidden)
    return total


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


def check_memory(spec: Spec, max_bytes: int | None = DEFAULT_MAX_MEMORY) -> int:
    """Return the estimated bytes; raise ``MemoryLimitError`` above ``max_bytes`` (None: no
    limit)."""
    need = estimate_memory(spec.network)
    if max_bytes is not None and need > max_bytes:
        n = spec.network
        error = spec_error(
            spec.source,
            f"too large: in_features={_count(n.in_features)}, n_neurons={_count(n.n_neurons)}, "
            f"out_features={_count(n.out_features)} need about {format_bytes(need)}, more than the "
            f"limit of {format_bytes(max_bytes)}",
            key="network",
            kind=MemoryLimitError,
        )
        error.parameter = "max_memory"
        raise error
    return need
