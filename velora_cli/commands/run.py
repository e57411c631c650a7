"""`velora run`: forward passes over a CSV file, streamed, written as CSV (and a plot)."""

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from velora_cli.console import err, note_compiling
from velora_cli.options import Dt, Force, SequenceColumn, TimeColumn, split_names


class Mode(StrEnum):
    """How rows relate to each other."""

    sequence = "sequence"
    batch = "batch"


def run(
    model: Annotated[Path, typer.Argument(help="A YAML spec (seeded weights) or a checkpoint.")],
    input_path: Annotated[
        Path, typer.Option("--input", "-i", help="CSV file with a header row.", show_default=False)
    ],
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="CSV file to write; '-' or none: stdout."),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            help="Input columns, comma-separated (default: the spec's inputs, else every "
            "column but the sequence and time columns).",
        ),
    ] = None,
    mode: Annotated[
        Mode,
        typer.Option(
            "--mode",
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
        typer.Option("--plot", help="Draw inputs and outputs of the first sequences (.png, .svg)."),
    ] = None,
    allow_nan: Annotated[
        bool, typer.Option("--allow-nan", help="Accept NaN and inf in the input columns.")
    ] = False,
    force: Force = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no summary line.")
    ] = False,
    chunk_bytes: Annotated[
        int, typer.Option("--chunk-bytes", hidden=True, help="Bytes of CSV per chunk.")
    ] = 2 << 20,
) -> None:
    """Run MODEL over the rows of a CSV file and write its outputs as CSV.

    Output columns: the sequence and time columns (if given), one column per output (the spec's
    names, else y0, y1, ...), then with --hidden the hidden state. Floats read back exactly.
    """
    import math

    from velora.errors import VeloraError
    from velora.io import atomic_path, atomic_write, check_writable

    to_stdout = output in (None, "-")
    if not (math.isfinite(dt) and dt > 0):
        raise typer.BadParameter(f"expected a positive number, got {dt}", param_hint="--dt")
    if chunk_bytes < 1:
        raise typer.BadParameter("expected a positive number", param_hint="--chunk-bytes")
    names = split_names(columns, "--columns")
    if not to_stdout:
        check_writable(output, force=force)
    if plot is not None:
        if plot.suffix.lower() not in (".png", ".svg", ".pdf"):
            raise VeloraError(f"{plot}: the plot must be a .png, .svg or .pdf file")
        check_writable(plot, force=force)
        if not to_stdout and Path(output).resolve() == plot.resolve():
            raise VeloraError(f"{plot}: the plot and the output are the same file")

    from velora.inference import open_reader, run_csv
    from velora.loading import load_model

    network, spec = load_model(model)
    output_names = spec.output_names() if spec is not None else None
    reader = open_reader(
        network,
        input_path,
        columns=names,
        spec_inputs=spec.inputs if spec is not None else None,
        sequence_column=sequence_column,
        time_column=time_column,
        mode=mode.value,
        dt=dt,
        allow_nan=allow_nan,
        block_bytes=chunk_bytes,
    )
    collector = None
    if plot is not None:
        from velora.plotting_run import RunPlot, recorded_outputs

        recorded = recorded_outputs(reader, output_names)
        if recorded:
            reader = reader.with_targets(recorded)
        collector = RunPlot(
            reader.columns,
            output_names or [f"y{i}" for i in range(network.out_features)],
            recorded_names=recorded,
            time_label=time_column,
            batch=mode is Mode.batch,
            title=f"velora run: {getattr(spec, 'name', None) or model.stem} on {input_path.name}",
        )

    if not quiet:
        note_compiling(network)

    def go(handle) -> object:
        with _progress(quiet or not err.is_terminal, reader.size) as progress:
            return run_csv(
                network,
                input_path,
                handle,
                output_names=output_names,
                mode=mode.value,
                hidden=hidden,
                reader=reader,
                progress=progress,
                on_result=collector.add if collector is not None else None,
            )

    if to_stdout:
        try:
            summary = go(sys.stdout.buffer)
            sys.stdout.flush()
        except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
    else:
        with atomic_write(output, force=force) as handle:
            summary = go(handle)
    if collector is not None:
        with atomic_path(plot, force=force) as tmp:
            collector.save(tmp)
    if not quiet:
        where = "stdout" if to_stdout else output
        rate = summary.rows / summary.seconds if summary.seconds > 0 else float("inf")
        kind = "rows" if mode is Mode.batch else "sequence(s)"
        err.print(
            f"{summary.rows:,} rows ({summary.sequences:,} {kind}) → {where} "
            f"in {summary.seconds:.2f} s ({rate:,.0f} rows/s)"
            + (f"; plot → {plot}" if plot is not None else ""),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


class _progress:
    """A Rich progress bar over the input's bytes, showing rows and rows/s; silent if off."""

    def __init__(self, off: bool, total: int) -> None:
        self.off = off
        self.total = total
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
        task = self.bar.add_task("run", total=max(self.total, 1), rows=0, rate=0.0)

        def update(rows: int, done: int, total: int) -> None:
            elapsed = self.bar.tasks[0].elapsed or 0.0
            rate = rows / elapsed if elapsed > 0 else 0.0
            self.bar.update(task, completed=done, rows=rows, rate=rate)

        return update

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
