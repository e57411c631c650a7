"""What a C export (``velora export --format c``) needs on its target, without torch: the bytes
of constant data each cell stores and the RAM of one step follow from the cells' sizes and
synapse counts alone, so ``velora inspect`` shows them from a checkpoint's wiring.

``velora.files.export_c`` lays its arrays out by these sizes; its footprint is this one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from velora.wiring import Wiring, layer_sizes

# Bytes of the stored types on the target (``unsigned long`` counted as a 32-bit target's).
FLOAT_BYTES = 4


@dataclass(frozen=True)
class Footprint:
    """What one step of an exported network needs on the target.

    ``flash_bytes``: constant data (weights, biases, scales, source lists), of which
    ``synapse_bytes`` grow with the synapses and ``recurrent_bytes`` are the dense recurrent
    blocks. ``ram_bytes``: the state ``h`` (``state_bytes``, the caller's) plus the scratch
    arrays of a step on the stack (``scratch_bytes``). Code is not counted.
    """

    flash_bytes: int
    synapse_bytes: int
    recurrent_bytes: int
    state_bytes: int
    scratch_bytes: int
    synapses: int
    quantize: str | None = None

    @property
    def ram_bytes(self) -> int:
        return self.state_bytes + self.scratch_bytes


@dataclass(frozen=True)
class LayerSize:
    """What the C layout of one cell depends on: its inputs, neurons and synapses."""

    n_in: int
    n: int
    synapses: int


def index_type(largest: int) -> tuple[str, int]:
    """The smallest unsigned C type that holds ``largest``, with its size on a 32-bit target."""
    if largest < 1 << 8:
        return "unsigned char", 1
    if largest < 1 << 16:
        return "unsigned short", 2
    return "unsigned long", 4


def layer_flash_bytes(layer: LayerSize, quantize: str | None = None) -> dict[str, int]:
    """Bytes of one cell's constant data by part: ``synapses`` (sources, their weights and the
    row starts), ``recurrent`` (the dense block), ``bias`` (biases and int8 row scales)."""
    int8 = quantize is not None
    weight_bytes = 1 if int8 else FLOAT_BYTES
    per_row = 4 * FLOAT_BYTES * (2 if int8 else 1)
    ptr_bytes = index_type(layer.synapses)[1]
    src_bytes = index_type(layer.n_in - 1)[1]
    return {
        "synapses": (layer.n + 1) * ptr_bytes
        + max(layer.synapses, 1) * (src_bytes + 4 * weight_bytes),
        "recurrent": layer.n * layer.n * 4 * weight_bytes,
        "bias": layer.n * per_row,
    }


def layers_footprint(layers: Sequence[LayerSize], quantize: str | None = None) -> Footprint:
    """Flash and RAM of one step of the three cells ``layers`` (inter, command, motor)."""
    parts = [layer_flash_bytes(layer, quantize) for layer in layers]
    sizes = [layer.n for layer in layers]
    # The step keeps the outputs of inter and command; a cell keeps its new state until done.
    scratch = (sizes[0] + sizes[1] + max(sizes)) * FLOAT_BYTES
    return Footprint(
        flash_bytes=sum(sum(p.values()) for p in parts),
        synapse_bytes=sum(p["synapses"] for p in parts),
        recurrent_bytes=sum(p["recurrent"] for p in parts),
        state_bytes=sum(sizes) * FLOAT_BYTES,
        scratch_bytes=scratch,
        synapses=sum(layer.synapses for layer in layers),
        quantize=quantize,
    )


def wiring_layers(wiring: Wiring) -> list[LayerSize]:
    """The C layout sizes of a wiring's three cells: a synapse is a non-zero mask entry."""
    return [
        LayerSize(n_in, n, int(np.count_nonzero(mask)))
        for (n_in, n), (_, mask) in zip(
            layer_sizes(wiring.counts), wiring.arrays.items(), strict=True
        )
    ]


def wiring_footprint(wiring: Wiring, quantize: str | None = None) -> Footprint:
    """Flash and RAM of one step of the C export of any network with ``wiring`` (the weights'
    values do not change it); ``quantize`` is None (float32) or ``"int8"``."""
    return layers_footprint(wiring_layers(wiring), quantize)
