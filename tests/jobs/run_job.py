"""Inside a torchrun job (tests/inference/test_sharded_run.py): ``run_csv`` on every process
for each case of ``CASES``; rank 0 writes the outputs, every process notes its summaries.
Usage: run_job.py FOLDER EXAMPLES."""

import io
import json
import sys
from pathlib import Path

from velora import distributed
from velora.inference import run_csv
from velora.models import LiquidNCPNetwork

# Shared with the test, which runs the same cases on one process.
CASES = {
    "sequences": {"sequence_column": "run", "time_column": "t", "block_bytes": 2000},
    "one-sequence": {"hidden": True, "block_bytes": 3000, "device": "cpu"},
    "batch": {"mode": "batch", "sequence_column": "run", "block_bytes": 4000},
    "large": {"sequence_column": "run", "block_bytes": 60_000, "neurons": 256},
}


def model(examples: Path, case: dict):
    """The network of a case: the example spec, or a seeded network with ``neurons``."""
    if "neurons" not in case:
        return examples / "oscillator.yaml", {}
    net = LiquidNCPNetwork(1, case["neurons"], 2, seed=3)
    return net, {"columns": ["force"], "output_names": ["position", "velocity"]}


def options(case: dict) -> dict:
    return {k: v for k, v in case.items() if k != "neurons"}


if __name__ == "__main__":
    folder, examples = Path(sys.argv[1]), Path(sys.argv[2])
    rank = distributed.setup().rank
    data = examples / "oscillator.csv"
    notes = {}
    for name, case in CASES.items():
        network, extra = model(examples, case)
        summary = run_csv(network, data, folder / f"{name}.csv", **options(case), **extra)
        notes[name] = [summary.rows, summary.sequences, summary.processes, summary.main]
    # A plot (rank 0 draws it from every chunk's results), and a stream as the output.
    stream = io.BytesIO()
    run_csv(examples / "oscillator.yaml", data, stream, plot=folder / "run.png",
            **options(CASES["sequences"]))  # fmt: skip
    if rank == 0:
        (folder / "stream.csv").write_bytes(stream.getvalue())
    else:
        notes["stream-bytes"] = len(stream.getvalue())  # nothing written elsewhere
    # No output: the callbacks see every chunk, in order, on rank 0.
    seen: list[int] = []
    run_csv(examples / "oscillator.yaml", data, None, on_result=lambda r: seen.append(r.chunk.rows),
            **options(CASES["sequences"]))  # fmt: skip
    notes["results"] = seen
    (folder / f"notes-{rank}.json").write_text(json.dumps(notes))
