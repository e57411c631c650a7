"""velora.data: chunked CSV reading with exact error positions, exact float32 round trips."""

import io
import math
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.helpers import examples
from velora.errors import DataError
from velora.files.tables import CsvReader, CsvWriter, read_table, write_csv

SETTINGS = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def write(tmp_path: Path, text: str | bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def error_of(path: Path, **options) -> str:
    with pytest.raises(DataError) as info:
        list(CsvReader(path, **options))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


# -- reading ----------------------------------------------------------------------------------


def test_columns_sequences_and_timespans(tmp_path) -> None:
    path = write(tmp_path, "id,t,a,b\nA,0,1,2\nA,0.5,3,4\n\nB,10,5,6\nB,12,7,8\nB,12.25,9,10\n")
    table = read_table(path, sequence_column="id", time_column="t", dt=0.1)
    assert table.x.tolist() == [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]
    assert table.ids == ["A", "B"]
    assert table.starts.tolist() == [0, 2]
    assert table.lines.tolist() == [2, 3, 5, 6, 7]
    np.testing.assert_array_equal(table.timespans, np.float32([0.1, 0.5, 0.1, 2, 0.25]))
    assert table.time.tolist() == [0, 0.5, 10, 12, 12.25]


def test_column_choice(tmp_path) -> None:
    path = write(tmp_path, "a,b,c,d\n1,2,3,4\n")
    assert CsvReader(path).columns == ["a", "b", "c", "d"]
    assert CsvReader(path, time_column="b").columns == ["a", "c", "d"]
    assert CsvReader(path, columns=["d", "a"]).columns == ["d", "a"]
    assert read_table(path, columns=["d", "a"]).x.tolist() == [[4, 1]]
    table = read_table(path, columns=["a"], target_columns=["c", "b"])
    assert table.targets.tolist() == [[3, 2]]


def test_header_is_trimmed_and_may_be_quoted(tmp_path) -> None:
    path = write(tmp_path, '\ufeff"a", b ,"c,d"\r\n1,2,3\r\n')
    reader = CsvReader(path)
    assert reader.header == ["a", "b", "c,d"]
    assert read_table(path).x.tolist() == [[1, 2, 3]]


@pytest.mark.parametrize("block_bytes", [1, 7, 50, 1 << 20])
def test_chunking_does_not_change_the_table(tmp_path, block_bytes) -> None:
    rng = np.random.default_rng(0)
    lengths = [5, 1, 17, 3, 40, 2]
    ids = np.repeat([f"s{i}" for i in range(len(lengths))], lengths)
    n = len(ids)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    t = np.cumsum(rng.uniform(0.01, 1, n))
    path = tmp_path / "seq.csv"
    write_csv(path, ["id", "t", "a", "b", "c"], [ids, t, x[:, 0], x[:, 1], x[:, 2]])
    options = {"sequence_column": "id", "time_column": "t", "dt": 0.5}
    whole = read_table(path, **options)
    chunks = list(CsvReader(path, block_bytes=block_bytes, **options))
    assert np.array_equal(np.concatenate([c.x for c in chunks]), x)
    joined = read_table(path, block_bytes=block_bytes, **options)
    for name in ("x", "lines", "starts", "timespans", "time"):
        assert np.array_equal(getattr(joined, name), getattr(whole, name)), name
    assert joined.ids == whole.ids == [f"s{i}" for i in range(len(lengths))]
    # A chunk ends on a sequence boundary unless one sequence fills it.
    for before, after in pairwise(chunks):
        assert before.open_end or not after.continues


def test_float32_round_trip_is_exact(tmp_path) -> None:
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32)
    values = bits.view(np.float32)
    values = values[np.isfinite(values)]
    special = np.float32([0.0, -0.0, 1e-45, 3.4028235e38, -3.4028235e38, 0.1, 1 / 3])
    values = np.concatenate([values, special])
    path = tmp_path / "f.csv"
    write_csv(path, ["v"], [values])
    back = read_table(path).x[:, 0]
    assert back.view(np.uint32).tolist() == values.view(np.uint32).tolist()


def test_writer_quotes_only_strings_that_need_it() -> None:
    buf = io.BytesIO()
    writer = CsvWriter(buf, ["id", "y"])
    writer.write([np.array(["a", "b"]), np.float32([0.5, 1e-5])])
    writer.write([np.array(["c,d", 'e"']), np.float32([2, -0.0])])
    assert buf.getvalue().decode() == 'id,y\na,0.5\nb,0.00001\n"c,d",2\n"e""",-0\n'


def test_nan_allowed_on_request(tmp_path) -> None:
    path = write(tmp_path, "a,b\nnan,inf\n-inf,1\n")
    x = read_table(path, allow_nan=True).x
    assert math.isnan(x[0, 0]) and x[0, 1] == np.inf and x[1, 0] == -np.inf


# -- errors: one line, file, line number, column ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("", {}, "the file is empty"),
        ("\n\n", {}, "the file is empty"),
        ("1,2,3\n4,5,6\n", {}, "line 1: expected a header row of column names, found numbers"),
        ("a,b\n", {}, "line 1: a header row but no data rows"),
        ("a,b\n\n  \n", {}, "line 1: a header row but no data rows"),
        ("a,b,a\n1,2,3\n", {}, "line 1: duplicate column name 'a' (columns 1 and 3)"),
        ("a,,b\n1,2,3\n", {}, "line 1: column 2 of the header has no name"),
        ("a,b\n1,2\n3\n", {}, "line 3: 1 field(s) but the header has 2 (no value for column 'b')"),
        ("a,b\n1,2\n3,4,5\n", {}, "line 3: 3 field(s) but the header has 2 (extra value"),
        ("a,b\n1,2\n3,x\n", {}, "line 3, column 'b': 'x' is not a number"),
        ("a,b\n1,2\n\n3,\n", {}, "line 4, column 'b': '' is not a number"),
        ("a,b\n1,2\n3,nan\n", {}, "line 3, column 'b': NaN is not allowed"),
        ("a,b\n1,2\n-inf,1\n", {}, "line 3, column 'a': an infinite value"),
        ("a,b\n1,2\n1e39,1\n", {}, "line 3, column 'a': an infinite value"),
        ("a,b\n1,2\n", {"columns": ["a", "c"]}, "line 1: no input column 'c' in the header"),
        ("a,b\n1,2\n", {"time_column": "t"}, "line 1: no time column 't' in the header"),
        ("a,b\n1,2\n", {"n_inputs": 3}, "line 1: 2 input column(s) (a, b) but the network"),
        (
            "id,a\nA,1\nB,2\nA,3\n",
            {"sequence_column": "id"},
            "line 4, column 'id': sequence 'A' appears again after other rows",
        ),
        (
            "t,a\n0,1\n1,2\n1,3\n",
            {"time_column": "t"},
            "line 4, column 't': time 1.0 does not increase (previous row: 1.0)",
        ),
        (
            "t,a\n0,1\n2,2\n1,3\n",
            {"time_column": "t"},
            "line 4, column 't': time 1.0 does not increase (previous row: 2.0)",
        ),
        (
            "t,a\n0,1\nnan,2\n",
            {"time_column": "t"},
            "line 3, column 't': time must be a finite number",
        ),
        ('a,b\n1,2\n"3\n4",5\n', {}, "line 3"),
        (b"a,b\n1,2\n\xff,3\n", {}, "line 3, column 'a'"),
        (b"a,\xff\n1,2\n", {}, "line 1: not UTF-8 text"),
        ("a,b\n1,2\r3,4\n", {}, "line 2: a carriage return inside the line"),
    ],
)
@pytest.mark.parametrize("block_bytes", [3, 1 << 20])
def test_bad_input_names_line_and_column(tmp_path, text, options, expected, block_bytes) -> None:
    path = write(tmp_path, text)
    assert expected in error_of(path, block_bytes=block_bytes, **options)


def test_missing_file_and_folder(tmp_path) -> None:
    assert "no such file" in error_of(tmp_path / "nope.csv")
    assert "is a folder" in error_of(tmp_path)


def test_error_far_into_a_big_block(tmp_path) -> None:
    rows = ["a,b"] + [f"{i},{i * 0.5}" for i in range(20000)]
    rows[15001] = "3,oops"
    path = write(tmp_path, "\n".join(rows) + "\n")
    assert "line 15002, column 'b': 'oops' is not a number" in error_of(path)


def test_non_increasing_time_across_chunks(tmp_path) -> None:
    rows = ["t,a"] + [f"{i},{i}" for i in range(200)]
    rows[150] = "10,1"
    path = write(tmp_path, "\n".join(rows) + "\n")
    for block in (5, 64, 1 << 20):
        message = error_of(path, time_column="t", block_bytes=block)
        assert "line 151, column 't': time 10.0 does not increase (previous row: 148.0)" in message


def test_batch_reading_skips_order_checks(tmp_path) -> None:
    path = write(tmp_path, "id,t,a\nA,2,1\nB,1,2\nA,1,3\n")
    table = read_table(path, sequence_column="id", time_column="t", check_order=False, dt=0.5)
    assert table.x[:, 0].tolist() == [1, 2, 3]
    assert table.timespans.tolist() == [0.5, 0.5, 0.5]
    assert table.sequence_values.to_pylist() == ["A", "B", "A"]


# -- blank lines: nothing but spaces and tabs (and a final \r) is skipped like an empty line ----

BLOCKS = [1, 3, 7, 1 << 20]
BLANKS = [" ", "\t", "  \t ", " \r", "\t\r", ""]


@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize("block_bytes", BLOCKS)
def test_blank_line_is_skipped_in_the_middle(tmp_path, blank, block_bytes) -> None:
    path = write(tmp_path, f"a,b\n1,2\n{blank}\n3,4\n{blank}\n{blank}\n5,6\n")
    table = read_table(path, block_bytes=block_bytes)
    assert table.x.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert table.lines.tolist() == [2, 4, 7]


@pytest.mark.parametrize("blank", [" ", "\t", "  \t ", ""])
@pytest.mark.parametrize("end", ["", "\n", "\r\n", "\r"])
@pytest.mark.parametrize("block_bytes", BLOCKS)
def test_blank_last_line_is_skipped_with_or_without_a_final_newline(
    tmp_path, blank, end, block_bytes
) -> None:
    # The example that used to read as one row without the final newline and fail with it.
    path = write(tmp_path, f"a\n0\n{blank}{end}")
    table = read_table(path, block_bytes=block_bytes)
    assert table.x.tolist() == [[0]]
    assert table.lines.tolist() == [2]


@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize("block_bytes", BLOCKS)
def test_blank_first_data_line_is_skipped(tmp_path, blank, block_bytes) -> None:
    path = write(tmp_path, f"t,a\n{blank}\n{blank}\n0,1\n1,2\n")
    table = read_table(path, time_column="t", block_bytes=block_bytes)
    assert table.x.tolist() == [[1], [2]]
    assert table.lines.tolist() == [4, 5]


@pytest.mark.parametrize("block_bytes", BLOCKS)
def test_blank_lines_with_crlf_line_ends(tmp_path, block_bytes) -> None:
    path = write(tmp_path, "a,b\r\n1,2\r\n \t\r\n\r\n\t\r\n3,4\r\n  \r\n")
    table = read_table(path, block_bytes=block_bytes)
    assert table.x.tolist() == [[1, 2], [3, 4]]
    assert table.lines.tolist() == [2, 6]


@pytest.mark.parametrize("body", [" ", "\t", " \n\t\n", "\n \r\n\t\t\n", "\r\n \r\n", "  \n\n\t\r"])
@pytest.mark.parametrize("block_bytes", [1, 1 << 20])
def test_only_blank_data_lines_mean_no_data_rows(tmp_path, body, block_bytes) -> None:
    message = error_of(write(tmp_path, "a,b\n" + body), block_bytes=block_bytes)
    assert message.endswith("line 1: a header row but no data rows")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a,b\n \n\t\n1,2\n  \n3\n", "line 6: 1 field(s) but the header has 2"),
        ("a,b\n1,2\n\t\n \r\n3,x\n", "line 5, column 'b': 'x' is not a number"),
        ("a,b\n1,2\n\t\n3,4,5\n", "line 4: 3 field(s) but the header has 2 (extra value"),
        ("t,a\n0,1\n \n\n0,2\n", "line 5, column 't': time 0.0 does not increase"),
        ("a\n1\n \n\t\nnan\n", "line 5, column 'a': NaN is not allowed"),
        ("a,b\n1,2\n \n3,4\r5,6\n", "line 4: a carriage return inside the line"),
        ("a,b\n1,2\n \n\t\n3,4\n\t\n1,\n \n", "line 7, column 'b': '' is not a number"),
    ],
)
@pytest.mark.parametrize("block_bytes", BLOCKS)
def test_line_numbers_count_blank_lines(tmp_path, text, expected, block_bytes) -> None:
    options = {"time_column": "t"} if text.startswith("t,") else {}
    assert expected in error_of(write(tmp_path, text), block_bytes=block_bytes, **options)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\n1\n\x0c\n2\n", "line 3, column 'a': '\\x0c' is not a number"),
        ("a\n1\n\x0c", "line 3, column 'a': '\\x0c' is not a number"),
        ("a\n \x0b\n", "line 2, column 'a': ' \\x0b' is not a number"),
        ("a,b\n1,2\n \r \n", "line 3"),
        ("a,b\n1,2\n\r\r\n", "line 3: a carriage return inside the line"),
        ("a\n1\n\r\r", "line 3: a carriage return inside the line"),
    ],
)
@pytest.mark.parametrize("block_bytes", BLOCKS)
def test_other_whitespace_is_not_blank(tmp_path, text, expected, block_bytes) -> None:
    assert expected in error_of(write(tmp_path, text), block_bytes=block_bytes)


@pytest.mark.parametrize("block_bytes", BLOCKS)
def test_spaces_around_numbers_are_not_blank_lines(tmp_path, block_bytes) -> None:
    path = write(tmp_path, "a,b\n 1 ,\t2\n  \n 3,4 \n")
    table = read_table(path, block_bytes=block_bytes)
    assert table.x.tolist() == [[1, 2], [3, 4]]
    assert table.lines.tolist() == [2, 4]


def test_blank_lines_far_into_a_big_block(tmp_path) -> None:
    rows = ["a,b"] + [f"{i},{i * 0.5}" for i in range(20000)]
    for k in range(3, 20000, 997):
        rows[k] = " \t " if k % 2 else ""
    path = write(tmp_path, "\n".join(rows) + "\n\t")
    table = read_table(path)
    kept = [k for k in range(1, 20001) if rows[k].strip(" \t")]
    assert table.lines.tolist() == [k + 1 for k in kept]
    assert table.x[:, 0].tolist() == [k - 1 for k in kept]
    rows[15001] = "3,oops"
    path = write(tmp_path, "\n".join(rows) + "\n")
    assert "line 15002, column 'b': 'oops' is not a number" in error_of(path)


# -- properties -------------------------------------------------------------------------------

finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@SETTINGS
@given(
    data=st.lists(st.tuples(st.integers(0, 3), finite32, finite32), min_size=1, max_size=60),
    block_bytes=st.integers(1, 200),
)
def test_property_round_trip_any_chunking(tmp_path, data, block_bytes) -> None:
    group = [g for g, _, _ in data]
    # Contiguous sequences: renumber runs of equal group numbers.
    ids = []
    run = 0
    for i, g in enumerate(group):
        if i and g != group[i - 1]:
            run += 1
        ids.append(f"s{run}")
    x = np.float32([[a, b] for _, a, b in data])
    path = tmp_path / "p.csv"
    write_csv(path, ["id", "a", "b"], [np.array(ids), x[:, 0], x[:, 1]], force=True)
    table = read_table(path, sequence_column="id", block_bytes=block_bytes)
    assert table.x.view(np.uint32).tolist() == x.view(np.uint32).tolist()
    assert table.ids == sorted(set(ids), key=ids.index)
    assert table.lines.tolist() == list(range(2, len(ids) + 2))


ALPHABET = '0123456789.,-+e\n\r"ab x\t'


def chunks_or_none(path: Path, **options) -> list | None:
    """The chunks of a file, or None when reading stops with a clean one-line error."""
    try:
        return list(CsvReader(path, **options))
    except DataError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path))
        return None


@SETTINGS
@given(
    header=st.sampled_from(["a,b\n", "a,b,c\n", "", "a\n", "t,a\n"]),
    body=st.text(alphabet=ALPHABET, max_size=80),
    block_bytes=st.integers(1, 64),
    time=st.booleans(),
)
# A blank line was skipped at the end of a block without a final newline, an error elsewhere.
@example(header="a\n", body="0\n\t", block_bytes=1, time=False)
@example(header="a\n", body="0\n\t\n", block_bytes=1, time=False)
@example(header="a,b\n", body="1,2\n  \n3,4\n", block_bytes=3, time=False)
def test_property_random_text_reads_or_fails_cleanly(tmp_path, header, body, block_bytes, time):
    path = write(tmp_path, header + body, "r.csv")
    options = {"time_column": "t"} if time and header.startswith("t,") else {}
    chunks = chunks_or_none(path, block_bytes=block_bytes, **options)
    # The block size changes nothing: one block reads the same rows, or fails too.
    whole = chunks_or_none(path, block_bytes=1 << 20, **options)
    assert (chunks is None) == (whole is None)
    if chunks is None:
        return
    # Success: every line that is neither empty nor blank (spaces and tabs, perhaps a final
    # carriage return) is one row of numbers, in order.
    lines = (header + body).split("\n")[1:]
    expected = [i + 2 for i, ln in enumerate(lines) if ln.removesuffix("\r").strip(" \t")]
    for got in (chunks, whole):
        assert [int(v) for c in got for v in c.lines] == expected
        for c in got:
            assert c.x.dtype == np.float32 and np.isfinite(c.x).all()
    x = np.concatenate([c.x for c in chunks])
    assert x.tobytes() == np.concatenate([c.x for c in whole]).tobytes()


@SETTINGS
@given(
    lines=st.lists(
        st.one_of(st.tuples(finite32, finite32), st.text(alphabet=" \t", max_size=3)),
        min_size=1,
        max_size=30,
    ),
    newline=st.sampled_from(["\n", "\r\n"]),
    end=st.sampled_from(["", "\n", "\r\n", "\r"]),
    block_bytes=st.integers(1, 64),
)
def test_property_blank_lines_are_skipped_anywhere(tmp_path, lines, newline, end, block_bytes):
    cells = [line if isinstance(line, str) else f"{line[0]!r},{line[1]!r}" for line in lines]
    path = write(tmp_path, newline.join(["a,b", *cells]) + end, "b.csv")
    rows = [(i + 2, line) for i, line in enumerate(lines) if not isinstance(line, str)]
    if not rows:
        assert error_of(path, block_bytes=block_bytes).endswith("a header row but no data rows")
        return
    table = read_table(path, block_bytes=block_bytes)
    assert table.lines.tolist() == [n for n, _ in rows]
    x = np.float32([line for _, line in rows])
    assert table.x.view(np.uint32).tolist() == x.view(np.uint32).tolist()


# ---- targets and elapsed times that cannot work ------------------------------------------------


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"time_column": "t", "target_columns": ["t"]}, "'t' cannot be both a target and the time"),
        ({"sequence_column": "id", "target_columns": ["id"]}, "both a target and the sequence"),
        ({"target_columns": ["y", "y"]}, "target columns repeat a name: y, y"),
    ],
)
def test_impossible_targets_are_refused(tmp_path: Path, options: dict, words: str) -> None:
    path = write(tmp_path, "id,t,x,y\nA,0,1,2\nA,1,3,4\n")
    with pytest.raises(DataError, match=words):
        CsvReader(path, columns=["x"], **options)


def test_only_inputs_may_be_let_through_when_not_finite(tmp_path: Path) -> None:
    path = write(tmp_path, "x,y\n1,nan\n")
    with pytest.raises(DataError, match=r"line 2, column 'y': NaN is not allowed") as caught:
        read_table(path, columns=["x"], target_columns=["y"])
    assert caught.value.parameter is None  # no flag lets a NaN target through
    path = write(tmp_path, "x,y\nnan,1\n", name="input.csv")
    with pytest.raises(DataError, match="NaN is not allowed") as caught:
        read_table(path, columns=["x"], target_columns=["y"])
    assert caught.value.parameter == "allow_nan"


@pytest.mark.parametrize("dt", [1e39, float("inf"), float("nan"), 0.0, -1.0])
def test_dt_must_fit_float32(tmp_path: Path, dt: float) -> None:
    path = write(tmp_path, "x\n1\n")
    with pytest.raises(DataError, match=r"dt: expected a positive number of at most 3\.403e\+38"):
        CsvReader(path, dt=dt)


def test_elapsed_times_beyond_float32_are_refused_quietly(tmp_path: Path, recwarn) -> None:
    path = write(tmp_path, "t,x\n-1e300,1\n1e300,2\n")
    with pytest.raises(DataError, match=r"line 3, column 't': the time elapsed .* beyond float32"):
        read_table(path, time_column="t")
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


# ---- delimiters and line ends -----------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters_read_like_commas(tmp_path: Path, delimiter: str) -> None:
    text = "id,t,x,y\nA,0,1.5,-2\nA,0.5,3,4e-3\nB,0,5,6\n"
    plain = read_table(write(tmp_path, text), sequence_column="id", time_column="t")
    other = read_table(
        write(tmp_path, text.replace(",", delimiter), name="other.csv"),
        sequence_column="id",
        time_column="t",
        delimiter=delimiter,
    )
    assert np.array_equal(plain.x, other.x) and plain.ids == other.ids
    assert np.array_equal(plain.timespans, other.timespans)


def test_a_semicolon_file_read_with_commas_gets_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "episode;t;x\nA;0;1\n")
    with pytest.raises(DataError, match=r"holds ';' but no ','") as caught:
        CsvReader(path, columns=["x"])
    assert caught.value.parameter == "delimiter"
    path = write(tmp_path, "episode\tt\tx\nA\t0\t1\n", name="tabs.csv")
    with pytest.raises(DataError, match="holds a tab but no ','"):
        CsvReader(path, time_column="t")


@pytest.mark.parametrize("delimiter", ["", ";;", '"', "\n", "a", "1"])
def test_bad_delimiters_are_refused(tmp_path: Path, delimiter: str) -> None:
    with pytest.raises(DataError, match="delimiter: expected one character") as caught:
        CsvReader(write(tmp_path, "x\n1\n"), delimiter=delimiter)
    assert caught.value.parameter == "delimiter"


def test_bare_carriage_returns_get_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"line 1: lines end in bare carriage returns"):
        CsvReader(write(tmp_path, b"a,b\r1,2\r3,4\r"))


NUMBERS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
BOOLS = [True, False, True, True, False, False, False, False, True, False]


@pytest.mark.parametrize(
    ("values", "kind"),
    [(NUMBERS, k) for k in ("int8", "uint16", "int32", "int64", "float32", "float64")]
    + [([1.5, -2.0, 3.25, 1e30], "float64"), (BOOLS, "bool")],
)
def test_arrow_and_numpy_convert_as_pyarrow_does(values, kind):
    """velora's conversions (which spare the import of pandas) give pyarrow's own results,
    for slices (an offset) and several chunks too; nulls go through pyarrow."""
    import pyarrow as pa

    from velora.files.chunks import arrow_numpy, numpy_arrow

    array = pa.array(values, type=pa.type_for_alias(kind))
    for piece in (array, array.slice(3), pa.chunked_array([array, array.slice(2)])):
        got = arrow_numpy(piece)
        expected = piece.to_numpy(zero_copy_only=False)
        assert got.dtype == expected.dtype and np.array_equal(got, expected)
    back = numpy_arrow(array.to_numpy(zero_copy_only=False))
    assert back.equals(array)
    with_nulls = pa.array([1.0, None, 3.0])
    expected = with_nulls.to_numpy(zero_copy_only=False)
    assert np.array_equal(arrow_numpy(with_nulls), expected, equal_nan=True)


@pytest.mark.parametrize(
    "ids", [["a", "a", "b", "b", "b", "c", "a"], [1, 1, 2, 3, 3, 1], ["only"], ["é", "e", "e"]]
)
def test_sequence_changes_are_found_alike_in_python_and_in_pyarrow(ids, monkeypatch):
    """Short chunks compare their ids in Python (no pyarrow.compute to import), long ones with
    pyarrow.compute: the same changes."""
    import pyarrow as pa

    from velora.files import chunks

    values = pa.array(ids)
    short = chunks.pc_not_equal(values)
    monkeypatch.setattr(chunks, "_COMPUTE_MIN_IDS", 0)
    long = chunks.pc_not_equal(values)
    expected = [a != b for a, b in zip(ids[1:], ids[:-1], strict=True)]
    assert short.dtype == long.dtype == bool
    assert short.tolist() == long.tolist() == expected


@pytest.mark.parametrize("ids", [["a", "b", "é"], [7, -3, 2**40], [0.5, 2.0, 1e20]])
def test_sequence_ids_read_alike_in_python_and_in_pyarrow(ids, monkeypatch):
    import numpy as np
    import pyarrow as pa

    from velora.files import chunks

    values, rows = pa.array(ids), np.array([2, 0], dtype=np.int64)
    short = chunks._ids_at(values, rows)
    monkeypatch.setattr(chunks, "_COMPUTE_MIN_IDS", 0)
    assert short == chunks._ids_at(values, rows) == chunks._texts(values.take(pa.array(rows)))


def test_wide_rows_are_written_in_slices_to_the_same_bytes(monkeypatch) -> None:
    """CsvWriter formats at most FORMAT_VALUES values at a time (a run's hidden state makes
    rows thousands of values wide); the bytes equal one piece's, whatever the slice size, with
    string columns (one needing quotes in a single row) and Arrow arrays among the columns."""
    import pyarrow as pa

    from velora.files import tables

    rng = np.random.default_rng(5)
    rows = 37
    ids = np.array([f"seq{i // 5}" for i in range(rows)], dtype=object)
    ids[23] = 'needs, "quotes"'
    columns = [
        ids,
        pa.array(np.arange(rows, dtype=np.float64) * 0.1),
        *rng.standard_normal((rows, 6)).astype(np.float32).T,
    ]
    whole = tables.format_rows(columns)
    assert b'"needs, ""quotes"""' in whole
    for values in (1, 8, 9, 50, 10_000):
        monkeypatch.setattr(tables, "FORMAT_VALUES", values)
        buf = io.BytesIO()
        writer = CsvWriter(buf, [f"c{i}" for i in range(len(columns))])
        writer.write(columns)
        assert writer.rows == rows
        header, _, body = buf.getvalue().partition(b"\n")
        assert header.startswith(b"c0,c1")
        assert body == whole
