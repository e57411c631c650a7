"""The memory guard bounds what the commands really use.

Each command runs in a child process on a spec whose estimate lies just under a 400 MB
``--max-memory`` limit, after the same command on a network of 8 neurons; the growth of the
child's peak resident memory from the first to the second (what the network adds: imports,
torch and compiled loops are already there) must stay under the estimate by the stated margin,
and a limit one byte under the estimate must refuse the command with one line.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from velora.spec import estimate_memory, format_bytes, parse_spec
from velora.spec.memory import MARGIN_PERCENT

LIMIT = 400 * 10**6  # bytes: the --max-memory of the measured runs
TINY = 8  # n_neurons of the first run, which sets the baseline
# A measured growth times this stays below the estimate (MARGIN_PERCENT = 25: 1.25).
MARGIN = 1 + MARGIN_PERCENT / 100
BATCH, WINDOW = 16, 64  # train: one batch of one window, so that activations count

# Runs the argument lists of argv[1] in one process and writes the peak resident bytes after
# each (this process and its children, e.g. a compiler) and each exit code to argv[2]. On Linux
# the process's own peak is VmHWM: ru_maxrss keeps the peak of the process it was forked from
# (here pytest, which may have grown larger than anything measured) across exec. torch is
# imported first: a small spec runs without it, a large one hands its batch to PyTorch's loop,
# and the estimate counts the network, not the import.
CHILD = """
import json, resource, sys
import torch
from velora_cli.main import main_exit_code
scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, else KiB

def own_peak():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale

done = []
for argv in json.loads(sys.argv[1]):
    code = main_exit_code(argv)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale
    done.append([code, max(own_peak(), children)])
open(sys.argv[2], "w").write(json.dumps(done))
"""


def spec_text(n: int) -> str:
    return (
        f"version: 1\nseed: 1\nnetwork: {{in_features: 4, n_neurons: {n}, out_features: 1}}\n"
        "inputs: [a, b, c, d]\noutputs: [y]\n"
    )


def near_limit(purpose: str, batch: int = 1, window: int = 1) -> int:
    """The largest n_neurons (a multiple of 16) whose estimate for ``purpose`` fits LIMIT."""
    n = TINY
    while True:
        bigger = parse_spec(spec_text(n + 16)).network
        if estimate_memory(bigger, purpose, batch=batch, window=window) > LIMIT:  # type: ignore[arg-type]
            return n
        n += 16


def write_table(path: Path, sequences: int, steps: int) -> Path:
    """Reproducible random inputs and targets, ``sequences`` x ``steps`` rows."""
    values = np.random.default_rng(0).standard_normal((sequences * steps, 5)).round(3)
    lines = ["seq,a,b,c,d,y"]
    for i, row in enumerate(values):
        lines.append(f"{i // steps}," + ",".join(f"{v:.3f}" for v in row))
    path.write_text("\n".join(lines) + "\n")
    return path


def command(purpose: str, spec: Path, tmp_path: Path) -> list[str]:
    """The command line that ``purpose`` estimates, on ``spec``, without its --max-memory."""
    out = tmp_path / f"out-{spec.stem}"
    if purpose == "network":
        data = write_table(tmp_path / "run.csv", 1, 50)
        return ["run", str(spec), "-i", str(data), "-o", f"{out}.csv", "-q", "--force"]
    if purpose == "train":
        data = write_table(tmp_path / "train.csv", BATCH, WINDOW)
        return ["train", str(spec), "-d", str(data), "-o", f"{out}.safetensors", "-q",
                "--force", "--epochs", "1", "--batch-size", str(BATCH), "--window",
                str(WINDOW), "--sequence-column", "seq"]  # fmt: skip
    return ["export", str(spec), "-o", f"{out}.{purpose}", "--force"]


@pytest.mark.skipif(sys.platform == "win32", reason="resource is POSIX only")
@pytest.mark.parametrize("purpose", ["network", "safetensors", "pt2", "train"])
def test_peak_memory_stays_under_the_estimate(tmp_path: Path, purpose: str) -> None:
    settings = {"batch": BATCH, "window": WINDOW} if purpose == "train" else {}
    n = near_limit(purpose, **settings)
    tiny, big = tmp_path / "tiny.yaml", tmp_path / f"n{n}.yaml"
    tiny.write_text(spec_text(TINY))
    big.write_text(spec_text(n))
    need = estimate_memory(parse_spec(spec_text(n)).network, purpose, **settings)  # type: ignore[arg-type]
    assert 0.9 * LIMIT < need <= LIMIT
    runs = [
        [*command(purpose, tiny, tmp_path), "--max-memory", str(LIMIT)],
        [*command(purpose, big, tmp_path), "--max-memory", str(LIMIT)],
        [*command(purpose, big, tmp_path), "--max-memory", str(need - 1)],
    ]
    report = tmp_path / "peaks.json"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(runs), str(report)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr
    (code_tiny, base), (code_big, peak), (code_refused, _) = json.loads(report.read_text())
    assert (code_tiny, code_big, code_refused) == (0, 0, 2), child.stderr
    refusal = child.stderr.strip().splitlines()
    doing = {"network": "", "train": f" to train {BATCH} sequences x {WINDOW} steps at a time"}
    assert len(refusal) == 1
    assert f"too large{doing.get(purpose, f' to export as {purpose}')}: " in refusal[0]
    assert f"limit of {format_bytes(need - 1)} (raise it with --max-memory)" in refusal[0]
    growth = peak - base
    assert growth > need / 4, f"{purpose}: the peak grew by {growth / 1e6:.0f} MB only"
    assert growth * MARGIN <= need, (
        f"{purpose}: n_neurons={n} grew the peak by {growth / 1e6:.0f} MB, estimate "
        f"{need / 1e6:.0f} MB: less than {MARGIN_PERCENT}% to spare"
    )
