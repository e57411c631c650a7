"""`velora train`: fit a network to target columns of a CSV file and save it as a checkpoint."""

from pathlib import Path
from typing import Annotated

import typer

from velora_cli.console import err, note_compiling
from velora_cli.options import Dt, Force, SequenceColumn, TimeColumn, split_names


def train(
    model: Annotated[
        Path, typer.Argument(help="A YAML spec (seeded start) or a checkpoint (to fine-tune).")
    ],
    data: Annotated[
        Path, typer.Option("--data", "-d", help="Training CSV file with a header row.")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Checkpoint to write (.safetensors).")
    ],
    targets: Annotated[
        str | None,
        typer.Option(
            "--targets",
            "-t",
            help="Target columns, comma-separated, one per output (default: the spec's outputs).",
        ),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            help="Input columns, comma-separated (default: the spec's inputs, else every column "
            "but the sequence, time and target columns).",
        ),
    ] = None,
    sequence_column: SequenceColumn = None,
    time_column: TimeColumn = None,
    dt: Dt = 1.0,
    val: Annotated[
        Path | None,
        typer.Option("--val", help="Validation CSV file (same columns as the training data)."),
    ] = None,
    val_split: Annotated[
        float | None,
        typer.Option(
            "--val-split",
            help="Hold out this share of the training sequences for validation (whole "
            "sequences, never one cut in two).",
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Passes over the training data.")] = 20,
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate.")] = 0.01,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Sequences per batch.")] = 16,
    window: Annotated[
        int,
        typer.Option(
            "--window",
            help="Steps per truncated-BPTT window; the state carries from window to window "
            "(0: whole sequences).",
        ),
    ] = 64,
    loss: Annotated[str, typer.Option("--loss", help="mse, mae or huber.")] = "mse",
    clip: Annotated[
        float, typer.Option("--clip", help="Clip the gradient norm to this (0: no clipping).")
    ] = 1.0,
    patience: Annotated[
        int | None,
        typer.Option(
            "--patience",
            help="Stop after this many epochs without a better validation loss (training loss "
            "without validation data).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help="Seed of the batch order and the validation split (default: the spec's seed).",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            help="Continue the training run saved in this checkpoint (weights, optimizer "
            "state, loss history); --epochs is the total.",
        ),
    ] = None,
    plot_loss: Annotated[
        Path | None,
        typer.Option("--plot-loss", help="Save the loss curves (.png, .svg or .pdf)."),
    ] = None,
    force: Force = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress display and no summary.")
    ] = False,
) -> None:
    """Fit MODEL to the target columns of a CSV file; save the best weights as a checkpoint.

    Truncated back-propagation through time with Adam; each sequence starts from a zero state.
    The checkpoint also keeps the optimizer state and the loss history, for --resume. Ctrl-C
    stops cleanly and saves the best epoch so far.
    """
    import math

    from velora.errors import VeloraError
    from velora.io import check_writable
    from velora.training import LOSSES

    target_names = split_names(targets, "--targets")
    input_names = split_names(columns, "--columns")
    if loss not in LOSSES:
        raise typer.BadParameter(f"expected one of {', '.join(LOSSES)}", param_hint="--loss")
    for name, value, low in (("--epochs", epochs, 1), ("--batch-size", batch_size, 1)):
        if value < low:
            raise typer.BadParameter(f"expected an integer >= {low}, got {value}", param_hint=name)
    if window < 0:
        raise typer.BadParameter(f"expected 0 or more, got {window}", param_hint="--window")
    if patience is not None and patience < 1:
        raise typer.BadParameter(f"expected 1 or more, got {patience}", param_hint="--patience")
    for name, value in (("--lr", lr), ("--dt", dt)):
        if not (math.isfinite(value) and value > 0):
            raise typer.BadParameter(f"expected a positive number, got {value}", param_hint=name)
    if not (math.isfinite(clip) and clip >= 0):
        raise typer.BadParameter(f"expected 0 or more, got {clip}", param_hint="--clip")
    if val is not None and val_split is not None:
        raise typer.BadParameter("give --val or --val-split, not both", param_hint="--val-split")
    if val_split is not None and not 0 < val_split < 1:
        raise typer.BadParameter(
            f"expected a share between 0 and 1, got {val_split}", param_hint="--val-split"
        )

    # Outputs are checked before any work.
    check_writable(output, force=force)
    if plot_loss is not None:
        from velora.plotting import plot_format

        plot_format(plot_loss)
        check_writable(plot_loss, force=force)
        if plot_loss.resolve() == output.resolve():
            raise VeloraError(f"{plot_loss}: the loss plot and the checkpoint are the same file")

    from velora.loading import load_model
    from velora.training import (
        fit,
        load_train_state,
        read_sequences,
        save_trained,
        split_by_sequence,
    )

    network, spec = load_model(model)
    if target_names is None:
        if spec is None or not spec.outputs:
            raise VeloraError(f"{model}: the spec names no outputs; give --targets")
        target_names = list(spec.outputs)
    if len(target_names) != network.out_features:
        raise VeloraError(
            f"--targets names {len(target_names)} column(s) ({', '.join(target_names)}) but "
            f"the network has {network.out_features} output(s)"
        )
    if input_names is None and spec is not None and spec.inputs:
        input_names = list(spec.inputs)
    state = load_train_state(resume, network) if resume is not None else None
    if seed is None:
        seed = state.seed if state is not None else (spec.seed or 0) if spec is not None else 0

    read = {
        "targets": target_names,
        "columns": input_names,
        "sequence_column": sequence_column,
        "time_column": time_column,
        "n_inputs": network.in_features,
        "dt": dt,
    }
    train_data, used_inputs = read_sequences(data, **read)
    val_data = None
    if val is not None:
        val_data, _ = read_sequences(val, **{**read, "columns": used_inputs})
    elif val_split is not None:
        if len(train_data) < 2:
            raise VeloraError(
                f"{data}: --val-split needs at least 2 sequences, found {len(train_data)} "
                "(name the sequence column with --sequence-column, or give --val)"
            )
        train_data, val_data = split_by_sequence(train_data, val_split, seed=seed)

    spec = _named_spec(spec, network, used_inputs, target_names)
    show = not quiet
    if show:
        n_val = f", {len(val_data)} for validation" if val_data is not None else ""
        err.print(
            f"training {network.n_neurons} neurons ({network.active_params:,} active parameters) "
            f"on {len(train_data)} sequence(s), {train_data.n_steps:,} rows{n_val}; "
            f"inputs {', '.join(used_inputs)} -> targets {', '.join(target_names)}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        note_compiling(network, training=True)
    with _Display(show, err.is_terminal) as display:
        result = fit(
            network,
            train_data,
            val_data,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            window=window or None,
            loss=loss,
            clip_grad=clip or None,
            patience=patience,
            seed=seed,
            callback=display.update,
            resume_state=state,
        )
    no_new_epoch = result.epochs_run == (state.epoch if state is not None else 0)
    if result.interrupted and no_new_epoch:
        err.print("interrupted before an epoch ended; nothing written", markup=False)
        raise typer.Exit(130)
    save_trained(network, output, result, spec, force=force)
    if plot_loss is not None:
        from velora.plotting_train import save_loss_plot

        save_loss_plot(
            result, plot_loss, force=force, loss=loss, title=f"velora train: {output.name}"
        )
    if show:
        _summary(result, loss, output, plot_loss)
    if result.interrupted:
        err.print(
            f"interrupted after epoch {result.epochs_run}; the best epoch so far is saved "
            f"(continue with --resume {output})",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(130)


def _named_spec(spec, network, inputs: list[str], targets: list[str]):
    """The spec to store: with the input and target column names the network was trained on,
    when they are valid spec names (so that ``velora run`` finds the columns by itself)."""
    from dataclasses import replace

    from velora.checkpoint import spec_for
    from velora.errors import SpecError
    from velora.spec import dump_spec, parse_spec

    spec = spec_for(network) if spec is None else spec
    named = replace(spec, inputs=tuple(inputs), outputs=tuple(targets))
    try:
        parse_spec(dump_spec(named))
    except SpecError:
        return spec
    return named


def _summary(result, loss: str, output: Path, plot_loss: Path | None) -> None:
    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.4g}"

    last = result.train_loss[-1] if result.train_loss else None
    line = (
        f"{result.epochs_run} epoch(s) in {result.elapsed_s:.1f} s "
        f"({result.samples_steps_per_s:,.0f} samples x steps/s); {loss} train "
        f"{fmt(result.initial_train_loss)} -> {fmt(last)}"
    )
    if result.initial_val_loss is not None:
        line += f", validation {fmt(result.initial_val_loss)} -> {fmt(result.best_loss)}"
    line += f" (best epoch {result.best_epoch})" if result.best_epoch else " (no epoch improved)"
    if result.stopped_early:
        line += "; stopped early"
    line += f"; wrote {output}" + (f", {plot_loss}" if plot_loss is not None else "")
    err.print(line, markup=False, highlight=False, soft_wrap=True)


class _Display:
    """Rich progress (epoch, batch, losses, samples x steps/s) on a terminal; one line per epoch
    otherwise; nothing when quiet."""

    def __init__(self, show: bool, terminal: bool) -> None:
        self.show = show
        self.terminal = terminal
        self.bar = None
        self.task = None

    def __enter__(self):
        if self.show and self.terminal:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("epoch {task.fields[epoch]}"),
                BarColumn(),
                TextColumn("batch {task.completed}/{task.total}"),
                TextColumn("train {task.fields[train]}"),
                TextColumn("val {task.fields[val]}"),
                TextColumn("{task.fields[rate]} samples x steps/s"),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task("train", total=1, epoch="", train="-", val="-", rate="")
        return self

    def update(self, p) -> None:
        if not self.show:
            return
        val = "-" if p.val_loss is None else f"{p.val_loss:.4g}"
        if self.bar is not None:
            self.bar.update(
                self.task,
                completed=p.batch,
                total=p.n_batches,
                epoch=f"{p.epoch}/{p.epochs}",
                train=f"{p.train_loss:.4g}",
                val=val,
                rate=f"{p.steps_per_s:,.0f}",
            )
        if p.phase == "epoch":
            mark = "  *" if p.improved else ""
            err.print(
                f"epoch {p.epoch:>{len(str(p.epochs))}}/{p.epochs}  train {p.train_loss:.4g}  "
                f"val {val}  {p.steps_per_s:,.0f} samples x steps/s{mark}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
