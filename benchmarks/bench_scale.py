"""Scaling out: training and `velora run` on 1 and 2 processes under torchrun, side by side.

Training: samples x steps per second of ``fit`` (the figure velora train prints: the
(sequence, step) pairs trained on per second, over all processes) for networks of 64 and 256
neurons, with velora's own choice of loop and, for 64 neurons, the PyTorch loop forced, so that
the compiled loop under DistributedDataParallel can be compared with PyTorch's. The global batch
is the same on 1 and 2 processes (the second process takes half of each batch). Inference: rows
per second of ``run_csv`` over a CSV file of many sequences (the output is checked to be the
same bytes on 1 and 2 processes). Parallel efficiency = rate on P processes / (P x rate on 1).

Each process is pinned to one CPU and runs one thread (``--no-pin`` leaves that to the OS).
Every figure is the best of ``--repeats`` torchrun jobs (``torchrun --standalone
--nproc-per-node=P bench_scale.py --worker ...``), the process counts taking turns, so that a
machine busy with other work weighs on each count alike. Run: ``python
benchmarks/bench_scale.py [--processes 1,2] [--repeats 3]``.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).with_name("torchrun")
IN_FEATURES, OUT_FEATURES = 4, 2


# -- inside a job -----------------------------------------------------------------------------


def _one_thread(pin: bool) -> None:
    import torch

    torch.set_num_threads(1)
    if pin and hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        rank = int(os.environ.get("LOCAL_RANK", "0"))
        os.sched_setaffinity(0, {cpus[rank % len(cpus)]})


def worker_train(args) -> dict:
    import torch

    from velora import distributed
    from velora.models import LiquidNCPNetwork
    from velora.training import SequenceData, fit

    context = distributed.setup("cpu")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.sequences, args.steps, IN_FEATURES, generator=g)
    y = torch.randn(args.sequences, args.steps, OUT_FEATURES, generator=g)
    data = SequenceData(x, y, 0.5 + torch.rand(args.sequences, args.steps, generator=g), None)
    compiled = {"auto": None, "compiled": True, "torch": False}[args.loop]
    options = {"lr": 1e-3, "batch_size": args.batch, "window": args.window, "compiled": compiled}
    model = LiquidNCPNetwork(IN_FEATURES, args.neurons, OUT_FEATURES, seed=0)
    fit(model, data.subset(range(args.batch)), epochs=1, **options)  # warm up, load the loops
    result = fit(model, data, epochs=args.epochs, **options)
    return {"rate": result.samples_steps_per_s, "rank": context.rank}


def worker_run(args) -> dict:
    from velora import distributed
    from velora.inference import run_csv

    context = distributed.setup("cpu")
    spec = ROOT / "examples" / "pendulum.yaml"
    run_csv(spec, args.input, None, sequence_column="id", block_bytes=1 << 16)  # warm up
    context.barrier()
    summary = run_csv(spec, args.input, args.output, sequence_column="id", force=True)
    return {"rate": summary.rows / summary.seconds, "rank": context.rank}


# -- the driver -------------------------------------------------------------------------------


def job(processes: int, worker_args: list[str], pin: bool) -> dict:
    """Run one torchrun job of ``processes`` workers; rank 0's report."""
    argv = [str(TORCHRUN), "--standalone", f"--nproc-per-node={processes}", __file__,
            "--worker", *worker_args] + ([] if pin else ["--no-pin"])  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900, check=False)
    reports = [
        json.loads(line[7:]) for line in done.stdout.splitlines() if line.startswith("REPORT ")
    ]
    if done.returncode != 0 or not reports:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    return next(r for r in reports if r["rank"] == 0)


def best(counts: list[int], repeats: int, measure) -> list[float]:
    """The best of ``repeats`` measurements for each process count, the counts taking turns."""
    rates = {p: 0.0 for p in counts}
    for _ in range(max(repeats, 1)):
        for p in counts:
            rates[p] = max(rates[p], measure(p))
    return [rates[p] for p in counts]


def make_csv(path: Path, sequences: int, length: int) -> None:
    from velora.files.tables import CsvWriter

    rng = np.random.default_rng(0)
    rows = sequences * length
    with open(path, "wb") as handle:
        writer = CsvWriter(handle, ["id", "x", "y", "theta", "omega"])
        for lo in range(0, rows, 200_000):
            n = min(200_000, rows - lo)
            ids = np.char.add("s", ((np.arange(lo, lo + n)) // length).astype(str))
            x = rng.standard_normal((n, 4)).astype(np.float32)
            writer.write([ids, *(x[:, j] for j in range(4))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,2", help="Process counts, e.g. 1,2,4.")
    parser.add_argument("--sizes", default="64,256", help="Network sizes (neurons).")
    parser.add_argument("--sequences", type=int, default=256)
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--batch", type=int, default=64, help="Global batch (sequences).")
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rows", type=int, default=1_000_000, help="Rows of the run's CSV.")
    parser.add_argument("--repeats", type=int, default=3, help="Jobs per figure (the best).")
    parser.add_argument("--no-pin", action="store_true", help="Do not pin processes to CPUs.")
    parser.add_argument("--worker", choices=["train", "run"], help=argparse.SUPPRESS)
    parser.add_argument("--neurons", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--loop", default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    pin = not args.no_pin
    if args.worker:
        _one_thread(pin)
        report = worker_train(args) if args.worker == "train" else worker_run(args)
        if report["rank"] == 0:
            print("REPORT " + json.dumps(report), flush=True)
        return

    from rich.console import Console
    from rich.table import Table

    counts = [int(p) for p in args.processes.split(",")]
    common = [f"--{key}={getattr(args, key)}"
              for key in ("sequences", "steps", "batch", "window", "epochs")]  # fmt: skip
    table = Table(
        title=f"scaling out on {os.cpu_count()} CPUs, one thread per process (training: "
        f"{args.sequences} sequences x {args.steps} steps, global batch {args.batch}, window "
        f"{args.window}; run: {args.rows:,} rows, 100-row sequences)"
    )
    for column in ("workload", "loop", *(f"{p} process{'es' * (p > 1)}" for p in counts)):
        table.add_column(column, justify="right")
    for p in counts[1:]:
        table.add_column(f"efficiency at {p}", justify="right")
    cases = [(int(n), "auto") for n in args.sizes.split(",")]
    cases.insert(1, (cases[0][0], "torch"))
    start = time.perf_counter()
    for neurons, loop in cases:
        work = ["train", "--neurons", str(neurons), "--loop", loop, *common]
        rates = best(counts, args.repeats, lambda p, work=work: job(p, work, pin)["rate"])
        label = "compiled" if loop == "auto" and neurons <= 64 else "PyTorch"
        table.add_row(f"train, n = {neurons}", label + (" (forced)" if loop == "torch" else ""),
                      *(f"{r:,.0f}" for r in rates),
                      *(f"{r / (p * rates[0]):.2f}" for r, p in zip(rates[1:], counts[1:],
                                                                    strict=True)))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.csv"
        make_csv(source, args.rows // 100, 100)

        def run(p: int) -> float:
            out = Path(tmp) / f"out{p}.csv"
            return job(p, ["run", "--input", str(source), "--output", str(out)], pin)["rate"]

        rates = best(counts, args.repeats, run)
        outputs = [(Path(tmp) / f"out{p}.csv").read_bytes() for p in counts]
        same = all(o == outputs[0] for o in outputs)
        table.add_row("run, n = 16, rows/s", "compiled", *(f"{r:,.0f}" for r in rates),
                      *(f"{r / (p * rates[0]):.2f}" for r, p in zip(rates[1:], counts[1:],
                                                                    strict=True)))  # fmt: skip
    Console().print(table)
    Console().print(
        f"outputs of `run` on {', '.join(map(str, counts))} processes byte-identical: {same}; "
        f"{time.perf_counter() - start:.0f} s in all"
    )


if __name__ == "__main__":
    main()
