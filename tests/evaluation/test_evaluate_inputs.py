"""evaluate_csv over Arrow and compressed CSV: the metrics of the CSV file itself."""

import lzma
import math

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather

from velora.evaluation import evaluate_csv
from velora.files.tables import write_csv


def test_metrics_are_those_of_the_csv_file(tmp_path, net) -> None:
    rng = np.random.default_rng(4)
    ids = np.repeat(["s0", "s1", "s2"], [8, 30, 5])
    values = rng.standard_normal((len(ids), 5)).astype(np.float32)
    names = ["id", "a", "b", "c", "p", "q"]
    path = tmp_path / "d.csv"
    write_csv(path, names, [ids, *values.T])
    options = {"targets": ["p", "q"], "sequence_column": "id"}
    want = evaluate_csv(net, path, per_sequence=True, **options).to_dict()
    table = pa.table([ids, *values.T], names=names)
    feather.write_feather(table, tmp_path / "d.feather", chunksize=7)
    packed = tmp_path / "d.csv.xz"
    packed.write_bytes(lzma.compress(path.read_bytes()))
    for source in (tmp_path / "d.feather", packed):
        got = evaluate_csv(net, source, per_sequence=True, block_bytes=200, **options).to_dict()
        # Summed in other chunks, so in another order: equal to float64 rounding.
        assert _close(got, want)


def _close(a, b) -> bool:
    """Equal, floats to float64 rounding (1e-12), at every level of a JSON-like document."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
    return a == b
