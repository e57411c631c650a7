"""`velora validate`: check a spec and show its neuron counts, without building the network."""

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from velora_cli.console import out
from velora_cli.options import MAX_MEMORY_DEFAULT, MaxMemory


def validate(
    spec: Annotated[
        Path,
        typer.Argument(
            metavar="SPEC", help="The YAML network spec to check ('-': standard input)."
        ),
    ],
    max_memory: MaxMemory = MAX_MEMORY_DEFAULT,  # type: ignore[assignment]
) -> None:
    """Check a spec: every key, type, range and name list, and the memory it would need."""
    from velora.files.loading import load_spec_file
    from velora.files.sources import source_name
    from velora.spec import check_memory, format_bytes, neuron_counts
    from velora.wiring import NeuronCounts, describe_design

    limit = max_memory
    parsed = load_spec_file(spec)  # a file, or '-' for standard input
    need = check_memory(parsed, limit)
    counts = neuron_counts(parsed.network)
    net = parsed.network

    out.print(
        f"[green]✓[/green] {source_name(spec)}: valid spec (version {parsed.version})",
        highlight=False,
    )
    table = Table(title=f"{parsed.title}: neurons", title_justify="left", box=box.SIMPLE_HEAD)
    for column in (*counts, "units"):
        table.add_column(column, justify="right")
    table.add_row(*(f"{v:,}" for v in counts.values()), f"{net.n_neurons + net.out_features:,}")
    out.print(table)

    design = net.design
    wiring = Table(
        title=f"wiring: {design.type}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
    )
    for column in ("key", "value", "what it builds"):
        wiring.add_column(column, justify="right" if column == "value" else "left")
    for line in describe_design(design, NeuronCounts(**counts), net.sparsity_level):
        wiring.add_row(line.key, line.value, line.note)
    out.print(wiring)
    out.print(
        f"sparsity {net.sparsity_level:g}{'' if design.uses_sparsity else ' (unused here)'} · "
        f"seed {parsed.effective_seed} · "
        f"about {format_bytes(need)} to build (limit {format_bytes(limit)})",
        markup=False,
    )
    if parsed.inputs:
        out.print(f"inputs: {', '.join(parsed.inputs)}", markup=False)
    if parsed.outputs:
        out.print(f"outputs: {', '.join(parsed.outputs)}", markup=False)
