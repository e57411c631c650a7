"""Shared Rich consoles: results go to stdout, messages and progress to stderr."""

import logging

from rich.console import Console

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` with thousands separators and the noun in the right number: "1 row", "96,093
    synapses"."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


MAX_ERROR_CHARS = 1000  # an error is one line a person reads, whatever the input held


def one_line(message: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``message`` as one bounded line: line breaks and other control characters (a file name
    may hold them) escaped, and the middle cut when it is longer than ``limit``."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
    if len(text) > limit:
        half = (limit - 5) // 2
        text = f"{text[:half]} ... {text[-half:]}"
    return text


def fail_line(message: str) -> None:
    """Print one plain error line on stderr (no markup, no wrapping)."""
    err.print(
        f"error: {one_line(message)}", markup=False, highlight=False, soft_wrap=True, style="red"
    )


def note(message: str) -> None:
    """One plain line on stderr (no markup, no wrapping)."""
    err.print(message, markup=False, highlight=False, soft_wrap=True)


class _NoteHandler(logging.Handler):
    """Shows the library's INFO messages (e.g. a one-off compile) as dim lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(record.getMessage(), style="dim", markup=False, highlight=False, soft_wrap=True)


def show_library_notes(show: bool = True) -> None:
    """Route the ``velora`` logger's notes to stderr, or silence them (``--quiet``)."""
    logger = logging.getLogger("velora")
    for handler in [h for h in logger.handlers if isinstance(h, _NoteHandler)]:
        logger.removeHandler(handler)
    if show:
        logger.addHandler(_NoteHandler())
        logger.setLevel(logging.INFO)
    logger.propagate = not show
