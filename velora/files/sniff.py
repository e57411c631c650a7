"""Which file is this: a file's kind told from its first bytes, not from its name.

A checkpoint works wherever a spec does because commands ask this module, not the suffix.
"""

import struct
from pathlib import Path

CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".pt2", ".onnx")
# safetensors refuses headers above 100 MB; anything claiming more is not one.
MAX_HEADER_BYTES = 100_000_000
_PICKLE_PROTOCOLS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def sniff(path: str | Path) -> str:
    """Tell a file's kind from its first bytes, without parsing it.

    Returns ``"safetensors"``, ``"pickle"``, ``"zip"`` (torch.save and torch.export archives),
    ``"text"``, ``"binary"``, ``"empty"``, or ``"unreadable"`` (missing, a folder, no permission).
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(1024)
    except OSError:
        return "unreadable"
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


def is_checkpoint_path(path: str | Path) -> bool:
    """Whether ``path`` should be read as a checkpoint: by content, else by its suffix."""
    kind = sniff(path)
    if kind == "text":
        return False
    if kind in ("unreadable", "empty"):
        return Path(path).suffix.lower() in CHECKPOINT_SUFFIXES
    return True
