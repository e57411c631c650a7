"""Liquid neural network building blocks: the NCP liquid cell and the three-cell network.

Names load on first use (PEP 562), so that ``velora.models.lnn.synapses`` needs no torch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from velora.models.lnn.cell import NCPLiquidCell
    from velora.models.lnn.ncp import LiquidNCPNetwork

__all__ = ["LiquidNCPNetwork", "NCPLiquidCell"]


def __getattr__(name: str) -> Any:
    if name == "NCPLiquidCell":
        from velora.models.lnn.cell import NCPLiquidCell

        return NCPLiquidCell
    if name == "LiquidNCPNetwork":
        from velora.models.lnn.ncp import LiquidNCPNetwork

        return LiquidNCPNetwork
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
