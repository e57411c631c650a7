"""velora.inference on a network: outputs equal forward_sequence, chunking changes nothing.

`velora run`: tests/cli/test_run.py. `net` (a tiny network) is in tests/conftest.py.
"""

import numpy as np

from tests.helpers import make_sequences, reference
from velora.files.tables import read_table, write_csv
from velora.inference import run_chunks, run_csv


def test_chunking_invariance_one_long_sequence(tmp_path, net) -> None:
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2000, 3)).astype(np.float32)
    t = np.cumsum(rng.uniform(0.1, 1.0, 2000))
    data = tmp_path / "long.csv"
    write_csv(data, ["t", "a", "b", "c"], [t, x[:, 0], x[:, 1], x[:, 2]])
    ys = []
    for block in (900, 5000, 1 << 24):
        got: list = []
        run_csv(net, data, None, time_column="t", block_bytes=block, on_result=got.append)
        ys.append(np.concatenate([r.y for r in got]))
    ts = np.concatenate([[1.0], np.diff(t)])
    y, _ = reference(net, x, ts)
    for got in ys:
        assert np.array_equal(got, y)


def test_run_chunks_library_api(tmp_path, net) -> None:
    path, d = make_sequences(tmp_path, [4, 4, 9])
    from velora.files.tables import CsvReader

    reader = CsvReader(path, sequence_column="id", time_column="t", block_bytes=20)
    results = list(run_chunks(net, reader))
    y = np.concatenate([r.y for r in results])
    whole = read_table(path, sequence_column="id", time_column="t")
    lo = 0
    for n in d["lengths"]:
        ref, _ = reference(net, whole.x[lo : lo + n], whole.timespans[lo : lo + n])
        assert np.array_equal(y[lo : lo + n], ref)
        lo += n
