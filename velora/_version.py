"""The single place that holds velora's version."""

__version__ = "0.1.0"
