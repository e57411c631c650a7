"""Shared Rich consoles: results go to stdout, messages and progress to stderr."""

from rich.console import Console

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def fail_line(message: str) -> None:
    """Print one plain error line on stderr (no markup, no wrapping)."""
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True, style="red")


def note_compiling(network, *, training: bool = False) -> None:
    """Say so on stderr when this run will first compile velora's CPU loops (a one-off cost)."""
    if not network._small(1) or next(network.parameters()).device.type != "cpu":
        return
    from velora.models.lnn import kernel

    ready = kernel.is_ready()
    if training:
        from velora.models.lnn import grad_kernel

        ready = ready and grad_kernel.is_ready()
    if not ready:
        err.print(
            "compiling velora's CPU loops: once per installation, cached for later runs",
            style="dim",
            highlight=False,
        )
