"""Load a network from whatever the user points at: a YAML spec or a safetensors checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from velora.files.sniff import is_checkpoint_path
from velora.spec import DEFAULT_MAX_MEMORY, Spec, load_spec

if TYPE_CHECKING:
    import torch

    from velora.models import LiquidNCPNetwork


def load_model(
    path: str | Path,
    device: torch.device | str | None = None,
    *,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
) -> tuple[LiquidNCPNetwork, Spec]:
    """Return ``(network, spec)`` for a spec (seeded weights) or a checkpoint (stored weights),
    told apart by content. A spec's network is refused when estimated above ``max_memory``
    bytes (None: no limit); a checkpoint without a stored spec gets one from its sizes.
    """
    if is_checkpoint_path(path):
        from velora.files.checkpoint import load

        return load(path, device=device)
    from velora.models import LiquidNCPNetwork

    spec = load_spec(path)
    return LiquidNCPNetwork.from_spec(spec, device, max_memory=max_memory), spec
