"""The picture of a run: inputs and outputs over time for the first few sequences (or one).

``RunPlot`` collects rows while ``velora.inference.run_csv`` streams (bounded: a few sequences,
a few thousand rows each) and draws them as matplotlib ``Figure`` objects, one row of panels per
sequence: inputs on the left, outputs on the right, each column with its legend above it, out of
the data's way. The recorded values of any output that the input file also holds are drawn as
dots under the network's line. ``steps`` draws the inputs as the network sees them (each row's
value held over the time since the previous row); in batch mode, where rows are independent,
every row is a point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from velora.errors import VeloraError
from velora.viz.figures import DEFAULT_DPI, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_SEQUENCES = 4
MAX_ROWS = 5000
MAX_LEGEND = 12  # entries per column; past this, no legend


@dataclass
class _Series:
    label: str
    t: list[np.ndarray] = field(default_factory=list)
    x: list[np.ndarray] = field(default_factory=list)
    y: list[np.ndarray] = field(default_factory=list)
    recorded: list[np.ndarray] = field(default_factory=list)
    rows: int = 0
    total_rows: int = 0  # rows of the sequence seen, drawn or not


def recorded_outputs(reader, output_names: list[str] | None) -> list[str]:
    """Output names that the reader's file also holds as plain columns, to draw for comparison."""
    special = {*reader.columns, reader.sequence_column, reader.time_column}
    return [n for n in output_names or [] if n in reader.header and n not in special]


def time_axis(chunk, lo: int, hi: int, row: int, step: int, batch: bool) -> np.ndarray:
    """The x values of rows ``lo:hi`` of a chunk: the time column if there is one, else the
    row number in the file (batch mode, ``row`` the first's) or the step within the sequence
    (``step`` the first's)."""
    if chunk.time is not None:
        return np.asarray(chunk.time[lo:hi], dtype=np.float64)
    first = row if batch else step
    return np.arange(first, first + hi - lo, dtype=np.float64)


def sequence_label(sequence_id: str | None, batch: bool = False) -> str:
    """How a plot names a sequence: by its id, or as the file's one sequence."""
    if batch:
        return "rows (each one step from a zero state)"
    return "sequence" if sequence_id is None else f"sequence {sequence_id!r}"


class SequencePicker:
    """Follows the sequences of a streamed run and says which rows of each chunk belong to the
    sequences a plot wants: the first ``count``, or the one whose id is ``wanted``."""

    def __init__(self, *, count: int = 1, wanted: str | None = None, batch: bool = False) -> None:
        self.count = 1 if wanted is not None else count
        self.wanted = wanted
        self.batch = batch
        self.seen = 0  # sequences started so far
        self.taken = 0  # sequences picked so far
        self.rows_seen = 0
        self._current = False  # whether the sequence running at the chunk's end is picked

    def pieces(self, chunk) -> list[tuple[int, int, str | None, bool]]:
        """(lo, hi, id, continues) of the chunk's rows to keep: ``continues`` when the piece
        carries on a sequence picked in an earlier chunk."""
        offset = self.rows_seen
        self.rows_seen += chunk.rows
        if self.batch:  # every row its own sequence; a plot shows them as one series of rows
            self.seen += chunk.rows
            self.taken = 1
            return [(0, chunk.rows, None, offset > 0)]
        starts, ids = chunk.starts, chunk.ids
        bounds = np.append(starts, chunk.rows)
        found = []
        for i in range(len(starts)):
            lo, hi = int(bounds[i]), int(bounds[i + 1])
            sequence_id = None if ids is None else ids[i]
            if i == 0 and chunk.continues:
                if self._current:
                    found.append((lo, hi, sequence_id, True))
                continue
            self.seen += 1
            self._current = self.taken < self.count and (
                self.wanted is None or sequence_id == self.wanted
            )
            if self._current:
                self.taken += 1
                found.append((lo, hi, sequence_id, False))
        return found

    def check(self, source: str | Path, column: str | None) -> None:
        """Refuse a ``wanted`` id that the file never had (called once every chunk is seen)."""
        if self.wanted is not None and self.taken == 0:
            raise VeloraError(
                f"{source}: no sequence {self.wanted!r} in column {column!r} "
                f"({self.seen:,} sequences)",
                parameter="plot_sequence",
            )


class RunPlot:
    """Collects the first ``max_sequences`` sequences (``max_rows`` rows each) of a run, or the
    one whose id is ``sequence``, and draws them."""

    def __init__(
        self,
        input_names: list[str],
        output_names: list[str],
        *,
        time_label: str | None = None,
        batch: bool = False,
        title: str = "velora run",
        max_sequences: int = MAX_SEQUENCES,
        max_rows: int = MAX_ROWS,
        recorded_names: list[str] | None = None,
        sequence: str | None = None,
        steps: bool = False,
    ) -> None:
        self.input_names = input_names
        self.output_names = output_names
        # Outputs that the input file also holds (e.g. training targets): drawn as dots under
        # the network's outputs. They arrive as the chunks' target columns, in this order.
        self.recorded_names = list(recorded_names or [])
        self.time_label = time_label
        self.batch = batch
        self.title = title
        self.max_rows = max_rows
        self.steps = steps
        self.picker = SequencePicker(count=max_sequences, wanted=sequence, batch=batch)
        self.series: list[_Series] = []

    def add(self, result) -> None:
        """Take what is still wanted from one ``ChunkResult``."""
        chunk = result.chunk
        offset = self.picker.rows_seen
        for lo, hi, sequence_id, continues in self.picker.pieces(chunk):
            if continues and self.series:
                series = self.series[-1]
            else:
                series = _Series(sequence_label(sequence_id, self.batch))
                self.series.append(series)
            series.total_rows += hi - lo
            hi = min(hi, lo + self.max_rows - series.rows)
            if hi <= lo:
                continue
            series.t.append(time_axis(chunk, lo, hi, offset + lo, series.rows, self.batch))
            series.x.append(chunk.x[lo:hi])
            series.y.append(result.y[lo:hi])
            if self.recorded_names and chunk.targets is not None:
                series.recorded.append(chunk.targets[lo:hi])
            series.rows += hi - lo

    def check(self, source: str | Path, column: str | None) -> None:
        """Refuse a wanted sequence that the file did not have."""
        self.picker.check(source, column)

    def _style(self) -> dict:
        if self.batch:  # independent rows: points, never joined
            return {"ls": "none", "marker": ".", "ms": 3.0}
        return {"lw": 1.3}

    def figure(self) -> Figure:
        """The collected sequences as a matplotlib Figure (no pyplot, no global state)."""
        from matplotlib.figure import Figure

        series = [s for s in self.series if s.rows] or [_Series("no rows")]
        n = len(series)
        fig = Figure(figsize=(11.0, 2.3 * n + 1.3), layout="constrained")
        subfigures = fig.subfigures(1, 2, wspace=0.03)
        left, right = subfigures[0], subfigures[1]  # type: ignore[index]
        ax_in = left.subplots(n, 1, squeeze=False)[:, 0]
        ax_out = right.subplots(n, 1, squeeze=False, sharex=None)[:, 0]
        xlabel = self.time_label or ("row" if self.batch else "step")
        style = self._style()
        for row, s in enumerate(series):
            a_in, a_out = ax_in[row], ax_out[row]
            a_out.sharex(a_in)
            if s.rows:
                self._draw_row(a_in, a_out, s, style)
            shown = f" (first {s.rows:,} of {s.total_rows:,} rows)" if s.rows < s.total_rows else ""
            a_in.set_title(f"{s.label}{shown}: inputs", fontsize=9, loc="left")
            a_out.set_title(f"{s.label}{shown}: outputs", fontsize=9, loc="left")
            a_in.set_ylabel(_axis_label(self.input_names, "inputs"), fontsize=9)
            a_out.set_ylabel(_axis_label(self.output_names, "outputs"), fontsize=9)
            for ax in (a_in, a_out):
                ax.grid(alpha=0.3)
                ax.tick_params(labelsize=8)
                ax.set_xlabel(xlabel if row == n - 1 else "", fontsize=9)
        for sub, ax in ((left, ax_in[0]), (right, ax_out[0])):
            handles, labels = ax.get_legend_handles_labels()
            if 0 < len(labels) <= MAX_LEGEND:
                sub.legend(
                    handles,
                    labels,
                    loc="outside upper center",
                    ncol=min(len(labels), 4),
                    fontsize=8,
                    frameon=False,
                    markerscale=1.6,
                )
        picker = self.picker
        more = ""
        if not self.batch and picker.wanted is None and picker.seen > picker.taken:
            more = f" (the first {picker.taken:,} of {picker.seen:,} sequences)"
        fig.suptitle(self.title + more, fontsize=12)
        return fig

    def _draw_row(self, a_in: Axes, a_out: Axes, s: _Series, style: dict) -> None:
        t = np.concatenate(s.t)
        x = np.concatenate(s.x)
        y = np.concatenate(s.y)
        in_style = dict(style)
        if self.steps and not self.batch:
            in_style["drawstyle"] = "steps-pre"  # row i's value acts since row i - 1
        for j, name in enumerate(self.input_names):
            a_in.plot(t, x[:, j], label=name, color=f"C{j % 10}", **in_style)
        colours = [f"C{(j + 4) % 10}" for j in range(len(self.output_names))]
        for j, name in enumerate(self.output_names):
            a_out.plot(t, y[:, j], label=name, color=colours[j], zorder=2, **style)
        if s.recorded:
            rec = np.concatenate(s.recorded)
            size = 3.0 if s.rows <= 300 else 1.5
            for j, name in enumerate(self.recorded_names):
                k = self.output_names.index(name)
                a_out.plot(
                    t,
                    rec[:, j],
                    ls="none",
                    marker="o",
                    ms=size,
                    mew=0,
                    color=colours[k],
                    alpha=0.55,
                    label=f"{name} (recorded)",
                    zorder=1,
                )

    def save(self, path: str | Path, *, dpi: int = DEFAULT_DPI, force: bool = False) -> Path:
        """Draw the collected sequences to an image file (png, svg or pdf by suffix)."""
        return save_figure(self.figure(), path, dpi=dpi, force=force)


def _axis_label(names: list[str], plural: str) -> str:
    """A y-axis label: the names themselves when there are one or two, else the kind."""
    return ", ".join(names) if 0 < len(names) <= 2 else plural
