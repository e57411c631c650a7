"""The liquid network models: the NCP liquid cell and the three-cell network (``lnn``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from velora.models.lnn import LiquidNCPNetwork, NCPLiquidCell
from velora.spec import DEFAULT_MAX_MEMORY

if TYPE_CHECKING:
    import torch

    from velora.spec import Spec

__all__ = ["LiquidNCPNetwork", "NCPLiquidCell", "build_network"]


def build_network(
    spec: Spec,
    device: torch.device | str | None = None,
    *,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
) -> LiquidNCPNetwork:
    """The seeded ``LiquidNCPNetwork`` a spec describes (``LiquidNCPNetwork.from_spec``)."""
    return LiquidNCPNetwork.from_spec(spec, device, max_memory=max_memory)
