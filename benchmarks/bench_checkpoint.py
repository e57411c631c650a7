"""Checkpoint size and save/load time: velora checkpoints against torch.save / torch.load.

Side by side in one run, on one network (default n_neurons=256): file size, save time, and load
time both for the raw tensors and for a ready network. velora's save encodes the spec as YAML,
hashes every tensor and writes atomically (temporary file, fsync, rename); its load reads, checks
(format, shapes, SHA-256 over every tensor) and rebuilds the network. torch.load(weights_only=True)
reads a state dict that ``load_state_dict`` then copies into a network built beforehand.
Run: ``python benchmarks/bench_checkpoint.py [--neurons 256] [--repeat 30]``.
"""

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import safetensors.torch
import torch
from rich.console import Console
from rich.table import Table

from velora import checkpoint
from velora.models import LiquidNCPNetwork


def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and minimum wall time of ``fn`` in milliseconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-features", type=int, default=8)
    parser.add_argument("--neurons", type=int, default=256)
    parser.add_argument("--out-features", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)

    net = LiquidNCPNetwork(args.in_features, args.neurons, args.out_features, seed=0)
    folder = Path(tempfile.mkdtemp(prefix="velora-bench-"))
    ours, theirs = folder / "net.safetensors", folder / "net.pt"
    state = net.state_dict()

    def fresh() -> LiquidNCPNetwork:
        return LiquidNCPNetwork(args.in_features, args.neurons, args.out_features, seed=1)

    def save_synced() -> None:
        """torch.save made as durable as velora's atomic write (which fsyncs before renaming)."""
        with open(theirs, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())

    def torch_load_network() -> LiquidNCPNetwork:
        model = fresh()
        model.load_state_dict(torch.load(theirs, weights_only=True))
        return model

    rows = [
        (
            "save",
            "velora checkpoint.save",
            best_of(lambda: checkpoint.save(net, ours), args.repeat),
        ),
        ("save", "torch.save(state_dict)", best_of(lambda: torch.save(state, theirs), args.repeat)),
        ("save", "torch.save(state_dict) + fsync", best_of(save_synced, args.repeat)),
        (
            "load tensors",
            "safetensors load_file (no checks)",
            best_of(lambda: safetensors.torch.load_file(ours), args.repeat),
        ),
        (
            "load tensors",
            "torch.load(weights_only=True)",
            best_of(lambda: torch.load(theirs, weights_only=True), args.repeat),
        ),
        (
            "load network",
            "velora checkpoint.load (checked)",
            best_of(lambda: checkpoint.load(ours), args.repeat),
        ),
        (
            "load network",
            "build + torch.load + load_state_dict",
            best_of(torch_load_network, args.repeat),
        ),
        ("(reference)", "build a network (no file)", best_of(fresh, args.repeat)),
    ]
    loaded, _ = checkpoint.load(ours)
    assert all(
        torch.equal(a, b) for a, b in zip(state.values(), loaded.state_dict().values(), strict=True)
    )

    n = net.wiring.counts
    console = Console()
    console.print(
        f"network: {args.in_features} in, {args.neurons} neurons ({n.inter} inter, {n.command} "
        f"command), {args.out_features} out; {net.total_params:,} parameters; "
        f"torch {torch.__version__}, 1 thread, median of {args.repeat}"
    )
    sizes = Table(title="File size")
    for column in ("file", "bytes", "holds"):
        sizes.add_column(column, justify="right" if column == "bytes" else "left")
    sizes.add_row(
        "velora .safetensors",
        f"{ours.stat().st_size:,}",
        "parameters, int32 masks, spec, metadata, SHA-256",
    )
    sizes.add_row(
        "torch.save .pt",
        f"{theirs.stat().st_size:,}",
        "parameters and float32 mask buffers (state_dict), pickled",
    )
    console.print(sizes)
    times = Table(title="Time (ms)")
    for column in ("operation", "how", "median", "min"):
        times.add_column(column, justify="right" if column in ("median", "min") else "left")
    for op, how, (median, low) in rows:
        times.add_row(op, how, f"{median:.2f}", f"{low:.2f}")
    console.print(times)


if __name__ == "__main__":
    main()
