"""Training speed, side by side: velora's ``fit`` against a plain PyTorch loop on ncps's CfC.

Both train on the same random sequences (irregular timespans) with Adam, the same batch size and
truncated-BPTT windows, the hidden state carried (detached) from window to window, and gradient
clipping. ``ncps.torch.CfC`` gets an ``AutoNCP`` wiring with as many units as the velora
network (n_neurons + outputs). The figure is samples x steps per second: the number of
(sequence, time step) pairs trained on per second of training, evaluation excluded. velora is
shown with its automatic choice (the compiled loop for small networks) and with the PyTorch loop
forced. Run: ``python benchmarks/bench_train.py [--threads 1] [--sizes 16,64,256]``.

One thread by default: the matrices of these networks are far too small for intra-op threads to
pay, and on a machine with other work running, PyTorch's waiting threads slow every loop down by
an order of magnitude, which says nothing about the loops themselves.
"""

import argparse
import time

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


def velora_rate(data: SequenceData, n_neurons: int, args, compiled: bool | None) -> float:
    model = LiquidNCPNetwork(IN_FEATURES, n_neurons, OUT_FEATURES, seed=0)
    kwargs = {"lr": 1e-3, "batch_size": args.batch, "window": args.window, "compiled": compiled}
    fit(model, data.subset(range(args.batch)), epochs=1, **kwargs)  # warm up (and compile)
    result = fit(model, data, epochs=args.epochs, **kwargs)
    return result.samples_steps_per_s


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


def ncps_rate(data: SequenceData, n_neurons: int, args) -> float | None:
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

    epoch(data.subset(range(args.batch)))  # warm up
    steps, seconds = 0, 0.0
    for _ in range(args.epochs):
        s, t = epoch(data)
        steps, seconds = steps + s, seconds + t
    return steps / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sizes", default="16,64,256")
    parser.add_argument("--sequences", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = make_data(args.sequences, args.steps)
    table = Table(
        title=f"training speed, samples x steps per second ({args.sequences} sequences x "
        f"{args.steps} steps, batch {args.batch}, window {args.window}, {args.threads} threads)"
    )
    for column in ("n_neurons", "velora fit", "velora fit, PyTorch loop", "ncps CfC loop"):
        table.add_column(column, justify="right")
    table.add_column("velora / ncps", justify="right")
    for size in (int(s) for s in args.sizes.split(",")):
        auto = velora_rate(data, size, args, None)
        eager = velora_rate(data, size, args, False)
        ncps = ncps_rate(data, size, args)
        table.add_row(
            str(size),
            f"{auto:,.0f}",
            f"{eager:,.0f}",
            "-" if ncps is None else f"{ncps:,.0f}",
            "-" if ncps is None else f"{auto / ncps:.1f}x",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
