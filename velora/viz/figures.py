"""The one way velora saves a figure: format from the file's suffix, fixed metadata so that the
same figure gives the same bytes, written atomically.

Figures are matplotlib ``Figure`` objects (no pyplot, no global backend, no display).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from velora.errors import VeloraError
from velora.files.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
# Every suffix FORMATS accepts, as messages and help texts list them: ".png, .svg or .pdf".
SUFFIXES = ", ".join(list(FORMATS)[:-1]) + " or " + list(FORMATS)[-1]
MIN_DPI, MAX_DPI = 20, 1200
DEFAULT_DPI = 150  # every figure, from Python and from the command line
# The neuron-activity figure's styles (velora.viz.neurons), here so that the command line lists
# them without importing matplotlib; traces draw networks of at most MAX_TRACE_NEURONS neurons.
NEURON_STYLES = ("heatmap", "traces")
MAX_TRACE_NEURONS = 32
# No dates or versions in the files: the same figure always gives the same bytes.
_METADATA = {
    "png": {"Software": "velora"},
    "svg": {"Creator": "velora", "Date": None},
    "pdf": {"Creator": "velora", "CreationDate": None},
}


def plot_format(path: str | Path) -> str:
    """The figure format from the file's suffix; a VeloraError for anything but png/svg/pdf."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise VeloraError(
            f"{path}: cannot tell the plot format from {suffix or 'no extension'!r}; use {SUFFIXES}"
        )
    return FORMATS[suffix]


def check_dpi(dpi: int) -> int:
    """``dpi`` if it lies in [20, 1200], else a VeloraError naming the parameter."""
    if not MIN_DPI <= dpi <= MAX_DPI:
        raise VeloraError(f"dpi: expected {MIN_DPI} to {MAX_DPI}, got {dpi}", parameter="dpi")
    return dpi


def save_figure(
    fig: Figure, path: str | Path, *, dpi: int = DEFAULT_DPI, force: bool = False
) -> Path:
    """Write ``fig`` to ``path`` (png, svg or pdf by suffix), atomically; an existing file is
    replaced only with ``force``."""
    fmt = plot_format(path)
    check_dpi(dpi)
    with atomic_path(path, force=force) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, metadata=_METADATA[fmt])
    return Path(path)
