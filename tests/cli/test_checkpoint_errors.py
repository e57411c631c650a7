"""Bad checkpoints on the command line: one line on stderr, exit status 2, nothing written.

The library's errors for the same files: tests/files/test_checkpoint.py.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import BAD, make_bad
from velora_cli.main import main_exit_code

# `export` reads a spec whatever its name (content decides), so a spec is only bad for `inspect`.
CLI_CASES = [
    (kind, command)
    for kind in sorted(BAD)
    for command in ("export", "inspect")
    if not (kind == "yaml spec" and command == "export")
]


@pytest.mark.parametrize(("kind", "command"), CLI_CASES)
def test_bad_file_gives_one_line_and_exit_2(kind, command, tmp_path, good_file, capsys):
    path = tmp_path / "in" / "bad.safetensors"
    path.parent.mkdir()
    make_bad(kind, good_file, path)
    before = sorted(os.listdir(path.parent)), sorted(os.listdir(tmp_path))
    target = tmp_path / "out.safetensors"
    argv = [command, str(path)] + (["-o", str(target)] if command == "export" else [])
    capsys.readouterr()
    assert main_exit_code(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"error: {path}: ") and BAD[kind] in lines[0]
    if not (command == "inspect" and BAD[kind].endswith("checksum mismatch")):
        assert captured.out == ""  # inspect still shows a tampered file before refusing it
    assert not target.exists()
    assert (sorted(os.listdir(path.parent)), sorted(os.listdir(tmp_path))) == before


def test_real_process_exit_code_and_single_line(tmp_path, good_file):
    bad = tmp_path / "bad.safetensors"
    make_bad("tampered", good_file, bad)
    velora = Path(sys.executable).with_name("velora")
    result = subprocess.run(
        [str(velora), "export", str(bad), "-o", str(tmp_path / "o.onnx")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: {bad}: checksum mismatch: the tensors do not match the stored SHA-256 "
        "(file corrupted or modified)"
    ]
    assert not (tmp_path / "o.onnx").exists()
