"""Pruning: a sparser circuit from a trained one, keeping its strongest synapses.

In each layer the ``keep_count(keep, synapses)`` strongest synapses stay (strength as
``velora.models.lnn.synapses`` defines it; ties go to the lower index, row-major over the mask:
source, then target). Then every target neuron left without input gets back its strongest
original synapse (ties to the lower source index), so no neuron is cut off. Polarities do not
change, the new masks are subsets of the old, every kept weight is copied bit for bit and the
weights of removed synapses are zeroed in all five heads. Biases and the recurrent weights within
each layer are not synapses of the wiring and stay as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from velora.errors import VeloraError
from velora.models.lnn.cell import HEAD_NAMES
from velora.models.lnn.ncp import LiquidNCPNetwork
from velora.models.lnn.synapses import strength_matrices
from velora.wiring import GROUPS, LAYER_NAMES, LayerMasks, Wiring


def check_keep(keep: object) -> float:
    """``keep`` as a float if it is a fraction in (0, 1], else a ``VeloraError`` naming it."""
    if isinstance(keep, bool) or not isinstance(keep, int | float | np.integer | np.floating):
        raise VeloraError(f"keep: expected a fraction in (0, 1], got {keep!r}", parameter="keep")
    value = float(keep)
    if not 0.0 < value <= 1.0:  # also refuses NaN
        raise VeloraError(f"keep: expected a fraction in (0, 1], got {keep}", parameter="keep")
    return value


def keep_count(keep: float, synapses: int) -> int:
    """How many of a layer's ``synapses`` are kept by strength: ``keep × synapses`` rounded to
    the nearest integer, halves up (0.5 × 5 keeps 3)."""
    return min(math.floor(keep * synapses + 0.5), synapses)


@dataclass(frozen=True)
class LayerPruning:
    """What pruning did to one layer (``source`` -> ``target`` group, its mask ``layer``)."""

    layer: str  # "inter" | "command" | "motor": the mask's name (``wiring.<layer>``)
    source: str
    target: str
    before: int  # synapses before
    after: int  # synapses after
    restored: int  # synapses given back to targets that would have been left without input

    def to_dict(self) -> dict:
        return {
            "layer": f"{self.source}->{self.target}",
            "before": self.before,
            "after": self.after,
            "restored": self.restored,
        }


@dataclass
class Pruning:
    """A pruned network and what was removed, layer by layer."""

    network: LiquidNCPNetwork
    keep: float
    layers: tuple[LayerPruning, ...]

    @property
    def before(self) -> int:
        return sum(layer.before for layer in self.layers)

    @property
    def after(self) -> int:
        return sum(layer.after for layer in self.layers)


def prune_mask(mask: np.ndarray, strength: np.ndarray, keep: float) -> tuple[np.ndarray, int]:
    """The pruned signed mask (sources, targets) and how many synapses were restored to targets
    left without input; ``strength`` is laid out like ``mask``."""
    live = mask != 0
    flat = np.flatnonzero(live)  # row-major: by source, then target
    order = np.argsort(-strength.ravel()[flat], kind="stable")  # strongest first, ties by index
    ranked = np.zeros(mask.size, dtype=bool)
    ranked[flat[order[: keep_count(keep, len(flat))]]] = True
    chosen = ranked.reshape(mask.shape)
    restored = 0
    for target in np.flatnonzero(~chosen.any(axis=0) & live.any(axis=0)):
        column = np.where(live[:, target], strength[:, target], -np.inf)
        chosen[int(np.argmax(column)), target] = True  # argmax: the first of equal maxima
        restored += 1
    return np.where(chosen, mask, 0).astype(mask.dtype), restored


def prune_network(network: LiquidNCPNetwork, keep: float) -> Pruning:
    """A copy of ``network`` with only its strongest synapses (see the module docstring);
    ``keep`` is the fraction kept per layer, in (0, 1]. The network itself is left alone."""
    keep = check_keep(keep)
    strengths = strength_matrices(network)
    tensors = {name: t.clone() for name, t in network.to_tensors().items()}
    masks: dict[str, torch.Tensor] = {}
    layers = []
    for i, layer in enumerate(LAYER_NAMES):
        old = tensors[f"wiring.{layer}"].numpy()
        new, restored = prune_mask(old, strengths[layer], keep)
        removed = torch.from_numpy((old != 0) & (new == 0)).T  # (targets, sources)
        for head in HEAD_NAMES:
            weight = tensors[f"layers.{layer}.{head}.weight"]
            inputs = weight[:, : removed.shape[1]]
            inputs[removed] = 0.0
        masks[layer] = torch.from_numpy(new)
        layers.append(
            LayerPruning(
                layer=layer,
                source=GROUPS[i],
                target=GROUPS[i + 1],
                before=int((old != 0).sum()),
                after=int((new != 0).sum()),
                restored=restored,
            )
        )
    wiring = Wiring.from_masks(
        LayerMasks(**masks),
        sparsity_level=network.wiring.sparsity_level,
        design=network.wiring.design,
    )
    params = {name: tensors[name] for name in network.parameter_shapes(wiring)}
    pruned = LiquidNCPNetwork.from_tensors(wiring, params, seed=network.seed, device=network.device)
    return Pruning(pruned, keep, tuple(layers))
