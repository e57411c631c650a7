"""Time per step of LiquidNCPNetwork.forward_sequence against plain step loops, side by side.

Baselines: the seed document's ``ncp_forward`` loop over seed-style cells (five masked heads,
mask applied every step) and, when installed, ``ncps.torch.CfC`` with an ``AutoNCP`` wiring of
the same number of units. Run: ``python benchmarks/bench_sequence.py [--steps 2000]``.
"""

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table
from torch import nn

from velora.models import LiquidNCPNetwork


class SeedCell(nn.Module):
    """The cell as first written: five separate heads, each masked on every call."""

    def __init__(self, source: nn.Module) -> None:
        super().__init__()
        self.n_hidden = source.n_hidden
        self.mask = source.sparsity_mask
        self.heads = [source.g_head, source.h_head, source.f_head_to_g, source.f_head_to_h]
        self.heads.append(source.proj)

    def forward(self, x, hidden, t=1.0):
        z = torch.cat([x, hidden], dim=1)
        g, h, fg, fh, p = (F.linear(z, m.weight * self.mask, m.bias) for m in self.heads)
        g, h = torch.tanh(g), torch.tanh(h)
        gate = torch.sigmoid((fg + fh) * t)
        new_hidden = g * (1 - gate) + h * gate
        return p + new_hidden, new_hidden


def seed_loop(net: LiquidNCPNetwork) -> Callable[[torch.Tensor], torch.Tensor]:
    """The seed document's ``ncp_forward``, stepped over time in Python."""
    cells = [SeedCell(c) for c in net.layers.values()]
    sizes = net.out_sizes

    def run(x: torch.Tensor) -> torch.Tensor:
        hidden = torch.zeros(x.shape[0], sum(sizes))
        for step in range(x.shape[1]):
            states = torch.split(hidden, sizes, dim=1)
            inputs, new = x[:, step], []
            for cell, h in zip(cells, states, strict=True):
                inputs, h = cell(inputs, h)
                new.append(h)
            hidden = torch.cat(new, dim=1)
        return inputs

    return run


def ncps_loop(in_features: int, units: int, out_features: int):
    """ncps CfC with AutoNCP wiring, or None when ncps is not installed."""
    try:
        from ncps.torch import CfC
        from ncps.wirings import AutoNCP
    except ImportError:
        return None
    model = CfC(in_features, AutoNCP(units, out_features), batch_first=True)
    return lambda x: model(x)[0]


def per_step_us(fn: Callable[[torch.Tensor], object], x: torch.Tensor, repeats: int) -> float:
    """Best of ``repeats`` timed runs (after one warm-up), in microseconds per step."""
    fn(x[:, :10])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - start)
    return best / x.shape[1] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import numba

        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass

    table = Table(title=f"us per step, T={args.steps}, {args.threads} threads (lower is better)")
    for col in ("n_neurons", "batch", "velora", "seed loop", "ncps CfC", "seed/velora"):
        table.add_column(col, justify="right")
    table.add_column("ncps/velora", justify="right")
    torch.manual_seed(0)
    with torch.inference_mode():
        for n_neurons in (10, 64, 256):
            for batch in (1, 64):
                net = LiquidNCPNetwork(4, n_neurons, 1, seed=0)
                x = torch.randn(batch, args.steps, 4)
                fast = per_step_us(net.forward_sequence, x, args.repeats)
                seed = per_step_us(seed_loop(net), x, args.repeats)
                ncps_fn = ncps_loop(4, n_neurons + 1, 1)
                ncps = per_step_us(ncps_fn, x, args.repeats) if ncps_fn else float("nan")
                table.add_row(
                    str(n_neurons),
                    str(batch),
                    f"{fast:.2f}",
                    f"{seed:.1f}",
                    f"{ncps:.1f}",
                    f"{seed / fast:.1f}x",
                    f"{ncps / fast:.1f}x",
                )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
