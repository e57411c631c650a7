"""Inside a torchrun job (tests/training/test_data_parallel.py): ``fit``, ``evaluate`` and
``train_csv`` (with a resume) on every process; each process saves what it got, for the test to
compare with one process. Usage: fit_job.py FOLDER EXAMPLES (FOLDER holds data.npz)."""

import sys
from pathlib import Path

import numpy as np
import torch

from velora import distributed
from velora.models import LiquidNCPNetwork
from velora.training import SequenceData, evaluate, fit, train_csv

folder, examples = Path(sys.argv[1]), Path(sys.argv[2])
context = distributed.setup()
rank = context.rank
arrays = np.load(folder / "data.npz")
train, val = (
    SequenceData(*(torch.from_numpy(arrays[f"{part}_{key}"]) for key in ("x", "y", "ts", "len")))
    for part in ("train", "val")
)

for compiled in (True, False):
    net = LiquidNCPNetwork(1, 8, 1, seed=1)
    result = fit(net, train, val, epochs=3, lr=0.03, batch_size=7, window=10, seed=0,
                 compiled=compiled)  # fmt: skip
    np.savez(
        folder / f"fit-{compiled}-{rank}.npz",
        weights=torch.cat([p.detach().flatten() for p in net.parameters()]).numpy(),
        train_loss=np.array(result.train_loss),
        val_loss=np.array(result.val_loss, dtype=float),
        best_epoch=result.best_epoch,
        interrupted=result.interrupted,
        evaluated=evaluate(net, val),
    )

early = fit(LiquidNCPNetwork(1, 8, 1, seed=1), train, val, epochs=12, lr=0.1, batch_size=7,
            window=10, seed=0, patience=2)  # fmt: skip
np.savez(
    folder / f"early-{rank}.npz",
    epochs_run=early.epochs_run,
    best_epoch=early.best_epoch,
    stopped_early=early.stopped_early,
    val_loss=np.array(early.val_loss, dtype=float),
)

options = {
    "targets": ["position", "velocity"],
    "sequence_column": "run",
    "time_column": "t",
    "val_split": 0.2,
    "lr": 0.005,
    "batch_size": 5,
    "window": 50,
}
spec = examples / "oscillator.yaml"
data = examples / "oscillator.csv"
first = train_csv(spec, data, folder / "half.safetensors", epochs=2, **options)
context.barrier()  # the checkpoint is written (by rank 0) before anyone resumes from it
last = train_csv(spec, data, folder / "resumed.safetensors", epochs=3,
                 resume=folder / "half.safetensors", **options)  # fmt: skip
(folder / f"train-{rank}.txt").write_text(
    f"{first.main} {first.wrote} {last.main} {last.wrote} {last.plan.processes}\n"
)
