"""File output that never leaves a half-written or silently replaced file behind.

A regular file is written to a temporary file beside it and published at the end: without
``force`` by a hard link, which fails if the name exists by then (two processes writing the same
new path never both succeed); with ``force`` by a rename over the old file. A character device or
a FIFO (``/dev/null``, ``/dev/stdout``, a named pipe) is a stream: it is written directly and
needs no ``force``, and nothing ever replaces it, a socket or any other special file. A symlink,
even a dangling one, counts as an existing file. Errors of the file system (no space left, a
read-only file system, no permission) are one ``VeloraError`` naming the path.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from velora.errors import OutputExistsError, VeloraError

__all__ = [
    "OutputExistsError",
    "atomic_path",
    "atomic_write",
    "check_writable",
    "is_stream",
    "output_error",
]

# Errors that say something about where the output goes, not about velora.
_OUTPUT_ERRNOS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for the file system",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EISDIR: "is a folder",
    errno.ENAMETOOLONG: "file name too long",
}


def output_error(path: str | Path, exc: OSError) -> VeloraError | None:
    """The one-line error for an OSError met while writing ``path``, or None when the error
    is not about the output's place (then it is a fault to report as such)."""
    reason = _OUTPUT_ERRNOS.get(exc.errno or 0)
    if reason is None:
        return None
    return VeloraError(f"{path}: cannot write: {reason}")


def _mode(path: Path) -> int | None:
    """The file-type bits of whatever is at ``path`` (the link itself for a symlink), or None."""
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise output_error(path, exc) or exc from None


# The process's own descriptors: written directly, whatever they are open on.
_DESCRIPTOR_PATHS = ("/dev/stdout", "/dev/stderr", "/dev/fd/", "/proc/self/fd/")


def is_stream(path: str | Path) -> bool:
    """Whether ``path`` is a character device or a FIFO (followed through symlinks), or one of
    this process's descriptors (``/dev/stdout``), which an output is written to directly."""
    if str(path).startswith(_DESCRIPTOR_PATHS):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def check_writable(path: str | Path, *, force: bool = False) -> Path:
    """Fail early, before any work, if ``path`` cannot take the output: it exists (a symlink
    too) and ``force`` was not given, it is a folder or a special file, or its folder is missing
    or not writable. A character device or FIFO passes as it is."""
    path = Path(path)
    if is_stream(path):
        return path
    mode = _mode(path)
    if mode is not None:
        if stat.S_ISDIR(mode) or (stat.S_ISLNK(mode) and path.is_dir()):
            raise VeloraError(f"{path}: is a folder, expected a file name")
        if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            raise VeloraError(
                f"{path}: is a special file (not a regular file); nothing replaces it"
            )
        if not force:
            raise OutputExistsError(f"{path}: already exists")
    folder = path.parent
    if not folder.is_dir():
        raise VeloraError(f"{path}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        reason = "read-only file system" if _read_only(folder) else "not writable"
        raise VeloraError(f"{path}: cannot write: folder {str(folder)!r} is {reason}")
    return path


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _publish(tmp: str | Path, path: Path, force: bool) -> None:
    """Give the finished temporary file normal permissions and put it at ``path``: replacing
    only with ``force``, and without it never over a file that appeared meanwhile."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    if force:
        mode = _mode(path)
        if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            raise VeloraError(
                f"{path}: is a special file (not a regular file); nothing replaces it"
            )
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails if the name exists: no race with another writer
    except FileExistsError:
        raise OutputExistsError(
            f"{path}: already exists (written meanwhile by another process)"
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        if _mode(path) is not None:  # a file system without hard links: check, then rename
            raise OutputExistsError(f"{path}: already exists") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


# Errors that only writing gives: met while the caller writes, they are about the output.
_WRITING_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


@contextmanager
def _output_errors(path: Path, *, own: bool = True) -> Iterator[None]:
    """Turn the file system's errors about ``path`` into one-line VeloraErrors: every known
    one for our own operations (``own``), only writing errors around the caller's work (which
    may also read files, whose errors are not about the output)."""
    try:
        yield
    except OSError as exc:
        error = output_error(path, exc)
        if error is None or not (own or exc.errno in _WRITING_ERRNOS):
            raise
        raise error from None


def _temporary(path: Path, prefix: str, suffix: str) -> tuple[int, str]:
    """A new temporary file beside ``path``: its descriptor and name. A folder that exists but
    takes no new files (``/proc``, ``/sys``) says so, rather than "no such file"."""
    try:
        return tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    except OSError as exc:
        if exc.errno == errno.ENOENT and path.parent.is_dir():
            raise VeloraError(
                f"{path}: cannot write: folder {str(path.parent)!r} takes no new files"
            ) from None
        with _output_errors(path):
            raise


class Companions:
    """Files a command publishes beside its main output, which go again if the command fails
    after all: a command leaves all of its outputs or none. Only files that did not exist
    before are removed (a device, or a file replaced with ``force``, stays)."""

    def __init__(self) -> None:
        self.paths: list[Path] = []

    def add(self, path: str | Path) -> None:
        """Call before publishing ``path``."""
        if not os.path.lexists(path):
            self.paths.append(Path(path))


@contextmanager
def companions() -> Iterator[Companions]:
    """``Companions`` removed when the block fails; publish the main output last inside it
    (e.g. an ``atomic_write`` entered after this), so that a failure to publish it takes the
    companions along."""
    published = Companions()
    try:
        yield published
    except BaseException:
        for path in published.paths:
            path.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_write(
    path: str | Path, *, force: bool = False, mode: str = "wb", newline: str | None = None
) -> Iterator[IO]:
    """Write to a temporary file beside ``path`` and publish it on success (a character device
    or FIFO is written directly).

    On any exception (Ctrl-C included) the temporary file is removed and ``path`` is untouched.
    """
    path = check_writable(path, force=force)
    encoding = None if "b" in mode else "utf-8"
    if is_stream(path):
        with _output_errors(path):
            handle = open(path, mode, encoding=encoding, newline=newline)  # noqa: SIM115
        with _output_errors(path, own=False), handle:
            yield handle
        return
    fd, tmp = _temporary(path, f".{path.name}.", ".tmp")
    try:
        with (
            _output_errors(path, own=False),
            os.fdopen(fd, mode, encoding=encoding, newline=newline) as handle,
        ):
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        with _output_errors(path):
            _publish(tmp, path, force)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_path(path: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Like ``atomic_write`` but yields a temporary path, for libraries that write by name
    (a character device or FIFO is handed over as it is).

    The temporary name keeps ``path``'s suffix so that format detection by extension works.
    """
    path = check_writable(path, force=force)
    if is_stream(path):
        with _output_errors(path, own=False):
            yield path
        return
    fd, tmp = _temporary(path, f".{path.stem}.", path.suffix)
    os.close(fd)
    try:
        with _output_errors(path, own=False):
            yield Path(tmp)
        with _output_errors(path):
            _publish(tmp, path, force)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
