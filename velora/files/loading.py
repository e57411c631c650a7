"""Load a network from whatever the user points at: a YAML spec or a safetensors checkpoint, as
a file or as a stream (``-`` for standard input, ``/dev/stdin``, a pipe), read once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from velora.files.sniff import is_checkpoint_path
from velora.files.sources import read_whole, reads_once, source_name
from velora.spec import DEFAULT_MAX_MEMORY, Spec, load_spec, spec_error
from velora.spec.parse import MAX_SPEC_BYTES, spec_from_bytes

if TYPE_CHECKING:
    import torch

    from velora.models import LiquidNCPNetwork
    from velora.models.arrays import NetworkArrays


def load_spec_file(path: str | Path) -> Spec:
    """``load_spec`` for a file or a stream (``-`` for standard input): a stream is read once
    and kept, so that loading it again gives the same spec."""
    if not reads_once(path):
        return load_spec(path)
    name = source_name(path)
    try:
        raw = read_whole(path, limit=MAX_SPEC_BYTES)
    except OSError as exc:
        raise spec_error(name, f"cannot read spec: {exc.strerror or exc}") from None
    return spec_from_bytes(raw, name)


def load_model(
    path: str | Path,
    device: torch.device | str | None = None,
    *,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
) -> tuple[LiquidNCPNetwork, Spec]:
    """Return ``(network, spec)`` for a spec (seeded weights) or a checkpoint (stored weights),
    told apart by content; ``path`` may be ``-`` (standard input) or a pipe, read once. A spec's
    network is refused when estimated above ``max_memory`` bytes (None: no limit); a checkpoint
    without a stored spec gets one from its sizes.
    """
    if is_checkpoint_path(path):
        from velora.files.checkpoint import load

        return load(path, device=device)
    from velora.models import LiquidNCPNetwork

    spec = load_spec_file(path)
    return LiquidNCPNetwork.from_spec(spec, device, max_memory=max_memory), spec


def load_arrays(
    path: str | Path, *, max_memory: int | None = DEFAULT_MAX_MEMORY
) -> tuple[NetworkArrays, Spec]:
    """``load_model`` with the network as plain arrays (``NetworkArrays``), without importing
    torch: a checkpoint's are read and checked; a spec's wiring is drawn, and its seeded
    weights are drawn (with numpy, as ``velora.models.init`` does) when first asked for."""
    from velora.models.arrays import NetworkArrays
    from velora.models.layout import parameter_shapes

    if is_checkpoint_path(path):
        from velora.files.checkpoint_file import read_checkpoint

        stored = read_checkpoint(path, parameter_shapes)
        network = NetworkArrays.from_checkpoint(
            stored.wiring, stored.parameters, stored.metadata.seed
        )
        return network, stored.spec
    spec = load_spec_file(path)
    return NetworkArrays.from_spec(spec, max_memory=max_memory), spec
