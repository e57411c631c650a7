"""`velora train`, `run` and `eval` under torchrun (world size 2, gloo, localhost): the same
checkpoint (to 1e-4) and the same bytes as one process, rank 0 alone printing and writing; bad
input and a failing process end the job with one error line; SIGTERM or Ctrl-C on the launcher
ends every process cleanly, leaving no partial file."""

import json
import re
import signal
from pathlib import Path

import pytest

from tests import torchrun
from velora.files import checkpoint
from velora_cli.main import main_exit_code

pytestmark = torchrun.needs_torchrun
ROOT = Path(__file__).resolve().parents[2]
TRAIN = ["examples/oscillator.yaml", "-d", "examples/oscillator.csv", "--targets",
         "position,velocity", "--sequence-column", "run", "--time-column", "t", "--val-split",
         "0.2", "--lr", "0.005", "--batch-size", "5", "--window", "50"]  # fmt: skip
RUN = ["examples/oscillator.yaml", "-i", "examples/oscillator.csv", "--sequence-column", "run",
       "--time-column", "t", "--chunk-bytes", "2500"]  # fmt: skip


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    """A fresh working folder with examples/ linked in, as a new user's."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_train_on_two_processes_writes_the_one_process_checkpoint(folder, capsys) -> None:
    assert main_exit_code(["train", *TRAIN, "--epochs", "3", "-o", "one.safetensors"]) == 0
    capsys.readouterr()
    plot = ["--plot-loss", "loss.png"]
    job = torchrun.run(["train", *TRAIN, "--epochs", "3", "-o", "two.safetensors", *plot], folder)
    assert job.returncode == 0, job.stderr[-3000:]
    one, two = (checkpoint.load_checkpoint(f"{n}.safetensors") for n in ("one", "two"))
    mine, theirs = one.model.state_dict(), two.model.state_dict()
    assert max(float((mine[k] - theirs[k]).abs().max()) for k in mine) < 1e-4
    assert main_exit_code(["inspect", "two.safetensors"]) == 0  # velora inspect verifies it
    assert "✓ weights outside the masks are inert" in capsys.readouterr().out
    # Rank 0 alone printed: the header (which counts the processes), each epoch, the summary.
    assert len(job.lines(r"^training 32 neurons .*; 2 processes$")) == 1
    assert [len(job.lines(rf"^epoch {e}/3 ")) for e in (1, 2, 3)] == [1, 1, 1]
    assert len(job.lines(r"^3 epochs in .* wrote two\.safetensors, loss\.png$")) == 1
    assert job.errors() == []
    assert Path("loss.png").read_bytes().startswith(b"\x89PNG")
    expected = {"examples", "one.safetensors", "two.safetensors", "loss.png"}
    assert torchrun.stray(folder, expected) == set()


def test_run_on_two_processes_writes_the_one_process_bytes(folder, capsys) -> None:
    assert main_exit_code(["run", *RUN, "--hidden", "-o", "one.csv"]) == 0
    capsys.readouterr()
    job = torchrun.run(["run", *RUN, "--hidden", "-o", "two.csv"], folder)
    assert job.returncode == 0, job.stderr[-3000:]
    assert Path("two.csv").read_bytes() == Path("one.csv").read_bytes()
    assert len(job.lines(r"^3,840 rows \(32 sequences\) → two\.csv in .* on 2 processes$")) == 1
    assert job.errors() == []
    assert torchrun.stray(folder, {"examples", "one.csv", "two.csv"}) == set()


def test_bad_input_and_a_failing_process_end_the_job_with_one_line_each(folder, capsys) -> None:
    Path("taken.csv").write_text("x\n")
    lines = Path("examples/oscillator.csv").read_text().splitlines(keepends=True)
    lines[2000] = "run5,1.0,abc,1,2\n"
    Path("bad.csv").write_text("".join(lines))
    score = ["eval", *RUN[:-2], "--per-sequence", "--json"]
    assert main_exit_code(score) == 0
    alone = capsys.readouterr().out
    commands = [
        {"args": score},  # eval shares its run too; rank 0 prints the document
        {"args": ["run", *RUN, "-o", "taken.csv"]},  # rank 0 alone checks where it writes
        {"args": ["run", *RUN, "--device", "cuda:7", "-o", "out.csv"]},
        {"args": ["run", *RUN[:1], "-i", "bad.csv", *RUN[3:], "-o", "out.csv"]},
        {"args": ["train", *TRAIN[:3], "--targets", "position,speed", *TRAIN[5:], "-o", "m.st"]},
        {"args": ["run", *RUN, "-o", "out.csv"], "break": 1},  # the process of rank 1 fails
    ]
    Path("commands.json").write_text(json.dumps(commands))
    job = torchrun.run(["commands.json"], folder, script=torchrun.JOBS / "cli_job.py")
    assert job.returncode != 0
    errors = job.errors()
    assert len(errors) == 5, job.stderr[-3000:]
    assert errors[0] == "error: taken.csv: already exists (use --force to overwrite)"
    assert errors[1].startswith("error: --device: ")  # no CUDA here, or cuda:7 for everyone
    assert errors[2] == "error: bad.csv: line 2001, column 'force': 'abc' is not a number"
    assert "'speed'" in errors[3]
    assert errors[4] == (
        "error: internal error: RuntimeError: broken on purpose (rerun with --debug for details)"
    )
    codes = [json.loads(Path(f"codes-{rank}.json").read_text()) for rank in (0, 1)]
    assert codes[0][:5] == codes[1][:5] == [0, 2, 2, 2, 2]
    assert codes[1][5] == 1 and codes[0][5] in (1, 130)  # gone with its peer, or told to stop
    assert job.stdout == alone  # the same document, printed once
    assert not re.search(r'File ".*/velora(_cli)?/', job.stderr)  # no traceback of ours
    expected = {"examples", "taken.csv", "bad.csv", "commands.json", "codes-0.json", "codes-1.json"}
    assert torchrun.stray(folder, expected) == set()


def test_sigterm_on_the_launcher_stops_training_and_keeps_the_best_epoch(folder) -> None:
    proc = torchrun.start(["train", *TRAIN, "--epochs", "1000", "-o", "model.safetensors"], folder)
    torchrun.wait_for(lambda: re.search(r"epoch +2/1000", torchrun.stderr_so_far(proc)), proc)
    proc.send_signal(signal.SIGTERM)
    job = torchrun.finish(proc)
    stopped = job.lines(r"^interrupted after epoch \d+; the best epoch so far is saved")
    assert len(stopped) == 1, job.stderr[-3000:]
    epochs = int(re.search(r"after epoch (\d+)", stopped[0]).group(1))
    saved = checkpoint.load_checkpoint("model.safetensors")
    assert checkpoint.verify(saved).ok
    assert int(saved.extra["train.epoch"]) == epochs  # --resume continues from there
    assert torchrun.stray(folder, {"examples", "model.safetensors"}) == set()


def test_ctrl_c_on_the_launcher_stops_a_run_and_leaves_no_file(folder) -> None:
    Path("commands.json").write_text(json.dumps([{"args": ["run", *RUN, "-o", "out.csv"],
                                                  "slow": 0.2}]))  # fmt: skip
    proc = torchrun.start(["commands.json"], folder, script=torchrun.JOBS / "cli_job.py")
    torchrun.wait_for(lambda: any(folder.glob(".out.csv.*")), proc, what="the output to begin")
    proc.send_signal(signal.SIGINT)
    job = torchrun.finish(proc)
    assert job.returncode != 0
    codes = [json.loads(Path(f"codes-{rank}.json").read_text()) for rank in (0, 1)]
    assert codes[0][0] in (1, 130) and codes[1][0] in (1, 130)
    assert (
        torchrun.stray(folder, {"examples", "commands.json", "codes-0.json", "codes-1.json"})
        == set()
    )
