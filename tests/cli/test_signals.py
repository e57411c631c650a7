"""SIGTERM and SIGHUP end a command like Ctrl-C: nothing half-written, training keeps its best
epoch, exit code 128 + the signal's number. Real processes, bounded in time."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT

SPEC = ROOT / "examples" / "oscillator.yaml"
DATA = ROOT / "examples" / "oscillator.csv"


def _velora(*args: str, cwd: Path) -> subprocess.Popen:
    code = "import sys; from velora_cli.main import run; sys.argv[0] = 'velora'; run()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _wait_for(process: subprocess.Popen, words: str, seconds: float = 120) -> str:
    """Read stderr lines until one holds ``words``; the lines read."""
    seen = []
    deadline = time.monotonic() + seconds
    assert process.stderr is not None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if words in line:
            return "".join(seen)
    process.kill()
    pytest.fail(f"no {words!r} on stderr: {''.join(seen)}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_ends_training_like_ctrl_c(tmp_path: Path, signum: int) -> None:
    out = tmp_path / "model.safetensors"
    process = _velora(
        "train", str(SPEC), "-d", str(DATA), "-o", str(out), "--sequence-column", "run",
        "--time-column", "t", "--epochs", "100000", "--window", "20", cwd=tmp_path,
    )  # fmt: skip
    try:
        _wait_for(process, " 2/100000")
        process.send_signal(signum)
        process.wait(timeout=60)
        rest = process.stderr.read() if process.stderr else ""
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 128 + signum, rest
    assert "the best epoch so far is saved" in rest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
