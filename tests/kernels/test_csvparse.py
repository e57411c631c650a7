"""The compiled CSV fast path: bit-exact against pyarrow where it accepts, and where it declines
the reader behaves exactly as without it."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import examples
from velora.errors import DataError
from velora.files import tables
from velora.files.tables import CsvReader
from velora.kernels import cache
from velora.kernels.csvparse import count_newlines, parse_plain


@pytest.fixture(autouse=True)
def parser_built():
    """These tests are about the compiled parser: the reader takes it as once it is built."""
    with cache.building("tables"):
        yield


@pytest.fixture
def parser_calls(monkeypatch) -> list[bool]:
    """Whether each block the reader parses went to the compiled parser (True) or was left
    to pyarrow (False), in order."""
    taken: list[bool] = []
    parse_plain = CsvReader._parse_plain

    def spy(self, *args):
        parsed = parse_plain(self, *args)
        taken.append(parsed is not None)
        return parsed

    monkeypatch.setattr(CsvReader, "_parse_plain", spy)
    return taken


FORMATS = ("{!r}", "%.9g", "%.17g", "%.6g", "%.3e", "%.12f", "%g", "%.1f")


def fmt(value: np.float32, style: str) -> str:
    if style == "{!r}":
        return repr(float(value))
    return style % float(value)


def arrow_floats(text: str, n_cols: int) -> np.ndarray:
    names = [f"c{i}" for i in range(n_cols)]
    table = pacsv.read_csv(
        pa.BufferReader(text.encode()),
        read_options=pacsv.ReadOptions(column_names=names),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.float32() for n in names}),
    )
    return np.stack([table[n].to_numpy() for n in names], axis=1)


def fast(text: str, n_cols: int) -> tuple[int, np.ndarray]:
    data = text.encode()
    buf = np.frombuffer(data, dtype=np.uint8)
    rows = data.count(b"\n")
    x = np.zeros((rows, n_cols), dtype=np.float32)
    dest = np.arange(n_cols, dtype=np.int64)
    count = parse_plain(buf, 0, len(data), 0, dest, x, np.zeros((rows, 0), dtype=np.float32))
    return count, x


finite_float32 = (
    st.integers(0, 2**32 - 1).map(lambda b: np.uint32(b).view(np.float32)).filter(np.isfinite)
)


@settings(max_examples=examples(300), deadline=None)
@given(cells=st.lists(st.tuples(finite_float32, st.sampled_from(FORMATS)), min_size=2, max_size=40))
def test_accepted_values_equal_pyarrow_bit_for_bit(cells) -> None:
    n_cols = 2
    cells = cells[: len(cells) // n_cols * n_cols]
    texts = [fmt(v, style) for v, style in cells]
    lines = [",".join(texts[i : i + n_cols]) for i in range(0, len(texts), n_cols)]
    text = "\n".join(lines) + "\n"
    count, got = fast(text, n_cols)
    if count >= 0:
        assert count == len(lines)
        want = arrow_floats(text, n_cols)
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), text


@pytest.mark.parametrize(
    ("cell", "value"),
    [("-0", -0.0), (".5", 0.5), ("5.", 5.0), ("+1e+5", 1e5), ("007", 7.0), ("1E-3", 0.001)],
)
def test_accepts_plain_forms(cell: str, value: float) -> None:
    count, x = fast(f"{cell},1\n", 2)
    assert count == 1
    assert x[0, 0] == np.float32(value)
    assert np.signbit(x[0, 0]) == np.signbit(value)


@pytest.mark.parametrize(
    "line",
    [
        "nan,1",  # special tokens: pyarrow decides
        " 1,2",  # spaces
        "1 ,2",
        '"1",2',  # quotes
        "1,2\r",  # carriage return
        "1e400,2",  # exponent out of the exact range
        "1234567890123456789,2",  # more digits than an int64 holds for sure
        "1e-40,2",  # below float32's normal range
        "1,2,3",  # ragged
        "1",
        ",2",  # empty field
        "1.2.3,4",
        "e5,1",
        "-,1",
        "abc,1",
        "",  # empty and blank lines: the slow path skips them
        " ",
        "\t ",
    ],
)
def test_declines_what_is_not_plain(line: str) -> None:
    count, _ = fast(line + "\n", 2)
    assert count == -1


def test_count_newlines() -> None:
    data = b"a\nbb\n\nccc\n"
    buf = np.frombuffer(data, dtype=np.uint8)
    assert count_newlines(buf, 0, len(data)) == 4
    assert count_newlines(buf, 2, 6) == 2


CELL = st.one_of(
    finite_float32.map(lambda v: fmt(v, "%.9g")),
    st.text(alphabet='0123456789.-+eE nai"x', min_size=0, max_size=6),
)


def read_all(path, fast_path: bool, monkeypatch) -> object:
    with monkeypatch.context() as patch:
        if fast_path:  # every block to the compiled parser, however small
            patch.setattr(tables, "COMPILED_MIN_BYTES", 0)
        else:
            patch.setattr(CsvReader, "_parse_plain", lambda *args: None)
        try:
            chunks = list(CsvReader(path, block_bytes=64))
        except DataError as exc:
            return str(exc)
    return np.concatenate([c.x for c in chunks]).view(np.uint32).tolist(), [
        line for c in chunks for line in c.lines.tolist()
    ]


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=st.lists(st.lists(CELL, min_size=2, max_size=2), min_size=1, max_size=12))
def test_reader_gives_the_same_result_with_and_without_the_fast_path(
    rows, tmp_path_factory, monkeypatch
) -> None:
    path = tmp_path_factory.mktemp("csv") / "in.csv"
    body = io.StringIO()
    body.write("a,b\n")
    for row in rows:
        body.write(",".join(row) + "\n")
    path.write_text(body.getvalue())
    assert read_all(path, True, monkeypatch) == read_all(path, False, monkeypatch)


LINE = st.one_of(
    st.lists(CELL, min_size=2, max_size=2).map(",".join),
    st.tuples(st.text(alphabet=" \t", max_size=3), st.sampled_from(["", "\r"])).map("".join),
)


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(lines=st.lists(LINE, min_size=1, max_size=12), end=st.sampled_from(["", "\n"]))
def test_blank_lines_read_the_same_with_and_without_the_fast_path(
    lines, end, tmp_path_factory, monkeypatch
) -> None:
    path = tmp_path_factory.mktemp("csv") / "in.csv"
    path.write_text("a,b\n" + "\n".join(lines) + end, newline="")
    assert read_all(path, True, monkeypatch) == read_all(path, False, monkeypatch)


def test_blank_lines_do_not_change_the_values(tmp_path, parser_calls) -> None:
    values = np.random.default_rng(2).standard_normal((20000, 2)).astype(np.float32)
    rows = [f"{a:.9g},{b:.9g}" for a, b in values.tolist()]
    plain, blank = tmp_path / "plain.csv", tmp_path / "blank.csv"
    plain.write_text("a,b\n" + "\n".join(rows) + "\n")
    for k in range(100, len(rows), 1000):
        rows[k] += "\n \t"
    blank.write_text("a,b\n" + "\n".join(rows) + "\n  ")
    fast_path = parser_calls
    for path, compiled in ((plain, True), (blank, False)):
        fast_path.clear()
        x = np.concatenate([c.x for c in CsvReader(path)])
        assert fast_path == [compiled]  # one block: the compiled parser, or pyarrow
        assert x.view(np.uint32).tolist() == values.view(np.uint32).tolist()


def test_a_small_file_is_read_without_the_compiled_parser(tmp_path, parser_calls) -> None:
    """Below COMPILED_MIN_BYTES a block goes to pyarrow (a first run need not build the
    parser); above it to the compiled parser; the values are the same bits either way."""
    values = np.random.default_rng(3).standard_normal((9000, 2)).astype(np.float32)
    rows = [f"{a:.9g},{b:.9g}" for a, b in values.tolist()]
    path = tmp_path / "in.csv"
    path.write_text("a,b\n" + "\n".join(rows) + "\n")
    assert path.stat().st_size > tables.COMPILED_MIN_BYTES
    taken = parser_calls
    big = np.concatenate([c.x for c in CsvReader(path)])
    assert taken == [True]
    taken.clear()
    small = np.concatenate([c.x for c in CsvReader(path, block_bytes=4096)])
    assert taken and not any(taken)  # every block below the threshold
    assert big.view(np.uint32).tolist() == values.view(np.uint32).tolist()
    assert small.view(np.uint32).tolist() == values.view(np.uint32).tolist()


def test_a_command_never_waits_for_the_parser_to_be_built(
    tmp_path, monkeypatch, parser_calls
) -> None:
    """Until the compiled parser is built here (``velora warmup``), every block goes to pyarrow,
    however large, and counts its lines without the compiled loop: same bits, no compile."""
    values = np.random.default_rng(4).standard_normal((9000, 2)).astype(np.float32)
    path = tmp_path / "in.csv"
    path.write_text("a,b\n" + "\n".join(f"{a:.9g},{b:.9g}" for a, b in values.tolist()) + "\n")
    assert path.stat().st_size > tables.COMPILED_MIN_BYTES
    assert tables.compiled_parser_takes(path.stat().st_size)  # built (the fixture says so)
    monkeypatch.setattr(cache, "is_ready", lambda group="inference": group != "tables")
    assert not tables.compiled_parser_takes(path.stat().st_size)
    taken = parser_calls

    def no_compiled_count(*args):
        raise AssertionError("the compiled newline counter was called")

    monkeypatch.setattr("velora.kernels.csvparse.count_newlines", no_compiled_count)
    x = np.concatenate([c.x for c in CsvReader(path)])
    assert taken == [False]
    assert x.view(np.uint32).tolist() == values.view(np.uint32).tolist()
