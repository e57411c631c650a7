"""benchmarks/bench_gpu.py: without CUDA it says so and exits 0 (unattended runs stay green);
its checks compare like with like (on the CPU against itself, the differences are zero)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_gpu.py"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_skips_cleanly_without_cuda() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "bench_gpu: skipped, CUDA is not available on this machine"


def test_checks_compare_like_with_like() -> None:
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    cpu = torch.device("cpu")
    assert bench.check_forward(16, cpu) == 0.0
    assert bench.check_training(16, cpu) == 0.0
    assert bench.per_step(bench.LiquidNCPNetwork(4, 16, 2, seed=0), cpu, 2, 0.01) > 0
