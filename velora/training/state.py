"""Training state as named tensors, so that a checkpoint can carry it (no pickle) and
``velora train --resume`` can continue a run exactly where it stopped."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from velora.errors import CheckpointError
from velora.files import checkpoint
from velora.spec import Spec
from velora.training.adam import Adam
from velora.training.fitting import FitResult, TrainState

if TYPE_CHECKING:
    from velora.models import LiquidNCPNetwork

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
            digits, _, field_name = key[len(OPTIM_PREFIX) :].partition(".")
            if not digits.isdigit() or int(digits) >= len(names) or not field_name:
                raise ValueError(f"unexpected tensor {key!r}")
            optim_state.setdefault(int(digits), {})[field_name] = value.clone()
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
        "param_groups": Adam(params.values()).state_dict()["param_groups"],
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


def save_trained(
    model: LiquidNCPNetwork,
    path: str | Path,
    result: FitResult,
    spec: Spec | None = None,
    *,
    force: bool = False,
) -> Path:
    """Save ``model`` (holding its best weights) as a checkpoint whose extra tensors carry
    ``result.state``, so that ``load_train_state`` can continue the run."""
    return checkpoint.save(model, path, spec, extra=state_to_tensors(result.state), force=force)


def encode_trained(model: LiquidNCPNetwork, result: FitResult, spec: Spec | None = None) -> bytes:
    """The bytes ``save_trained`` writes."""
    return checkpoint.encode(model, spec, extra=state_to_tensors(result.state))


def load_train_state(path: str | Path, model: LiquidNCPNetwork) -> TrainState:
    """The training state saved by ``save_trained`` in ``path``, checked against ``model``.

    The checkpoint's wiring must equal the model's (same spec); anything else raises
    ``CheckpointError`` with one line.
    """
    ckpt = checkpoint.load_checkpoint(path)
    if not has_state(ckpt.extra):
        raise CheckpointError(
            f"{path}: holds no training state (train.* tensors); resuming needs a checkpoint "
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
