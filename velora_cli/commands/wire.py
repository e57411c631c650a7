"""`velora wire`: a network's wiring in numbers (Rich tables or JSON), as masks, and as a plot."""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from velora.files.sources import source_name
from velora.viz.figures import DEFAULT_DPI, SUFFIXES
from velora_cli.console import count, note, out
from velora_cli.options import MAX_MEMORY_DEFAULT, Dpi, MaxMemory

SIGN_STYLE = {1: ("+", "bold blue"), -1: ("-", "bold red"), 0: (".", "grey50")}
ARROW = "→"


def _spread(s: dict) -> str:
    return f"{s['min']:,}/{s['mean']:,.1f}/{s['max']:,}"


def _layer_table(title: str, columns: tuple[str, ...]) -> Table:
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "layer" else "right", no_wrap=True)
    return table


def _layer_tables(stats: dict) -> list[Table]:
    """Synapses per layer, with fan-in and fan-out: one table where it fits the terminal, else
    (big networks on a narrow terminal) the fan-in and fan-out in a second table, so that no
    figure is cut."""
    layers, t = stats["layers"], stats["totals"]
    names = [f"{layer['source']}{ARROW}{layer['target']}" for layer in layers]
    counts = [
        [
            f"{layer['shape'][0]:,}×{layer['shape'][1]:,}",
            f"{layer['synapses']:,}",
            f"{layer['density']:.3f}",
            f"[blue]{layer['excitatory']:,}[/blue]",
            f"[red]{layer['inhibitory']:,}[/red]",
        ]
        for layer in layers
    ]
    total = [
        f"of {t['possible']:,}",
        f"{t['synapses']:,}",
        f"{t['density']:.3f}",
        f"[blue]{t['excitatory']:,}[/blue]",
        f"[red]{t['inhibitory']:,}[/red]",
    ]
    fans = [[_spread(layer["fan_in"]), _spread(layer["fan_out"])] for layer in layers]
    count_columns = ("layer", "mask", "synapses", "density", "+exc", "-inh")

    one = _layer_table("Synapses per layer", (*count_columns, "fan-in", "fan-out"))
    for name, row, fan in zip(names, counts, fans, strict=True):
        one.add_row(name, *row, *fan)
    one.add_row("total", *total, "", "", style="bold")
    if out.measure(one, options=out.options.update_width(10_000)).maximum <= out.width:
        return [one]

    synapses = _layer_table("Synapses per layer", count_columns)
    for name, row in zip(names, counts, strict=True):
        synapses.add_row(name, *row)
    synapses.add_row("total", *total, style="bold")
    spread = _layer_table("Fan-in and fan-out per layer", ("layer", "fan-in", "fan-out"))
    for name, fan in zip(names, fans, strict=True):
        spread.add_row(name, *fan)
    return [synapses, spread]


def _show_tables(stats: dict, source: str, names: dict[str, list[str]]) -> None:
    """Neuron counts, per-layer synapse figures with totals, and parameters."""
    from velora.wiring import WiringDesign, design_summary

    seed = "none" if stats["seed"] is None else stats["seed"]
    design = design_summary(WiringDesign(**stats["wiring"]), stats["sparsity_level"])
    out.print(
        f"[bold]{stats['name']}[/bold] ({source}) · {design} · seed {seed}",
        highlight=False,
    )
    neurons = Table(title="Neurons", title_justify="left", box=box.SIMPLE_HEAD)
    neurons.add_column("group")
    neurons.add_column("count", justify="right")
    neurons.add_column("names")
    for group, n in stats["neurons"].items():
        shown = names.get(group, [])
        more = f", … ({len(shown) - 12:,} more)" if len(shown) > 12 else ""
        neurons.add_row(group, f"{n:,}", ", ".join(shown[:12]) + more)
    units = sum(v for k, v in stats["neurons"].items() if k != "sensory")
    neurons.add_row(
        "units", f"{units:,}", "inter + command + motor (hidden state size)", style="dim"
    )
    out.print(neurons)

    for table in _layer_tables(stats):
        out.print(table)
    out.print(
        "fan-in: synapses into each target, fan-out: out of each source (min/mean/max); "
        "recurrent links within a group are not counted",
        style="dim",
        markup=False,
    )

    p = stats["params"]
    params = Table(title="Parameters", title_justify="left", box=box.SIMPLE_HEAD)
    params.add_column("total", justify="right")
    params.add_column("active", justify="right")
    params.add_column("share active", justify="right")
    params.add_row(f"{p['total']:,}", f"{p['active']:,}", f"{p['active'] / p['total']:.1%}")
    out.print(params)


def _show_masks(arrays: dict, layers: list[dict], names: dict[str, list[str]]) -> None:
    """Each mask as a grid of coloured +, - and . (rows: sources, columns: targets)."""
    width = max(out.width, 40)
    for layer in layers:
        mask = arrays[layer["name"]]
        rows, cols = mask.shape
        labels = names.get(layer["source"]) or [str(i) for i in range(rows)]
        pad = min(max(len(s) for s in labels), 12)
        room = max(width - pad - 1, 10)
        shown = min(cols, room)
        title = f"{layer['source']} {ARROW} {layer['target']}  ({rows:,}×{cols:,}; rows: sources)"
        out.print(Text(title, style="bold"))
        if shown < cols:
            out.print(Text(f"  showing the first {shown:,} of {cols:,} columns", style="dim"))
        for label, row in zip(labels, mask, strict=True):
            line = Text(f"{label[:pad]:>{pad}} ", style="dim")
            for value in row[:shown]:
                char, style = SIGN_STYLE[int(value)]
                line.append(char, style=style)
            out.print(line, no_wrap=True, overflow="crop")
        out.print()


STRONGEST = 20  # synapses listed by --synapses


def _label(index: int, names: list[str]) -> str:
    """A neuron's index within its group, with its name where the group has names."""
    return f"{index} ({names[index]})" if index < len(names) else str(index)


def _show_synapses(synapses: list, names: dict[str, list[str]]) -> None:
    """The strongest synapses, strongest first (ties: layer order, then source and target)."""
    order = sorted(range(len(synapses)), key=lambda k: -synapses[k].strength)[:STRONGEST]
    table = Table(
        title=f"The {len(order)} strongest of {count(len(synapses), 'synapse')}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption=escape("strength = √(Σ over the five heads of W[target, source]²)"),
        caption_justify="left",
    )
    for column in ("layer", "source", "target", "polarity", "strength"):
        table.add_column(column, justify="right" if column == "strength" else "left")
    for k in order:
        s = synapses[k]
        source, target = s.layer.split("->")
        char, style = SIGN_STYLE[s.polarity]
        table.add_row(
            f"{source}{ARROW}{target}",
            _label(s.source, names.get(source, [])),
            _label(s.target, names.get(target, [])),
            Text(f"{char} {'excitatory' if s.polarity > 0 else 'inhibitory'}", style=style),
            f"{s.strength:.4f}",
        )
    out.print(table)


def wire(
    model: Annotated[
        Path, typer.Argument(metavar="MODEL", help="A YAML network spec (or a checkpoint).")
    ],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the figures as one JSON document, nothing else.")
    ] = False,
    masks: Annotated[
        bool, typer.Option("--masks", help="Draw each mask as a grid of +, - and . in colour.")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            metavar="FILE",
            help=f"Write the circuit and mask heat maps ({SUFFIXES}); on a checkpoint, each "
            "synapse drawn by its learned strength.",
        ),
    ] = None,
    dpi: Dpi = DEFAULT_DPI,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing plot.")] = False,
    synapses: Annotated[
        bool,
        typer.Option(
            "--synapses",
            help=f"List the {STRONGEST} strongest synapses by learned weight (with --json: "
            "every synapse, key 'synapses').",
        ),
    ] = False,
    max_memory: MaxMemory = MAX_MEMORY_DEFAULT,  # type: ignore[assignment]
) -> None:
    """Show a network's wiring: neuron counts, synapses per layer, parameters; masks; a plot."""
    if json_out and masks:
        raise typer.BadParameter("--masks draws on the terminal; it cannot go with --json")
    from velora.files.atomic import check_writable
    from velora.files.loading import load_arrays
    from velora.viz.figures import check_dpi, plot_format

    if plot is not None:
        plot_format(plot)
        check_dpi(dpi)
        check_writable(plot, force=force)

    network, spec = load_arrays(model, max_memory=max_memory)
    from velora.viz.stats import layer_masks_numpy, network_stats

    title = spec.title
    stats = network_stats(network, name=title).to_dict()
    names = {"sensory": spec.input_names(), "motor": spec.output_names()}
    strengths = None
    if synapses:
        from velora.viz.stats import synapse_strengths

        strengths = synapse_strengths(network)
        if json_out:
            stats["synapses"] = [s.to_dict() for s in strengths]

    if json_out:
        sys.stdout.write(json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    else:
        _show_tables(stats, source_name(model), names)
        if masks:
            _show_masks(layer_masks_numpy(network.wiring), stats["layers"], names)
        if strengths is not None:
            _show_synapses(strengths, names)

    if plot is not None:
        from velora.files.sniff import is_checkpoint_path
        from velora.viz.stats import synapse_strengths
        from velora.viz.wiring import save_wiring_plot

        # A checkpoint's weights were learned (or stored): draw each synapse by its strength.
        weighted = is_checkpoint_path(model)
        if weighted and strengths is None:
            strengths = synapse_strengths(network)
        info = save_wiring_plot(
            network.wiring,
            plot,
            dpi=dpi,
            force=force,
            input_names=names["sensory"],
            output_names=names["motor"],
            title=title,
            strengths=strengths if weighted else None,
        )
        bundles = sum(len(b) for b in info.bundles.values())
        shown = f"in {count(bundles, 'bundle')}" if info.view == "bundles" else "drawn"
        by = " by learned strength" if info.weighted else ""
        note(
            f"wrote {plot} ({count(info.total_edges, 'synapse')} {shown}{by}: "
            f"{info.excitatory:,} excitatory, {info.inhibitory:,} inhibitory)"
        )
