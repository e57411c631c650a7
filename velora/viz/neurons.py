"""Neuron activity: every neuron's state over time for one sequence.

``neuron_figure`` draws the states that ``forward_sequence(..., return_states=True)`` returns:
one panel per group (inter, command, motor, top to bottom, each at least a readable height),
neurons by their index within the group (the indices of the wiring figure's heat maps), time on
the x axis. As a heat map with one shared, symmetric colour scale (any size), or, for networks
of at most 32 neurons, as one trace per neuron. The sequence's inputs run above on the same time
axis. ``NeuronPlot`` picks the sequence while ``velora.inference.run_csv`` streams, keeps its
inputs (bounded), and runs the network over them once more to get the states.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from velora.errors import VeloraError
from velora.viz.figures import DEFAULT_DPI, MAX_TRACE_NEURONS, NEURON_STYLES, save_figure
from velora.viz.run import SequencePicker, sequence_label, time_axis

if TYPE_CHECKING:
    from matplotlib.axes import Axes

STYLES = NEURON_STYLES
MAX_STEPS = 5000  # steps of a sequence drawn; past this, the first MAX_STEPS
MAX_LABELS = 40  # motor neurons named on the axis up to this many
GROUPS = ("inter", "command", "motor")  # the hidden state's order
MIN_SHARE = 0.08  # a group's panel is at least this share of the heat maps' height
CMAP = "PuOr_r"  # diverging, and unlike the red and blue of synapse polarity


@dataclass
class NeuronPlotInfo:
    """What ``neuron_figure`` drew: the style, each group's rows of the state, the states and
    times drawn, the colour scale (heat map: -limit to +limit) and each panel's labels."""

    style: str
    groups: dict[str, tuple[int, int]]  # group -> [start, stop) columns of the state
    states: np.ndarray  # (steps, units)
    time: np.ndarray  # (steps,)
    limit: float
    axes: dict[str, Axes] = field(default_factory=dict)  # group (and "inputs") -> its panel
    tick_labels: dict[str, list[str]] = field(default_factory=dict)  # group -> y tick labels


def _counts(network):
    """The neuron counts of a network, a wiring, or counts themselves."""
    wiring = getattr(network, "wiring", network)
    return getattr(wiring, "counts", wiring)


def _as_numpy(values) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def _edges(time: np.ndarray) -> np.ndarray:
    """Cell edges around sample times: halfway between samples, half a step beyond the ends."""
    if len(time) == 1:
        return np.array([time[0] - 0.5, time[0] + 0.5])
    mid = (time[1:] + time[:-1]) / 2
    return np.concatenate([[2 * time[0] - mid[0]], mid, [2 * time[-1] - mid[-1]]])


def check_style(style: str, network) -> None:
    """Refuse an unknown style, or traces for a network too large to draw one line per neuron."""
    if style not in STYLES:
        raise VeloraError(
            f"neuron_style: expected one of {', '.join(STYLES)}, got {style!r}",
            parameter="neuron_style",
        )
    counts = _counts(network)
    neurons = counts.inter + counts.command
    if style == "traces" and neurons > MAX_TRACE_NEURONS:
        raise VeloraError(
            f"traces draw networks of at most {MAX_TRACE_NEURONS} neurons, one line each; this "
            f"one has {neurons:,}: draw a heat map",
            parameter="neuron_style",
        )


def neuron_figure(
    states,
    network,
    *,
    time=None,
    inputs=None,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
    style: str = "heatmap",
    title: str | None = None,
    time_label: str | None = None,
    steps: bool = False,
    points: bool = False,
    sample: int = 0,
) -> tuple[Figure, NeuronPlotInfo]:
    """Every neuron's state over time, grouped inter / command / motor, plus what was drawn.

    ``states``: (time, units), or (batch, time, units) as ``forward_sequence(x,
    return_states=True)`` returns them (``sample`` picks the sequence). ``network``: the
    network (or its wiring, or its neuron counts), for the groups. ``time``: the time of each
    step (default 0, 1, ...). ``inputs`` (time, in_features): drawn above, as steps with
    ``steps``, as points with ``points`` (rows that are not a sequence). ``style``:
    "heatmap", or "traces" for at most 32 neurons.
    """
    check_style(style, network)
    counts = _counts(network)
    data = _as_numpy(states)
    if data.ndim == 3:
        data = data[sample]
    units = counts.inter + counts.command + counts.motor
    if data.ndim != 2 or data.shape[1] != units:
        raise ValueError(
            f"states must be (time, {units}) or (batch, time, {units}), got {data.shape}"
        )
    n_steps = data.shape[0]
    t = np.arange(n_steps, dtype=np.float64) if time is None else _as_numpy(time)
    if t.shape != (n_steps,):
        raise ValueError(f"time must hold one value per step ({n_steps}), got {t.shape}")
    sizes = {"inter": counts.inter, "command": counts.command, "motor": counts.motor}
    bounds = np.cumsum([0, *sizes.values()])
    groups = {g: (int(bounds[i]), int(bounds[i + 1])) for i, g in enumerate(GROUPS)}
    finite = np.abs(data[np.isfinite(data)])
    limit = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    info = NeuronPlotInfo(style, groups, data, t, limit)

    x = None if inputs is None else _as_numpy(inputs).reshape(n_steps, -1)
    names_in = list(input_names or [f"x{j}" for j in range(0 if x is None else x.shape[1])])
    motor_names = list(output_names or [f"y{j}" for j in range(counts.motor)])
    if style == "heatmap":  # a row per neuron; every group at least a readable band
        shares = [max(sizes[g], MIN_SHARE * units) for g in GROUPS]
        panel_h = float(np.clip(1.6 + 0.05 * units, 3.2, 6.5))
    else:  # lines: every panel tall enough to follow them
        shares = [max(sizes[g], 0.3 * max(sizes.values())) for g in GROUPS]
        panel_h = 5.5
    top_h = 1.1 if x is not None else 0.0
    fig = Figure(figsize=(11.0, panel_h + top_h + 1.0), layout="constrained")
    rows = ([top_h] if x is not None else []) + [panel_h * s / sum(shares) for s in shares]
    columns = [1.0, 0.022] if style == "heatmap" else [1.0]
    grid = fig.add_gridspec(len(rows), len(columns), height_ratios=rows, width_ratios=columns)
    first = None
    if x is not None:
        first = ax_in = fig.add_subplot(grid[0, 0])
        info.axes["inputs"] = ax_in
        look: dict[str, Any] = {"ls": "none", "marker": ".", "ms": 3.0} if points else {"lw": 1.2}
        if steps and not points:
            look["drawstyle"] = "steps-pre"  # row i's value acts since row i - 1
        for j, name in enumerate(names_in):
            ax_in.plot(t, x[:, j], label=name, **look)
        ax_in.set_ylabel("inputs" if len(names_in) > 2 else ", ".join(names_in), fontsize=9)
        ax_in.grid(alpha=0.3)
        ax_in.tick_params(labelsize=8, labelbottom=False)
        if len(names_in) <= 12:
            ax_in.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False,
                         ncol=min(len(names_in), 6), borderaxespad=0.2)  # fmt: skip

    norm = Normalize(-limit, limit)
    image = None
    edges = _edges(t)
    offset = 1 if x is not None else 0
    for k, g in enumerate(GROUPS):
        ax = fig.add_subplot(grid[offset + k, 0], sharex=first)
        first = first or ax
        info.axes[g] = ax
        lo, hi = groups[g]
        block = data[:, lo:hi]
        labels = motor_names if g == "motor" else [str(i) for i in range(hi - lo)]
        if style == "heatmap":
            image = ax.pcolorfast(
                edges, np.arange(hi - lo + 1) - 0.5, block.T, cmap=CMAP, norm=norm
            )
            ax.set_ylim(hi - lo - 0.5, -0.5)  # neuron 0 on top, as in the wiring figure
            row_pts = panel_h * 72 * shares[k] / sum(shares) / (hi - lo)
            _index_ticks(ax, hi - lo, labels if g == "motor" else None, info, g, row_pts)
        else:
            for i in range(hi - lo):
                ax.plot(t, block[:, i], lw=1.1, label=labels[i], color=_trace_colour(i, hi - lo))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.005, 0.5), frameon=False,
                      ncol=1 + (hi - lo) // 11, handlelength=1.2, columnspacing=0.8)  # fmt: skip
            info.tick_labels[g] = labels
        ax.set_ylabel(f"{g}\n({hi - lo:,})", fontsize=9, fontweight="bold")
        ax.tick_params(axis="x", labelsize=8, labelbottom=g == "motor")
        if style == "traces":  # one scale for every panel, so that groups compare
            ax.set_ylim(-1.05 * limit, 1.05 * limit)
            ax.tick_params(axis="y", labelsize=8)
    last = info.axes["motor"]
    last.set_xlabel(time_label or "step", fontsize=9)
    if image is not None:
        bar = fig.colorbar(image, cax=fig.add_subplot(grid[offset:, 1]))
        bar.set_label("state after the step", fontsize=9)
        bar.ax.tick_params(labelsize=8)
    fig.suptitle(title or "neuron states", fontsize=12)
    return fig, info


def _trace_colour(i: int, n: int) -> str | tuple[float, float, float, float]:
    """Distinct colours for up to 20 traces of a panel."""
    if n <= 10:
        return f"C{i}"
    from matplotlib import colormaps

    return colormaps["tab20"](i % 20)


def _index_ticks(
    ax, n: int, names: list[str] | None, info: NeuronPlotInfo, group: str, row_pts: float
) -> None:
    """Every neuron's index (or name) while rows are tall enough to read them, else round
    indices."""
    font = float(np.clip(0.9 * row_pts, 5.0, 8.0))
    if names is not None and n <= MAX_LABELS and row_pts >= 5:
        ax.set_yticks(range(n), [s if len(s) <= 12 else s[:11] + "…" for s in names])
        ax.tick_params(axis="y", labelsize=font)
    elif n <= 20 and row_pts >= 7:
        ax.set_yticks(range(n))
        ax.tick_params(axis="y", labelsize=font)
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True, steps=[1, 2, 2.5, 5, 10]))
        ax.tick_params(axis="y", labelsize=8)
    info.tick_labels[group] = [t.get_text() for t in ax.get_yticklabels()]


class NeuronPlot:
    """Collects the inputs of one sequence of a streamed run (the first, or the one whose id is
    ``sequence``; at most ``max_steps`` rows) and draws its neurons' states."""

    def __init__(
        self,
        input_names: list[str],
        output_names: list[str],
        *,
        sequence: str | None = None,
        batch: bool = False,
        time_label: str | None = None,
        title: str = "velora run",
        style: str = "heatmap",
        steps: bool = False,
        max_steps: int = MAX_STEPS,
    ) -> None:
        self.input_names = input_names
        self.output_names = output_names
        self.batch = batch
        self.time_label = time_label
        self.title = title
        self.style = style
        self.steps = steps
        self.max_steps = max_steps
        self.picker = SequencePicker(count=1, wanted=sequence, batch=batch)
        self.label = sequence_label(None, batch)
        self.x: list[np.ndarray] = []
        self.timespans: list[np.ndarray] = []
        self.time: list[np.ndarray] = []
        self.rows = 0
        self.total_rows = 0

    def add(self, result) -> None:
        """Take the wanted sequence's rows from one ``ChunkResult``."""
        chunk = result.chunk
        offset = self.picker.rows_seen
        for lo, hi, sequence_id, continues in self.picker.pieces(chunk):
            if not continues:
                self.label = sequence_label(sequence_id, self.batch)
            self.total_rows += hi - lo
            hi = min(hi, lo + self.max_steps - self.rows)
            if hi <= lo:
                continue
            t = time_axis(chunk, lo, hi, offset + lo, self.rows, self.batch)
            self.x.append(chunk.x[lo:hi])
            self.timespans.append(chunk.timespans[lo:hi])
            self.time.append(np.asarray(t, dtype=np.float64))
            self.rows += hi - lo

    def check(self, source: str | Path, column: str | None) -> None:
        """Refuse a wanted sequence that the file did not have."""
        self.picker.check(source, column)

    def states(self, network) -> np.ndarray:
        """The network's state after every collected step, (steps, units), from a zero state
        (in batch mode every row from its own zero state, as the run computed it)."""
        from velora.models.arrays import forward_numpy

        x = np.concatenate(self.x).astype(np.float32)
        ts = np.concatenate(self.timespans).astype(np.float32)
        if self.batch:  # every row one step from a zero state
            xs, tss = x[:, None, :], ts[:, None]
        else:
            xs, tss = x[None], ts[None]
        h0 = np.zeros((xs.shape[0], network.n_units), dtype=np.float32)
        _, states = forward_numpy(
            network, np.ascontiguousarray(xs), h0, np.ascontiguousarray(tss), return_states=True
        )
        return states[:, 0, :] if self.batch else states[0]

    def figure(self, network) -> tuple[Figure, NeuronPlotInfo]:
        """The collected sequence's neuron states as a Figure (an empty one without rows)."""
        if not self.rows:
            fig = Figure(figsize=(6, 2))
            fig.suptitle(f"{self.title}: no rows")
            return fig, NeuronPlotInfo(self.style, {}, np.zeros((0, 0)), np.zeros(0), 1.0)
        shown = self.label
        if self.rows < self.total_rows:
            shown += (
                f", first {self.rows:,} of {self.total_rows:,} {'rows' if self.batch else 'steps'}"
            )
        return neuron_figure(
            self.states(network),
            network,
            time=np.concatenate(self.time),
            inputs=np.concatenate(self.x),
            input_names=self.input_names,
            output_names=self.output_names,
            style=self.style,
            title=f"{self.title} · neuron states, {shown}",
            time_label=self.time_label or ("row" if self.batch else "step"),
            steps=self.steps,
            points=self.batch,
        )

    def save(self, network, path: str | Path, *, dpi: int = DEFAULT_DPI, force: bool = False):
        """Draw the collected sequence's neuron states to an image file (png, svg or pdf)."""
        fig, info = self.figure(network)
        save_figure(fig, path, dpi=dpi, force=force)
        return info
