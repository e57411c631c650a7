"""Training data: padded sequences with their lengths, split by whole sequences, read from a
table file (CSV, compressed or not, Parquet, Arrow)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import torch

from velora.files.defaults import DEFAULT_DELIMITER
from velora.files.sources import Source
from velora.files.tables import open_table, read_table


@dataclass
class SequenceData:
    """Padded sequences: x (N, T, F), y (N, T, O), timespans (N, T), lengths (N,).

    Steps at or beyond a sequence's length are padding (x and y zero, timespans one).
    """

    x: torch.Tensor
    y: torch.Tensor
    timespans: torch.Tensor
    lengths: torch.Tensor

    def __post_init__(self) -> None:
        self.x = torch.as_tensor(self.x, dtype=torch.float32)
        self.y = torch.as_tensor(self.y, dtype=torch.float32)
        n, t = self.x.shape[:2] if self.x.dim() == 3 else (-1, -1)
        if self.x.dim() != 3 or self.y.dim() != 3 or tuple(self.y.shape[:2]) != (n, t):
            raise ValueError(
                f"x and y must be (N, T, features) with equal N and T, got "
                f"{tuple(self.x.shape)} and {tuple(self.y.shape)}"
            )
        if self.timespans is None:
            self.timespans = torch.ones(n, t)
        self.timespans = torch.as_tensor(self.timespans, dtype=torch.float32)
        if self.lengths is None:
            self.lengths = torch.full((n,), t)
        self.lengths = torch.as_tensor(self.lengths, dtype=torch.int64)
        if tuple(self.timespans.shape) != (n, t) or tuple(self.lengths.shape) != (n,):
            raise ValueError(
                f"timespans must be (N, T) = ({n}, {t}) and lengths (N,), got "
                f"{tuple(self.timespans.shape)} and {tuple(self.lengths.shape)}"
            )
        if n and (int(self.lengths.min()) < 1 or int(self.lengths.max()) > t):
            raise ValueError(f"lengths must lie in [1, {t}]")

    @classmethod
    def from_sequences(
        cls,
        xs: Sequence[np.ndarray | torch.Tensor],
        ys: Sequence[np.ndarray | torch.Tensor],
        timespans: Sequence[np.ndarray | torch.Tensor] | None = None,
    ) -> SequenceData:
        """Pad a list of (T_i, F) inputs and (T_i, O) targets (and (T_i,) timespans)."""
        if len(xs) != len(ys) or (timespans is not None and len(timespans) != len(xs)):
            raise ValueError("xs, ys and timespans must hold the same number of sequences")
        if not xs:
            raise ValueError("no sequences given")
        x_list = [torch.as_tensor(a, dtype=torch.float32) for a in xs]
        y_list = [torch.as_tensor(a, dtype=torch.float32) for a in ys]
        lengths = torch.tensor([len(a) for a in x_list], dtype=torch.int64)
        for i, (a, b) in enumerate(zip(x_list, y_list, strict=True)):
            if a.dim() != 2 or b.dim() != 2 or len(a) != len(b):
                raise ValueError(
                    f"sequence {i}: x must be (T, F) and y (T, O) with equal T, got "
                    f"{tuple(a.shape)} and {tuple(b.shape)}"
                )
        n, t = len(x_list), int(lengths.max())
        x = torch.zeros(n, t, x_list[0].shape[1])
        y = torch.zeros(n, t, y_list[0].shape[1])
        ts = torch.ones(n, t)
        for i, length in enumerate(lengths.tolist()):
            x[i, :length] = x_list[i]
            y[i, :length] = y_list[i]
            if timespans is not None:
                ts[i, :length] = torch.as_tensor(timespans[i], dtype=torch.float32)
        return cls(x, y, ts, lengths)

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def n_steps(self) -> int:
        """Number of real (sequence, step) samples."""
        return int(self.lengths.sum())

    def subset(self, index: torch.Tensor | Sequence[int]) -> SequenceData:
        """The sequences at ``index``, trimmed to their longest length."""
        index = torch.as_tensor(index, dtype=torch.int64)
        lengths = self.lengths[index]
        t = int(lengths.max()) if len(index) else 0
        return SequenceData(
            self.x[index, :t], self.y[index, :t], self.timespans[index, :t], lengths
        )

    def mask(self) -> torch.Tensor:
        """(N, T) booleans: true on real steps."""
        return torch.arange(self.x.shape[1]).unsqueeze(0) < self.lengths.unsqueeze(1)


def split_by_sequence(
    data: SequenceData, fraction: float, seed: int = 0
) -> tuple[SequenceData, SequenceData]:
    """Split whole sequences at random into (train, validation); no sequence is cut.

    The validation part gets ``round(fraction * N)`` sequences, at least one, and at least one
    sequence stays for training.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the validation fraction must lie in (0, 1), got {fraction}")
    n = len(data)
    if n < 2:
        raise ValueError(f"splitting off validation sequences needs at least 2, got {n}")
    n_val = min(max(round(fraction * n), 1), n - 1)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val, train = order[:n_val].sort().values, order[n_val:].sort().values
    return data.subset(train), data.subset(val)


def read_sequences(
    path: Source,
    *,
    targets: Sequence[str],
    columns: Sequence[str] | None = None,
    sequence_column: str | None = None,
    time_column: str | None = None,
    n_inputs: int | None = None,
    dt: float = 1.0,
    delimiter: str = DEFAULT_DELIMITER,
) -> tuple[SequenceData, list[str]]:
    """Read a table file as training sequences; returns (data, input names).

    Columns and sequences follow ``velora run``: inputs are ``columns`` (else every column but
    the sequence, time and target columns), a sequence column cuts the rows into sequences, a
    time column gives the timespans. Every problem raises one ``DataError`` naming the line
    and column. ``path`` is any table ``velora.files.tables.open_table`` reads (CSV, plain or
    compressed, Parquet, Arrow; ``-`` for standard input, read once); ``delimiter`` separates
    CSV fields.
    """
    if not targets:
        raise ValueError("no target columns given")
    options: dict[str, Any] = {
        "columns": columns,
        "sequence_column": sequence_column,
        "time_column": time_column,
        "target_columns": list(targets),
        "n_inputs": n_inputs,
        "dt": dt,
        "delimiter": delimiter,
    }
    reader = open_table(path, **options)  # the header is checked before the rows are read
    names = reader.columns
    table = read_table(reader)
    bounds = [*table.starts.tolist(), table.rows]
    pieces = list(pairwise(bounds))
    assert table.targets is not None  # target columns were asked for
    xs = [table.x[a:b].copy() for a, b in pieces]
    ys = [table.targets[a:b].copy() for a, b in pieces]
    ts = [table.timespans[a:b].copy() for a, b in pieces]
    return SequenceData.from_sequences(xs, ys, ts), list(names)
