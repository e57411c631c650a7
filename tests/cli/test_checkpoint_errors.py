"""A bad checkpoint refused by a real process: the exit status and the one line it prints.

Every kind of bad checkpoint (tests/helpers.py's ``BAD``) for `export` and `inspect`, in-process:
the adversarial catalogue, tests/cli/test_adversarial.py. The library's errors for the same
files: tests/files/test_checkpoint.py.
"""

import subprocess
import sys
from pathlib import Path

from tests.helpers import make_bad


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
