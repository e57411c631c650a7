"""Liquid neural network building blocks: the NCP liquid cell and the three-cell network."""

from velora.models.lnn.cell import NCPLiquidCell
from velora.models.lnn.ncp import LiquidNCPNetwork

__all__ = ["LiquidNCPNetwork", "NCPLiquidCell"]
