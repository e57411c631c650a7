"""velora.warmup.compile_all: it fills numba's disk cache with the specialisations that reading a
table and running a network use, so that later processes load them and compile nothing; and
the inference loop has one specialisation whatever arrays it is given."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import ROOT

# Prints what compile_all did for the steps given as arguments, as JSON.
WARM = """
import json, sys
from velora.warmup import compile_all
result = compile_all(tuple(sys.argv[1:]))
print(json.dumps({
    "compiled": result.compiled,
    "loaded": result.loaded,
    "loops": sorted(loop.name for step in result.steps for loop in step.loops),
}))
"""
# Reads a CSV unlike the warm-up's and runs a network unlike its, with read-only weights (as
# from a memory map) and a float64 state; prints the kernel statistics as JSON.
USE = """
import io, json
import numpy as np
from velora.files.tables import read_table
from velora.kernels import cache, sequence
rows = b"".join(b"%d,%d.5\\n" % (i, 2 * i) for i in range(20_000))  # for the compiled parser
read_table(io.BytesIO(b"a,b\\n" + rows), columns=["a"], target_columns=["b"])
rng = np.random.default_rng(0)
f, sizes = 3, (5, 3, 2)
arrays = [rng.normal(size=(1, 4, f)).astype(np.float32), np.ones((1, 4), np.float32),
          np.zeros((1, sum(sizes)))]
for k, n in ((f, 5), (5, 3), (3, 2)):
    for shape in ((k + n, 4 * n), (4 * n,)):
        w = rng.normal(size=shape).astype(np.float32)
        arrays.append(np.frombuffer(w.tobytes(), dtype=np.float32).reshape(shape))
sequence.run_sequence(*arrays, *sizes, np.empty((1, 4, sum(sizes)), np.float32))
print(json.dumps({name: [s.compiled, s.loaded] for name, s in cache.loop_stats().items()
                  if s.compiled or s.loaded}))
"""


def cache_files(folder: Path) -> dict[str, tuple[int, int]]:
    """numba's cache files under ``folder`` (index and data): size and modification time."""
    found = {}
    for path in folder.rglob("*.nb[ic]"):
        stat = path.stat()
        found[str(path.relative_to(folder))] = (stat.st_size, stat.st_mtime_ns)
    return found


def python(code: str, cache_dir: Path, *args: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True, text=True, cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_warmup_fills_the_cache_and_later_processes_compile_nothing(tmp_path) -> None:
    first = python(WARM, tmp_path, "tables", "inference")
    expected = ["csvparse.count_newlines", "csvparse.parse_plain", "sequence.run_blocks"]
    assert first == {"compiled": 3, "loaded": 0, "loops": expected}
    files = cache_files(tmp_path)
    for loop in expected:
        assert any(Path(name).name.startswith(loop + "-") for name in files), loop
    assert python(WARM, tmp_path, "tables", "inference") == {
        "compiled": 0,
        "loaded": 3,
        "loops": expected,
    }
    used = python(USE, tmp_path)
    assert used == {loop: [0, 1] for loop in expected}
    assert cache_files(tmp_path) == files  # nothing compiled, nothing rewritten


def test_inference_loop_takes_one_specialisation() -> None:
    from velora.kernels import sequence

    rng = np.random.default_rng(1)
    sizes = (4, 3, 1)
    shapes = [(2 + 4, 16), (16,), (4 + 3, 12), (12,), (3 + 1, 4), (4,)]
    weights = [rng.normal(size=s).astype(np.float32) for s in shapes]
    x = rng.normal(size=(2, 5, 2)).astype(np.float32)
    ts, h0 = np.ones((2, 5), np.float32), np.zeros((2, 8), np.float32)
    none = np.empty((0, 0, 0), np.float32)
    y, h = sequence.run_sequence(x, ts, h0, *weights, *sizes, none)
    variants = [
        [np.frombuffer(w.tobytes(), dtype=np.float32).reshape(w.shape) for w in weights],
        [np.asfortranarray(w) for w in weights],
        [w.astype(np.float64) for w in weights],  # float32 values: the same numbers
    ]
    for variant in variants:
        y2, h2 = sequence.run_sequence(x, ts, h0.astype(np.float64), *variant, *sizes, none)
        assert np.array_equal(y2, y) and np.array_equal(h2, h)
    assert len(sequence.run_blocks.signatures) == 1


def test_unknown_step_is_refused() -> None:
    from velora.warmup import compile_all

    with pytest.raises(ValueError, match="unknown warm-up step 'gpu'"):
        compile_all(("gpu",))
