"""Fit a ``LiquidNCPNetwork`` to target sequences: truncated back-propagation through time.

Sequences of different lengths are padded into one tensor and carry a length each; padded steps
never count. Every real (sequence, step, output) entry weighs the same in the loss, whatever the
length of its sequence or the window it falls in. Each batch of sequences is cut into windows of
``window`` steps; the hidden state flows from one window into the next (detached, so gradients
stop at the window boundary) and the optimizer steps once per window.

Training is deterministic on the CPU: the batch order of epoch ``e`` is drawn from a generator
seeded with ``(seed, e)``, so a run resumed from the state saved after epoch ``e`` continues
exactly as an uninterrupted run would.

Data-parallel: as one of several processes (``velora.distributed``), every process draws the same
batches and takes the sequences ``rank, rank + world_size, ...`` of each; DistributedDataParallel
averages the gradients, and each process scales its loss so that the average is exactly the
one-process gradient of the whole batch. Losses are reduced as sums and counts, so they mean
what they mean on one process, and every decision (best epoch, early stopping) is the same on
every process.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import torch
from torch import nn

from velora.distributed import Context, StopRequest, current, peer_errors
from velora.training.adam import Adam, Optimizer
from velora.training.data import SequenceData
from velora.training.defaults import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CLIP,
    DEFAULT_EPOCHS,
    DEFAULT_LOSS,
    DEFAULT_LR,
    DEFAULT_WINDOW,
    LOSSES,
    LossName,
)

if TYPE_CHECKING:
    from velora.models import LiquidNCPNetwork
    from velora.models.lnn.ncp import Backend


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
def evaluate(
    model: LiquidNCPNetwork,
    data: SequenceData,
    *,
    loss: str = "mse",
    batch_size: int = 256,
    context: Context | None = None,
):
    """Mean loss over every real (sequence, step, output) entry, from zero states.

    As one of several processes (``context``, default ``velora.distributed.current()``), each
    evaluates the sequences ``rank, rank + world_size, ...`` and the sums and counts are added
    up: every process gets the loss of the whole of ``data``.
    """
    ctx = current() if context is None else context
    index = range(ctx.rank, len(data), ctx.world_size)
    total, count = 0.0, 0
    for start in range(0, len(index), batch_size):
        part = data.subset(index[start : start + batch_size])
        y, _ = model.forward_sequence(part.x, timespans=part.timespans)
        err = elementwise_loss(loss, y, part.y.to(y.device)).sum(dim=2)
        total += float(err[part.mask().to(y.device)].double().sum())
        count += part.n_steps * part.y.shape[2]
    if ctx.parallel:
        total, every = ctx.all_sum([total, count])
        return total / every
    return total / count


def _snapshot(module_or_dict) -> dict:
    state = module_or_dict.state_dict() if hasattr(module_or_dict, "state_dict") else module_or_dict
    return copy.deepcopy(state)


def fit(
    model: LiquidNCPNetwork,
    train_data: SequenceData,
    val_data: SequenceData | None = None,
    *,
    epochs: int = DEFAULT_EPOCHS,
    lr: float = DEFAULT_LR,
    batch_size: int = DEFAULT_BATCH_SIZE,
    window: int | None = DEFAULT_WINDOW,
    loss: LossName = DEFAULT_LOSS,
    clip_grad: float | None = DEFAULT_CLIP,
    patience: int | None = None,
    seed: int | None = None,
    callback: Callable[[FitProgress], None] | None = None,
    resume_state: TrainState | None = None,
    restore_best: bool = True,
    compiled: bool | None = None,
    context: Context | None = None,
) -> FitResult:
    """Train ``model`` with Adam on ``train_data``; returns the loss history and best state.

    ``window``: steps per truncated-BPTT window (None: whole sequences). ``clip_grad``: max
    gradient norm (None: no clipping). ``patience``: stop after that many epochs without a new
    best monitored loss (validation if ``val_data`` is given, else training). Ctrl-C during
    training ends the run cleanly: the result has ``interrupted=True`` and the model the best
    weights of the completed epochs. ``resume_state`` continues from a ``FitResult.state``.
    ``compiled``: True runs each window through the compiled forward/backward loop (CPU), False
    through PyTorch's loop (autograd); None picks the quickest for each batch
    (``model.training_backend``): on the CPU the compiled loop for small networks and batches,
    else the BLAS loop (every matrix product in BLAS, back-propagation written by hand); on
    other devices PyTorch's.
    ``seed`` fixes the batch order: None takes the resumed run's seed, else the network's own
    (``model.seed``, the spec's seed for a network built from a spec), else 0.
    ``context`` (default ``velora.distributed.current()``): as one of several processes, call
    ``fit`` on every one of them with the same arguments; they train one model data-parallel
    (see the module docstring), ``batch_size`` being the global batch, and return the same
    result. Ctrl-C or SIGTERM then stops every process after the same batch. A process that
    fails on its own must exit (velora's commands do), which ends the others' waits on it; as
    long as it lives, they wait, up to the process group's timeout.
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
    if seed is None:
        seed = resolve_seed(model, resume_state)
    out_features = model.out_features
    for what, data in (("train", train_data), ("validation", val_data)):
        if data is not None and (
            data.x.shape[2] != model.in_features or data.y.shape[2] != out_features
        ):
            raise ValueError(
                f"{what} data has {data.x.shape[2]} inputs and {data.y.shape[2]} targets; "
                f"the network takes {model.in_features} and gives {out_features}"
            )

    ctx = current() if context is None else context
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, lr)
    model.train()
    t0 = time.perf_counter()
    initial_train = evaluate(model, train_data, loss=loss, context=ctx)
    initial_val = (
        evaluate(model, val_data, loss=loss, context=ctx) if val_data is not None else None
    )

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
    replicas = _DataParallel(model, ctx) if ctx.parallel else None
    stop = StopRequest()
    try:
        with stop:
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
                    if replicas is None:
                        step = _step_function(model, len(batch), compiled)
                        batch_sum = _train_batch(
                            step, optimizer, params, batch, window, loss, clip_grad
                        )
                        stop.check()  # Ctrl-C or SIGTERM: after this batch, at a safe point
                    else:
                        batch_sum = replicas.train_batch(
                            batch, optimizer, params, window, loss, clip_grad, compiled, stop
                        )
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
                val_loss = None
                if val_data is not None:
                    val_loss = evaluate(model, val_data, loss=loss, context=ctx)
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
                if replicas is not None and epoch < epochs and replicas.stopping(stop):
                    raise KeyboardInterrupt  # asked during validation: after this epoch
                stop.check()
                if patience is not None and state.bad_epochs >= patience and epoch < epochs:
                    stopped_early = True
                    break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if replicas is not None:
            replicas.close()
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


def make_optimizer(params: list[nn.Parameter], lr: float) -> Optimizer:
    """The Adam a training run uses: velora's own when every parameter is on the CPU (the same
    bits as torch's, without torch's import of ``torch._dynamo``), else ``torch.optim.Adam``
    (its multi-tensor path on CUDA and other devices)."""
    if all(p.device.type == "cpu" for p in params):
        return Adam(params, lr=lr)
    return torch.optim.Adam(params, lr=lr)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of epoch ``epoch``'s batch order: fixed by (seed, epoch) alone."""
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) % 2**63)


def resolve_seed(model: nn.Module, resume_state: TrainState | None = None) -> int:
    """The seed ``fit`` uses when none is given: a resumed run's, else the network's, else 0."""
    if resume_state is not None:
        return resume_state.seed
    seed = getattr(model, "seed", None)
    return 0 if seed is None else int(seed)


def _backend(model: LiquidNCPNetwork, batch: int, compiled: bool | None) -> Backend:
    """The loop for a batch: the model's choice (None), the compiled loop (True, on the CPU) or
    PyTorch's (False)."""
    if compiled is None:
        return model.training_backend(batch)
    on_cpu = next(model.parameters()).device.type == "cpu"
    return "compiled" if compiled and on_cpu else "torch"


def _step_function(model: LiquidNCPNetwork, batch: int, compiled: bool | None) -> Callable:
    """The differentiable sequence function for a batch: compiled loop or PyTorch loop."""
    backend = _backend(model, batch, compiled)
    return lambda x, h, ts: model.forward_sequence(x, h, ts, backend=backend)


class _Sequences(nn.Module):
    """``forward_sequence`` as a module's ``forward``, for DistributedDataParallel to wrap."""

    def __init__(self, network: LiquidNCPNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, x, h, ts, backend: Backend = "torch"):
        return self.network.forward_sequence(x, h, ts, backend=backend)


class _DataParallel:
    """One model trained by several processes: DistributedDataParallel around the network,
    each process's share of a batch, and the reductions that keep the loss and every decision
    equal to one process's."""

    def __init__(self, model: LiquidNCPNetwork, context: Context) -> None:
        from torch.nn.parallel import DistributedDataParallel

        self.model = model
        self.context = context
        device = model.device
        with peer_errors():
            self.ddp: DistributedDataParallel | None = DistributedDataParallel(
                _Sequences(model),
                device_ids=[device] if device.type == "cuda" else None,
                forward_sync_buffers=False,  # the masks never change
            )

    def train_batch(
        self,
        batch: SequenceData,
        optimizer: Optimizer,
        params: list[nn.Parameter],
        window: int | None,
        loss: str,
        clip_grad: float | None,
        compiled: bool | None,
        stop: StopRequest,
    ) -> float:
        """This process's share of ``batch``; returns the batch's summed loss over every
        process. Raises KeyboardInterrupt on every process, after the same batch, once any
        was asked to stop."""
        ddp = self.ddp
        assert ddp is not None
        world = self.context.world_size
        part, mask = _shard(batch, self.context.rank, world)
        backend = _backend(self.model, len(part), compiled)
        steps = batch.x.shape[1]
        windows = math.ceil(steps / (steps if window is None else min(window, steps)))
        # DDP averages the processes' gradients: each scales its loss by world / the batch's
        # count, so that the average is the one-process gradient of the whole batch.
        scale = batch.n_steps * batch.y.shape[2] / windows / world

        with peer_errors():
            mine = _train_batch(
                lambda x, h, ts: ddp(x, h, ts, backend),
                optimizer, params, part, window, loss, clip_grad, mask=mask, scale=scale,
            )  # fmt: skip
        total, stopping = self.context.all_sum([mine, float(stop.requested)])
        if stopping:  # every process stops after the same batch
            raise KeyboardInterrupt
        return total

    def stopping(self, stop: StopRequest) -> bool:
        """Whether any process was asked to stop (every process gets the same answer)."""
        return self.context.all_sum([float(stop.requested)])[0] > 0

    def close(self) -> None:
        """Let go of DDP's hooks on the parameters."""
        self.ddp = None


def _shard(batch: SequenceData, rank: int, world: int) -> tuple[SequenceData, torch.Tensor]:
    """This process's share of a batch: its sequences ``rank, rank + world, ...`` padded to the
    batch's length (every process steps through the same windows), and their real steps. A
    process left without a sequence gets one of padding that counts nowhere."""
    steps = batch.x.shape[1]
    index = torch.arange(rank, len(batch), world)
    if len(index) == 0:
        x, y = torch.zeros_like(batch.x[:1]), torch.zeros_like(batch.y[:1])
        part = SequenceData(x, y, torch.ones(1, steps), batch.lengths[:1])
        return part, torch.zeros(1, steps, dtype=torch.bool)
    part = SequenceData(
        batch.x[index], batch.y[index], batch.timespans[index], batch.lengths[index]
    )
    return part, part.mask()


def _train_batch(
    forward_sequence: Callable,
    optimizer: Optimizer,
    params: list[nn.Parameter],
    batch: SequenceData,
    window: int | None,
    loss: str,
    clip_grad: float | None,
    *,
    mask: torch.Tensor | None = None,
    scale: float | None = None,
) -> float:
    """One batch: an optimizer step per window; returns the summed loss over real entries.

    Each window's loss is its summed error divided by the batch's mean count of real entries
    per window, so that every real entry weighs the same across the windows of the batch (a
    tail window where few sequences are still running is not blown up to a full mean).
    Data-parallel training passes the real steps of its share (``mask``) and its ``scale``.
    """
    steps = batch.x.shape[1]
    window = steps if window is None else min(window, steps)
    starts = range(0, steps, window)
    mask = batch.mask() if mask is None else mask
    if scale is None:
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
