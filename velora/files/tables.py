"""Numeric CSV tables: streamed reading with exact error positions, and exact writing.

Reading is built for recordings far larger than memory: ``CsvReader`` cuts the file into blocks
of whole lines, parses each with pyarrow's multi-threaded CSV parser straight to float32
(correctly rounded), and yields ``Chunk`` objects of bounded size. Every problem raises one
``DataError`` line naming the file, the line number (the header is line 1) and the column. When
the fast parser rejects a block, a slow path narrows the block down to the first bad line and
cell, so the positions are exact at full speed. Empty lines, and blank lines holding nothing but
spaces and tabs (and a final carriage return), are skipped wherever they stand; they still count
as lines for the line numbers.

Sequences: with a sequence column, rows with the same id form one sequence; a sequence must be
contiguous. Chunks end on a sequence boundary unless one sequence is longer than a chunk, in
which case the next chunk ``continues`` it. With a time column, the elapsed time between
consecutive rows of a sequence becomes the row's timespan (the first row of a sequence gets
``dt``); time must increase strictly within a sequence.

Writing: ``CsvWriter`` formats float32 with the shortest text that reads back to the same float32
(float64 likewise), so a round trip through CSV is exact.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from velora.errors import DataError
from velora.files.atomic import atomic_write
from velora.kernels import threads
from velora.kernels.csvparse import count_newlines, parse_plain

FLOAT32_MAX = float(np.finfo(np.float32).max)  # elapsed times must fit the network's float32
DEFAULT_BLOCK_BYTES = 2 << 20  # about 50,000 rows of four numbers: bounded memory
_BOM = b"\xef\xbb\xbf"
_MAX_HEADER_BYTES = 1 << 20
# A blank line after a line break: spaces and tabs only, perhaps ending in a carriage return.
_BLANK_LINE = re.compile(rb"\n[ \t]+\r?(?=\n|\Z)")
_FIRST_BLANK = re.compile(rb"[ \t]+\r?(?:\n|\Z)")  # the same for a block's first line
# In a stretch of spaces, tabs and line breaks: a carriage return that does not end its line.
_STRAY_CR = re.compile(rb"\r[^\n]")


@dataclass
class Chunk:
    """Consecutive data rows of a CSV file, parsed and checked.

    ``x`` holds the input columns, ``targets`` the target columns (if any were asked for), both
    float32. Sequences: ``starts`` are the row offsets where a sequence begins (``starts[0]`` is
    0) and ``ids`` their ids (``None`` without a sequence column: the whole file is then one
    sequence). ``continues`` says the first sequence carries on from the previous chunk;
    ``open_end`` that the last one may carry on into the next chunk. ``timespans`` (float32) is
    the elapsed time before each row: ``dt`` at the start of a sequence, the time difference
    otherwise. ``lines`` are the file's line numbers of the rows, for error messages.
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
class _Parsed:
    """One block's columns before sequences are worked out."""

    x: np.ndarray
    lines: np.ndarray
    targets: np.ndarray | None
    time: np.ndarray | None
    seq: pa.Array | None

    @property
    def rows(self) -> int:
        return int(self.x.shape[0])


def _concat(a: _Parsed, b: _Parsed) -> _Parsed:
    def cat(u, v):
        return None if u is None else np.concatenate([u, v])

    seq = None if a.seq is None else pa.concat_arrays([a.seq, b.seq])
    return _Parsed(
        np.concatenate([a.x, b.x]),
        np.concatenate([a.lines, b.lines]),
        cat(a.targets, b.targets),
        cat(a.time, b.time),
        seq,
    )


def _slice(p: _Parsed, lo: int, hi: int) -> _Parsed:
    def cut(u):
        return None if u is None else u[lo:hi]

    return _Parsed(p.x[lo:hi], p.lines[lo:hi], cut(p.targets), cut(p.time), cut(p.seq))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _names(items: Sequence[str]) -> str:
    shown = ", ".join(items[:12])
    return shown + (f", ... ({len(items)} in all)" if len(items) > 12 else "")


class CsvReader:
    """Read a numeric CSV file in chunks of whole lines (see the module docstring).

    ``columns``: the input columns in order; ``None`` means every column except the sequence,
    time and target columns. ``n_inputs``: the number of inputs the caller needs (the error names
    the columns found). ``check_order=False`` reads the sequence and time columns only to carry
    them along (no contiguity or time checks; every row's timespan is ``dt``), as batch inference
    needs. ``delimiter`` is the one character between fields (``,``; ``;`` and tab are common).
    The header is read and checked on construction, so column errors come before any work.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        columns: Sequence[str] | None = None,
        sequence_column: str | None = None,
        time_column: str | None = None,
        target_columns: Sequence[str] = (),
        n_inputs: int | None = None,
        allow_nan: bool = False,
        dt: float = 1.0,
        check_order: bool = True,
        block_bytes: int = DEFAULT_BLOCK_BYTES,
        delimiter: str = ",",
    ) -> None:
        self.path = Path(path)
        self.name = str(path)
        self.sequence_column = sequence_column
        self.time_column = time_column
        self.target_columns = list(target_columns)
        self.allow_nan = allow_nan
        self.check_order = check_order
        self.block_bytes = max(int(block_bytes), 1)
        if not (math.isfinite(dt) and 0 < dt <= FLOAT32_MAX):
            raise DataError(
                f"dt: expected a positive number of at most {FLOAT32_MAX:.4g}, got {dt}",
                parameter="dt",
            )
        self.dt = float(dt)
        if len(delimiter) != 1 or delimiter in '"\r\n' or delimiter.isalnum():
            raise DataError(
                f"delimiter: expected one character other than a letter, digit, quote or line "
                f"break, got {delimiter!r}",
                parameter="delimiter",
            )
        self.delimiter = delimiter
        self.header, self._data_offset = self._read_header()
        self.size = self._size
        self.columns = self._resolve_columns(columns, n_inputs)
        self._check_has_rows()

    def with_targets(self, names: Sequence[str]) -> CsvReader:
        """The same reader that also reads ``names`` as target columns (checked like inputs)."""
        return CsvReader(
            self.path,
            columns=self.columns,
            sequence_column=self.sequence_column,
            time_column=self.time_column,
            target_columns=[*self.target_columns, *names],
            n_inputs=len(self.columns),
            allow_nan=self.allow_nan,
            dt=self.dt,
            check_order=self.check_order,
            block_bytes=self.block_bytes,
            delimiter=self.delimiter,
        )

    # -- header and columns -------------------------------------------------------------------

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
            where += f": line {line}"
        if column is not None:
            where += f", column {column!r}"
        return DataError(f"{where}: {message}", parameter=parameter)

    def _open(self) -> BinaryIO:
        try:
            return open(self.path, "rb")
        except FileNotFoundError:
            raise DataError(f"{self.name}: no such file") from None
        except IsADirectoryError:
            raise DataError(f"{self.name}: is a folder, expected a CSV file") from None
        except OSError as exc:
            raise DataError(f"{self.name}: cannot read: {exc.strerror}") from None

    def _read_header(self) -> tuple[list[str], int]:
        with self._open() as handle:
            try:
                head = handle.read(_MAX_HEADER_BYTES)
                self._size = handle.seek(0, 2)
            except OSError as exc:
                raise DataError(f"{self.name}: cannot read: {exc.strerror}") from None
        if not head.strip():
            raise DataError(f"{self.name}: the file is empty (expected a header row and data rows)")
        skip = len(_BOM) if head.startswith(_BOM) else 0
        end = head.find(b"\n", skip)
        if end < 0:
            if len(head) == _MAX_HEADER_BYTES:
                raise self._fail(1, "the header line is longer than 1 MiB")
            end = len(head)
        raw = head[skip:end].rstrip(b"\r")
        if b"\r" in raw:
            raise self._fail(
                1,
                "lines end in bare carriage returns (old Mac style); save the file with "
                "\\n or \\r\\n line ends",
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self._fail(1, f"not UTF-8 text (byte {exc.start + 1} of the line)") from None
        try:
            rows = list(csv.reader([text], delimiter=self.delimiter, strict=True))
        except csv.Error as exc:
            raise self._fail(1, f"malformed header row: {exc}") from None
        names = [name.strip() for name in rows[0]] if rows else []
        if not names or names == [""]:
            raise self._fail(1, "no header row (expected column names on the first line)")
        if all(_is_number(name) for name in names):
            raise self._fail(
                1, f"expected a header row of column names, found numbers ({_names(names)})"
            )
        seen: dict[str, int] = {}
        for i, name in enumerate(names, start=1):
            if not name:
                raise self._fail(1, f"column {i} of the header has no name")
            if name in seen:
                raise self._fail(
                    1, f"duplicate column name {name!r} (columns {seen[name]} and {i})"
                )
            seen[name] = i
        return names, end + 1

    def _check_has_rows(self) -> None:
        """Fail unless some data line is neither empty nor blank: that line is a row, or the
        reading stops on it with its own error."""
        with self._open() as handle:
            handle.seek(self._data_offset)
            last = b""
            while True:
                piece = handle.read(1 << 16)
                if not piece:
                    raise self._fail(1, "a header row but no data rows")
                if piece.translate(None, b" \t\r\n"):
                    return
                # Only spaces, tabs and line breaks: every line is blank unless a carriage
                # return stands inside one (the byte before the piece may be such a return).
                if _STRAY_CR.search(last + piece):
                    return
                last = piece[-1:]

    def _missing(self, role: str, name: str) -> DataError:
        """No such column: name what the header holds, and the likely delimiter when the header
        is one field holding another common one."""
        message = f"no {role} column {name!r} in the header (found: {_names(self.header)})"
        if len(self.header) == 1:
            for other, word in ((";", "';'"), ("\t", "a tab"), (",", "','"), ("|", "'|'")):
                if other != self.delimiter and other in self.header[0]:
                    hint = f"; the header holds {word} but no {self.delimiter!r}"
                    return self._fail(1, message + hint, parameter="delimiter")
        return self._fail(1, message)

    def _resolve_columns(self, columns: Sequence[str] | None, n_inputs: int | None) -> list[str]:
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
            raise DataError(f"target columns repeat a name: {_names(self.target_columns)}")
        for name, role in special.items():
            if name not in header:
                raise self._missing(role, name)
        if columns is None:
            chosen = [name for name in self.header if name not in special]
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
                raise DataError(f"input columns repeat a name: {_names(chosen)}")
        if n_inputs is not None and len(chosen) != n_inputs:
            raise self._fail(
                1,
                f"{len(chosen)} input column(s) ({_names(chosen)}) but the network takes "
                f"{n_inputs} inputs",
                parameter="columns",
            )
        if not chosen:
            raise self._fail(1, "no input columns left in the header")
        return chosen

    # -- blocks -------------------------------------------------------------------------------

    def _blocks(self) -> Iterator[tuple[bytes, int, int, int]]:
        """Yield (block of whole lines, its first line number, its count of line breaks, bytes
        read so far)."""
        line = 2
        with self._open() as handle:
            handle.seek(self._data_offset)
            rest = b""
            while True:
                piece = handle.read(self.block_bytes)
                if not piece:
                    if rest:
                        yield rest, line, _count_newlines(rest), handle.tell()
                    return
                cut = piece.rfind(b"\n") + 1
                if cut == 0:
                    rest += piece
                    continue
                # One copy per block: the partial line held back, then the piece up to its last
                # line break.
                block = b"".join((rest, memoryview(piece)[:cut]))
                rest = piece[cut:]
                breaks = _count_newlines(block)
                yield block, line, breaks, handle.tell() - len(rest)
                line += breaks

    # -- parsing ------------------------------------------------------------------------------

    def _arrow_options(self) -> tuple:
        types = {name: pa.float32() for name in (*self.columns, *self.target_columns)}
        if self.time_column is not None:
            types[self.time_column] = pa.float64()
        if self.sequence_column is not None:
            types[self.sequence_column] = pa.string()
        read = pacsv.ReadOptions(column_names=self.header, use_threads=True, block_size=1 << 19)
        parse = pacsv.ParseOptions(
            delimiter=self.delimiter, newlines_in_values=False, ignore_empty_lines=True
        )
        convert = pacsv.ConvertOptions(
            column_types=types,
            include_columns=list(types),
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        return read, parse, convert

    def _arrow(self, block: bytes) -> pa.Table:
        return pacsv.read_csv(pa.BufferReader(block), *self._options)

    def _plain_setup(self) -> None:
        """What the compiled parser needs: where each field goes, and pyarrow options for the
        time and sequence columns it leaves alone."""
        slot = {name: k for k, name in enumerate((*self.columns, *self.target_columns))}
        self._dest = np.array([slot.get(name, -1) for name in self.header], dtype=np.int64)
        read, parse, convert = self._options
        rest = [name for name in (self.time_column, self.sequence_column) if name is not None]
        self._rest_options = None
        if rest:
            only = pacsv.ConvertOptions(
                column_types={name: convert.column_types[name] for name in rest},
                include_columns=rest,
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            )
            self._rest_options = (read, parse, only)

    def _parse_plain(self, block: bytes, first_line: int, n_newlines: int) -> _Parsed | None:
        """The fast path: the compiled parser for the float32 columns, in parallel pieces of
        whole lines (None if it declines; the slow path then parses the block)."""
        if self.delimiter != ",":  # the compiled parser knows commas only
            return None
        rows = n_newlines
        if not block.endswith(b"\n"):  # the parser needs a final newline to stop at
            block += b"\n"
            rows += 1
        buf = np.frombuffer(block, dtype=np.uint8)
        x = np.empty((rows, len(self.columns)), dtype=np.float32)
        targets = np.empty((rows, len(self.target_columns)), dtype=np.float32)
        cuts = _piece_cuts(block)
        starts = [0]
        for lo, hi in pairwise(cuts[:-1]):
            starts.append(starts[-1] + count_newlines(buf, lo, hi))
        args = [
            (buf, lo, hi, row, self._dest, x, targets)
            for (lo, hi), row in zip(pairwise(cuts), starts, strict=True)
        ]
        if len(args) == 1:
            counts = [parse_plain(*args[0])]
        else:
            counts = list(threads.pool().map(lambda a: parse_plain(*a), args))
        if min(counts) < 0 or sum(counts) != rows:
            return None
        lines = np.arange(first_line, first_line + rows, dtype=np.int64)
        if self._rest_options is None:
            table = None
        else:
            try:
                table = pacsv.read_csv(pa.BufferReader(block), *self._rest_options)
            except (pa.ArrowException, ValueError):
                return None  # the slow path says what is wrong, as before
            if table.num_rows != rows:
                return None
        # Plain numbers are finite: no NaN check is needed.
        return self._with_rest(table, x, lines, targets if self.target_columns else None)

    def _parse(self, block: bytes, first_line: int, n_newlines: int) -> _Parsed | None:
        """The rows of a block of whole lines (None if it has none)."""
        block = _empty_blank_lines(block)
        if not block.strip(b"\n"):
            return None
        plain = self._parse_plain(block, first_line, n_newlines)
        if plain is not None:
            return plain
        try:
            table = self._arrow(block)
        except (pa.ArrowException, ValueError) as exc:
            raise self._locate(block, first_line, exc) from None
        lines = self._row_lines(block, first_line, n_newlines, table.num_rows)
        if not len(lines):  # empty lines only, some ending in a carriage return
            return None
        x = self._floats(table, self.columns, lines)
        targets = self._floats(table, self.target_columns, lines) if self.target_columns else None
        return self._with_rest(table, x, lines, targets)

    def _with_rest(
        self,
        table: pa.Table | None,
        x: np.ndarray,
        lines: np.ndarray,
        targets: np.ndarray | None,
    ) -> _Parsed:
        """Add the time and sequence columns of ``table`` to the parsed float32 columns."""
        time = None
        if self.time_column is not None:
            time = table[self.time_column].to_numpy()  # type: ignore[index]  # not None: a rest column
            bad = ~np.isfinite(time)
            if bad.any():
                row = int(np.argmax(bad))
                raise self._fail(
                    int(lines[row]),
                    f"time must be a finite number, got {time[row]}",
                    self.time_column,
                )
        seq = None
        if self.sequence_column is not None:
            seq = table[self.sequence_column].combine_chunks()  # type: ignore[index]  # as above
        return _Parsed(x, lines, targets, time, seq)

    def _floats(self, table: pa.Table, names: list[str], lines: np.ndarray) -> np.ndarray:
        out = np.empty((table.num_rows, len(names)), dtype=np.float32)
        for j, name in enumerate(names):
            out[:, j] = table[name].to_numpy()
        if not self.allow_nan:
            finite = np.isfinite(out)
            if not finite.all():
                row, col = np.argwhere(~finite)[0]
                value = out[row, col]
                what = (
                    "NaN" if np.isnan(value) else "an infinite value (or one beyond float32 range)"
                )
                # Only inputs may be let through (run's allow_nan): a target never may.
                parameter = "allow_nan" if names is self.columns else None
                raise self._fail(
                    int(lines[row]), f"{what} is not allowed", names[col], parameter=parameter
                )
        return out

    def _row_lines(self, block: bytes, first_line: int, n_newlines: int, rows: int) -> np.ndarray:
        """Line number of every parsed row; checks that rows and non-empty lines match up."""
        arr = np.frombuffer(block, dtype=np.uint8)
        # Without quotes and carriage returns every non-empty line is one row, so as many rows
        # as lines means there were no empty lines either: row i is line first_line + i.
        if b'"' not in block and b"\r" not in block:
            n_lines = n_newlines + (0 if block.endswith(b"\n") else 1)
            if rows == n_lines:
                return np.arange(first_line, first_line + rows, dtype=np.int64)
        ends = np.flatnonzero(arr == 10)
        if not block.endswith(b"\n"):
            ends = np.append(ends, len(arr))
        begins = np.concatenate([[0], ends[:-1] + 1])
        length = ends - begins
        has_cr = np.zeros(len(ends), dtype=bool)
        nonzero = length > 0
        has_cr[nonzero] = arr[ends[nonzero] - 1] == 13
        content = length - has_cr
        lines = first_line + np.flatnonzero(content > 0)
        if len(lines) != rows:
            raise self._misaligned(block, first_line)
        return lines.astype(np.int64)

    def _misaligned(self, block: bytes, first_line: int) -> DataError:
        for i, raw in enumerate(block.split(b"\n")):
            body = raw[:-1] if raw.endswith(b"\r") else raw
            if raw.count(b'"') % 2:
                return self._fail(
                    first_line + i,
                    "a quoted value runs past the end of the line (one record per line)",
                )
            if b"\r" in body:
                return self._fail(first_line + i, "a carriage return inside the line")
        last = first_line + block.count(b"\n")
        return self._fail(None, f"lines {first_line}-{last}: rows do not match lines")

    # -- the slow path: find the first bad line and cell --------------------------------------

    def _locate(self, block: bytes, first_line: int, exc: Exception) -> DataError:
        lines = [
            (first_line + i, raw) for i, raw in enumerate(block.split(b"\n")) if raw.strip(b"\r")
        ]

        def ok(part: list[tuple[int, bytes]]) -> bool:
            try:
                self._arrow(b"\n".join(raw for _, raw in part) + b"\n")
            except (pa.ArrowException, ValueError):
                return False
            return True

        part = lines
        while len(part) > 1:
            mid = len(part) // 2
            if not ok(part[:mid]):
                part = part[:mid]
            elif not ok(part[mid:]):
                part = part[mid:]
            else:
                last = lines[-1][0] if lines else first_line
                return self._fail(None, f"lines {first_line}-{last}: {_short(exc)}")
        if not part:
            return self._fail(first_line, _short(exc))
        return self._explain(*part[0], exc)

    def _explain(self, line: int, raw: bytes, exc: Exception) -> DataError:
        """Say what is wrong with one line that the fast parser rejects."""
        try:
            text = raw.rstrip(b"\r").decode("utf-8")
        except UnicodeDecodeError as err:
            col = raw[: err.start].count(b",")
            name = self.header[col] if col < len(self.header) else None
            return self._fail(line, "not UTF-8 text", name)
        try:
            rows = list(csv.reader([text], delimiter=self.delimiter, strict=True))
        except csv.Error as err:
            return self._fail(line, f"malformed quoting: {err}")
        fields = rows[0] if rows else []
        if len(fields) != len(self.header):
            n, want = len(fields), len(self.header)
            if n < want:
                detail = f"no value for column {self.header[n]!r}"
            else:
                detail = f"extra value after column {self.header[-1]!r}"
            return self._fail(line, f"{n} field(s) but the header has {want} ({detail})")
        numeric = {*self.columns, *self.target_columns}
        if self.time_column is not None:
            numeric.add(self.time_column)
        for name, value in zip(self.header, fields, strict=True):
            if name in numeric and not self._parses_alone(name, raw):
                shown = value if len(value) <= 40 else value[:37] + "..."
                return self._fail(line, f"{shown!r} is not a number", name)
        return self._fail(line, _short(exc))

    def _parses_alone(self, name: str, raw: bytes) -> bool:
        read, parse, convert = self._options
        types = {name: convert.column_types[name]}
        one = pacsv.ConvertOptions(
            column_types=types,
            include_columns=[name],
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        try:
            pacsv.read_csv(pa.BufferReader(raw + b"\n"), read, parse, one)
        except (pa.ArrowException, ValueError):
            return False
        return True

    # -- sequences ----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Chunk]:
        """Yield the file's rows as chunks of bounded size, checked and with timespans."""
        self._options = self._arrow_options()
        self._plain_setup()
        held: _Parsed | None = None
        state = _SequenceState()
        blocks = self._blocks()
        pending = next(blocks, None)
        while pending is not None:
            block, first_line, breaks, done = pending
            pending = next(blocks, None)
            last = pending is None
            parsed = self._parse(block, first_line, breaks)
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
        p: _Parsed,
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
            ids = values.take(pa.array(starts)).to_pylist()
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

    def _timespans(self, chunk: Chunk, p: _Parsed, state: _SequenceState) -> None:
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


def pc_not_equal(values: pa.Array) -> np.ndarray:
    """Boolean (n - 1,): whether each row's id differs from the previous row's."""
    import pyarrow.compute as pc

    if len(values) < 2:
        return np.zeros(0, dtype=bool)
    return pc.not_equal(values[1:], values[:-1]).to_numpy(zero_copy_only=False)


def _last_start(values: pa.Array) -> int:
    """Row offset where the last sequence of ``values`` begins (0 when there is one)."""
    change = pc_not_equal(values)
    hits = np.flatnonzero(change)
    return int(hits[-1] + 1) if len(hits) else 0


_PIECE_BYTES = 1 << 18  # smaller pieces are not worth a thread
_MAX_PIECES = 8  # pieces per block, at most


def _piece_cuts(block: bytes) -> list[int]:
    """Offsets that cut ``block`` (ending in a newline) into pieces of whole lines, one per
    worker thread, or a single piece when the block is small."""
    parts = min(threads.cpu_count(), _MAX_PIECES, len(block) // _PIECE_BYTES)
    cuts = [0]
    for k in range(1, parts):
        cut = block.find(b"\n", max(cuts[-1], len(block) * k // parts)) + 1
        if 0 < cut < len(block):
            cuts.append(cut)
    cuts.append(len(block))
    return cuts


def _empty_blank_lines(block: bytes) -> bytes:
    """``block`` (whole lines) with every blank line emptied: a line of nothing but spaces and
    tabs, perhaps with a final carriage return, keeps only its line break, so that the parsers
    skip it like any empty line and the line numbers stay the same.

    A block without spaces and tabs (the usual numeric file) costs two byte searches; one with
    them, a regular-expression search.
    """
    if b" " not in block and b"\t" not in block:
        return block
    if not _FIRST_BLANK.match(block) and not _BLANK_LINE.search(block):
        return block
    return _BLANK_LINE.sub(b"\n", b"\n" + block)[1:]


def _count_newlines(block: bytes) -> int:
    """Number of b"\\n" in ``block`` (compiled: several times faster than bytes.count)."""
    return int(count_newlines(np.frombuffer(block, dtype=np.uint8), 0, len(block)))


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 160 else text[:157] + "..."


def read_table(path: str | Path, **options) -> Chunk:
    """Read a whole CSV file into one ``Chunk`` (options as for ``CsvReader``).

    Sequences that span the reader's internal chunks are joined, so ``starts``/``ids`` list
    every sequence once and ``timespans`` matches reading the file in one piece.
    """
    reader = CsvReader(path, **options)
    parts = list(reader)
    if len(parts) == 1:
        whole = parts[0]
        whole.continues = whole.open_end = False
        return whole
    offsets = np.cumsum([0] + [c.rows for c in parts[:-1]])
    starts: list[np.ndarray] = []
    ids: list[str] | None = [] if parts[0].ids is not None else None
    for off, c in zip(offsets, parts, strict=True):
        s = c.starts[1:] if c.continues else c.starts
        starts.append(s + off)
        if ids is not None:  # then every part has ids
            ids.extend(c.ids[1:] if c.continues else c.ids)  # type: ignore[index, arg-type]
    seq = [c.sequence_values for c in parts]

    def cat(name: str):
        arrays = [getattr(c, name) for c in parts]
        return None if arrays[0] is None else np.concatenate(arrays)

    return Chunk(
        x=cat("x"),
        lines=cat("lines"),
        starts=np.concatenate(starts).astype(np.int64),
        timespans=cat("timespans"),
        ids=ids,
        time=cat("time"),
        targets=cat("targets"),
        sequence_values=None if seq[0] is None else pa.concat_arrays(seq),
        bytes_read=parts[-1].bytes_read,
    )


# -- writing ----------------------------------------------------------------------------------


def _header_line(names: Sequence[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(names)
    return buf.getvalue().encode("utf-8")


class CsvWriter:
    """Write named columns to a binary stream as CSV, chunk by chunk.

    float32 columns are written as the shortest text that reads back to the same float32,
    float64 likewise; strings are quoted only where needed.
    """

    def __init__(self, handle: IO[bytes], names: Sequence[str]) -> None:
        self.handle = handle
        self.names = list(names)
        self.rows = 0
        handle.write(_header_line(self.names))

    def write(self, columns: Sequence[np.ndarray | pa.Array]) -> None:
        """Append rows: one array per column, all the same length."""
        if len(columns) != len(self.names):
            raise ValueError(f"expected {len(self.names)} columns, got {len(columns)}")
        table = pa.table(list(columns), names=[f"c{i}" for i in range(len(columns))])
        buf = pa.BufferOutputStream()
        try:
            options = pacsv.WriteOptions(include_header=False, quoting_style="none")
            pacsv.write_csv(table, buf, options)
        except pa.ArrowInvalid:  # a string needs quotes
            buf = pa.BufferOutputStream()
            options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
            pacsv.write_csv(table, buf, options)
        self.handle.write(buf.getvalue())
        self.rows += table.num_rows


def write_csv(
    path_or_handle: str | Path | BinaryIO, names: Sequence[str], columns, *, force: bool = False
) -> None:
    """Write whole columns in one go; a path is written atomically (never half-written)."""
    if hasattr(path_or_handle, "write"):
        CsvWriter(path_or_handle, names).write(columns)  # type: ignore[arg-type]  # has write()
        return
    with atomic_write(path_or_handle, force=force) as handle:
        CsvWriter(handle, names).write(columns)
