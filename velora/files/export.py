"""Export a network: a velora checkpoint, a ``torch.export`` program, an ONNX graph or C99.

The pt2 and ONNX files hold one step of the network as a self-contained graph, inputs ``x``
(batch, in_features) and ``h`` (batch, n_units), outputs ``y`` (batch, out_features) and ``h_next``
(batch, n_units), elapsed time 1, with a dynamic batch size. With ``timespans=True`` the graph
takes a third input ``t`` (batch,): the elapsed time of the step, for irregularly sampled data.
They need torch (pt2) or an ONNX runtime, not velora. The C export (``velora.files.export_c``)
is a source file and its header for microcontrollers, with no dependency but ``<math.h>``.
Every export is read back (C: compiled, when a compiler is found) and compared with the
PyTorch model.
"""

import contextlib
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from torch import nn

from velora.errors import VeloraError
from velora.files import checkpoint, export_c
from velora.files.atomic import atomic_write
from velora.models.lnn.cell import cell_step
from velora.models.lnn.ncp import LiquidNCPNetwork
from velora.spec import DEFAULT_MAX_MEMORY, Purpose, Spec, check_memory

FORMATS = ("safetensors", "pt2", "onnx", "c")
SUFFIXES = {".safetensors": "safetensors", ".pt2": "pt2", ".onnx": "onnx", ".c": "c"}
INPUT_NAMES = ("x", "h")
TIMED_INPUT_NAMES = ("x", "h", "t")
OUTPUT_NAMES = ("y", "h_next")
ONNX_OPSET = 18
# Batch of the example inputs used for tracing: not 0 or 1, which torch.export specialises.
TRACE_BATCH = 2
CHECK_BATCH = 64


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote and how well the file reproduces the model.

    ``max_abs_diff`` is the largest difference over y and the next state of ``n_samples``
    random samples of ``n_steps`` steps each. For the C format, ``n_bytes`` counts the source
    and its ``header``; ``flash_bytes`` (constant data) and ``ram_bytes`` (state and scratch)
    are what a step needs; ``compiler`` ran the check, and with none found ``checked`` is
    False and ``max_abs_diff`` NaN; with ``quantize``, the difference is from the float model
    and ``float_flash_bytes`` the flash of the float32 export.
    """

    path: Path
    format: str
    n_bytes: int
    max_abs_diff: float
    n_samples: int
    sha256: str | None = None
    header: Path | None = None
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    n_steps: int = 1
    checked: bool = True
    compiler: str | None = None
    quantize: str | None = None
    float_flash_bytes: int | None = None


class StepModule(nn.Module):
    """One step of a network as a plain module: the masked fused weights of each cell as buffers.

    ``forward(x, h) -> (y, h_next)`` equals ``LiquidNCPNetwork.forward`` (without its squeeze of a
    batch of one) bit for bit, and traces into a graph that needs neither velora nor numba.
    """

    def __init__(self, model: LiquidNCPNetwork) -> None:
        super().__init__()
        self.sizes = [int(n) for n in model.out_sizes]
        with torch.no_grad():
            for i, cell in enumerate(model.cells()):
                weight, bias = cell.fused()
                self.register_buffer(f"weight{i}", weight.detach().cpu().clone())
                self.register_buffer(f"bias{i}", bias.detach().cpu().clone())

    def step(
        self, x: torch.Tensor, h: torch.Tensor, t: float | torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        states = torch.split(h, self.sizes, dim=1)
        inputs = x
        new_states = []
        for i, n_hidden in enumerate(self.sizes):
            z = torch.cat([inputs, states[i]], dim=1)
            weight, bias = getattr(self, f"weight{i}"), getattr(self, f"bias{i}")
            inputs, state = cell_step(z, weight, bias, n_hidden, t)
            new_states.append(state)
        return inputs, torch.cat(new_states, dim=1)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.step(x, h, 1.0)


class TimedStepModule(StepModule):
    """``StepModule`` with the elapsed time as an input: ``forward(x, h, t)``, t (batch,)."""

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, h: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.step(x, h, t.unsqueeze(1))


def step_module(model: LiquidNCPNetwork, timespans: bool = False) -> StepModule:
    """The one-step module to export, with or without the elapsed-time input."""
    return (TimedStepModule if timespans else StepModule)(model).eval()


def format_for(path: str | Path, fmt: str | None = None) -> str:
    """The export format: ``fmt`` if given, else by the suffix of ``path`` (else safetensors)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise VeloraError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
        return fmt
    return SUFFIXES.get(Path(path).suffix.lower(), "safetensors")


def output_paths(path: str | Path, fmt: str | None = None) -> list[Path]:
    """Every file an export to ``path`` writes: the file itself, and for C its header."""
    path = Path(path)
    if format_for(path, fmt) == "c":
        return [path, export_c.header_path(path)]
    return [path]


def random_inputs(
    model: LiquidNCPNetwork, batch: int = CHECK_BATCH, seed: int = 0, timespans: bool = False
) -> tuple[torch.Tensor, ...]:
    """Reproducible random ``x`` ~ N(0, 1), ``h`` ~ U(-1, 1) and, with ``timespans``,
    ``t`` ~ U(0.05, 3) for round-trip checks."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, model.in_features, generator=generator)
    h = torch.rand(batch, model.n_units, generator=generator) * 2 - 1
    if not timespans:
        return x, h
    t = torch.rand(batch, generator=generator) * 2.95 + 0.05
    return x, h, t


def _max_diff(expected: tuple, got: tuple) -> float:
    return max(
        float((torch.as_tensor(g).to(e.dtype) - e).abs().max()) if e.numel() else 0.0
        for e, g in zip(expected, got, strict=True)
    )


@contextlib.contextmanager
def _quiet():
    """Silence the exporters' warnings, log lines and progress prints (stdout is for results)."""
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _trace_inputs(model: LiquidNCPNetwork, timespans: bool) -> tuple[torch.Tensor, ...]:
    return random_inputs(model, TRACE_BATCH, seed=1, timespans=timespans)


def _dynamic_shapes(timespans: bool) -> dict:
    batch = torch.export.Dim("batch", min=1)
    names = TIMED_INPUT_NAMES if timespans else INPUT_NAMES
    return {name: {0: batch} for name in names}


def export_program(
    model: LiquidNCPNetwork, *, timespans: bool = False
) -> torch.export.ExportedProgram:
    """A ``torch.export`` program of one step with a dynamic batch size."""
    step = step_module(model, timespans)
    with _quiet():
        return torch.export.export(
            step, _trace_inputs(model, timespans), dynamic_shapes=_dynamic_shapes(timespans)
        )


def onnx_bytes(model: LiquidNCPNetwork, *, timespans: bool = False) -> bytes:
    """A serialised ONNX model of one step with a dynamic batch size (weights inside)."""
    _require_onnx()
    step = step_module(model, timespans)
    with _quiet():
        program = torch.onnx.export(
            step,
            _trace_inputs(model, timespans),
            dynamo=True,
            input_names=list(TIMED_INPUT_NAMES if timespans else INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_shapes=_dynamic_shapes(timespans),
            opset_version=ONNX_OPSET,
            verbose=False,
        )
    assert program is not None  # dynamo=True always returns an ONNXProgram
    return program.model_proto.SerializeToString()


def _require_onnx() -> None:
    missing = []
    for name in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise VeloraError(f"ONNX export needs {', '.join(missing)}: pip install 'velora-ncp[onnx]'")


def run_onnx(
    data: bytes | str | Path, x: torch.Tensor, h: torch.Tensor, t: torch.Tensor | None = None
) -> tuple:
    """Run an exported ONNX step with onnxruntime on the CPU; returns (y, h_next) tensors.

    ``t`` (batch,) feeds the elapsed-time input of a graph exported with ``timespans=True``.
    """
    import onnxruntime

    source = str(data) if isinstance(data, str | Path) else data
    session = onnxruntime.InferenceSession(source, providers=["CPUExecutionProvider"])
    feed = {"x": x.numpy(), "h": h.numpy()}
    if t is not None:
        feed["t"] = t.numpy()
    y, h_next = session.run(list(OUTPUT_NAMES), feed)
    return torch.from_numpy(y), torch.from_numpy(h_next)


def export_model(
    model: LiquidNCPNetwork,
    path: str | Path,
    fmt: str | None = None,
    *,
    spec: Spec | None = None,
    force: bool = False,
    timespans: bool = False,
    c_prefix: str | None = None,
    quantize: str | None = None,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
) -> ExportResult:
    """Write ``model`` to ``path`` (atomically) and check the file by reading it back.

    The check runs the written file on reproducible random inputs and reports the largest
    absolute difference from the PyTorch model over y and h_next. ``timespans`` gives the pt2
    and ONNX step graphs a third input ``t`` (batch,), the elapsed time of the step.
    The C format writes ``path`` (.c) and its header (.h), C names beginning with ``c_prefix``
    (default ``velora``), weights float32 or, with ``quantize="int8"``, int8 with a scale per
    row (see ``velora.files.export_c``). An export estimated to need more than ``max_memory``
    bytes (None: no limit) is refused before it starts.
    """
    path = Path(path)
    fmt = format_for(path, fmt)
    if timespans and fmt in ("safetensors", "c"):
        what = "a checkpoint keeps the whole network" if fmt == "safetensors" else "a C step"
        raise VeloraError(
            f"timespans: applies to the pt2 and onnx step graphs; {what} takes elapsed times "
            "anyway",
            parameter="timespans",
        )
    for name, value in (("c_prefix", c_prefix), ("quantize", quantize)):
        if value is not None and fmt != "c":
            raise VeloraError(f"{name}: applies to the c format only", parameter=name)
    check_memory(model.to_spec() if spec is None else spec, max_memory, cast("Purpose", fmt))
    if fmt == "c":
        return _export_c(model, path, spec, force, c_prefix, quantize)
    inputs = random_inputs(model, timespans=timespans)
    x, h = inputs[:2]
    with torch.no_grad():
        expected = step_module(model, timespans)(*inputs)
    sha256 = None
    if fmt == "safetensors":
        with atomic_write(path, force=force) as handle:
            handle.write(checkpoint.encode(model, spec))
        loaded = checkpoint.load_checkpoint(path)
        sha256 = loaded.metadata.sha256
        with torch.no_grad():
            got = StepModule(loaded.model)(x, h)
    elif fmt == "pt2":
        program = export_program(model, timespans=timespans)
        with atomic_write(path, force=force) as handle:
            torch.export.save(program, handle)
        with _quiet(), torch.no_grad():
            got = torch.export.load(path).module()(*inputs)
    else:
        data = onnx_bytes(model, timespans=timespans)
        with atomic_write(path, force=force) as handle:
            handle.write(data)
        got = run_onnx(path, *inputs)
    return ExportResult(
        path=path,
        format=fmt,
        n_bytes=path.stat().st_size,
        max_abs_diff=_max_diff(expected, got),
        n_samples=x.shape[0],
        sha256=sha256,
    )


def _export_c(
    model: LiquidNCPNetwork,
    path: Path,
    spec: Spec | None,
    force: bool,
    prefix: str | None,
    quantize: str | None,
) -> ExportResult:
    done = export_c.export_c(
        model,
        path,
        spec=spec,
        prefix=export_c.DEFAULT_PREFIX if prefix is None else prefix,
        quantize=quantize,
        force=force,
    )
    return ExportResult(
        path=done.source,
        format="c",
        n_bytes=done.source.stat().st_size + done.header.stat().st_size,
        max_abs_diff=done.max_abs_diff,
        n_samples=done.n_sequences,
        header=done.header,
        flash_bytes=done.footprint.flash_bytes,
        ram_bytes=done.footprint.ram_bytes,
        n_steps=done.n_steps,
        checked=done.compiler is not None,
        compiler=done.compiler,
        quantize=quantize,
        float_flash_bytes=done.float_flash_bytes,
    )
