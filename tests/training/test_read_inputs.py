"""read_sequences from every table input: Parquet, compressed CSV with a delimiter, a stream;
the same sequences as from the CSV file."""

import bz2

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tests.helpers import make_sequences, pipe_of
from velora.training import read_sequences

OPTIONS = {"targets": ["b", "c"], "sequence_column": "id", "time_column": "t"}


def test_read_sequences_from_any_table(tmp_path) -> None:
    path, _ = make_sequences(tmp_path, [6, 2, 11])
    want, names = read_sequences(path, **OPTIONS)
    assert names == ["a"]
    pq.write_table(pacsv.read_csv(path), tmp_path / "d.parquet")
    semi = tmp_path / "d.csv.bz2"
    semi.write_bytes(bz2.compress(path.read_text().replace(",", ";").encode()))
    for source, extra in (
        (tmp_path / "d.parquet", {}),
        (semi, {"delimiter": ";"}),
        (pipe_of(path.read_bytes()), {}),
    ):
        got, got_names = read_sequences(source, **OPTIONS, **extra)
        assert got_names == names
        for field in ("x", "y", "timespans", "lengths"):
            assert np.array_equal(getattr(got, field), getattr(want, field)), field
