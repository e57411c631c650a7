"""Learned synapse strengths: how much each synapse of a network carries, the one definition.

A synapse joins input ``i`` of a layer (a source neuron) to neuron ``j`` (a target). Every one of
the cell's five heads has a weight ``W[j, i]`` on it, so its strength is
``sqrt(sum over the heads of W[j, i]^2)``, computed in float64. ``velora wire --synapses``, its
plots and ``velora prune`` all take strengths from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from velora.models.arrays import parameter_arrays
from velora.models.layout import HEAD_NAMES
from velora.wiring import layer_sizes

if TYPE_CHECKING:
    from velora.models.arrays import NetworkArrays
    from velora.models.lnn.ncp import LiquidNCPNetwork


def strength_matrices(network: LiquidNCPNetwork | NetworkArrays) -> dict[str, np.ndarray]:
    """Each layer's synapse strengths as a float64 (sources, targets) array laid out like its
    mask (zero where the mask has no synapse), keyed by layer (``inter``, ``command``, ``motor``).
    """
    params = parameter_arrays(network)
    out: dict[str, np.ndarray] = {}
    for (layer, mask), (n_in, n_hidden) in zip(
        network.wiring.arrays.items(), layer_sizes(network.wiring.counts), strict=True
    ):
        squares = np.zeros((n_hidden, n_in), dtype=np.float64)
        for head in HEAD_NAMES:
            weight = params[f"layers.{layer}.{head}.weight"][:, :n_in].astype(np.float64)
            squares += weight * weight
        out[layer] = np.where(mask != 0, np.sqrt(squares).T, 0.0)
    return out
