"""run_csv over every table input (Parquet, Arrow, compressed CSV, a stream) and into Parquet:
the same outputs as over the CSV file. `velora run`: tests/cli/test_table_inputs.py."""

import gzip
import io

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from tests.helpers import make_sequences, pipe_of
from velora.errors import VeloraError
from velora.files.sources import require_files
from velora.inference import run_csv

SEQ = {"sequence_column": "id", "time_column": "t"}


def outputs(net, source, **options) -> np.ndarray:
    got: list = []
    run_csv(net, source, None, on_result=got.append, **SEQ, **options)
    return np.concatenate([r.y for r in got])


def test_every_input_gives_the_csv_outputs(tmp_path, net) -> None:
    path, _ = make_sequences(tmp_path, [9, 1, 40, 3])
    want = outputs(net, path)
    types = {"id": pa.string(), "t": pa.float64(), **{c: pa.float32() for c in "abc"}}
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types))
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=8)
    compressed = gzip.compress(path.read_bytes())
    for source in (tmp_path / "in.parquet", io.BytesIO(compressed), pipe_of(path.read_bytes())):
        assert np.array_equal(outputs(net, source, block_bytes=300), want)


def test_parquet_output_by_suffix_or_by_request(tmp_path, net) -> None:
    path, d = make_sequences(tmp_path, [5, 7])
    summary = run_csv(net, path, tmp_path / "out.parquet", hidden=True, **SEQ)
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column_names == summary.columns
    assert table["id"].to_pylist() == list(d["ids"])
    y = outputs(net, path)
    assert table["y0"].to_numpy().tobytes() == np.ascontiguousarray(y[:, 0]).tobytes()
    stream = io.BytesIO()
    run_csv(net, path, stream, output_format="parquet", **SEQ)
    assert pq.read_table(io.BytesIO(stream.getvalue()))["y1"].type == pa.float32()
    with pytest.raises(VeloraError, match="output_format: expected csv or parquet, got 'xlsx'"):
        run_csv(net, path, io.BytesIO(), output_format="xlsx")


def test_torchrun_jobs_refuse_streams(tmp_path, net) -> None:
    require_files(tmp_path, None, net)  # files, nothing, a network: fine
    for stream in ("-", io.BytesIO(b"a\n1\n")):
        with pytest.raises(VeloraError, match="a stream cannot be read by every process"):
            require_files(tmp_path, stream)
