"""velora: Liquid Neural Networks with Neural Circuit Policy (NCP) sparse wiring."""

from velora._version import __version__

__all__ = ["__version__"]
