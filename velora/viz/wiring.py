"""The wiring figure: the circuit and a heat map per mask.

The circuit comes in two views. Up to a size where single edges stay readable (``view="auto"``)
it draws one edge per synapse, coloured by polarity and drawn in an order that favours neither
polarity; inter and command neurons carry the indices the heat maps use. Past that size it draws
an aggregated view: each group as blocks of consecutive neurons and, per layer, one ribbon per
pair of blocks that share synapses, as wide as their number and coloured by the excitatory share,
so a 1,000-neuron network reads as clearly as a 16-neuron one. Given learned strengths (a trained
checkpoint), edge width and opacity, or ribbon width, follow strength. ``wiring_figure`` returns
what it drew (``PlotInfo``) so that callers and tests can check it against the masks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib import patheffects
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.colors import LinearSegmentedColormap, ListedColormap, Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.ticker import MaxNLocator

from velora.errors import VeloraError
from velora.files.atomic import check_writable
from velora.spec import input_names as default_inputs
from velora.spec import output_names as default_outputs
from velora.viz.figures import DEFAULT_DPI, check_dpi, plot_format, save_figure
from velora.viz.stats import GROUPS, LAYERS, Synapse, layer_masks_numpy
from velora.wiring import design_summary

EXCITATORY = "#2166ac"  # blue
INHIBITORY = "#c0392b"  # red
MIXED = "#9d8fb8"  # the middle of the excitatory-share scale: as much of one as of the other
NO_SYNAPSE = "#f2f2f2"
GROUP_COLOURS = {
    "sensory": "#8fd19e",
    "inter": "#ffe08a",
    "command": "#f4a6c6",
    "motor": "#b9a3e3",
}
SHARE_COLOURS = LinearSegmentedColormap.from_list("share", [INHIBITORY, MIXED, EXCITATORY])
VIEWS = ("auto", "synapses", "bundles")
MAX_LABELS = 40  # per column / axis; past this, names are dropped
# The synapse view while single edges stay readable: at most this many per layer and neurons
# per group; "auto" draws bundles past it.
MAX_EDGES_READABLE = 600
MAX_NODES_READABLE = 64
MAX_PLOT_NODES = 10_000  # past this, the heat maps alone would outgrow any page
MAX_PLOT_EDGES = 300_000  # the synapse view, forced, draws at most this many edges
MAX_BLOCKS = 12  # per group in the bundle view
SINGLE_BLOCKS = 16  # groups up to this size get one block per neuron


@dataclass
class Bundle:
    """The synapses from one block of source neurons to one block of targets."""

    source: tuple[int, int]  # [start, stop) of the source block, indices within the group
    target: tuple[int, int]
    synapses: int
    excitatory: int
    strength: float | None = None  # summed learned strength, when strengths were given

    @property
    def excitatory_share(self) -> float:
        return self.excitatory / self.synapses


@dataclass
class PlotInfo:
    """What the figure shows: the view, synapses per layer and polarity, nodes or blocks,
    labels, what each edge or bundle looks like, and heat-map data."""

    view: str = "synapses"  # "synapses": one edge per synapse; "bundles": blocks of neurons
    weighted: bool = False  # edges or ribbons drawn by learned strength
    edges: dict[str, int] = field(default_factory=dict)  # layer -> synapses shown
    excitatory: int = 0
    inhibitory: int = 0
    nodes: dict[str, int] = field(default_factory=dict)  # group -> neurons
    positions: dict[str, np.ndarray] = field(default_factory=dict)  # group -> (n, 2) x, y
    labels: dict[str, list[str]] = field(default_factory=dict)  # group -> node labels drawn
    # Synapse view: per layer, the (source, target) of every edge in drawing order (later on
    # top), and each edge's line width and opacity.
    order: dict[str, np.ndarray] = field(default_factory=dict)
    widths: dict[str, np.ndarray] = field(default_factory=dict)
    alphas: dict[str, np.ndarray] = field(default_factory=dict)
    # Bundle view: the blocks of each group and the bundles of each layer.
    blocks: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    bundles: dict[str, list[Bundle]] = field(default_factory=dict)
    heatmaps: dict[str, np.ndarray] = field(default_factory=dict)  # layer name -> image data

    @property
    def total_edges(self) -> int:
        """Synapses shown: drawn one by one, or summed into bundles."""
        return sum(self.edges.values())


def _column(n: int, x: float) -> np.ndarray:
    """Positions of ``n`` nodes in a column at ``x``: centred, node 0 on top, spacing capped."""
    spacing = min(1.0 / n, 0.22)
    y = 0.5 + (np.arange(n)[::-1] - (n - 1) / 2) * spacing
    return np.column_stack([np.full(n, x), y])


def _clip(value: float, low: float, high: float) -> float:
    return float(min(max(value, low), high))


def _group_sizes(wiring) -> dict[str, int]:
    return {g: int(getattr(wiring.counts, g)) for g in GROUPS}


def check_plottable(wiring, view: str = "auto") -> None:
    """Refuse, before drawing, a network too large for a page, or, for the synapse view asked
    for by name, one with too many synapses to draw one by one."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    nodes = sum(_group_sizes(wiring).values())
    if nodes > MAX_PLOT_NODES:
        raise VeloraError(
            f"network too large to plot: {nodes:,} neurons "
            f"(the plot draws at most {MAX_PLOT_NODES:,})"
        )
    if view == "synapses":
        edges = sum(int(np.count_nonzero(m)) for m in layer_masks_numpy(wiring).values())
        if edges > MAX_PLOT_EDGES:
            raise VeloraError(
                f"too many synapses to draw one by one: {edges:,} (at most "
                f"{MAX_PLOT_EDGES:,}); the bundle view draws networks of any size"
            )


def choose_view(sizes: dict[str, int], arrays: dict[str, np.ndarray], view: str = "auto") -> str:
    """The view to draw: ``view`` itself, or for "auto" single synapses while they stay
    readable (every layer at most MAX_EDGES_READABLE, every group MAX_NODES_READABLE) and
    bundles past that."""
    if view != "auto":
        return view
    readable = max(sizes.values()) <= MAX_NODES_READABLE and all(
        np.count_nonzero(m) <= MAX_EDGES_READABLE for m in arrays.values()
    )
    return "synapses" if readable else "bundles"


def strength_arrays(
    synapses: Sequence[Synapse], arrays: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Strengths laid out like the masks (``velora.viz.stats.synapse_strengths`` gives them):
    one per synapse of every layer, none where a mask has no synapse."""
    out = {name: np.zeros(mask.shape, dtype=np.float64) for name, mask in arrays.items()}
    seen = dict.fromkeys(arrays, 0)
    for s in synapses:
        mask = arrays.get(s.layer)
        if mask is None or not (0 <= s.source < mask.shape[0] and 0 <= s.target < mask.shape[1]):
            raise ValueError(f"strengths: no synapse {s.layer} {s.source}->{s.target} here")
        if mask[s.source, s.target] == 0:
            raise ValueError(f"strengths: {s.layer} {s.source}->{s.target} is not a synapse")
        out[s.layer][s.source, s.target] = s.strength
        seen[s.layer] += 1
    for name, mask in arrays.items():
        if seen[name] != np.count_nonzero(mask):
            raise ValueError(
                f"strengths: {seen[name]} given for layer {name}, which has "
                f"{np.count_nonzero(mask)} synapses"
            )
    return out


def _headings(ax, sizes: dict[str, int]) -> None:
    """Each group's name and size above its column."""
    for i, g in enumerate(GROUPS):
        ax.annotate(
            f"{g}\n{sizes[g]:,}",
            (float(i), 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=10,
            fontweight="bold",
            color="#333333",
        )


def _halo(width: float = 2.0) -> list:
    """A white outline, so that a label stays readable over edges."""
    return [patheffects.withStroke(linewidth=width, foreground="white")]


def _draw_synapses(ax, arrays, sizes, names, info: PlotInfo, height_in: float, strengths) -> None:
    """Four columns of neurons and one straight edge per synapse, coloured by polarity; with
    strengths, width and opacity follow each synapse's strength relative to its layer's
    strongest."""
    largest = max(sizes.values())
    xs = {g: float(i) for i, g in enumerate(GROUPS)}
    for g in GROUPS:
        info.positions[g] = _column(sizes[g], xs[g])
        info.nodes[g] = sizes[g]

    # Node size in points from the densest column; one y unit is about 0.8 of the panel height.
    column_pts = height_in * 72 * 0.75
    spacing_pts = column_pts * min(1.0 / largest, 0.22)
    diameter = _clip(0.75 * spacing_pts, 2.0, 18.0)

    # Draw the edges of both polarities mixed, in a fixed shuffled order, so that neither is
    # drawn over the other; with strengths, weakest first so that the strong ones stay on top.
    rng = np.random.default_rng(0)
    for name, source, target, _ in LAYERS:
        mask = arrays[name]
        src, tgt = np.nonzero(mask)
        n_edges = len(src)
        order = rng.permutation(n_edges)
        base_width = _clip(1.8 * (25 / max(n_edges, 1)) ** 0.5, 0.12, 1.6)
        base_alpha = _clip((80 / max(n_edges, 1)) ** 0.5, 0.07, 0.85)
        if strengths is not None and n_edges:
            values = strengths[name][src, tgt]
            top = float(values.max())
            ratio = values / top if top > 0 else np.zeros(n_edges)
            order = order[np.argsort(ratio[order], kind="stable")]
            widths = base_width * (0.2 + 1.8 * ratio[order])
            alphas = 0.12 + 0.83 * ratio[order]
        else:
            widths = np.full(n_edges, base_width)
            alphas = np.full(n_edges, base_alpha)
        src, tgt = src[order], tgt[order]
        signs = mask[src, tgt]
        colours = np.where((signs > 0)[:, None], to_rgba(EXCITATORY), to_rgba(INHIBITORY))
        colours[:, 3] = alphas
        p0, p1 = info.positions[source][src], info.positions[target][tgt]
        segments = np.stack([p0, p1], axis=1)
        # matplotlib's stubs ask for a sequence of lines; an (N, 2, 2) array is one too.
        lines = LineCollection(
            segments,  # type: ignore[arg-type]
            colors=colours,
            linewidths=widths,
            zorder=1,
        )
        lines.set_gid(f"edges:{name}")
        ax.add_collection(lines)
        info.order[name] = np.column_stack([src, tgt])
        info.widths[name] = widths
        info.alphas[name] = alphas
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
    _headings(ax, sizes)

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
                path_effects=_halo(),
            )
            info.labels[g].append(shown)

    # Inter and command neurons: the indices the heat maps use, inside the node where it is big
    # enough, else beside it (inter on the left, command on the right).
    for g, side in (("inter", -1), ("command", 1)):
        info.labels[g] = []
        if sizes[g] > MAX_LABELS:
            continue
        inside = diameter >= 11
        spacing_g = column_pts * min(1.0 / sizes[g], 0.22)
        font = _clip(0.5 * diameter, 5.5, 8.0) if inside else _clip(0.7 * spacing_g, 4.5, 7.0)
        for i, (x, y) in enumerate(info.positions[g]):
            ax.annotate(
                str(i),
                (x, y),
                xytext=(0, 0) if inside else (side * (diameter / 2 + 2), 0),
                textcoords="offset points",
                ha="center" if inside else ("right" if side < 0 else "left"),
                va="center",
                fontsize=font,
                color="#222222",
                zorder=4,
                path_effects=None if inside else _halo(1.5),
            )
            info.labels[g].append(str(i))

    ax.set_xlim(-0.6, 3.6)
    margin = 0.6 * diameter / column_pts + 0.01  # keep the outermost nodes inside the panel
    ax.set_ylim(min(info.positions[g][:, 1].min() for g in GROUPS) - margin, 1.0 + margin)
    ax.axis("off")
    handles = [
        Line2D([], [], color=EXCITATORY, lw=2, label=f"excitatory (+)  {info.excitatory:,}"),
        Line2D([], [], color=INHIBITORY, lw=2, label=f"inhibitory (−)  {info.inhibitory:,}"),
    ]
    if strengths is not None:
        handles += [
            Line2D([], [], color="#555555", lw=0.5, alpha=0.35, label="weak"),
            Line2D([], [], color="#555555", lw=2.6, alpha=0.95, label="strong synapse"),
        ]
    legend = ax.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, -0.09),
        ncol=len(handles),
        frameon=False,
        fontsize=9,
    )
    if strengths is not None:
        legend.set_title(
            "edge width and opacity, and heat-map shade: learned strength √(Σ heads W²), "
            "relative to the layer's strongest",
            prop={"size": 8},
        )


def make_blocks(n: int) -> list[tuple[int, int]]:
    """Blocks of consecutive neurons for the bundle view: one per neuron up to SINGLE_BLOCKS,
    else at most MAX_BLOCKS of a round size (5, 10, 20, 25, 50, ...)."""
    if n <= SINGLE_BLOCKS:
        return [(i, i + 1) for i in range(n)]
    size = next(
        s
        for s in (m * 10**k for k in range(9) for m in (1, 2, 2.5, 5))
        if s == int(s) and math.ceil(n / s) <= MAX_BLOCKS
    )
    step = int(size)
    return [(lo, min(lo + step, n)) for lo in range(0, n, step)]


def _block_spans(blocks: list[tuple[int, int]]) -> list[tuple[float, float]]:
    """(top, bottom) of each block in a column centred at 0.5, heights as the neurons."""
    n = blocks[-1][1]
    gap = 0.012 if len(blocks) > 1 else 0.0
    unit = min((0.96 - gap * (len(blocks) - 1)) / n, 0.1)
    total = unit * n + gap * (len(blocks) - 1)
    y = 0.5 + total / 2
    spans = []
    for lo, hi in blocks:
        spans.append((y, y - unit * (hi - lo)))
        y -= unit * (hi - lo) + gap
    return spans


def _ribbon(x0: float, y0: tuple[float, float], x1: float, y1: tuple[float, float]) -> MplPath:
    """A band from the span ``y0`` (top, bottom) at ``x0`` to ``y1`` at ``x1``, S-curved."""
    xm = (x0 + x1) / 2
    verts = [
        (x0, y0[0]),
        (xm, y0[0]),
        (xm, y1[0]),
        (x1, y1[0]),
        (x1, y1[1]),
        (xm, y1[1]),
        (xm, y0[1]),
        (x0, y0[1]),
        (x0, y0[0]),
    ]
    c = MplPath.CURVE4
    codes = [MplPath.MOVETO, c, c, c, MplPath.LINETO, c, c, c, MplPath.CLOSEPOLY]
    return MplPath(verts, codes)


def _block_sums(values: np.ndarray, rows: list[tuple[int, int]], cols: list[tuple[int, int]]):
    starts_r = [lo for lo, _ in rows]
    starts_c = [lo for lo, _ in cols]
    return np.add.reduceat(np.add.reduceat(values, starts_r, axis=0), starts_c, axis=1)


def _stack_tops(spans: list[tuple[float, float]], stacks: np.ndarray) -> list[float]:
    """Where each block's stack of ribbons starts: centred in the block."""
    return [top - (top - bottom - h) / 2 for (top, bottom), h in zip(spans, stacks, strict=True)]


def _draw_bundles(ax, arrays, sizes, names, info: PlotInfo, height_in: float, strengths) -> None:
    """Groups as columns of blocks, and per layer one ribbon per pair of blocks that share
    synapses: width from their number (or summed strength), colour from the excitatory share."""
    width = 0.17  # of a block, in x units (columns are 1 apart)
    column_pts = height_in * 72 * 0.75
    xs = {g: float(i) for i, g in enumerate(GROUPS)}
    spans: dict[str, list[tuple[float, float]]] = {}
    for g in GROUPS:
        blocks = make_blocks(sizes[g])
        info.blocks[g] = blocks
        spans[g] = _block_spans(blocks)
        info.nodes[g] = sizes[g]
        info.positions[g] = np.array([(xs[g], (t + b) / 2) for t, b in spans[g]])

    for name, source, target, _ in LAYERS:
        mask = arrays[name]
        live = (mask != 0).astype(np.int64)
        rows, cols = info.blocks[source], info.blocks[target]
        counts = _block_sums(live, rows, cols)
        excitatory = _block_sums((mask > 0).astype(np.int64), rows, cols)
        if strengths is not None:
            weight = _block_sums(strengths[name], rows, cols)
            exc_weight = _block_sums(np.where(mask > 0, strengths[name], 0.0), rows, cols)
            values = weight
            shares = np.divide(exc_weight, weight, out=np.full(weight.shape, 0.5), where=weight > 0)
        else:
            values = counts.astype(np.float64)
            shares = np.divide(excitatory, counts, out=np.full(counts.shape, 0.5), where=counts > 0)
        heights_s = np.array([t - b for t, b in spans[source]])
        heights_t = np.array([t - b for t, b in spans[target]])
        out_total, in_total = values.sum(axis=1), values.sum(axis=0)
        limits = [h / v for h, v in zip(heights_s, out_total, strict=True) if v > 0]
        limits += [h / v for h, v in zip(heights_t, in_total, strict=True) if v > 0]
        scale = 0.9 * min(limits) if limits else 0.0
        # Stack each block's ribbons, centred in the block: by target at the source, by source
        # at the target, which keeps crossings few.
        s_cursor = _stack_tops(spans[source], out_total * scale)
        t_cursor = _stack_tops(spans[target], in_total * scale)
        x0, x1 = xs[source] + width / 2, xs[target] - width / 2
        patches, colours, bundles = [], [], []
        for a in range(len(rows)):
            for b in range(len(cols)):
                if counts[a, b] == 0:
                    continue
                thick = values[a, b] * scale
                y0 = (s_cursor[a], s_cursor[a] - thick)
                y1 = (t_cursor[b], t_cursor[b] - thick)
                s_cursor[a] -= thick
                t_cursor[b] -= thick
                patches.append(PathPatch(_ribbon(x0, y0, x1, y1)))
                colours.append(SHARE_COLOURS(float(shares[a, b])))
                bundles.append(
                    Bundle(
                        rows[a],
                        cols[b],
                        int(counts[a, b]),
                        int(excitatory[a, b]),
                        None if strengths is None else float(values[a, b]),
                    )
                )
        ribbons = PatchCollection(
            patches, facecolors=colours, edgecolors=colours, linewidths=0.3, alpha=0.7, zorder=1
        )
        ribbons.set_gid(f"bundles:{name}")
        ax.add_collection(ribbons)
        info.bundles[name] = bundles
        synapses = int(counts.sum())
        exc = int(excitatory.sum())
        info.edges[name] = synapses
        info.excitatory += exc
        info.inhibitory += synapses - exc
        text = f"{synapses:,} synapses\n{exc / max(synapses, 1):.1%} excitatory"
        if strengths is not None:
            total = float(values.sum())
            share = float(exc_weight.sum()) / total if total > 0 else 0.5
            text = f"{synapses:,} synapses, {exc / max(synapses, 1):.1%} exc.\n"
            text += f"strength {share:.1%} exc."
        ax.annotate(
            text,
            ((xs[source] + xs[target]) / 2, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
            color="#444444",
        )

    # The blocks, with their index ranges inside (or, for single sensory and motor neurons,
    # their names beside them).
    for g in GROUPS:
        rects = [
            Rectangle((xs[g] - width / 2, bottom), width, top - bottom) for top, bottom in spans[g]
        ]
        column = PatchCollection(
            rects, facecolors=GROUP_COLOURS[g], edgecolors="#333333", linewidths=0.6, zorder=3
        )
        column.set_gid(f"blocks:{g}")
        ax.add_collection(column)
        info.labels[g] = []
        single = all(hi - lo == 1 for lo, hi in info.blocks[g])
        named = g in ("sensory", "motor") and single
        for (lo, hi), (top, bottom) in zip(info.blocks[g], spans[g], strict=True):
            y = (top + bottom) / 2
            height_pts = (top - bottom) * column_pts
            if named:
                label = names[g][lo]
                label = label if len(label) <= 16 else label[:15] + "…"
                side = -1 if g == "sensory" else 1
                ax.annotate(
                    label,
                    (xs[g] + side * width / 2, y),
                    xytext=(side * 4, 0),
                    textcoords="offset points",
                    ha="right" if side < 0 else "left",
                    va="center",
                    fontsize=_clip(0.5 * height_pts, 5.0, 10.0),
                    color="#222222",
                )
            else:
                label = str(lo) if hi - lo == 1 else f"{lo}–{hi - 1}"
                font = _clip(0.7 * height_pts, 4.5, 7.5)
                if height_pts < font:
                    continue
                ax.text(
                    xs[g], y, label, ha="center", va="center", fontsize=font, zorder=4,
                    color="#222222",
                )  # fmt: skip
            info.labels[g].append(label)
    _headings(ax, sizes)  # the blocks' labels show their size

    ax.set_xlim(-0.6, 3.6)
    ax.set_ylim(-0.01, 1.01)
    ax.axis("off")
    # The colour scale of the ribbons, and what their width means.
    bar = ax.inset_axes((0.36, -0.075, 0.28, 0.022))
    colorbar = ax.figure.colorbar(
        ScalarMappable(Normalize(0.0, 1.0), SHARE_COLOURS), cax=bar, orientation="horizontal"
    )
    colorbar.set_ticks([0.0, 0.5, 1.0], labels=["all inhibitory", "half", "all excitatory"])
    colorbar.ax.tick_params(labelsize=8, length=2)
    if strengths is None:
        caption = "colour: excitatory share of a bundle · width: synapses (scaled per layer)"
    else:
        caption = (
            "colour: excitatory share of a bundle's strength · width: summed learned strength "
            "(scaled per layer) · heat maps shaded by strength"
        )
    bar.set_title(caption, fontsize=8, color="#444444")


def shaded_mask(mask: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """An RGB image of a mask whose synapses fade from their polarity's colour (the layer's
    strongest) towards the no-synapse grey (strength 0)."""
    top = float(strength.max()) if strength.size else 0.0
    ratio = strength / top if top > 0 else np.zeros(mask.shape)
    blank = np.array(to_rgba(NO_SYNAPSE)[:3])
    full = np.where((mask > 0)[..., None], to_rgba(EXCITATORY)[:3], to_rgba(INHIBITORY)[:3])
    fade = np.where(mask != 0, 0.15 + 0.85 * ratio, 0.0)[..., None]
    return blank + (full - blank) * fade


def _draw_heatmap(
    ax, name: str, source: str, target: str, mask, names, info: PlotInfo, strength=None
) -> None:
    rows, cols = mask.shape
    image = np.sign(mask).astype(np.int8)
    info.heatmaps[name] = image
    if strength is None:
        cmap = ListedColormap([INHIBITORY, NO_SYNAPSE, EXCITATORY])
        ax.imshow(image, cmap=cmap, vmin=-1.5, vmax=1.5, aspect="auto", interpolation="nearest")
    else:
        ax.imshow(shaded_mask(mask, strength), aspect="auto", interpolation="nearest")
    synapses = int(np.count_nonzero(mask))
    ax.set_title(f"{source} → {target}\n{rows:,}×{cols:,}, {synapses:,} synapses", fontsize=9)
    ax.set_ylabel(f"{source} (source)", fontsize=8)
    ax.set_xlabel(f"{target} (target)", fontsize=8)
    for axis, n, group in ((ax.yaxis, rows, source), (ax.xaxis, cols, target)):
        labelled = group in ("sensory", "motor") and n <= MAX_LABELS
        if labelled:
            axis.set_ticks(range(n))
            axis.set_ticklabels([s if len(s) <= 12 else s[:11] + "…" for s in names[group]])
        elif n <= 12:  # every index, as on the circuit's nodes
            axis.set_ticks(range(n))
        else:
            axis.set_major_locator(MaxNLocator(nbins=6, integer=True, steps=[1, 2, 2.5, 5, 10]))
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
    view: str = "auto",
    strengths: Sequence[Synapse] | None = None,
) -> tuple[Figure, PlotInfo]:
    """The circuit and the three mask heat maps in one figure, plus what was drawn.

    ``view``: "synapses" (one edge per synapse), "bundles" (blocks of neurons, ribbons between
    them) or "auto" (synapses while they stay readable). ``strengths``: every synapse's learned
    strength (``velora.viz.stats.synapse_strengths(network)``), drawn as edge width and opacity
    or ribbon width.
    """
    check_plottable(wiring, view)
    counts = wiring.counts
    names = {
        "sensory": default_inputs(input_names, counts.sensory),
        "motor": default_outputs(output_names, counts.motor),
    }
    if len(names["sensory"]) != counts.sensory or len(names["motor"]) != counts.motor:
        raise ValueError("input_names and output_names must match in_features and out_features")
    arrays = layer_masks_numpy(wiring)
    sizes = _group_sizes(wiring)
    weights = None if strengths is None else strength_arrays(strengths, arrays)
    info = PlotInfo(view=choose_view(sizes, arrays, view), weighted=weights is not None)

    # The figure grows with the network up to a fixed size; past it, everything scales down.
    largest = max(sizes.values())
    most_rows = max(arrays[name].shape[0] for name, *_ in LAYERS)
    circuit_h = _clip(2.5 + 0.3 * largest, 4.0, 6.5) if info.view == "synapses" else 6.5
    heat_h = _clip(2.0 + 0.25 * most_rows, 2.8, 4.0)
    fig = Figure(figsize=(12.0, circuit_h + heat_h + 0.8), layout="constrained")
    grid = fig.add_gridspec(2, 1, height_ratios=[circuit_h, heat_h])
    widths = [max(arrays[name].shape[1], 1) for name, *_ in LAYERS]
    widths = [max(w, 0.3 * max(widths), 3) for w in widths]
    bottom = grid[1].subgridspec(1, 3, width_ratios=widths)

    circuit = fig.add_subplot(grid[0])
    draw = _draw_synapses if info.view == "synapses" else _draw_bundles
    draw(circuit, arrays, sizes, names, info, circuit_h, weights)
    for i, (name, source, target, _) in enumerate(LAYERS):
        strength = None if weights is None else weights[name]
        ax = fig.add_subplot(bottom[i])
        _draw_heatmap(ax, name, source, target, arrays[name], names, info, strength)

    fig.suptitle(title or "network", fontsize=13, fontweight="bold")
    sub = (
        f"{wiring.n_neurons} neurons · {design_summary(wiring.design, wiring.sparsity_level)}"
        + ("" if wiring.seed is None else f" · seed {wiring.seed}")
        + f" · {info.total_edges:,} synapses (recurrent links within a group not drawn)"
    )
    circuit.set_title(sub, fontsize=10, color="#444444", pad=36)
    return fig, info


def save_wiring_plot(
    wiring,
    path: str | Path,
    *,
    dpi: int = DEFAULT_DPI,
    force: bool = False,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
    title: str | None = None,
    view: str = "auto",
    strengths: Sequence[Synapse] | None = None,
) -> PlotInfo:
    """Draw the wiring figure and write it atomically (png, svg or pdf by extension)."""
    plot_format(path)
    check_dpi(dpi)
    check_writable(path, force=force)  # before the drawing, which can take a while
    fig, info = wiring_figure(
        wiring,
        input_names=input_names,
        output_names=output_names,
        title=title,
        view=view,
        strengths=strengths,
    )
    save_figure(fig, path, dpi=dpi, force=force)
    return info
