"""The adversarial catalogue: every hostile input a user can hand a command, as one table.

Each row makes its input under ``tmp_path`` and gives the command line; one test runs every row
and checks the promises: the exit code; for an error exactly one line on stderr (no traceback,
no warning, of bounded length) holding the expected words, and nothing on stdout (not even a
CSV header); and nothing left behind: no new file besides the outputs of a command that
succeeds, no temporary file, every entry that was there before the same (a file byte for byte,
a link and a special file as they were). A row runs in-process through ``main_exit_code``, in a
process of its own only where the case needs one (standard input, a closed standard output).

Cases that are not one command line, or that are checked more closely, live elsewhere:

- SIGTERM and SIGHUP: tests/cli/test_signals.py; Ctrl-C: ``test_interrupt_leaves_nothing`` in
  tests/cli/test_run.py and ``test_interrupt_keeps_the_best_epoch`` in tests/cli/test_train.py.
- Two processes racing on one new output: ``test_the_loser_of_a_race_gets_a_clear_error`` in
  tests/files/test_atomic.py, and tests/inference/test_run_model_file.py.
- A full disk or a read-only file system under a regular file: tests/files/test_atomic.py, the
  file-system error simulated (a tiny or read-only file system needs root to mount); here
  ``/dev/full`` stands for a full disk.
- Standard input and ``/dev/stdin`` that work (a table, a spec, a checkpoint), and the same
  results from pipes, compressed CSV, Parquet, Arrow and other delimiters as from the plain
  CSV file, byte for byte: tests/cli/test_table_inputs.py (here such inputs only run cleanly).
- A device, a named pipe or a socket as an output, through the library: tests/files/test_atomic.py.
- A bad checkpoint refused by a real process, and its exact line:
  tests/cli/test_checkpoint_errors.py; the library's errors for the same files:
  tests/files/test_checkpoint.py; a checkpoint of velora 0.1 loading with its metadata "not
  covered": tests/cli/test_inspect.py.
- The memory estimate against measured peaks: tests/cli/test_memory_peaks.py; absurd values
  through the library: tests/spec/test_absurd_values.py; the CSV reader's own rules (bare
  carriage returns, float32 times, targets): tests/files/test_tables.py.
"""

import bz2
import functools
import gzip
import lzma
import os
import socket
import stat
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
import torch

from tests.helpers import BAD, EXAMPLE, ROOT, TINY_SPEC, make_bad, make_sequences
from velora.files import checkpoint
from velora.files.loading import load_model
from velora.spec import load_spec
from velora_cli.console import MAX_ERROR_CHARS
from velora_cli.main import main_exit_code

PENDULUM = ROOT / "examples" / "pendulum.yaml"
OSCILLATOR = ROOT / "examples" / "oscillator.yaml"
SEQ = ["--sequence-column", "id", "--time-column", "t"]
RUN_SEQ = ["--sequence-column", "run", "--time-column", "t"]
STDIN = "stdin"  # the file a row's setup writes for a process's standard input


@dataclass(frozen=True)
class Case:
    """One hostile input: how to make it, and what the command must do with it."""

    name: str
    setup: Callable[[Path], list]  # makes the input in the folder; the command line
    code: int  # the exit code
    words: tuple[str, ...] = ()  # in the one stderr line ("{tmp}": the folder); none: no stderr
    new: tuple[str, ...] = ()  # files the command may add to the folder (its outputs)
    absent: tuple[str, ...] = ()  # not in that line
    out: str | None = ""  # stdout holds this ("": nothing at all); None: not checked
    via: str = "in-process"  # or a process: "stdin file" (the file STDIN), "endless stdin",
    # "closed stdout"


# ---- inputs made in the folder -------------------------------------------------------------


def tiny(tmp: Path) -> Path:
    """The tiny spec (3 inputs, 8 neurons, 2 outputs)."""
    path = tmp / "tiny.yaml"
    path.write_text(TINY_SPEC)
    return path


def table(tmp: Path, name: str = "d.csv", text: str | None = None) -> Path:
    """A few rows of two sequences, ``id,t,a,b,c`` (or ``text``)."""
    path = tmp / name
    path.write_text(text if text is not None else "id,t,a,b,c\nA,0,1,2,3\nA,1,3,4,5\nB,0,1,1,1\n")
    return path


def tiny_checkpoint(tmp: Path) -> Path:
    """The tiny spec's network as a checkpoint."""
    net, spec = load_model(tiny(tmp))
    return checkpoint.save(net, tmp / "tiny.safetensors", spec)


def run(tmp: Path, *extra: object, data: Path | None = None) -> list:
    """`velora run` of the tiny spec over ``data`` (the few rows by default), by sequence."""
    return ["run", tiny(tmp), "-i", data or table(tmp), *SEQ, *extra]


def trainer(tmp: Path, *extra: object, data: str | None = None, outputs: int = 1) -> list:
    """`velora train` of a small spec on the text ``data`` (by default two short runs: input u,
    targets p and q)."""
    spec = tmp / "small.yaml"
    spec.write_text(
        f"version: 1\nnetwork: {{in_features: 1, n_neurons: 8, out_features: {outputs}}}\n"
    )
    text = data or "run,t,u,p,q\n0,0,1,2,1\n0,1,2,3,1\n1,0,1,1,1\n1,1,2,2,1\n"
    path = table(tmp, "t.csv", text)
    return ["train", spec, "-d", path, *RUN_SEQ, "-o", tmp / "m.safetensors", "-q", *extra]


def fifo(tmp: Path, name: str, data: bytes | None = None) -> Path:
    """A named pipe, as `<(...)` gives one: fed ``data`` once opened, or else drained."""
    path = tmp / name
    os.mkfifo(path)

    def serve() -> None:
        try:
            if data is None:
                path.read_bytes()
            else:
                with open(path, "wb") as writer:
                    writer.write(data)
        except BrokenPipeError:
            pass

    threading.Thread(target=serve, daemon=True).start()
    return path


def link(tmp: Path, name: str, target: str | Path) -> Path:
    path = tmp / name
    path.symlink_to(target)
    return path


def packed(kind: str) -> Callable[[Path], list]:
    """The few rows compressed with ``kind`` (named by suffix, known by content)."""

    def setup(tmp: Path) -> list:
        raw = table(tmp).read_bytes()
        data = {
            "gz": gzip.compress,
            "bz2": bz2.compress,
            "xz": lzma.compress,
            "zst": lambda b: pa.Codec("zstd").compress(b, asbytes=True),
        }[kind](raw)
        path = tmp / f"in.csv.{kind}"
        path.write_bytes(data)
        return run(tmp, "-o", tmp / "out.csv", "-q", data=path)

    return setup


def columnar(kind: str, cut: bool = False) -> Callable[[Path], list]:
    """The few rows as Parquet or Arrow, under a name that does not tell (cut in half)."""

    def setup(tmp: Path) -> list:
        rows = pacsv.read_csv(table(tmp))
        path = tmp / "in.table"
        if kind == "parquet":
            pq.write_table(rows, path)
        elif kind == "feather":
            feather.write_feather(rows, path)
        else:
            with ipc.new_stream(path, rows.schema) as writer:
                writer.write_table(rows)
        if cut:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return run(tmp, "-o", tmp / "out.csv", "-q", data=path)

    return setup


def semicolons(tmp: Path, *extra: str) -> list:
    """Sequences with ';' between the fields."""
    data = make_sequences(tmp, [7, 1, 30, 12, 60])[0]
    semi = tmp / "semi.csv"
    semi.write_text(data.read_text().replace(",", ";"))
    return ["run", tiny(tmp), "-i", semi, "-o", tmp / "a.csv", *SEQ, "-q", *extra]


def tabs(tmp: Path, *extra: str) -> list:
    """Sequences with tabs between the fields."""
    data = make_sequences(tmp, [7, 1, 30, 12, 60])[0]
    path = tmp / "tabs.tsv"
    path.write_text(data.read_text().replace(",", "\t"))
    return ["run", tiny(tmp), "-i", path, "-o", tmp / "b.csv", "-q", *extra]


def socket_output(force: bool) -> Callable[[Path], list]:
    def setup(tmp: Path) -> list:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(tmp / "s.sock"))  # the file stays after closing
        server.close()
        return run(tmp, "-o", tmp / "s.sock", "-q", *(["--force"] if force else []))

    return setup


def clashing_outputs(outputs: str, *extra: str) -> Callable[[Path], list]:
    """A spec whose output names clash with the sequence, time or hidden-state columns."""

    def setup(tmp: Path) -> list:
        spec = tmp / "s.yaml"
        spec.write_text(
            f"version: 1\nnetwork: {{in_features: 2, n_neurons: 6, out_features: 1}}\n"
            f"outputs: [{outputs}]\n"
        )
        data = table(tmp, "d.csv", "id,t,a,b\nA,0,1,2\nA,1,3,4\n")
        return ["run", spec, "-i", data, *SEQ, "-o", tmp / "out.csv", *extra]

    return setup


@functools.cache
def _good_checkpoint_bytes() -> bytes:
    """The example network with every weight moved, as after training (the ``good_file``
    fixture's file, bit for bit)."""
    import tempfile

    torch.manual_seed(0)
    net, _ = load_model(EXAMPLE)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    with tempfile.TemporaryDirectory() as folder:
        return checkpoint.save(net, Path(folder) / "m.safetensors", load_spec(EXAMPLE)).read_bytes()


def bad_checkpoint(kind: str, command: str) -> Callable[[Path], list]:
    """``command`` on the bad checkpoint ``kind`` of tests/helpers.py's catalogue."""

    def setup(tmp: Path) -> list:
        good = tmp / "model.safetensors"
        good.write_bytes(_good_checkpoint_bytes())
        path = tmp / "in" / "bad.safetensors"
        path.parent.mkdir()
        make_bad(kind, good, path)
        return [command, path] + (["-o", tmp / "out.safetensors"] if command == "export" else [])

    return setup


def header_claiming(size: int) -> Callable[[Path], list]:
    """A checkpoint whose header length field claims ``size`` bytes."""

    def setup(tmp: Path) -> list:
        raw = tiny_checkpoint(tmp).read_bytes()
        path = tmp / "huge.safetensors"
        path.write_bytes(struct.pack("<Q", size) + raw[8:])
        return ["inspect", path]

    return setup


def resume_state(edit: Callable[[dict], None]) -> Callable[[Path], list]:
    """`train --resume` from a checkpoint whose training state ``edit`` spoils."""

    def setup(tmp: Path) -> list:
        spec = tiny(tmp)
        net, loaded = load_model(spec)
        state = {f"train.last.{n}": torch.zeros(p.shape) for n, p in net.named_parameters()}
        for key in ("epoch", "best_epoch", "bad_epochs", "seed"):
            state[f"train.{key}"] = torch.tensor(0, dtype=torch.int64)
        state["train.best_loss"] = torch.tensor(1.0, dtype=torch.float64)
        for key in ("train_loss", "val_loss"):
            state[f"train.{key}"] = torch.zeros(0, dtype=torch.float64)
        edit(state)
        resume = checkpoint.save(net, tmp / "state.safetensors", loaded, extra=state)
        data = table(tmp, "t.csv", "id,t,a,b,c,p,q\n0,0,1,2,1,1,1\n0,1,2,3,1,1,1\n1,0,1,1,1,1,1\n")
        return ["train", spec, "-d", data, "-t", "p,q", *SEQ, "-o", tmp / "m.safetensors",
                "--resume", resume, "-q"]  # fmt: skip

    return setup


def spec_text(text: str, command: str = "validate") -> Callable[[Path], list]:
    def setup(tmp: Path) -> list:
        path = tmp / "s.yaml"
        path.write_text(text)
        return [command, path]

    return setup


def network(n_neurons: str, extra: str = "") -> str:
    return (
        f"version: 1\n{extra}network: {{in_features: 1, n_neurons: {n_neurons}, out_features: 1}}\n"
    )


def with_stdin(
    argv: Callable[[Path], list], data: Callable[[Path], bytes]
) -> Callable[[Path], list]:
    """``argv(folder)`` run with ``data(folder)`` as its standard input."""

    def setup(tmp: Path) -> list:
        command = argv(tmp)
        (tmp / STDIN).write_bytes(data(tmp))
        return command

    return setup


def named_pipes(tmp: Path) -> list:
    """The model and the (compressed) table through named pipes, as `<(...)` hands them."""
    model = fifo(tmp, "model.fifo", TINY_SPEC.encode())
    data = fifo(tmp, "input.fifo", gzip.compress(table(tmp).read_bytes()))
    return ["run", model, "-i", data, *SEQ, "-o", tmp / "out.csv", "-q"]


def truncated_gzip(tmp: Path) -> list:
    path = tmp / "in.csv.gz"
    path.write_bytes(gzip.compress(table(tmp).read_bytes())[:-12])
    return run(tmp, "-o", tmp / "out.csv", data=path)


def failing_parquet_output(tmp: Path) -> list:
    """Sequences whose last row holds text: the Parquet output started is taken back."""
    bad = tmp / "bad.csv"
    bad.write_bytes(make_sequences(tmp, [7, 1, 30, 12, 60])[0].read_bytes() + b"run9,1e9,1,2,x\n")
    return ["run", tiny(tmp), "-i", bad, "-o", tmp / "out.parquet", *SEQ, "-q"]


def model_from_dev_zero(command: str) -> Callable[[Path], list]:
    """``command`` with ``/dev/zero`` as its MODEL, its other inputs fine."""

    def setup(tmp: Path) -> list:
        rest = {
            "run": ["-i", table(tmp), "-o", tmp / "o.csv"],
            "export": ["-o", tmp / "o.safetensors"],
            "train": ["-d", table(tmp), "-o", tmp / "o.safetensors"],
            "eval": ["-i", table(tmp)],
            "prune": ["--keep", "0.5", "-o", tmp / "o.safetensors"],
        }[command]
        return [command, "/dev/zero", *rest]

    return setup


def huge_network_run(tmp: Path) -> list:
    path = tmp / "s.yaml"
    path.write_text(network("1" + "0" * 200))
    return ["run", path, "-i", table(tmp), "-o", tmp / "o.csv"]


# ---- the catalogue -------------------------------------------------------------------------

SEMICOLON_HINT = "the header holds ';' but no ',' (see --delimiter)"
NO_SPACE = "{tmp}/p.png: cannot write: no space left on device"

CATALOGUE = [
    # -- inputs users have: standard input and pipes, read once
    Case(
        "stdin: one standard input for the model and the table",
        with_stdin(
            lambda t: ["run", "-", "-i", "-", "-o", "out.csv"], lambda t: tiny(t).read_bytes()
        ),
        2,
        (
            "error: <stdin>: already read as a spec or checkpoint; a stream can be read only "
            "once, so give the other input as a file",
        ),
        via="stdin file",
    ),
    Case(
        "stdin: an endless spec",
        lambda t: ["validate", "-"],
        2,
        ("<stdin>: larger than 1 MiB",),
        via="endless stdin",
    ),
    Case("named pipes for the model and the table", named_pipes, 0, new=("out.csv",)),
    # -- compressed CSV, Parquet and Arrow, by content
    *[
        Case(f"compressed CSV: {kind}", packed(kind), 0, new=("out.csv",))
        for kind in ("gz", "bz2", "xz", "zst")
    ],
    Case(
        "compressed CSV: a truncated gzip stream",
        truncated_gzip,
        2,
        ("{tmp}/in.csv.gz: corrupt or truncated gzip data",),
    ),
    *[
        Case(f"columnar: {kind}", columnar(kind), 0, new=("out.csv",))
        for kind in ("parquet", "feather", "arrow stream")
    ],
    Case(
        "columnar: half a Parquet file",
        columnar("parquet", cut=True),
        2,
        ("{tmp}/in.table: not a readable Parquet file",),
    ),
    Case(
        "columnar: Parquet output",
        lambda t: run(t, "-o", t / "out.parquet", "-q"),
        0,
        new=("out.parquet",),
    ),
    Case(
        "columnar: a Parquet output that fails leaves nothing",
        failing_parquet_output,
        2,
        ("{tmp}/bad.csv: line 112, column 'c': 'x' is not a number",),
    ),
    # -- delimiters and line ends
    Case("delimiter: ';' without --delimiter", semicolons, 2, ("{tmp}/semi.csv", SEMICOLON_HINT)),
    Case(
        "delimiter: a tab without --delimiter",
        lambda t: tabs(t, *SEQ),
        2,
        ("the header holds a tab but no ',' (see --delimiter)",),
    ),
    Case(
        "delimiter: --delimiter ';'", lambda t: semicolons(t, "--delimiter", ";"), 0, new=("a.csv",)
    ),
    Case(
        "delimiter: --delimiter tab",
        lambda t: tabs(t, *SEQ, "--delimiter", "tab"),
        0,
        new=("b.csv",),
    ),
    Case(
        "delimiter: --delimiter of two characters",
        lambda t: tabs(t, "--delimiter", "ab"),
        2,
        ("--delimiter: expected one character",),
    ),
    Case(
        "bare carriage returns",
        lambda t: run(t, "-o", t / "o.csv", data=table(t, "cr.csv", "id,t,a,b,c\rA,0,1,2,3\r")),
        2,
        ("{tmp}/cr.csv: line 1: lines end in bare carriage returns",),
    ),
    # -- outputs: devices, pipes, sockets, links
    Case("output: /dev/null", lambda t: run(t, "-o", "/dev/null", "-q"), 0),
    Case("output: /dev/null with --force", lambda t: run(t, "-o", "/dev/null", "-q", "--force"), 0),
    Case(
        "output: /dev/stdout",
        lambda t: run(t, "-o", "/dev/stdout", "-q"),
        0,
        out="id,t,y0,y1\nA,0,",
    ),
    Case("output: a named pipe", lambda t: run(t, "-o", fifo(t, "out.fifo"), "-q"), 0),
    Case(
        "output: a named pipe with --force",
        lambda t: run(t, "-o", fifo(t, "out.fifo"), "-q", "--force"),
        0,
    ),
    Case(
        "output: a socket",
        socket_output(False),
        2,
        ("{tmp}/s.sock: is a special file (not a regular file); nothing replaces it",),
    ),
    Case(
        "output: a socket with --force",
        socket_output(True),
        2,
        ("{tmp}/s.sock: is a special file (not a regular file); nothing replaces it",),
    ),
    Case(
        "output: a dangling symlink",
        lambda t: run(t, "-o", link(t, "out.csv", t / "nowhere.csv"), "-q"),
        2,
        ("{tmp}/out.csv: already exists (use --force to overwrite)",),
    ),
    Case(
        "output: a symlink to a file",
        lambda t: table(t, "keep.csv", "keep") and run(t, "-o", link(t, "out.csv", "keep.csv")),
        2,
        ("{tmp}/out.csv: already exists (use --force to overwrite)",),
    ),
    Case(
        "output: an existing file",
        lambda t: run(t, "-o", table(t, "out.csv", "keep me")),
        2,
        ("{tmp}/out.csv: already exists (use --force to overwrite)",),
    ),
    Case(
        "output: a folder",
        lambda t: run(t, "-o", t, "--force"),
        2,
        ("{tmp}: is a folder, expected a file name",),
    ),
    # -- outputs: every path checked before the work; a failure takes back what was written
    Case(
        "output: a plot in a missing folder",
        lambda t: run(t, "-o", t / "new.csv", "--plot", t / "missing" / "x.png"),
        2,
        ("{tmp}/missing/x.png: folder '{tmp}/missing' does not exist",),
    ),
    Case(
        "output: a loss plot in a missing folder",
        lambda t: trainer(t, "-t", "p", "--plot-loss", t / "missing" / "x.png"),
        2,
        ("{tmp}/missing/x.png: folder '{tmp}/missing' does not exist",),
    ),
    Case(
        "output: a plot in /proc",
        lambda t: run(t, "-o", t / "new.csv", "--plot", "/proc/x.png"),
        2,
        ("/proc/x.png: cannot write: folder '/proc' takes no new files",),
    ),
    Case(
        "output: a table in /proc",
        lambda t: run(t, "-o", "/proc/x.csv"),
        2,
        ("/proc/x.csv: cannot write: folder '/proc' takes no new files",),
    ),
    Case(
        "output: a file of /proc replaced with --force",
        lambda t: run(t, "-o", "/proc/version", "--force"),
        2,
        ("/proc/version: cannot write: folder '/proc' takes no new files",),
    ),
    Case(
        "output: a full disk",
        lambda t: run(t, "-o", "/dev/full"),
        2,
        ("/dev/full: cannot write: no space left on device",),
    ),
    Case(
        "output: a full disk with --force",
        lambda t: run(t, "-o", "/dev/full", "--force"),
        2,
        ("/dev/full: cannot write: no space left on device",),
    ),
    Case(
        "output: a plot on a full disk takes the table back",
        lambda t: run(
            t, "-o", t / "new.csv", "--plot", link(t, "p.png", "/dev/full"), "-q", "--force"
        ),
        2,
        (NO_SPACE,),
    ),
    Case(
        "output: a loss plot on a full disk takes the checkpoint back",
        lambda t: trainer(
            t,
            "-t",
            "p",
            "--columns",
            "u",
            "--epochs",
            "1",
            "--force",
            "--plot-loss",
            link(t, "p.png", "/dev/full"),
        ),
        2,
        (NO_SPACE,),
    ),
    Case(
        "output: standard output closed",
        lambda t: ["run", PENDULUM, "-i", ROOT / "examples" / "pendulum.csv"],
        2,
        ("error: standard output is closed: nowhere to write the outputs (see --output)",),
        via="closed stdout",
    ),
    Case(
        "output: a bad first chunk leaves stdout empty",
        lambda t: ["run", tiny(t), "-i", table(t, "in.csv", "a,b,c\n1,2,3\n4,five,6\n"), "-q"],
        2,
        ("line 3, column 'b': 'five' is not a number",),
    ),
    # -- checkpoints: every bad file of tests/helpers.py's catalogue, for export and inspect
    *[
        Case(
            f"checkpoint: {kind} ({command})",
            bad_checkpoint(kind, command),
            2,
            ("error: {tmp}/in/bad.safetensors: ", BAD[kind]),
            out=None if command == "inspect" and BAD[kind].endswith("checksum mismatch") else "",
        )
        for kind in sorted(BAD)
        for command in ("export", "inspect")
        if not (kind == "yaml spec" and command == "export")
    ],
    Case(
        "checkpoint: a header length beyond any file",
        header_claiming(2**63),
        2,
        ("{tmp}/huge.safetensors: not a safetensors file",),
    ),
    Case(
        "checkpoint: a header length beyond this file",
        header_claiming(99_999_999),
        2,
        ("{tmp}/huge.safetensors: truncated: the header alone needs 100000007 bytes",),
    ),
    Case(
        "checkpoint: a resume state of the wrong shape",
        resume_state(
            lambda s: s.update({"train.last.layers.inter.g_head.weight": torch.zeros(3, 3)})
        ),
        2,
        (
            "{tmp}/state.safetensors: training state: tensor "
            "'train.last.layers.inter.g_head.weight' has shape (3, 3), expected (5, 8)",
        ),
    ),
    Case(
        "checkpoint: a resume optimizer state of the wrong shape",
        resume_state(lambda s: s.update({"optim.0.exp_avg": torch.zeros(2)})),
        2,
        ("{tmp}/state.safetensors: training state: optimizer state 0.exp_avg does not fit",),
    ),
    # -- endless inputs: read no further than a cap
    Case(
        "endless: validate /dev/zero",
        lambda t: ["validate", "/dev/zero"],
        2,
        ("/dev/zero: larger than 1 MiB; a spec is a small YAML file",),
    ),
    Case(
        "endless: validate /dev/urandom",
        lambda t: ["validate", "/dev/urandom"],
        2,
        ("/dev/urandom: larger than 1 MiB",),
    ),
    *[
        Case(
            f"endless: {command} /dev/zero",
            lambda t, c=command: [c, "/dev/zero"],
            2,
            ("/dev/zero: not a safetensors file",),
        )
        for command in ("wire", "inspect")
    ],
    *[
        Case(
            f"endless: {command} a model from /dev/zero",
            model_from_dev_zero(command),
            2,
            ("/dev/zero: not a safetensors file",),
        )
        for command in ("run", "export", "train", "eval", "prune")
    ],
    Case(
        "endless: a table from /dev/zero",
        lambda t: run(t, "-o", t / "o.csv", data="/dev/zero"),
        2,
        ("/dev/zero: line 1: the header line is longer than 1 MiB",),
    ),
    Case(
        "endless: a table from /dev/urandom",
        lambda t: run(t, "-o", t / "o.csv", data="/dev/urandom"),
        2,
        ("/dev/urandom: line ",),  # what is wrong depends on the bytes drawn,
    ),
    Case(
        "endless: a spec of 4 MB (500,000 input names)",
        spec_text("version: 1\ninputs: [" + ", ".join(f"x{i}" for i in range(500_000)) + "]\n"),
        2,
        ("{tmp}/s.yaml: larger than 1 MiB; a spec is a small YAML file",),
    ),
    # -- absurd numbers: the key and the allowed range
    Case(
        "absurd: a network of 201 digits",
        spec_text(network("1" + "0" * 200)),
        2,
        (
            "n_neurons=(an integer of about 201 digits)",
            "need about 10^401 B",
            "(raise it with --max-memory)",
        ),
    ),
    Case(
        "absurd: a network of 201 digits, run",
        huge_network_run,
        2,
        ("n_neurons=(an integer of about 201 digits)",),
    ),
    Case(
        "absurd: an integer beyond Python's digit cap",
        spec_text(network("1" + "0" * 5000)),
        2,
        ("{tmp}/s.yaml: not valid YAML: an integer of more than 4,300 digits",),
    ),
    Case(
        "absurd: a seed of 4,000 hexadecimal digits",
        spec_text(network("10", "seed: 0x" + "f" * 4000 + "\n")),
        2,
        (
            "{tmp}/s.yaml:2: seed: expected an integer from 0 to 4294967295, got an integer "
            "of about 4,817 digits",
        ),
    ),
    *[
        Case(
            f"absurd: --max-memory of 400 digits ({command})",
            lambda t, a=argv: [*a(t), "--max-memory", "9" * 400],
            2,
            (
                "Invalid value for '--max-memory': expected a size of at most 30 digits, got 400 "
                "digits",
            ),
        )
        for command, argv in (
            ("run", lambda t: run(t, "-o", t / "o.csv")),
            ("train", lambda t: trainer(t, "-t", "p")),
            ("validate", lambda t: ["validate", tiny(t)]),
        )
    ],
    Case(
        "absurd: --seed 2**64",
        lambda t: trainer(t, "-t", "p", "--seed", str(2**64)),
        2,
        ("--seed: expected an integer from 0 to 4294967295, got 18446744073709551616",),
    ),
    Case(
        "absurd: --max-memory 1KiB (run)",
        lambda t: [
            "run",
            PENDULUM,
            "-i",
            ROOT / "examples" / "pendulum.csv",
            "-o",
            t / "out.csv",
            "--max-memory",
            "1KiB",
        ],
        2,
        ("limit of 1.0 KiB (raise it with --max-memory)",),
    ),
    Case(
        "absurd: --max-memory 1KiB (train)",
        lambda t: [
            "train",
            OSCILLATOR,
            "-d",
            ROOT / "examples" / "oscillator.csv",
            "-o",
            t / "out.safetensors",
            "--max-memory",
            "1KiB",
        ],
        2,
        ("limit of 1.0 KiB (raise it with --max-memory)",),
    ),
    Case(
        "absurd: times that overflow float32",
        lambda t: [
            "run",
            tiny(t),
            "-i",
            table(t, "f.csv", "t,a,b,c\n-1e300,1,2,3\n1e300,2,3,4\n"),
            "--time-column",
            "t",
            "-o",
            t / "o.csv",
        ],
        2,
        (
            "{tmp}/f.csv: line 3, column 't': the time elapsed since the previous row, 2e+300, "
            "is beyond float32 range",
        ),
    ),
    Case(
        "absurd: --dt 1e39",
        lambda t: run(t, "-o", t / "o.csv", "--dt", "1e39"),
        2,
        ("--dt: expected a positive number of at most 3.403e+38, got 1e+39",),
    ),
    # -- bounded error lines
    Case(
        "bounded: an unknown key of 300,000 characters",
        spec_text(f"version: 1\n? {'k' * 300_000}\n: 1\n"),
        2,
        ("{tmp}/s.yaml:2: kkk", " ... "),
    ),
    Case(
        "bounded: a path with a line break and an escape sequence",
        lambda t: ["validate", t / "a\nb\x1b[31m.yaml"],
        2,
        ("b\\x1b[31m.yaml: no such file",),
    ),
    Case(
        "bounded: a path of 5,000 characters",
        lambda t: ["run", PENDULUM, "-i", t / ("x" * 5000 + ".csv")],
        2,
        (" ... ",),
    ),
    # -- train's targets and run's output names
    Case(
        "targets: the time column",
        lambda t: trainer(t, "-t", "t"),
        2,
        ("column 't' cannot be both a target and the time column",),
    ),
    Case(
        "targets: the sequence column",
        lambda t: trainer(t, "-t", "run"),
        2,
        ("column 'run' cannot be both a target and the sequence column",),
    ),
    Case(
        "targets: one named twice",
        lambda t: trainer(t, "-t", "p,p", "--columns", "u", outputs=2),
        2,
        ("target columns repeat a name: p, p",),
    ),
    Case(
        "targets: NaN, with no flag to let it through",
        lambda t: trainer(t, "-t", "p", data="run,t,u,p\n0,0,1,2\n0,1,2,nan\n1,0,1,1\n"),
        2,
        ("{tmp}/t.csv: line 3, column 'p': NaN is not allowed",),
        absent=("--allow-nan",),
    ),
    *[
        Case(
            f"outputs: named {outputs} like another column",
            clashing_outputs(outputs, *extra),
            2,
            (f"output column {clash} would appear twice",),
        )
        for outputs, extra, clash in [
            ("t", [], "'t'"),
            ("h0", ["--hidden"], "'h0'"),
            ("id", [], "'id'"),
        ]
    ],
]


# ---- the one test --------------------------------------------------------------------------


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder``, links not followed: a file's bytes, a link's target, else
    its kind (a named pipe is not read)."""
    found: dict[str, tuple] = {}
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(top, name)
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                entry: tuple = ("link", os.readlink(path))
            elif stat.S_ISREG(mode):
                entry = ("file", path.read_bytes())
            else:
                entry = ("kind", stat.S_IFMT(mode))
            found[str(path.relative_to(folder))] = entry
    return found


def in_process(argv: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capfd.readouterr()
    code = main_exit_code(argv)
    out, err = capfd.readouterr()
    return code, out, err


def in_a_process(argv: list[str], folder: Path, via: str) -> tuple[int, str, str]:
    """The command as a process of its own, in ``folder``, its standard input or output as
    ``via`` says."""
    code = "import sys; from velora_cli.main import run; sys.argv[0] = 'velora'; run()"
    options: dict = {
        "args": [sys.executable, "-c", code, *argv],
        "cwd": folder,
        "text": True,
        "stderr": subprocess.PIPE,
        "timeout": 120,
        "env": {**os.environ, "PYTHONPATH": str(ROOT)},
    }
    if via == "closed stdout":  # as `velora run ... >&-`
        done = subprocess.run(**options, stdin=subprocess.DEVNULL, preexec_fn=lambda: os.close(1))
        return done.returncode, "", done.stderr
    if via == "endless stdin":
        endless = subprocess.Popen(["yes", "a: 1"], stdout=subprocess.PIPE)
        try:
            done = subprocess.run(**options, stdin=endless.stdout, stdout=subprocess.PIPE)
        finally:
            endless.kill()
            endless.wait()
            endless.stdout.close()  # type: ignore[union-attr]
    else:
        assert via == "stdin file", via
        with open(folder / STDIN, "rb") as source:
            done = subprocess.run(**options, stdin=source, stdout=subprocess.PIPE)
    return done.returncode, done.stdout, done.stderr


PARAMS = [pytest.param(case, id=case.name) for case in CATALOGUE]


@pytest.mark.parametrize("case", PARAMS)
def test_catalogue(case: Case, tmp_path: Path, capfd) -> None:
    argv = [str(a) for a in case.setup(tmp_path)]
    before = snapshot(tmp_path)
    if case.via == "in-process":
        code, out, err = in_process(argv, capfd)
    else:
        code, out, err = in_a_process(argv, tmp_path, case.via)

    assert code == case.code, err
    if case.code == 0:
        assert err == ""
    else:
        lines = err.splitlines()
        assert len(lines) == 1 and err.endswith("\n"), err
        assert lines[0].startswith("error: ") and len(lines[0]) <= len("error: ") + MAX_ERROR_CHARS
        for words in case.words:
            assert words.replace("{tmp}", str(tmp_path)) in lines[0]
        for words in case.absent:
            assert words not in lines[0]
    if case.out is not None:
        assert case.out in out if case.out else out == ""
    after = snapshot(tmp_path)
    assert sorted(set(after) - set(before)) == sorted(case.new)
    assert {name: after.get(name) for name in before} == before


def test_every_row_has_its_own_name() -> None:
    names = [case.name for case in CATALOGUE]
    assert len(names) == len(set(names))
    assert all(case.words for case in CATALOGUE if case.code != 0)
