"""Parquet and Arrow IPC tables: read in chunks like CSV, and Parquet written chunk by chunk.

``ArrowReader`` reads a Parquet file (by row group, only the columns it needs), an Arrow IPC
file (Feather v2; memory-mapped) or an Arrow IPC stream (batch by batch), and yields the same
``Chunk`` objects as ``CsvReader`` under the same rules (``velora.files.chunks``): columns by
name, NaN and inf refused unless allowed, sequences contiguous, time increasing. Messages name
rows (the first row is row 1) where CSV names lines.

Column types: inputs and targets must be numbers (integers, floats, decimals), converted to
float32 (rounded to nearest, as CSV text is; a value beyond float32 range becomes inf and is
refused as such); a missing value (null) is refused. The time column may also hold timestamps,
dates or durations, counted in seconds. Sequence ids may be text or integers. Parquet and Arrow
IPC files need random access: from a pipe they are first copied to an anonymous temporary file,
which the operating system removes whatever happens; an Arrow IPC stream is read as it comes.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from velora.errors import DataError
from velora.files.chunks import Parsed, TableReader, arrow_numpy, check_dt, numpy_arrow
from velora.files.defaults import DEFAULT_BLOCK_BYTES
from velora.files.sniff import ARROW_KINDS, KIND_NAMES, TableSource, open_table_source
from velora.files.sources import Source

_ROW_BYTES = 40  # rows per chunk: block_bytes / this, about what a CSV row of four numbers takes
_SECONDS = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 160 else text[:157] + "..."


def _base_type(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def _is_number(t: pa.DataType) -> bool:
    t = _base_type(t)
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _is_temporal(t: pa.DataType) -> bool:
    t = _base_type(t)
    return pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_duration(t)


def _is_id(t: pa.DataType) -> bool:
    t = _base_type(t)
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)


def _describe(t: pa.DataType) -> str:
    """A column type in words, for messages."""
    base = _base_type(t)
    if pa.types.is_string(base) or pa.types.is_large_string(base):
        return f"text ({t})"
    if pa.types.is_boolean(base):
        return "true/false values (bool)"
    if pa.types.is_null(base):
        return "nothing but missing values (null)"
    if _is_temporal(base):
        return f"dates or times ({t})"
    return f"values of type {t}"


def _plain(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One array, dictionary-decoded."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return column


class ArrowReader(TableReader):
    """Read a Parquet or Arrow IPC table in chunks of rows (see the module docstring).

    ``source``: a path, ``-`` for standard input, an open binary stream, or what
    ``velora.files.sniff.open_table_source`` opened; options as for ``CsvReader`` (without
    ``delimiter``). ``block_bytes`` sets the rows per chunk (about one per 40 bytes). The
    column names and types are checked on construction, before any work.
    """

    position_word = "row"
    header_line = None
    header_word = "among the file's columns"

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
        name: str | None = None,
    ) -> None:
        check_dt(dt)
        src = open_table_source(source, name=name)
        self._source = src
        self.size = src.size  # a pipe's is unknown until it is copied
        self._spool: IO[bytes] | None = None
        self._first_batches: list[pa.RecordBatch] = []  # a stream's batches read to find rows
        self._stream_reader: Any = None
        self._stream_file: Any = None  # an IPC stream read from a regular file, for progress
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
            if src.kind not in ARROW_KINDS:
                raise DataError(f"{src.name}: not a Parquet or Arrow file ({src.kind})")
            self.kind = src.kind
            self.rows_per_chunk = max(self.block_bytes // _ROW_BYTES, 1)
            schema = self._open_schema()
            self.header = list(schema.names)
            self.hidden_columns = frozenset(_pandas_index(schema))
            self._check_names(schema)
            self._types = {f.name: f.type for f in schema}
            self.columns = self._resolve_columns(columns, n_inputs)
            self._check_has_rows()
        except BaseException:
            self.close()
            raise

    # -- opening ------------------------------------------------------------------------------

    def _unreadable(self, exc: BaseException) -> DataError:
        return DataError(f"{self.name}: not a readable {KIND_NAMES[self.kind]} ({_short(exc)})")

    def _random_access(self) -> Any:
        """What pyarrow reads a Parquet or IPC file from: the path, or (from a stream) a copy
        in an anonymous temporary file."""
        src = self._source
        if src.path is not None:
            return str(src.path)
        if self._spool is None:
            spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
            try:
                shutil.copyfileobj(src.stream(), spool, 1 << 20)
                spool.flush()
            except OSError as exc:
                spool.close()
                raise DataError(
                    f"{self.name}: cannot copy the stream to a temporary file (a "
                    f"{KIND_NAMES[self.kind]} needs random access): {exc.strerror or exc}"
                ) from None
            except BaseException:
                spool.close()
                raise
            self._spool = spool
            self.size = self.size or spool.tell()
        self._spool.seek(0)
        return self._spool

    def _open_schema(self) -> pa.Schema:
        try:
            if self.kind == "parquet":
                parquet = pq.ParquetFile(self._random_access())
                self._num_rows = parquet.metadata.num_rows
                schema = parquet.schema_arrow
                parquet.close()
                return schema
            if self.kind == "arrow-file":
                with self._ipc_file() as reader:
                    return reader.schema
            self._stream_reader = ipc.open_stream(self._stream_source())
            return self._stream_reader.schema
        except DataError:
            raise
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise self._unreadable(exc) from None

    @contextmanager
    def _ipc_file(self) -> Iterator[Any]:
        access = self._random_access()
        mapped = pa.memory_map(access) if isinstance(access, str) else None
        try:
            yield ipc.open_file(mapped if mapped is not None else access)
        finally:
            if mapped is not None:
                mapped.close()

    def _stream_source(self) -> Any:
        src = self._source
        if src.path is not None:
            self._stream_file = pa.OSFile(str(src.path))
            return self._stream_file
        return pa.PythonFile(src.stream(), mode="r")

    def close(self) -> None:
        """Let go of the temporary copy of a stream, and of a stream not read."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        self._source.close()

    # -- columns ------------------------------------------------------------------------------

    def _check_names(self, schema: pa.Schema) -> None:
        seen: dict[str, int] = {}
        for i, name in enumerate(schema.names, start=1):
            if not name:
                raise self._fail(None, f"column {i} has no name")
            if name in seen:
                raise self._fail(
                    None, f"duplicate column name {name!r} (columns {seen[name]} and {i})"
                )
            seen[name] = i

    def _resolve_columns(self, columns: Sequence[str] | None, n_inputs: int | None) -> list[str]:
        """The input columns, as for CSV; then every column read must be of a usable type."""
        chosen = super()._resolve_columns(columns, n_inputs)
        for name in (*chosen, *self.target_columns):
            if not _is_number(self._types[name]):
                what = "a target" if name in self.target_columns else "an input"
                raise self._fail(
                    None,
                    f"{what} column holds {_describe(self._types[name])}, expected numbers",
                    name,
                )
        if self.time_column is not None:
            t = self._types[self.time_column]
            if not (_is_number(t) or _is_temporal(t)):
                raise self._fail(
                    None,
                    f"the time column holds {_describe(t)}, expected numbers, timestamps or "
                    "durations",
                    self.time_column,
                )
        if self.sequence_column is not None and not _is_id(self._types[self.sequence_column]):
            raise self._fail(
                None,
                f"the sequence column holds {_describe(self._types[self.sequence_column])}, "
                "expected text or integers",
                self.sequence_column,
            )
        return chosen

    def _needed(self) -> list[str]:
        extra = [c for c in (self.time_column, self.sequence_column) if c is not None]
        return list(dict.fromkeys([*self.columns, *self.target_columns, *extra]))

    # -- rows ---------------------------------------------------------------------------------

    def _check_has_rows(self) -> None:
        if self.kind == "parquet":
            empty = self._num_rows == 0
        elif self.kind == "arrow-file":
            with self._ipc_file() as reader:
                empty = not any(
                    reader.get_batch(i).num_rows for i in range(reader.num_record_batches)
                )
        else:  # a stream: read batches until one has rows, and keep them for the reading
            empty = True
            try:
                while empty:
                    batch = self._stream_reader.read_next_batch()
                    self._first_batches.append(batch)
                    empty = batch.num_rows == 0
            except StopIteration:
                pass
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise self._unreadable(exc) from None
        if empty:
            raise self._fail(None, "no data rows (the file has columns but no rows)")

    def _batches(self) -> Iterator[tuple[pa.RecordBatch, float]]:
        """The file's record batches, each with the share of the file read at its end."""
        needed = self._needed()
        if self.kind == "parquet":
            access = self._random_access()
            parquet = pq.ParquetFile(access, memory_map=isinstance(access, str))
            try:
                total, done = max(self._num_rows, 1), 0
                for group in range(parquet.num_row_groups):  # one row group in memory at a time
                    for batch in parquet.iter_batches(
                        batch_size=self.rows_per_chunk, row_groups=[group], columns=needed
                    ):
                        done += batch.num_rows
                        yield batch, done / total
            finally:
                parquet.close()
        elif self.kind == "arrow-file":
            with self._ipc_file() as reader:
                n = reader.num_record_batches
                for i in range(n):
                    yield reader.get_batch(i), (i + 1) / n
        else:
            reader, first = self._stream_reader, self._first_batches
            self._stream_reader, self._first_batches = None, []
            if reader is None:  # read before: a file opens again, a pipe cannot
                if self._source.path is None:
                    raise DataError(f"{self.name}: already read; a stream can be read only once")
                reader = ipc.open_stream(self._stream_source())
            yield from ((batch, 0.0) for batch in first)
            for batch in reader:
                yield batch, 0.0

    def _items(self) -> Iterator[tuple[pa.RecordBatch, int, int]]:
        """Yield (up to ``rows_per_chunk`` rows, the number of the row before them, bytes read
        so far)."""
        row = 0
        batches = self._batches()
        while True:
            try:
                found = next(batches, None)
            except DataError:
                raise
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise self._fail(row + 1, f"unreadable data ({_short(exc)})") from None
            if found is None:
                return
            batch, share = found
            done = int(self.size * share) if share else self._stream_position()
            step = self.rows_per_chunk
            for lo in range(0, batch.num_rows, step):
                piece = batch.slice(lo, step)
                yield piece, row, done
                row += piece.num_rows

    def _stream_position(self) -> int:
        """How far into an IPC stream reading has come."""
        if self._stream_file is not None:
            return self._stream_file.tell()
        first = self._source.first
        return first.position() if first is not None else 0

    def _parse_item(self, item: tuple[pa.RecordBatch, int, int]) -> tuple[Parsed | None, int]:
        batch, row, done = item
        n = batch.num_rows
        if n == 0:
            return None, done
        lines = np.arange(row + 1, row + 1 + n, dtype=np.int64)
        x = self._floats(batch, self.columns, lines)
        targets = self._floats(batch, self.target_columns, lines) if self.target_columns else None
        time = None if self.time_column is None else self._time(batch, lines)
        seq = None
        if self.sequence_column is not None:
            seq = self._column(batch, self.sequence_column, lines, "a missing sequence id")
        return self._parsed(x, lines, targets, time, seq), done

    def _column(self, batch: pa.RecordBatch, name: str, lines: np.ndarray, what: str) -> pa.Array:
        column = _plain(batch.column(name))
        if column.null_count:
            row = int(np.argmax(arrow_numpy(column.is_null())))
            raise self._fail(int(lines[row]), f"{what} (null)", name)
        return column

    def _floats(self, batch: pa.RecordBatch, names: list[str], lines: np.ndarray) -> np.ndarray:
        out = np.empty((batch.num_rows, len(names)), dtype=np.float32)
        for j, name in enumerate(names):
            column = self._column(batch, name, lines, "a missing value")
            if pa.types.is_decimal(column.type):
                column = column.cast(pa.float64())
            with np.errstate(over="ignore"):
                out[:, j] = arrow_numpy(column)
        self._check_finite(out, names, lines)
        return out

    def _time(self, batch: pa.RecordBatch, lines: np.ndarray) -> np.ndarray:
        """The time column as float64; timestamps, dates and durations in seconds."""
        name: str = self.time_column  # type: ignore[assignment]  # the caller checks
        column = self._column(batch, name, lines, "a missing value")
        t = column.type
        if pa.types.is_date32(t):
            return arrow_numpy(column.cast(pa.int32())).astype(np.float64) * 86400.0
        if pa.types.is_date64(t):
            return arrow_numpy(column.cast(pa.int64())).astype(np.float64) / 1e3
        if pa.types.is_timestamp(t) or pa.types.is_duration(t):
            ticks = arrow_numpy(column.cast(pa.int64())).astype(np.float64)
            return ticks / _SECONDS[t.unit]
        if pa.types.is_decimal(t):
            column = column.cast(pa.float64())
        return np.asarray(arrow_numpy(column), dtype=np.float64)


def _pandas_index(schema: pa.Schema) -> list[str]:
    """The columns that hold a pandas index (``DataFrame.to_parquet`` stores it): never
    inputs unless named."""
    metadata = schema.pandas_metadata or {}
    return [c for c in metadata.get("index_columns", []) if isinstance(c, str)]


class ParquetWriter:
    """Write named columns to a binary stream as Parquet, chunk by chunk: one row group per
    ``write``, and the footer at ``close()`` (without it the file is not Parquet). Columns keep
    their types: float32 outputs stay float32."""

    def __init__(self, handle: IO[bytes], names: Sequence[str]) -> None:
        self.handle = handle
        self.names = list(names)
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, columns: Sequence[np.ndarray | pa.Array]) -> None:
        """Append rows: one array per column, all the same length."""
        if len(columns) != len(self.names):
            raise ValueError(f"expected {len(self.names)} columns, got {len(columns)}")
        arrays = [numpy_arrow(c) for c in columns]
        table = pa.Table.from_arrays(arrays, names=self.names)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.handle, table.schema)
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self.rows += table.num_rows

    def write_text(self, text: bytes, rows: int) -> None:
        """Rows formatted as CSV cannot go into Parquet."""
        raise TypeError("a Parquet output takes columns (write), not CSV text")

    def close(self) -> None:
        """Write the footer (for no rows at all, an empty table of float32 columns)."""
        if self._writer is None:
            schema = pa.schema([(name, pa.float32()) for name in self.names])
            self._writer = pq.ParquetWriter(self.handle, schema)
        self._writer.close()
