"""`velora train`: trains and saves, resumes, and refuses bad targets with one clear line."""

import math
from pathlib import Path

import pytest
import torch

from velora.files import checkpoint
from velora.training import has_state
from velora_cli.main import main_exit_code

SPEC = """\
version: 1
name: smoother
seed: 3
network:
  in_features: 1
  n_neurons: 8
  out_features: 1
"""


def write_data(path: Path, runs: int = 12, rows: int = 20, seed: int = 0) -> Path:
    """Sequences whose target is a moving average of the input, with an irregular time."""
    g = torch.Generator().manual_seed(seed)
    lines = ["run,t,u,target"]
    for run in range(runs):
        t, avg = 0.0, 0.0
        for _ in range(rows):
            t += 0.5 + float(torch.rand(1, generator=g))
            u = float(torch.randn(1, generator=g))
            avg = 0.7 * avg + 0.3 * u
            lines.append(f"{run},{t:.4f},{u:.5f},{avg:.5f}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    spec = tmp_path / "smoother.yaml"
    spec.write_text(SPEC)
    return {"spec": spec, "data": write_data(tmp_path / "train.csv"), "dir": tmp_path}


def base_args(files, out: Path, *extra: str) -> list[str]:
    return [
        "train",
        str(files["spec"]),
        "--data",
        str(files["data"]),
        "--targets",
        "target",
        "--sequence-column",
        "run",
        "--time-column",
        "t",
        "-o",
        str(out),
        "--batch-size",
        "4",
        "--window",
        "8",
        "--lr",
        "0.03",
        "--quiet",
        *extra,
    ]


def history(path: Path) -> tuple[list[float], list[float]]:
    ckpt = checkpoint.load_checkpoint(path)
    return ckpt.extra["train.train_loss"].tolist(), ckpt.extra["train.val_loss"].tolist()


def test_train_writes_a_checkpoint_that_runs_and_learned(files, capsys) -> None:
    out, plot = files["dir"] / "model.safetensors", files["dir"] / "loss.png"
    code = main_exit_code(
        base_args(files, out, "--epochs", "6", "--val-split", "0.25", "--plot-loss", str(plot))
    )
    assert code == 0, capsys.readouterr().err
    ckpt = checkpoint.load_checkpoint(out)
    assert has_state(ckpt.extra)
    assert ckpt.spec.inputs == ("u",) and ckpt.spec.outputs == ("target",)
    train_loss, val_loss = history(out)
    assert len(train_loss) == 6 and all(math.isfinite(v) for v in val_loss)
    assert min(val_loss) < 0.5 * train_loss[0]
    assert plot.stat().st_size > 0
    # The trained checkpoint runs, finding its input column by name.
    preds = files["dir"] / "preds.csv"
    args = ["run", str(out), "--input", str(files["data"]), "-o", str(preds), "--quiet"]
    assert main_exit_code([*args, "--sequence-column", "run", "--time-column", "t"]) == 0
    assert preds.read_text().splitlines()[0] == "run,t,target"


def test_same_seed_same_final_loss(files) -> None:
    a, b = files["dir"] / "a.safetensors", files["dir"] / "b.safetensors"
    assert main_exit_code(base_args(files, a, "--epochs", "2", "--val-split", "0.25")) == 0
    assert main_exit_code(base_args(files, b, "--epochs", "2", "--val-split", "0.25")) == 0
    assert history(a) == history(b)


def test_resume_continues_the_run(files) -> None:
    full, part = files["dir"] / "full.safetensors", files["dir"] / "part.safetensors"
    assert main_exit_code(base_args(files, full, "--epochs", "4", "--val-split", "0.25")) == 0
    assert main_exit_code(base_args(files, part, "--epochs", "2", "--val-split", "0.25")) == 0
    args = base_args(files, part, "--epochs", "4", "--val-split", "0.25")
    assert main_exit_code([*args, "--resume", str(part), "--force"]) == 0
    assert history(part) == history(full)
    a, b = checkpoint.load_checkpoint(full), checkpoint.load_checkpoint(part)
    for name, tensor in a.extra.items():
        assert torch.equal(tensor, b.extra[name]), name


def test_resume_refuses_a_checkpoint_without_training_state(files, capsys) -> None:
    plain = files["dir"] / "plain.safetensors"
    assert main_exit_code(["export", str(files["spec"]), "-o", str(plain)]) == 0
    capsys.readouterr()
    out = files["dir"] / "model.safetensors"
    assert main_exit_code([*base_args(files, out), "--resume", str(plain)]) == 2
    assert "no training state" in capsys.readouterr().err
    assert not out.exists()


def bad_target_case(files, capsys, args: list[str], text: str) -> str:
    out = files["dir"] / "model.safetensors"
    plot = files["dir"] / "loss.png"
    code = main_exit_code([*base_args(files, out, "--plot-loss", str(plot)), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert text in lines[0]
    assert not out.exists() and not plot.exists()
    assert sorted(p.name for p in files["dir"].iterdir()) == ["smoother.yaml", "train.csv"]
    return lines[0]


def test_missing_target_column(files, capsys) -> None:
    line = bad_target_case(files, capsys, ["--targets", "torque"], "no target column 'torque'")
    assert "train.csv" in line and "line 1" in line


def test_non_numeric_target(files, capsys) -> None:
    text = files["data"].read_text().splitlines()
    text[5] = text[5].rsplit(",", 1)[0] + ",fast"
    files["data"].write_text("\n".join(text) + "\n")
    line = bad_target_case(files, capsys, [], "'fast' is not a number")
    assert "line 6" in line and "column 'target'" in line


def test_nan_target(files, capsys) -> None:
    text = files["data"].read_text().splitlines()
    text[3] = text[3].rsplit(",", 1)[0] + ",nan"
    files["data"].write_text("\n".join(text) + "\n")
    bad_target_case(files, capsys, [], "line 4, column 'target'")


def test_wrong_number_of_targets(files, capsys) -> None:
    bad_target_case(files, capsys, ["--targets", "target,u"], "the network has 1 output")


def test_target_that_is_also_an_input(files, capsys) -> None:
    bad_target_case(files, capsys, ["--columns", "target"], "cannot be both an input")


def test_val_split_needs_sequences(files, capsys) -> None:
    args = base_args(files, files["dir"] / "m.safetensors", "--val-split", "0.2")
    for option in ("--sequence-column", "run", "--time-column", "t"):
        args.remove(option)
    args += ["--columns", "u"]
    assert main_exit_code(args) == 2
    assert "at least 2 sequences" in capsys.readouterr().err


def test_existing_output_is_not_overwritten(files, capsys) -> None:
    out = files["dir"] / "model.safetensors"
    out.write_bytes(b"keep")
    assert main_exit_code(base_args(files, out)) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"keep"


def test_interrupt_keeps_the_best_epoch(files, capsys, monkeypatch) -> None:
    import velora.training.fitting as training

    calls = {"n": 0}
    real = training._train_batch

    def interrupt_in_epoch_two(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # 3 batches per epoch: the first batch of epoch 2
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "_train_batch", interrupt_in_epoch_two)
    out = files["dir"] / "model.safetensors"
    assert main_exit_code(base_args(files, out, "--epochs", "5")) == 130
    assert "interrupted after epoch 1" in capsys.readouterr().err
    train_loss, _ = history(out)
    assert len(train_loss) == 1
