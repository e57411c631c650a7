"""Inputs that are streams (velora.files.sources): standard input (``-``), pipes, FIFOs, char
devices. A spec or checkpoint read from one loads as from a file, though telling its kind reads
the first bytes; a stream is read once, and asking for it again is a clear error."""

import io
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import EXAMPLE, pipe_of
from velora.errors import CheckpointError, DataError
from velora.files import checkpoint
from velora.files.loading import load_model, load_spec_file
from velora.files.sniff import is_checkpoint_path
from velora.files.sources import Input, reads_once, source_name
from velora.files.tables import open_table


def fifo_of(tmp_path: Path, data: bytes, name: str = "fifo") -> Path:
    """A named pipe that a thread fills with ``data`` once a reader opens it."""
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


def stdin_of(monkeypatch, data: bytes) -> None:
    """Standard input holding ``data``, as a pipe."""

    class Stdin:
        buffer = pipe_of(data)

    monkeypatch.setattr("sys.stdin", Stdin())


def same_network(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


def test_what_is_a_stream(tmp_path) -> None:
    assert reads_once("-") and reads_once(Path("-")) and reads_once(io.BytesIO(b""))
    assert reads_once("/dev/null")  # a character device
    assert not reads_once(EXAMPLE) and not reads_once(tmp_path) and not reads_once("nope.csv")
    path = tmp_path / "f"
    os.mkfifo(path)
    assert reads_once(path)
    assert source_name("-") == "<stdin>" and source_name(Path("a/b.csv")) == "a/b.csv"
    assert source_name(io.BytesIO()) == "<stream>" and source_name("-", "mine") == "mine"


def test_a_spec_on_standard_input_loads_as_the_file(monkeypatch) -> None:
    stdin_of(monkeypatch, EXAMPLE.read_bytes())
    assert not is_checkpoint_path("-")  # its first bytes, kept for what follows
    net, spec = load_model("-")
    want, want_spec = load_model(EXAMPLE)
    assert spec.network == want_spec.network and same_network(net, want)
    assert load_spec_file("-") == spec  # asked again: the same bytes


def test_a_checkpoint_through_a_fifo_loads_as_the_file(tmp_path, ckpt) -> None:
    fifo = fifo_of(tmp_path, ckpt.read_bytes())
    assert is_checkpoint_path(fifo)
    net, _ = load_model(fifo)
    assert same_network(net, load_model(ckpt)[0])
    stored = checkpoint.load_checkpoint(fifo)  # asked again: the same bytes
    assert stored.metadata.sha256 == checkpoint.load_checkpoint(ckpt).metadata.sha256


def test_a_checkpoint_on_standard_input_names_it(monkeypatch, ckpt) -> None:
    data = bytearray(ckpt.read_bytes())
    data[-1] ^= 1  # one flipped bit in the tensors
    stdin_of(monkeypatch, bytes(data))
    with pytest.raises(CheckpointError, match=r"^<stdin>: checksum mismatch"):
        load_model("-")


def test_one_stream_cannot_feed_two_inputs(monkeypatch, tmp_path) -> None:
    stdin_of(monkeypatch, EXAMPLE.read_bytes())
    load_model("-")
    with pytest.raises(DataError, match=r"^<stdin>: already read as a spec or checkpoint; a "):
        open_table("-")
    fifo = fifo_of(tmp_path, b"x,y\n1,2\n")
    open_table(fifo)
    with pytest.raises(DataError, match="already read as a table"):
        load_model(fifo)


def test_standard_input_that_is_a_terminal_or_missing(monkeypatch) -> None:
    class Terminal:
        class buffer:
            @staticmethod
            def isatty() -> bool:
                return True

    monkeypatch.setattr("sys.stdin", Terminal())
    with pytest.raises(DataError, match="standard input is a terminal; pipe or redirect"):
        open_table("-")
    monkeypatch.setattr("sys.stdin", None)
    with pytest.raises(DataError, match="there is no standard input"):
        open_table("-")


class Trickle(io.RawIOBase):
    """A raw stream that hands out one byte per read, as a slow pipe may."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        out, self.data = self.data[:1], self.data[1:]
        return out


def test_input_reads_whole_pieces_from_a_trickle() -> None:
    stream = Input(Trickle(b"abcdefghij"), "trickle")
    assert stream.peek(4) == b"abcd" and stream.taken == 0
    assert stream.read(3) == b"abc"
    stream.drop(1)
    assert stream.read(4) == b"efgh" and stream.taken == 8
    stream.skip_to(9)
    assert stream.read(10) == b"j" and stream.read(10) == b""


def test_a_slow_pipe_reads_like_a_file(tmp_path) -> None:
    rows = [f"{i},{i * 0.5}" for i in range(3000)]
    data = ("a,b\n" + "\n".join(rows) + "\n").encode()
    table = np.concatenate([c.x for c in open_table(Input(Trickle(data), "t"), block_bytes=999)])
    assert table.shape == (3000, 2) and table[-1].tolist() == [2999, 1499.5]


def test_a_stream_scope_forgets_the_streams_claimed_inside(tmp_path):
    """The command line runs each command in a scope: a device one command read is free for
    the next; without a scope a stream stays claimed."""
    from velora.files.sources import TABLE, WHOLE, claim, stream_scope

    with stream_scope():
        claim("/dev/zero", TABLE)
        with pytest.raises(DataError, match="already read as"):
            claim("/dev/zero", WHOLE)
    with stream_scope():
        claim("/dev/zero", WHOLE)  # free again
