"""velora.viz.neurons: every neuron's state over time, checked through what the figure draws."""

import numpy as np
import pytest
import torch

from tests.helpers import make_sequences
from velora.errors import VeloraError
from velora.files.tables import CsvReader
from velora.inference import run_chunks
from velora.models import LiquidNCPNetwork
from velora.viz.neurons import MAX_TRACE_NEURONS, NeuronPlot, neuron_figure


def _states(net, steps: int = 30, seed: int = 0):
    """Random inputs and irregular times, and the states forward_sequence returns for them."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, steps, net.in_features)).astype(np.float32)
    dt = rng.uniform(0.2, 1.5, (1, steps)).astype(np.float32)
    with torch.inference_mode():
        _, states = net.forward_sequence(
            torch.from_numpy(x), None, torch.from_numpy(dt), return_states=True
        )
    return x[0], np.cumsum(dt[0]).astype(np.float64), states


def _split(n_neurons: int) -> tuple[int, int]:
    """Inter and command neurons of ``n_neurons``, by the rule in the README (40% command)."""
    command = max(int(0.4 * n_neurons + 1e-9), 1)
    return n_neurons - command, command


def test_heat_map_shows_every_state_grouped() -> None:
    net = LiquidNCPNetwork(2, 10, 2, seed=1)
    x, t, states = _states(net)
    fig, info = neuron_figure(
        states, net, time=t, inputs=x, input_names=["p", "q"], output_names=["u", "v"],
        time_label="t",
    )  # fmt: skip
    inter, _ = _split(10)
    assert info.groups == {"inter": (0, inter), "command": (inter, 10), "motor": (10, 12)}
    data = states[0].numpy()
    limit = float(np.abs(data).max())
    for group, (lo, hi) in info.groups.items():
        ax = info.axes[group]
        image = ax.get_images()[0] if ax.get_images() else ax.collections[0]
        # Rows are neurons (neuron 0 on top), columns are steps.
        assert np.array_equal(np.asarray(image.get_array()).reshape(hi - lo, -1), data[:, lo:hi].T)
        assert image.norm.vmin == -limit and image.norm.vmax == limit
        assert ax.get_ylim()[0] > ax.get_ylim()[1]
        assert ax.get_ylabel() == f"{group}\n({hi - lo})"
    assert info.tick_labels["motor"] == ["u", "v"]
    assert info.tick_labels["inter"] == [str(i) for i in range(inter)]
    # The x axis spans the times (cells centred on them), labelled, shared with the inputs.
    left, right = info.axes["motor"].get_xlim()
    assert left < t[0] < t[-1] < right and info.axes["motor"].get_xlabel() == "t"
    lines = info.axes["inputs"].get_lines()
    assert [line.get_label() for line in lines] == ["p", "q"]
    assert np.array_equal(lines[1].get_ydata(), x[:, 1])
    bar = [ax for ax in fig.axes if ax.get_ylabel() == "state after the step"]
    assert len(bar) == 1


def test_traces_draw_one_line_per_neuron_on_one_scale() -> None:
    net = LiquidNCPNetwork(1, 12, 1, seed=2)
    _, t, states = _states(net, steps=15)
    _, info = neuron_figure(states, net, time=t, style="traces")
    data = states[0].numpy()
    for group, (lo, hi) in info.groups.items():
        ax = info.axes[group]
        lines = ax.get_lines()
        assert len(lines) == hi - lo
        for i, line in enumerate(lines):
            assert np.array_equal(line.get_ydata(), data[:, lo + i])
        assert ax.get_ylim() == pytest.approx((-1.05 * info.limit, 1.05 * info.limit))
    assert "inputs" not in info.axes


def test_traces_are_for_small_networks_only() -> None:
    big = LiquidNCPNetwork(1, MAX_TRACE_NEURONS + 1, 1, seed=0)
    _, _, states = _states(big, steps=3)
    with pytest.raises(VeloraError, match="at most 32 neurons") as caught:
        neuron_figure(states, big, style="traces")
    assert caught.value.parameter == "neuron_style"
    neuron_figure(states, big)  # a heat map draws any size
    with pytest.raises(VeloraError, match="neuron_style: expected one of heatmap, traces"):
        neuron_figure(states, big, style="lines")


def test_states_must_fit_the_network() -> None:
    net = LiquidNCPNetwork(1, 6, 1, seed=0)
    with pytest.raises(ValueError, match=r"states must be \(time, 7\)"):
        neuron_figure(np.zeros((5, 6)), net)
    with pytest.raises(ValueError, match="time must hold one value per step"):
        neuron_figure(np.zeros((5, 7)), net, time=np.arange(4))


def test_large_networks_keep_every_group_readable() -> None:
    """At 1,000 neurons the one motor neuron still gets a band, not a hairline."""
    net = LiquidNCPNetwork(2, 1000, 1, seed=0)
    _, info = neuron_figure(np.zeros((4, 1001)), net)
    heights = {g: info.axes[g].get_position().height for g in ("inter", "command", "motor")}
    assert heights["motor"] > 0.05 * sum(heights.values())
    assert heights["inter"] > heights["command"] > heights["motor"]
    assert info.limit == 1.0  # all zero: a unit scale, not a division by zero


@pytest.mark.parametrize("block_bytes", [1 << 20, 96])
def test_neuron_plot_of_a_run_equals_the_runs_hidden_state(tmp_path, block_bytes) -> None:
    """NeuronPlot's states for a picked sequence equal the hidden states that run_chunks
    computes for its rows (from the run's own batching), also across chunk boundaries."""
    net = LiquidNCPNetwork(3, 8, 2, seed=4)
    path, data = make_sequences(tmp_path, [6, 25, 9])
    reader = CsvReader(path, sequence_column="id", time_column="t", block_bytes=block_bytes)
    plot = NeuronPlot(reader.columns, ["y0", "y1"], sequence="run1", time_label="t")
    hidden = []
    with torch.inference_mode():
        for result in run_chunks(net, reader, hidden=True):
            plot.add(result)
            hidden.append(result.h)
    plot.check(path, "id")
    fig, info = plot.figure(net)
    expected = np.concatenate(hidden)[6:31]
    np.testing.assert_allclose(info.states, expected, rtol=0, atol=1e-6)
    assert np.array_equal(info.time, data["t"][6:31])
    assert fig.get_suptitle() == "velora run · neuron states, sequence 'run1'"


def test_neuron_plot_keeps_a_bounded_number_of_steps(tmp_path) -> None:
    net = LiquidNCPNetwork(3, 8, 2, seed=4)
    path, _ = make_sequences(tmp_path, [40])
    reader = CsvReader(path, sequence_column="id", time_column="t")
    plot = NeuronPlot(reader.columns, ["y0", "y1"], max_steps=16)
    with torch.inference_mode():
        for result in run_chunks(net, reader):
            plot.add(result)
    fig, info = plot.figure(net)
    assert info.states.shape == (16, 10)
    assert fig.get_suptitle().endswith("sequence 'run0', first 16 of 40 steps")
