"""The loss curves of a training run: training and validation loss per epoch, log scale.

Epoch 0 is the starting network, so the curves show how far training brought it. Drawn with
matplotlib ``Figure`` objects and saved like every velora figure (``velora.viz.figures``).
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from velora.viz.figures import plot_format, save_figure


def loss_figure(result, *, loss: str = "mse", title: str = "velora train") -> Figure:
    """Training and validation loss per epoch of a ``FitResult`` (epoch 0: before training)."""
    fig = Figure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    epochs = list(range(len(result.train_loss) + 1))
    ax.plot(epochs, [result.initial_train_loss, *result.train_loss], "o-", ms=3, label="train")
    if result.initial_val_loss is not None:
        val = [result.initial_val_loss, *result.val_loss]
        ax.plot(epochs, val, "s-", ms=3, label="validation")
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
    values = [v for v in (result.initial_train_loss, *result.train_loss) if v > 0]
    if values and max(values) / min(values) > 20:
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{loss} loss")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def save_loss_plot(result, path: str | Path, *, force: bool = False, **options) -> None:
    """Draw ``loss_figure`` and write it atomically (png, svg or pdf by extension)."""
    plot_format(path)
    save_figure(loss_figure(result, **options), path, dpi=120, force=force)
