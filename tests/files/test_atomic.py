"""Outputs: published whole or not at all, never over anything without force, never over a
device, FIFO or socket, and file-system errors as one line naming the path."""

import errno
import os
import socket
import threading
from pathlib import Path

import pytest

from velora.errors import OutputExistsError, VeloraError
from velora.files import atomic
from velora.files.atomic import atomic_path, atomic_write, check_writable


def test_a_new_file_is_published_whole(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with atomic_write(path) as handle:
        handle.write(b"a,b\n")
        assert not path.exists()  # nothing visible before the end
    assert path.read_bytes() == b"a,b\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_a_failure_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt), atomic_write(path) as handle:
        handle.write(b"half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dangling", [False, True])
def test_a_symlink_counts_as_existing(tmp_path: Path, dangling: bool) -> None:
    target = tmp_path / "target.csv"
    if not dangling:
        target.write_text("keep")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    with pytest.raises(OutputExistsError, match="already exists"):
        check_writable(link)
    with pytest.raises(OutputExistsError), atomic_write(link) as handle:
        handle.write(b"new")
    assert link.is_symlink() and (dangling or target.read_text() == "keep")
    with atomic_write(link, force=True) as handle:
        handle.write(b"new")
    assert not link.is_symlink() and link.read_bytes() == b"new"


def test_the_loser_of_a_race_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with (
        pytest.raises(OutputExistsError, match="written meanwhile"),
        atomic_write(path) as handle,
    ):
        handle.write(b"second")
        path.write_bytes(b"first")  # another process publishes first
    assert path.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_dev_null_is_written_directly_and_stays_a_device(tmp_path: Path) -> None:
    for force in (False, True):
        with atomic_write("/dev/null", force=force) as handle:
            handle.write(b"discarded")
        with atomic_path("/dev/null", force=force) as path:
            assert str(path) == "/dev/null"
    assert Path("/dev/null").is_char_device()
    assert list(tmp_path.iterdir()) == []


def test_a_fifo_is_written_directly(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    with atomic_write(fifo) as handle:  # no force needed
        handle.write(b"streamed")
    reader.join(timeout=10)
    assert received == [b"streamed"]
    assert fifo.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_nothing_replaces_a_socket(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        for force in (False, True):
            with pytest.raises(VeloraError, match="special file"):
                check_writable(path, force=force)
        assert path.is_socket()
    finally:
        server.close()


def test_folders_are_refused(tmp_path: Path) -> None:
    with pytest.raises(VeloraError, match="is a folder"):
        check_writable(tmp_path, force=True)
    with pytest.raises(VeloraError, match="does not exist"):
        check_writable(tmp_path / "missing" / "out.csv")


@pytest.mark.parametrize(
    ("code", "words"),
    [(errno.ENOSPC, "no space left on device"), (errno.EROFS, "read-only file system")],
)
def test_file_system_errors_are_one_line_naming_the_path(
    tmp_path: Path, monkeypatch, code: int, words: str
) -> None:
    path = tmp_path / "out.csv"

    def full(fd: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic.os, "fsync", full)
    with (
        pytest.raises(VeloraError, match=f"out.csv: cannot write: {words}") as caught,
        atomic_write(path) as handle,
    ):
        handle.write(b"data")
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_read_errors_of_the_caller_are_not_blamed_on_the_output(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), atomic_write(tmp_path / "out.csv"):
        (tmp_path / "missing-input.csv").read_bytes()
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_folder_is_refused_before_any_work(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(atomic.os, "access", lambda path, mode: False)
    with pytest.raises(VeloraError, match=r"cannot write: folder .* is not writable"):
        check_writable(tmp_path / "out.csv")
