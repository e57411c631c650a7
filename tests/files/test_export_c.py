"""velora.files.export_c: the C99 export computes the model's steps, stores what the masks leave,
and writes its two files together or not at all.

Tests that compile need a C compiler (gcc and clang when present, else cc) and skip without one.
`velora export --format c` and the README's driver: tests/cli/test_export_c.py.
"""

import math
import re
import shutil

import numpy as np
import pytest
import torch

import velora
from tests.helpers import EXAMPLE
from velora.errors import OutputExistsError, VeloraError
from velora.files import checkpoint, export_c
from velora.files.export import export_model, output_paths
from velora.files.loading import load_model
from velora.models import LiquidNCPNetwork
from velora.wiring import LayerMasks, Wiring

# The flags of the issue, and -pedantic: every warning is an error.
STRICT = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2")
COMPILERS = [c for c in ("gcc", "clang") if shutil.which(c)] or [
    c for c in ("cc",) if shutil.which(c)
]
needs_cc = pytest.mark.skipif(not COMPILERS, reason="no C compiler (cc, gcc or clang)")
TYPE_BYTES = {
    "float": 4,
    "signed char": 1,
    "unsigned char": 1,
    "unsigned short": 2,
    "unsigned long": 4,
}
DECLARATION = re.compile(
    r"^static const (float|signed char|unsigned char|unsigned short|unsigned long) "
    r"(\w+)((?:\[\d+\])+) = \{",
    re.M,
)


def constant_bytes(source: str, part: str | None = None) -> int:
    """Bytes of the ``static const`` arrays of a C source, measured from their declarations
    (``part``: only the arrays whose name ends with it)."""
    total = 0
    for ctype, name, dims in DECLARATION.findall(source):
        if part is None or name.endswith(part):
            total += TYPE_BYTES[ctype] * math.prod(int(d) for d in re.findall(r"\d+", dims))
    return total


def synapse_bytes(source: str) -> int:
    """Constant data that belongs to synapses: sources, their weights, the row starts."""
    return sum(constant_bytes(source, part) for part in ("_start", "_source", "_w_in"))


def sequences(net: LiquidNCPNetwork, steps: int = 60, seed: int = 5):
    """Three sequences with irregular elapsed times (some tiny, some long); one starts at 0."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(3, steps, net.in_features, generator=generator)
    h0 = torch.rand(3, net.n_units, generator=generator) * 2 - 1
    h0[0] = 0
    ts = torch.rand(3, steps, generator=generator) * 2.95 + 0.05
    ts[:, ::7] = 0.01
    ts[:, 3::11] = 7.5
    return x, h0, ts


def write_sources(net, folder, name="net", **options):
    texts = export_c.c_sources(net, header_name=f"{name}.h", **options)
    (folder / f"{name}.c").write_text(texts.source)
    (folder / f"{name}.h").write_text(texts.header)
    return folder / f"{name}.c", texts


@pytest.fixture(scope="module")
def trained_net() -> LiquidNCPNetwork:
    """The example network after two epochs of velora.fit on tiny data with irregular steps."""
    net, _ = load_model(EXAMPLE)
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(6, 24, 4, generator=generator)
    y = torch.sin(x.cumsum(1)[..., :1])
    ts = torch.rand(6, 24, generator=generator) + 0.1
    before = [p.detach().clone() for p in net.parameters()]
    velora.fit(net, velora.SequenceData(x, y, ts, None), epochs=2, batch_size=3, lr=0.01)
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    return net


NETWORKS = {
    "5 neurons": (2, 5, 1),
    "64 neurons": (3, 64, 2),
    "300 neurons": (3, 300, 2),
}


@needs_cc
@pytest.mark.parametrize("compiler", COMPILERS)
@pytest.mark.parametrize("which", [*NETWORKS, "trained 16 neurons"])
def test_compiled_c_matches_forward_sequence(which, compiler, trained_net, tmp_path):
    if which == "300 neurons" and compiler != COMPILERS[0]:
        pytest.skip("the largest network compiles with one compiler (time)")
    net = LiquidNCPNetwork(*NETWORKS[which], seed=11) if which in NETWORKS else trained_net
    source, _ = write_sources(net, tmp_path, prefix="m")
    x, h0, ts = sequences(net)
    y, states = export_c.run_sequences(
        source, x, h0, ts, prefix="m", compiler=compiler, flags=STRICT
    )
    for backend in ("auto", "torch"):
        with torch.no_grad():
            y_ref, states_ref = net.forward_sequence(x, h0, ts, return_states=True, backend=backend)
        assert y.shape == y_ref.shape and states.shape == states_ref.shape
        assert float((y - y_ref).abs().max()) < 1e-5, backend
        assert float((states - states_ref).abs().max()) < 1e-5, backend


@needs_cc
def test_int8_c_computes_the_quantized_network_with_less_flash(trained_net, tmp_path):
    source, texts = write_sources(trained_net, tmp_path, prefix="q", quantize="int8")
    x, h0, ts = sequences(trained_net, steps=30)
    y, states = export_c.run_sequences(
        source, x, h0, ts, prefix="q", compiler=COMPILERS[0], flags=STRICT
    )
    quantized = export_c.quantized_network(trained_net)
    with torch.no_grad():
        y_ref, states_ref = quantized.forward_sequence(x, h0, ts, return_states=True)
        y_float, _ = trained_net.forward_sequence(x, h0, ts, return_states=True)
    assert float((y - y_ref).abs().max()) < 1e-5
    assert float((states - states_ref).abs().max()) < 1e-5
    assert 0 < float((y - y_float).abs().max()) < 0.1  # the quantization's own error
    full = export_c.footprint(trained_net)
    assert texts.footprint.flash_bytes == constant_bytes(texts.source)
    assert texts.footprint.flash_bytes < 0.5 * full.flash_bytes
    assert texts.footprint.ram_bytes == full.ram_bytes


def test_header_declares_the_step_and_the_sizes(tmp_path):
    net, spec = load_model(EXAMPLE)
    texts = export_c.c_sources(net, spec=spec, header_name="controller.h")
    header, source = texts.header, texts.source
    for line in (
        "#define VELORA_IN_FEATURES 4\n",
        "#define VELORA_UNITS 17 ",
        "#define VELORA_OUT_FEATURES 1\n",
        f"#define VELORA_FLASH_BYTES {texts.footprint.flash_bytes} ",
        f"#define VELORA_RAM_BYTES {texts.footprint.ram_bytes} ",
        "void velora_step(const float x[VELORA_IN_FEATURES], float h[VELORA_UNITS], float dt,\n"
        "                 float y[VELORA_OUT_FEATURES]);",
        "void velora_reset(float h[VELORA_UNITS]);",
        "#ifndef VELORA_H",
    ):
        assert line in header, line
    # What the network is: name, sizes, synapses, version, checksum of its checkpoint.
    saved = checkpoint.save(net, tmp_path / "pendulum.safetensors", spec)
    digest = checkpoint.load_checkpoint(saved).metadata.sha256
    synapses = [int(m.count_nonzero()) for _, m in net.wiring.masks.items()]
    for text in (
        "Network pendulum: 4 inputs -> 16 neurons (inter 10, command 6) -> 1 output",
        f"sensory->inter {synapses[0]}, inter->command {synapses[1]}, command->motor {synapses[2]}",
        f"velora {velora.__version__}",
        digest,
        "x[2] theta",
        "y[0] torque",
        "velora_step(x, h, dt, y)",
    ):
        assert text in " ".join(header.replace(" * ", " ").split()), text
        assert text in " ".join(source.replace(" * ", " ").split()), text
    # Dependency-free: <math.h> and its own header only; no mutable globals, heap or I/O.
    assert re.findall(r"#include .*", source) == ["#include <math.h>", '#include "controller.h"']
    file_scope = [line for line in source.splitlines() if line.startswith("static ")]
    assert file_scope and all(
        line.startswith(("static const ", "static void ")) for line in file_scope
    )
    for word in ("malloc", "printf", "FILE", "double"):
        assert word not in source
    assert source.isascii() and header.isascii()


def test_prefix_names_every_symbol_and_is_checked():
    net = LiquidNCPNetwork(3, 8, 2, seed=1)
    texts = export_c.c_sources(net, prefix="arm_ctl")
    assert "void arm_ctl_step(" in texts.header and "#define ARM_CTL_UNITS 10" in texts.header
    assert '#include "arm_ctl.h"' in texts.source and "velora_" not in texts.source
    for bad in ("9lives", "a-b", "", "int", "x" * 25, "_hidden", "naïve"):
        with pytest.raises(VeloraError, match=r"^c_prefix: ") as info:
            export_c.c_sources(net, prefix=bad)
        assert info.value.parameter == "c_prefix"
    with pytest.raises(VeloraError, match=r"^quantize: expected int8") as info:
        export_c.c_sources(net, quantize="int4")
    assert info.value.parameter == "quantize"


def test_footprint_is_the_constant_data_of_the_source():
    for net in (LiquidNCPNetwork(4, 16, 1, seed=7), LiquidNCPNetwork(3, 300, 2, seed=1)):
        texts = export_c.c_sources(net)
        foot = texts.footprint
        assert foot.flash_bytes == constant_bytes(texts.source)
        assert foot.synapse_bytes == synapse_bytes(texts.source)
        assert foot.recurrent_bytes == constant_bytes(texts.source, "_w_rec")
        counts = net.wiring.counts
        assert foot.state_bytes == 4 * net.n_units
        assert foot.scratch_bytes == 4 * (counts.inter + counts.command + counts.inter)
        assert foot.synapses == sum(int(m.count_nonzero()) for _, m in net.wiring.masks.items())


def _halve(mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``mask`` with every other synapse of each target dropped (each target keeps one)."""
    mask = mask.clone()
    for target in range(mask.shape[1]):
        sources = mask[:, target].nonzero().flatten()
        order = sources[torch.randperm(sources.numel(), generator=generator)]
        mask[order[(sources.numel() + 1) // 2 :], target] = 0
    return mask


def test_constant_data_grows_with_the_synapses_not_with_their_square():
    """Halving the synapses (at 300 neurons) halves the bytes that belong to them, measured
    in the source; the rest is the dense recurrent blocks and biases, the same at any density.
    """
    wiring = Wiring(3, 300, 2, sparsity_level=0.1, seed=2)
    generator = torch.Generator().manual_seed(0)
    halved = Wiring.from_masks(
        LayerMasks(*(_halve(m, generator) for _, m in wiring.masks.items())), sparsity_level=0.55
    )
    full = export_c.c_sources(LiquidNCPNetwork(3, 300, 2, wiring=wiring, seed=0)).source
    half = export_c.c_sources(LiquidNCPNetwork(3, 300, 2, wiring=halved, seed=0)).source
    n_full = sum(int(m.count_nonzero()) for _, m in wiring.masks.items())
    n_half = sum(int(m.count_nonzero()) for _, m in halved.masks.items())
    assert 0.49 < n_half / n_full < 0.52
    assert 0.48 < synapse_bytes(half) / synapse_bytes(full) < 0.53
    rest = constant_bytes(full) - synapse_bytes(full)
    assert rest == constant_bytes(half) - synapse_bytes(half)
    counts = wiring.counts
    dense = 16 * (counts.inter**2 + counts.command**2 + counts.motor**2)
    assert rest == dense + 16 * 302
    # Through the NCP rules, the spec's sparsity level sets how many synapses each neuron draws.
    low = export_c.footprint(LiquidNCPNetwork(3, 300, 2, sparsity_level=0.5, seed=2))
    lower = export_c.footprint(LiquidNCPNetwork(3, 300, 2, sparsity_level=0.75, seed=2))
    per_synapse = (low.synapse_bytes - lower.synapse_bytes) / (low.synapses - lower.synapses)
    assert 17 <= per_synapse <= 18.1
    assert lower.recurrent_bytes == low.recurrent_bytes


def test_export_model_writes_source_and_header_and_checks_them(tmp_path):
    net, spec = load_model(EXAMPLE)
    path = tmp_path / "controller.c"
    assert output_paths(path) == [path, tmp_path / "controller.h"]
    result = export_model(net, path, spec=spec)
    assert result.format == "c" and result.header == tmp_path / "controller.h"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["controller.c", "controller.h"]
    assert result.n_bytes == path.stat().st_size + result.header.stat().st_size
    foot = export_c.footprint(net)
    assert (result.flash_bytes, result.ram_bytes) == (foot.flash_bytes, foot.ram_bytes)
    assert '#include "controller.h"' in path.read_text()
    if COMPILERS:
        assert result.checked and result.compiler
        assert result.max_abs_diff < 1e-5
        assert (result.n_samples, result.n_steps) == (64, 8)
    with pytest.raises(OutputExistsError):
        export_model(net, path)
    again = export_model(net, path, force=True, c_prefix="pendulum")
    assert "void pendulum_step(" in again.header.read_text()


def test_without_a_compiler_the_check_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("CC", raising=False)
    assert export_c.find_compiler() is None
    result = export_model(LiquidNCPNetwork(3, 8, 2, seed=1), tmp_path / "m.c")
    assert not result.checked and result.compiler is None and math.isnan(result.max_abs_diff)
    assert (tmp_path / "m.c").exists() and (tmp_path / "m.h").exists()


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"timespans": True}, "^timespans: "),
        ({"c_prefix": "x", "fmt": "onnx"}, "^c_prefix: applies to the c format only"),
        ({"quantize": "int8", "fmt": "safetensors"}, "^quantize: applies to the c format only"),
        ({"c_prefix": "1x"}, "^c_prefix: expected a C identifier"),
        ({"quantize": "int3"}, "^quantize: expected int8"),
    ],
)
def test_bad_options_write_nothing(tmp_path, options, pattern):
    net = LiquidNCPNetwork(3, 8, 2, seed=1)
    fmt = options.pop("fmt", None)
    with pytest.raises(VeloraError, match=pattern):
        export_model(net, tmp_path / "m.c", fmt, **options)
    assert list(tmp_path.iterdir()) == []


def test_a_c_export_needs_a_c_name(tmp_path):
    net = LiquidNCPNetwork(3, 8, 2, seed=1)
    for name in ("m.cc", "m.h", "m"):
        with pytest.raises(VeloraError, match=r"expected a name ending in \.c$"):
            export_model(net, tmp_path / name, "c")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_header_stops_the_export_before_any_work(tmp_path):
    (tmp_path / "m.h").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"m\.h: already exists") as info:
        export_model(LiquidNCPNetwork(3, 8, 2, seed=1), tmp_path / "m.c")
    assert info.value.parameter == "force"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.h"]
    assert (tmp_path / "m.h").read_text() == "mine"


def test_when_the_source_cannot_be_published_the_header_is_removed(tmp_path, monkeypatch):
    """The header is published first; if the source then fails, nothing is left behind."""
    real = export_c.atomic_write

    def failing(path, **options):
        manager = real(path, **options)
        if path.suffix != ".c":
            return manager

        class Fails:
            def __enter__(self):
                return manager.__enter__()

            def __exit__(self, *exc):
                if exc[0] is None:  # the writes worked: make publishing fail
                    manager.__exit__(OSError, OSError("disk full"), None)
                    raise OSError("disk full")
                return manager.__exit__(*exc)

        return Fails()

    monkeypatch.setattr(export_c, "atomic_write", failing)
    with pytest.raises(OSError, match="disk full"):
        export_c.export_c(LiquidNCPNetwork(3, 8, 2, seed=1), tmp_path / "m.c", check=False)
    assert list(tmp_path.iterdir()) == []


def test_a_failing_compile_leaves_nothing_behind(tmp_path, monkeypatch):
    false = shutil.which("false")
    if false is None:
        pytest.skip("no 'false' program")
    monkeypatch.setenv("CC", false)
    old = tmp_path / "m.c"
    old.write_text("old")
    with pytest.raises(export_c.CompileError):
        export_model(LiquidNCPNetwork(3, 8, 2, seed=1), old, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.c"] and old.read_text() == "old"


def test_weights_print_exactly():
    values = np.array([0.1, -2.5e-8, 3.4028235e38, 1.0, -0.0, 1e-45], dtype=np.float32)
    for v in values:
        text = export_c._float(v)
        assert text.endswith("f") and np.float32(text[:-1]) == v
    assert export_c._float(np.float32("inf")) == "INFINITY"
