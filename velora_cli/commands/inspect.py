"""`velora inspect`: a checkpoint's metadata, spec, sizes, parameters and verification."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from velora_cli.console import count, out


def _mark(ok: bool) -> str:
    return "[green]✓[/green]" if ok else "[red]✗[/red]"


def _show(info: dict) -> None:
    meta = info["metadata"]
    out.print(f"[bold]Checkpoint[/bold] {info['file']}", highlight=False)
    table = Table(show_header=False, box=None, padding=(0, 1, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in (
        ("format", f"{meta['format']} v{meta['format_version']}"),
        ("velora version", meta["velora_version"]),
        ("created", meta["created"]),
        ("seed", "none" if meta["seed"] is None else str(meta["seed"])),
        ("sha256", meta["sha256"]),
        ("size", count(info["bytes"], "byte")),
    ):
        table.add_row(key, value)
    pruned = meta.get("pruned_from")
    if pruned is not None:
        before = sum(pruned["synapses_before"].values())
        table.add_row(
            "pruned from",
            f"{pruned['file']} (sha256 {pruned['sha256'][:16]}…), keeping {pruned['keep']:g} of "
            f"{before:,} synapses",
        )
    if info["extra_tensors"]:
        table.add_row("extra tensors", ", ".join(info["extra_tensors"]))
    out.print(table)

    title = "Spec" if info["spec_stored"] else "Spec (none stored; made from the sizes)"
    out.print(f"[bold]{title}[/bold]")
    out.print(info["spec"].rstrip(), markup=False, highlight=False)

    neurons = Table(title="Neurons", title_justify="left")
    for key in ("sensory", "inter", "command", "motor", "units"):
        neurons.add_column(key, justify="right")
    neurons.add_row(
        *(f"{info['neurons'][k]:,}" for k in ("sensory", "inter", "command", "motor", "units"))
    )
    out.print(neurons)

    params = Table(
        title="Parameters",
        title_justify="left",
        caption="each layer has 5 heads (g, h, f→g, f→h, proj) with weights and biases",
        caption_justify="left",
    )
    for key, justify in (
        ("layer", "left"),
        ("inputs → neurons", "right"),
        ("synapses", "right"),
        ("head weights", "right"),
        ("total", "right"),
        ("active", "right"),
    ):
        params.add_column(key, justify=justify)
    for layer in info["parameters"]["layers"]:
        params.add_row(
            layer["layer"],
            f"{layer['inputs']:,} → {layer['neurons']:,}",
            f"{layer['synapses']:,}",
            "×".join(f"{s:,}" for s in layer["weight_shape"]),
            f"{layer['total_params']:,}",
            f"{layer['active_params']:,}",
        )
    total, active = info["parameters"]["total"], info["parameters"]["active"]
    params.add_row("all", "", "", "", f"{total:,}", f"{active:,}", style="bold")
    out.print(params)

    c = info["c_export"]
    out.print(
        f"[bold]C export[/bold] (velora export --format c): flash {c['flash_bytes']:,} bytes of "
        f"constant data (int8 weights: {c['flash_bytes_int8']:,}), RAM {c['ram_bytes']:,} bytes "
        f"per step (state {c['state_bytes']:,}, scratch {c['scratch_bytes']:,})",
        highlight=False,
    )

    check = info["verification"]
    out.print("[bold]Verification[/bold]")
    if check["checksum"]:
        out.print(f"  {_mark(True)} checksum: tensors match the stored SHA-256")
    else:
        out.print(
            f"  {_mark(False)} checksum: tensors hash to {check['computed_sha256']}, "
            f"not the stored {meta['sha256']}"
        )
    if check["metadata_checksum"] is None:
        out.print(
            "  [yellow]–[/yellow] metadata (spec, seed) not covered by a checksum: written by an "
            "older velora"
        )
    else:
        verdict = "matches" if check["metadata_checksum"] else "does not match"
        out.print(
            f"  {_mark(check['metadata_checksum'])} metadata (spec, seed, format fields) "
            f"{verdict} its SHA-256"
        )
    out.print(
        f"  {_mark(check['masks_match_weights'])} masks agree with the shapes of "
        f"{check['tensors_checked']:,} weights and biases"
    )
    out.print(
        f"  {_mark(check['inert_outside_masks'])} weights outside the masks are inert "
        f"({check['stored_outside_masks']:,} stored non-zero)"
    )


def inspect(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="A velora checkpoint (.safetensors).")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document on stdout.")
    ] = False,
) -> None:
    """Show a checkpoint's metadata, spec, neuron counts, parameters and verification.

    A file that fails verification is shown, then refused with exit code 2.
    """
    from velora.files.inspection import inspect_checkpoint

    report = inspect_checkpoint(file)
    if as_json:
        typer.echo(json.dumps(report.info, indent=2))
    else:
        _show(report.info)
    report.check()
