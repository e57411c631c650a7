"""CPU against GPU: the same results, and the time per step, for a machine with CUDA.

Checks, each within 1e-5 of the CPU: ``forward_sequence`` of seeded networks (n = 64, 256,
1024) over random irregularly-timed sequences (outputs and last state), and a few training
steps (``fit``: four Adam steps from the same weights; the weights after them). TF32 is off, so
that the GPU computes in float32 as the CPU does. Then a timing table: microseconds per step of
``forward_sequence`` without gradients for n = 64 to 1024 and batch 1 to 1024, on the CPU
(velora's choice: the compiled loop for small work, PyTorch's BLAS loop beyond, every core) and
on the GPU (the PyTorch loop), with the GPU's speed-up.

Runs unattended in under five minutes: each timing runs for about ``--seconds`` and the table
stops early, saying so, when ``--budget`` seconds have gone. Without CUDA it says so and exits 0.
Exit code 1 when a check fails. Run: ``python benchmarks/bench_gpu.py [--device cuda:1]``
(``--device cpu --quick`` checks the script itself on a machine without a GPU).
"""

import argparse
import copy
import sys
import time

import torch
from rich.console import Console
from rich.table import Table

from velora.models import LiquidNCPNetwork
from velora.training import SequenceData, fit

TOLERANCE = 1e-5
IN_FEATURES, OUT_FEATURES = 4, 2


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def inputs(batch: int, steps: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, steps, IN_FEATURES, generator=g)
    return x, 0.5 + torch.rand(batch, steps, generator=g)


def check_forward(n: int, device: torch.device) -> float:
    """Largest |CPU - device| over the outputs and the last state of one run."""
    cpu = LiquidNCPNetwork(IN_FEATURES, n, OUT_FEATURES, seed=0)
    other = copy.deepcopy(cpu).to(device)
    x, ts = inputs(8, 200)
    with torch.no_grad():
        y, h = cpu.forward_sequence(x, timespans=ts)
        y2, h2 = other.forward_sequence(x.to(device), timespans=ts.to(device))
    return max(float((y - y2.cpu()).abs().max()), float((h - h2.cpu()).abs().max()))


def check_training(n: int, device: torch.device) -> float:
    """Largest |CPU - device| over the weights after four optimizer steps."""
    x, ts = inputs(16, 64, seed=1)
    y = torch.randn(16, 64, OUT_FEATURES, generator=torch.Generator().manual_seed(2))
    data = SequenceData(x, y, ts, None)
    nets = []
    for where in (torch.device("cpu"), device):
        net = LiquidNCPNetwork(IN_FEATURES, n, OUT_FEATURES, seed=0).to(where)
        fit(net, data, epochs=1, batch_size=8, window=32, lr=1e-3, seed=0, restore_best=False)
        nets.append(net)
    a, b = (dict(net.named_parameters()) for net in nets)
    return max(float((a[k].detach() - b[k].detach().cpu()).abs().max()) for k in a)


def per_step(net, device: torch.device, batch: int, seconds: float) -> float:
    """Seconds per step of ``forward_sequence`` for ``batch`` sequences, no gradients."""

    def once(steps: int) -> float:
        x, ts = inputs(batch, steps)
        x, ts = x.to(device), ts.to(device)
        sync(device)
        start = time.perf_counter()
        with torch.no_grad():
            net.forward_sequence(x, timespans=ts)
        sync(device)
        return (time.perf_counter() - start) / steps

    once(4)  # warm up (caches, kernels)
    guess = once(8)
    steps = int(min(max(seconds / max(guess, 1e-9), 8), 2000))
    return once(steps)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="The device to compare with the CPU.")
    parser.add_argument("--sizes", default="64,128,256,512,1024")
    parser.add_argument("--batches", default="1,4,16,64,256,1024")
    parser.add_argument("--seconds", type=float, default=0.2, help="Per timing, about.")
    parser.add_argument("--budget", type=float, default=200, help="Seconds for the whole table.")
    parser.add_argument("--quick", action="store_true", help="Small sizes only (a self-check).")
    args = parser.parse_args()
    console = Console()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        console.print("bench_gpu: skipped, CUDA is not available on this machine")
        return 0
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    started = time.perf_counter()
    sizes = [int(s) for s in args.sizes.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    if args.quick:
        sizes, batches = sizes[:2], batches[:3]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)
    console.print(f"CPU ({torch.get_num_threads()} threads) against {name}")

    checks = Table(title=f"results on {device} against the CPU (max |difference|)")
    for column in ("n_neurons", "forward_sequence", "4 training steps", f"within {TOLERANCE:g}"):
        checks.add_column(column, justify="right")
    failed = False
    for n in [s for s in (64, 256, 1024) if not args.quick or s <= 256]:
        forward, training = check_forward(n, device), check_training(n, device)
        ok = forward <= TOLERANCE and training <= TOLERANCE
        failed |= not ok
        checks.add_row(str(n), f"{forward:.1e}", f"{training:.1e}", "yes" if ok else "NO")
    console.print(checks)

    table = Table(title=f"microseconds per step of forward_sequence, no gradients (CPU vs {name})")
    for column in ("n_neurons", "batch", "CPU", str(device), "speed-up"):
        table.add_column(column, justify="right")
    skipped = 0
    for n in sizes:
        cpu_net = LiquidNCPNetwork(IN_FEATURES, n, OUT_FEATURES, seed=0)
        other = copy.deepcopy(cpu_net).to(device)
        for batch in batches:
            if time.perf_counter() - started > args.budget:
                skipped += 1
                continue
            cpu = per_step(cpu_net, torch.device("cpu"), batch, args.seconds)
            gpu = per_step(other, device, batch, args.seconds)
            table.add_row(str(n), str(batch), f"{cpu * 1e6:,.1f}", f"{gpu * 1e6:,.1f}",
                          f"{cpu / gpu:.2f}x")  # fmt: skip
    console.print(table)
    if skipped:
        console.print(f"{skipped} timings skipped: the budget of {args.budget:.0f} s ran out")
    console.print(f"{time.perf_counter() - started:.0f} s in all")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
