"""Every way a command can meet a hostile environment: limits, a closed standard output."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT
from velora_cli.main import main_exit_code

PENDULUM = ROOT / "examples" / "pendulum.yaml"
OSCILLATOR = ROOT / "examples" / "oscillator.yaml"


@pytest.mark.parametrize(
    "argv",
    [
        ["run", str(PENDULUM), "-i", str(ROOT / "examples" / "pendulum.csv")],
        ["train", str(OSCILLATOR), "-d", str(ROOT / "examples" / "oscillator.csv")],
    ],
)
def test_run_and_train_take_max_memory(tmp_path: Path, capsys, argv: list[str]) -> None:
    out = tmp_path / ("out.csv" if argv[0] == "run" else "out.safetensors")
    assert main_exit_code([*argv, "-o", str(out), "--max-memory", "1KiB"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "limit of 1.0 KiB (raise it with --max-memory)" in err
    assert list(tmp_path.iterdir()) == []


def test_a_closed_standard_output_is_a_clear_error() -> None:
    code = "import sys; from velora_cli.main import run; sys.argv[0] = 'velora'; run()"
    data = str(ROOT / "examples" / "pendulum.csv")
    result = subprocess.run(
        [sys.executable, "-c", code, "run", str(PENDULUM), "-i", data],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.close(1),  # as `velora run ... >&-`
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "error: standard output is closed: nowhere to write the outputs (see --output)"
    )


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["validate", "/dev/zero"], "/dev/zero: larger than 1 MiB; a spec is a small YAML file"),
        (["validate", "/dev/urandom"], "/dev/urandom: larger than 1 MiB"),
        (["wire", "/dev/zero"], "/dev/zero: not a safetensors file"),
        (["inspect", "/dev/zero"], "/dev/zero: not a safetensors file"),
    ],
)
def test_endless_inputs_are_read_no_further_than_a_cap(capsys, argv, words) -> None:
    assert main_exit_code(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err


def test_an_endless_spec_on_standard_input_is_refused(tmp_path: Path) -> None:
    code = "import sys; from velora_cli.main import run; sys.argv[0] = 'velora'; run()"
    endless = subprocess.Popen(["yes", "a: 1"], stdout=subprocess.PIPE)
    try:
        result = subprocess.run(
            [sys.executable, "-c", code, "validate", "-"],
            stdin=endless.stdout,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    finally:
        endless.kill()
        endless.wait()
    assert result.returncode == 2
    assert "<stdin>: larger than 1 MiB" in result.stderr


@pytest.mark.parametrize(
    ("outputs", "extra", "clash"),
    [("t", [], "'t'"), ("h0", ["--hidden"], "'h0'"), ("id", [], "'id'")],
)
def test_output_names_that_clash_are_refused_before_any_work(
    tmp_path: Path, capsys, outputs: str, extra: list[str], clash: str
) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        f"version: 1\nnetwork: {{in_features: 2, n_neurons: 6, out_features: 1}}\n"
        f"outputs: [{outputs}]\n"
    )
    data = tmp_path / "d.csv"
    data.write_text("id,t,a,b\nA,0,1,2\nA,1,3,4\n")
    out = tmp_path / "out.csv"
    argv = ["run", str(spec), "-i", str(data), "--sequence-column", "id", "--time-column", "t"]
    assert main_exit_code([*argv, "-o", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"output column {clash} would appear twice" in err
    assert not out.exists()
