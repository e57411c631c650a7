"""Where an input's bytes come from: a file, standard input (``-``), a pipe, an open stream.

A regular file can be opened as often as needed. Anything else is a *stream*, read once from
front to back: standard input (``-`` or ``/dev/stdin``), a FIFO or a process substitution
(``<(...)``), a character device, an open binary file object. ``Input`` reads a stream through a
look-ahead buffer, so that its first bytes can be examined (which kind of file it is, the
header) and still be read as part of the whole.

A stream belongs to its first reader. A table streams through it, so nothing else may read it
afterwards; a whole file (a spec, a checkpoint) is kept once read, so that asking which kind of
file it is and then loading it read the same bytes. Asking for a stream that is already taken
is a one-line error naming it, never a silently empty read.
"""

from __future__ import annotations

import contextlib
import io
import lzma
import os
import stat
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import IO, Any

from velora.errors import DataError

STDIN = "-"  # the path that means standard input
STDIN_NAME = "<stdin>"  # how messages name it
TABLE = "a table"  # a stream's owners: a table reader streams it, once
WHOLE = "a spec or checkpoint"  # ... a whole-file reader keeps it, and may ask again

Source = str | os.PathLike[str] | IO[bytes]

# Errors a decompressor (or a broken pipe) raises for bad content; the message names the input.
_READ_ERRORS = (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError)


def is_stdin(source: object) -> bool:
    """Whether ``source`` names standard input: the path ``-``."""
    return isinstance(source, str | os.PathLike) and os.fspath(source) == STDIN


def is_path(source: object) -> bool:
    """Whether ``source`` is a path (``-`` included) rather than an open stream."""
    return isinstance(source, str | os.PathLike)


def source_name(source: object, name: str | None = None) -> str:
    """How messages name ``source``: ``name`` if given, ``<stdin>`` for ``-``, a path as given,
    a stream by its ``name`` (else ``<stream>``)."""
    if name is not None:
        return name
    if is_stdin(source):
        return STDIN_NAME
    if isinstance(source, str | os.PathLike):
        return os.fsdecode(source)
    found = getattr(source, "name", None)
    return found if isinstance(found, str) else "<stream>"


def reads_once(source: object) -> bool:
    """Whether ``source`` is a stream, read once (``-``, a FIFO, a character device, an open
    stream), rather than a regular file or folder (or a path that does not exist, which its
    reader reports)."""
    if is_stdin(source) or not is_path(source):
        return True
    try:
        mode = os.stat(source).st_mode  # type: ignore[arg-type]  # a path: checked above
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


class Input(io.RawIOBase):
    """A stream read once, front to back, through a look-ahead buffer.

    ``peek(n)`` shows the next ``n`` bytes without taking them; ``read(n)`` takes up to ``n``
    (fewer only at the end). ``size`` is the size of the file behind it (the compressed file for
    a decompressing stream; 0 when unknown, as for a pipe) and ``position()`` how far into
    those bytes reading has come, for progress. Bad content met while reading (a corrupt or
    truncated compressed stream) is one ``DataError`` naming the input.
    """

    def __init__(
        self,
        raw: Any,
        name: str,
        *,
        size: int = 0,
        position: Callable[[], int] | None = None,
        closes: tuple[Any, ...] = (),
        what: str | None = None,
    ) -> None:
        super().__init__()
        self.raw = raw
        self.name = name
        self.size = size
        self.taken = 0  # bytes handed out so far
        self.owner: str | None = None
        self._position = position
        self._closes = closes
        self._what = what
        self._ahead = b""
        self._offset = 0
        self._eof = False
        self._whole: bytes | None = None

    def readable(self) -> bool:
        return True

    def _fill(self, n: int) -> bytes:
        """Up to ``n`` bytes from the raw stream; fewer only where it ends."""
        parts: list[bytes] = []
        got = 0
        while got < n and not self._eof:
            try:
                part = self.raw.read(n - got)
            except DataError:
                raise
            except _READ_ERRORS as exc:
                raise self._bad(exc) from None
            if not part:
                self._eof = True
                break
            parts.append(part)
            got += len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _bad(self, exc: BaseException) -> DataError:
        text = " ".join(str(getattr(exc, "strerror", None) or exc).split())[:160]
        if self._what is not None:
            return DataError(f"{self.name}: corrupt or truncated {self._what} ({text})")
        return DataError(f"{self.name}: cannot read: {text}")

    def peek(self, n: int) -> bytes:
        """The next ``n`` bytes (fewer at the end), left to be read."""
        have = len(self._ahead) - self._offset
        if have < n and not self._eof:
            more = self._fill(n - have)
            self._ahead = self._ahead[self._offset :] + more
            self._offset = 0
        return self._ahead[self._offset : self._offset + n]

    def read(self, n: int | None = -1) -> bytes:
        """Take up to ``n`` bytes (all that is left for -1 or None)."""
        if n is None or n < 0:
            parts = [self._ahead[self._offset :]]
            while not self._eof:
                parts.append(self._fill(1 << 20))
            out = b"".join(parts)
            self._ahead, self._offset = b"", 0
        else:
            have = len(self._ahead) - self._offset
            if have == 0:
                out = self._fill(n)
            elif have >= n:
                out = self._ahead[self._offset : self._offset + n]
                self._offset += n
            else:
                out = self._ahead[self._offset :] + self._fill(n - have)
                self._ahead, self._offset = b"", 0
            if self._ahead and self._offset == len(self._ahead):
                self._ahead, self._offset = b"", 0
        self.taken += len(out)
        return out

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def drop(self, n: int) -> None:
        """Take ``n`` bytes of what was peeked, and forget them."""
        n = min(n, len(self._ahead) - self._offset)
        self._offset += n
        self.taken += n

    def skip_to(self, offset: int) -> None:
        """Read and forget bytes until ``offset`` bytes are taken in all."""
        while self.taken < offset:
            if not self.read(min(offset - self.taken, 1 << 20)):
                return

    def position(self) -> int:
        """How far into the ``size`` bytes of the file behind it reading has come."""
        return self._position() if self._position is not None else self.taken

    def head(self, n: int) -> bytes:
        """The first ``n`` bytes, whether or not the whole was read (and kept) already."""
        return self._whole[:n] if self._whole is not None else self.peek(n)

    def read_whole(self, limit: int | None = None) -> bytes:
        """Everything, from the start; kept, so that asking again gives the same bytes. With
        ``limit``, at most ``limit + 1`` bytes are read (the caller refuses more than limit)."""
        if self._whole is None:
            if self.taken:
                raise DataError(f"{self.name}: already read in part; a stream is read once")
            self._whole = self.read(-1 if limit is None else limit + 1)
        return self._whole

    def close(self) -> None:
        if not self.closed:
            for thing in self._closes:
                thing.close()
        super().close()


def _stdin() -> IO[bytes]:
    stream = sys.stdin
    buffer = getattr(stream, "buffer", None) if stream is not None else None
    if buffer is None:
        raise DataError(f"{STDIN_NAME}: there is no standard input to read")
    try:
        terminal = buffer.isatty()
    except (OSError, ValueError):
        terminal = False
    if terminal:
        raise DataError(
            f"{STDIN_NAME}: standard input is a terminal; pipe or redirect a file into it "
            "(e.g. < data.csv)"
        )
    return buffer


def _key(source: Source) -> tuple:
    """What identifies a stream: its device and inode where it has them (so that ``-`` and
    ``/dev/stdin`` are the same pipe), else the object itself."""
    if is_stdin(source):
        buffer = _stdin()
        try:
            st = os.fstat(buffer.fileno())
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            return ("object", id(buffer))
        return ("file", st.st_dev, st.st_ino)
    if isinstance(source, str | os.PathLike):
        st = os.stat(source)
        return ("file", st.st_dev, st.st_ino)
    return ("object", id(source))


_LOCK = threading.Lock()
_STREAMS: dict[tuple, Input] = {}  # every stream opened (in this scope), by what identifies it


@contextlib.contextmanager
def stream_scope() -> Iterator[None]:
    """Streams claimed inside are forgotten at the end: one command's inputs do not speak for
    the next command run in the same process (the command line runs each command in one).
    Without a scope, a stream stays claimed for the life of the process."""
    with _LOCK:
        saved = dict(_STREAMS)
    try:
        yield
    finally:
        with _LOCK:
            _STREAMS.clear()
            _STREAMS.update(saved)


def claim(source: Source, owner: str, *, name: str | None = None) -> Input:
    """The stream ``source`` for ``owner`` (``TABLE`` or ``WHOLE``), opened on first use.

    A whole-file reader may ask again for a stream a whole-file reader opened (it gets the bytes
    kept); anything else asking for a stream already opened is refused with a ``DataError``.
    """
    display = source_name(source, name)
    with _LOCK:
        try:
            key = _key(source)
        except FileNotFoundError:
            raise DataError(f"{display}: no such file") from None
        except OSError as exc:
            raise DataError(f"{display}: cannot read: {exc.strerror or exc}") from None
        found = _STREAMS.get(key)
        if found is None:
            found = _open(source, display)
            found.owner = owner
            _STREAMS[key] = found
            return found
    if found.owner == owner == WHOLE:
        return found
    raise DataError(
        f"{display}: already read as {found.owner}; a stream can be read only once, so give "
        "the other input as a file"
    )


def _open(source: Source, name: str) -> Input:
    if is_stdin(source):
        return Input(_stdin(), name)
    if isinstance(source, str | os.PathLike):
        try:
            raw = open(source, "rb")  # noqa: SIM115 - the Input closes it
        except OSError as exc:
            raise DataError(f"{name}: cannot read: {exc.strerror or exc}") from None
        return Input(raw, name, closes=(raw,))
    return Input(source, name)


def read_whole(source: Source, *, name: str | None = None, limit: int | None = None) -> bytes:
    """All the bytes of a small whole file (a spec, a checkpoint): a regular file by path, a
    stream once (and the same bytes again when asked again). With ``limit``, at most
    ``limit + 1`` bytes are read, so that ``/dev/zero`` or an endless pipe cannot exhaust memory
    (the caller refuses more than ``limit``). A regular file's OSError is the caller's."""
    if reads_once(source):
        return claim(source, WHOLE, name=name).read_whole(limit)
    with open(source, "rb") as handle:  # type: ignore[arg-type]  # a path: not a stream
        return handle.read(-1 if limit is None else limit + 1)


def peek_whole(source: Source, n: int, *, name: str | None = None) -> bytes:
    """The first ``n`` bytes of a whole file (a regular file, or a stream kept for reading it
    whole afterwards)."""
    if reads_once(source):
        return claim(source, WHOLE, name=name).head(n)
    with open(source, "rb") as handle:  # type: ignore[arg-type]  # a path: not a stream
        return handle.read(n)


def require_files(*sources: object) -> None:
    """Refuse any stream among ``sources`` (None and things that are neither paths nor
    readable, such as a network, pass): under torchrun every process reads every input."""
    for source in sources:
        if (is_path(source) or hasattr(source, "read")) and reads_once(source):
            raise DataError(
                f"{source_name(source)}: a stream cannot be read by every process of a "
                "torchrun job; give a file"
            )
