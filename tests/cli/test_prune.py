"""`velora prune`: the table before and after, a file that `velora inspect` verifies, and
refusals (exit 2, one line, nothing written)."""

import json
import os

import numpy as np
import pytest
import safetensors.numpy
from rich.console import Console

import velora_cli.commands.inspect as inspect_command
from tests.helpers import EXAMPLE
from velora.files import checkpoint
from velora_cli.main import main_exit_code


def cli(capsys, *argv: object) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main_exit_code([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_prune_prints_synapses_before_and_after(tmp_path, good_file, capsys) -> None:
    out_file = tmp_path / "pruned.safetensors"
    code, out, err = cli(capsys, "prune", good_file, "--keep", "0.6", "-o", out_file)
    assert code == 0, err
    stored = safetensors.numpy.load_file(str(out_file))
    after = {
        layer: int((stored[f"wiring.{layer}"] != 0).sum())
        for layer in ("inter", "command", "motor")
    }
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["sensory→inter"][1:3] == ["19", str(after["inter"])]
    assert rows["inter→command"][1:3] == ["26", str(after["command"])]
    assert rows["command→motor"][1:3] == ["6", str(after["motor"])]
    assert rows["total"][1:3] == ["51", str(sum(after.values()))]
    assert f"{good_file}: keeping 0.6 of each layer's synapses" in out
    assert err.startswith(f"wrote {out_file} (velora checkpoint, ")
    assert f"{sum(after.values())} synapses of 51)" in err


def test_inspect_verifies_the_pruned_file_and_shows_its_origin(
    tmp_path, good_file, capsys, monkeypatch
):
    monkeypatch.setattr(inspect_command, "out", Console(highlight=False, width=300))
    out_file = tmp_path / "pruned.safetensors"
    assert cli(capsys, "prune", good_file, "--keep", "0.4", "-o", out_file)[0] == 0
    code, out, _ = cli(capsys, "inspect", out_file, "--json")
    assert code == 0
    info = json.loads(out)
    assert info["verification"]["ok"] is True
    origin = info["metadata"]["pruned_from"]
    assert origin["file"] == str(good_file) and origin["keep"] == 0.4
    assert origin["sha256"] == checkpoint.load_checkpoint(good_file).metadata.sha256
    assert origin["synapses_before"] == {"inter": 19, "command": 26, "motor": 6}
    code, out, _ = cli(capsys, "inspect", out_file)
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("pruned from"))
    assert line.split(maxsplit=2)[2].rstrip() == (
        f"{good_file} (sha256 {origin['sha256'][:16]}…), keeping 0.4 of 51 synapses"
    )


def test_json_and_a_spec_as_model(tmp_path, capsys) -> None:
    out_file = tmp_path / "p.safetensors"
    code, out, _ = cli(capsys, "prune", EXAMPLE, "--keep", "1", "-o", out_file, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["before"] == report["after"] == 51
    assert [layer["layer"] for layer in report["layers"]] == [
        "sensory->inter",
        "inter->command",
        "command->motor",
    ]
    assert report["sha256"] == checkpoint.load_checkpoint(out_file).metadata.sha256
    old = safetensors.numpy.load_file(str(out_file))
    assert all((old[f"wiring.{n}"] != 0).sum() for n in ("inter", "command", "motor"))


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--keep", "0"], "error: --keep: expected a fraction in (0, 1], got 0.0"),
        (["--keep", "1.5"], "error: --keep: expected a fraction in (0, 1], got 1.5"),
        (["--keep", "-0.2"], "error: --keep: expected a fraction in (0, 1], got -0.2"),
        (["--keep", "nan"], "error: --keep: expected a fraction in (0, 1], got nan"),
        (["--keep", "half"], "Invalid value for '--keep'"),
        (["--keep", "0.5", "-o", "{tmp}/exists.safetensors"], "already exists (use --force"),
        (["--keep", "0.5", "-o", "{tmp}/p.onnx"], "error: --output: "),
    ],
)
def test_refusals_exit_2_with_one_line_and_write_nothing(
    tmp_path, good_file, capsys, args, words
) -> None:
    (tmp_path / "exists.safetensors").write_bytes(b"mine")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "p.safetensors")]
    before = sorted(os.listdir(tmp_path))
    code, out, err = cli(capsys, "prune", good_file, *args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], err
    assert sorted(os.listdir(tmp_path)) == before
    assert (tmp_path / "exists.safetensors").read_bytes() == b"mine"


def test_force_overwrites(tmp_path, good_file, capsys) -> None:
    out_file = tmp_path / "p.safetensors"
    out_file.write_bytes(b"old")
    assert cli(capsys, "prune", good_file, "--keep", "0.5", "-o", out_file, "--force")[0] == 0
    assert checkpoint.verify(checkpoint.load_checkpoint(out_file)).ok


def test_pruned_then_run_and_eval_work(tmp_path, good_file, capsys) -> None:
    """A pruned checkpoint is a checkpoint like any other for the other commands."""
    out_file = tmp_path / "p.safetensors"
    assert cli(capsys, "prune", good_file, "--keep", "0.5", "-o", out_file)[0] == 0
    data = tmp_path / "d.csv"
    rng = np.random.default_rng(0)
    rows = ["x,y,theta,omega,torque"] + [
        ",".join(f"{v:.4f}" for v in rng.standard_normal(5)) for _ in range(20)
    ]
    data.write_text("\n".join(rows) + "\n")
    code, out, err = cli(capsys, "eval", out_file, "-i", data, "--json")
    assert code == 0, err
    assert json.loads(out)["rows"] == 20
