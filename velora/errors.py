"""Errors that mean "the input was bad": the CLI turns them into one line and exit code 2."""


class VeloraError(ValueError):
    """Base class for every user-facing input error in velora."""


class SpecError(VeloraError):
    """A network spec file is missing, malformed or out of range."""


class DataError(VeloraError):
    """A CSV input file is missing, malformed or does not fit the network."""


class CheckpointError(VeloraError):
    """A checkpoint file is missing, corrupted, tampered with or of another format."""
