"""Export a network as dependency-free C99: one source file and its header that compute one step
of the network as the PyTorch model does, in float32, for microcontrollers.

The header declares (``velora`` is the default prefix)::

    #define VELORA_IN_FEATURES 4
    #define VELORA_UNITS 17
    #define VELORA_OUT_FEATURES 1
    void velora_step(const float x[VELORA_IN_FEATURES], float h[VELORA_UNITS], float dt,
                     float y[VELORA_OUT_FEATURES]);
    void velora_reset(float h[VELORA_UNITS]);

The source holds each cell's masked, fused weights [g, h, f, proj] as ``static const`` arrays:
the inputs a cell's mask connects stored per target neuron (the list of its sources and four
weights per synapse), so that they grow with the synapses, and the recurrent block, which is
dense in the model (every neuron sees its own layer's whole state), as a dense array. For each
cell, with z = [inputs, h]: a = W z + b, g = tanh(a_g), h~ = tanh(a_h), gate = sigmoid(a_f dt),
h' = g + gate (h~ - g), y = a_p + h', summed in the order the compiled loop
(``velora.kernels.step``) sums. No heap, no mutable globals, no I/O; only ``<math.h>``.

With ``quantize="int8"`` every weight row (one target neuron, one head) is stored as int8 with a
float scale, max |w| / 127; the biases stay float. ``quantized_network`` is the float network
that such a file computes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from velora._version import __version__
from velora.errors import VeloraError
from velora.files.atomic import atomic_write, check_writable
from velora.files.c_footprint import (
    Footprint,
    LayerSize,
    index_type,
    layer_flash_bytes,
    layers_footprint,
    wiring_footprint,
)
from velora.files.checkpoint_file import tensor_digest
from velora.models.lnn.ncp import LiquidNCPNetwork
from velora.spec import Spec
from velora.wiring import LAYER_NAMES

DEFAULT_PREFIX = "velora"
QUANTIZATIONS = ("int8",)
MAX_PREFIX_LENGTH = 24
# Flags of the round-trip check; the tests add -Wall -Wextra -Werror.
CHECK_FLAGS = ("-std=c99", "-O2")
COMPILERS = ("cc", "gcc", "clang")
CHECK_SEQUENCES = 64
CHECK_STEPS = 8
C_KEYWORDS = frozenset(
    [
        "auto",
        "break",
        "case",
        "char",
        "const",
        "continue",
        "default",
        "do",
        "double",
        "else",
        "enum",
        "extern",
        "float",
        "for",
        "goto",
        "if",
        "inline",
        "int",
        "long",
        "register",
        "restrict",
        "return",
        "short",
        "signed",
        "sizeof",
        "static",
        "struct",
        "switch",
        "typedef",
        "union",
        "unsigned",
        "void",
        "volatile",
        "while",
        "_Bool",
        "_Complex",
        "_Imaginary",
    ]
)
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_PER_LINE = 8


class CompileError(RuntimeError):
    """The machine's C compiler refused the exported source (or the check's driver)."""


@dataclass(frozen=True)
class CLayer:
    """One cell's constant data as the C file stores it.

    Sources of target ``j`` are ``src[ptr[j]:ptr[j + 1]]`` with the weights ``w_in[k]`` (4
    heads: g, h, f, proj); ``w_rec[j, i]`` are the weights from the layer's own neuron ``i``
    (dense); ``bias[j]`` the 4 biases. With int8, ``w_in`` and ``w_rec`` hold int8 values and
    ``scale[j]`` the 4 row scales.
    """

    name: str
    n_in: int
    n: int
    ptr: np.ndarray
    src: np.ndarray
    w_in: np.ndarray
    w_rec: np.ndarray
    bias: np.ndarray
    scale: np.ndarray | None = None

    @property
    def synapses(self) -> int:
        return int(self.src.shape[0])

    @property
    def ptr_type(self) -> tuple[str, int]:
        return index_type(self.synapses)

    @property
    def src_type(self) -> tuple[str, int]:
        return index_type(self.n_in - 1)

    @property
    def size(self) -> LayerSize:
        """The sizes the footprint of this layer follows from."""
        return LayerSize(self.n_in, self.n, self.synapses)

    def flash_bytes(self) -> dict[str, int]:
        """Bytes of constant data by part (``velora.files.c_footprint.layer_flash_bytes``)."""
        return layer_flash_bytes(self.size, None if self.scale is None else "int8")


@dataclass(frozen=True)
class CSources:
    """The text of an exported source file and of its header, with the step's footprint."""

    source: str
    header: str
    footprint: Footprint


@dataclass(frozen=True)
class CExport:
    """What ``export_c`` wrote and how well the compiled file reproduces the model.

    ``max_abs_diff`` is over y and h of every step of ``n_sequences`` random sequences of
    ``n_steps`` steps with random elapsed times (NaN when no compiler ran the check:
    ``compiler`` is None).
    """

    source: Path
    header: Path
    footprint: Footprint
    max_abs_diff: float
    n_sequences: int
    n_steps: int
    compiler: str | None
    float_flash_bytes: int


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it can begin the C names of an export, else raise VeloraError."""
    if not isinstance(prefix, str) or not _IDENTIFIER.match(prefix):
        raise VeloraError(
            f"c_prefix: expected a C identifier (a letter, then letters, digits or _), "
            f"got {prefix!r}",
            parameter="c_prefix",
        )
    if len(prefix) > MAX_PREFIX_LENGTH:
        raise VeloraError(
            f"c_prefix: expected at most {MAX_PREFIX_LENGTH} characters, got {len(prefix)}",
            parameter="c_prefix",
        )
    if prefix in C_KEYWORDS:
        raise VeloraError(
            f"c_prefix: {prefix!r} is a C keyword; choose another name", parameter="c_prefix"
        )
    return prefix


def check_quantize(quantize: str | None) -> str | None:
    """Return ``quantize`` if velora can store weights that way (None: float32)."""
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise VeloraError(
            f"quantize: expected {' or '.join(QUANTIZATIONS)}, got {quantize!r}",
            parameter="quantize",
        )
    return quantize


def header_path(path: str | Path) -> Path:
    """The header written beside a C source ``path`` (which must end in .c)."""
    path = Path(path)
    if path.suffix != ".c":
        raise VeloraError(
            f"{path}: a C export is a .c file with its .h beside it; expected a name ending in .c"
        )
    if any(c in path.name for c in '"\\') or not path.name.isprintable():
        raise VeloraError(f"{path}: expected a file name without quotes or backslashes")
    return path.with_suffix(".h")


def c_layers(model: LiquidNCPNetwork, quantize: str | None = None) -> list[CLayer]:
    """Each cell's masked fused weights in the layout of the C file."""
    check_quantize(quantize)
    layers = []
    with torch.no_grad():
        for name, cell in zip(LAYER_NAMES, model.cells(), strict=True):
            n_in, n = cell.in_features, cell.n_hidden
            weight, bias = cell.fused()
            mask = cell.sparsity_mask.detach().cpu().numpy() != 0
            # (4n, n_in + n) -> (target, input, head)
            w = weight.detach().cpu().numpy().astype(np.float32).reshape(4, n, n_in + n)
            w = np.ascontiguousarray(w.transpose(1, 2, 0))
            targets, sources = np.nonzero(mask[:, :n_in])  # sorted by target, then source
            ptr = np.concatenate([[0], np.cumsum(np.bincount(targets, minlength=n))])
            w_in = w[targets, sources, :]
            # The recurrent block is dense in the model; keep what its mask leaves anyway.
            w_rec = w[:, n_in:, :] * mask[:, n_in:, None]
            b = np.ascontiguousarray(bias.detach().cpu().numpy().astype(np.float32).reshape(4, n).T)
            scale = None
            if quantize == "int8":
                w_in, w_rec, scale = _quantize_rows(w_in, targets, w_rec)
            layers.append(
                CLayer(name, n_in, n, ptr.astype(np.int64), sources, w_in, w_rec, b, scale)
            )
    return layers


def _quantize_rows(
    w_in: np.ndarray, targets: np.ndarray, w_rec: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """int8 weights and a float32 scale per (target, head) row: max |w| / 127."""
    largest = np.abs(w_rec).max(axis=1)  # (n, 4)
    if w_in.shape[0]:
        np.maximum.at(largest, targets, np.abs(w_in))
    scale = (largest / np.float32(127)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1))
    q_in = np.clip(np.rint(w_in / safe[targets]), -127, 127).astype(np.int8)
    q_rec = np.clip(np.rint(w_rec / safe[:, None, :]), -127, 127).astype(np.int8)
    return q_in, q_rec, scale


def quantized_network(model: LiquidNCPNetwork) -> LiquidNCPNetwork:
    """The float network an int8 C export computes: every weight is its int8 value times its
    row's scale (the two gate heads fused into ``f_head_to_g``)."""
    tensors = {k: v.clone() for k, v in model.to_tensors().items()}
    for layer in c_layers(model, "int8"):
        n, n_in = layer.n, layer.n_in
        assert layer.scale is not None
        w = np.zeros((n, n_in + n, 4), dtype=np.float32)
        targets = np.repeat(np.arange(n), np.diff(layer.ptr))
        w[targets, layer.src, :] = layer.w_in.astype(np.float32) * layer.scale[targets]
        w[:, n_in:, :] = layer.w_rec.astype(np.float32) * layer.scale[:, None, :]
        prefix = f"layers.{layer.name}."
        for k, head in enumerate(("g_head", "h_head", "f_head_to_g", "proj")):
            tensors[prefix + head + ".weight"] = torch.from_numpy(np.ascontiguousarray(w[:, :, k]))
            tensors[prefix + head + ".bias"] = torch.from_numpy(layer.bias[:, k].copy())
        tensors[prefix + "f_head_to_h.weight"].zero_()
        tensors[prefix + "f_head_to_h.bias"].zero_()
    return LiquidNCPNetwork.from_tensors(model.wiring, tensors, seed=model.seed)


def footprint(model: LiquidNCPNetwork, quantize: str | None = None) -> Footprint:
    """Flash (constant data) and RAM (state and scratch) of one step of the C export: that of
    its wiring (``velora.files.c_footprint.wiring_footprint``), whatever the weights."""
    return wiring_footprint(model.wiring, check_quantize(quantize))


# ---- the C text -------------------------------------------------------------------------------


def _comment_text(text: str) -> str:
    """``text`` made safe inside a C comment: ASCII, no comment delimiters, no trigraphs."""
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text.replace("*/", "* /").replace("/*", "/ *").replace("??", "? ?")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _float(v: float | np.floating) -> str:
    text = str(np.float32(v))
    if text == "nan":
        return "NAN"
    if text in ("inf", "-inf"):
        return text.replace("inf", "INFINITY")
    return text + "f"


def _rows(items: np.ndarray, depth: int) -> str:
    """Initializer lines of a C array of formatted values: a 1-D array ``_PER_LINE`` values a
    line, a 2-D one a row a line, more dimensions nested in braces."""
    indent = "    " * depth
    if items.ndim == 1:
        flat = items.tolist()
        return ",\n".join(
            indent + ", ".join(flat[i : i + _PER_LINE]) for i in range(0, len(flat), _PER_LINE)
        )
    if items.ndim == 2:
        return ",\n".join(indent + "{" + ", ".join(row) + "}" for row in items.tolist())
    return ",\n".join(f"{indent}{{\n{_rows(sub, depth + 1)}\n{indent}}}" for sub in items)


def _declare(ctype: str, name: str, values: np.ndarray, fmt) -> str:
    """A ``static const`` array of ``values`` (shape as declared; an empty one holds a 0)."""
    if values.size == 0:
        values = np.zeros([max(d, 1) for d in values.shape], dtype=values.dtype)
    flat = values.reshape(-1)
    strings = list(map(_float, flat)) if fmt is _float else [fmt(v) for v in flat.tolist()]
    items = np.array(strings, dtype=object).reshape(values.shape)
    shape = "".join(f"[{d}]" for d in values.shape)
    return f"static const {ctype} {name}{shape} = {{\n{_rows(items, 1)}\n}};\n"


def _layer_code(p: str, layer: CLayer) -> str:
    """The constant data of one cell and the static function that steps it."""
    name, n_in, n = f"{p}_{layer.name}", layer.n_in, layer.n
    ptr_type, src_type = layer.ptr_type[0], layer.src_type[0]
    int8 = layer.scale is not None
    wtype = "signed char" if int8 else "float"
    wfmt = str if int8 else _float
    nnz = layer.synapses
    parts = [
        f"/* {layer.name}: {n_in} inputs -> {n} neurons, {nnz} synapses; "
        f"weights [g, h, f, proj] */\n",
        _declare(ptr_type, f"{name}_start", layer.ptr, str),
        _declare(src_type, f"{name}_source", layer.src, str),
        _declare(wtype, f"{name}_w_in", layer.w_in, wfmt),
        _declare(wtype, f"{name}_w_rec", layer.w_rec, wfmt),
        _declare("float", f"{name}_bias", layer.bias, _float),
    ]
    if int8:
        assert layer.scale is not None
        parts.append(_declare("float", f"{name}_scale", layer.scale, _float))
    cast = "(float)" if int8 else ""
    if int8:
        init = "ag = 0.0f, ah = 0.0f, af = 0.0f, ap = 0.0f"
        finish = (
            f"        {{\n            const float *s = {name}_scale[j];\n"
            "            ag = b[0] + s[0] * ag;\n            ah = b[1] + s[1] * ah;\n"
            "            af = b[2] + s[2] * af;\n            ap = b[3] + s[3] * ap;\n        }\n"
        )
    else:
        init = "ag = b[0], ah = b[1], af = b[2], ap = b[3]"
        finish = ""
    parts.append(
        f"""
static void {name}(const float in[{n_in}], float h[{n}], float dt, float y[{n}])
{{
    float next[{n}];
    {ptr_type} k;
    int i, j;
    for (j = 0; j < {n}; j++) {{
        const float *b = {name}_bias[j];
        float {init};
        for (k = {name}_start[j]; k < {name}_start[j + 1]; k++) {{
            const float v = in[{name}_source[k]];
            const {wtype} *w = {name}_w_in[k];
            ag += {cast}w[0] * v;
            ah += {cast}w[1] * v;
            af += {cast}w[2] * v;
            ap += {cast}w[3] * v;
        }}
        for (i = 0; i < {n}; i++) {{
            const float v = h[i];
            const {wtype} *w = {name}_w_rec[j][i];
            ag += {cast}w[0] * v;
            ah += {cast}w[1] * v;
            af += {cast}w[2] * v;
            ap += {cast}w[3] * v;
        }}
{finish}        {{
            const float g = tanhf(ag);
            const float hh = tanhf(ah);
            const float gate = 1.0f / (1.0f + expf(-(af * dt)));
            next[j] = g + gate * (hh - g);
            y[j] = ap + next[j];
        }}
    }}
    for (j = 0; j < {n}; j++) {{
        h[j] = next[j];
    }}
}}
"""
    )
    return "".join(parts)


def c_sources(
    model: LiquidNCPNetwork,
    *,
    spec: Spec | None = None,
    prefix: str = DEFAULT_PREFIX,
    header_name: str | None = None,
    quantize: str | None = None,
) -> CSources:
    """The C99 source and header of one step of ``model``; the source includes the header as
    ``header_name`` (default ``<prefix>.h``)."""
    p = check_prefix(prefix)
    check_quantize(quantize)
    header_name = f"{p}.h" if header_name is None else header_name
    spec = model.to_spec() if spec is None else spec
    layers = c_layers(model, quantize)
    foot = layers_footprint([layer.size for layer in layers], quantize)
    P = p.upper()
    counts = model.wiring.counts
    sizes = [layer.n for layer in layers]
    offsets = [0, sizes[0], sizes[0] + sizes[1]]
    digest = tensor_digest(model.to_tensors())
    name = _comment_text(spec.title)
    weights = (
        "int8 with a float scale per row (max |w| / 127); biases float32"
        if quantize == "int8"
        else "float32"
    )
    inputs = ", ".join(
        f"x[{i}] {_comment_text(n)}" for i, n in enumerate(spec.input_names()[: model.in_features])
    )
    outputs = ", ".join(
        f"y[{i}] {_comment_text(n)}"
        for i, n in enumerate(spec.output_names()[: model.out_features])
    )
    lines = [
        f"Network {name}: {_count(model.in_features, 'input')} -> "
        f"{_count(model.n_neurons, 'neuron')} (inter {counts.inter}, command {counts.command}) "
        f"-> {_count(model.out_features, 'output')} (motor), sparsity level "
        f"{spec.network.sparsity_level}, seed {'none' if model.seed is None else model.seed}.",
        f"Synapses: sensory->inter {layers[0].synapses}, inter->command "
        f"{layers[1].synapses}, command->motor {layers[2].synapses}; the neurons of a layer "
        "also see that layer's whole state.",
        f"Inputs: {inputs}.",
        f"Outputs: {outputs}.",
        f"State h[{model.n_units}]: inter h[0..{offsets[1] - 1}], command "
        f"h[{offsets[1]}..{offsets[2] - 1}], motor h[{offsets[2]}..{model.n_units - 1}].",
        f"Weights: {weights}.",
        f"Flash: {foot.flash_bytes} bytes of constant data. RAM: {foot.state_bytes} bytes of "
        f"state (h) and {foot.scratch_bytes} bytes of scratch on the stack per step.",
        f"Written by velora {__version__} from the weights whose velora checkpoint has the "
        f"sha256 {digest}.",
    ]
    about = "\n".join(
        textwrap.fill(
            line,
            width=96,
            initial_indent=" * ",
            subsequent_indent=" * ",
            break_long_words=False,
            break_on_hyphens=False,
        )
        for line in lines
    )
    usage = f"""\
 * Usage (C99, no heap, no I/O, no mutable globals; link with -lm):
 *     float h[{P}_UNITS], x[{P}_IN_FEATURES], y[{P}_OUT_FEATURES];
 *     {p}_reset(h);
 *     each sample: fill x, then {p}_step(x, h, dt, y);
 * dt is the time elapsed since the previous sample (1.0f for regular sampling), as in
 * forward(x, h, timespans=dt). h is the state: read in, written back; x, h and y must not
 * overlap."""
    guard = f"{P}_H"
    header = f"""\
/* {_comment_text(header_name)}: one step of a liquid neural network (CfC cells, NCP wiring).
 *
{about}
 *
{usage}
 */
#ifndef {guard}
#define {guard}

#ifdef __cplusplus
extern "C" {{
#endif

#define {P}_IN_FEATURES {model.in_features}
#define {P}_UNITS {model.n_units} /* hidden state size: n_neurons + out_features */
#define {P}_OUT_FEATURES {model.out_features}
#define {P}_FLASH_BYTES {foot.flash_bytes} /* constant data */
#define {P}_RAM_BYTES {foot.ram_bytes} /* state and scratch */

/* One step: h is the state in, the next state out (in place); y the outputs. */
void {p}_step(const float x[{P}_IN_FEATURES], float h[{P}_UNITS], float dt,
{" " * (len(p) + 11)}float y[{P}_OUT_FEATURES]);

/* The zero state, to start a sequence. */
void {p}_reset(float h[{P}_UNITS]);

#ifdef __cplusplus
}}
#endif

#endif /* {guard} */
"""
    body = "\n".join(_layer_code(p, layer) for layer in layers)
    i0, i1, i2 = (layer.name for layer in layers)
    source = f"""\
/* Generated by velora {__version__}: velora export --format c. Do not edit.
 *
 * One step of a liquid neural network: three closed-form continuous-time (CfC) cells
 * (inter, command, motor) with NCP wiring. For each cell, with z = [inputs, h]:
 *     a = W z + b, g = tanh(a_g), h~ = tanh(a_h), gate = sigmoid(a_f dt),
 *     h' = g + gate (h~ - g), y = a_proj + h'.
 * The inputs of inter are x, those of command the outputs of inter, those of motor the
 * outputs of command; the outputs of motor are y.
 *
{about}
 *
{usage}
 */
#include <math.h>

#include "{header_name}"

{body}
void {p}_step(const float x[{P}_IN_FEATURES], float h[{P}_UNITS], float dt,
{" " * (len(p) + 11)}float y[{P}_OUT_FEATURES])
{{
    float {i0}[{sizes[0]}];
    float {i1}[{sizes[1]}];
    {p}_{i0}(x, h, dt, {i0});
    {p}_{i1}({i0}, h + {offsets[1]}, dt, {i1});
    {p}_{i2}({i1}, h + {offsets[2]}, dt, y);
}}

void {p}_reset(float h[{P}_UNITS])
{{
    int i;
    for (i = 0; i < {P}_UNITS; i++) {{
        h[i] = 0.0f;
    }}
}}
"""
    return CSources(source, header, foot)


# ---- compiling and running ---------------------------------------------------------------------


def find_compiler() -> str | None:
    """The machine's C compiler: ``$CC`` if set (and found), else cc, gcc or clang."""
    names = [os.environ["CC"]] if os.environ.get("CC") else list(COMPILERS)
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def _driver(prefix: str, header_name: str) -> str:
    """A program that runs whole sequences read from a file through ``<prefix>_step``."""
    P = prefix.upper()
    return f"""\
#include <stdio.h>
#include <stdlib.h>

#include "{header_name}"

/* usage: driver IN OUT SEQUENCES STEPS; IN holds per sequence h0, then per step dt and x;
   OUT gets per step y and h (native float32). */
int main(int argc, char **argv)
{{
    float x[{P}_IN_FEATURES], h[{P}_UNITS], y[{P}_OUT_FEATURES], dt;
    long b, t, n_seq, n_steps;
    FILE *in, *out;
    if (argc != 5) return 2;
    n_seq = atol(argv[3]);
    n_steps = atol(argv[4]);
    in = fopen(argv[1], "rb");
    out = fopen(argv[2], "wb");
    if (in == NULL || out == NULL) return 3;
    for (b = 0; b < n_seq; b++) {{
        if (fread(h, sizeof(float), {P}_UNITS, in) != {P}_UNITS) return 4;
        for (t = 0; t < n_steps; t++) {{
            if (fread(&dt, sizeof(float), 1, in) != 1) return 4;
            if (fread(x, sizeof(float), {P}_IN_FEATURES, in) != {P}_IN_FEATURES) return 4;
            {prefix}_step(x, h, dt, y);
            fwrite(y, sizeof(float), {P}_OUT_FEATURES, out);
            fwrite(h, sizeof(float), {P}_UNITS, out);
        }}
    }}
    fclose(in);
    return fclose(out) == 0 ? 0 : 5;
}}
"""


def compile_program(
    sources: list[Path],
    program: Path,
    *,
    compiler: str,
    flags: tuple[str, ...] | list[str] = CHECK_FLAGS,
    include: list[Path] | None = None,
) -> None:
    """Compile and link C ``sources`` into ``program`` (with -lm); CompileError on failure."""
    command = [compiler, *flags]
    for folder in include or []:
        command += ["-I", str(folder)]
    command += [str(s) for s in sources] + ["-o", str(program), "-lm"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip()
        raise CompileError(f"{' '.join(command)} failed ({done.returncode}):\n{message}")


def run_sequences(
    source: str | Path,
    x: torch.Tensor,
    h0: torch.Tensor,
    timespans: torch.Tensor,
    *,
    prefix: str = DEFAULT_PREFIX,
    compiler: str | None = None,
    flags: tuple[str, ...] | list[str] = CHECK_FLAGS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Compile an exported C ``source`` (its header beside it) with a driver and run
    sequences x (batch, time, in), from h0 (batch, units), with elapsed times (batch, time).

    Returns y (batch, time, out) and the state after every step (batch, time, units), as
    ``forward_sequence(x, h0, timespans, return_states=True)``.
    """
    source = Path(source)
    compiler = compiler or find_compiler()
    if compiler is None:
        raise VeloraError("no C compiler found (cc, gcc or clang; or set CC)")
    batch, steps, n_in = x.shape
    units = h0.shape[1]
    with tempfile.TemporaryDirectory(prefix="velora-c-") as folder:
        work = Path(folder)
        driver = work / "driver.c"
        driver.write_text(_driver(prefix, header_path(source).name))
        program = work / "driver"
        compile_program(
            [driver, source],
            program,
            compiler=compiler,
            flags=flags,
            include=[source.resolve().parent],
        )
        data = np.concatenate(
            [
                h0.detach().cpu().numpy().astype(np.float32).reshape(batch, units),
                np.concatenate(
                    [
                        timespans.detach().cpu().numpy().astype(np.float32)[:, :, None],
                        x.detach().cpu().numpy().astype(np.float32),
                    ],
                    axis=2,
                ).reshape(batch, steps * (1 + n_in)),
            ],
            axis=1,
        )
        (work / "in.bin").write_bytes(np.ascontiguousarray(data).tobytes())
        done = subprocess.run(
            [str(program), "in.bin", "out.bin", str(batch), str(steps)],
            cwd=work,
            capture_output=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise CompileError(
                f"the compiled check program failed with exit code {done.returncode}"
            )
        got = np.fromfile(work / "out.bin", dtype=np.float32)
    n_out = got.size // max(batch * steps, 1) - units
    got = got.reshape(batch, steps, n_out + units)
    return torch.from_numpy(got[:, :, :n_out].copy()), torch.from_numpy(got[:, :, n_out:].copy())


def check_sequences(
    model: LiquidNCPNetwork,
    batch: int = CHECK_SEQUENCES,
    steps: int = CHECK_STEPS,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reproducible random x ~ N(0, 1) (batch, steps, in), h0 ~ U(-1, 1) and elapsed times
    ~ U(0.05, 3) (batch, steps)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, steps, model.in_features, generator=generator)
    h0 = torch.rand(batch, model.n_units, generator=generator) * 2 - 1
    ts = torch.rand(batch, steps, generator=generator) * 2.95 + 0.05
    return x, h0, ts


def max_sequence_diff(
    model: LiquidNCPNetwork,
    source: str | Path,
    x: torch.Tensor,
    h0: torch.Tensor,
    timespans: torch.Tensor,
    **options,
) -> float:
    """The largest |difference| over y and h of every step between the compiled C ``source``
    and ``model.forward_sequence`` (``options``: those of ``run_sequences``)."""
    y, states = run_sequences(source, x, h0, timespans, **options)
    device = model.device
    with torch.no_grad():
        y_ref, states_ref = model.forward_sequence(
            x.to(device), h0.to(device), timespans.to(device), return_states=True
        )
    return max(
        float((y - y_ref.cpu()).abs().max()),
        float((states - states_ref.cpu()).abs().max()),
    )


def _write_pair(first: Path, first_text: str, second: Path, second_text: str, force: bool) -> None:
    """Write two files atomically: both are written in full before either is published (the
    second first); if publishing the first fails, the second is removed again."""
    second_published = False
    try:
        with atomic_write(first, force=force, mode="w", newline="\n") as handle:
            handle.write(first_text)
            with atomic_write(second, force=force, mode="w", newline="\n") as other:
                other.write(second_text)
            second_published = True
    except BaseException:
        if second_published:
            second.unlink(missing_ok=True)
        raise


def export_c(
    model: LiquidNCPNetwork,
    path: str | Path,
    *,
    spec: Spec | None = None,
    prefix: str = DEFAULT_PREFIX,
    quantize: str | None = None,
    force: bool = False,
    check: bool = True,
) -> CExport:
    """Write ``path`` (.c) and its header (.h, the same name) atomically, with the round-trip
    check when a C compiler is found (and ``check``).

    The check compiles the exact text of both files with a driver, before they are published
    (a failure leaves both outputs as they were), runs whole random sequences with random
    elapsed times and compares y and h of every step with ``model.forward_sequence``; for
    int8 with the float model, so that the difference is the quantization's.
    """
    path = Path(path)
    header = header_path(path)
    check_prefix(prefix)
    check_quantize(quantize)
    for target in (path, header):
        check_writable(target, force=force)
    texts = c_sources(model, spec=spec, prefix=prefix, header_name=header.name, quantize=quantize)
    float_flash = texts.footprint.flash_bytes if quantize is None else footprint(model).flash_bytes
    compiler = find_compiler() if check else None
    diff, n_seq = float("nan"), 0
    if compiler is not None:
        with tempfile.TemporaryDirectory(prefix="velora-c-") as folder:
            source = Path(folder) / path.name
            source.write_text(texts.source, newline="\n")
            (Path(folder) / header.name).write_text(texts.header, newline="\n")
            inputs = check_sequences(model)
            diff = max_sequence_diff(model, source, *inputs, prefix=prefix, compiler=compiler)
            n_seq = CHECK_SEQUENCES
    _write_pair(path, texts.source, header, texts.header, force)
    return CExport(
        source=path,
        header=header,
        footprint=texts.footprint,
        max_abs_diff=diff,
        n_sequences=n_seq,
        n_steps=CHECK_STEPS,
        compiler=None if compiler is None else Path(compiler).name,
        float_flash_bytes=float_flash,
    )
