"""Options shared by several commands (the CSV data options of ``run`` and ``train``, plots)."""

from typing import Annotated

import typer

from velora.distributed import DEVICES
from velora.viz.figures import MAX_DPI, MIN_DPI

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
Delimiter = Annotated[
    str,
    typer.Option(
        "--delimiter",
        metavar="CHAR",
        help="The character between the fields of CSV input, e.g. ';' or '|'; a tab as "
        "'tab' or '\\t'. Parquet and Arrow input need none.",
    ),
]
# What an input table may be (told apart by content), for the help of --input and --data.
TABLE_FORMATS = (
    "CSV with a header row (plain or gzip, bzip2, xz, zstd compressed), Parquet or Arrow IPC "
    "(Feather); '-': standard input"
)
Device = Annotated[
    str,
    typer.Option(
        "--device",
        metavar="DEVICE",
        help=f"Where the PyTorch loop runs: {DEVICES} (CUDA when the machine has it); the "
        "compiled loops run on the CPU. Under torchrun, cuda is cuda:LOCAL_RANK.",
    ),
]
Dpi = Annotated[
    int,
    typer.Option(
        "--dpi",
        metavar="DPI",
        help=f"Resolution of the plots in dots per inch ({MIN_DPI} to {MAX_DPI}; for PDF and SVG, "
        "of the heat maps inside).",
    ),
]


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


Targets = Annotated[
    str | None,
    typer.Option(
        "--targets",
        "-t",
        metavar="NAMES",
        help="Target columns, comma-separated, one per output (default: the spec's outputs).",
    ),
]
TargetInputs = Annotated[
    str | None,
    typer.Option(
        "--columns",
        metavar="NAMES",
        help="Input columns, comma-separated (default: the spec's inputs, else every column "
        "but the sequence, time and target columns).",
    ),
]
