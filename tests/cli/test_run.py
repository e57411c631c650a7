"""`velora run`: outputs equal forward_sequence, chunking changes nothing, bad input fails
cleanly with nothing written.

`spec` (a tiny spec file) and `net` (its network) are in tests/conftest.py.
"""

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import TINY_SPEC, examples, make_sequences, reference
from velora.files.loading import load_model
from velora.files.tables import read_table, write_csv
from velora_cli.main import main_exit_code

NAMED_SPEC = TINY_SPEC.replace("name: tiny", "name: named") + "inputs: [p, q, r]\noutputs: [u, v]\n"


def cli(*argv: str) -> int:
    return main_exit_code(["run", *map(str, argv)])


def out_table(path: Path, n_out: int = 2, skip: int = 0) -> np.ndarray:
    text = path.read_text().splitlines()
    rows = [line.split(",") for line in text[1:]]
    return np.float32([[float(v) for v in row[skip : skip + n_out]] for row in rows])


# -- the CLI equals the library ---------------------------------------------------------------


def test_sequence_mode_equals_forward_sequence(tmp_path, spec, net) -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((500, 3)).astype(np.float32)
    data = tmp_path / "in.csv"
    write_csv(data, ["a", "b", "c"], [x[:, 0], x[:, 1], x[:, 2]])
    out = tmp_path / "out.csv"
    assert cli(spec, "--input", data, "--output", out, "--quiet") == 0
    assert out.read_text().splitlines()[0] == "y0,y1"
    y, _ = reference(net, x)
    assert np.array_equal(out_table(out), y)


def test_multi_sequence_with_time_equals_forward_sequence(tmp_path, spec, net) -> None:
    path, d = make_sequences(tmp_path, [7, 1, 30, 12, 12, 4, 60])
    out = tmp_path / "out.csv"
    argv = [spec, "-i", path, "-o", out, "--sequence-column", "id", "--time-column", "t"]
    assert cli(*argv, "--dt", "0.25", "--quiet") == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "id,t,y0,y1"
    assert [row.split(",")[0] for row in lines[1:]] == list(d["ids"])
    assert np.array_equal(np.float64([row.split(",")[1] for row in lines[1:]]), d["t"])
    got = out_table(out, skip=2)
    lo = 0
    for n in d["lengths"]:
        t = d["t"][lo : lo + n]
        ts = np.concatenate([[0.25], np.diff(t)])
        y, _ = reference(net, d["x"][lo : lo + n], ts)
        assert np.array_equal(got[lo : lo + n], y)
        lo += n


def test_multi_sequence_without_time_uses_dt(tmp_path, spec, net) -> None:
    path, d = make_sequences(tmp_path, [5, 9, 2], time=False)
    out = tmp_path / "out.csv"
    assert cli(spec, "-i", path, "-o", out, "--sequence-column", "id", "--dt", "0.5") == 0
    got = out_table(out, skip=1)
    lo = 0
    for n in d["lengths"]:
        y, _ = reference(net, d["x"][lo : lo + n], np.full(n, 0.5))
        assert np.array_equal(got[lo : lo + n], y)
        lo += n


def test_batch_mode_runs_each_row_alone(tmp_path, spec, net) -> None:
    path, d = make_sequences(tmp_path, [40], time=True)
    out = tmp_path / "out.csv"
    argv = [spec, "-i", path, "-o", out, "--mode", "batch", "--time-column", "t"]
    assert cli(*argv, "--columns", "a,b,c", "--hidden") == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "t,y0,y1," + ",".join(f"h{i}" for i in range(net.n_units))
    got = np.float32([[float(v) for v in row.split(",")[1:]] for row in lines[1:]])
    for i, row in enumerate(d["x"]):
        y, h = reference(net, row[None])
        assert np.array_equal(got[i, :2], y[0])
        assert np.array_equal(got[i, 2:], h)


def test_hidden_states_are_the_states_after_each_row(tmp_path, spec, net) -> None:
    path, d = make_sequences(tmp_path, [6, 3])
    out = tmp_path / "out.csv"
    argv = [spec, "-i", path, "-o", out, "--sequence-column", "id", "--time-column", "t"]
    assert cli(*argv, "--hidden") == 0
    rows = [line.split(",") for line in out.read_text().splitlines()[1:]]
    got = np.float32([[float(v) for v in row[2:]] for row in rows])
    lo = 0
    for n in d["lengths"]:
        t = d["t"][lo : lo + n]
        ts = np.concatenate([[1.0], np.diff(t)])
        h = None
        for k in range(n):
            y, h = reference(net, d["x"][lo + k : lo + k + 1], ts[k : k + 1], h)
            assert np.array_equal(got[lo + k, :2], y[0])
            assert np.array_equal(got[lo + k, 2:], h)
            h = h[None]
        lo += n


def test_spec_names_choose_inputs_and_name_outputs(tmp_path) -> None:
    spec = tmp_path / "named.yaml"
    spec.write_text(NAMED_SPEC)
    net = load_model(spec)[0]
    rng = np.random.default_rng(2)
    x = rng.standard_normal((20, 3)).astype(np.float32)
    data = tmp_path / "in.csv"
    write_csv(data, ["r", "extra", "p", "q"], [x[:, 2], x[:, 0], x[:, 0], x[:, 1]])
    out = tmp_path / "out.csv"
    assert cli(spec, "-i", data, "-o", out) == 0
    assert out.read_text().splitlines()[0] == "u,v"
    assert np.array_equal(out_table(out), reference(net, x)[0])


def test_stdout_is_the_default_output(tmp_path, spec, net, capsysbinary) -> None:
    data = tmp_path / "in.csv"
    data.write_text("a,b,c\n1,2,3\n4,5,6\n")
    assert cli(spec, "-i", data, "--quiet") == 0
    captured = capsysbinary.readouterr()
    lines = captured.out.decode().splitlines()
    assert lines[0] == "y0,y1" and len(lines) == 3
    assert captured.err == b""
    y, _ = reference(net, np.float32([[1, 2, 3], [4, 5, 6]]))
    assert np.array_equal(np.float32([[float(v) for v in ln.split(",")] for ln in lines[1:]]), y)


# -- chunking ---------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--hidden"]])
def test_chunking_invariance_cli(tmp_path, spec, extra) -> None:
    path, _ = make_sequences(tmp_path, [3, 50, 1, 80, 8, 8, 8, 200])
    outs = []
    for chunk in ("5", "64", "700", str(16 << 20)):
        out = tmp_path / f"out{chunk}.csv"
        argv = [spec, "-i", path, "-o", out, "--sequence-column", "id", "--time-column", "t"]
        assert cli(*argv, "--chunk-bytes", chunk, *extra) == 0
        outs.append(out.read_bytes())
    assert all(o == outs[0] for o in outs[1:])


# -- bad input: message, exit code, nothing written -------------------------------------------


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize(
    ("text", "args", "expected"),
    [
        ("", [], "the file is empty"),
        ("1,2,3\n", [], "line 1: expected a header row"),
        ("a,b,c\n", [], "line 1: a header row but no data rows"),
        ("a,b,a\n1,2,3\n", [], "line 1: duplicate column name 'a'"),
        ("a,b,c\n1,2,3\n4,5\n", [], "line 3: 2 field(s) but the header has 3"),
        ("a,b,c\n1,2,3\n4,five,6\n", [], "line 3, column 'b': 'five' is not a number"),
        ("a,b,c\n1,2,3\n4,nan,6\n", [], "line 3, column 'b': NaN is not allowed"),
        ("a,b,c\n1,2,3\n4,5,inf\n", [], "line 3, column 'c': an infinite value"),
        ("a,b,c\n1,2,3\n", ["--columns", "a,b,x"], "line 1: no input column 'x'"),
        ("a,b\n1,2\n", [], "line 1: 2 input column(s) (a, b) but the network takes 3"),
        ("a,b,c,d\n1,2,3,4\n", [], "line 1: 4 input column(s) (a, b, c, d)"),
        (
            "id,a,b,c\nA,1,2,3\nB,1,2,3\nA,1,2,3\n",
            ["--sequence-column", "id"],
            "line 4, column 'id': sequence 'A' appears again",
        ),
        (
            "t,a,b,c\n0,1,2,3\n1,1,2,3\n0.5,1,2,3\n",
            ["--time-column", "t"],
            "line 4, column 't': time 0.5 does not increase (previous row: 1.0)",
        ),
        ("a,b,c\n1,2,3\n", ["--time-column", "t"], "line 1: no time column 't'"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_output(
    tmp_path, spec, capsys, text, args, expected
) -> None:
    data = tmp_path / "data.csv"
    data.write_text(text)
    out = tmp_path / "out.csv"
    plot = tmp_path / "out.png"
    assert cli(spec, "-i", data, "-o", out, "--plot", plot, "--chunk-bytes", "4", *args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: {data}")
    assert expected in err
    assert not out.exists() and not plot.exists()
    assert leftovers(tmp_path) == []


def test_nan_passes_with_allow_nan(tmp_path, spec) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b,c\n1,2,3\n4,nan,6\n7,8,9\n")
    out = tmp_path / "out.csv"
    assert cli(spec, "-i", data, "-o", out, "--allow-nan") == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 4 and lines[2].startswith("nan")


def test_missing_input_and_model(tmp_path, spec, capsys) -> None:
    out = tmp_path / "out.csv"
    assert cli(spec, "-i", tmp_path / "none.csv", "-o", out) == 2
    assert "none.csv: no such file" in capsys.readouterr().err
    assert cli(tmp_path / "none.yaml", "-i", tmp_path / "none.csv", "-o", out) == 2
    assert not out.exists()


def test_existing_output_needs_force(tmp_path, spec, capsys) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b,c\n1,2,3\n")
    out = tmp_path / "out.csv"
    out.write_text("keep me")
    assert cli(spec, "-i", data, "-o", out) == 2
    assert "already exists (use --force to overwrite)" in capsys.readouterr().err
    assert out.read_text() == "keep me"
    assert cli(spec, "-i", data, "-o", out, "--force") == 0
    assert out.read_text().startswith("y0,y1\n")


def test_usage_errors_exit_2(tmp_path, spec) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b,c\n1,2,3\n")
    out = tmp_path / "out.csv"
    assert cli(spec, "-i", data, "-o", out, "--dt", "0") == 2
    assert cli(spec, "-i", data, "-o", out, "--mode", "sideways") == 2
    assert cli(spec, "-i", data, "-o", out, "--columns", "a,,b") == 2
    assert cli(spec, "-i", data, "-o", out, "--plot", tmp_path / "p.txt") == 2
    assert not out.exists()


def test_interrupt_leaves_nothing(tmp_path, spec, monkeypatch) -> None:
    path, _ = make_sequences(tmp_path, [50, 50, 50])
    out = tmp_path / "out.csv"
    import velora.inference as inference

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(inference, "_run_group", boom)
    argv = [spec, "-i", path, "-o", out, "--sequence-column", "id", "--time-column", "t"]
    code = cli(*argv, "--chunk-bytes", "200")
    assert code == 130
    assert not out.exists() and leftovers(tmp_path) == []


def test_plot_is_written(tmp_path, spec) -> None:
    path, _ = make_sequences(tmp_path, [30, 20, 10, 10, 10])
    out, plot = tmp_path / "out.csv", tmp_path / "run.png"
    argv = [spec, "-i", path, "-o", out, "--sequence-column", "id", "--time-column", "t"]
    assert cli(*argv, "--plot", plot) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- property: random CSV text runs correctly or fails with the clear error --------------------

ALPHABET = '0123456789.,-e\n"abcx '


@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.text(alphabet=ALPHABET, max_size=60),
    header=st.sampled_from(["a,b,c\n", "id,a,b,c\n", "a,b\n", ""]),
    chunk=st.integers(1, 40),
)
def test_property_cli_runs_or_fails_cleanly(tmp_path, spec, net, capsys, body, header, chunk):
    data = tmp_path / "p.csv"
    data.write_text(header + body)
    out = tmp_path / "p_out.csv"
    out.unlink(missing_ok=True)
    argv = [spec, "-i", data, "-o", out, "--chunk-bytes", chunk, "--quiet"]
    if header.startswith("id,"):
        argv += ["--sequence-column", "id"]
    code = cli(*argv)
    err = capsys.readouterr().err
    assert code in (0, 2), err
    if code == 2:
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
        assert not out.exists()
        return
    table = read_table(data, sequence_column="id" if header.startswith("id,") else None)
    got = out_table(out, skip=1 if header.startswith("id,") else 0)
    bounds = np.append(table.starts, table.rows)
    for lo, hi in pairwise(bounds):
        assert np.array_equal(got[lo:hi], reference(net, table.x[lo:hi])[0])
