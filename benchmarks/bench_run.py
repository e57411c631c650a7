"""`velora run` against the straightforward script, as whole processes, side by side.

Workloads: (a) one sequence of 1,000,000 rows x 4 inputs; (b) 10,000 sequences x 100 rows;
(c) memory only: `velora run` on a 10,000,000-row file. The straightforward script is what a
user would write: pandas ``read_csv``, the seed document's ``ncp_forward`` step loop over the
same network, ``to_csv``. Reported: wall time, rows/s, peak RSS of the process (getrusage of the
child), and the ratio of rows/s; plus the largest difference between the two outputs. The step
loop takes about a millisecond per row, so it runs on the first ``--baseline-rows`` rows of each
workload (whole sequences) and its rows/s stands for the whole; 0 runs it on everything.

Run: ``python benchmarks/bench_run.py`` (needs pandas: ``pip install velora-ncp[bench]``);
``--rows-a``, ``--sequences-b``, ``--rows-big`` shrink it; ``--rows-big 0`` skips (c).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from velora.files.tables import CsvWriter

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "pendulum.yaml"
INPUTS = ["x", "y", "theta", "omega"]

BASELINE = textwrap.dedent(
    """
    import sys
    import pandas as pd
    import torch
    from velora.models import LiquidNCPNetwork

    src, dst, id_col = sys.argv[1], sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else None)
    df = pd.read_csv(src)
    net = LiquidNCPNetwork(4, 16, 1, sparsity_level=0.5, seed=7)   # examples/pendulum.yaml
    layers = net.layers
    out_sizes = [layer.n_hidden for layer in layers.values()]

    def ncp_forward(x, hidden):
        h_state = torch.split(hidden, out_sizes, dim=1)
        new_h_state = []
        inputs = x
        for i, layer in enumerate(layers.values()):
            y_pred, h = layer(inputs, h_state[i])
            inputs = y_pred
            new_h_state.append(h)
        return y_pred, torch.cat(new_h_state, dim=1)

    groups = [df] if id_col is None else [g for _, g in df.groupby(id_col, sort=False)]
    outputs = []
    with torch.no_grad():
        for g in groups:
            x = torch.tensor(g[["x", "y", "theta", "omega"]].to_numpy(), dtype=torch.float32)
            h = torch.zeros(1, sum(out_sizes))
            for row in x:
                y, h = ncp_forward(row.unsqueeze(0), h)
                outputs.append(y[0, 0].item())
    out = pd.DataFrame({"torque": outputs})
    if id_col is not None:
        out.insert(0, id_col, df[id_col].to_numpy())
    out.to_csv(dst, index=False)
    """
)


def make_csv(path: Path, rows: int, seq_len: int | None, seed: int = 0) -> None:
    """Random inputs (float32), written in pieces; with ``seq_len`` an id column too."""
    rng = np.random.default_rng(seed)
    names = (["id"] if seq_len else []) + INPUTS
    with open(path, "wb") as handle:
        writer = CsvWriter(handle, names)
        piece = 500_000
        for lo in range(0, rows, piece):
            n = min(piece, rows - lo)
            x = rng.standard_normal((n, 4)).astype(np.float32)
            cols = [x[:, j] for j in range(4)]
            if seq_len:
                ids = (np.arange(lo, lo + n) // seq_len).astype(str)
                cols.insert(0, np.char.add("s", ids))
            writer.write(cols)


def measure(argv: list[str]) -> tuple[float, float]:
    """Run a whole process; return (seconds, peak RSS in MB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed ({proc.returncode}): {stderr[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def best(argv: list[str], repeats: int) -> tuple[float, float]:
    """The fastest of ``repeats`` runs (seconds) and the largest peak RSS (MB) among them."""
    runs = [measure(argv) for _ in range(max(repeats, 1))]
    return min(r[0] for r in runs), max(r[1] for r in runs)


def velora_argv(src: Path, dst: Path, id_col: str | None) -> list[str]:
    argv = [sys.executable, "-c", "from velora_cli.main import run; run()"]
    argv += ["run", str(SPEC), "--input", str(src), "--output", str(dst), "--force", "--quiet"]
    if id_col:
        argv += ["--sequence-column", id_col]
    return argv


def max_diff(a: Path, b: Path, rows: int) -> float:
    """Largest difference between the outputs on the first ``rows`` rows."""
    from velora.files.tables import read_table

    ya = read_table(a, columns=["torque"]).x[:rows]
    yb = read_table(b, columns=["torque"]).x
    return float(np.abs(ya - yb).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows-a", type=int, default=1_000_000)
    parser.add_argument("--sequences-b", type=int, default=10_000)
    parser.add_argument("--length-b", type=int, default=100)
    parser.add_argument("--rows-big", type=int, default=10_000_000)
    parser.add_argument("--baseline-rows", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=None, help="Where to put the CSV files.")
    parser.add_argument("--io-rows", type=int, default=1_000_000, help="Rows for the I/O table.")
    parser.add_argument("--repeats", type=int, default=2, help="Runs of each program (best).")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        script = tmp / "baseline.py"
        script.write_text(BASELINE)
        workloads = [
            ("(a) 1 sequence", args.rows_a, None),
            (f"(b) {args.sequences_b:,} sequences", args.sequences_b * args.length_b, "id"),
        ]
        table = Table(title="velora run vs pandas + seed step loop (whole processes)")
        for col in ("workload", "rows", "program", "seconds", "rows/s", "peak RSS MB"):
            table.add_column(col, justify="right")
        table.add_column("rows/s ratio", justify="right")
        for label, rows, id_col in workloads:
            src = tmp / "in.csv"
            make_csv(src, rows, args.length_b if id_col else None)
            fast_out, slow_out = tmp / "velora.csv", tmp / "baseline.csv"
            measure(velora_argv(src, fast_out, id_col))  # warm the page cache and numba cache
            fast = best(velora_argv(src, fast_out, id_col), args.repeats)
            base_rows = rows if not args.baseline_rows else min(rows, args.baseline_rows)
            if id_col:
                base_rows = max(base_rows // args.length_b, 1) * args.length_b
            base_src = src
            if base_rows < rows:
                base_src = tmp / "prefix.csv"
                with open(src, "rb") as whole, open(base_src, "wb") as part:
                    for _ in range(base_rows + 1):
                        part.write(whole.readline())
            base = [sys.executable, str(script), str(base_src), str(slow_out)]
            slow = best(base + ([id_col] if id_col else []), args.repeats)
            diff = max_diff(fast_out, slow_out, base_rows)
            rate_fast, rate_slow = rows / fast[0], base_rows / slow[0]
            table.add_row(
                label,
                f"{rows:,}",
                "velora run",
                f"{fast[0]:.2f}",
                f"{rate_fast:,.0f}",
                f"{fast[1]:.0f}",
                f"{rate_fast / rate_slow:.0f}x",
            )
            table.add_row(
                label,
                f"{base_rows:,}",
                "pandas + loop",
                f"{slow[0]:.2f}",
                f"{rate_slow:,.0f}",
                f"{slow[1]:.0f}",
                "",
            )
            table.add_row("", "", f"max |diff| {diff:.1e}", "", "", "", "", end_section=True)
            src.unlink()
        if args.rows_big:
            src = tmp / "big.csv"
            make_csv(src, args.rows_big, None, seed=1)
            size = src.stat().st_size / 1e6
            sec, rss = measure(velora_argv(src, tmp / "big_out.csv", None))
            table.add_row(
                f"(c) {size:,.0f} MB CSV",
                f"{args.rows_big:,}",
                "velora run",
                f"{sec:.2f}",
                f"{args.rows_big / sec:,.0f}",
                f"{rss:.0f}",
                "",
            )
        Console(width=120).print(table)
        if args.io_rows:
            Console(width=120).print(io_table(tmp, args.io_rows))


def best_of(fn, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def io_table(tmp: Path, rows: int) -> Table:
    """CSV reading (rows x 4 float32) and writing (rows x 1) in this process, side by side."""
    import io

    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from velora.files.tables import CsvReader, write_csv

    src = tmp / "io.csv"
    make_csv(src, rows, None, seed=2)
    names = INPUTS
    types = {name: pa.float32() for name in names}
    y = np.random.default_rng(0).standard_normal(rows).astype(np.float32)

    def velora_read() -> None:
        for _ in CsvReader(src, columns=names):
            pass

    readers = {
        "velora CsvReader": velora_read,
        "pandas read_csv (C engine)": lambda: pd.read_csv(src, dtype=np.float32, engine="c"),
        "pyarrow read_csv": lambda: pacsv.read_csv(
            src, convert_options=pacsv.ConvertOptions(column_types=types)
        ),
    }
    writers = {
        "velora write_csv": lambda: write_csv(io.BytesIO(), ["y"], [y]),
        "pandas to_csv": lambda: pd.DataFrame({"y": y}).to_csv(io.StringIO(), index=False),
    }
    velora_read()  # compile or load the parser once
    table = Table(title=f"CSV I/O in one process, best of 5 ({rows:,} rows)")
    for col in ("operation", "how", "seconds", "vs velora"):
        table.add_column(col, justify="right")
    for kind, fns in (("read 4 float32 columns", readers), ("write 1 float32 column", writers)):
        times = {name: best_of(fn) for name, fn in fns.items()}
        first = next(iter(times.values()))
        for name, sec in times.items():
            table.add_row(kind, name, f"{sec:.3f}", f"{sec / first:.2f}x")
        table.rows[-1].end_section = True
    return table


if __name__ == "__main__":
    main()
