"""One path must not slow another: the PyTorch loop before and after a call of the compiled loop,
side by side in one process.

The compiled loops run on velora's own thread pool (Python threads over blocks of sequences; the
loops release the GIL), not on numba's parallel threading layer, whose idle workers used to spin
and compete with PyTorch's threads. Run: ``python benchmarks/bench_threads.py [--repeats 7]``.
"""

import argparse
import statistics
import time

import torch

from velora.models import LiquidNCPNetwork


def per_step(net: LiquidNCPNetwork, x: torch.Tensor, backend: str, repeats: int) -> float:
    """Median microseconds per step of ``forward_sequence`` over ``repeats`` calls."""
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            net.forward_sequence(x, backend=backend)
            times.append(time.perf_counter() - start)
    return statistics.median(times) / x.shape[1] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    big, small = LiquidNCPNetwork(4, 256, 1, seed=0), LiquidNCPNetwork(4, 64, 1, seed=0)
    x_big, x_small = torch.randn(64, 200, 4), torch.randn(64, 50, 4)
    before = per_step(big, x_big, "torch", args.repeats)
    per_step(small, x_small, "compiled", 1)  # the compiled loop has run in this process
    after = per_step(big, x_big, "torch", args.repeats)
    print(
        f"PyTorch loop, n=256, batch 64: {before:.0f} µs/step before a compiled-loop call, "
        f"{after:.0f} µs/step after it: {after / before:.2f}x"
    )


if __name__ == "__main__":
    main()
