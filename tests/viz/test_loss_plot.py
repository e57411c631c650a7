"""velora.viz.loss: the loss curves, checked through what the figure draws."""

import math
import struct
from types import SimpleNamespace

import numpy as np
import pytest

from velora.errors import VeloraError
from velora.viz.loss import loss_figure, save_loss_plot


def _result(train, val=None, best=0):
    """What loss_figure reads of a FitResult: losses per epoch, the start, the best epoch."""
    return SimpleNamespace(
        train_loss=list(train[1:]),
        val_loss=None if val is None else list(val[1:]),
        initial_train_loss=train[0],
        initial_val_loss=None if val is None else val[0],
        best_epoch=best,
    )


def _visible(ticks, low, high):
    return [t for t in ticks if low - 1e-9 <= t <= high + 1e-9]


def test_twenty_epochs_on_a_log_scale_read_as_plain_numbers() -> None:
    train = list(0.35 * np.exp(-0.15 * np.arange(21)))  # 0.35 down to about 0.017: 20 times
    val = [v * 1.1 for v in train]
    fig = loss_figure(_result(train, val, best=18), title="velora train: oscillator")
    ax = fig.axes[0]
    assert tuple(fig.get_size_inches()) == (6.4, 3.6)
    assert ax.get_title() == "velora train: oscillator"
    assert ax.get_yscale() == "log"
    fig.canvas.draw()  # tick labels are made when drawn
    low, high = ax.get_ylim()
    labels = [t for t in ax.get_yticklabels() if low <= t.get_position()[1] <= high]
    values = [float(t.get_text()) for t in labels]  # plain numbers: 0.02, 0.05, 0.1, 0.2
    assert len(values) >= 3
    for v in values:
        mantissa = v / 10 ** math.floor(math.log10(v))
        assert round(mantissa, 6) in (1.0, 2.0, 5.0)
    assert not [t for t in ax.get_yticklabels(minor=True) if t.get_text()]
    # Whole epochs only, within the run.
    ticks = _visible(ax.get_xticks(), 0, 20)
    assert all(float(t).is_integer() for t in ticks) and ticks[0] == 0 and ticks[-1] == 20
    assert [line.get_label() for line in ax.get_lines()[:2]] == ["training", "validation"]
    assert list(ax.get_lines()[0].get_ydata()) == train
    assert any(t.get_text() == "best: epoch 18" for t in ax.texts)


def test_a_narrow_range_stays_linear() -> None:
    fig = loss_figure(_result([0.3, 0.25, 0.2, 0.18]))
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear"
    assert [line.get_label() for line in ax.get_lines()] == ["training"]  # no validation
    assert all(float(t).is_integer() for t in _visible(ax.get_xticks(), *ax.get_xlim()))


def test_saved_at_the_asked_resolution(tmp_path) -> None:
    path = tmp_path / "loss.png"
    save_loss_plot(_result([0.3, 0.2, 0.1]), path, dpi=50)
    png = path.read_bytes()
    assert struct.unpack(">II", png[16:24]) == (320, 180)  # 6.4 x 3.6 inches at 50 dpi
    with pytest.raises(VeloraError, match="dpi: expected 20 to 1200"):
        save_loss_plot(_result([0.3, 0.2]), tmp_path / "other.png", dpi=2000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png"]
