"""Options shared by the commands that read CSV data (``run`` and ``train``)."""

from typing import Annotated

import typer

SequenceColumn = Annotated[
    str | None,
    typer.Option(
        "--sequence-column",
        metavar="COLUMN",
        help="Rows with the same id form one contiguous sequence.",
    ),
]
TimeColumn = Annotated[
    str | None,
    typer.Option(
        "--time-column",
        metavar="COLUMN",
        help="Time of each row: the elapsed times become timespans.",
    ),
]
Dt = Annotated[
    float,
    typer.Option(
        "--dt",
        metavar="DT",
        help="Timespan of a sequence's first row (of every row without a time column).",
    ),
]
Force = Annotated[bool, typer.Option("--force", help="Overwrite existing output files.")]


def _memory(text: str) -> int:
    from velora.spec import parse_bytes

    try:
        return parse_bytes(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


MaxMemory = Annotated[
    int,
    typer.Option(
        "--max-memory",
        parser=_memory,
        metavar="SIZE",
        help="Refuse networks estimated to need more memory than this (e.g. 4GiB, 16GB).",
    ),
]
MAX_MEMORY_DEFAULT = "4GiB"  # velora.spec.DEFAULT_MAX_MEMORY, as the user would write it


def split_names(text: str | None, option: str) -> list[str] | None:
    """Comma-separated column names from an option, or None when it was not given."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise typer.BadParameter(f"expected comma-separated names, got {text!r}", param_hint=option)
    return names
