"""The wiring figure: the circuit (one edge per synapse) and a heat map per mask.

``wiring_figure`` returns what
it drew (``PlotInfo``) so that callers and tests can check it against the masks. Sizes, line
widths, alpha and fonts scale with the network so that the figure stays readable from 5 to 300
neurons and beyond; labels are dropped where they would overlap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from velora.errors import VeloraError
from velora.files.atomic import check_writable
from velora.spec import input_names as default_inputs
from velora.spec import output_names as default_outputs
from velora.viz.figures import check_dpi, plot_format, save_figure
from velora.viz.stats import GROUPS, LAYERS, layer_masks_numpy

EXCITATORY = "#2166ac"  # blue
INHIBITORY = "#c0392b"  # red
NO_SYNAPSE = "#f2f2f2"
GROUP_COLOURS = {
    "sensory": "#8fd19e",
    "inter": "#ffe08a",
    "command": "#f4a6c6",
    "motor": "#b9a3e3",
}
MAX_LABELS = 40  # per column / axis; past this, names are dropped
MAX_PLOT_NODES = 3000
MAX_PLOT_EDGES = 300_000


@dataclass
class PlotInfo:
    """What the figure shows: edges per layer and polarity, nodes, labels and heat-map data."""

    edges: dict[str, int] = field(default_factory=dict)  # layer name -> edges drawn
    excitatory: int = 0
    inhibitory: int = 0
    nodes: dict[str, int] = field(default_factory=dict)  # group -> nodes drawn
    positions: dict[str, np.ndarray] = field(default_factory=dict)  # group -> (n, 2) x, y
    labels: dict[str, list[str]] = field(default_factory=dict)  # group -> node labels drawn
    heatmaps: dict[str, np.ndarray] = field(default_factory=dict)  # layer name -> image data

    @property
    def total_edges(self) -> int:
        return sum(self.edges.values())


def _column(n: int, x: float) -> np.ndarray:
    """Positions of ``n`` nodes in a column at ``x``: centred, node 0 on top, spacing capped."""
    spacing = min(1.0 / n, 0.22)
    y = 0.5 + (np.arange(n)[::-1] - (n - 1) / 2) * spacing
    return np.column_stack([np.full(n, x), y])


def _clip(value: float, low: float, high: float) -> float:
    return float(min(max(value, low), high))


def check_plottable(wiring) -> None:
    """Refuse, before drawing, a network too large to draw one edge per synapse."""
    counts = wiring.counts
    nodes = sum(getattr(counts, g) for g in GROUPS)
    edges = sum(int(np.count_nonzero(m)) for m in layer_masks_numpy(wiring).values())
    if nodes > MAX_PLOT_NODES or edges > MAX_PLOT_EDGES:
        raise VeloraError(
            f"network too large to plot: {nodes} neurons and {edges} synapses "
            f"(the plot draws at most {MAX_PLOT_NODES} neurons and {MAX_PLOT_EDGES} synapses)"
        )


def _draw_circuit(ax, wiring, arrays, names, info: PlotInfo, height_in: float) -> None:
    """Four columns of neurons and one straight edge per synapse, coloured by polarity."""
    counts = wiring.counts
    sizes = {g: int(getattr(counts, g)) for g in GROUPS}
    largest = max(sizes.values())
    xs = {g: float(i) for i, g in enumerate(GROUPS)}
    for g in GROUPS:
        info.positions[g] = _column(sizes[g], xs[g])
        info.nodes[g] = sizes[g]

    # Node size in points from the densest column; one y unit is about 0.8 of the panel height.
    column_pts = height_in * 72 * 0.75
    spacing_pts = column_pts * min(1.0 / largest, 0.22)
    diameter = _clip(0.75 * spacing_pts, 2.0, 18.0)

    for name, source, target, _ in LAYERS:
        mask = arrays[name]
        src, tgt = np.nonzero(mask)
        signs = mask[src, tgt]
        p0, p1 = info.positions[source][src], info.positions[target][tgt]
        n_edges = len(src)
        width = _clip(1.8 * (25 / max(n_edges, 1)) ** 0.5, 0.12, 1.6)
        alpha = _clip((80 / max(n_edges, 1)) ** 0.5, 0.07, 0.85)
        for sign, colour in ((1, EXCITATORY), (-1, INHIBITORY)):
            keep = signs == sign
            segments = np.stack([p0[keep], p1[keep]], axis=1)
            # matplotlib's stubs ask for a sequence of lines; an (N, 2, 2) array is one too.
            lines = LineCollection(
                segments,  # type: ignore[arg-type]
                colors=colour,
                linewidths=width,
                alpha=alpha,
                zorder=1,
            )
            lines.set_gid(f"edges:{name}:{'+' if sign > 0 else '-'}")
            ax.add_collection(lines)
        info.edges[name] = n_edges
        info.excitatory += int((signs > 0).sum())
        info.inhibitory += int((signs < 0).sum())

    for g in GROUPS:
        pos = info.positions[g]
        ax.scatter(
            pos[:, 0],
            pos[:, 1],
            s=diameter**2,
            c=GROUP_COLOURS[g],
            edgecolors="#333333",
            linewidths=_clip(diameter / 14, 0.2, 0.9),
            zorder=3,
            gid=f"nodes:{g}",
        )
        ax.annotate(
            f"{g}\n{sizes[g]}",
            (xs[g], 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=10,
            fontweight="bold",
            color="#333333",
        )

    # Names beside sensory (left) and motor (right) neurons, sized to their spacing.
    for g, side in (("sensory", -1), ("motor", 1)):
        labels = names[g]
        info.labels[g] = []
        if sizes[g] > MAX_LABELS:
            continue
        spacing_g = column_pts * min(1.0 / sizes[g], 0.22)
        font = _clip(0.6 * spacing_g, 5.0, 10.0)
        for (x, y), label in zip(info.positions[g], labels, strict=True):
            shown = label if len(label) <= 16 else label[:15] + "…"
            ax.annotate(
                shown,
                (x, y),
                xytext=(side * (diameter / 2 + 4), 0),
                textcoords="offset points",
                ha="right" if side < 0 else "left",
                va="center",
                fontsize=font,
                color="#222222",
            )
            info.labels[g].append(shown)

    ax.set_xlim(-0.6, 3.6)
    margin = 0.6 * diameter / column_pts + 0.01  # keep the outermost nodes inside the panel
    ax.set_ylim(min(info.positions[g][:, 1].min() for g in GROUPS) - margin, 1.0 + margin)
    ax.axis("off")
    ax.legend(
        handles=[
            Line2D([], [], color=EXCITATORY, lw=2, label=f"excitatory (+)  {info.excitatory}"),
            Line2D([], [], color=INHIBITORY, lw=2, label=f"inhibitory (−)  {info.inhibitory}"),
        ],
        loc="lower center",
        bbox_to_anchor=(0.5, -0.09),
        ncol=2,
        frameon=False,
        fontsize=9,
    )


def _draw_heatmap(ax, name: str, source: str, target: str, mask, names, info: PlotInfo) -> None:
    rows, cols = mask.shape
    image = np.sign(mask).astype(np.int8)
    info.heatmaps[name] = image
    cmap = ListedColormap([INHIBITORY, NO_SYNAPSE, EXCITATORY])
    ax.imshow(image, cmap=cmap, vmin=-1.5, vmax=1.5, aspect="auto", interpolation="nearest")
    synapses = int(np.count_nonzero(mask))
    ax.set_title(f"{source} → {target}\n{rows}×{cols}, {synapses} synapses", fontsize=9)
    ax.set_ylabel(f"{source} (source)", fontsize=8)
    ax.set_xlabel(f"{target} (target)", fontsize=8)
    for axis, n, group in ((ax.yaxis, rows, source), (ax.xaxis, cols, target)):
        labelled = group in ("sensory", "motor") and n <= MAX_LABELS
        if labelled:
            axis.set_ticks(range(n))
            axis.set_ticklabels([s if len(s) <= 12 else s[:11] + "…" for s in names[group]])
        else:
            axis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    for axis, n, group in (("y", rows, source), ("x", cols, target)):
        named = group in ("sensory", "motor") and n <= MAX_LABELS
        ax.tick_params(axis=axis, labelsize=_clip(170 / n, 5, 8) if named else 8, length=2)
    # Thin cell borders while cells are big enough to see them.
    if max(rows, cols) <= 48:
        ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
        ax.grid(which="minor", color="white", linewidth=0.8)
        ax.tick_params(which="minor", length=0)
    for spine in ax.spines.values():
        spine.set_color("#999999")


def wiring_figure(
    wiring,
    *,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
    title: str | None = None,
) -> tuple[Figure, PlotInfo]:
    """The circuit and the three mask heat maps in one figure, plus what was drawn."""
    check_plottable(wiring)
    counts = wiring.counts
    names = {
        "sensory": default_inputs(input_names, counts.sensory),
        "motor": default_outputs(output_names, counts.motor),
    }
    if len(names["sensory"]) != counts.sensory or len(names["motor"]) != counts.motor:
        raise ValueError("input_names and output_names must match in_features and out_features")
    arrays = layer_masks_numpy(wiring)
    info = PlotInfo()

    # The figure grows with the network up to a fixed size; past it, everything scales down.
    largest = max(getattr(counts, g) for g in GROUPS)
    most_rows = max(arrays[name].shape[0] for name, *_ in LAYERS)
    circuit_h = _clip(2.5 + 0.3 * largest, 4.0, 6.5)
    heat_h = _clip(2.0 + 0.25 * most_rows, 2.8, 4.0)
    fig = Figure(figsize=(12.0, circuit_h + heat_h + 0.8), layout="constrained")
    grid = fig.add_gridspec(2, 1, height_ratios=[circuit_h, heat_h])
    widths = [max(arrays[name].shape[1], 1) for name, *_ in LAYERS]
    widths = [max(w, 0.3 * max(widths), 3) for w in widths]
    bottom = grid[1].subgridspec(1, 3, width_ratios=widths)

    circuit = fig.add_subplot(grid[0])
    _draw_circuit(circuit, wiring, arrays, names, info, circuit_h)
    for i, (name, source, target, _) in enumerate(LAYERS):
        _draw_heatmap(fig.add_subplot(bottom[i]), name, source, target, arrays[name], names, info)

    fig.suptitle(title or "network", fontsize=13, fontweight="bold")
    sub = (
        f"{wiring.n_neurons} neurons · sparsity {wiring.sparsity_level:g}"
        + ("" if wiring.seed is None else f" · seed {wiring.seed}")
        + f" · {info.total_edges} synapses (recurrent links within a group not drawn)"
    )
    circuit.set_title(sub, fontsize=10, color="#444444", pad=36)
    return fig, info


def save_wiring_plot(
    wiring,
    path: str | Path,
    *,
    dpi: int = 150,
    force: bool = False,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
    title: str | None = None,
) -> PlotInfo:
    """Draw the wiring figure and write it atomically (png, svg or pdf by extension)."""
    plot_format(path)
    check_dpi(dpi)
    check_writable(path, force=force)  # before the drawing, which can take a while
    fig, info = wiring_figure(
        wiring, input_names=input_names, output_names=output_names, title=title
    )
    save_figure(fig, path, dpi=dpi, force=force)
    return info
