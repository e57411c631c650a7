"""What every table reader shares: ``Chunk``, the column rules, sequences and elapsed times.

A reader (CSV in ``velora.files.tables``; Parquet and Arrow in ``velora.files.columnar``) turns
its file into pieces of consecutive parsed rows; ``TableReader`` picks the columns, cuts the
rows into chunks that end on a sequence boundary where they can, checks that sequences are
contiguous and that time increases, and works out the timespans. Every problem raises one
``DataError`` naming the file, the position (a CSV file's line, the header being line 1; a
Parquet or Arrow file's row, the first being row 1) and the column.

Sequences: with a sequence column, rows with the same id form one sequence; a sequence must be
contiguous. Chunks end on a sequence boundary unless one sequence is longer than a chunk, in
which case the next chunk ``continues`` it. With a time column, the elapsed time between
consecutive rows of a sequence becomes the row's timespan (the first row of a sequence gets
``dt``); time must increase strictly within a sequence.
"""

from __future__ import annotations

import copy
import math
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from velora.errors import DataError

FLOAT32_MAX = float(np.finfo(np.float32).max)  # elapsed times must fit the network's float32


@dataclass
class Chunk:
    """Consecutive data rows of a table file, parsed and checked.

    ``x`` holds the input columns, ``targets`` the target columns (if any were asked for), both
    float32. Sequences: ``starts`` are the row offsets where a sequence begins (``starts[0]`` is
    0) and ``ids`` their ids (``None`` without a sequence column: the whole file is then one
    sequence). ``continues`` says the first sequence carries on from the previous chunk;
    ``open_end`` that the last one may carry on into the next chunk. ``timespans`` (float32) is
    the elapsed time before each row: ``dt`` at the start of a sequence, the time difference
    otherwise. ``lines`` are the rows' positions for error messages: a CSV file's line numbers,
    a Parquet or Arrow file's row numbers (from 1).
    """

    x: np.ndarray
    lines: np.ndarray
    starts: np.ndarray
    timespans: np.ndarray
    ids: list[str] | None = None
    continues: bool = False
    open_end: bool = False
    time: np.ndarray | None = None
    targets: np.ndarray | None = None
    sequence_values: pa.Array | None = field(default=None, repr=False)
    bytes_read: int = 0

    @property
    def rows(self) -> int:
        """Number of rows."""
        return int(self.x.shape[0])

    @property
    def lengths(self) -> np.ndarray:
        """Number of rows of each sequence in the chunk."""
        return np.diff(np.append(self.starts, self.rows))


@dataclass
class Parsed:
    """One piece of a file's rows, parsed, before sequences are worked out."""

    x: np.ndarray
    lines: np.ndarray
    targets: np.ndarray | None
    time: np.ndarray | None
    seq: pa.Array | None

    @property
    def rows(self) -> int:
        return int(self.x.shape[0])


def _concat(a: Parsed, b: Parsed) -> Parsed:
    def cat(u, v):
        return None if u is None else np.concatenate([u, v])

    seq = None if a.seq is None else pa.concat_arrays([a.seq, b.seq])
    return Parsed(
        np.concatenate([a.x, b.x]),
        np.concatenate([a.lines, b.lines]),
        cat(a.targets, b.targets),
        cat(a.time, b.time),
        seq,
    )


def _slice(p: Parsed, lo: int, hi: int) -> Parsed:
    def cut(u):
        return None if u is None else u[lo:hi]

    return Parsed(p.x[lo:hi], p.lines[lo:hi], cut(p.targets), cut(p.time), cut(p.seq))


def names_list(items: Sequence[str]) -> str:
    """Names for a message: the first twelve, and how many there are in all."""
    shown = ", ".join(items[:12])
    return shown + (f", ... ({len(items)} in all)" if len(items) > 12 else "")


def check_dt(dt: float) -> float:
    """``dt`` as a float, if it is a positive float32 number."""
    if not (math.isfinite(dt) and 0 < dt <= FLOAT32_MAX):
        raise DataError(
            f"dt: expected a positive number of at most {FLOAT32_MAX:.4g}, got {dt}",
            parameter="dt",
        )
    return float(dt)


class TableReader:
    """Read a table file in chunks of rows (see the module docstring); what readers share.

    ``columns``: the input columns in order; ``None`` means every column except the sequence,
    time and target columns. ``n_inputs``: the number of inputs the caller needs (the error names
    the columns found). ``check_order=False`` reads the sequence and time columns only to carry
    them along (no contiguity or time checks; every row's timespan is ``dt``), as batch inference
    needs. ``header`` holds the file's column names; ``size`` its bytes (0 when unknown, as for a
    pipe), which the chunks' ``bytes_read`` count towards. A subclass reads its header, calls
    ``_resolve_columns``, yields its pieces from ``_items`` and parses each in ``_parse_item``.
    """

    position_word = "line"  # what ``Chunk.lines`` count
    header_line: int | None = 1  # where problems with the columns are reported
    header_word = "in the header"  # where the column names were looked for
    hidden_columns: frozenset[str] = frozenset()  # never inputs unless named (pandas' index)

    name: str
    header: list[str]
    columns: list[str]
    size: int

    def _setup(
        self,
        name: str,
        *,
        sequence_column: str | None,
        time_column: str | None,
        target_columns: Sequence[str],
        allow_nan: bool,
        dt: float,
        check_order: bool,
        block_bytes: int,
    ) -> None:
        self.name = name
        self.sequence_column = sequence_column
        self.time_column = time_column
        self.target_columns = list(target_columns)
        self.allow_nan = allow_nan
        self.check_order = check_order
        self.block_bytes = max(int(block_bytes), 1)
        self.dt = check_dt(dt)

    def with_targets(self, names: Sequence[str]) -> Any:
        """The same reader that also reads ``names`` as target columns (checked like inputs)."""
        other = copy.copy(self)
        other.target_columns = [*self.target_columns, *names]
        other.columns = other._resolve_columns(self.columns, len(self.columns))
        return other

    # -- messages -----------------------------------------------------------------------------

    def _fail(
        self,
        line: int | None,
        message: str,
        column: str | None = None,
        *,
        parameter: str | None = None,
    ) -> DataError:
        where = self.name
        if line is not None:
            where += f": {self.position_word} {line}"
        if column is not None:
            where += f", column {column!r}"
        return DataError(f"{where}: {message}", parameter=parameter)

    def _missing(self, role: str, name: str) -> DataError:
        """No such column: name what the file holds."""
        return self._fail(
            self.header_line,
            f"no {role} column {name!r} {self.header_word} (found: {names_list(self.header)})",
        )

    # -- columns ------------------------------------------------------------------------------

    def _resolve_columns(self, columns: Sequence[str] | None, n_inputs: int | None) -> list[str]:
        """The input columns, after checking every named column against the header."""
        header = set(self.header)
        special: dict[str, str] = {
            name: role
            for name, role in ((self.sequence_column, "sequence"), (self.time_column, "time"))
            if name is not None
        }
        special.update((name, "target") for name in self.target_columns)
        if self.sequence_column is not None and self.sequence_column == self.time_column:
            raise DataError(f"column {self.sequence_column!r} cannot be both sequence and time")
        for target in self.target_columns:
            kind = {self.sequence_column: "sequence", self.time_column: "time"}.get(target)
            if kind is not None:
                raise DataError(f"column {target!r} cannot be both a target and the {kind} column")
        if len(set(self.target_columns)) != len(self.target_columns):
            raise DataError(f"target columns repeat a name: {names_list(self.target_columns)}")
        for name, role in special.items():
            if name not in header:
                raise self._missing(role, name)
        if columns is None:
            chosen = [
                name
                for name in self.header
                if name not in special and name not in self.hidden_columns
            ]
        else:
            chosen = list(columns)
            if not chosen:
                raise DataError("no input columns given")
            for name in chosen:
                if name not in header:
                    raise self._missing("input", name)
                if name in special:
                    raise DataError(
                        f"column {name!r} cannot be both an input and the {special[name]} column"
                    )
            if len(set(chosen)) != len(chosen):
                raise DataError(f"input columns repeat a name: {names_list(chosen)}")
        if n_inputs is not None and len(chosen) != n_inputs:
            raise self._fail(
                self.header_line,
                f"{len(chosen)} input column(s) ({names_list(chosen)}) but the network takes "
                f"{n_inputs} inputs",
                parameter="columns",
            )
        if not chosen:
            raise self._fail(self.header_line, f"no input columns left {self.header_word}")
        return chosen

    def _check_finite(self, out: np.ndarray, names: list[str], lines: np.ndarray) -> None:
        """NaN and inf are refused, unless ``allow_nan``; only inputs get that hint."""
        if self.allow_nan:
            return
        finite = np.isfinite(out)
        if finite.all():
            return
        row, col = np.argwhere(~finite)[0]
        value = out[row, col]
        what = "NaN" if np.isnan(value) else "an infinite value (or one beyond float32 range)"
        # Only inputs may be let through (run's allow_nan): a target never may.
        parameter = "allow_nan" if names is self.columns else None
        raise self._fail(int(lines[row]), f"{what} is not allowed", names[col], parameter=parameter)

    def _parsed(
        self,
        x: np.ndarray,
        lines: np.ndarray,
        targets: np.ndarray | None,
        time: np.ndarray | None,
        seq: pa.Array | None,
    ) -> Parsed:
        """A parsed piece, once its time values are checked to be finite."""
        if time is not None:
            bad = ~np.isfinite(time)
            if bad.any():
                row = int(np.argmax(bad))
                raise self._fail(
                    int(lines[row]),
                    f"time must be a finite number, got {time[row]}",
                    self.time_column,
                )
        return Parsed(x, lines, targets, time, seq)

    # -- reading ------------------------------------------------------------------------------

    def _items(self) -> Iterator[Any]:
        """The file's pieces, unparsed (parsing one waits until the previous chunk is out)."""
        raise NotImplementedError

    def _parse_item(self, item: Any) -> tuple[Parsed | None, int]:
        """A piece's rows (None if it has none) and the bytes read up to its end."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[Chunk]:
        """Yield the file's rows as chunks of bounded size, checked and with timespans."""
        held: Parsed | None = None
        state = _SequenceState()
        items = self._items()
        pending = next(items, None)
        while pending is not None:
            item = pending
            pending = next(items, None)
            last = pending is None
            parsed, done = self._parse_item(item)
            if parsed is None:
                if last and held is not None:
                    yield self._finish(held, state, last=True, bytes_read=done)
                continue
            if held is not None:
                parsed = _concat(held, parsed)
                held = None
            if self.check_order and parsed.seq is not None and not last:
                cut = _last_start(parsed.seq)
                if cut > 0:
                    held = _slice(parsed, cut, parsed.rows)
                    parsed = _slice(parsed, 0, cut)
                    yield self._finish(parsed, state, last=False, bytes_read=done, closed=True)
                    continue
            yield self._finish(parsed, state, last=last, bytes_read=done)

    def _finish(
        self,
        p: Parsed,
        state: _SequenceState,
        *,
        last: bool,
        bytes_read: int,
        closed: bool = False,
    ) -> Chunk:
        rows = p.rows
        chunk = Chunk(
            x=p.x,
            lines=p.lines,
            starts=np.zeros(1, dtype=np.int64),
            timespans=np.full(rows, self.dt, dtype=np.float32),
            time=p.time,
            targets=p.targets,
            sequence_values=p.seq,
            bytes_read=bytes_read,
        )
        if not self.check_order:
            return chunk
        if p.seq is None:
            chunk.continues = state.started
            chunk.open_end = not last
        else:
            values = p.seq
            change = pc_not_equal(values)
            starts = np.concatenate([[0], np.flatnonzero(change) + 1]).astype(np.int64)
            ids = _ids_at(values, starts)
            chunk.continues = state.started and state.current == ids[0]
            for i, name in enumerate(ids):
                if i == 0 and chunk.continues:
                    continue
                if state.started:
                    state.seen.add(state.current)
                if name in state.seen:
                    raise self._fail(
                        int(p.lines[starts[i]]),
                        f"sequence {name!r} appears again after other rows "
                        "(the rows of a sequence must be contiguous)",
                        self.sequence_column,
                    )
                state.current = name
                state.started = True
            chunk.starts = starts
            chunk.ids = ids
            chunk.open_end = not (last or closed)
        state.started = True
        if p.time is not None:
            self._timespans(chunk, p, state)
        return chunk

    def _timespans(self, chunk: Chunk, p: Parsed, state: _SequenceState) -> None:
        time: np.ndarray = p.time  # type: ignore[assignment]  # the caller checks it is not None
        diff = np.empty_like(time)
        diff[1:] = time[1:] - time[:-1]
        diff[0] = time[0] - state.time if chunk.continues else self.dt
        firsts = chunk.starts[1:] if chunk.continues else chunk.starts
        check = np.ones(len(time), dtype=bool)
        check[firsts] = False
        bad = check & ~(diff > 0)
        if bad.any():
            row = int(np.argmax(bad))
            before = time[row - 1] if row > 0 else state.time
            raise self._fail(
                int(p.lines[row]),
                f"time {float(time[row])!r} does not increase (previous row: {float(before)!r})",
                self.time_column,
            )
        diff[firsts] = self.dt
        with np.errstate(over="ignore"):
            timespans = diff.astype(np.float32)
        overflow = ~np.isfinite(timespans)
        if overflow.any():
            row = int(np.argmax(overflow))
            raise self._fail(
                int(p.lines[row]),
                f"the time elapsed since the previous row, {float(diff[row])!r}, is beyond "
                f"float32 range (at most {FLOAT32_MAX:.4g})",
                self.time_column,
            )
        chunk.timespans = timespans
        state.time = float(time[-1])


@dataclass
class _SequenceState:
    """What the reader remembers between chunks: the open sequence and the finished ids."""

    started: bool = False
    current: str | None = None
    time: float = 0.0
    seen: set = field(default_factory=set)


def _ids_at(values: pa.Array, rows: np.ndarray) -> list[str]:
    """The sequence ids of ``rows`` as text; text and integer ids of a short chunk in Python
    (str of an integer is what pyarrow's cast gives), anything else through pyarrow.compute."""
    kind = values.type
    simple = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    if len(values) < _COMPUTE_MIN_IDS and (simple or pa.types.is_integer(kind)):
        every = values.to_pylist()
        return [every[i] if simple else str(every[i]) for i in rows.tolist()]
    return _texts(values.take(numpy_arrow(rows)))


def _texts(values: pa.Array) -> list[str]:
    """Sequence ids as text (an integer id 7 is "7", as a CSV file writes it)."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.string())
    return values.to_pylist()


# Below this many ids, neighbours are compared in Python: pyarrow.compute, quicker on long
# chunks, takes longer to import than a small run takes to compare.
_COMPUTE_MIN_IDS = 8192


def pc_not_equal(values: pa.Array) -> np.ndarray:
    """Boolean (n - 1,): whether each row's id differs from the previous row's."""
    if len(values) < 2:
        return np.zeros(0, dtype=bool)
    if len(values) < _COMPUTE_MIN_IDS:
        ids = values.to_pylist()
        return np.fromiter(map(operator.ne, ids[1:], ids[:-1]), dtype=bool, count=len(ids) - 1)
    import pyarrow.compute as pc

    return arrow_numpy(pc.not_equal(values[1:], values[:-1]))


def arrow_numpy(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """``values.to_numpy(zero_copy_only=False)``, read from the buffers for numbers and booleans
    without nulls: pyarrow's own conversion imports pandas, a third of a small run's start-up.
    Anything else goes through pyarrow. The result may be read-only."""
    if isinstance(values, pa.ChunkedArray):
        if values.num_chunks == 1:
            return arrow_numpy(values.chunk(0))
        if values.num_chunks > 1:
            return np.concatenate([arrow_numpy(chunk) for chunk in values.chunks])
        return values.to_numpy()
    kind, n = values.type, len(values)
    if values.null_count == 0 and n > 0:
        buffer = values.buffers()[1]
        if pa.types.is_boolean(kind):  # bit-packed, least significant bit first
            bits = np.unpackbits(np.frombuffer(buffer, dtype=np.uint8), bitorder="little")
            return bits[values.offset : values.offset + n].astype(bool)
        if pa.types.is_integer(kind) or pa.types.is_floating(kind):
            letter = "f" if pa.types.is_floating(kind) else "i" if kind in _SIGNED else "u"
            dtype = np.dtype(f"<{letter}{kind.bit_width // 8}")
            start = values.offset * dtype.itemsize
            return np.frombuffer(buffer, dtype=dtype, count=n, offset=start)
    return values.to_numpy(zero_copy_only=False)


_SIGNED = (pa.int8(), pa.int16(), pa.int32(), pa.int64())


def numpy_arrow(values: np.ndarray | pa.Array) -> pa.Array:
    """``pa.array(values)`` for a 1-D numpy array, over the same memory where it holds numbers
    (``pa.array`` imports pandas to look at it, a third of a small run's start-up)."""
    if isinstance(values, pa.Array):
        return values
    if values.ndim == 1 and values.dtype.kind in "iuf" and values.dtype.isnative:
        values = np.ascontiguousarray(values)
        kind = pa.from_numpy_dtype(values.dtype)
        return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])
    return pa.array(values)


def _last_start(values: pa.Array) -> int:
    """Row offset where the last sequence of ``values`` begins (0 when there is one)."""
    change = pc_not_equal(values)
    hits = np.flatnonzero(change)
    return int(hits[-1] + 1) if len(hits) else 0
