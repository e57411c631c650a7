"""The inputs users have: `-i -` and MODEL `-` (real processes, standard input redirected), a
FIFO as process substitution gives it, compressed CSV, Parquet and Arrow, Parquet out, and
`--delimiter` on run, train and eval. Every format gives byte for byte the CSV file's output."""

import bz2
import gzip
import lzma
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from tests.helpers import ROOT, make_sequences
from velora_cli.main import main_exit_code

SEQ = ["--sequence-column", "id", "--time-column", "t"]


def velora(*args: object, stdin: Path | bytes, cwd: Path) -> subprocess.CompletedProcess:
    """The command as a process of its own; standard input redirected from a file (a path) or
    a pipe fed ``stdin`` (bytes)."""
    code = "import sys; from velora_cli.main import run; sys.argv[0] = 'velora'; run()"
    with open(stdin if isinstance(stdin, Path) else os.devnull, "rb") as source:
        return subprocess.run(
            [sys.executable, "-c", code, *map(str, args)],
            stdin=source if isinstance(stdin, Path) else None,
            input=stdin if isinstance(stdin, bytes) else None,
            capture_output=True,
            cwd=cwd,
            timeout=300,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return make_sequences(tmp_path, [7, 1, 30, 12, 60])[0]


@pytest.fixture
def expected(tmp_path: Path, spec: Path, data: Path) -> bytes:
    """What `velora run` writes for the CSV file itself."""
    out = tmp_path / "expected.csv"
    assert main_exit_code(["run", str(spec), "-i", str(data), "-o", str(out), *SEQ, "-q"]) == 0
    return out.read_bytes()


def run(*args: object) -> int:
    return main_exit_code(["run", *map(str, args), "-q"])


# -- standard input and pipes ----------------------------------------------------------------


@pytest.mark.parametrize(("path", "how"), [("-", "pipe"), ("-", "file"), ("/dev/stdin", "pipe")])
def test_input_from_standard_input(tmp_path, spec, data, expected, path, how) -> None:
    stdin = data.read_bytes() if how == "pipe" else data
    done = velora("run", spec, "-i", path, "-o", "out.csv", *SEQ, stdin=stdin, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.csv").read_bytes() == expected


def test_model_from_standard_input(tmp_path, spec, data, expected) -> None:
    ckpt = tmp_path / "tiny.safetensors"
    assert main_exit_code(["export", str(spec), "-o", str(ckpt)]) == 0
    for model in (spec, ckpt):  # a spec, then a checkpoint: told apart by content
        piped = model.read_bytes()
        done = velora("run", "-", "-i", data, "-o", "-", *SEQ, "-q", stdin=piped, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout == expected
    done = velora("validate", "/dev/stdin", stdin=spec.read_bytes(), cwd=tmp_path)
    assert done.returncode == 0 and b"/dev/stdin: valid spec" in done.stdout


def fifo_of(tmp_path: Path, data: bytes, name: str) -> Path:
    """A named pipe fed ``data`` once opened: what `<(...)` hands a command."""
    path = tmp_path / name
    os.mkfifo(path)

    def feed() -> None:
        try:
            with open(path, "wb") as writer:
                writer.write(data)
        except BrokenPipeError:
            pass

    threading.Thread(target=feed, daemon=True).start()
    return path


def test_input_and_model_from_named_pipes(tmp_path, spec, data, expected) -> None:
    model = fifo_of(tmp_path, spec.read_bytes(), "model.fifo")
    table = fifo_of(tmp_path, gzip.compress(data.read_bytes()), "input.fifo")
    assert run(model, "-i", table, "-o", tmp_path / "out.csv", *SEQ) == 0
    assert (tmp_path / "out.csv").read_bytes() == expected


# -- compressed CSV, Parquet and Arrow, by content -------------------------------------------


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zst"])
def test_compressed_csv_gives_the_same_output(tmp_path, spec, data, expected, kind) -> None:
    raw = data.read_bytes()
    packed = {
        "gz": lambda: gzip.compress(raw),
        "bz2": lambda: bz2.compress(raw),
        "xz": lambda: lzma.compress(raw),
        "zst": lambda: pa.Codec("zstd").compress(raw, asbytes=True),
    }[kind]()
    path = tmp_path / f"in.csv.{kind}"
    path.write_bytes(packed)
    assert run(spec, "-i", path, "-o", tmp_path / "out.csv", *SEQ) == 0
    assert (tmp_path / "out.csv").read_bytes() == expected


def columnar(data: Path) -> pa.Table:
    """The CSV file as typed columns: float32 inputs, as the network reads them."""
    types = {"id": pa.string(), "t": pa.float64(), **{c: pa.float32() for c in "abc"}}
    return pacsv.read_csv(data, convert_options=pacsv.ConvertOptions(column_types=types))


@pytest.mark.parametrize("kind", ["parquet", "feather", "arrow stream"])
def test_parquet_and_arrow_give_the_same_output(tmp_path, spec, data, expected, kind) -> None:
    table = columnar(data)
    path = tmp_path / "in.table"  # no telling suffix: the content says what it is
    if kind == "parquet":
        pq.write_table(table, path, row_group_size=25)
    elif kind == "feather":
        feather.write_feather(table, path, chunksize=25)
    else:
        with ipc.new_stream(path, table.schema) as writer:
            writer.write_table(table, max_chunksize=25)
    assert run(spec, "-i", path, "-o", tmp_path / "out.csv", *SEQ) == 0
    assert (tmp_path / "out.csv").read_bytes() == expected
    assert run(spec, "-i", path, "-o", tmp_path / "batch.csv", *SEQ, "--mode", "batch") == 0


def test_parquet_output_holds_the_csv_output(tmp_path, spec, data, expected) -> None:
    out = tmp_path / "out.parquet"
    assert run(spec, "-i", data, "-o", out, *SEQ, "--hidden") == 0
    assert run(spec, "-i", data, "-o", tmp_path / "out.csv", *SEQ, "--hidden") == 0
    got = pq.read_table(out)
    want = pacsv.read_csv(tmp_path / "out.csv")
    assert got.column_names == want.column_names
    assert got["y0"].type == pa.float32() and got["t"].type == pa.float64()
    assert got["id"].to_pylist() == want["id"].to_pylist()
    for name in got.column_names[1:]:  # float32 written as float32: the same numbers
        values = got[name].to_numpy()
        assert np.array_equal(values, want[name].to_numpy().astype(values.dtype))


# -- delimiters ------------------------------------------------------------------------------


def test_delimiter_on_run_train_and_eval(tmp_path, spec, data, expected, capsys) -> None:
    semi = tmp_path / "semi.csv"
    semi.write_text(data.read_text().replace(",", ";"))
    assert run(spec, "-i", semi, "-o", tmp_path / "a.csv", *SEQ) == 2
    assert "the header holds ';' but no ',' (see --delimiter)" in capsys.readouterr().err
    assert run(spec, "-i", semi, "-o", tmp_path / "a.csv", *SEQ, "--delimiter", ";") == 0
    assert (tmp_path / "a.csv").read_bytes() == expected
    tabs = tmp_path / "tabs.tsv"
    tabs.write_text(data.read_text().replace(",", "\t"))
    assert run(spec, "-i", tabs, "-o", tmp_path / "b.csv", *SEQ, "--delimiter", "tab") == 0
    assert (tmp_path / "b.csv").read_bytes() == expected
    assert run(spec, "-i", tabs, "-o", tmp_path / "c.csv", "--delimiter", "ab") == 2
    assert "--delimiter: expected one character" in capsys.readouterr().err

    # Training: inputs a, b, c; targets p, q (copies of a and b, which the network can learn).
    lines = data.read_text().splitlines()
    rows = [line + "," + ",".join(line.split(",")[2:4]) for line in lines[1:]]
    semi.write_text(";".join([*lines[0].split(","), "p", "q"]) + "\n")
    semi.write_text(semi.read_text() + "\n".join(r.replace(",", ";") for r in rows) + "\n")
    model = tmp_path / "m.safetensors"
    argv = ["train", str(spec), "-d", str(semi), "-t", "p,q", *SEQ, "-o", str(model), "-q"]
    assert main_exit_code([*argv, "--epochs", "1"]) == 2
    assert main_exit_code([*argv, "--delimiter", "semicolon", "--val", str(semi)]) == 0
    capsys.readouterr()
    argv = ["eval", str(model), "-i", str(semi), *SEQ, "--delimiter", ";", "--json"]
    assert main_exit_code(argv) == 0
    assert '"rows": 110' in capsys.readouterr().out
