"""Tables in and out: CSV read in streamed chunks with exact error positions, written exactly;
``open_table`` for any table input (CSV, compressed or not, Parquet, Arrow).

``open_table`` tells an input's kind from its first bytes (``velora.files.sniff``) and returns
the reader for it: ``CsvReader`` here, ``ArrowReader`` (``velora.files.columnar``) for Parquet
and Arrow IPC. Readers share ``TableReader``'s interface and rules (``velora.files.chunks``):
the same columns, errors, sequences and ``Chunk`` objects, whatever the format. An input may be
a regular file, standard input (``-``), a pipe, or a gzip, bzip2, xz or zstd stream of any of
these; a stream is read once, front to back, in bounded memory.

CSV reading is built for recordings far larger than memory: ``CsvReader`` cuts the input into
blocks of whole lines, parses each with pyarrow's multi-threaded CSV parser straight to float32
(correctly rounded), and yields ``Chunk`` objects of bounded size. Every problem raises one
``DataError`` line naming the file, the line number (the header is line 1) and the column. When
the fast parser rejects a block, a slow path narrows the block down to the first bad line and
cell, so the positions are exact at full speed. Empty lines, and blank lines holding nothing but
spaces and tabs (and a final carriage return), are skipped wherever they stand; they still count
as lines for the line numbers.

Writing: ``CsvWriter`` formats float32 with the shortest text that reads back to the same float32
(float64 likewise), so a round trip through CSV is exact; ``table_writer`` picks it, or Parquet
(``velora.files.columnar.ParquetWriter``) for a ``.parquet`` path.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from velora.errors import DataError
from velora.files.atomic import atomic_write
from velora.files.chunks import (
    FLOAT32_MAX,
    Chunk,
    Parsed,
    TableReader,
    arrow_numpy,
    check_dt,
    names_list,
    numpy_arrow,
)
from velora.files.defaults import (
    DEFAULT_BLOCK_BYTES,
    DEFAULT_DELIMITER,
    DELIMITER_NAMES,
    PARQUET_SUFFIX,
)
from velora.files.sniff import (
    ARROW_KINDS,
    KIND_NAMES,
    TableSource,
    open_table_source,
    refuse_kind,
)
from velora.files.sources import Input, Source
from velora.kernels import threads

__all__ = [
    "DEFAULT_BLOCK_BYTES",
    "FLOAT32_MAX",
    "Chunk",
    "CsvReader",
    "CsvWriter",
    "TableReader",
    "check_delimiter",
    "format_rows",
    "open_table",
    "output_format_for",
    "read_table",
    "table_writer",
    "write_csv",
]

_BOM = b"\xef\xbb\xbf"
_MAX_HEADER_BYTES = 1 << 20
# A blank line after a line break: spaces and tabs only, perhaps ending in a carriage return.
_BLANK_LINE = re.compile(rb"\n[ \t]+\r?(?=\n|\Z)")
_FIRST_BLANK = re.compile(rb"[ \t]+\r?(?:\n|\Z)")  # the same for a block's first line
# In a stretch of spaces, tabs and line breaks: a carriage return that does not end its line.
_STRAY_CR = re.compile(rb"\r[^\n]")
_SCAN_BYTES = 1 << 16  # look-ahead steps when a stream's first data lines are blank

# Blocks of CSV below this many bytes are parsed by pyarrow alone: quick enough at that size,
# and a small file then needs none of the compiled parser loaded.
COMPILED_MIN_BYTES = 64 * 1024


def compiled_parser_takes(n_bytes: int) -> bool:
    """Whether a CSV block of ``n_bytes`` goes to the compiled parser: from COMPILED_MIN_BYTES,
    once the parser is built here (``velora warmup`` builds it). A command never stops to build
    it: that takes about 1.5 s, and pyarrow parses to the same bits about a fifth slower."""
    if n_bytes < COMPILED_MIN_BYTES:
        return False
    from velora.kernels import cache

    return cache.is_ready("tables")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_delimiter(delimiter: str) -> str:
    """The one character between CSV fields: ``delimiter`` itself, or the character a name in
    ``DELIMITER_NAMES`` stands for ("tab" or "\\t" for a tab)."""
    delimiter = DELIMITER_NAMES.get(delimiter, delimiter)
    if len(delimiter) != 1 or delimiter in '"\r\n' or delimiter.isalnum():
        raise DataError(
            f"delimiter: expected one character other than a letter, digit, quote or line "
            f"break (or one of the names {', '.join(DELIMITER_NAMES)}), got {delimiter!r}",
            parameter="delimiter",
        )
    return delimiter


def open_table(
    source: Source | TableSource,
    *,
    name: str | None = None,
    delimiter: str = DEFAULT_DELIMITER,
    **options: Any,
) -> TableReader:
    """A reader for any table input, its columns checked: ``CsvReader`` for CSV (plain or gzip,
    bzip2, xz or zstd compressed), ``ArrowReader`` for Parquet and Arrow IPC (file, stream,
    Feather v2), told apart by content, not by name.

    ``source``: a path, ``-`` for standard input, or an open binary stream (a stream is read
    once). ``name`` names it in messages (default: the path; ``<stdin>`` for ``-``). The
    ``options`` are ``CsvReader``'s; ``delimiter`` applies to CSV only.
    """
    delimiter = check_delimiter(delimiter)
    check_dt(options.get("dt", 1.0))
    src = open_table_source(source, name=name)
    try:
        if src.kind == "csv":
            return CsvReader(src, delimiter=delimiter, **options)
        if src.kind in ARROW_KINDS:
            from velora.files.columnar import ArrowReader

            return ArrowReader(src, **options)
        raise refuse_kind(src.name, src.kind)
    except BaseException:
        src.close()
        raise


class CsvReader(TableReader):
    """Read a numeric CSV file in chunks of whole lines (see the module docstring).

    ``source``: a path, ``-`` for standard input, an open binary stream, or what
    ``velora.files.sniff.open_table_source`` opened; compressed CSV (gzip, bzip2, xz, zstd) is
    decompressed on the fly. ``name`` names it in messages. ``columns``: the input columns in
    order; ``None`` means every column except the sequence, time and target columns.
    ``n_inputs``: the number of inputs the caller needs (the error names the columns found).
    ``check_order=False`` reads the sequence and time columns only to carry them along (no
    contiguity or time checks; every row's timespan is ``dt``), as batch inference needs.
    ``delimiter`` is the one character between fields (``,``; ``;`` and tab are common). The
    header is read and checked on construction, so column errors come before any work.

    A regular file can be read any number of times; a stream (a pipe, standard input) once.
    """

    def __init__(
        self,
        source: Source | TableSource,
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
        delimiter: str = DEFAULT_DELIMITER,
        name: str | None = None,
    ) -> None:
        check_dt(dt)
        self.delimiter = check_delimiter(delimiter)
        src = open_table_source(source, name=name)
        self._source = src
        self.path = src.path  # a regular file's path; None for a stream
        try:
            self._setup(
                src.name,
                sequence_column=sequence_column,
                time_column=time_column,
                target_columns=target_columns,
                allow_nan=allow_nan,
                dt=dt,
                check_order=check_order,
                block_bytes=block_bytes,
            )
            if src.kind != "csv":
                if src.kind not in KIND_NAMES:
                    raise refuse_kind(src.name, src.kind)
                raise DataError(
                    f"{src.name}: a {KIND_NAMES[src.kind]}, not CSV (open_table reads every "
                    "table format)"
                )
            self.header, self._data_offset = self._read_header()
            self.size = src.size
            self.columns = self._resolve_columns(columns, n_inputs)
            self._check_has_rows()
        except BaseException:
            src.close()
            raise

    # -- header and columns -------------------------------------------------------------------

    def _open(self) -> BinaryIO:
        try:
            return open(self.path, "rb")  # type: ignore[arg-type, return-value]  # a regular file
        except FileNotFoundError:
            raise DataError(f"{self.name}: no such file") from None
        except IsADirectoryError:
            raise DataError(f"{self.name}: is a folder, expected a CSV file") from None
        except OSError as exc:
            raise DataError(f"{self.name}: cannot read: {exc.strerror}") from None

    def _head(self) -> bytes:
        """The input's first bytes (up to the longest header allowed), left to be read."""
        stream = self._source.first
        if stream is not None:  # peek no further than the first line needs (a slow pipe)
            n = _SCAN_BYTES
            while True:
                head = stream.peek(n)
                if len(head) < n or n >= _MAX_HEADER_BYTES:
                    return head
                end = head.find(b"\n")
                if end >= 0 and head[:end].strip():  # as much as the first 1 MiB would tell
                    return head
                n = min(4 * n, _MAX_HEADER_BYTES)
        with self._open() as handle:
            try:
                return handle.read(_MAX_HEADER_BYTES)
            except OSError as exc:
                raise DataError(f"{self.name}: cannot read: {exc.strerror}") from None

    def _read_header(self) -> tuple[list[str], int]:
        head = self._head()
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
                1, f"expected a header row of column names, found numbers ({names_list(names)})"
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
        reading stops on it with its own error. Sets where the data starts (``_start``)."""
        self._start = (self._data_offset, 2)
        if self._source.first is not None:
            self._check_stream_has_rows(self._source.first)
            return
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

    def _check_stream_has_rows(self, stream: Input) -> None:
        """``_check_has_rows`` for a stream, peeking ahead; blank lines met on the way are
        taken and counted, so that the look-ahead stays small whatever their number."""
        stream.skip_to(self._data_offset)
        line = 2
        scanned = 0
        while True:
            view = stream.peek(scanned + _SCAN_BYTES)
            piece = view[scanned:]
            if not piece:
                raise self._fail(1, "a header row but no data rows")
            if piece.translate(None, b" \t\r\n"):
                break
            if _STRAY_CR.search(view[max(scanned - 1, 0) :]):
                break
            scanned = len(view)
            cut = view.rfind(b"\n") + 1  # whole blank lines: taken, counted
            if cut:
                line += view.count(b"\n", 0, cut)
                stream.drop(cut)
                scanned -= cut
        self._start = (stream.taken, line)

    def _missing(self, role: str, name: str) -> DataError:
        """No such column: name what the header holds, and the likely delimiter when the header
        is one field holding another common one."""
        message = f"no {role} column {name!r} in the header (found: {names_list(self.header)})"
        if len(self.header) == 1:
            for other, word in ((";", "';'"), ("\t", "a tab"), (",", "','"), ("|", "'|'")):
                if other != self.delimiter and other in self.header[0]:
                    hint = f"; the header holds {word} but no {self.delimiter!r}"
                    return self._fail(1, message + hint, parameter="delimiter")
        return self._fail(1, message)

    # -- blocks -------------------------------------------------------------------------------

    @contextmanager
    def _data(self) -> Iterator[tuple[Any, Any]]:
        """``(read, position)`` of the input from where its data starts: a regular file opened
        anew, else the stream (positioned there already the first time)."""
        offset = self._start[0]
        if self._source.path is not None:
            with self._open() as handle:
                handle.seek(offset)
                yield handle.read, handle.tell
            return
        stream = self._source.stream()
        try:
            stream.skip_to(offset)
            yield stream.read, stream.position
        finally:
            stream.close()

    def _items(self) -> Iterator[tuple[bytes, int, int, int]]:
        """Yield (block of whole lines, its first line number, its count of line breaks, bytes
        read so far)."""
        self._options = self._arrow_options()
        self._plain_setup()
        line = self._start[1]
        with self._data() as (read, position):
            rest = b""
            while True:
                piece = read(self.block_bytes)
                if not piece:
                    if rest:
                        yield rest, line, _count_newlines(rest), position()
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
                yield block, line, breaks, max(position() - len(rest), 0)
                line += breaks

    def _parse_item(self, item: tuple[bytes, int, int, int]) -> tuple[Parsed | None, int]:
        block, first_line, breaks, done = item
        return self._parse(block, first_line, breaks), done

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

    def _parse_plain(self, block: bytes, first_line: int, n_newlines: int) -> Parsed | None:
        """The fast path: the compiled parser for the float32 columns, in parallel pieces of
        whole lines (None if it declines; the slow path then parses the block, to the same
        bits). A small block goes the slow path, which is as quick there and needs no
        compiled loop loaded (or built, on a first run)."""
        if self.delimiter != "," or not compiled_parser_takes(len(block)):
            return None  # the compiled parser knows commas only
        from velora.kernels import cache
        from velora.kernels.csvparse import count_newlines, parse_plain

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
        cache.mark_ready("tables")
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

    def _parse(self, block: bytes, first_line: int, n_newlines: int) -> Parsed | None:
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
    ) -> Parsed:
        """Add the time and sequence columns of ``table`` to the parsed float32 columns."""
        time = None
        if self.time_column is not None:
            time = arrow_numpy(table[self.time_column])  # type: ignore[index]  # not None: a rest column
        seq = None
        if self.sequence_column is not None:
            seq = table[self.sequence_column].combine_chunks()  # type: ignore[index]  # as above
        return self._parsed(x, lines, targets, time, seq)

    def _floats(self, table: pa.Table, names: list[str], lines: np.ndarray) -> np.ndarray:
        out = np.empty((table.num_rows, len(names)), dtype=np.float32)
        for j, name in enumerate(names):
            out[:, j] = arrow_numpy(table[name])
        self._check_finite(out, names, lines)
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
    """Number of b"\\n" in ``block`` (compiled: several times faster than bytes.count on large
    blocks; a small one, or any before the loop is built, is counted by bytes.count)."""
    if not compiled_parser_takes(len(block)):
        return block.count(b"\n")
    from velora.kernels.csvparse import count_newlines

    return int(count_newlines(np.frombuffer(block, dtype=np.uint8), 0, len(block)))


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 160 else text[:157] + "..."


def read_table(source: Source | TableReader, **options: Any) -> Chunk:
    """Read a whole table into one ``Chunk``: ``source`` a reader, or an input for
    ``open_table`` (options as for it: CSV, Parquet or Arrow, by content).

    Sequences that span the reader's internal chunks are joined, so ``starts``/``ids`` list
    every sequence once and ``timespans`` matches reading the file in one piece.
    """
    reader = source if isinstance(source, TableReader) else open_table(source, **options)
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
    float64 likewise; strings are quoted only where needed. The header goes out with the first
    rows (or at ``close`` when there are none), so that a run failing on its first chunk leaves
    not even a header on standard output.
    """

    def __init__(self, handle: IO[bytes], names: Sequence[str]) -> None:
        self.handle = handle
        self.names = list(names)
        self.rows = 0
        self._header_written = False

    def _header(self) -> None:
        if not self._header_written:
            self.handle.write(_header_line(self.names))
            self._header_written = True

    def write(self, columns: Sequence[np.ndarray | pa.Array]) -> None:
        """Append rows: one array per column, all the same length. Wide rows (a run's hidden
        state) are formatted FORMAT_VALUES values at a time, so the text's temporary copies
        stay small whatever the chunk's size; the bytes are the same as in one piece."""
        if len(columns) != len(self.names):
            raise ValueError(f"expected {len(self.names)} columns, got {len(columns)}")
        rows = len(columns[0]) if len(columns) else 0
        step = max(1, FORMAT_VALUES // max(len(columns), 1))
        if rows <= step:
            self.write_text(format_rows(columns), rows)
            return
        quoting = _quoting(columns)  # one style for the whole, as in one piece
        for lo in range(0, rows, step):
            part = [column[lo : lo + step] for column in columns]
            self.write_text(format_rows(part, quoting), len(part[0]))

    def write_text(self, text: bytes, rows: int) -> None:
        """Append ``rows`` rows that ``format_rows`` made (perhaps in another process)."""
        self._header()
        self.handle.write(text)
        self.rows += rows

    def close(self) -> None:
        """The header if no rows came (a CSV file needs no ending); the handle stays the
        caller's."""
        self._header()


# Values formatted into CSV text at a time by ``CsvWriter.write``: about 12 bytes of text each,
# held two or three times over while pyarrow writes it.
FORMAT_VALUES = 1 << 20


def _csv_text(arrays: Sequence[pa.Array], quoting: str) -> bytes:
    """pyarrow's CSV rows (no header) for ``arrays`` with a quoting style ("none" raises
    ``pa.ArrowInvalid`` where a string needs quotes; "needed" quotes every string)."""
    table = pa.table(list(arrays), names=[f"c{i}" for i in range(len(arrays))])
    buf = pa.BufferOutputStream()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style=quoting))
    return buf.getvalue().to_pybytes()


def _quoting(columns: Sequence[np.ndarray | pa.Array]) -> str:
    """The quoting style ``format_rows`` picks for ``columns``: "none" unless a string in them
    needs quotes (numbers never do, so only the text columns are tried)."""
    arrays = [numpy_arrow(column) for column in columns]
    text = [a for a in arrays if not (pa.types.is_integer(a.type) or pa.types.is_floating(a.type))]
    if text:
        try:
            _csv_text(text, "none")
        except pa.ArrowInvalid:
            return "needed"
    return "none"


def format_rows(columns: Sequence[np.ndarray | pa.Array], quoting: str | None = None) -> bytes:
    """Rows of CSV (no header) for one array per column, as ``CsvWriter.write`` writes them:
    strings unquoted unless one of them needs quotes, then every string quoted (``quoting``
    fixes the style instead)."""
    arrays = [numpy_arrow(column) for column in columns]
    if quoting is not None:
        return _csv_text(arrays, quoting)
    try:
        return _csv_text(arrays, "none")
    except pa.ArrowInvalid:  # a string needs quotes
        return _csv_text(arrays, "needed")


def write_csv(
    path_or_handle: str | Path | BinaryIO, names: Sequence[str], columns, *, force: bool = False
) -> None:
    """Write whole columns in one go; a path is written atomically (never half-written)."""
    if hasattr(path_or_handle, "write"):
        CsvWriter(path_or_handle, names).write(columns)  # type: ignore[arg-type]  # has write()
        return
    with atomic_write(path_or_handle, force=force) as handle:
        CsvWriter(handle, names).write(columns)


def output_format_for(path: str | Path | None) -> str:
    """The format an output path is written in: ``"parquet"`` for a name ending in
    ``.parquet``, else ``"csv"`` (``None``, a stream, is CSV)."""
    if path is not None and Path(path).suffix.lower() == PARQUET_SUFFIX:
        return "parquet"
    return "csv"


def table_writer(handle: IO[bytes], names: Sequence[str], fmt: str = "csv") -> Any:
    """A writer of ``names`` columns to ``handle`` in ``fmt`` (``"csv"`` or ``"parquet"``):
    ``write(columns)`` per chunk, then ``close()`` (which a Parquet file needs for its footer)."""
    if fmt == "parquet":
        from velora.files.columnar import ParquetWriter

        return ParquetWriter(handle, names)
    if fmt != "csv":
        raise ValueError(f"fmt must be csv or parquet, got {fmt!r}")
    return CsvWriter(handle, names)
