"""Training: fit a ``LiquidNCPNetwork`` to target sequences (``fit``), its data and state, and
``train_csv``, which does all that ``velora train`` does.

Sequences of different lengths are padded and carry a length each; padded steps never count.
Truncated back-propagation through time: the optimizer steps once per window of ``window``
steps and the hidden state carries into the next window, detached. Names load on first use
(PEP 562), so that ``velora.training.defaults`` is torch-free.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

_LAZY = {
    "SequenceData": "data",
    "read_sequences": "data",
    "split_by_sequence": "data",
    "FitProgress": "fitting",
    "FitResult": "fitting",
    "TrainState": "fitting",
    "elementwise_loss": "fitting",
    "evaluate": "fitting",
    "fit": "fitting",
    "resolve_seed": "fitting",
    "has_state": "state",
    "load_train_state": "state",
    "save_trained": "state",
    "state_from_tensors": "state",
    "state_to_tensors": "state",
    "TrainingPlan": "workflow",
    "TrainingRun": "workflow",
    "plan_training": "workflow",
    "stored_spec": "workflow",
    "train_csv": "workflow",
}

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CLIP",
    "DEFAULT_EPOCHS",
    "DEFAULT_LOSS",
    "DEFAULT_LR",
    "DEFAULT_WINDOW",
    "LOSSES",
    "FitProgress",
    "FitResult",
    "LossName",
    "SequenceData",
    "TrainState",
    "TrainingPlan",
    "TrainingRun",
    "elementwise_loss",
    "evaluate",
    "fit",
    "has_state",
    "load_train_state",
    "plan_training",
    "read_sequences",
    "resolve_seed",
    "save_trained",
    "split_by_sequence",
    "state_from_tensors",
    "state_to_tensors",
    "stored_spec",
    "train_csv",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'velora.training' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"velora.training.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:
    from velora.training.data import SequenceData, read_sequences, split_by_sequence
    from velora.training.fitting import (
        FitProgress,
        FitResult,
        TrainState,
        elementwise_loss,
        evaluate,
        fit,
        resolve_seed,
    )
    from velora.training.state import (
        has_state,
        load_train_state,
        save_trained,
        state_from_tensors,
        state_to_tensors,
    )
    from velora.training.workflow import (
        TrainingPlan,
        TrainingRun,
        plan_training,
        stored_spec,
        train_csv,
    )
