"""`velora export`: write a checkpoint, a torch.export program or an ONNX graph, then check it."""

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from velora_cli.console import count, out


class ExportFormat(StrEnum):
    """File formats ``velora export`` writes."""

    safetensors = "safetensors"
    pt2 = "pt2"
    onnx = "onnx"


_DESCRIPTIONS = {
    "safetensors": "velora checkpoint",
    "pt2": "torch.export program, one step",
    "onnx": "ONNX graph, one step",
}


def _size(n_bytes: int) -> str:
    if n_bytes < 1000:
        return f"{n_bytes} B"
    if n_bytes < 1_000_000:
        return f"{n_bytes / 1e3:.1f} kB"
    return f"{n_bytes / 1e6:.1f} MB"


def export(
    model: Annotated[
        Path, typer.Argument(metavar="MODEL", help="A YAML spec or a velora checkpoint.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="File to write.")],
    fmt: Annotated[
        ExportFormat | None,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help="safetensors (a velora checkpoint), pt2 (torch.export) or onnx; "
            "default: from the output's suffix, else safetensors.",
            show_default=False,
        ),
    ] = None,
    timespans: Annotated[
        bool,
        typer.Option(
            "--timespans",
            help="Give the pt2 / ONNX step a third input t (batch,): the step's elapsed time.",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing output file.")
    ] = False,
) -> None:
    """Save MODEL as a checkpoint (or a pt2 / ONNX step graph) and check the file round trip.

    pt2 and ONNX files hold one step: inputs x (batch, in_features) and h (batch, units),
    outputs y and h_next, with a dynamic batch size; they run without velora installed.
    The elapsed time between steps is 1, or the input t with --timespans.
    """
    from velora.files.atomic import check_writable
    from velora.files.export import export_model, format_for
    from velora.files.loading import load_model

    check_writable(output, force=force)
    chosen = format_for(output, fmt.value if fmt is not None else None)
    network, spec = load_model(model)
    result = export_model(network, output, chosen, spec=spec, force=force, timespans=timespans)
    line = f"wrote {result.path} ({_DESCRIPTIONS[result.format]}, {_size(result.n_bytes)}"
    if result.sha256:
        line += f", sha256 {result.sha256[:16]}…"
    out.print(line + ")", markup=False, soft_wrap=True)
    out.print(
        f"round-trip check: max |Δ| = {result.max_abs_diff:.3g} against the PyTorch model "
        f"(y and h_next, {count(result.n_samples, 'random sample')}, one step"
        + (", random elapsed times)" if timespans else ")"),
        markup=False,
        soft_wrap=True,
    )
