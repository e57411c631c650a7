"""Table inputs of every kind (``open_table``): CSV plain and compressed, Parquet, Arrow IPC file
(Feather) and stream, from files and from streams, told apart by content. Each gives the chunks
the CSV file gives, under the same column rules and messages (rows numbered where CSV numbers
lines); memory stays bounded; Parquet is written chunk by chunk."""

import bz2
import gzip
import io
import json
import lzma
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from tests.helpers import pipe_of
from velora.errors import DataError
from velora.files.columnar import ArrowReader, ParquetWriter
from velora.files.sniff import compression_of, table_kind
from velora.files.tables import (
    CsvReader,
    CsvWriter,
    check_delimiter,
    open_table,
    output_format_for,
    read_table,
    table_writer,
    write_csv,
)

LENGTHS = [5, 1, 17, 3, 40, 2]
OPTIONS = {"sequence_column": "id", "time_column": "t", "dt": 0.5}


def recording() -> pa.Table:
    """Sequences of float32 inputs with irregular times (what the CSV file holds)."""
    rng = np.random.default_rng(0)
    ids = np.repeat([f"s{i}" for i in range(len(LENGTHS))], LENGTHS)
    x = rng.standard_normal((len(ids), 3)).astype(np.float32)
    t = np.round(np.cumsum(rng.uniform(0.01, 1, len(ids))), 3)
    return pa.table({"id": ids, "t": t, "a": x[:, 0], "b": x[:, 1], "c": x[:, 2]})


def compress(data: bytes, kind: str) -> bytes:
    if kind == "gzip":
        return gzip.compress(data, mtime=0)
    if kind == "bz2":
        return bz2.compress(data)
    if kind == "xz":
        return lzma.compress(data)
    return pa.Codec("zstd").compress(data, asbytes=True)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """The recording as CSV, Parquet (row groups of 7), Feather (batches of 9) and an Arrow
    IPC stream (batches of 11)."""
    table = recording()
    paths = {name: tmp_path / name for name in ("r.csv", "r.parquet", "r.feather", "r.arrows")}
    write_csv(paths["r.csv"], table.column_names, [c.to_numpy() for c in table.columns])
    pq.write_table(table, paths["r.parquet"], row_group_size=7)
    feather.write_feather(table, paths["r.feather"], chunksize=9)
    with ipc.new_stream(paths["r.arrows"], table.schema) as writer:
        writer.write_table(table, max_chunksize=11)
    return paths


def assert_same(got, want, *, rows: bool) -> None:
    """The same rows, sequences and timespans (``rows``: numbered as rows, not lines)."""
    assert got.x.view(np.uint32).tolist() == want.x.view(np.uint32).tolist()
    assert got.ids == want.ids
    assert got.starts.tolist() == want.starts.tolist()
    assert got.timespans.tobytes() == want.timespans.tobytes()
    assert got.time.tobytes() == want.time.tobytes()
    assert got.sequence_values.to_pylist() == want.sequence_values.to_pylist()
    lines = want.lines - 1 if rows else want.lines  # CSV: the header is line 1
    assert got.lines.tolist() == lines.tolist()


# -- told apart by content -------------------------------------------------------------------


def test_magic_bytes() -> None:
    data = b"a,b\n1,2\n"
    for kind in ("gzip", "bz2", "xz", "zstd"):
        assert compression_of(compress(data, kind)) == kind
    assert compression_of(data) is None
    assert compression_of(b"BZh,a,b\n") is None  # a header that only looks like bzip2
    assert table_kind(b"PAR1\x15\x04") == "parquet"
    assert table_kind(b"ARROW1\x00\x00") == "arrow-file"
    assert table_kind(b"\xff\xff\xff\xff\x10\x01\x00\x00") == "arrow-stream"
    assert table_kind(b"FEA1....") == "feather-v1"
    assert table_kind(b"PK\x03\x04....") == "zip"
    assert table_kind(data) == "csv"


@pytest.mark.parametrize("name", ["r.parquet", "r.feather", "r.arrows"])
@pytest.mark.parametrize("block_bytes", [1, 200, 1 << 20])
def test_parquet_and_arrow_read_like_csv(files, name, block_bytes) -> None:
    want = read_table(files["r.csv"], **OPTIONS)
    reader = open_table(files[name], block_bytes=block_bytes, **OPTIONS)
    assert isinstance(reader, ArrowReader) and reader.header == ["id", "t", "a", "b", "c"]
    assert_same(read_table(reader), want, rows=True)
    assert_same(read_table(files[name], block_bytes=block_bytes, **OPTIONS), want, rows=True)


@pytest.mark.parametrize("kind", ["gzip", "bz2", "xz", "zstd"])
def test_compressed_csv_reads_like_the_plain_file(files, tmp_path, kind) -> None:
    want = read_table(files["r.csv"], **OPTIONS)
    path = tmp_path / "no-telling-suffix.dat"  # by content, not by name
    path.write_bytes(compress(files["r.csv"].read_bytes(), kind))
    assert_same(read_table(path, **OPTIONS), want, rows=False)
    reader = open_table(path, block_bytes=64, **OPTIONS)
    assert isinstance(reader, CsvReader)
    assert_same(read_table(reader), want, rows=False)
    assert_same(read_table(reader), want, rows=False)  # a file: read as often as asked


def test_concatenated_gzip_members_read_as_one(tmp_path) -> None:
    path = tmp_path / "two.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n1,2\n") + gzip.compress(b"3,4\n"))
    assert read_table(path).x.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize("name", ["r.csv", "r.parquet", "r.feather", "r.arrows"])
@pytest.mark.parametrize("wrap", ["pipe", "gzip pipe", "bytes"])
def test_every_format_reads_from_a_stream(files, name, wrap) -> None:
    data = files[name].read_bytes()
    if wrap == "gzip pipe":
        data = gzip.compress(data)
    stream = io.BytesIO(data) if wrap == "bytes" else pipe_of(data)
    got = read_table(stream, block_bytes=100, **OPTIONS)
    assert_same(got, read_table(files["r.csv"], **OPTIONS), rows=name != "r.csv")


def test_a_stream_is_read_once(files) -> None:
    stream = pipe_of(files["r.csv"].read_bytes())
    reader = open_table(stream, **OPTIONS)
    assert reader.size == 0  # unknown
    list(reader)
    with pytest.raises(DataError, match="already read; a stream can be read only once"):
        list(reader)
    with pytest.raises(DataError, match="already read as a table"):
        open_table(stream)


def test_standard_input(files, monkeypatch) -> None:
    class Stdin:
        buffer = pipe_of(files["r.parquet"].read_bytes())

    monkeypatch.setattr("sys.stdin", Stdin())
    reader = open_table("-", **OPTIONS)
    assert reader.name == "<stdin>"
    assert_same(read_table(reader), read_table(files["r.csv"], **OPTIONS), rows=True)


def test_a_stream_from_a_compressed_file_is_a_file(files, tmp_path) -> None:
    path = tmp_path / "r.csv.xz"
    path.write_bytes(lzma.compress(files["r.csv"].read_bytes()))
    chunks = list(open_table(path, block_bytes=50, **OPTIONS))
    assert chunks[-1].bytes_read == path.stat().st_size  # progress counts compressed bytes


# -- the same rules, rows for lines ----------------------------------------------------------


def parquet(tmp_path: Path, columns: dict, name: str = "p.parquet") -> Path:
    path = tmp_path / name
    pq.write_table(pa.table(columns), path)
    return path


def error_of(path: Path, **options) -> DataError:
    with pytest.raises(DataError) as info:
        list(open_table(path, **options))
    assert "\n" not in str(info.value) and str(info.value).startswith(str(path))
    return info.value


F = np.float32


@pytest.mark.parametrize(
    ("columns", "options", "expected"),
    [
        (
            {"a": F([1]), "b": F([2])},
            {"columns": ["a", "zz"]},
            "p.parquet: no input column 'zz' among the file's columns (found: a, b)",
        ),
        ({"a": F([1]), "b": F([2])}, {"time_column": "t"}, "no time column 't' among"),
        ({"a": ["x"], "b": F([2])}, {}, "column 'a': an input column holds text (string)"),
        ({"a": [True], "b": F([2])}, {}, "column 'a': an input column holds true/false values"),
        (
            {"a": F([1]), "y": ["1"]},
            {"columns": ["a"], "target_columns": ["y"]},
            "column 'y': a target column holds text",
        ),
        (
            {"t": ["0"], "a": F([1])},
            {"time_column": "t"},
            "column 't': the time column holds text (string), expected numbers, timestamps",
        ),
        (
            {"id": [0.5], "a": F([1])},
            {"sequence_column": "id"},
            "column 'id': the sequence column holds values of type double, expected text",
        ),
        ({"a": [1.0, 2.0, None]}, {}, "row 3, column 'a': a missing value (null)"),
        ({"a": F([1, np.nan])}, {}, "row 2, column 'a': NaN is not allowed"),
        ({"a": [1.0, 1e39]}, {}, "row 2, column 'a': an infinite value (or one beyond float32"),
        (
            {"id": ["A", "B", "A"], "a": F([1, 2, 3])},
            {"sequence_column": "id"},
            "row 3, column 'id': sequence 'A' appears again after other rows",
        ),
        (
            {"id": ["A", None], "a": F([1, 2])},
            {"sequence_column": "id"},
            "row 2, column 'id': a missing sequence id (null)",
        ),
        (
            {"t": [0.0, 2.0, 1.0], "a": F([1, 2, 3])},
            {"time_column": "t"},
            "row 3, column 't': time 1.0 does not increase (previous row: 2.0)",
        ),
        (
            {"t": [0.0, np.inf], "a": F([1, 2])},
            {"time_column": "t"},
            "row 2, column 't': time must be a finite number",
        ),
        (
            {"a": F([1]), "b": F([2])},
            {"n_inputs": 3},
            "2 input column(s) (a, b) but the network takes 3 inputs",
        ),
        ({"a": pa.array([], pa.float32())}, {}, "p.parquet: no data rows"),
    ],
)
def test_column_rules_as_for_csv(tmp_path, columns, options, expected) -> None:
    assert expected in str(error_of(parquet(tmp_path, columns), **options))


def test_hints_name_the_parameter(tmp_path) -> None:
    path = parquet(tmp_path, {"a": F([np.nan]), "b": F([2])})
    assert error_of(path).parameter == "allow_nan"
    assert error_of(path, n_inputs=3).parameter == "columns"
    assert math_isnan(read_table(path, allow_nan=True).x[0, 0])


def math_isnan(value) -> bool:
    return bool(np.isnan(value))


def test_column_names_are_checked(tmp_path) -> None:
    table = pa.Table.from_arrays([pa.array(F([1])), pa.array(F([2]))], names=["a", "a"])
    path = tmp_path / "dup.arrow"
    feather.write_feather(table, path)
    assert "duplicate column name 'a' (columns 1 and 2)" in str(error_of(path))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"PAR1 not really", "not a readable Parquet file"),
        (b"ARROW1\x00\x00 broken", "not a readable Arrow IPC file"),
        (b"FEA1 version one", "a Feather version 1 file"),
        (b"PK\x03\x04 zipped", "a zip archive; unzip it first"),
        (gzip.compress(b"a,b\n1,2\n")[:-12], "corrupt or truncated gzip data"),
        (b"\x28\xb5\x2f\xfd garbage", "corrupt or truncated zstd data"),
    ],
)
def test_unreadable_files_say_what_they_are(tmp_path, data, words) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(data)
    assert words in str(error_of(path))
    with pytest.raises(DataError, match="^<stream>: " + words.split(";")[0]):
        list(open_table(io.BytesIO(data)))


def test_csv_reader_refuses_other_formats(files) -> None:
    with pytest.raises(DataError, match="a Parquet file, not CSV"):
        CsvReader(files["r.parquet"])


def test_column_types_convert_as_csv_text_would(tmp_path) -> None:
    decimals = pa.array([1, 2, 3], pa.int64()).cast(pa.decimal128(25, 2))
    path = parquet(
        tmp_path,
        {
            "id": pa.array(["x", "x", "y"]).dictionary_encode(),
            "i8": pa.array([-3, 0, 127], pa.int8()),
            "u64": pa.array([0, 2**24 + 1, 2**40], pa.uint64()),
            "f16": pa.array(np.float16([0.5, -1, 2])),
            "f64": [0.1, 1 / 3, -2.5e-8],
            "dec": decimals,
        },
    )
    table = read_table(path, sequence_column="id")
    want = np.float32(
        [[-3, 0, 0.5, 0.1, 1], [0, 2**24 + 1, -1, 1 / 3, 2], [127, 2**40, 2, -2.5e-8, 3]]
    )
    assert table.x.view(np.uint32).tolist() == want.view(np.uint32).tolist()
    assert table.ids == ["x", "y"]


def test_integer_ids_and_times_of_every_kind(tmp_path) -> None:
    stamps = pa.array([0, 1500, 4000], pa.timestamp("ms", tz="UTC"))
    path = parquet(
        tmp_path, {"run": pa.array([7, 7, 8], pa.int32()), "t": stamps, "a": F([1, 2, 3])}
    )
    table = read_table(path, sequence_column="run", time_column="t", dt=0.25)
    assert table.ids == ["7", "8"]  # as a CSV file would write them
    assert table.time.tolist() == [0.0, 1.5, 4.0]  # seconds
    assert table.timespans.tolist() == [0.25, 1.5, 0.25]
    for t, seconds in (
        (pa.array([0, 2], pa.duration("us")), [0, 2e-6]),
        (pa.array([0, 1], pa.date32()), [0, 86400]),
        (pa.array([3, 5], pa.uint16()), [3, 5]),
    ):
        path = parquet(tmp_path, {"t": t, "a": F([1, 2])}, name="t.parquet")
        assert read_table(path, time_column="t").time.tolist() == seconds


def test_a_pandas_index_is_no_input(tmp_path) -> None:
    meta = {"index_columns": ["__index_level_0__"], "column_indexes": [], "columns": []}
    table = pa.table({"a": F([1, 2]), "__index_level_0__": [10, 20]})
    table = table.replace_schema_metadata({b"pandas": json.dumps(meta).encode()})
    path = tmp_path / "pandas.parquet"
    pq.write_table(table, path)
    assert open_table(path).columns == ["a"]
    assert open_table(path, columns=["a", "__index_level_0__"]).columns[1] == "__index_level_0__"


def test_targets_and_with_targets(files) -> None:
    reader = open_table(files["r.parquet"], columns=["a"], **OPTIONS).with_targets(["c", "b"])
    table = read_table(reader)
    want = read_table(files["r.csv"], columns=["a"], target_columns=["c", "b"], **OPTIONS)
    assert table.targets.tobytes() == want.targets.tobytes()


# -- bounded memory, nothing left behind -----------------------------------------------------


def test_parquet_is_read_one_row_group_at_a_time(tmp_path) -> None:
    rng = np.random.default_rng(1)
    n = 400_000  # 12.8 MB of float64, in row groups of 20,000 rows (640 kB)
    table = pa.table({f"c{i}": rng.standard_normal(n) for i in range(4)})
    data = io.BytesIO()
    pq.write_table(table, data, row_group_size=20_000, compression="none")
    del table
    base, peak, rows = pa.total_allocated_bytes(), 0, 0
    for chunk in open_table(pipe_of(data.getvalue()), block_bytes=1 << 18):
        peak = max(peak, pa.total_allocated_bytes() - base)
        rows += chunk.rows
        assert chunk.rows <= (1 << 18) // 40
    assert rows == n
    assert peak < 3_000_000  # a row group or two, never the 12.8 MB


def test_a_spooled_stream_leaves_no_file(files, tmp_path, monkeypatch) -> None:
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    reader = open_table(pipe_of(files["r.parquet"].read_bytes()), **OPTIONS)
    for _ in reader:
        assert not list(spool.iterdir())  # the copy has no name, so nothing can stay
    bad = pa.table({"a": F([1, 2, np.nan])})
    data = io.BytesIO()
    pq.write_table(bad, data)
    with pytest.raises(DataError, match="row 3"):
        list(open_table(pipe_of(data.getvalue())))
    assert not list(spool.iterdir())


# -- writing Parquet -------------------------------------------------------------------------


def test_parquet_writer_keeps_types_and_writes_a_row_group_per_chunk() -> None:
    buffer = io.BytesIO()
    writer = ParquetWriter(buffer, ["id", "t", "y0"])
    writer.write([pa.array(["a", "a"]), np.float64([0.5, 1.0]), F([1.5, -2])])
    writer.write([pa.array(["b"]), np.float64([3.0]), F([1e-45])])
    writer.close()
    back = pq.ParquetFile(io.BytesIO(buffer.getvalue()))
    assert back.num_row_groups == 2 and writer.rows == 3
    table = back.read()
    assert table.schema.types == [pa.string(), pa.float64(), pa.float32()]
    assert (
        table["y0"].to_numpy().view(np.uint32).tolist()
        == F([1.5, -2, 1e-45]).view(np.uint32).tolist()
    )


def test_an_empty_parquet_output_is_still_parquet() -> None:
    buffer = io.BytesIO()
    ParquetWriter(buffer, ["y0", "y1"]).close()
    assert pq.read_table(io.BytesIO(buffer.getvalue())).column_names == ["y0", "y1"]


def test_the_output_format_follows_the_suffix() -> None:
    assert output_format_for("out.parquet") == output_format_for("OUT.PARQUET") == "parquet"
    assert output_format_for("out.csv") == output_format_for(None) == "csv"
    assert isinstance(table_writer(io.BytesIO(), ["y"], "parquet"), ParquetWriter)
    assert isinstance(table_writer(io.BytesIO(), ["y"]), CsvWriter)


# -- delimiters ------------------------------------------------------------------------------


def test_delimiters_by_name(tmp_path) -> None:
    assert check_delimiter("tab") == check_delimiter("\\t") == "\t"
    assert check_delimiter("semicolon") == ";" and check_delimiter("|") == "|"
    path = tmp_path / "tabs.tsv.gz"
    path.write_bytes(gzip.compress(b"id\tt\ta\nA\t0\t1\nA\t1\t2\n"))
    table = read_table(path, sequence_column="id", time_column="t", delimiter="tab")
    assert table.x.tolist() == [[1], [2]]
    with pytest.raises(DataError, match="delimiter: expected one character"):
        open_table(path, delimiter="tabs")
