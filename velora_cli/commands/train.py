"""`velora train`: fit a network to target columns of a CSV file and save it as a checkpoint."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from velora.distributed import DEFAULT_DEVICE, is_main_process
from velora.files.defaults import DEFAULT_DELIMITER
from velora.training.defaults import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CLIP,
    DEFAULT_EPOCHS,
    DEFAULT_LOSS,
    DEFAULT_LR,
    DEFAULT_WINDOW,
    LOSSES,
)
from velora.viz.figures import DEFAULT_DPI, SUFFIXES
from velora_cli.console import count, err, note, show_library_notes
from velora_cli.options import (
    MAX_MEMORY_DEFAULT,
    TABLE_FORMATS,
    Delimiter,
    Device,
    Dpi,
    Dt,
    Force,
    MaxMemory,
    SequenceColumn,
    TargetInputs,
    Targets,
    TimeColumn,
    split_names,
)

if TYPE_CHECKING:
    from velora.training import FitProgress, FitResult, TrainingPlan


def train(
    model: Annotated[
        Path,
        typer.Argument(
            metavar="MODEL",
            help="A YAML spec (seeded start) or a checkpoint (to fine-tune); '-': standard input.",
        ),
    ],
    data: Annotated[
        Path,
        typer.Option("--data", "-d", metavar="FILE", help=f"The training table: {TABLE_FORMATS}."),
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", metavar="FILE", help="Checkpoint to write (.safetensors)."),
    ],
    targets: Targets = None,
    columns: TargetInputs = None,
    sequence_column: SequenceColumn = None,
    time_column: TimeColumn = None,
    dt: Dt = 1.0,
    delimiter: Delimiter = DEFAULT_DELIMITER,
    val: Annotated[
        Path | None,
        typer.Option(
            "--val",
            metavar="FILE",
            help="The validation table (same columns as the training data, any format --data "
            "takes).",
        ),
    ] = None,
    val_split: Annotated[
        float | None,
        typer.Option(
            "--val-split",
            metavar="SHARE",
            help="Hold out this share of the training sequences for validation (whole "
            "sequences, never one cut in two).",
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[
        int, typer.Option("--epochs", metavar="N", min=1, help="Passes over the training data.")
    ] = DEFAULT_EPOCHS,
    lr: Annotated[
        float, typer.Option("--lr", metavar="RATE", help="Adam learning rate.")
    ] = DEFAULT_LR,
    batch_size: Annotated[
        int, typer.Option("--batch-size", metavar="N", min=1, help="Sequences per batch.")
    ] = DEFAULT_BATCH_SIZE,
    window: Annotated[
        int,
        typer.Option(
            "--window",
            metavar="STEPS",
            min=0,
            help="Steps per truncated-BPTT window; the state carries from window to window "
            "(0: whole sequences).",
        ),
    ] = DEFAULT_WINDOW,
    loss: Annotated[
        str,
        typer.Option("--loss", metavar="LOSS", help=f"{', '.join(LOSSES[:-1])} or {LOSSES[-1]}."),
    ] = DEFAULT_LOSS,
    clip: Annotated[
        float,
        typer.Option(
            "--clip", metavar="NORM", help="Clip the gradient norm to this (0: no clipping)."
        ),
    ] = DEFAULT_CLIP,
    patience: Annotated[
        int | None,
        typer.Option(
            "--patience",
            metavar="N",
            min=1,
            help="Stop after this many epochs without a better validation loss (training loss "
            "without validation data).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            metavar="SEED",
            help="Seed of the batch order and the validation split (default: the spec's seed).",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            metavar="CKPT",
            help="Continue the training run saved in this checkpoint (weights, optimizer "
            "state, loss history); --epochs is the total.",
        ),
    ] = None,
    plot_loss: Annotated[
        Path | None,
        typer.Option("--plot-loss", metavar="FILE", help=f"Save the loss curves ({SUFFIXES})."),
    ] = None,
    dpi: Dpi = DEFAULT_DPI,
    device: Device = DEFAULT_DEVICE,
    force: Force = False,
    max_memory: MaxMemory = MAX_MEMORY_DEFAULT,  # type: ignore[assignment]
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress display and no summary.")
    ] = False,
) -> None:
    """Fit MODEL to the target columns of a table; save the best weights as a checkpoint.

    Truncated back-propagation through time with Adam; each sequence starts from a zero state.
    The checkpoint also keeps the optimizer state and the loss history, for --resume. Ctrl-C
    stops cleanly and saves the best epoch so far.

    Several processes (data-parallel, one model; --batch-size stays the global batch): launch
    the same command with torchrun, e.g. `torchrun --standalone --nproc-per-node=4 --no-python
    velora train MODEL -d data.csv -o model.safetensors` (several machines: --nnodes=N
    --rdzv-backend=c10d --rdzv-endpoint=HOST:PORT instead of --standalone). Rank 0 prints and
    writes.
    """
    if loss not in LOSSES:
        raise typer.BadParameter(f"expected one of {', '.join(LOSSES)}", param_hint="--loss")
    from velora.training import train_csv

    main = is_main_process()  # under torchrun, rank 0 alone prints
    show = not quiet and main
    show_library_notes(show)
    with _Display(show, err.is_terminal) as display:
        run = train_csv(
            model,
            data,
            output,
            targets=split_names(targets, "--targets"),
            columns=split_names(columns, "--columns"),
            sequence_column=sequence_column,
            time_column=time_column,
            dt=dt,
            delimiter=delimiter,
            val=val,
            val_split=val_split,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            window=window or None,
            loss=loss,  # type: ignore[arg-type]
            clip_grad=clip or None,
            patience=patience,
            seed=seed,
            resume=resume,
            plot_loss=plot_loss,
            dpi=dpi,
            force=force,
            max_memory=max_memory,
            device=device,
            on_start=_header if show else None,
            callback=display.update,
        )
    if not run.main:
        raise typer.Exit(130 if run.result.interrupted else 0)
    if not run.wrote:
        note("interrupted before an epoch ended; nothing written")
        raise typer.Exit(130)
    if show:
        _summary(run.result, loss, output, plot_loss)
    if run.result.interrupted:
        note(
            f"interrupted after epoch {run.result.epochs_run}; the best epoch so far is saved "
            f"(continue with --resume {output})"
        )
        raise typer.Exit(130)


def _header(plan: "TrainingPlan") -> None:
    n_val = f", {len(plan.val_data):,} for validation" if plan.val_data is not None else ""
    note(
        f"training {count(plan.network.n_neurons, 'neuron')} "
        f"({count(plan.network.active_params, 'active parameter')}) on "
        f"{count(len(plan.train_data), 'sequence')}, {count(plan.train_data.n_steps, 'row')}"
        f"{n_val}; inputs {', '.join(plan.inputs)} -> targets {', '.join(plan.targets)}"
        + (f"; {plan.processes} processes" if plan.processes > 1 else "")
        + (f"; on {plan.device}" if plan.device != "cpu" else "")
    )


def _summary(result: "FitResult", loss: str, output: Path, plot_loss: Path | None) -> None:
    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.4g}"

    last = result.train_loss[-1] if result.train_loss else None
    line = (
        f"{count(result.epochs_run, 'epoch')} in {result.elapsed_s:.1f} s "
        f"({result.samples_steps_per_s:,.0f} samples x steps/s); {loss} train "
        f"{fmt(result.initial_train_loss)} -> {fmt(last)}"
    )
    if result.initial_val_loss is not None:
        line += f", validation {fmt(result.initial_val_loss)} -> {fmt(result.best_loss)}"
    line += f" (best epoch {result.best_epoch})" if result.best_epoch else " (no epoch improved)"
    if result.stopped_early:
        line += "; stopped early"
    line += f"; wrote {output}" + (f", {plot_loss}" if plot_loss is not None else "")
    note(line)


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

    def update(self, p: "FitProgress") -> None:
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
            note(
                f"epoch {p.epoch:>{len(str(p.epochs))}}/{p.epochs}  train {p.train_loss:.4g}  "
                f"val {val}  {p.steps_per_s:,.0f} samples x steps/s{mark}"
            )

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
