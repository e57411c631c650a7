"""``train_csv``: everything ``velora train`` does, as one library call with the same defaults.

Read the model (spec or checkpoint) and the CSV data, pick the input and target columns, split
off validation sequences, fit, then write the checkpoint (with the training state for resuming)
and the loss plot. Outputs are checked before any work and written atomically.

Under torchrun every process calls ``train_csv`` with the same arguments: each reads the data,
they agree on whether everything is in order (so that bad input ends the job with one error),
train one model data-parallel (``fit``), and rank 0 alone reports progress and writes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from velora.distributed import setup
from velora.errors import SpecError, VeloraError
from velora.files.atomic import atomic_write, check_writable, companions
from velora.files.defaults import DEFAULT_DELIMITER
from velora.files.loading import load_model
from velora.files.sources import require_files, source_name
from velora.models import LiquidNCPNetwork
from velora.spec import (
    DEFAULT_MAX_MEMORY,
    MAX_SEED,
    Spec,
    check_memory,
    dump_spec,
    parse_spec,
)
from velora.training.data import SequenceData, read_sequences, split_by_sequence
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
from velora.training.fitting import FitProgress, FitResult, TrainState, fit, resolve_seed
from velora.training.state import encode_trained, load_train_state
from velora.viz.figures import DEFAULT_DPI, check_dpi, plot_format


@dataclass
class TrainingPlan:
    """What a training run will do, known before the first epoch: the network, the data, the
    columns, the seed and the spec the checkpoint will store."""

    network: LiquidNCPNetwork
    spec: Spec
    train_data: SequenceData
    val_data: SequenceData | None
    inputs: list[str]
    targets: list[str]
    seed: int
    resume_state: TrainState | None
    processes: int = 1  # processes that train it together (torchrun)
    device: str = "cpu"


@dataclass
class TrainingRun:
    """The outcome of ``train_csv``: the plan, the fit, and what was written."""

    plan: TrainingPlan
    result: FitResult
    output: Path | None  # None when interrupted before an epoch ended, or not rank 0
    plot: Path | None
    main: bool = True  # this process reports and writes (the only one, or rank 0)

    @property
    def wrote(self) -> bool:
        return self.output is not None


def _check_options(
    epochs: int,
    batch_size: int,
    window: int | None,
    lr: float,
    clip: float | None,
    patience: int | None,
    dt: float,
    val_split: float | None,
) -> None:
    """Range checks, each naming the parameter (the CLI maps it to its flag)."""
    problems = []
    if epochs < 1:
        problems.append(("epochs", f"expected an integer >= 1, got {epochs}"))
    if batch_size < 1:
        problems.append(("batch_size", f"expected an integer >= 1, got {batch_size}"))
    if window is not None and window < 1:
        problems.append(("window", f"expected an integer >= 1 or None, got {window}"))
    if patience is not None and patience < 1:
        problems.append(("patience", f"expected an integer >= 1, got {patience}"))
    for name, value in (("lr", lr), ("dt", dt)):
        if not (math.isfinite(value) and value > 0):
            problems.append((name, f"expected a positive number, got {value}"))
    if clip is not None and not (math.isfinite(clip) and clip > 0):
        problems.append(("clip", f"expected a positive number or None, got {clip}"))
    if val_split is not None and not 0 < val_split < 1:
        problems.append(("val_split", f"expected a share between 0 and 1, got {val_split}"))
    if problems:
        name, problem = problems[0]
        raise VeloraError(f"{name}: {problem}", parameter=name)


def stored_spec(spec: Spec, inputs: Sequence[str], targets: Sequence[str]) -> Spec:
    """The spec a trained checkpoint stores: with the input and target column names the network
    was trained on, when they are valid spec names (so that ``velora run`` finds the columns by
    itself); else the spec as it was."""
    named = replace(spec, inputs=tuple(inputs), outputs=tuple(targets))
    try:
        parse_spec(dump_spec(named))
    except SpecError:
        return spec
    return named


def plan_training(
    model: str | Path,
    data: str | Path,
    *,
    targets: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    sequence_column: str | None = None,
    time_column: str | None = None,
    dt: float = 1.0,
    val: str | Path | None = None,
    val_split: float | None = None,
    seed: int | None = None,
    resume: str | Path | None = None,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
    delimiter: str = DEFAULT_DELIMITER,
) -> TrainingPlan:
    """Load the model and the data as ``train_csv`` does, without training.

    Targets default to the spec's outputs and inputs to the spec's inputs (else every column but
    the sequence, time and target columns). ``val_split`` holds out that share of whole
    sequences, chosen by the seed; ``seed`` defaults as in ``fit``. ``data`` and ``val`` are
    any tables ``velora.files.tables.open_table`` reads (CSV, plain or compressed, Parquet,
    Arrow; ``-`` for standard input); ``delimiter`` separates CSV fields.
    """
    if val is not None and val_split is not None:
        raise VeloraError(
            "give validation data or a validation split, not both", parameter="val_split"
        )
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise VeloraError(f"seed: expected an integer from 0 to {MAX_SEED}, got {seed}",
                          parameter="seed")  # fmt: skip
    network, spec = load_model(model, max_memory=max_memory)
    if targets is None:
        if not spec.outputs:
            raise VeloraError(
                f"{source_name(model)}: the spec names no outputs; name the target columns",
                parameter="targets",
            )
        targets = list(spec.outputs)
    targets = list(targets)
    if len(targets) != network.out_features:
        raise VeloraError(
            f"{len(targets)} target column(s) ({', '.join(targets)}) but the network has "
            f"{network.out_features} output(s)",
            parameter="targets",
        )
    if columns is None and spec.inputs:
        columns = list(spec.inputs)
    state = load_train_state(resume, network) if resume is not None else None
    if seed is None:
        seed = state.seed if state is not None else resolve_seed(network)
    read: dict[str, Any] = {
        "targets": targets,
        "columns": columns,
        "sequence_column": sequence_column,
        "time_column": time_column,
        "n_inputs": network.in_features,
        "dt": dt,
        "delimiter": delimiter,
    }
    train_data, inputs = read_sequences(data, **read)
    val_data = None
    if val is not None:
        val_data, _ = read_sequences(val, **{**read, "columns": inputs})
    elif val_split is not None:
        if len(train_data) < 2:
            raise VeloraError(
                f"{source_name(data)}: a validation split needs at least 2 sequences, found "
                f"{len(train_data)} (name the sequence column, or give validation data)",
                parameter="val_split",
            )
        train_data, val_data = split_by_sequence(train_data, val_split, seed=seed)
    return TrainingPlan(
        network=network,
        spec=stored_spec(spec, inputs, targets),
        train_data=train_data,
        val_data=val_data,
        inputs=list(inputs),
        targets=targets,
        seed=seed,
        resume_state=state,
    )


def check_training_memory(
    plan: TrainingPlan, batch_size: int, window: int | None, max_memory: int | None
) -> int:
    """The estimated bytes of training ``plan`` in batches of ``batch_size`` sequences and
    windows of ``window`` steps (None: whole sequences), as far as the data allows; raises
    ``MemoryLimitError`` above ``max_memory`` (None: no limit)."""
    steps = plan.train_data.x.shape[1]
    return check_memory(
        plan.spec,
        max_memory,
        "train",
        batch=min(batch_size, len(plan.train_data)),
        window=steps if window is None else min(window, steps),
    )


def train_csv(
    model: str | Path,
    data: str | Path,
    output: str | Path,
    *,
    targets: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    sequence_column: str | None = None,
    time_column: str | None = None,
    dt: float = 1.0,
    val: str | Path | None = None,
    val_split: float | None = None,
    epochs: int = DEFAULT_EPOCHS,
    lr: float = DEFAULT_LR,
    batch_size: int = DEFAULT_BATCH_SIZE,
    window: int | None = DEFAULT_WINDOW,
    loss: LossName = DEFAULT_LOSS,
    clip_grad: float | None = DEFAULT_CLIP,
    patience: int | None = None,
    seed: int | None = None,
    resume: str | Path | None = None,
    plot_loss: str | Path | None = None,
    dpi: int = DEFAULT_DPI,
    force: bool = False,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
    device: str | None = None,
    delimiter: str = DEFAULT_DELIMITER,
    on_start: Callable[[TrainingPlan], None] | None = None,
    callback: Callable[[FitProgress], None] | None = None,
) -> TrainingRun:
    """Fit the network of ``model`` (a spec or a checkpoint) to the target columns of the CSV
    file ``data`` and save the best epoch as a checkpoint at ``output`` (see ``velora train``).

    Defaults are those of ``plan_training`` and ``fit``. ``on_start(plan)`` is called once the
    data is read, before the first epoch; ``callback`` as for ``fit``. Ctrl-C ends the run
    cleanly: the best epoch so far is written, or nothing when no epoch ended
    (``TrainingRun.wrote``). ``plot_loss`` also writes the loss curves (png, svg or pdf, at
    ``dpi``). ``device`` (cpu, cuda, cuda:N, mps or auto; None: the CPU) is where it trains:
    the PyTorch loop there, the compiled loop on the CPU only.

    Under torchrun every process makes this call (see the module docstring): ``batch_size`` is
    the global batch, and rank 0 alone calls ``on_start`` and ``callback`` and writes.
    """
    context = setup(device)
    with context.agreement():  # bad input on any process ends the job with one error
        if loss not in LOSSES:
            raise VeloraError(
                f"loss: expected one of {', '.join(LOSSES)}, got {loss!r}", parameter="loss"
            )
        _check_options(epochs, batch_size, window, lr, clip_grad, patience, dt, val_split)
        if context.parallel:  # every process reads every input: no stream will do
            require_files(model, data, val, resume)
        output, plot = Path(output), (None if plot_loss is None else Path(plot_loss))
        if context.is_main:  # the process that writes checks where it writes
            check_writable(output, force=force)
            if plot is not None:
                plot_format(plot)
                check_dpi(dpi)
                check_writable(plot, force=force)
                if plot.resolve() == output.resolve():
                    raise VeloraError(f"{plot}: the loss plot and the checkpoint are the same file")
        plan = plan_training(
            model,
            data,
            targets=targets,
            columns=columns,
            sequence_column=sequence_column,
            time_column=time_column,
            dt=dt,
            val=val,
            val_split=val_split,
            seed=seed,
            resume=resume,
            max_memory=max_memory,
            delimiter=delimiter,
        )
        check_training_memory(plan, batch_size, window, max_memory)
        plan.network.to(context.device)
        plan.processes, plan.device = context.world_size, str(context.device)
    if on_start is not None and context.is_main:
        on_start(plan)
    result = fit(
        plan.network,
        plan.train_data,
        plan.val_data,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        window=window,
        loss=loss,
        clip_grad=clip_grad,
        patience=patience,
        seed=plan.seed,
        callback=callback if context.is_main else None,
        resume_state=plan.resume_state,
        context=context,
    )
    start_epoch = plan.resume_state.epoch if plan.resume_state is not None else 0
    if not context.is_main or (result.interrupted and result.epochs_run == start_epoch):
        return TrainingRun(plan, result, None, None, main=context.is_main)
    encoded = encode_trained(plan.network, result, plan.spec)
    # The loss plot is published while the checkpoint is still a temporary file: if the plot
    # fails, no checkpoint is kept; if publishing the checkpoint fails, the new plot goes too.
    with companions() as published, atomic_write(output, force=force) as handle:
        handle.write(encoded)
        if plot is not None:
            from velora.viz.loss import save_loss_plot

            published.add(plot)
            title = f"velora train: {plan.spec.title}"
            save_loss_plot(result, plot, dpi=dpi, force=force, loss=loss, title=title)
    return TrainingRun(plan, result, output, plot)
