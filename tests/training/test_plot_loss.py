"""train_csv's loss plot: titled with the spec's name, drawn at the asked resolution."""

import struct
from pathlib import Path

import pytest

import velora.viz.loss
from velora.errors import VeloraError
from velora.training import train_csv

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "oscillator.yaml"
DATA = ROOT / "examples" / "oscillator.csv"


def test_the_loss_plot_names_the_spec_not_the_file(tmp_path: Path, monkeypatch) -> None:
    drawn = []
    figure = velora.viz.loss.loss_figure

    def spy(result, **options):
        fig = figure(result, **options)
        drawn.append(fig)
        return fig

    monkeypatch.setattr(velora.viz.loss, "loss_figure", spy)
    plot = tmp_path / "loss.png"
    train_csv(SPEC, DATA, tmp_path / "model.safetensors", epochs=1, sequence_column="run",
              time_column="t", plot_loss=plot, dpi=40)  # fmt: skip
    assert [fig.axes[0].get_title() for fig in drawn] == ["velora train: oscillator"]
    width, height = struct.unpack(">II", plot.read_bytes()[16:24])
    assert (width, height) == (256, 144)  # 6.4 x 3.6 inches at 40 dpi


def test_a_bad_resolution_is_refused_before_training(tmp_path: Path) -> None:
    with pytest.raises(VeloraError, match="dpi: expected 20 to 1200, got 10") as caught:
        train_csv(SPEC, DATA, tmp_path / "m.safetensors", epochs=1, plot_loss=tmp_path / "l.png",
                  dpi=10)  # fmt: skip
    assert caught.value.parameter == "dpi"
    assert list(tmp_path.iterdir()) == []
