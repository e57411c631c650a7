"""run_csv's plots: the neuron-activity plot, one sequence by id, the resolution, and every
plot option checked before the run, leaving nothing behind when refused."""

import struct
from pathlib import Path

import pytest

import velora.viz.neurons
from tests.helpers import TINY_SPEC, make_sequences
from velora.errors import VeloraError
from velora.inference import run_csv


def _png_size(path: Path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


def test_neuron_plot_of_one_sequence_at_a_resolution(tmp_path, spec, monkeypatch) -> None:
    drawn = []
    figure = velora.viz.neurons.NeuronPlot.figure

    def spy(self, network):
        fig, info = figure(self, network)
        drawn.append((fig, info))
        return fig, info

    monkeypatch.setattr(velora.viz.neurons.NeuronPlot, "figure", spy)
    data, held = make_sequences(tmp_path, [5, 9, 4])
    out, run_png, neurons_png = tmp_path / "o.csv", tmp_path / "run.png", tmp_path / "n.png"
    summary = run_csv(spec, data, out, sequence_column="id", time_column="t", plot=run_png,
                      plot_neurons=neurons_png, plot_sequence="run1", dpi=30)  # fmt: skip
    assert summary.plot == run_png and summary.neuron_plot == neurons_png
    ((fig, info),) = drawn
    assert info.states.shape == (9, 10)  # the 9 rows of run1; 8 neurons + 2 motor
    assert list(info.time) == list(held["t"][5:14])
    assert fig.get_suptitle() == "velora run: tiny on seq0.csv · neuron states, sequence 'run1'"
    width, height = fig.get_size_inches()
    assert _png_size(neurons_png) == (round(width * 30), round(height * 30))
    assert _png_size(run_png)[0] == (11 * 30)


@pytest.mark.parametrize(
    ("options", "message", "parameter"),
    [
        ({"plot_sequence": "run9"}, r"seq0\.csv: no sequence 'run9' in column 'id' \(2 ",
         "plot_sequence"),
        ({"plot_sequence": "run1", "sequence_column": None, "columns": ["a", "b", "c"]},
         "seq0.csv: no sequence column to find sequence 'run1' in", "sequence_column"),
        ({"plot_sequence": "run1", "plot_neurons": None}, "plot_sequence: picks the",
         "plot_sequence"),
        ({"plot_sequence": "run1", "mode": "batch"}, "plot_sequence: batch mode", "plot_sequence"),
        ({"neuron_style": "traces", "network": "big"}, "at most 32 neurons", "neuron_style"),
        ({"neuron_style": "dots"}, "neuron_style: expected one of heatmap, traces", "neuron_style"),
        ({"dpi": 10}, "dpi: expected 20 to 1200, got 10", "dpi"),
        ({"plot": "n.png"}, "n.png: the same file as another output or plot", None),
        ({"plot_neurons": "n.jpg"}, r"use \.png, \.svg or \.pdf", None),
    ],
)  # fmt: skip
def test_refused_with_nothing_written(tmp_path, spec, options, message, parameter) -> None:
    data, _ = make_sequences(tmp_path, [5, 9])
    if options.pop("network", None) == "big":
        spec = tmp_path / "big.yaml"
        spec.write_text(TINY_SPEC.replace("n_neurons: 8", "n_neurons: 40"))
    arguments = {"sequence_column": "id", "time_column": "t", "plot_neurons": "n.png"} | options
    for key in ("plot", "plot_neurons"):
        if arguments.get(key) is not None:
            arguments[key] = tmp_path / arguments[key]
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(VeloraError, match=message) as caught:
        run_csv(spec, data, tmp_path / "o.csv", **arguments)
    assert caught.value.parameter == parameter
    assert sorted(p.name for p in tmp_path.iterdir()) == before
