"""`velora eval`: run a model over a CSV file as `velora run` does and score it against target
columns (MSE, MAE, RMSE, R² per output and their mean; per sequence on request)."""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from velora.distributed import DEFAULT_DEVICE, is_main_process
from velora.files.defaults import DEFAULT_DELIMITER
from velora_cli.commands.run import DEFAULT_CHUNK_BYTES
from velora_cli.commands.run import _progress as progress_bar
from velora_cli.console import count, err, note, out, show_library_notes
from velora_cli.options import (
    MAX_MEMORY_DEFAULT,
    TABLE_FORMATS,
    Delimiter,
    Device,
    Dt,
    MaxMemory,
    SequenceColumn,
    TargetInputs,
    Targets,
    TimeColumn,
    split_names,
)

HEADERS = ("MSE", "MAE", "RMSE", "R²")


def _cells(metrics: dict) -> list[str]:
    """The four metrics as table cells; an undefined R² (a constant target) shows as '-'."""
    return [
        "-" if metrics[k] is None else f"{metrics[k]:.4g}" for k in ("mse", "mae", "rmse", "r2")
    ]


def _table(title: str, first: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column(first, no_wrap=True)
    for header in HEADERS:
        table.add_column(header, justify="right", no_wrap=True)
    return table


def _show(result: dict, model: Path, data: Path, inputs: list[str], per_sequence: bool) -> None:
    from velora.files.sources import source_name

    out.print(
        f"[bold]{source_name(model)}[/bold] on {source_name(data)}: "
        f"{count(result['rows'], 'row')}, "
        f"{count(result['sequences'], 'sequence')}; inputs {', '.join(inputs)} → targets "
        f"{', '.join(result['outputs'])}",
        highlight=False,
        soft_wrap=True,
    )
    metrics = _table("Errors per output", "output")
    for name, values in result["outputs"].items():
        metrics.add_row(name, *_cells(values))
    if len(result["outputs"]) > 1:
        metrics.add_row("mean", *_cells(result["mean"]), style="bold")
    out.print(metrics)
    if per_sequence:
        table = _table("Errors per sequence (mean over outputs)", "sequence")
        table.add_column("rows", justify="right")
        for seq in result["per_sequence"]:
            name = "(whole file)" if seq["sequence"] is None else seq["sequence"]
            table.add_row(name, *_cells(seq["mean"]), f"{seq['rows']:,}")
        out.print(table)
    constant = any(m["r2"] is None for m in result["outputs"].values())
    out.print(
        "R² = 1 − SSE/SST, SST about each target's mean"
        + ("; '-': the target is constant, R² undefined" if constant else ""),
        style="dim",
        markup=False,
    )


def eval(  # the command's name: `velora eval`
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
            help=f"The table holding the inputs and the targets: {TABLE_FORMATS}.",
            show_default=False,
        ),
    ],
    targets: Targets = None,
    columns: TargetInputs = None,
    sequence_column: SequenceColumn = None,
    time_column: TimeColumn = None,
    dt: Dt = 1.0,
    delimiter: Delimiter = DEFAULT_DELIMITER,
    per_sequence: Annotated[
        bool, typer.Option("--per-sequence", help="Also score every sequence on its own.")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the metrics as one JSON document, nothing else.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    device: Device = DEFAULT_DEVICE,
    max_memory: MaxMemory = MAX_MEMORY_DEFAULT,  # type: ignore[assignment]
    chunk_bytes: Annotated[
        int,
        typer.Option(
            "--chunk-bytes", metavar="N", min=1, hidden=True, help="Bytes of CSV per chunk."
        ),
    ] = DEFAULT_CHUNK_BYTES,
) -> None:
    """Score MODEL against target columns of a CSV file: MSE, MAE, RMSE and R² per output.

    MODEL runs over the file exactly as with `velora run`; the metrics come per output and as
    a mean over outputs (with --per-sequence also for every sequence). Under torchrun
    (`torchrun --standalone --nproc-per-node=N --no-python velora eval ...`) the run is shared
    as `velora run` shares it and rank 0 prints.
    """
    from velora.evaluation import evaluate_csv

    quiet = quiet or not is_main_process()  # under torchrun, rank 0 alone prints
    show_library_notes(not quiet)
    with progress_bar(quiet or not err.is_terminal) as progress:
        result = evaluate_csv(
            model,
            input_path,
            targets=split_names(targets, "--targets"),
            columns=split_names(columns, "--columns"),
            sequence_column=sequence_column,
            time_column=time_column,
            dt=dt,
            per_sequence=per_sequence,
            max_memory=max_memory,
            block_bytes=chunk_bytes,
            progress=progress,
            delimiter=delimiter,
            device=device,
        )
    if not result.main:
        return
    document = result.to_dict()
    if json_out:
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return
    _show(document, model, input_path, result.inputs, per_sequence)
    if not quiet:
        note(f"scored {count(result.rows, 'row')} in {result.seconds:.2f} s")
