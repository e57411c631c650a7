"""`velora warmup`: it caches every compiled loop; run again, it only loads them, and a first
`velora run` and `velora train` in the same environment compile nothing (no note, no cache
file written)."""

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT
from tests.kernels.test_warmup import cache_files
from velora_cli.main import main_exit_code

VELORA = str(Path(sys.executable).with_name("velora"))


def velora(cache: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "COLUMNS": "200"}
    result = subprocess.run(
        [VELORA, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr
    return result


def test_after_warmup_run_and_train_compile_nothing(tmp_path) -> None:
    cache = tmp_path / "cache"
    first = velora(cache, "warmup", "--quiet")
    assert first.stdout == "" and first.stderr == ""
    files = cache_files(cache)
    names = {Path(name).name.partition("-")[0] for name in files}
    for loop in ("count_newlines", "parse_plain", "run_blocks", "sequence_forward"):
        assert any(name.endswith("." + loop) for name in names), loop
    assert len(files) == 2 * len(names)  # an index and a data file per loop
    again = velora(cache, "warmup")
    assert f"0 loops compiled, {len(names)} loaded from the cache" in again.stdout
    data = tmp_path / "pendulum.csv"
    lines = (ROOT / "examples" / "pendulum.csv").read_text().splitlines(keepends=True)
    data.write_text("".join(lines[:101]))  # a header and 100 rows
    run = velora(
        cache, "run", "examples/pendulum.yaml", "-i", str(data), "-o", str(tmp_path / "y.csv"),
        "--sequence-column", "episode", "--time-column", "t",
    )  # fmt: skip
    train = velora(
        cache, "train", "examples/oscillator.yaml", "--data", "examples/oscillator.csv",
        "--sequence-column", "run", "--time-column", "t", "--epochs", "1",
        "-o", str(tmp_path / "model.safetensors"),
    )  # fmt: skip
    for done in (run, train):
        assert "compiling" not in done.stderr
    assert cache_files(cache) == files  # nothing compiled, nothing rewritten


def test_warmup_is_listed_and_helped(capsys) -> None:
    assert main_exit_code(["warmup", "--help"]) == 0
    assert "--quiet" in capsys.readouterr().out
