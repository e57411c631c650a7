"""Models built on NCP wiring."""

from velora.models.lnn import LiquidNCPNetwork, NCPLiquidCell

__all__ = ["LiquidNCPNetwork", "NCPLiquidCell"]
