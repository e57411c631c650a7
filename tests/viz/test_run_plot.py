"""velora.viz.run: the plot of a run, checked through what the figure draws."""

import struct

import numpy as np
import pytest
import torch

from tests.helpers import make_sequences
from velora.errors import VeloraError
from velora.files.tables import CsvReader
from velora.inference import run_chunks
from velora.models import LiquidNCPNetwork
from velora.viz.run import RunPlot, recorded_outputs


def _collect(plot, net, reader, mode: str = "sequence") -> list[np.ndarray]:
    outputs = []
    with torch.inference_mode():
        for result in run_chunks(net, reader, mode=mode):
            plot.add(result)
            outputs.append(result.y)
    return outputs


def _columns(fig):
    """The input panels and the output panels, top to bottom."""
    left, right = fig.subfigs
    return left.axes, right.axes


def _recorded_file(tmp_path):
    rows = ["id,t,a,b,y1"]
    rows += [f"s{k},{i},{i * 0.1},{k},{i * 0.01}" for k in range(2) for i in range(6)]
    path = tmp_path / "rec.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_plot_draws_outputs_and_recorded_columns(tmp_path) -> None:
    """Per sequence, the network's outputs as lines and, as dots in the same colour, the
    recorded values of outputs the file also holds."""
    net = LiquidNCPNetwork(2, 6, 2, seed=0)
    reader = CsvReader(
        _recorded_file(tmp_path), columns=["a", "b"], sequence_column="id", time_column="t"
    )
    recorded = recorded_outputs(reader, ["y0", "y1"])
    assert recorded == ["y1"]
    reader = reader.with_targets(recorded)
    plot = RunPlot(reader.columns, ["y0", "y1"], time_label="t", recorded_names=recorded)
    outputs = _collect(plot, net, reader)
    fig = plot.figure()
    inputs, outs = _columns(fig)
    assert len(inputs) == len(outs) == 2
    first = outs[0].get_lines()
    assert [line.get_label() for line in first] == ["y0", "y1", "y1 (recorded)"]
    assert list(first[0].get_xdata()) == list(range(6))
    assert list(first[1].get_ydata()) == list(outputs[0][:6, 1])
    # Recorded: dots, no line; the network's: a solid line of the same colour on top.
    assert first[2].get_linestyle() == "None" and first[2].get_marker() == "o"
    assert first[1].get_linestyle() == "-" and first[1].get_marker() in ("None", "", None)
    assert first[2].get_color() == first[1].get_color()
    assert first[1].get_zorder() > first[2].get_zorder()
    assert list(first[2].get_ydata()) == [np.float32(i * 0.01) for i in range(6)]
    assert list(inputs[1].get_lines()[1].get_ydata()) == [1.0] * 6  # column b of s1


def test_every_axis_is_labelled_and_the_legends_sit_above_the_panels(tmp_path) -> None:
    net = LiquidNCPNetwork(2, 6, 2, seed=0)
    reader = CsvReader(
        _recorded_file(tmp_path), columns=["a", "b"], sequence_column="id", time_column="t"
    ).with_targets(["y1"])
    plot = RunPlot(reader.columns, ["y0", "y1"], time_label="t", recorded_names=["y1"])
    _collect(plot, net, reader)
    fig = plot.figure()
    inputs, outs = _columns(fig)
    for ax in (*inputs, *outs):
        assert ax.get_ylabel() in ("a, b", "y0, y1")
        assert ax.get_legend() is None  # no legend over the data
    assert [ax.get_xlabel() for ax in inputs] == ["", "t"]
    assert [ax.get_title(loc="left") for ax in inputs] == [
        "sequence 's0': inputs",
        "sequence 's1': inputs",
    ]
    # One legend per column, for every row, outside the panels.
    legends = [sub.legends for sub in fig.subfigs]
    assert [[t.get_text() for t in leg[0].get_texts()] for leg in legends] == [
        ["a", "b"],
        ["y0", "y1", "y1 (recorded)"],
    ]


def test_steps_draw_inputs_as_the_network_sees_them(tmp_path) -> None:
    net = LiquidNCPNetwork(3, 6, 1, seed=0)
    path, _ = make_sequences(tmp_path, [5, 7])
    for steps, style in ((False, "default"), (True, "steps-pre")):
        reader = CsvReader(path, sequence_column="id", time_column="t")
        plot = RunPlot(reader.columns, ["y0"], time_label="t", steps=steps)
        _collect(plot, net, reader)
        inputs, outs = _columns(plot.figure())
        assert {line.get_drawstyle() for line in inputs[0].get_lines()} == {style}
        assert {line.get_drawstyle() for line in outs[0].get_lines()} == {"default"}


def test_batch_mode_draws_points_never_joined(tmp_path) -> None:
    net = LiquidNCPNetwork(3, 6, 1, seed=0)
    path, _ = make_sequences(tmp_path, [5, 7], time=False)
    reader = CsvReader(path, sequence_column="id", check_order=False)
    plot = RunPlot(reader.columns, ["y0"], batch=True)
    _collect(plot, net, reader, mode="batch")
    inputs, outs = _columns(plot.figure())
    assert len(inputs) == 1
    for line in (*inputs[0].get_lines(), *outs[0].get_lines()):
        assert line.get_linestyle() == "None" and line.get_marker() == "."
    assert list(inputs[0].get_lines()[0].get_xdata()) == list(range(12))
    assert inputs[0].get_xlabel() == "row"


@pytest.mark.parametrize("block_bytes", [1 << 20, 64])
def test_one_sequence_by_id_across_chunks(tmp_path, block_bytes) -> None:
    """``sequence`` draws that sequence alone, whole, also when chunks cut it."""
    net = LiquidNCPNetwork(3, 6, 1, seed=0)
    path, data = make_sequences(tmp_path, [4, 30, 5])
    reader = CsvReader(path, sequence_column="id", time_column="t", block_bytes=block_bytes)
    plot = RunPlot(reader.columns, ["y0"], time_label="t", sequence="run1")
    _collect(plot, net, reader)
    plot.check(path, "id")
    inputs, _ = _columns(plot.figure())
    assert len(inputs) == 1
    lines = inputs[0].get_lines()
    assert np.array_equal(lines[0].get_xdata(), data["t"][4:34])
    assert np.array_equal(lines[2].get_ydata(), data["x"][4:34, 2])
    assert inputs[0].get_title(loc="left") == "sequence 'run1': inputs"


def test_a_missing_sequence_is_named(tmp_path) -> None:
    net = LiquidNCPNetwork(3, 6, 1, seed=0)
    path, _ = make_sequences(tmp_path, [4, 5])
    reader = CsvReader(path, sequence_column="id", time_column="t")
    plot = RunPlot(reader.columns, ["y0"], sequence="run7")
    _collect(plot, net, reader)
    with pytest.raises(VeloraError, match=r"seq0\.csv: no sequence 'run7' in column 'id'") as e:
        plot.check(path, "id")
    assert e.value.parameter == "plot_sequence"


def test_the_title_says_how_many_sequences_are_shown(tmp_path) -> None:
    net = LiquidNCPNetwork(3, 6, 1, seed=0)
    path, _ = make_sequences(tmp_path, [3] * 6)
    reader = CsvReader(path, sequence_column="id", time_column="t")
    plot = RunPlot(reader.columns, ["y0"], title="velora run: tiny on seq0.csv")
    _collect(plot, net, reader)
    fig = plot.figure()
    assert fig.get_suptitle() == "velora run: tiny on seq0.csv (the first 4 of 6 sequences)"
    assert len(_columns(fig)[0]) == 4


def test_save_at_a_resolution(tmp_path) -> None:
    net = LiquidNCPNetwork(3, 6, 1, seed=0)
    path, _ = make_sequences(tmp_path, [3, 3])
    reader = CsvReader(path, sequence_column="id", time_column="t")
    plot = RunPlot(reader.columns, ["y0"])
    _collect(plot, net, reader)
    width, height = plot.figure().get_size_inches()
    png = plot.save(tmp_path / "run.png", dpi=40).read_bytes()
    assert struct.unpack(">II", png[16:24]) == (round(width * 40), round(height * 40))
