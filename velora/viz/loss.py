"""The loss curves of a training run: training and validation loss per epoch.

Epoch 0 is the starting network, so the curves show how far training brought it. Sized for a
page (6.4 × 3.6 inches: a paper's full text width, fonts still readable when printed), with
whole epochs on the x axis and, on a log scale, loss values written out (0.02, 0.05, 0.1).
Drawn as a matplotlib ``Figure`` and saved like every velora figure (``velora.viz.figures``).
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from velora.viz.figures import DEFAULT_DPI, check_dpi, plot_format, save_figure

SIZE = (6.4, 3.6)  # inches
LOG_RATIO = 20  # a log scale once the loss spans more than this factor


def _plain(value: float, _position=None) -> str:
    """A tick label as a plain number: 0.02, 0.5, 3, 1e-05 only where it must."""
    return f"{value:g}"


def loss_figure(result, *, loss: str = "mse", title: str = "velora train") -> Figure:
    """Training and validation loss per epoch of a ``FitResult`` (epoch 0: before training)."""
    fig = Figure(figsize=SIZE, layout="constrained")
    ax = fig.add_subplot()
    epochs = list(range(len(result.train_loss) + 1))
    marker = 3 if len(epochs) <= 60 else 0
    ax.plot(epochs, [result.initial_train_loss, *result.train_loss], "o-", ms=marker, lw=1.4,
            label="training")  # fmt: skip
    values = [result.initial_train_loss, *result.train_loss]
    if result.initial_val_loss is not None:
        val = [result.initial_val_loss, *result.val_loss]
        values += val
        ax.plot(epochs, val, "s-", ms=marker, lw=1.4, label="validation")
    if result.best_epoch > 0:
        ax.axvline(result.best_epoch, color="0.6", ls=":", lw=1)
        right = result.best_epoch > len(result.train_loss) / 2
        # Label the line at the top of the axes, where no curve runs.
        ax.annotate(
            f"best: epoch {result.best_epoch}",
            (result.best_epoch, 1.0),
            xycoords=("data", "axes fraction"),
            textcoords="offset points",
            xytext=(-4 if right else 4, -4),
            ha="right" if right else "left",
            va="top",
            fontsize=8,
            color="0.3",
        )
    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) > LOG_RATIO:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(_plain))
        ax.yaxis.set_minor_locator(LogLocator(subs=tuple(range(1, 10))))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    ax.margins(x=0.02)
    ax.set_xlabel("epoch", fontsize=9)
    ax.set_ylabel(f"{loss} loss", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.grid(True, which="minor", axis="y", alpha=0.1)
    ax.legend(fontsize=8, frameon=False, loc="best")
    return fig


def save_loss_plot(
    result, path: str | Path, *, dpi: int = DEFAULT_DPI, force: bool = False, **options
) -> None:
    """Draw ``loss_figure`` and write it atomically (png, svg or pdf by extension)."""
    plot_format(path)
    check_dpi(dpi)
    save_figure(loss_figure(result, **options), path, dpi=dpi, force=force)
