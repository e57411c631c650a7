"""Streaming inference: run a network over CSV chunks with the hidden state carried along.

``run_chunks`` takes the chunks of a table reader (``velora.files.tables.open_table``: CSV,
Parquet or Arrow) and yields outputs row for row.
Sequence mode: each sequence starts from a zero state (a file without a sequence column is one
sequence) and a sequence cut by a chunk boundary continues from the state where the previous
chunk left it, so results do not depend on the chunk size. Whole sequences are batched together
(grouped by length, padded at the end, which cannot change the outputs of real steps) and run by
``LiquidNCPNetwork.forward_sequence``. Batch mode: every row is one step from a zero state.

``run_csv`` does everything ``velora run`` does: model, reader, network, writer (CSV or
Parquet) and the plots, with the same defaults; the CLI command only parses its options and
renders progress.

Under torchrun, ``run_shared`` splits the work: every process reads every chunk (so the chunks,
and the batches within them, are exactly those of one process), chunk ``i`` is computed and
formatted by rank ``i % world_size``, and rank 0 writes the chunks in input order as they come:
the output is byte for byte the one-process output, with a few chunks in flight per process.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO

import numpy as np

from velora.distributed import (
    Context,
    PeerFailure,
    Relay,
    StopRequest,
    abandon,
    setup,
    single_process,
)
from velora.errors import VeloraError
from velora.files.atomic import atomic_write, check_writable, companions
from velora.files.defaults import DEFAULT_DELIMITER
from velora.files.loading import load_arrays, load_model
from velora.files.sources import Source, require_files
from velora.files.tables import (
    DEFAULT_BLOCK_BYTES,
    Chunk,
    TableReader,
    format_rows,
    open_table,
    output_format_for,
    table_writer,
)
from velora.models.arrays import NetworkArrays, forward_numpy
from velora.spec import DEFAULT_MAX_MEMORY, Spec, default_names
from velora.spec import output_names as default_output_names
from velora.viz.figures import DEFAULT_DPI, check_dpi, plot_format

if TYPE_CHECKING:
    from velora.models import LiquidNCPNetwork

MODES = ("sequence", "batch")
MAX_BATCH = 512  # sequences per forward_sequence call
PAD_WASTE = 0.75  # a group's shortest sequence is at least this fraction of its longest


@dataclass
class ChunkResult:
    """Outputs for the rows of one chunk: ``y`` (rows, out) and, if asked for, the hidden state
    after each row ``h`` (rows, n_units), both float32; ``text``: the rows as output CSV, when
    another process computed and formatted them (``run_shared``)."""

    chunk: Chunk
    y: np.ndarray
    h: np.ndarray | None = None
    text: bytes | None = None


@dataclass
class RunSummary:
    """What ``run_csv`` did: rows and sequences run (in batch mode every row counts as one),
    the time taken, the output's columns, and the plots written (if any)."""

    rows: int
    sequences: int
    seconds: float
    columns: list[str]
    plot: Path | None = None
    neuron_plot: Path | None = None
    processes: int = 1  # under torchrun: the processes that shared the work
    main: bool = True  # this process wrote (rank 0); the others count nothing


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
    for chunk in chunks:
        if mode == "batch":
            y, h = _run_batch(network, chunk, hidden, max_batch)
        else:
            y, h, carry = _run_sequences(network, chunk, carry, hidden, max_batch)
        yield ChunkResult(chunk, y, h)


def _forward(network, x: np.ndarray, h0: np.ndarray, ts: np.ndarray, hidden: bool):
    """forward_sequence on numpy arrays; with ``hidden`` also the state after every step."""
    if not hidden:
        y, h_last = forward_numpy(network, x, h0, ts)
        return y, None, h_last
    y, hs = forward_numpy(network, x, h0, ts, return_states=True)
    return y, hs, (hs[:, -1] if hs.shape[1] else h0)


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
    """Names of the output CSV's columns: id and time (if any), outputs, hidden state. Names
    must differ, or the output could not be read back: a clash is a VeloraError."""
    names = [c for c in (sequence_column, time_column) if c is not None]
    names += default_output_names(output_names, network.out_features)
    if hidden:
        names += default_names("h", network.n_units)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise VeloraError(
                f"output column {name!r} would appear twice in the output (an output named like "
                "the sequence or time column, or like a hidden-state column h0, h1, ...); "
                "rename the spec's outputs or the input's columns"
            )
        seen.add(name)
    return names


def open_reader(
    network,
    input_path: Source,
    *,
    columns: Sequence[str] | None = None,
    spec_inputs: Sequence[str] | None = None,
    sequence_column: str | None = None,
    time_column: str | None = None,
    targets: Sequence[str] = (),
    mode: str = "sequence",
    dt: float = 1.0,
    allow_nan: bool = False,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    delimiter: str = DEFAULT_DELIMITER,
) -> TableReader:
    """A reader for running ``network`` over ``input_path`` (any table ``open_table`` reads:
    a path, ``-`` for standard input, a stream), header checked: inputs are ``columns``, else
    the spec's ``spec_inputs``, else every column but the sequence, time and ``targets``
    columns (read as the chunks' ``targets``); batch mode carries the sequence and time columns
    along without order checks."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return open_table(
        input_path,
        columns=columns if columns is not None else (list(spec_inputs) if spec_inputs else None),
        sequence_column=sequence_column,
        time_column=time_column,
        target_columns=targets,
        n_inputs=network.in_features,
        allow_nan=allow_nan,
        dt=dt,
        check_order=mode == "sequence",
        block_bytes=block_bytes,
        delimiter=delimiter,
    )


def runs_locally(device: str | None) -> bool:
    """Whether a run on ``device`` is one process on the CPU. Such a run needs no torch for a
    checkpoint or a spec: the compiled loop runs its arrays (``NetworkArrays``; a spec's seeded
    weights are drawn with numpy), and torch is imported only if a batch prefers PyTorch's
    loop."""
    return device in (None, "cpu") and single_process()


def load_network(
    path: str | Path, device: str | None, *, max_memory: int | None = DEFAULT_MAX_MEMORY
) -> tuple[NetworkArrays | LiquidNCPNetwork, Spec]:
    """A spec or checkpoint as a run on ``device`` takes it, with its spec: as arrays when the
    run is one process on the CPU (``runs_locally``), else as the module."""
    if runs_locally(device):
        return load_arrays(path, max_memory=max_memory)
    return load_model(path, max_memory=max_memory)


def run_csv(
    network: LiquidNCPNetwork | NetworkArrays | str | Path,
    input_path: Source,
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
    plot_neurons: str | Path | None = None,
    plot_sequence: str | None = None,
    plot_steps: bool = False,
    neuron_style: str = "heatmap",
    dpi: int = DEFAULT_DPI,
    force: bool = False,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    progress: Callable[[int, int, int], None] | None = None,
    on_result: Callable[[ChunkResult], None] | None = None,
    reader: TableReader | None = None,
    device: str | None = None,
    delimiter: str = DEFAULT_DELIMITER,
    output_format: str | None = None,
) -> RunSummary:
    """Run a network over the CSV file ``input_path`` and write its outputs as CSV, as
    ``velora run`` does.

    ``network``: a ``LiquidNCPNetwork``, or the path of a spec or checkpoint (loaded with
    ``load_model``; its spec then names the inputs and outputs). ``output``: a binary stream, a
    file path (written atomically; an existing file is replaced only with ``force``), or None to
    only call ``on_result``. Inputs are ``columns``, else the spec's inputs, else every column
    but the sequence and time columns; output columns are named by ``output_names``, else the
    spec's outputs, else y0, y1, .... ``plot`` draws the inputs and outputs of the first
    sequences (png, svg or pdf), with any output the file also holds drawn as dots beside it;
    ``plot_neurons`` every neuron's state over the first sequence (``neuron_style`` "heatmap",
    or "traces" up to 32 neurons). ``plot_sequence`` (an id of the sequence column) draws that
    sequence instead; ``plot_steps`` draws inputs as steps; ``dpi`` is the plots' resolution.
    ``progress(rows_done, bytes_done, bytes_total)`` is called after every chunk. Pass an open
    ``reader`` to reuse one whose header was already checked. ``device`` (cpu, cuda, cuda:N,
    mps or auto) moves the network there: the PyTorch loop runs there, the compiled loop only
    on the CPU; None leaves a given network where it is (a loaded one on the CPU).

    ``input_path`` is any table ``open_table`` reads (CSV, plain or compressed, Parquet, Arrow;
    ``-`` for standard input); ``delimiter`` separates CSV fields. ``output_format`` is
    ``"csv"`` or ``"parquet"`` (default: Parquet for a path ending in ``.parquet``, else CSV).

    Under torchrun every process makes this call with the same arguments and the work is
    shared (``run_shared``): rank 0 alone writes the output and the plots and calls
    ``progress`` and ``on_result``, for every chunk; the others return a summary that counts
    nothing (``RunSummary.main`` false).
    """
    start = time.perf_counter()
    cpu_only = runs_locally(device)
    context = Context() if cpu_only else setup(device)
    fmt = output_format or output_format_for(None if hasattr(output, "write") else output)
    if fmt not in ("csv", "parquet"):
        raise VeloraError(
            f"output_format: expected csv or parquet, got {fmt!r}", parameter="output_format"
        )
    text = output is not None and fmt == "csv"  # rank 0 writes: the others format CSV rows
    if not context.is_main:  # under torchrun rank 0 alone writes and draws
        output = plot = plot_neurons = plot_sequence = None
    with context.agreement():  # bad input on any process ends the job with one error
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        path_out = None if output is None or hasattr(output, "write") else Path(output)
        plot_path = None if plot is None else Path(plot)
        neuron_path = None if plot_neurons is None else Path(plot_neurons)
        if context.parallel:  # every process reads the input and the model: no stream will do
            require_files(input_path, network)
        if path_out is not None:
            check_writable(path_out, force=force)
        _check_plots(path_out, plot_path, neuron_path, plot_sequence, mode, dpi, force)
        model_name = None
        if isinstance(network, str | Path):
            model_name = Path(network).stem
            network, loaded = load_network(network, device, max_memory=max_memory)
            spec = loaded if spec is None else spec
        if isinstance(network, NetworkArrays) and not cpu_only:
            network = network.to_network(context.device)
        elif device is not None and not isinstance(network, NetworkArrays):
            network = network.to(context.device if context.device is not None else device)
        if neuron_path is not None:
            from velora.viz.neurons import check_style

            check_style(neuron_style, network)
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
                delimiter=delimiter,
            )
        if plot_sequence is not None and reader.sequence_column is None:
            raise VeloraError(
                f"{reader.name}: no sequence column to find sequence {plot_sequence!r} in",
                parameter="sequence_column",
            )
        collector = neurons = None
        name = (spec.name if spec is not None else None) or model_name or "network"
        title = plot_title or f"velora run: {name} on {Path(reader.name).name}"
        if plot_path is not None:
            from velora.viz.run import RunPlot, recorded_outputs

            recorded = recorded_outputs(reader, list(output_names or []))
            if recorded:
                reader = reader.with_targets(recorded)
            collector = RunPlot(
                list(reader.columns),
                default_output_names(output_names, network.out_features),
                recorded_names=recorded,
                time_label=reader.time_column,
                batch=mode == "batch",
                title=title,
                sequence=plot_sequence,
                steps=plot_steps,
            )
        if neuron_path is not None:
            from velora.viz.neurons import NeuronPlot

            neurons = NeuronPlot(
                list(reader.columns),
                default_output_names(output_names, network.out_features),
                sequence=plot_sequence,
                batch=mode == "batch",
                time_label=reader.time_column,
                title=title,
                style=neuron_style,
                steps=plot_steps,
            )
        names = output_columns(
            network,
            output_names=output_names,
            sequence_column=reader.sequence_column,
            time_column=reader.time_column,
            hidden=hidden,
        )
    with contextlib.ExitStack() as stack:
        pictures = stack.enter_context(companions())  # they go if the table is not kept
        handle: IO[bytes] | str | Path | None = output
        if path_out is not None:
            handle = stack.enter_context(atomic_write(path_out, force=force))
        writer = table_writer(handle, names, fmt) if handle is not None else None  # type: ignore[arg-type]
        rows = sequences = 0
        if context.parallel:
            shaped = _Shaped(reader) if text else None
            results = run_shared(context, network, prefetch(reader), mode=mode, hidden=hidden,
                                 text=shaped.text if shaped else None)  # fmt: skip
        else:
            results = run_chunks(network, prefetch(reader), mode=mode, hidden=hidden)
        # Ctrl-C or SIGTERM ends the run after the chunk at hand, never inside compiled code.
        stop = stack.enter_context(StopRequest()) if not context.parallel else None
        for result in results:
            if stop is not None:
                stop.check()
            chunk = result.chunk
            if writer is not None and result.text is not None:
                writer.write_text(result.text, chunk.rows)
            elif writer is not None:
                writer.write(_Shaped(reader).columns(result))
            if collector is not None:
                collector.add(result)
            if neurons is not None:
                neurons.add(result)
            if on_result is not None:
                on_result(result)
            rows += chunk.rows
            if mode == "batch":
                sequences += chunk.rows
            else:
                sequences += len(chunk.starts) - (1 if chunk.continues else 0)
            if progress is not None:
                progress(rows, chunk.bytes_read, reader.size)
        for wanted in (collector, neurons):  # before the output is kept: a missing sequence
            if wanted is not None:
                wanted.check(reader.name, reader.sequence_column)
        if writer is not None:
            writer.close()  # a Parquet file's footer
        # The pictures are published before the table (still a temporary file here): if one
        # fails, the table is not kept; if publishing the table fails, the new pictures go.
        if collector is not None and plot_path is not None:
            pictures.add(plot_path)
            collector.save(plot_path, dpi=dpi, force=force)
        if neurons is not None and neuron_path is not None:
            pictures.add(neuron_path)
            neurons.save(network, neuron_path, dpi=dpi, force=force)
    seconds = time.perf_counter() - start
    return RunSummary(rows, sequences, seconds, names, plot_path, neuron_path,
                      context.world_size, context.is_main)  # fmt: skip


@dataclass
class _Shaped:
    """The output's columns for a chunk's results: the sequence and time columns read, the
    outputs, the hidden state."""

    reader: TableReader

    def columns(self, result: ChunkResult) -> list:
        chunk = result.chunk
        cols: list = []
        if self.reader.sequence_column is not None:
            cols.append(chunk.sequence_values)
        if self.reader.time_column is not None:
            cols.append(chunk.time)
        cols += [result.y[:, j] for j in range(result.y.shape[1])]
        if result.h is not None:
            cols += [result.h[:, j] for j in range(result.h.shape[1])]
        return cols

    def text(self, result: ChunkResult) -> bytes:
        return format_rows(self.columns(result))


def run_shared(
    context: Context,
    network,
    chunks: Iterable[Chunk],
    *,
    mode: str = "sequence",
    hidden: bool = False,
    text: Callable[[ChunkResult], bytes] | None = None,
    max_batch: int = MAX_BATCH,
) -> Iterator[ChunkResult]:
    """``run_chunks`` shared by the processes of ``context``; call it on every one of them
    with the same chunks (each process reads the whole input).

    Chunk ``i`` is computed by rank ``i % world_size``; a sequence cut by a chunk boundary
    continues from the state that the previous chunk's process hands over. Rank 0 yields every
    chunk's result in order (those of other processes with ``text``, the rows as they formatted
    them, when ``text`` is given); the other processes yield nothing. A bad chunk fails on every
    process alike: rank 0 raises its error, the others ``PeerFailure``. Any other failure is
    this process's alone: it leaves the job (``velora.distributed.abandon``), so that the others
    stop at once with ``PeerFailure`` instead of waiting for it.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    try:
        yield from _shared(context, network, chunks, mode, hidden, text, max_batch)
    except (PeerFailure, VeloraError):  # the others know: they met it too, or are gone
        raise
    except BaseException:  # this process's alone: let the others stop instead of waiting
        abandon()
        raise


def _shared(context, network, chunks, mode, hidden, text, max_batch) -> Iterator[ChunkResult]:
    """``run_shared``'s work (see there)."""
    relay = Relay(context)
    outs, units = network.out_features, network.n_units
    carry: np.ndarray | None = None  # the state where this process's last chunk left off
    for index, chunk in enumerate(_failing_alike(context, relay, chunks)):
        owner = relay.owner(index)
        if mode == "sequence" and chunk.continues:  # hand the state over
            before = relay.owner(index - 1)
            if before == context.rank:
                assert carry is not None  # the previous chunk ended in an open sequence
                relay.pass_state(index, carry, owner)
            elif owner == context.rank:
                carry = relay.take_state(index, (units,), before)
        if owner == context.rank:
            if mode == "batch":
                y, h = _run_batch(network, chunk, hidden, max_batch)
            else:
                y, h, carry = _run_sequences(network, chunk, carry, hidden, max_batch)
            result = ChunkResult(chunk, y, h)
            if context.is_main:
                yield result
                continue
            parts = [y.tobytes(), b"" if h is None else h.tobytes()]
            relay.send(index, b"".join([*parts, text(result) if text else b""]))
        elif context.is_main:
            data = relay.receive(index, owner).tobytes()
            rows, cut = chunk.rows, chunk.rows * outs * 4
            y = np.frombuffer(data[:cut], dtype=np.float32).reshape(rows, outs)
            h = None
            if hidden:
                end = cut + rows * units * 4
                h = np.frombuffer(data[cut:end], dtype=np.float32).reshape(rows, units)
                cut = end
            yield ChunkResult(chunk, y, h, data[cut:] if text else None)
    relay.flush()


def _failing_alike(context: Context, relay: Relay, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
    """``chunks``, where bad input (which every process meets at the same chunk, reading the
    same file) is raised by rank 0 and ends the others quietly, once what they sent is in."""
    try:
        yield from chunks
    except VeloraError:
        relay.flush()
        if context.is_main:
            raise
        raise PeerFailure(2, 0) from None


def _check_plots(output, plot, neurons, sequence, mode, dpi, force) -> None:
    """Everything about the plots of ``run_csv`` that can be checked before the run."""
    check_dpi(dpi)
    paths = [p for p in (output, plot, neurons) if p is not None]
    for path in paths[1 if output is not None else 0 :]:
        plot_format(path)
        check_writable(path, force=force)
    seen: set[Path] = set()
    for path in paths:
        if path.resolve() in seen:
            raise VeloraError(f"{path}: the same file as another output or plot")
        seen.add(path.resolve())
    if sequence is not None and plot is None and neurons is None:
        raise VeloraError(
            "plot_sequence: picks the sequence a plot draws, but no plot is asked for",
            parameter="plot_sequence",
        )
    if sequence is not None and mode == "batch":
        raise VeloraError(
            "plot_sequence: batch mode has no sequences, every row is one step",
            parameter="plot_sequence",
        )
