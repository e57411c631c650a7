"""Shared Rich consoles: results go to stdout, messages and progress to stderr."""

from rich.console import Console

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def fail_line(message: str) -> None:
    """Print one plain error line on stderr (no markup, no wrapping)."""
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True, style="red")
