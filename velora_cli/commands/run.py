"""`velora run`: forward passes over a CSV file, streamed, written as CSV (and a plot)."""

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from velora_cli.console import count, err, note, show_library_notes
from velora_cli.options import Dt, Force, SequenceColumn, TimeColumn, split_names

DEFAULT_CHUNK_BYTES = 2 << 20  # as velora.files.tables.DEFAULT_BLOCK_BYTES, without importing it


class Mode(StrEnum):
    """How rows relate to each other."""

    sequence = "sequence"
    batch = "batch"


def run(
    model: Annotated[
        Path, typer.Argument(metavar="MODEL", help="A YAML spec (seeded weights) or a checkpoint.")
    ],
    input_path: Annotated[
        Path,
        typer.Option(
            "--input", "-i", metavar="FILE", help="CSV file with a header row.", show_default=False
        ),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="CSV file to write; '-' or none: stdout."
        ),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            metavar="NAMES",
            help="Input columns, comma-separated (default: the spec's inputs, else every "
            "column but the sequence and time columns).",
        ),
    ] = None,
    mode: Annotated[
        Mode,
        typer.Option(
            "--mode",
            metavar="MODE",
            help="sequence: rows are time steps, the state carries from row to row; "
            "batch: every row is one step from a zero state.",
        ),
    ] = Mode.sequence,
    sequence_column: SequenceColumn = None,
    time_column: TimeColumn = None,
    dt: Dt = 1.0,
    hidden: Annotated[
        bool, typer.Option("--hidden", help="Append the hidden state after each row (h0, ...).")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            metavar="FILE",
            help="Draw inputs and outputs of the first sequences (.png, .svg).",
        ),
    ] = None,
    allow_nan: Annotated[
        bool, typer.Option("--allow-nan", help="Accept NaN and inf in the input columns.")
    ] = False,
    force: Force = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no summary line.")
    ] = False,
    chunk_bytes: Annotated[
        int,
        typer.Option(
            "--chunk-bytes", metavar="N", min=1, hidden=True, help="Bytes of CSV per chunk."
        ),
    ] = DEFAULT_CHUNK_BYTES,
) -> None:
    """Run MODEL over the rows of a CSV file and write its outputs as CSV.

    Output columns: the sequence and time columns (if given), one column per output (the spec's
    names, else y0, y1, ...), then with --hidden the hidden state. Floats read back exactly.
    """
    from velora.inference import run_csv

    to_stdout = output in (None, "-")
    show_library_notes(not quiet)
    options = {
        "columns": split_names(columns, "--columns"),
        "sequence_column": sequence_column,
        "time_column": time_column,
        "mode": mode.value,
        "dt": dt,
        "hidden": hidden,
        "allow_nan": allow_nan,
        "plot": plot,
        "force": force,
        "block_bytes": chunk_bytes,
    }
    with _progress(quiet or not err.is_terminal) as progress:
        if not to_stdout:
            summary = run_csv(model, input_path, output, progress=progress, **options)
        else:
            try:
                stdout = sys.stdout.buffer
                summary = run_csv(model, input_path, stdout, progress=progress, **options)
                sys.stdout.flush()
            except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                raise typer.Exit(0) from None
    if not quiet:
        where = "stdout" if to_stdout else output
        rate = summary.rows / summary.seconds if summary.seconds > 0 else float("inf")
        rows = count(summary.rows, "row")
        if mode is Mode.sequence:
            n = summary.sequences
            rows += f" ({count(n, 'sequence')})"
        note(
            f"{rows} → {where} in {summary.seconds:.2f} s ({rate:,.0f} rows/s)"
            + (f"; plot → {plot}" if plot is not None else "")
        )


class _progress:
    """A Rich progress bar over the input's bytes, showing rows and rows/s; silent if off."""

    def __init__(self, off: bool) -> None:
        self.off = off
        self.bar = None

    def __enter__(self):
        if self.off:
            return None
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("running"),
            BarColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            TextColumn("{task.fields[rate]:,.0f} rows/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        self.bar.__enter__()
        task = self.bar.add_task("run", total=None, rows=0, rate=0.0)

        def update(rows: int, done: int, total: int) -> None:
            elapsed = self.bar.tasks[0].elapsed or 0.0
            rate = rows / elapsed if elapsed > 0 else 0.0
            self.bar.update(task, completed=done, total=max(total, 1), rows=rows, rate=rate)

        return update

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
