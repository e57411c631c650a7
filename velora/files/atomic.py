"""File output that never leaves a half-written or silently replaced file behind."""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from velora.errors import OutputExistsError, VeloraError

__all__ = ["OutputExistsError", "atomic_path", "atomic_write", "check_writable"]


def check_writable(path: str | Path, *, force: bool = False) -> Path:
    """Fail early, before any work, if ``path`` exists without ``force`` or has no folder."""
    path = Path(path)
    if path.is_dir():
        raise VeloraError(f"{path}: is a folder, expected a file name")
    if path.exists() and not force:
        raise OutputExistsError(f"{path}: already exists")
    if not path.parent.exists():
        raise VeloraError(f"{path}: folder {str(path.parent)!r} does not exist")
    return path


def _publish(tmp: str | Path, path: Path, force: bool) -> None:
    """Give the finished temporary file normal permissions and rename it over ``path``."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    if path.exists() and not force:
        raise OutputExistsError(f"{path}: already exists")
    os.replace(tmp, path)


@contextmanager
def atomic_write(
    path: str | Path, *, force: bool = False, mode: str = "wb", newline: str | None = None
) -> Iterator[IO]:
    """Write to a temporary file beside ``path`` and rename it into place on success.

    On any exception (Ctrl-C included) the temporary file is removed and ``path`` is untouched.
    """
    path = check_writable(path, force=force)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _publish(tmp, path, force)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_path(path: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Like ``atomic_write`` but yields a temporary path, for libraries that write by name.

    The temporary name keeps ``path``'s suffix so that format detection by extension works.
    """
    path = check_writable(path, force=force)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        _publish(tmp, path, force)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
