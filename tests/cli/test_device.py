"""`--device` on `velora run`, `train` and `eval`: cpu (the default) and auto work as before;
an absent device exits 2 with one line and writes nothing; with CUDA, the PyTorch loop on the
GPU agrees with the CPU (those tests skip without CUDA). `--help` says how to launch on several
processes."""

from pathlib import Path

import numpy as np
import pytest
import torch

from velora.files import checkpoint
from velora.files.tables import read_table
from velora_cli.main import main_exit_code

ROOT = Path(__file__).resolve().parents[2]
SPEC, DATA = ROOT / "examples" / "oscillator.yaml", ROOT / "examples" / "oscillator.csv"
RUN = ["run", str(SPEC), "-i", str(DATA), "--sequence-column", "run", "--time-column", "t"]
TRAIN = ["train", str(SPEC), "-d", str(DATA), "--sequence-column", "run", "--time-column", "t",
         "--epochs", "1", "--window", "40", "--quiet"]  # fmt: skip
EVAL = ["eval", str(SPEC), "-i", str(DATA), "--sequence-column", "run", "--time-column", "t"]
CUDA = torch.cuda.is_available()


@pytest.fixture
def pinned(monkeypatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # byte-identical checkpoints


def test_device_cpu_and_auto_give_the_default_bytes(tmp_path, pinned, capsys) -> None:
    assert main_exit_code([*RUN, "-o", str(tmp_path / "default.csv")]) == 0
    assert main_exit_code([*RUN, "--device", "cpu", "-o", str(tmp_path / "cpu.csv")]) == 0
    default = (tmp_path / "default.csv").read_bytes()
    assert (tmp_path / "cpu.csv").read_bytes() == default
    assert main_exit_code([*TRAIN, "-o", str(tmp_path / "a.safetensors")]) == 0
    assert main_exit_code([*TRAIN, "--device", "cpu", "-o", str(tmp_path / "b.safetensors")]) == 0
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    if not CUDA:  # auto is the CPU here
        assert main_exit_code([*RUN, "--device", "auto", "-o", str(tmp_path / "auto.csv")]) == 0
        assert (tmp_path / "auto.csv").read_bytes() == default


@pytest.mark.skipif(CUDA, reason="this machine has CUDA")
@pytest.mark.parametrize("command", [RUN, TRAIN, EVAL], ids=["run", "train", "eval"])
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_cuda_exits_2_with_one_line(tmp_path, capsys, command, device) -> None:
    out = ["-o", str(tmp_path / "out.file")] if command is not EVAL else []
    assert main_exit_code([*command, "--device", device, *out]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "error: --device: CUDA is not available on this machine (this PyTorch build has no CUDA "
        "support)"
        if torch.version.cuda is None
        else "error: --device: CUDA is not available on this machine"
    ]
    assert captured.out == ""
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_device_is_one_line(tmp_path, capsys) -> None:
    assert main_exit_code([*RUN, "--device", "gpu", "-o", str(tmp_path / "o.csv")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --device: expected cpu, cuda, cuda:N, mps or auto, got 'gpu'"
    ]
    assert list(tmp_path.iterdir()) == []


def test_help_says_how_to_launch_on_several_processes(capsys) -> None:
    for command in ("train", "run"):
        assert main_exit_code([command, "--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert "torchrun --standalone --nproc-per-node=" in text
        assert f"--no-python velora {command}" in text
        assert "--device" in text and "cuda:LOCAL_RANK" in text


@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_cuda_run_and_train_agree_with_the_cpu(tmp_path, capsys) -> None:
    for device in ("cpu", "cuda"):
        assert (
            main_exit_code([*RUN, "--device", device, "-o", str(tmp_path / f"{device}.csv")]) == 0
        )
        out = str(tmp_path / f"{device}.safetensors")
        assert main_exit_code([*TRAIN, "--device", device, "-o", out]) == 0
    cpu, gpu = (read_table(tmp_path / f"{d}.csv", columns=["position", "velocity"]).x
                for d in ("cpu", "cuda"))  # fmt: skip
    assert np.abs(cpu - gpu).max() < 1e-5
    a, b = (checkpoint.load_checkpoint(tmp_path / f"{d}.safetensors").model.state_dict()
            for d in ("cpu", "cuda"))  # fmt: skip
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-4
