"""Sharded inference: two processes under torchrun (gloo, localhost) write byte for byte the
one-process output, in input order: sequences cut by chunk boundaries (the state handed from
process to process), one long sequence with hidden states, batch mode, a network large enough
for PyTorch's loop, a stream as the output, a plot; rank 0 alone writes and sees every chunk.
One job runs it all (tests/jobs/run_job.py)."""

import io
import json
from pathlib import Path

import pytest

from tests import torchrun
from tests.jobs.run_job import CASES, model, options
from velora.inference import run_csv

pytestmark = torchrun.needs_torchrun
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DATA = EXAMPLES / "oscillator.csv"


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> tuple[Path, torchrun.Job]:
    folder = tmp_path_factory.mktemp("run-job")
    done = torchrun.run([str(folder), str(EXAMPLES)], folder, script=torchrun.JOBS / "run_job.py")
    assert done.returncode == 0, done.stderr[-4000:]
    return folder, done


@pytest.fixture(scope="module")
def one(tmp_path_factory) -> Path:
    """The same cases on one process."""
    folder = tmp_path_factory.mktemp("run-one")
    for name, case in CASES.items():
        network, extra = model(EXAMPLES, case)
        run_csv(network, DATA, folder / f"{name}.csv", **options(case), **extra)
    run_csv(EXAMPLES / "oscillator.yaml", DATA, folder / "stream.csv", plot=folder / "run.png",
            **options(CASES["sequences"]))  # fmt: skip
    return folder


@pytest.mark.parametrize("name", CASES)
def test_output_is_byte_for_byte_the_one_process_output(job, one, name) -> None:
    folder, _ = job
    assert (folder / f"{name}.csv").read_bytes() == (one / f"{name}.csv").read_bytes()


def test_the_cases_cover_what_sharding_must_get_right() -> None:
    from velora.files.tables import CsvReader

    chunks = list(CsvReader(DATA, columns=["force"], block_bytes=3000))
    assert len(chunks) > 10 and all(c.continues for c in chunks[1:])  # states handed over
    chunks = list(CsvReader(DATA, columns=["force"], sequence_column="run", block_bytes=2000))
    assert any(c.continues for c in chunks)  # sequences cut by chunk boundaries
    net, _ = model(EXAMPLES, CASES["large"])
    assert not net.prefers_compiled(8)  # the large network's batches take PyTorch's loop


def test_stream_and_plot_equal_one_process(job, one) -> None:
    folder, _ = job
    assert (folder / "stream.csv").read_bytes() == (one / "stream.csv").read_bytes()
    assert (folder / "run.png").read_bytes() == (one / "run.png").read_bytes()


def test_rank_0_writes_and_sees_every_chunk_the_others_nothing(job, one) -> None:
    folder, done = job
    rank0, rank1 = (json.loads((folder / f"notes-{r}.json").read_text()) for r in (0, 1))
    seen: list[int] = []
    single = run_csv(EXAMPLES / "oscillator.yaml", DATA, io.BytesIO(),
                     on_result=lambda r: seen.append(r.chunk.rows),
                     **options(CASES["sequences"]))  # fmt: skip
    assert rank0["results"] == seen and len(seen) > 2
    assert rank1["results"] == []
    assert rank0["sequences"] == [single.rows, single.sequences, 2, True]
    assert rank1["sequences"] == [0, 0, 2, False]
    assert rank1["stream-bytes"] == 0
    expected = {f"{name}.csv" for name in CASES} | {"stream.csv", "run.png"}
    assert torchrun.stray(folder, expected | {"notes-0.json", "notes-1.json"}) == set()
    assert done.errors() == [] and "Traceback" not in done.stderr
