"""Errors that mean "the input was bad": the CLI turns them into one line and exit code 2.

A library error never names a command-line flag. When a keyword argument of the call that
raised it would accept the input (``force=True`` to replace a file, ``allow_nan=True``, a larger
``max_memory``, other ``columns``), the error names that argument in ``parameter``, and the
command line adds its own hint for the matching flag.
"""

from __future__ import annotations


class VeloraError(ValueError):
    """Base class for every user-facing input error in velora."""

    def __init__(self, message: str = "", *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class SpecError(VeloraError):
    """A network spec file is missing, malformed or out of range."""

    source: str = "<spec>"
    key: str | None = None
    line: int | None = None
    problem: str = ""


class DataError(VeloraError):
    """A CSV input file is missing, malformed or does not fit the network."""


class CheckpointError(VeloraError):
    """A checkpoint file is missing, corrupted, tampered with or of another format."""


class OutputExistsError(VeloraError):
    """The output file exists and replacing it was not asked for (``force``)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message, parameter="force")
