"""Learned synapse strengths: how much each synapse of a network carries, the one definition.

A synapse joins input ``i`` of a layer (a source neuron) to neuron ``j`` (a target). Every one of
the cell's five heads has a weight ``W[j, i]`` on it, so its strength is
``sqrt(sum over the heads of W[j, i]^2)``, computed in float64. ``velora wire --synapses``, its
plots and ``velora prune`` all take strengths from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from velora.models.lnn.ncp import LiquidNCPNetwork


def strength_matrices(network: LiquidNCPNetwork) -> dict[str, np.ndarray]:
    """Each layer's synapse strengths as a float64 (sources, targets) array laid out like its
    mask (zero where the mask has no synapse), keyed by layer (``inter``, ``command``, ``motor``).
    """
    out: dict[str, np.ndarray] = {}
    for (layer, mask), cell in zip(network.wiring.masks.items(), network.cells(), strict=True):
        live = mask.detach().cpu().numpy() != 0
        n_in = cell.in_features
        squares = np.zeros((cell.n_hidden, n_in), dtype=np.float64)
        for head in cell.heads():
            weight = head.weight.detach().cpu().numpy()[:, :n_in].astype(np.float64)
            squares += weight * weight
        out[layer] = np.where(live, np.sqrt(squares).T, 0.0)
    return out
