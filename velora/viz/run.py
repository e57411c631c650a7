"""The picture of a run: inputs and outputs over time for the first few sequences.

``RunPlot`` collects rows while ``velora.inference.run_csv`` streams (bounded: a few sequences,
a few thousand rows each) and draws them with matplotlib's Agg backend, one row of panels per
sequence: inputs on the left, outputs on the right, with the recorded values of any output the
input file also holds drawn dashed beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from velora.viz.figures import save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_SEQUENCES = 4
MAX_ROWS = 5000


@dataclass
class _Series:
    label: str
    t: list[np.ndarray] = field(default_factory=list)
    x: list[np.ndarray] = field(default_factory=list)
    y: list[np.ndarray] = field(default_factory=list)
    recorded: list[np.ndarray] = field(default_factory=list)
    rows: int = 0


def recorded_outputs(reader, output_names: list[str] | None) -> list[str]:
    """Output names that the reader's file also holds as plain columns, to draw for comparison."""
    special = {*reader.columns, reader.sequence_column, reader.time_column}
    return [n for n in output_names or [] if n in reader.header and n not in special]


class RunPlot:
    """Collects the first ``max_sequences`` sequences (``max_rows`` rows each) of a run."""

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
    ) -> None:
        self.input_names = input_names
        self.output_names = output_names
        # Outputs that the input file also holds (e.g. training targets): drawn dashed beside
        # the network's outputs. They arrive as the chunks' target columns, in this order.
        self.recorded_names = list(recorded_names or [])
        self.time_label = time_label
        self.batch = batch
        self.title = title
        self.max_sequences = max_sequences
        self.max_rows = max_rows
        self.series: list[_Series] = []
        self._rows_seen = 0

    def add(self, result) -> None:
        """Take what is still wanted from one ``ChunkResult``."""
        chunk = result.chunk
        offset = self._rows_seen
        self._rows_seen += chunk.rows
        if self.batch:
            starts, ids, continues = np.zeros(1, dtype=np.int64), None, bool(self.series)
        else:
            starts, ids, continues = chunk.starts, chunk.ids, chunk.continues
        bounds = np.append(starts, chunk.rows)
        for i in range(len(starts)):
            if i == 0 and continues and self.series:
                series = self.series[-1]
            elif len(self.series) < self.max_sequences:
                if self.batch:
                    label = "rows (each one step from a zero state)"
                elif ids is not None:
                    label = f"sequence {ids[i]!r}"
                else:
                    label = "sequence"
                series = _Series(label)
                self.series.append(series)
            else:
                return
            lo, hi = int(bounds[i]), int(bounds[i + 1])
            hi = min(hi, lo + self.max_rows - series.rows)
            if hi <= lo:
                continue
            if chunk.time is not None:
                t = chunk.time[lo:hi]
            elif self.batch:
                t = np.arange(offset + lo, offset + hi)
            else:
                t = np.arange(series.rows, series.rows + hi - lo)
            series.t.append(np.asarray(t, dtype=np.float64))
            series.x.append(chunk.x[lo:hi])
            series.y.append(result.y[lo:hi])
            if self.recorded_names and chunk.targets is not None:
                series.recorded.append(chunk.targets[lo:hi])
            series.rows += hi - lo

    def figure(self) -> Figure:
        """The collected sequences as a matplotlib Figure (no pyplot, no global state)."""
        from matplotlib.figure import Figure

        series = [s for s in self.series if s.rows] or [_Series("no rows")]
        n = len(series)
        fig = Figure(figsize=(12, 2.6 * n + 0.9), layout="constrained")
        axes = fig.subplots(n, 2, squeeze=False, sharex="row")
        xlabel = self.time_label or ("row" if self.batch else "step")
        for row, s in enumerate(series):
            ax_in, ax_out = axes[row]
            if s.rows:
                t = np.concatenate(s.t)
                x = np.concatenate(s.x)
                y = np.concatenate(s.y)
                for j, name in enumerate(self.input_names):
                    ax_in.plot(t, x[:, j], lw=1.1, label=name)
                for j, name in enumerate(self.output_names):
                    ax_out.plot(t, y[:, j], lw=1.3, label=name, color=f"C{(j + 4) % 10}")
                if s.recorded:
                    rec = np.concatenate(s.recorded)
                    for j, name in enumerate(self.recorded_names):
                        k = self.output_names.index(name)
                        ax_out.plot(
                            t,
                            rec[:, j],
                            lw=1.0,
                            ls="--",
                            color=f"C{(k + 4) % 10}",
                            alpha=0.8,
                            label=f"{name} (recorded)",
                        )
            ax_in.set_title(f"{s.label}: inputs", fontsize=10, loc="left")
            ax_out.set_title(f"{s.label}: outputs", fontsize=10, loc="left")
            for ax in (ax_in, ax_out):
                ax.grid(alpha=0.3)
                ax.tick_params(labelsize=8)
            if row == n - 1:
                ax_in.set_xlabel(xlabel)
                ax_out.set_xlabel(xlabel)
        out_names = self.output_names + [f"{n} (recorded)" for n in self.recorded_names]
        for ax, names in ((axes[0][0], self.input_names), (axes[0][1], out_names)):
            if len(names) <= 12 and series[0].rows:
                ax.legend(fontsize=8, loc="upper right", ncol=min(len(names), 4), framealpha=0.8)
        fig.suptitle(self.title, fontsize=12)
        return fig

    def save(self, path: str | Path, *, force: bool = False) -> Path:
        """Draw the collected sequences to an image file (png, svg or pdf by suffix)."""
        return save_figure(self.figure(), path, dpi=110, force=force)
