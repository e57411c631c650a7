"""The parameter layout every velora network shares, torch-free: the five heads of a cell,
the parameters' names and shapes, their counts, and the choice between the compiled loop and
PyTorch's BLAS loop. ``LiquidNCPNetwork`` and ``NetworkArrays`` both follow it."""

from __future__ import annotations

import numpy as np

from velora.wiring import LAYER_NAMES, Wiring, layer_sizes

HEAD_NAMES = ("g_head", "h_head", "f_head_to_g", "f_head_to_h", "proj")
# Multiply-adds per step (batch x fused weights) above which the PyTorch BLAS loop wins.
COMPILED_MAX_MACS = 1_000_000
# The same for training: above it the BLAS training loop beats the compiled one.
COMPILED_TRAINING_MAX_MACS = 100_000


def parameter_names() -> list[str]:
    """Names of the 30 parameters (``layers.<layer>.<head>.weight|bias``), in a fixed order."""
    return [
        f"layers.{layer}.{head}.{kind}"
        for layer in LAYER_NAMES
        for head in HEAD_NAMES
        for kind in ("weight", "bias")
    ]


def parameter_shapes(wiring: Wiring) -> dict[str, tuple[int, ...]]:
    """Name and shape of every parameter of a network with ``wiring``, in a fixed order: each
    head of a layer sees the layer's inputs and its own neurons (the recurrent block)."""
    sizes = dict(zip(LAYER_NAMES, layer_sizes(wiring.counts), strict=True))
    shapes: dict[str, tuple[int, ...]] = {}
    for name in parameter_names():
        n_in, n_hidden = sizes[name.split(".")[1]]
        weight = name.endswith(".weight")
        shapes[name] = (n_hidden, n_in + n_hidden) if weight else (n_hidden,)
    return shapes


def input_mask(mask: np.ndarray) -> np.ndarray:
    """Which inputs the heads of a layer with the wiring ``mask`` (inputs, neurons) see, as
    float32 (neurons, inputs + neurons): |mask|ᵀ on the layer's inputs, then ones on the
    recurrent block (every neuron sees its layer's whole state). A head's weights are
    multiplied by it, so the weights outside it have no effect."""
    n = mask.shape[1]
    ones = np.ones((n, n), dtype=np.float32)
    return np.concatenate([np.abs(mask).T.astype(np.float32), ones], axis=1)


def fused_size(wiring: Wiring) -> int:
    """Entries of the three fused weight matrices, (4 n) x (inputs + n) per layer: the
    multiply-adds of one step of one sequence."""
    return sum(4 * n * (n_in + n) for n_in, n in layer_sizes(wiring.counts))


def prefers_compiled(wiring: Wiring, batch: int) -> bool:
    """Whether the compiled loop beats PyTorch's BLAS for ``batch`` sequences: true unless the
    batch's matmul work per step is large (measured crossover, benchmarks/bench_sequence.py)."""
    return batch * fused_size(wiring) < COMPILED_MAX_MACS


def prefers_compiled_training(wiring: Wiring, batch: int) -> bool:
    """Whether the compiled training loop beats the BLAS one for ``batch`` sequences on the
    CPU (measured crossover, benchmarks/bench_train.py)."""
    return batch * fused_size(wiring) < COMPILED_TRAINING_MAX_MACS


def active_by_layer(wiring: Wiring) -> dict[str, int]:
    """Parameters of each layer that the masks leave in effect: each head's weights on synapses
    and on the recurrent block, plus every bias."""
    active = {}
    for (layer, mask), (_, n) in zip(
        wiring.arrays.items(), layer_sizes(wiring.counts), strict=True
    ):
        live = int(np.count_nonzero(mask)) + n * n
        active[layer] = len(HEAD_NAMES) * (live + n)
    return active


def total_by_layer(wiring: Wiring) -> dict[str, int]:
    """Every trainable parameter of each layer, masked or not."""
    total = dict.fromkeys(LAYER_NAMES, 0)
    for name, shape in parameter_shapes(wiring).items():
        total[name.split(".")[1]] += int(np.prod(shape))
    return total


def active_parameters(wiring: Wiring) -> int:
    """Parameters that the masks leave in effect, in every layer (``active_by_layer``)."""
    return sum(active_by_layer(wiring).values())


def total_parameters(wiring: Wiring) -> int:
    """Every trainable parameter, masked or not."""
    return sum(total_by_layer(wiring).values())
