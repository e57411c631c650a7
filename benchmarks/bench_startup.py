"""Start-up of velora's commands as whole processes, against ``python -c "import torch"``.

Every row runs its command ``--repeat`` times (default 5) as a new process, each run paired with
a run of ``python -c "import torch"`` just before it (A B A B ...), so that a busy machine slows
both alike; the ratio is the median of the pairs' ratios. Rows marked "cached" use a compile
cache filled beforehand by ``velora warmup``; rows marked "empty" give every run a new, empty
``NUMBA_CACHE_DIR`` (velora's own "compiled already" marker follows it), as a first command
after installing meets it. Their difference is the compile time of a first use. Everything is
written to a temporary folder, removed at the end. Run:
``python benchmarks/bench_startup.py [--repeat 5] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "pendulum.yaml"
DATA = ROOT / "examples" / "pendulum.csv"
TRAIN_SPEC = ROOT / "examples" / "oscillator.yaml"
TRAIN_DATA = ROOT / "examples" / "oscillator.csv"
ROWS = 100  # rows of the run input
IMPORT_TORCH = [sys.executable, "-c", "import torch"]


@dataclass
class Row:
    """One command timed against ``import torch``; ``cache`` is "cached" or "empty"."""

    label: str
    args: list[str]
    cache: str = "cached"
    seconds: list[float] = field(default_factory=list)
    torch_seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def ratio(self) -> float:
        pairs = zip(self.torch_seconds, self.seconds, strict=True)
        return statistics.median(b / a for a, b in pairs)


def velora_command() -> list[str]:
    """The ``velora`` entry point of this Python's environment."""
    script = Path(sys.executable).with_name("velora")
    if script.exists():
        return [str(script)]
    found = shutil.which("velora")
    if found is None:
        raise SystemExit("no `velora` command found: install velora first (make demo)")
    return [found]


def timed(command: list[str], env: dict[str, str]) -> float:
    """Wall-clock seconds of one run of ``command``; stops the benchmark if it fails."""
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return seconds


def measure(row: Row, velora: list[str], env: dict[str, str], work: Path, repeat: int) -> None:
    """``repeat`` pairs of runs: ``import torch``, then the row's command."""
    for k in range(repeat):
        run_env = dict(env)
        if row.cache == "empty":
            run_env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="empty-cache-", dir=work)
        row.torch_seconds.append(timed(IMPORT_TORCH, run_env))
        row.seconds.append(timed([*velora, *row.args], run_env))
        print(f"  {row.label} ({row.cache}) {k + 1}/{repeat}: {row.seconds[-1]:.2f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="Runs of each command (median).")
    parser.add_argument("--quick", action="store_true", help="Two runs of each (a self-check).")
    args = parser.parse_args()
    repeat = 2 if args.quick else args.repeat
    velora = velora_command()
    console = Console()

    with tempfile.TemporaryDirectory(prefix="velora-startup-") as tmp:
        work = Path(tmp)
        cached = work / "cache"
        env = {**os.environ, "NUMBA_CACHE_DIR": str(cached), "COLUMNS": "100"}
        ckpt = work / "pendulum.safetensors"
        data = work / "pendulum-100.csv"
        with DATA.open() as source:
            data.write_text("".join(next(source) for _ in range(ROWS + 1)))
        timed([*velora, "export", str(SPEC), "-o", str(ckpt)], env)
        out = ["-o", str(work / "out.csv"), "--force"]
        run_ckpt = ["run", str(ckpt), "-i", str(data), "--sequence-column", "episode"]
        run_ckpt += ["--time-column", "t", *out]
        run_spec = ["run", str(SPEC), *run_ckpt[2:]]
        train = ["train", str(TRAIN_SPEC), "--data", str(TRAIN_DATA), "--sequence-column", "run"]
        train += ["--time-column", "t", "--epochs", "1", "-o", str(work / "model.safetensors")]
        train += ["--force", "--quiet"]
        has_warmup = subprocess.run([*velora, "warmup", "--help"], capture_output=True)
        if has_warmup.returncode == 0:
            timed([*velora, "warmup", "--quiet"], env)
        else:  # an older velora: its first runs fill the cache
            timed([*velora, *run_ckpt], env)
            timed([*velora, *train], env)

        plot = ["wire", str(SPEC), "--plot", str(work / "wiring.png"), "--force"]
        rows = [
            Row("velora --help", ["--help"]),
            Row("velora wire SPEC", ["wire", str(SPEC)]),
            Row("velora wire SPEC --plot X.png", plot),
            Row("velora inspect CKPT", ["inspect", str(ckpt)]),
            Row(f"velora run CKPT ({ROWS} rows)", run_ckpt),
            Row(f"velora run SPEC ({ROWS} rows)", run_spec),
            Row("velora train (1 epoch)", train),
            Row(f"velora run CKPT ({ROWS} rows)", run_ckpt, "empty"),
            Row("velora train (1 epoch)", train, "empty"),
        ]
        if has_warmup.returncode == 0:
            rows.append(Row("velora warmup", ["warmup", "--quiet"], "empty"))
        for row in rows:
            measure(row, velora, env, work, repeat)

    torch_all = [s for row in rows for s in row.torch_seconds]
    table = Table(
        title=f"Start-up, whole processes (median of {repeat}; {os.cpu_count()} CPUs)",
        title_justify="left",
        caption="cache: cached = compiled loops on disk already, empty = none (a first "
        "use); ratio: median of paired runs, command / import torch",
        caption_justify="left",
    )
    for column in ("command", "cache", "seconds", "import torch", "ratio"):
        table.add_column(column, justify="left" if column in ("command", "cache") else "right")
    table.add_row(
        'python -c "import torch"', "", f"{statistics.median(torch_all):.2f}", "", "1.00x"
    )
    for row in rows:
        table.add_row(
            row.label,
            row.cache,
            f"{row.median:.2f}",
            f"{statistics.median(row.torch_seconds):.2f}",
            f"{row.ratio:.2f}x",
        )
    console.print(table)
    by_key = {(row.label, row.cache): row for row in rows}
    for label in (f"velora run CKPT ({ROWS} rows)", "velora train (1 epoch)"):
        first, warm = by_key[(label, "empty")], by_key[(label, "cached")]
        console.print(
            f"compile on first use, {label}: {first.median - warm.median:+.2f} s "
            f"(empty cache {first.median:.2f} s, cached {warm.median:.2f} s)",
            highlight=False,
        )


if __name__ == "__main__":
    main()
