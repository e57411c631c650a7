"""A network's initial weights, torch-free: what ``nn.Linear`` draws for each head.

A seed fixes a network's initial weights as it fixes its wiring. They are the draws PyTorch's
``nn.Linear.reset_parameters`` makes after ``torch.manual_seed(seed)``, made with
``velora.draws`` instead, so that a spec's network runs without importing torch; the module
(``LiquidNCPNetwork``) takes its seeded weights from here too, so both forms hold the same bits.
"""

from __future__ import annotations

import math

import numpy as np

from velora.draws import draws_for
from velora.models.layout import parameter_shapes
from velora.wiring import Wiring

# The negative slope nn.Linear passes to kaiming_uniform_ (PyTorch issue 57109).
LINEAR_KAIMING_SLOPE = math.sqrt(5)


def linear_bounds(fan_in: int) -> tuple[float, float]:
    """The bounds of ``nn.Linear``'s uniform draws for ``fan_in`` inputs, (weight, bias), in
    Python floats as ``torch.nn.init`` computes them: ``kaiming_uniform_`` with a = sqrt(5)
    (gain sqrt(2 / (1 + a**2)), std gain / sqrt(fan_in), bound sqrt(3) std) and
    1 / sqrt(fan_in)."""
    gain = math.sqrt(2.0 / (1 + LINEAR_KAIMING_SLOPE**2))
    std = gain / math.sqrt(fan_in)
    return math.sqrt(3.0) * std, 1 / math.sqrt(fan_in)


def initial_parameters(wiring: Wiring, seed: int | None) -> dict[str, np.ndarray]:
    """The float32 initial parameters of a network with ``wiring``, by name in
    ``parameter_names()`` order, drawn in the order the module draws them (layer by layer,
    head by head, weight then bias). A seed draws as ``torch.manual_seed(seed)`` would, without
    torch; without one they come from torch's global CPU generator."""
    draws = draws_for(seed)
    shapes = parameter_shapes(wiring)
    parameters = {}
    for name, shape in shapes.items():
        head, kind = name.rsplit(".", 1)
        weight_bound, bias_bound = linear_bounds(shapes[f"{head}.weight"][1])
        bound = weight_bound if kind == "weight" else bias_bound
        parameters[name] = draws.uniform(shape, -bound, bound)
    return parameters
