"""`velora prune`: keep each layer's strongest synapses and write the sparser network."""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from velora_cli.console import count, note, out
from velora_cli.options import MAX_MEMORY_DEFAULT, Force, MaxMemory

ARROW = "→"


def _show(report: dict, model: Path) -> None:
    keep = report["pruned_from"]["keep"]
    out.print(
        f"[bold]{model}[/bold]: keeping {keep:g} of each layer's synapses",
        highlight=False,
        soft_wrap=True,
    )
    table = Table(
        title="Synapses per layer", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
    )
    table.add_column("layer", no_wrap=True)
    for column in ("before", "after", "share kept", "restored"):
        table.add_column(column, justify="right", no_wrap=True)
    for layer in report["layers"]:
        name = layer["layer"].replace("->", ARROW)
        share = layer["after"] / layer["before"]
        table.add_row(
            name,
            f"{layer['before']:,}",
            f"{layer['after']:,}",
            f"{share:.1%}",
            f"{layer['restored']:,}",
        )
    before, after = report["before"], report["after"]
    table.add_row("total", f"{before:,}", f"{after:,}", f"{after / before:.1%}", "", style="bold")
    out.print(table)
    out.print(
        "restored: synapses given back to targets that would have been left without input "
        "(each gets its strongest)",
        style="dim",
        markup=False,
    )


def prune(
    model: Annotated[
        Path, typer.Argument(metavar="MODEL", help="A checkpoint (or a spec: its seeded weights).")
    ],
    keep: Annotated[
        float,
        typer.Option(
            "--keep",
            metavar="FRACTION",
            help="Share of each layer's synapses to keep, the strongest, in (0, 1].",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Checkpoint to write (.safetensors).",
            show_default=False,
        ),
    ],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the figures as one JSON document, nothing else.")
    ] = False,
    force: Force = False,
    max_memory: MaxMemory = MAX_MEMORY_DEFAULT,  # type: ignore[assignment]
) -> None:
    """Keep the strongest synapses of each layer of MODEL and write the sparser network.

    In each layer the round(FRACTION × synapses) strongest synapses stay (strength: the size of
    their weights over the five heads, as `velora wire --synapses` shows); every neuron left
    without input gets back its strongest synapse. Kept weights are unchanged, removed ones are
    zeroed, and the checkpoint records what it was pruned from.
    """
    from velora.files.pruning import prune_model

    report = prune_model(model, output, keep=keep, force=force, max_memory=max_memory)
    document = report.to_dict()
    if json_out:
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return
    _show(document, model)
    note(
        f"wrote {output} (velora checkpoint, {count(report.n_bytes, 'byte')}, "
        f"{count(document['after'], 'synapse')} of {document['before']:,})"
    )
