"""``evaluate_csv``: how good a model is on a CSV file, as ``velora eval`` shows it.

The model runs over the file exactly as ``velora run`` runs it (``velora.inference.run_csv``,
streamed in chunks) and its outputs are compared, row by row, with target columns. Per output
and as a mean over outputs: MSE, MAE, RMSE and R² = 1 − SSE/SST, SST taken about the target's
mean over all rows. Everything is accumulated chunk by chunk in float64 (error sums, and the
targets' means and centred sums of squares merged with Chan's formula, which stays accurate
whatever the targets' offset), so memory is bounded whatever the file size; per sequence too
(only a few numbers per sequence are kept).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from velora.distributed import Context, setup
from velora.errors import VeloraError
from velora.files.defaults import DEFAULT_DELIMITER
from velora.files.sources import Source, require_files, source_name
from velora.files.tables import DEFAULT_BLOCK_BYTES
from velora.inference import ChunkResult, load_network, open_reader, run_csv, runs_locally
from velora.models.arrays import NetworkArrays
from velora.spec import DEFAULT_MAX_MEMORY, Spec

if TYPE_CHECKING:
    from velora.models import LiquidNCPNetwork

METRICS = ("mse", "mae", "rmse", "r2")


def _number(value: float) -> float | None:
    """A metric for JSON: None where it is undefined or not finite."""
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Metrics:
    """Errors of one output (or their mean over outputs); ``r2`` is None where the target does
    not vary (SST = 0), and so is undefined."""

    mse: float
    mae: float
    rmse: float
    r2: float | None

    def to_dict(self) -> dict[str, float | None]:
        """``{"mse", "mae", "rmse", "r2"}``; values that are not finite become None."""
        return {
            "mse": _number(self.mse),
            "mae": _number(self.mae),
            "rmse": _number(self.rmse),
            "r2": None if self.r2 is None else _number(self.r2),
        }

    @classmethod
    def mean_of(cls, metrics: Sequence[Metrics]) -> Metrics:
        """The mean of each metric over outputs (R²: None if any output's R² is)."""
        n = len(metrics)
        r2s = [m.r2 for m in metrics]
        return cls(
            mse=math.fsum(m.mse for m in metrics) / n,
            mae=math.fsum(m.mae for m in metrics) / n,
            rmse=math.fsum(m.rmse for m in metrics) / n,
            r2=None if any(r is None for r in r2s) else math.fsum(r2s) / n,  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class SequenceEvaluation:
    """The metrics of one sequence (``sequence`` is its id; None for a file without a sequence
    column, which is one sequence). R² here is about the sequence's own target mean."""

    sequence: str | None
    rows: int
    outputs: dict[str, Metrics]
    mean: Metrics

    def to_dict(self) -> dict:
        return {
            "sequence": self.sequence,
            "rows": self.rows,
            "outputs": {name: m.to_dict() for name, m in self.outputs.items()},
            "mean": self.mean.to_dict(),
        }


@dataclass(frozen=True)
class Evaluation:
    """What ``evaluate_csv`` found. ``to_dict()`` is the document ``velora eval --json``
    prints: ``rows``, ``sequences``, ``outputs`` (target name -> metrics), ``mean``, and
    ``per_sequence`` when it was asked for."""

    rows: int
    sequences: int
    outputs: dict[str, Metrics]
    mean: Metrics
    inputs: list[str]
    targets: list[str]
    seconds: float
    per_sequence: list[SequenceEvaluation] | None = None
    main: bool = True  # under torchrun, rank 0 holds the metrics; the others none (empty)

    def to_dict(self) -> dict:
        out: dict = {
            "rows": self.rows,
            "sequences": self.sequences,
            "outputs": {name: m.to_dict() for name, m in self.outputs.items()},
            "mean": self.mean.to_dict(),
        }
        if self.per_sequence is not None:
            out["per_sequence"] = [s.to_dict() for s in self.per_sequence]
        return out


@dataclass
class ErrorSums:
    """Running float64 sums over rows for ``k`` outputs, one set per group of rows (a file, or
    each sequence): the row count ``n`` (groups,), and (groups, k) sums of squared and absolute
    errors, the targets' mean and their sum of squared deviations from it (``m2``)."""

    n: np.ndarray
    sse: np.ndarray
    sae: np.ndarray
    mean: np.ndarray
    m2: np.ndarray

    @classmethod
    def empty(cls, k: int) -> ErrorSums:
        zeros = np.zeros((0, k))
        return cls(np.zeros(0), zeros, zeros.copy(), zeros.copy(), zeros.copy())

    @classmethod
    def of_segments(cls, y: np.ndarray, target: np.ndarray, starts: np.ndarray) -> ErrorSums:
        """Sums over the row segments that begin at ``starts`` (each non-empty)."""
        y64, t64 = y.astype(np.float64), target.astype(np.float64)
        err = y64 - t64
        n = np.diff(np.append(starts, len(y64))).astype(np.float64)
        mean = np.add.reduceat(t64, starts, axis=0) / n[:, None]
        centred = t64 - np.repeat(mean, n.astype(np.int64), axis=0)
        return cls(
            n=n,
            sse=np.add.reduceat(err * err, starts, axis=0),
            sae=np.add.reduceat(np.abs(err), starts, axis=0),
            mean=mean,
            m2=np.add.reduceat(centred * centred, starts, axis=0),
        )

    def merge(self, other: ErrorSums) -> ErrorSums:
        """Row-wise sums of both (same number of groups): Chan's formula for mean and m2."""
        n = self.n + other.n
        delta = other.mean - self.mean
        weight = np.divide(other.n, n, out=np.zeros_like(n), where=n > 0)[:, None]
        return ErrorSums(
            n=n,
            sse=self.sse + other.sse,
            sae=self.sae + other.sae,
            mean=self.mean + delta * weight,
            m2=self.m2 + other.m2 + delta * delta * (self.n[:, None] * weight),
        )

    def take(self, index: slice) -> ErrorSums:
        return ErrorSums(
            self.n[index], self.sse[index], self.sae[index], self.mean[index], self.m2[index]
        )

    def put(self, index: slice, other: ErrorSums) -> None:
        """Overwrite the groups ``index`` with ``other``'s."""
        self.n[index], self.sse[index], self.sae[index] = other.n, other.sse, other.sae
        self.mean[index], self.m2[index] = other.mean, other.m2

    @classmethod
    def concat(cls, parts: Sequence[ErrorSums], k: int) -> ErrorSums:
        if not parts:
            return cls.empty(k)
        fields = ("n", "sse", "sae", "mean", "m2")
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))

    def metrics(self, group: int, names: Sequence[str]) -> dict[str, Metrics]:
        """The metrics of one group, per output name."""
        n = self.n[group]
        out = {}
        for j, name in enumerate(names):
            mse = float(self.sse[group, j] / n)
            sst = float(self.m2[group, j])
            r2 = 1.0 - float(self.sse[group, j]) / sst if sst > 0 else None
            out[name] = Metrics(mse, float(self.sae[group, j] / n), math.sqrt(mse), r2)
        return out


class _Accumulator:
    """Folds ``run_csv``'s chunk results into whole-file and per-sequence sums."""

    def __init__(self, k: int, per_sequence: bool) -> None:
        self.total = ErrorSums.empty(k)
        self.k = k
        self.per_sequence = per_sequence
        self.parts: list[ErrorSums] = []  # per chunk: the sums of the sequences it starts
        self.ids: list[str | None] = []

    def add(self, result: ChunkResult) -> None:
        chunk = result.chunk
        if chunk.rows == 0:
            return
        targets = chunk.targets
        assert targets is not None  # the reader was opened with the target columns
        whole = ErrorSums.of_segments(result.y, targets, np.zeros(1, dtype=np.int64))
        self.total = whole if not len(self.total.n) else self.total.merge(whole)
        if not self.per_sequence:
            return
        parts = ErrorSums.of_segments(result.y, targets, chunk.starts)
        ids: list[str | None] = list(chunk.ids) if chunk.ids is not None else [None]
        if chunk.continues and self.ids:  # the first sequence began in an earlier chunk
            previous = next(p for p in reversed(self.parts) if len(p.n))
            last = slice(len(previous.n) - 1, None)
            previous.put(last, previous.take(last).merge(parts.take(slice(0, 1))))
            parts, ids = parts.take(slice(1, None)), ids[1:]
        self.parts.append(parts)
        self.ids.extend(ids)

    def sequences(self) -> ErrorSums:
        """Every sequence's sums, in file order."""
        return ErrorSums.concat(self.parts, self.k)


def evaluate_csv(
    network: LiquidNCPNetwork | NetworkArrays | str | Path,
    input_path: Source,
    *,
    targets: Sequence[str] | None = None,
    spec: Spec | None = None,
    columns: Sequence[str] | None = None,
    sequence_column: str | None = None,
    time_column: str | None = None,
    dt: float = 1.0,
    per_sequence: bool = False,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    progress: Callable[[int, int, int], None] | None = None,
    delimiter: str = DEFAULT_DELIMITER,
    device: str | None = None,
) -> Evaluation:
    """Run a network over ``input_path`` as ``velora run`` (``run_csv``) does and compare its
    outputs with the ``targets`` columns, one per output (default: the spec's outputs).

    ``network``: a ``LiquidNCPNetwork`` (pass its ``spec`` for the column names), or the path of
    a spec or checkpoint. Inputs are ``columns``, else the spec's inputs, else every column but
    the sequence, time and target columns. ``per_sequence`` adds each sequence's metrics.
    ``input_path`` is any table ``velora.files.tables.open_table`` reads (CSV, plain or
    compressed, Parquet, Arrow; ``-`` for standard input); ``delimiter`` separates CSV fields.
    Bad input raises one ``VeloraError`` naming the file, line and column (a missing target
    column names it). ``device`` as for ``run_csv``; under torchrun the run is shared as
    ``run_csv`` shares it and rank 0 alone scores it (the others return ``main`` false).
    """
    start = time.perf_counter()
    context = Context() if runs_locally(device) else setup(device)
    with context.agreement():  # bad input on any process ends the job with one error
        if context.parallel:  # every process reads the input and the model: no stream will do
            require_files(input_path, network)
        if isinstance(network, str | Path):
            source = source_name(network)
            network, loaded = load_network(network, device, max_memory=max_memory)
            spec = loaded if spec is None else spec
        else:
            source = "the network"
        target_names = _targets(network, spec, targets, source, sequence_column, time_column)
        reader = open_reader(
            network,
            input_path,
            columns=columns,
            spec_inputs=spec.inputs if spec is not None else None,
            sequence_column=sequence_column,
            time_column=time_column,
            targets=target_names,
            dt=dt,
            block_bytes=block_bytes,
            delimiter=delimiter,
        )
    sums = _Accumulator(len(target_names), per_sequence)
    summary = run_csv(
        network, input_path, None, spec=spec, reader=reader, on_result=sums.add,
        progress=progress, device=device,
    )  # fmt: skip
    if not summary.main:
        nothing = Metrics(math.nan, math.nan, math.nan, None)
        return Evaluation(0, 0, {}, nothing, list(reader.columns), target_names,
                          time.perf_counter() - start, main=False)  # fmt: skip
    outputs = sums.total.metrics(0, target_names)
    per_seq = None
    if per_sequence:
        per_seq = []
        sequences = sums.sequences()
        for i, name in enumerate(sums.ids):
            metrics = sequences.metrics(i, target_names)
            rows = int(sequences.n[i])
            mean = Metrics.mean_of(list(metrics.values()))
            per_seq.append(SequenceEvaluation(name, rows, metrics, mean))
    return Evaluation(
        rows=summary.rows,
        sequences=summary.sequences,
        outputs=outputs,
        mean=Metrics.mean_of(list(outputs.values())),
        inputs=list(reader.columns),
        targets=target_names,
        seconds=time.perf_counter() - start,
        per_sequence=per_seq,
    )


def _targets(
    network: LiquidNCPNetwork | NetworkArrays,
    spec: Spec | None,
    targets: Sequence[str] | None,
    source: str,
    sequence_column: str | None,
    time_column: str | None,
) -> list[str]:
    """The target columns: given, else the spec's outputs; one per output, no repeats, neither
    the sequence nor the time column."""
    if targets is None:
        if spec is None or not spec.outputs:
            raise VeloraError(
                f"{source}: the spec names no outputs; name the target columns",
                parameter="targets",
            )
        targets = list(spec.outputs)
    names = list(targets)
    if len(names) != network.out_features:
        raise VeloraError(
            f"{len(names)} target column(s) ({', '.join(names)}) but the network has "
            f"{network.out_features} output(s)",
            parameter="targets",
        )
    if len(set(names)) != len(names):
        raise VeloraError(f"target columns repeat a name: {', '.join(names)}", parameter="targets")
    for name, role in ((sequence_column, "sequence"), (time_column, "time")):
        if name is not None and name in names:
            raise VeloraError(
                f"column {name!r} cannot be both a target and the {role} column",
                parameter="targets",
            )
    return names
