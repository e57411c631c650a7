"""Streaming inference: run a network over CSV chunks with the hidden state carried along.

``run_chunks`` takes the chunks of ``velora.files.tables.CsvReader`` and yields outputs row for row.
Sequence mode: each sequence starts from a zero state (a file without a sequence column is one
sequence) and a sequence cut by a chunk boundary continues from the state where the previous
chunk left it, so results do not depend on the chunk size. Whole sequences are batched together
(grouped by length, padded at the end, which cannot change the outputs of real steps) and run by
``LiquidNCPNetwork.forward_sequence``. Batch mode: every row is one step from a zero state.

``run_csv`` does everything ``velora run`` does: model, reader, network, ``CsvWriter`` and the
plot, with the same defaults; the CLI command only parses its options and renders progress.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np
import torch

from velora.errors import VeloraError
from velora.files.atomic import atomic_write, check_writable
from velora.files.loading import load_model
from velora.files.tables import DEFAULT_BLOCK_BYTES, Chunk, CsvReader, CsvWriter
from velora.models import LiquidNCPNetwork
from velora.spec import DEFAULT_MAX_MEMORY, Spec, default_names
from velora.spec import output_names as default_output_names
from velora.viz.figures import plot_format

MODES = ("sequence", "batch")
MAX_BATCH = 512  # sequences per forward_sequence call
PAD_WASTE = 0.75  # a group's shortest sequence is at least this fraction of its longest


@dataclass
class ChunkResult:
    """Outputs for the rows of one chunk: ``y`` (rows, out) and, if asked for, the hidden state
    after each row ``h`` (rows, n_units), both float32."""

    chunk: Chunk
    y: np.ndarray
    h: np.ndarray | None = None


@dataclass
class RunSummary:
    """What ``run_csv`` did: rows and sequences run (in batch mode every row counts as one),
    the time taken, the output's columns, and the plot written (if any)."""

    rows: int
    sequences: int
    seconds: float
    columns: list[str]
    plot: Path | None = None


def run_chunks(
    network,
    chunks: Iterable[Chunk],
    *,
    mode: str = "sequence",
    hidden: bool = False,
    max_batch: int = MAX_BATCH,
) -> Iterator[ChunkResult]:
    """Run ``network`` over ``chunks`` (see the module docstring); yields one result per chunk."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    carry: np.ndarray | None = None
    with torch.inference_mode():
        for chunk in chunks:
            if mode == "batch":
                y, h = _run_batch(network, chunk, hidden, max_batch)
            else:
                y, h, carry = _run_sequences(network, chunk, carry, hidden, max_batch)
            yield ChunkResult(chunk, y, h)


def _forward(network, x: np.ndarray, h0: np.ndarray, ts: np.ndarray, hidden: bool):
    """forward_sequence on numpy arrays; with ``hidden`` also the state after every step."""
    xt, ht, tt = torch.from_numpy(x), torch.from_numpy(h0), torch.from_numpy(ts)
    if not hidden:
        y, h_last = network.forward_sequence(xt, ht, tt)
        return y.numpy(), None, h_last.numpy()
    y, states = network.forward_sequence(xt, ht, tt, return_states=True)
    hs = states.numpy()
    return y.numpy(), hs, (hs[:, -1] if hs.shape[1] else h0)


def _run_batch(network, chunk: Chunk, hidden: bool, max_batch: int):
    rows = chunk.rows
    y = np.empty((rows, network.out_features), dtype=np.float32)
    h = np.empty((rows, network.n_units), dtype=np.float32) if hidden else None
    step = max(max_batch, 1)
    for lo in range(0, rows, step):
        hi = min(lo + step, rows)
        x = np.ascontiguousarray(chunk.x[lo:hi, None, :])
        ts = np.ascontiguousarray(chunk.timespans[lo:hi, None])
        h0 = np.zeros((hi - lo, network.n_units), dtype=np.float32)
        yb, _, h_last = _forward(network, x, h0, ts, False)
        y[lo:hi] = yb[:, 0]
        if h is not None:
            h[lo:hi] = h_last
    return y, h


def _groups(lengths: np.ndarray, order: np.ndarray, max_batch: int) -> Iterator[np.ndarray]:
    """Split sequence indices (sorted by decreasing length) into batches of similar length."""
    sorted_len = lengths[order]
    i, n = 0, len(order)
    while i < n:
        floor = int(np.ceil(sorted_len[i] * PAD_WASTE))
        j = int(np.searchsorted(-sorted_len, -floor, side="right"))
        j = min(max(j, i + 1), i + max_batch)
        yield order[i:j]
        i = j


def _run_sequences(network, chunk: Chunk, carry: np.ndarray | None, hidden: bool, max_batch):
    rows, units = chunk.rows, network.n_units
    starts, lengths = chunk.starts, chunk.lengths
    y = np.empty((rows, network.out_features), dtype=np.float32)
    h = np.empty((rows, units), dtype=np.float32) if hidden else None
    first_state = carry if (chunk.continues and carry is not None) else None
    todo = np.arange(len(starts))
    new_carry = None
    if chunk.open_end:  # the last sequence goes on in the next chunk: run it alone, unpadded
        last = len(starts) - 1
        todo = todo[:-1]
        lo = int(starts[last])
        h0 = np.zeros((1, units), dtype=np.float32)
        if last == 0 and first_state is not None:
            h0[0] = first_state
        yb, hb, h_last = _forward(
            network, chunk.x[None, lo:], h0, chunk.timespans[None, lo:].copy(), hidden
        )
        y[lo:] = yb[0]
        if h is not None:
            h[lo:] = hb[0]
        new_carry = h_last[0]
    if len(todo):
        order = todo[np.argsort(-lengths[todo], kind="stable")]
        for group in _groups(lengths, order, max_batch):
            _run_group(network, chunk, group, first_state, hidden, y, h)
    return y, h, new_carry


def _run_group(network, chunk: Chunk, group: np.ndarray, first_state, hidden, y, h) -> None:
    """Run the sequences ``group`` of ``chunk`` as one padded batch; scatter into y and h."""
    starts, lens = chunk.starts[group], chunk.lengths[group]
    steps = int(lens.max())
    offsets = np.arange(steps)
    index = starts[:, None] + offsets[None, :]
    valid = offsets[None, :] < lens[:, None]
    padded = not valid.all()
    if padded:
        index = np.where(valid, index, 0)
    x = chunk.x[index]
    ts = chunk.timespans[index]
    if padded:
        x[~valid] = 0.0
        ts[~valid] = 1.0
    h0 = np.zeros((len(group), network.n_units), dtype=np.float32)
    if first_state is not None:
        h0[group == 0] = first_state
    yb, hb, _ = _forward(network, x, h0, ts, hidden)
    if padded:
        y[index[valid]] = yb[valid]
        if h is not None:
            h[index[valid]] = hb[valid]
    else:
        y[index.ravel()] = yb.reshape(-1, yb.shape[-1])
        if h is not None:
            h[index.ravel()] = hb.reshape(-1, hb.shape[-1])


def prefetch(items: Iterable, depth: int = 1) -> Iterator:
    """Iterate ``items`` in a background thread, ``depth`` ahead, so that reading the next chunk
    (pyarrow releases the GIL) overlaps the work on this one. Exceptions arrive in order."""
    box: queue.Queue = queue.Queue(maxsize=max(depth, 1))
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put((done, None))
        except BaseException as exc:  # handed to the consumer
            box.put((done, exc))

    thread = threading.Thread(target=produce, name="velora-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = box.get()
            if item is done:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()


def output_columns(
    network, *, output_names: Sequence[str] | None, sequence_column, time_column, hidden: bool
) -> list[str]:
    """Names of the output CSV's columns: id and time (if any), outputs, hidden state."""
    names = [c for c in (sequence_column, time_column) if c is not None]
    names += default_output_names(output_names, network.out_features)
    if hidden:
        names += default_names("h", network.n_units)
    return names


def open_reader(
    network,
    input_path: str | Path,
    *,
    columns: Sequence[str] | None = None,
    spec_inputs: Sequence[str] | None = None,
    sequence_column: str | None = None,
    time_column: str | None = None,
    mode: str = "sequence",
    dt: float = 1.0,
    allow_nan: bool = False,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> CsvReader:
    """A reader for running ``network`` over ``input_path``, header checked: inputs are
    ``columns``, else the spec's ``spec_inputs``, else every column but the sequence and time
    columns; batch mode carries those columns along without order checks."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return CsvReader(
        input_path,
        columns=columns if columns is not None else (list(spec_inputs) if spec_inputs else None),
        sequence_column=sequence_column,
        time_column=time_column,
        n_inputs=network.in_features,
        allow_nan=allow_nan,
        dt=dt,
        check_order=mode == "sequence",
        block_bytes=block_bytes,
    )


def run_csv(
    network: LiquidNCPNetwork | str | Path,
    input_path: str | Path,
    output: BinaryIO | str | Path | None = None,
    *,
    spec: Spec | None = None,
    columns: Sequence[str] | None = None,
    sequence_column: str | None = None,
    time_column: str | None = None,
    output_names: Sequence[str] | None = None,
    mode: str = "sequence",
    dt: float = 1.0,
    hidden: bool = False,
    allow_nan: bool = False,
    plot: str | Path | None = None,
    plot_title: str | None = None,
    force: bool = False,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    progress: Callable[[int, int, int], None] | None = None,
    on_result: Callable[[ChunkResult], None] | None = None,
    reader: CsvReader | None = None,
) -> RunSummary:
    """Run a network over the CSV file ``input_path`` and write its outputs as CSV, as
    ``velora run`` does.

    ``network``: a ``LiquidNCPNetwork``, or the path of a spec or checkpoint (loaded with
    ``load_model``; its spec then names the inputs and outputs). ``output``: a binary stream, a
    file path (written atomically; an existing file is replaced only with ``force``), or None to
    only call ``on_result``. Inputs are ``columns``, else the spec's inputs, else every column
    but the sequence and time columns; output columns are named by ``output_names``, else the
    spec's outputs, else y0, y1, .... ``plot`` draws the inputs and outputs of the first
    sequences (png, svg or pdf), with any output the file also holds drawn dashed beside it.
    ``progress(rows_done, bytes_done, bytes_total)`` is called after every chunk. Pass an open
    ``reader`` to reuse one whose header was already checked.
    """
    start = time.perf_counter()
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    path_out = None if output is None or hasattr(output, "write") else Path(output)
    plot_path = None if plot is None else Path(plot)
    if path_out is not None:
        check_writable(path_out, force=force)
    if plot_path is not None:
        plot_format(plot_path)
        check_writable(plot_path, force=force)
        if path_out is not None and path_out.resolve() == plot_path.resolve():
            raise VeloraError(f"{plot_path}: the plot and the output are the same file")
    model_name = None
    if not isinstance(network, torch.nn.Module):
        model_name = Path(network).stem
        network, loaded = load_model(network, max_memory=max_memory)
        spec = loaded if spec is None else spec
    if output_names is None and spec is not None:
        output_names = spec.output_names()
    if reader is None:
        reader = open_reader(
            network,
            input_path,
            columns=columns,
            spec_inputs=spec.inputs if spec is not None else None,
            sequence_column=sequence_column,
            time_column=time_column,
            mode=mode,
            dt=dt,
            allow_nan=allow_nan,
            block_bytes=block_bytes,
        )
    collector = None
    if plot_path is not None:
        from velora.viz.run import RunPlot, recorded_outputs

        recorded = recorded_outputs(reader, list(output_names or []))
        if recorded:
            reader = reader.with_targets(recorded)
        name = (spec.name if spec is not None else None) or model_name or "network"
        collector = RunPlot(
            list(reader.columns),
            default_output_names(output_names, network.out_features),
            recorded_names=recorded,
            time_label=reader.time_column,
            batch=mode == "batch",
            title=plot_title or f"velora run: {name} on {Path(input_path).name}",
        )
    names = output_columns(
        network,
        output_names=output_names,
        sequence_column=reader.sequence_column,
        time_column=reader.time_column,
        hidden=hidden,
    )
    with contextlib.ExitStack() as stack:
        handle: IO[bytes] | str | Path | None = output
        if path_out is not None:
            handle = stack.enter_context(atomic_write(path_out, force=force))
        writer = CsvWriter(handle, names) if handle is not None else None  # type: ignore[arg-type]
        rows = sequences = 0
        for result in run_chunks(network, prefetch(reader), mode=mode, hidden=hidden):
            chunk = result.chunk
            if writer is not None:
                cols: list = []
                if reader.sequence_column is not None:
                    cols.append(chunk.sequence_values)
                if reader.time_column is not None:
                    cols.append(chunk.time)
                cols += [result.y[:, j] for j in range(result.y.shape[1])]
                if result.h is not None:
                    cols += [result.h[:, j] for j in range(result.h.shape[1])]
                writer.write(cols)
            if collector is not None:
                collector.add(result)
            if on_result is not None:
                on_result(result)
            rows += chunk.rows
            if mode == "batch":
                sequences += chunk.rows
            else:
                sequences += len(chunk.starts) - (1 if chunk.continues else 0)
            if progress is not None:
                progress(rows, chunk.bytes_read, reader.size)
    if collector is not None and plot_path is not None:
        collector.save(plot_path, force=force)
    return RunSummary(rows, sequences, time.perf_counter() - start, names, plot_path)
