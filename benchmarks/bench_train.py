"""Training speed, side by side: velora's ``fit`` against a plain PyTorch loop on ncps's CfC.

Both train on the same random sequences (irregular timespans) with Adam, the same batch size and
truncated-BPTT windows, the hidden state carried (detached) from window to window, and gradient
clipping. ``ncps.torch.CfC`` gets an ``AutoNCP`` wiring with as many units as the velora
network (n_neurons + outputs). The figure is samples x steps per second: the number of
(sequence, time step) pairs trained on per second of training, evaluation excluded. velora is
shown with its automatic choice (the compiled loop for small networks and batches, the BLAS loop
for larger ones; the "loop" column names it), and with the compiled loop and the PyTorch loop
forced (``fit(compiled=True)`` and ``compiled=False``). The contenders take turns for
``--rounds`` rounds and each shows its best, so that a busy spell on the machine does not fall
on one of them alone. Run:
``python benchmarks/bench_train.py [--threads 1] [--sizes 16,64,256] [--rounds 3]``.

One thread by default: the matrices of these networks are far too small for intra-op threads to
pay, and on a machine with other work running, PyTorch's waiting threads slow every loop down by
an order of magnitude, which says nothing about the loops themselves.
"""

import argparse
import time
from collections.abc import Callable

import torch
from rich.console import Console
from rich.table import Table

from velora.models import LiquidNCPNetwork
from velora.training import SequenceData, fit

IN_FEATURES, OUT_FEATURES = 4, 2


def make_data(n: int, steps: int, seed: int = 0) -> SequenceData:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, steps, IN_FEATURES, generator=g)
    y = torch.randn(n, steps, OUT_FEATURES, generator=g)
    ts = 0.5 + torch.rand(n, steps, generator=g)
    return SequenceData(x, y, ts, None)


def velora_trainer(
    data: SequenceData, n_neurons: int, args, compiled: bool | None
) -> Callable[[], float]:
    """A warmed-up velora model and a function that trains it for ``args.epochs`` epochs and
    returns the rate."""
    model = LiquidNCPNetwork(IN_FEATURES, n_neurons, OUT_FEATURES, seed=0)
    kwargs = {"lr": 1e-3, "batch_size": args.batch, "window": args.window, "compiled": compiled}
    fit(model, data.subset(range(args.batch)), epochs=1, **kwargs)  # warm up (and compile)
    return lambda: fit(model, data, epochs=args.epochs, **kwargs).samples_steps_per_s


def cfc_window(model, x: torch.Tensor, h: torch.Tensor | None, ts: torch.Tensor):
    """``CfC.forward`` with per-sample timespans: its own loop, stepping the same wired cell.

    (``CfC.forward`` squeezes a step's timespans to (batch,), which does not broadcast against
    (batch, units) for batch > 1, so the loop is written out here as a user would.)
    """
    if h is None:
        h = torch.zeros(x.shape[0], model.state_size)
    outputs = []
    for step in range(x.shape[1]):
        out, h = model.rnn_cell(x[:, step], h, ts[:, step : step + 1])
        outputs.append(model.fc(out))
    return torch.stack(outputs, dim=1), h


def ncps_trainer(data: SequenceData, n_neurons: int, args) -> Callable[[], float] | None:
    """As ``velora_trainer`` for ncps's CfC (None without ncps)."""
    try:
        from ncps.torch import CfC
        from ncps.wirings import AutoNCP
    except ImportError:
        return None
    torch.manual_seed(0)
    units = n_neurons + OUT_FEATURES
    model = CfC(IN_FEATURES, AutoNCP(units, OUT_FEATURES, seed=0), batch_first=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def epoch(part: SequenceData) -> tuple[int, float]:
        start, steps = time.perf_counter(), 0
        for b in range(0, len(part), args.batch):
            x = part.x[b : b + args.batch]
            y, ts = part.y[b : b + args.batch], part.timespans[b : b + args.batch]
            h = None
            for w in range(0, x.shape[1], args.window):
                sl = slice(w, w + args.window)
                pred, h = cfc_window(model, x[:, sl], h, ts[:, sl])
                loss = torch.nn.functional.mse_loss(pred, y[:, sl])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                h = h.detach()
            steps += x.shape[0] * x.shape[1]
        return steps, time.perf_counter() - start

    def rate() -> float:
        steps, seconds = 0, 0.0
        for _ in range(args.epochs):
            s, t = epoch(data)
            steps, seconds = steps + s, seconds + t
        return steps / seconds

    epoch(data.subset(range(args.batch)))  # warm up
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sizes", default="16,64,256")
    parser.add_argument("--sequences", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = make_data(args.sequences, args.steps)
    table = Table(
        title=f"training speed, samples x steps per second ({args.sequences} sequences x "
        f"{args.steps} steps, batch {args.batch}, window {args.window}, {args.threads} threads, "
        f"best of {args.rounds} rounds)"
    )
    columns = ("n_neurons", "loop", "velora fit", "compiled loop", "PyTorch loop", "ncps CfC loop")
    for column in columns:
        table.add_column(column, justify="right")
    table.add_column("velora / ncps", justify="right")
    for size in (int(s) for s in args.sizes.split(",")):
        trainers = {
            "auto": velora_trainer(data, size, args, None),
            "compiled": velora_trainer(data, size, args, True),
            "eager": velora_trainer(data, size, args, False),
            "ncps": ncps_trainer(data, size, args),
        }
        # Rounds take turns, so that a busy spell on the machine slows every contender alike;
        # the best round of each is the one least disturbed.
        best = dict.fromkeys(trainers, 0.0)
        for _ in range(args.rounds):
            for name, trainer in trainers.items():
                if trainer is not None:
                    best[name] = max(best[name], trainer())
        auto, eager = best["auto"], best["eager"]
        ncps = best["ncps"] if trainers["ncps"] is not None else None
        loop = LiquidNCPNetwork(IN_FEATURES, size, OUT_FEATURES, seed=0).training_backend(
            args.batch
        )
        table.add_row(
            str(size),
            loop,
            f"{auto:,.0f}",
            f"{best['compiled']:,.0f}",
            f"{eager:,.0f}",
            "-" if ncps is None else f"{ncps:,.0f}",
            "-" if ncps is None else f"{auto / ncps:.1f}x",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
