"""Which file is this: a file's kind told from its first bytes, not from its name.

A checkpoint works wherever a spec does because commands ask this module, not the suffix. A
table input is CSV, Parquet or Arrow IPC (file or stream, Feather v2), perhaps inside a gzip,
bzip2, xz or zstd stream: ``open_table_source`` tells them apart by their magic bytes and hands
the table readers either a regular file's path or a stream (decompressed where it was
compressed) whose first bytes are still to be read.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from velora.errors import DataError, VeloraError
from velora.files.sources import (
    TABLE,
    Input,
    Source,
    claim,
    is_path,
    peek_whole,
    reads_once,
    source_name,
)

CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".pt2", ".onnx")
# safetensors refuses headers above 100 MB; anything claiming more is not one.
MAX_HEADER_BYTES = 100_000_000
_PICKLE_PROTOCOLS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
_SNIFF_BYTES = 1024

# Compressed streams by their first bytes (bzip2 by its stream header and first block's magic).
_COMPRESSIONS = (("gzip", b"\x1f\x8b\x08"), ("xz", b"\xfd7zXZ\x00"), ("zstd", b"\x28\xb5\x2f\xfd"))
_BZIP2_BLOCKS = (b"1AY&SY", b"\x17rE8P\x90")  # a first block, or the end of an empty stream
ARROW_KINDS = ("parquet", "arrow-file", "arrow-stream")
TABLE_KINDS = ("csv", *ARROW_KINDS)
KIND_NAMES = {  # for messages
    "csv": "CSV file",
    "parquet": "Parquet file",
    "arrow-file": "Arrow IPC file (Feather v2)",
    "arrow-stream": "Arrow IPC stream",
}


def sniff_bytes(head: bytes) -> str:
    """Tell a whole file's kind from its first bytes (1 KiB is enough): ``"safetensors"``,
    ``"pickle"``, ``"zip"`` (torch.save and torch.export archives), ``"text"``, ``"binary"`` or
    ``"empty"``."""
    if not head:
        return "empty"
    if len(head) >= 9 and head[8:9] == b"{":
        (n_header,) = struct.unpack("<Q", head[:8])
        if n_header <= MAX_HEADER_BYTES:
            return "safetensors"
    if head[:2] in _PICKLE_PROTOCOLS:
        return "pickle"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if b"\x00" in head:
        return "binary"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the 1024-byte boundary is still text.
        if exc.start < len(head) - 3:
            return "binary"
    return "text"


def sniff(path: Source) -> str:
    """Tell a file's kind from its first bytes, without parsing it (see ``sniff_bytes``);
    ``"unreadable"`` when missing, a folder or not permitted. A stream (``-``, a pipe) is kept
    for reading whole afterwards."""
    try:
        head = peek_whole(path, _SNIFF_BYTES)
    except (OSError, VeloraError):
        return "unreadable"
    return sniff_bytes(head)


def is_checkpoint_path(path: Source) -> bool:
    """Whether ``path`` should be read as a checkpoint: by content, else by its suffix."""
    kind = sniff(path)
    if kind == "text":
        return False
    if kind in ("unreadable", "empty"):
        return is_path(path) and Path(path).suffix.lower() in CHECKPOINT_SUFFIXES  # type: ignore[arg-type]
    return True


def compression_of(head: bytes) -> str | None:
    """``"gzip"``, ``"bz2"``, ``"xz"`` or ``"zstd"`` for a compressed stream's first bytes,
    else None."""
    for name, magic in _COMPRESSIONS:
        if head.startswith(magic):
            return name
    if head[:3] == b"BZh" and head[3:4] in b"123456789" and head[4:10] in _BZIP2_BLOCKS:
        return "bz2"
    return None


def table_kind(head: bytes) -> str:
    """What a table input's first bytes (uncompressed) say it is: one of ``TABLE_KINDS``, or
    another kind that no table reader takes (``"feather-v1"``, ``"zip"``, ``"safetensors"``,
    ``"pickle"``). Anything else is read as CSV, which says what is wrong with it."""
    if head[:4] == b"PAR1":
        return "parquet"
    if head[:6] == b"ARROW1":
        return "arrow-file"
    if head[:4] == b"\xff\xff\xff\xff" and len(head) >= 8:  # the IPC continuation marker
        return "arrow-stream"
    if head[:4] == b"FEA1":
        return "feather-v1"
    kind = sniff_bytes(head)
    return kind if kind in ("zip", "safetensors", "pickle") else "csv"


def refuse_kind(name: str, kind: str) -> DataError:
    """The error for a table input of a kind that no table reader takes."""
    why = {
        "feather-v1": "a Feather version 1 file; save it as Feather version 2 (Arrow IPC), "
        "e.g. pyarrow.feather.write_feather(table, path)",
        "zip": "a zip archive; unzip it first (velora reads gzip, bzip2, xz and zstd streams)",
        "safetensors": "a safetensors file (a velora checkpoint?), not a table",
        "pickle": "a Python pickle, not a table; pickles are never loaded",
    }.get(kind, f"not a table ({kind})")
    return DataError(f"{name}: {why}")


@dataclass
class TableSource:
    """A table input, opened and told apart: its ``kind`` (one of ``TABLE_KINDS``, or one that
    ``refuse_kind`` explains), and where its bytes come from.

    ``path`` is set for a regular, uncompressed file, which readers open by path as often as
    they like. Anything else (a pipe, standard input, a compressed file) comes as a stream:
    ``first`` is the one whose first bytes were examined, positioned at the start; ``reopen()``
    gives another from the start where one can be had (a compressed regular file).
    """

    name: str
    kind: str
    size: int  # bytes of the file (the compressed ones), 0 when unknown (a pipe)
    path: Path | None = None
    compression: str | None = None
    first: Input | None = None
    reopen: Callable[[], Input] | None = field(default=None, repr=False)
    used: bool = False  # the first stream was handed out

    def stream(self) -> Input:
        """The input as a stream: the first one (once), then fresh ones where the file allows
        (else a ``DataError``: a pipe is read once)."""
        if self.first is not None and not self.used:
            self.used = True
            return self.first
        if self.reopen is None:
            raise DataError(f"{self.name}: already read; a stream can be read only once")
        return self.reopen()

    def close(self) -> None:
        """Close the first stream if it was never handed out (a reader that failed early)."""
        if self.first is not None and not self.used:
            self.first.close()


def _decompress(stream: Input, compression: str) -> Input:
    """``stream`` decompressed, as a stream whose progress counts the compressed bytes."""
    raw: Any
    if compression == "gzip":
        import gzip

        raw = gzip.GzipFile(fileobj=stream, mode="rb")
    elif compression == "bz2":
        import bz2

        raw = bz2.BZ2File(stream, "rb")
    elif compression == "xz":
        import lzma

        raw = lzma.LZMAFile(stream, "rb")  # type: ignore[arg-type]  # reads it as a file  # noqa: SIM115 - the Input closes it
    else:
        import pyarrow as pa

        if not pa.Codec.is_available("zstd"):
            raise DataError(
                f"{stream.name}: zstd-compressed, and this pyarrow build cannot decompress zstd"
            )
        raw = pa.CompressedInputStream(pa.PythonFile(stream, mode="r"), "zstd")
    what = {"bz2": "bzip2"}.get(compression, compression) + " data"
    return Input(
        raw,
        stream.name,
        size=stream.size,
        position=stream.position,
        closes=(raw, stream),
        what=what,
    )


def _open_file(path: Path, name: str) -> Input:
    try:
        raw = open(path, "rb")  # noqa: SIM115 - the Input closes it
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise DataError(
            f"{name}: is a folder, expected a table file (CSV, Parquet, Arrow)"
        ) from None
    except OSError as exc:
        raise DataError(f"{name}: cannot read: {exc.strerror or exc}") from None
    try:
        size = max(raw.seek(0, 2), 0)
        raw.seek(0)
    except OSError:
        size = 0
    return Input(raw, name, size=size, position=raw.tell, closes=(raw,))


def _unwrap(stream: Input) -> tuple[Input, str | None]:
    """``stream`` decompressed as often as it was compressed, and its outer compression."""
    compression = None
    found = compression_of(stream.peek(_SNIFF_BYTES))
    while found is not None:
        compression = compression or found
        stream = _decompress(stream, found)
        found = compression_of(stream.peek(_SNIFF_BYTES))
    return stream, compression


def open_table_source(source: Source | TableSource, *, name: str | None = None) -> TableSource:
    """Open a table input (a path, ``-`` for standard input, a pipe, an open binary stream) and
    tell what it is from its first bytes, looking through compression.

    A stream is claimed for this table: nothing else may read it afterwards.
    """
    if isinstance(source, TableSource):
        return source
    display = source_name(source, name)
    reopen = None
    if reads_once(source):
        stream = claim(source, TABLE, name=display)
    else:
        path = Path(source)  # type: ignore[arg-type]  # a path: not a stream
        stream = _open_file(path, display)
        try:
            head = stream.peek(_SNIFF_BYTES)
        except BaseException:
            stream.close()
            raise
        if compression_of(head) is None:  # a plain file: its readers open it by path
            stream.close()
            return TableSource(display, table_kind(head), stream.size, path=path)

        def reopen() -> Input:
            return _unwrap(_open_file(path, display))[0]

    try:
        stream, compression = _unwrap(stream)
        kind = table_kind(stream.peek(_SNIFF_BYTES))
    except BaseException:
        stream.close()
        raise
    return TableSource(
        display, kind, stream.size, compression=compression, first=stream, reopen=reopen
    )
