"""`velora run`: forward passes over a table (CSV, Parquet, Arrow), streamed, written as CSV or
Parquet (and plots)."""

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from velora.distributed import DEFAULT_DEVICE, is_main_process
from velora.files.defaults import DEFAULT_BLOCK_BYTES as DEFAULT_CHUNK_BYTES
from velora.files.defaults import DEFAULT_DELIMITER
from velora.viz.figures import DEFAULT_DPI, MAX_TRACE_NEURONS, NEURON_STYLES, SUFFIXES
from velora_cli.console import count, err, note, show_library_notes
from velora_cli.options import (
    MAX_MEMORY_DEFAULT,
    TABLE_FORMATS,
    Delimiter,
    Device,
    Dpi,
    Dt,
    Force,
    MaxMemory,
    SequenceColumn,
    TimeColumn,
    split_names,
)

# How --plot-neurons draws the states: velora's own list of styles.
NeuronStyle = StrEnum("NeuronStyle", {style: style for style in NEURON_STYLES})  # type: ignore[misc]
DEFAULT_NEURON_STYLE = NeuronStyle(NEURON_STYLES[0])


class Mode(StrEnum):
    """How rows relate to each other."""

    sequence = "sequence"
    batch = "batch"


def run(
    model: Annotated[
        Path,
        typer.Argument(
            metavar="MODEL",
            help="A YAML spec (seeded weights) or a checkpoint; '-': standard input.",
        ),
    ],
    input_path: Annotated[
        Path,
        typer.Option(
            "--input",
            "-i",
            metavar="FILE",
            help=f"The table to run over: {TABLE_FORMATS}.",
            show_default=False,
        ),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="File to write: CSV, or Parquet for a name ending in .parquet; '-' or none: "
            "stdout (CSV).",
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
    delimiter: Delimiter = DEFAULT_DELIMITER,
    hidden: Annotated[
        bool, typer.Option("--hidden", help="Append the hidden state after each row (h0, ...).")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            metavar="FILE",
            help="Draw inputs and outputs of the first four sequences, recorded outputs as "
            f"dots ({SUFFIXES}).",
        ),
    ] = None,
    plot_neurons: Annotated[
        Path | None,
        typer.Option(
            "--plot-neurons",
            metavar="FILE",
            help="Draw every neuron's state over time for the first sequence, grouped inter, "
            f"command, motor ({SUFFIXES}).",
        ),
    ] = None,
    plot_sequence: Annotated[
        str | None,
        typer.Option(
            "--plot-sequence",
            metavar="ID",
            help="The sequence (an id of --sequence-column) that the plots draw, alone.",
        ),
    ] = None,
    plot_steps: Annotated[
        bool,
        typer.Option(
            "--plot-steps",
            help="Draw inputs as steps: each row's value held since the previous row, as the "
            "network sees it.",
        ),
    ] = False,
    neuron_style: Annotated[
        NeuronStyle,
        typer.Option(
            "--neuron-style",
            metavar="STYLE",
            help=f"{' or '.join(NEURON_STYLES)} (one line per neuron, for networks of at most "
            f"{MAX_TRACE_NEURONS} neurons).",
        ),
    ] = DEFAULT_NEURON_STYLE,
    dpi: Dpi = DEFAULT_DPI,
    allow_nan: Annotated[
        bool, typer.Option("--allow-nan", help="Accept NaN and inf in the input columns.")
    ] = False,
    device: Device = DEFAULT_DEVICE,
    force: Force = False,
    max_memory: MaxMemory = MAX_MEMORY_DEFAULT,  # type: ignore[assignment]
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
    """Run MODEL over the rows of a table and write its outputs as CSV (or Parquet).

    The input is CSV (plain or compressed), Parquet or Arrow, told apart by content; '-' reads
    standard input, as do /dev/stdin and process substitution, once and streamed.

    Output columns: the sequence and time columns (if given), one column per output (the spec's
    names, else y0, y1, ...), then with --hidden the hidden state. Floats read back exactly.

    Several processes share the work when launched with torchrun, e.g. `torchrun --standalone
    --nproc-per-node=4 --no-python velora run MODEL -i big.csv -o out.csv`: the output is byte
    for byte the one-process output; rank 0 writes it and prints.
    """
    from velora.errors import VeloraError
    from velora.inference import run_csv

    quiet = quiet or not is_main_process()  # under torchrun, rank 0 alone prints
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
        "plot_neurons": plot_neurons,
        "plot_sequence": plot_sequence,
        "plot_steps": plot_steps,
        "neuron_style": neuron_style.value,
        "dpi": dpi,
        "force": force,
        "block_bytes": chunk_bytes,
        "delimiter": delimiter,
        "device": device,
        "max_memory": max_memory,
    }
    with _progress(quiet or not err.is_terminal) as progress:
        if not to_stdout:
            summary = run_csv(model, input_path, output, progress=progress, **options)
        else:
            if sys.stdout is None:  # started with standard output closed (`>&-`)
                raise VeloraError(
                    "standard output is closed: nowhere to write the outputs", parameter="output"
                )
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
            + (f" on {summary.processes} processes" if summary.processes > 1 else "")
            + (f"; plot → {plot}" if plot is not None else "")
            + (f"; neurons → {plot_neurons}" if plot_neurons is not None else "")
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
            # An input of unknown size (a pipe): rows and rate, with a pulsing bar.
            self.bar.update(task, completed=done, total=total or None, rows=rows, rate=rate)

        return update

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
