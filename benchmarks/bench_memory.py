"""Peak memory of velora's commands against the memory estimate (``velora.spec.estimate_memory``).

Each command runs as a child process on specs of growing ``n_neurons``; its peak resident memory
(``ru_maxrss`` of that child) less the peak of the same command on a tiny network (imports,
torch, compiled loops) is the part that grows with the network, which the estimate must bound.
The table shows both, their ratio, and the weight copies the growth implies (growth less the
mask draws and activations, over one float32 copy of the cells' weights), from which
``velora.spec.memory.WEIGHT_COPIES`` was set.
Run: ``python benchmarks/bench_memory.py [--neurons 1024,2048] [--commands wire,run,train]``.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from velora.spec import estimate_memory, neuron_counts, parse_spec
from velora.spec.memory import ACTIVATION_FLOATS, BYTES_PER_FLOAT, weight_count
from velora.wiring import NeuronCounts, mask_bytes

VELORA = str(Path(sys.executable).with_name("velora"))
COMMANDS = ("wire", "run", "safetensors", "pt2", "onnx", "c", "inspect", "prune", "train")
TINY = 8  # n_neurons of the baseline network
IN_FEATURES, OUT_FEATURES = 4, 1


@dataclass(frozen=True)
class Case:
    """One command with its settings; ``purpose`` is the estimate it is held to."""

    command: str
    purpose: str
    batch: int = 1
    window: int = 1

    @property
    def label(self) -> str:
        return f"train {self.batch}x{self.window}" if self.command == "train" else self.command


def spec_text(n: int) -> str:
    """A spec with ``n`` neurons, named inputs a0.. and outputs y0.."""
    inputs = ", ".join(f"a{i}" for i in range(IN_FEATURES))
    outputs = ", ".join(f"y{i}" for i in range(OUT_FEATURES))
    return (
        f"version: 1\nname: n{n}\nseed: 1\nnetwork:\n  in_features: {IN_FEATURES}\n"
        f"  n_neurons: {n}\n  out_features: {OUT_FEATURES}\ninputs: [{inputs}]\n"
        f"outputs: [{outputs}]\n"
    )


def write_table(path: Path, sequences: int, steps: int) -> Path:
    """A CSV of ``sequences`` x ``steps`` rows of reproducible random inputs and targets."""
    rng = np.random.default_rng(0)
    names = [f"a{i}" for i in range(IN_FEATURES)] + [f"y{i}" for i in range(OUT_FEATURES)]
    values = rng.standard_normal((sequences * steps, len(names))).round(3)
    seq = np.repeat(np.arange(sequences), steps)[:, None]
    np.savetxt(path, np.hstack([seq, values]), delimiter=",", fmt=["%d"] + ["%.3f"] * len(names),
               header="seq," + ",".join(names), comments="")  # fmt: skip
    return path


def peak_rss(args: list[str]) -> int:
    """Peak resident bytes of ``velora ARGS`` run as a child process (which must succeed)."""
    child = subprocess.Popen(
        [VELORA, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert child.stderr is not None
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"velora {' '.join(args)} failed: {errors.strip()}")
    return usage.ru_maxrss * 1024  # kilobytes on Linux


def command_args(case: Case, spec: Path, folder: Path, rows: int) -> list[str]:
    """The command line of one case on one spec; writes the inputs it needs into ``folder``."""
    out = folder / f"out-{spec.stem}"
    limit = ["--max-memory", "1TiB"]
    if case.command == "wire":
        return ["wire", str(spec), *limit]
    if case.command == "run":
        data = folder / f"run-{rows}.csv"
        if not data.exists():
            write_table(data, 1, rows)
        return ["run", str(spec), "-i", str(data), "-o", f"{out}.csv", "--force", "-q", *limit]
    if case.command in ("safetensors", "pt2", "onnx", "c"):
        return ["export", str(spec), "-o", f"{out}.{case.command}", "--force", *limit]
    if case.command == "prune":
        return ["prune", str(spec), "--keep", "0.5", "-o", f"{out}-pruned.safetensors", "--force",
                *limit]  # fmt: skip
    if case.command == "inspect":
        checkpoint = folder / f"{spec.stem}.safetensors"
        if not checkpoint.exists():
            peak_rss(["export", str(spec), "-o", str(checkpoint), *limit])
        return ["inspect", str(checkpoint)]
    data = folder / f"train-{case.batch}x{case.window}.csv"
    if not data.exists():
        write_table(data, case.batch, case.window)
    return ["train", str(spec), "-d", str(data), "-o", f"{out}.safetensors", "--force", "-q",
            "--epochs", "1", "--batch-size", str(case.batch), "--window", str(case.window),
            "--sequence-column", "seq", *limit]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", default="1024,2048", help="comma-separated n_neurons")
    parser.add_argument("--commands", default=",".join(COMMANDS))
    parser.add_argument("--train", default="16x64,64x256", help="BATCHxWINDOW settings of train")
    parser.add_argument("--rows", type=int, default=2000, help="rows of the run input")
    args = parser.parse_args()
    cases = []
    for command in args.commands.split(","):
        if command == "train":
            for setting in args.train.split(","):
                batch, window = (int(v) for v in setting.split("x"))
                cases.append(Case("train", "train", batch, window))
        elif command in COMMANDS:
            purpose = {"wire": "network", "run": "network", "inspect": "safetensors"}
            cases.append(Case(command, purpose.get(command, command)))
        else:
            raise SystemExit(f"unknown command {command!r}; choose from {', '.join(COMMANDS)}")

    folder = Path(tempfile.mkdtemp(prefix="velora-bench-memory-"))
    table = Table(title="peak resident memory growth over a network of 8 neurons, MB")
    for column in ("command", "n_neurons", "peak", "baseline", "growth", "estimate",
                   "estimate / growth", "implied copies"):  # fmt: skip
        table.add_column(column, justify="left" if column == "command" else "right")
    try:
        for case in cases:
            tiny = folder / f"n{TINY}.yaml"
            tiny.write_text(spec_text(TINY))
            baseline = peak_rss(command_args(case, tiny, folder, args.rows))
            for n in (int(v) for v in args.neurons.split(",")):
                spec = folder / f"n{n}.yaml"
                spec.write_text(spec_text(n))
                network = parse_spec(spec_text(n)).network
                peak = peak_rss(command_args(case, spec, folder, args.rows))
                growth = peak - baseline
                need = estimate_memory(network, case.purpose, batch=case.batch, window=case.window)  # type: ignore[arg-type]
                rest = mask_bytes(network.design, NeuronCounts(**neuron_counts(network)))
                if case.command == "train":
                    values = IN_FEATURES + n + OUT_FEATURES
                    rest += ACTIVATION_FLOATS * BYTES_PER_FLOAT * case.batch * case.window * values
                copies = (growth - rest) / (BYTES_PER_FLOAT * weight_count(network))
                table.add_row(
                    case.label, f"{n:,}", f"{peak / 1e6:,.0f}", f"{baseline / 1e6:,.0f}",
                    f"{growth / 1e6:,.0f}", f"{need / 1e6:,.0f}",
                    f"{need / growth:.2f}" if growth > 0 else "-", f"{copies:.1f}",
                )  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    Console().print(table)


if __name__ == "__main__":
    main()
