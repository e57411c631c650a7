"""Plots from the command line: every plot option names every accepted suffix and comes with
--dpi; `run --plot-neurons` and `--plot-sequence`; `wire --plot` on a checkpoint and at
sizes past single edges; errors name the flag and leave nothing behind."""

import struct
from pathlib import Path

import pytest
import typer.main

from tests.helpers import EXAMPLE, TINY_SPEC, make_sequences
from velora_cli.main import app, main_exit_code

COMMAND = typer.main.get_command(app)


def cli(capsys, *argv: object) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main_exit_code([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _plot_options():
    """(command, option) for every option that writes a figure."""
    for name, command in COMMAND.commands.items():  # type: ignore[attr-defined]
        for param in command.params:
            if any(opt.startswith("--plot") for opt in param.opts) and param.metavar == "FILE":
                yield name, param


def test_every_plot_option_lists_every_suffix_and_has_a_resolution() -> None:
    found = list(_plot_options())
    assert {(name, param.opts[0]) for name, param in found} >= {
        ("wire", "--plot"),
        ("run", "--plot"),
        ("run", "--plot-neurons"),
        ("train", "--plot-loss"),
    }
    for name, param in found:
        assert ".png, .svg or .pdf" in param.help, (name, param.opts)
        options = {opt for p in COMMAND.commands[name].params for opt in p.opts}  # type: ignore[attr-defined]
        assert "--dpi" in options, name


def _png_size(path: Path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


def test_run_plots_the_neurons_of_one_sequence(tmp_path, spec, capsys) -> None:
    data, _ = make_sequences(tmp_path, [5, 9, 4])
    out, plot = tmp_path / "o.csv", tmp_path / "n.png"
    code, _, err = cli(capsys, "run", spec, "-i", data, "-o", out, "--sequence-column", "id",
                       "--time-column", "t", "--plot-neurons", plot, "--plot-sequence", "run2",
                       "--dpi", "30", "--neuron-style", "traces", "--plot-steps")  # fmt: skip
    assert code == 0, err
    assert err.strip().endswith(f"neurons → {plot}")
    width, height = _png_size(plot)
    assert width == 11 * 30 and height > 100


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--plot-sequence", "run7"],
         "no sequence 'run7' in column 'id' (2 sequences) (see --plot-sequence)"),
        (["--plot-sequence", "run1", "--mode", "batch"],
         "--plot-sequence: batch mode has no sequences"),
        (["--dpi", "5"], "--dpi: expected 20 to 1200, got 5"),
        (["--neuron-style", "traces", "--big"], "draw a heat map (see --neuron-style)"),
    ],
)  # fmt: skip
def test_run_plot_errors_exit_2_and_write_nothing(tmp_path, spec, capsys, extra, expected) -> None:
    if "--big" in extra:
        extra = extra[:-1]
        spec = tmp_path / "big.yaml"
        spec.write_text(TINY_SPEC.replace("n_neurons: 8", "n_neurons: 40"))
    data, _ = make_sequences(tmp_path, [5, 9])
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = cli(capsys, "run", spec, "-i", data, "-o", tmp_path / "o.csv",
                         "--sequence-column", "id", "--time-column", "t",
                         "--plot-neurons", tmp_path / "n.png", *extra)  # fmt: skip
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_plot_sequence_without_a_plot_or_a_sequence_column(tmp_path, spec, capsys) -> None:
    data, _ = make_sequences(tmp_path, [5, 9])
    argv = ["run", spec, "-i", data, "-o", tmp_path / "o.csv", "--time-column", "t"]
    code, _, err = cli(capsys, *argv, "--sequence-column", "id", "--plot-sequence", "run1")
    assert code == 2
    assert "error: --plot-sequence: picks the sequence a plot draws, but no plot" in err
    code, _, err = cli(capsys, *argv, "--columns", "a,b,c", "--plot", tmp_path / "p.png",
                       "--plot-sequence", "run1")  # fmt: skip
    assert code == 2
    assert "no sequence column to find sequence 'run1' in (see --sequence-column)" in err
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "p.png").exists()


def test_wire_plot_on_a_checkpoint_draws_learned_strength(good_file, tmp_path, capsys) -> None:
    code, _, err = cli(capsys, "wire", good_file, "--plot", tmp_path / "w.png", "--dpi", "30")
    assert code == 0
    assert "(51 synapses drawn by learned strength: " in err
    code, _, err = cli(capsys, "wire", EXAMPLE, "--plot", tmp_path / "s.png", "--dpi", "30")
    assert code == 0
    assert "(51 synapses drawn: " in err and "strength" not in err


def test_wire_plot_of_a_large_network_draws_bundles(tmp_path, capsys) -> None:
    spec = tmp_path / "large.yaml"
    spec.write_text(TINY_SPEC.replace("n_neurons: 8", "n_neurons: 200"))
    code, _, err = cli(capsys, "wire", spec, "--plot", tmp_path / "w.svg", "--json")
    assert code == 0
    assert " synapses in " in err and " bundles: " in err
    assert (tmp_path / "w.svg").read_bytes().startswith(b"<?xml")


def test_train_loss_plot_at_a_resolution(tmp_path, capsys) -> None:
    root = Path(__file__).resolve().parents[2]
    plot = tmp_path / "loss.png"
    code, _, err = cli(capsys, "train", root / "examples" / "oscillator.yaml", "-d",
                       root / "examples" / "oscillator.csv", "--sequence-column", "run",
                       "--time-column", "t", "--epochs", "1", "-o", tmp_path / "m.safetensors",
                       "--plot-loss", plot, "--dpi", "40", "--quiet")  # fmt: skip
    assert code == 0, err
    assert _png_size(plot) == (256, 144)
