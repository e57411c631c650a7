"""velora.viz.run: the plot of a run."""

import numpy as np
import torch

from velora.inference import run_chunks


def test_plot_draws_outputs_and_recorded_columns(tmp_path) -> None:
    """What the run plot draws: per sequence, the network's outputs and, dashed, the recorded
    values of outputs the file also holds."""
    from velora.files.tables import CsvReader
    from velora.models import LiquidNCPNetwork
    from velora.viz.run import RunPlot, recorded_outputs

    rows = ["id,t,a,b,y1"]
    rows += [f"s{k},{i},{i * 0.1},{k},{i * 0.01}" for k in range(2) for i in range(6)]
    path = tmp_path / "rec.csv"
    path.write_text("\n".join(rows) + "\n")
    net = LiquidNCPNetwork(2, 6, 2, seed=0)
    reader = CsvReader(path, columns=["a", "b"], sequence_column="id", time_column="t")
    recorded = recorded_outputs(reader, ["y0", "y1"])
    assert recorded == ["y1"]
    reader = reader.with_targets(recorded)
    plot = RunPlot(reader.columns, ["y0", "y1"], time_label="t", recorded_names=recorded)
    outputs = []
    with torch.inference_mode():
        for result in run_chunks(net, reader):
            plot.add(result)
            outputs.append(result.y)
    fig = plot.figure()
    out_axes = fig.axes[1::2]
    assert len(out_axes) == 2
    first = out_axes[0].get_lines()
    assert [line.get_label() for line in first] == ["y0", "y1", "y1 (recorded)"]
    assert list(first[0].get_xdata()) == list(range(6))
    assert list(first[1].get_ydata()) == list(outputs[0][:6, 1])
    assert first[2].get_linestyle() == "--"
    assert list(first[2].get_ydata()) == [np.float32(i * 0.01) for i in range(6)]
