"""Fit a ``LiquidNCPNetwork`` to target sequences: truncated back-propagation through time.

Sequences of different lengths are padded into one tensor and carry a length each; padded steps
never count. Every real (sequence, step, output) entry weighs the same in the loss, whatever the
length of its sequence or the window it falls in. Each batch of sequences is cut into windows of
``window`` steps; the hidden state flows from one window into the next (detached, so gradients
stop at the window boundary) and the optimizer steps once per window.

Training is deterministic on the CPU: the batch order of epoch ``e`` is drawn from a generator
seeded with ``(seed, e)``, so a run resumed from the state saved after epoch ``e`` continues
exactly as an uninterrupted run would.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

import numpy as np
import torch
from torch import nn

LOSSES = ("mse", "mae", "huber")
LossName = Literal["mse", "mae", "huber"]


@dataclass
class SequenceData:
    """Padded sequences: x (N, T, F), y (N, T, O), timespans (N, T), lengths (N,).

    Steps at or beyond a sequence's length are padding (x and y zero, timespans one).
    """

    x: torch.Tensor
    y: torch.Tensor
    timespans: torch.Tensor
    lengths: torch.Tensor

    def __post_init__(self) -> None:
        self.x = torch.as_tensor(self.x, dtype=torch.float32)
        self.y = torch.as_tensor(self.y, dtype=torch.float32)
        n, t = self.x.shape[:2] if self.x.dim() == 3 else (-1, -1)
        if self.x.dim() != 3 or self.y.dim() != 3 or tuple(self.y.shape[:2]) != (n, t):
            raise ValueError(
                f"x and y must be (N, T, features) with equal N and T, got "
                f"{tuple(self.x.shape)} and {tuple(self.y.shape)}"
            )
        if self.timespans is None:
            self.timespans = torch.ones(n, t)
        self.timespans = torch.as_tensor(self.timespans, dtype=torch.float32)
        if self.lengths is None:
            self.lengths = torch.full((n,), t)
        self.lengths = torch.as_tensor(self.lengths, dtype=torch.int64)
        if tuple(self.timespans.shape) != (n, t) or tuple(self.lengths.shape) != (n,):
            raise ValueError(
                f"timespans must be (N, T) = ({n}, {t}) and lengths (N,), got "
                f"{tuple(self.timespans.shape)} and {tuple(self.lengths.shape)}"
            )
        if n and (int(self.lengths.min()) < 1 or int(self.lengths.max()) > t):
            raise ValueError(f"lengths must lie in [1, {t}]")

    @classmethod
    def from_sequences(
        cls,
        xs: Sequence[np.ndarray | torch.Tensor],
        ys: Sequence[np.ndarray | torch.Tensor],
        timespans: Sequence[np.ndarray | torch.Tensor] | None = None,
    ) -> SequenceData:
        """Pad a list of (T_i, F) inputs and (T_i, O) targets (and (T_i,) timespans)."""
        if len(xs) != len(ys) or (timespans is not None and len(timespans) != len(xs)):
            raise ValueError("xs, ys and timespans must hold the same number of sequences")
        if not xs:
            raise ValueError("no sequences given")
        xs = [torch.as_tensor(a, dtype=torch.float32) for a in xs]
        ys = [torch.as_tensor(a, dtype=torch.float32) for a in ys]
        lengths = torch.tensor([len(a) for a in xs], dtype=torch.int64)
        for i, (a, b) in enumerate(zip(xs, ys, strict=True)):
            if a.dim() != 2 or b.dim() != 2 or len(a) != len(b):
                raise ValueError(
                    f"sequence {i}: x must be (T, F) and y (T, O) with equal T, got "
                    f"{tuple(a.shape)} and {tuple(b.shape)}"
                )
        n, t = len(xs), int(lengths.max())
        x = torch.zeros(n, t, xs[0].shape[1])
        y = torch.zeros(n, t, ys[0].shape[1])
        ts = torch.ones(n, t)
        for i, length in enumerate(lengths.tolist()):
            x[i, :length] = xs[i]
            y[i, :length] = ys[i]
            if timespans is not None:
                ts[i, :length] = torch.as_tensor(timespans[i], dtype=torch.float32)
        return cls(x, y, ts, lengths)

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def n_steps(self) -> int:
        """Number of real (sequence, step) samples."""
        return int(self.lengths.sum())

    def subset(self, index: torch.Tensor | Sequence[int]) -> SequenceData:
        """The sequences at ``index``, trimmed to their longest length."""
        index = torch.as_tensor(index, dtype=torch.int64)
        lengths = self.lengths[index]
        t = int(lengths.max()) if len(index) else 0
        return SequenceData(
            self.x[index, :t], self.y[index, :t], self.timespans[index, :t], lengths
        )

    def mask(self) -> torch.Tensor:
        """(N, T) booleans: true on real steps."""
        return torch.arange(self.x.shape[1]).unsqueeze(0) < self.lengths.unsqueeze(1)


def split_by_sequence(
    data: SequenceData, fraction: float, seed: int = 0
) -> tuple[SequenceData, SequenceData]:
    """Split whole sequences at random into (train, validation); no sequence is cut.

    The validation part gets ``round(fraction * N)`` sequences, at least one, and at least one
    sequence stays for training.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the validation fraction must lie in (0, 1), got {fraction}")
    n = len(data)
    if n < 2:
        raise ValueError(f"splitting off validation sequences needs at least 2, got {n}")
    n_val = min(max(round(fraction * n), 1), n - 1)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val, train = order[:n_val].sort().values, order[n_val:].sort().values
    return data.subset(train), data.subset(val)


@dataclass
class FitProgress:
    """What the callback sees: after each optimizer step (``phase="batch"``) and after each
    epoch's validation (``phase="epoch"``)."""

    phase: Literal["batch", "epoch"]
    epoch: int  # 1-based
    epochs: int
    batch: int  # 1-based; batches done in this epoch
    n_batches: int
    train_loss: float  # mean over the epoch so far
    val_loss: float | None  # last epoch's validation loss
    steps_per_s: float  # (sequence, step) samples per second of training this epoch
    improved: bool = False  # the epoch set a new best


@dataclass
class TrainState:
    """Everything needed to continue training exactly: the weights and optimizer state at the
    end of ``epoch`` completed epochs, the loss history, and the best epoch so far."""

    epoch: int
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict
    train_loss: list[float]
    val_loss: list[float | None]
    best_epoch: int
    best_loss: float
    best_state: dict[str, torch.Tensor]
    bad_epochs: int
    seed: int = 0


@dataclass
class FitResult:
    """The outcome of ``fit``. The model holds the best weights when ``fit`` returns."""

    train_loss: list[float]  # per epoch: mean over every real (sequence, step, output) entry
    val_loss: list[float | None]  # per epoch, None without validation data
    initial_train_loss: float
    initial_val_loss: float | None
    best_epoch: int  # 1-based; 0 when no epoch beat the starting weights
    best_loss: float  # the monitored loss (validation if given, else training) at best_epoch
    best_state: dict[str, torch.Tensor]
    epochs_run: int
    stopped_early: bool
    interrupted: bool
    state: TrainState  # for resuming
    samples_steps_per_s: float = 0.0
    elapsed_s: float = 0.0
    extra: dict = field(default_factory=dict)


def elementwise_loss(name: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Unreduced loss: squared error, absolute error or Huber (delta 1)."""
    if name == "mse":
        return (pred - target).square()
    if name == "mae":
        return (pred - target).abs()
    if name == "huber":
        return nn.functional.huber_loss(pred, target, reduction="none", delta=1.0)
    raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {name!r}")


@torch.no_grad()
def evaluate(model: nn.Module, data: SequenceData, *, loss: str = "mse", batch_size: int = 256):
    """Mean loss over every real (sequence, step, output) entry, from zero states."""
    total, count = 0.0, 0
    for start in range(0, len(data), batch_size):
        part = data.subset(range(start, min(start + batch_size, len(data))))
        y, _ = model.forward_sequence(part.x, timespans=part.timespans)
        err = elementwise_loss(loss, y, part.y.to(y.device)).sum(dim=2)
        total += float(err[part.mask().to(y.device)].double().sum())
        count += part.n_steps * part.y.shape[2]
    return total / count


def _snapshot(module_or_dict) -> dict:
    state = module_or_dict.state_dict() if hasattr(module_or_dict, "state_dict") else module_or_dict
    return copy.deepcopy(state)


def fit(
    model: nn.Module,
    train_data: SequenceData,
    val_data: SequenceData | None = None,
    *,
    epochs: int = 20,
    lr: float = 1e-2,
    batch_size: int = 32,
    window: int | None = 64,
    loss: LossName = "mse",
    clip_grad: float | None = 1.0,
    patience: int | None = None,
    seed: int = 0,
    callback: Callable[[FitProgress], None] | None = None,
    resume_state: TrainState | None = None,
    restore_best: bool = True,
    compiled: bool | None = None,
) -> FitResult:
    """Train ``model`` with Adam on ``train_data``; returns the loss history and best state.

    ``window``: steps per truncated-BPTT window (None: whole sequences). ``clip_grad``: max
    gradient norm (None: no clipping). ``patience``: stop after that many epochs without a new
    best monitored loss (validation if ``val_data`` is given, else training). Ctrl-C during
    training ends the run cleanly: the result has ``interrupted=True`` and the model the best
    weights of the completed epochs. ``resume_state`` continues from a ``FitResult.state``.
    ``compiled``: run each window through the compiled forward/backward loop (CPU); None picks
    it when the network and batch are small enough for it to beat PyTorch's own loop.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    for name, value, low in (("epochs", epochs, 0), ("batch_size", batch_size, 1)):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if window is not None and (not isinstance(window, int) or window < 1):
        raise ValueError(f"window must be an integer >= 1 or None, got {window!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if len(train_data) == 0:
        raise ValueError("no training sequences")
    out_features = model.out_features
    for what, data in (("train", train_data), ("validation", val_data)):
        if data is not None and (
            data.x.shape[2] != model.in_features or data.y.shape[2] != out_features
        ):
            raise ValueError(
                f"{what} data has {data.x.shape[2]} inputs and {data.y.shape[2]} targets; "
                f"the network takes {model.in_features} and gives {out_features}"
            )

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    model.train()
    t0 = time.perf_counter()
    initial_train = evaluate(model, train_data, loss=loss)
    initial_val = evaluate(model, val_data, loss=loss) if val_data is not None else None

    if resume_state is not None:
        model.load_state_dict(resume_state.model_state)
        optimizer.load_state_dict(resume_state.optimizer_state)
        for group in optimizer.param_groups:
            group["lr"] = lr
        state = copy.deepcopy(resume_state)
    else:
        state = TrainState(
            epoch=0,
            model_state=_snapshot(model),
            optimizer_state=_snapshot(optimizer),
            train_loss=[],
            val_loss=[],
            best_epoch=0,
            best_loss=initial_val if initial_val is not None else initial_train,
            best_state=_snapshot(model),
            bad_epochs=0,
            seed=seed,
        )

    n = len(train_data)
    n_batches = math.ceil(n / batch_size)
    trained_steps, train_time = 0, 0.0
    stopped_early = interrupted = False
    try:
        for epoch in range(state.epoch + 1, epochs + 1):
            if patience is not None and state.bad_epochs >= patience:
                stopped_early = True  # a resumed run that had already run out of patience
                break
            order = torch.randperm(n, generator=_epoch_generator(seed, epoch))
            total, count, epoch_steps = 0.0, 0, 0
            t_epoch = time.perf_counter()
            val_prev = state.val_loss[-1] if state.val_loss else initial_val
            for b in range(n_batches):
                batch = train_data.subset(order[b * batch_size : (b + 1) * batch_size])
                step = _step_function(model, len(batch), compiled)
                batch_sum = _train_batch(step, optimizer, params, batch, window, loss, clip_grad)
                total += batch_sum
                count += batch.n_steps * out_features
                epoch_steps += batch.n_steps
                if callback is not None:
                    elapsed = time.perf_counter() - t_epoch
                    callback(
                        FitProgress(
                            "batch", epoch, epochs, b + 1, n_batches, total / count, val_prev,
                            epoch_steps / elapsed if elapsed > 0 else 0.0,
                        )
                    )  # fmt: skip
            epoch_time = time.perf_counter() - t_epoch
            trained_steps += epoch_steps
            train_time += epoch_time
            train_loss = total / count
            val_loss = evaluate(model, val_data, loss=loss) if val_data is not None else None
            monitored = val_loss if val_loss is not None else train_loss
            improved = monitored < state.best_loss  # False for NaN
            # Build the new state first and swap it in with one assignment, so that Ctrl-C
            # never leaves a half-updated state behind.
            state = TrainState(
                epoch=epoch,
                model_state=_snapshot(model),
                optimizer_state=_snapshot(optimizer),
                train_loss=[*state.train_loss, train_loss],
                val_loss=[*state.val_loss, val_loss],
                best_epoch=epoch if improved else state.best_epoch,
                best_loss=monitored if improved else state.best_loss,
                best_state=_snapshot(model) if improved else state.best_state,
                bad_epochs=0 if improved else state.bad_epochs + 1,
                seed=seed,
            )
            if callback is not None:
                callback(
                    FitProgress(
                        "epoch", epoch, epochs, n_batches, n_batches, train_loss, val_loss,
                        epoch_steps / epoch_time if epoch_time > 0 else 0.0, improved,
                    )
                )  # fmt: skip
            if patience is not None and state.bad_epochs >= patience and epoch < epochs:
                stopped_early = True
                break
    except KeyboardInterrupt:
        interrupted = True
    if restore_best:
        model.load_state_dict(state.best_state)
    model.eval()
    return FitResult(
        train_loss=list(state.train_loss),
        val_loss=list(state.val_loss),
        initial_train_loss=initial_train,
        initial_val_loss=initial_val,
        best_epoch=state.best_epoch,
        best_loss=state.best_loss,
        best_state=state.best_state,
        epochs_run=state.epoch,
        stopped_early=stopped_early,
        interrupted=interrupted,
        state=state,
        samples_steps_per_s=trained_steps / train_time if train_time > 0 else 0.0,
        elapsed_s=time.perf_counter() - t0,
    )


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of epoch ``epoch``'s batch order: fixed by (seed, epoch) alone."""
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) % 2**63)


def _step_function(model: nn.Module, batch: int, compiled: bool | None) -> Callable:
    """The differentiable sequence function for a batch: compiled loop or PyTorch loop."""
    on_cpu = next(model.parameters()).device.type == "cpu"
    if compiled is None:
        compiled = on_cpu and model._small(batch)
    if compiled and on_cpu:
        from velora.models.lnn.grad_kernel import compiled_forward_sequence

        return lambda x, h, ts: compiled_forward_sequence(model, x, h, ts)
    return model.forward_sequence


def _train_batch(
    forward_sequence: Callable,
    optimizer: torch.optim.Optimizer,
    params: list[nn.Parameter],
    batch: SequenceData,
    window: int | None,
    loss: str,
    clip_grad: float | None,
) -> float:
    """One batch: an optimizer step per window; returns the summed loss over real entries.

    Each window's loss is its summed error divided by the batch's mean count of real entries
    per window, so that every real entry weighs the same across the windows of the batch (a
    tail window where few sequences are still running is not blown up to a full mean).
    """
    steps = batch.x.shape[1]
    window = steps if window is None else min(window, steps)
    starts = range(0, steps, window)
    mask = batch.mask()
    scale = batch.n_steps * batch.y.shape[2] / len(starts)
    h = None
    total = 0.0
    for start in starts:
        stop = start + window
        y, h = forward_sequence(batch.x[:, start:stop], h, batch.timespans[:, start:stop])
        err = elementwise_loss(loss, y, batch.y[:, start:stop].to(y.device)).sum(dim=2)
        window_sum = err[mask[:, start:stop].to(y.device)].sum()
        optimizer.zero_grad(set_to_none=True)
        (window_sum / scale).backward()
        if clip_grad is not None:
            nn.utils.clip_grad_norm_(params, clip_grad)
        optimizer.step()
        h = h.detach()
        total += float(window_sum.detach().double())
    return total


# -- training state as tensors (for checkpoints) ------------------------------------------------

STATE_PREFIX = "train."
OPTIM_PREFIX = "optim."
_SCALARS = ("epoch", "best_epoch", "bad_epochs", "seed")


def state_to_tensors(state: TrainState) -> dict[str, torch.Tensor]:
    """``state`` as named tensors, for a checkpoint's extra tensors; pickle-free.

    ``train.last.<param>``: the weights after the last completed epoch (the checkpoint's own
    weights are the best ones); ``train.train_loss`` and ``train.val_loss`` (NaN: none) per epoch;
    scalars ``train.epoch``, ``train.best_epoch``, ``train.bad_epochs``, ``train.seed``,
    ``train.best_loss``; ``optim.<index>.<key>``: Adam's per-parameter state.
    """
    out: dict[str, torch.Tensor] = {}
    for name, value in state.model_state.items():
        out[f"{STATE_PREFIX}last.{name}"] = value.detach().cpu().clone()
    out[STATE_PREFIX + "train_loss"] = torch.tensor(state.train_loss, dtype=torch.float64)
    val = [math.nan if v is None else v for v in state.val_loss]
    out[STATE_PREFIX + "val_loss"] = torch.tensor(val, dtype=torch.float64)
    for key in _SCALARS:
        out[STATE_PREFIX + key] = torch.tensor(getattr(state, key), dtype=torch.int64)
    out[STATE_PREFIX + "best_loss"] = torch.tensor(state.best_loss, dtype=torch.float64)
    for index, values in state.optimizer_state["state"].items():
        for key, value in values.items():
            out[f"{OPTIM_PREFIX}{index}.{key}"] = torch.as_tensor(value).detach().cpu().clone()
    return out


def has_state(tensors: dict[str, torch.Tensor]) -> bool:
    """Whether ``tensors`` hold a training state written by ``state_to_tensors``."""
    return STATE_PREFIX + "epoch" in tensors


def state_from_tensors(
    tensors: dict[str, torch.Tensor], model: nn.Module, best_state: dict[str, torch.Tensor]
) -> TrainState:
    """Rebuild a ``TrainState`` for ``model`` from ``state_to_tensors`` output.

    ``best_state`` is the checkpoint's own weights. Raises ValueError naming what is missing or
    does not fit.
    """
    names = [name for name, _ in model.named_parameters()]
    model_state = dict(model.state_dict())
    for name in names:
        key = f"{STATE_PREFIX}last.{name}"
        if key not in tensors:
            raise ValueError(f"no tensor {key!r}")
        if tensors[key].shape != model_state[name].shape:
            raise ValueError(
                f"tensor {key!r} has shape {tuple(tensors[key].shape)}, expected "
                f"{tuple(model_state[name].shape)}"
            )
        model_state[name] = tensors[key].to(torch.float32).clone()
    for key in (*_SCALARS, "best_loss", "train_loss", "val_loss"):
        if STATE_PREFIX + key not in tensors:
            raise ValueError(f"no tensor {STATE_PREFIX + key!r}")
    scalars = {key: int(tensors[STATE_PREFIX + key]) for key in _SCALARS}
    train_loss = tensors[STATE_PREFIX + "train_loss"].tolist()
    val_loss = [None if math.isnan(v) else v for v in tensors[STATE_PREFIX + "val_loss"].tolist()]
    if not len(train_loss) == len(val_loss) == scalars["epoch"]:
        raise ValueError(
            f"the loss history has {len(train_loss)} epochs but the state says {scalars['epoch']}"
        )
    optim_state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(OPTIM_PREFIX):
            index, _, field_name = key[len(OPTIM_PREFIX) :].partition(".")
            if not index.isdigit() or int(index) >= len(names) or not field_name:
                raise ValueError(f"unexpected tensor {key!r}")
            optim_state.setdefault(int(index), {})[field_name] = value.clone()
    params = dict(model.named_parameters())
    for index, values in optim_state.items():
        shape = params[names[index]].shape
        for field_name in ("exp_avg", "exp_avg_sq"):
            if field_name in values and values[field_name].shape != shape:
                raise ValueError(
                    f"optimizer state {index}.{field_name} does not fit {names[index]}"
                )
    optimizer_state = {
        "state": dict(sorted(optim_state.items())),
        "param_groups": torch.optim.Adam(params.values()).state_dict()["param_groups"],
    }
    return TrainState(
        epoch=scalars["epoch"],
        model_state=model_state,
        optimizer_state=optimizer_state,
        train_loss=train_loss,
        val_loss=val_loss,
        best_epoch=scalars["best_epoch"],
        best_loss=float(tensors[STATE_PREFIX + "best_loss"]),
        best_state={k: v.clone() for k, v in best_state.items()},
        bad_epochs=scalars["bad_epochs"],
        seed=scalars["seed"],
    )


# -- CSV files --------------------------------------------------------------------------------


def read_sequences(
    path,
    *,
    targets: Sequence[str],
    columns: Sequence[str] | None = None,
    sequence_column: str | None = None,
    time_column: str | None = None,
    n_inputs: int | None = None,
    dt: float = 1.0,
) -> tuple[SequenceData, list[str]]:
    """Read a CSV file as training sequences with ``velora.data``; returns (data, input names).

    Columns and sequences follow ``velora run``: inputs are ``columns`` (else every column but
    the sequence, time and target columns), a sequence column cuts the rows into sequences, a
    time column gives the timespans. Every problem raises one ``DataError`` naming the line
    and column.
    """
    from velora.data import CsvReader, read_table

    if not targets:
        raise ValueError("no target columns given")
    options = {
        "columns": columns,
        "sequence_column": sequence_column,
        "time_column": time_column,
        "target_columns": list(targets),
        "n_inputs": n_inputs,
        "dt": dt,
    }
    names = CsvReader(path, **options).columns  # reads the header only
    table = read_table(path, **options)
    bounds = [*table.starts.tolist(), table.rows]
    pieces = list(pairwise(bounds))
    xs = [table.x[a:b].copy() for a, b in pieces]
    ys = [table.targets[a:b].copy() for a, b in pieces]
    ts = [table.timespans[a:b].copy() for a, b in pieces]
    return SequenceData.from_sequences(xs, ys, ts), list(names)


# -- checkpoints --------------------------------------------------------------------------------


def save_trained(model, path, result: FitResult, spec=None, *, force: bool = False):
    """Save ``model`` (holding its best weights) as a checkpoint whose extra tensors carry
    ``result.state``, so that ``load_train_state`` can continue the run."""
    from velora import checkpoint

    return checkpoint.save(model, path, spec, extra=state_to_tensors(result.state), force=force)


def load_train_state(path, model: nn.Module) -> TrainState:
    """The training state saved by ``save_trained`` in ``path``, checked against ``model``.

    The checkpoint's wiring must equal the model's (same spec); anything else raises
    ``CheckpointError`` with one line.
    """
    from velora.checkpoint import load_checkpoint
    from velora.errors import CheckpointError

    ckpt = load_checkpoint(path)
    if not has_state(ckpt.extra):
        raise CheckpointError(
            f"{path}: holds no training state (train.* tensors); --resume needs a checkpoint "
            "written by velora train"
        )
    mine, theirs = model.wiring.masks, ckpt.model.wiring.masks
    for layer in ("inter", "command", "motor"):
        a, b = getattr(mine, layer), getattr(theirs, layer)
        if a.shape != b.shape or not torch.equal(a.to(b.dtype), b):
            raise CheckpointError(
                f"{path}: its {layer} wiring differs from the network being trained "
                "(resume with the spec or checkpoint the run started from)"
            )
    try:
        return state_from_tensors(ckpt.extra, model, ckpt.model.state_dict())
    except ValueError as exc:
        raise CheckpointError(f"{path}: training state: {exc}") from None
