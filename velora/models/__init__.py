"""The liquid network models: the NCP liquid cell and the three-cell network (``lnn``), and the
same network as plain arrays (``arrays``, torch-free). Names load on first use (PEP 562), so
that importing ``velora.models.arrays`` does not import torch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from velora.spec import DEFAULT_MAX_MEMORY

if TYPE_CHECKING:
    import torch

    from velora.models.lnn import LiquidNCPNetwork, NCPLiquidCell
    from velora.spec import Spec

__all__ = ["LiquidNCPNetwork", "NCPLiquidCell", "build_network"]


def __getattr__(name: str) -> Any:
    if name in ("LiquidNCPNetwork", "NCPLiquidCell"):
        from velora.models import lnn

        return getattr(lnn, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_network(
    spec: Spec,
    device: torch.device | str | None = None,
    *,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
) -> LiquidNCPNetwork:
    """The seeded ``LiquidNCPNetwork`` a spec describes (``LiquidNCPNetwork.from_spec``)."""
    from velora.models.lnn import LiquidNCPNetwork

    return LiquidNCPNetwork.from_spec(spec, device, max_memory=max_memory)
