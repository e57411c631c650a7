"""`velora export`: write a checkpoint, a torch.export program, an ONNX graph or C99 source, then
check it."""

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from velora_cli.console import count, out
from velora_cli.options import MAX_MEMORY_DEFAULT, MaxMemory


class ExportFormat(StrEnum):
    """File formats ``velora export`` writes."""

    safetensors = "safetensors"
    pt2 = "pt2"
    onnx = "onnx"
    c = "c"


class Quantize(StrEnum):
    """Weight types of a C export other than float32."""

    int8 = "int8"


_DESCRIPTIONS = {
    "safetensors": "velora checkpoint",
    "pt2": "torch.export program, one step",
    "onnx": "ONNX graph, one step",
    "c": "C99 source, one step",
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
            help="safetensors (a velora checkpoint), pt2 (torch.export), onnx or c (C99 source "
            "and header, for microcontrollers); "
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
    c_prefix: Annotated[
        str | None,
        typer.Option(
            "--c-prefix",
            metavar="NAME",
            help="C format: the prefix of the C names (NAME_step, NAME_reset); default velora.",
            show_default=False,
        ),
    ] = None,
    quantize: Annotated[
        Quantize | None,
        typer.Option(
            "--quantize",
            metavar="int8",
            help="C format: store the weights as int8 with a float scale per row.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing output file.")
    ] = False,
    max_memory: MaxMemory = MAX_MEMORY_DEFAULT,  # type: ignore[assignment]
) -> None:
    """Save MODEL as a checkpoint (or a pt2 / ONNX step graph, or C) and check the file round trip.

    pt2 and ONNX files hold one step: inputs x (batch, in_features) and h (batch, units),
    outputs y and h_next, with a dynamic batch size; they run without velora installed.
    The elapsed time between steps is 1, or the input t with --timespans.
    The c format writes FILE.c and FILE.h: one step in C99 for microcontrollers,
    velora_step(x, h, dt, y), checked with the machine's C compiler when there is one.
    """
    from velora.files.atomic import check_writable
    from velora.files.export import export_model, format_for, output_paths
    from velora.files.loading import load_model

    chosen = format_for(output, fmt.value if fmt is not None else None)
    for path in output_paths(output, chosen):
        check_writable(path, force=force)
    network, spec = load_model(model, max_memory=max_memory)
    result = export_model(
        network,
        output,
        chosen,
        spec=spec,
        force=force,
        timespans=timespans,
        c_prefix=c_prefix,
        quantize=quantize.value if quantize is not None else None,
        max_memory=max_memory,
    )
    if result.format == "c":
        _show_c(result)
        return
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


def _show_c(result) -> None:
    """What a C export wrote, what a step needs on the target, and the round-trip check."""
    out.print(
        f"wrote {result.path} and {result.header} ({_DESCRIPTIONS['c']}, {_size(result.n_bytes)})",
        markup=False,
        soft_wrap=True,
    )
    flash = f"flash {count(result.flash_bytes, 'byte')} of constant data"
    if result.quantize:
        saved = result.float_flash_bytes - result.flash_bytes
        flash += (
            f" ({result.quantize} weights: {count(saved, 'byte')} less than float32, "
            f"{saved / result.float_flash_bytes:.0%})"
        )
    out.print(
        f"{flash}, RAM {count(result.ram_bytes, 'byte')} (state and scratch) per step",
        markup=False,
        soft_wrap=True,
    )
    if not result.checked:
        out.print(
            "round-trip check: skipped, no C compiler found (cc, gcc or clang; set CC to "
            "choose one)",
            markup=False,
            soft_wrap=True,
        )
        return
    against = "the float PyTorch model" if result.quantize else "the PyTorch model"
    out.print(
        f"round-trip check: max |Δ| = {result.max_abs_diff:.3g} against {against} (y and h, "
        f"{count(result.n_samples, 'random sequence')} of {result.n_steps} steps, random "
        f"elapsed times; compiled with {result.compiler})",
        markup=False,
        soft_wrap=True,
    )
