"""Wiring statistics: the figures ``velora wire`` prints, computed from the signed masks.

Everything is plain data (dataclasses) with ``to_dict`` for JSON; the keys are documented in the
README and kept stable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAYERS = (
    ("sensory->inter", "sensory", "inter", "inter"),
    ("inter->command", "inter", "command", "command"),
    ("command->motor", "command", "motor", "motor"),
)  # (layer name, source group, target group, LayerMasks attribute)
GROUPS = ("sensory", "inter", "command", "motor")
DIGITS = 6  # floats are rounded so that the JSON reads well and stays byte-stable


@dataclass(frozen=True)
class Spread:
    """Minimum, mean and maximum of a per-neuron count."""

    min: int
    mean: float
    max: int

    @classmethod
    def of(cls, values: np.ndarray) -> Spread:
        return cls(int(values.min()), round(float(values.mean()), DIGITS), int(values.max()))

    def to_dict(self) -> dict:
        return {"min": self.min, "mean": self.mean, "max": self.max}


@dataclass(frozen=True)
class LayerStats:
    """Figures of one mask (sources x targets)."""

    name: str
    source: str
    target: str
    shape: tuple[int, int]
    synapses: int
    possible: int
    density: float
    excitatory: int
    inhibitory: int
    fan_in: Spread  # synapses into each target neuron
    fan_out: Spread  # synapses out of each source neuron

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "target": self.target,
            "shape": list(self.shape),
            "synapses": self.synapses,
            "possible": self.possible,
            "density": self.density,
            "excitatory": self.excitatory,
            "inhibitory": self.inhibitory,
            "fan_in": self.fan_in.to_dict(),
            "fan_out": self.fan_out.to_dict(),
        }


@dataclass(frozen=True)
class Totals:
    """Sums over the three masks."""

    synapses: int
    possible: int
    density: float
    excitatory: int
    inhibitory: int

    def to_dict(self) -> dict:
        return {
            "synapses": self.synapses,
            "possible": self.possible,
            "density": self.density,
            "excitatory": self.excitatory,
            "inhibitory": self.inhibitory,
        }


@dataclass(frozen=True)
class WiringStats:
    """Everything ``velora wire`` reports about one network."""

    name: str
    seed: int | None
    sparsity_level: float
    neurons: dict[str, int]  # group -> count, in GROUPS order
    layers: tuple[LayerStats, ...]
    totals: Totals
    total_params: int | None = None
    active_params: int | None = None
    wiring: dict | None = None  # the wiring design: type and its keys (WiringDesign.to_dict)

    def to_dict(self) -> dict:
        """Plain data for ``--json``: stable keys, ints and rounded floats only."""
        return {
            "name": self.name,
            "seed": self.seed,
            "sparsity_level": self.sparsity_level,
            "wiring": self.wiring,
            "neurons": dict(self.neurons),
            "layers": [layer.to_dict() for layer in self.layers],
            "totals": self.totals.to_dict(),
            "params": {"total": self.total_params, "active": self.active_params},
        }


def layer_masks_numpy(wiring) -> dict[str, np.ndarray]:
    """The three signed masks as int numpy arrays, keyed by layer name."""
    return {
        name: np.asarray(getattr(wiring.arrays, attr), dtype=np.int64)
        for name, _, _, attr in LAYERS
    }


def mask_stats(name: str, source: str, target: str, mask: np.ndarray) -> LayerStats:
    """Figures of one signed mask of shape (sources, targets)."""
    mask = np.asarray(mask)
    live = mask != 0
    synapses = int(live.sum())
    possible = int(mask.size)
    return LayerStats(
        name=name,
        source=source,
        target=target,
        shape=(int(mask.shape[0]), int(mask.shape[1])),
        synapses=synapses,
        possible=possible,
        density=round(synapses / possible, DIGITS) if possible else 0.0,
        excitatory=int((mask > 0).sum()),
        inhibitory=int((mask < 0).sum()),
        fan_in=Spread.of(live.sum(axis=0)),
        fan_out=Spread.of(live.sum(axis=1)),
    )


def wiring_stats(wiring, *, name: str = "network", network=None) -> WiringStats:
    """Statistics of a ``Wiring``; pass the ``LiquidNCPNetwork`` to include parameter counts."""
    arrays = layer_masks_numpy(wiring)
    layers = tuple(mask_stats(n, s, t, arrays[n]) for n, s, t, _ in LAYERS)
    synapses = sum(layer.synapses for layer in layers)
    possible = sum(layer.possible for layer in layers)
    counts = wiring.counts
    seed = wiring.seed
    if seed is None and network is not None:  # stored wiring: the seed it was first built from
        seed = getattr(network, "seed", None)
    return WiringStats(
        name=name,
        seed=seed,
        sparsity_level=float(wiring.sparsity_level),
        neurons={group: int(getattr(counts, group)) for group in GROUPS},
        layers=layers,
        totals=Totals(
            synapses=synapses,
            possible=possible,
            density=round(synapses / possible, DIGITS),
            excitatory=sum(layer.excitatory for layer in layers),
            inhibitory=sum(layer.inhibitory for layer in layers),
        ),
        total_params=None if network is None else int(network.total_params),
        active_params=None if network is None else int(network.active_params),
        wiring=wiring.design.to_dict(),
    )


def network_stats(network, *, name: str = "network") -> WiringStats:
    """Statistics of a ``LiquidNCPNetwork``: its wiring plus its parameter counts."""
    return wiring_stats(network.wiring, name=name, network=network)


@dataclass(frozen=True)
class Synapse:
    """One synapse and its learned strength (``velora.models.lnn.synapses``)."""

    layer: str  # "sensory->inter" | "inter->command" | "command->motor"
    source: int  # index within the source group (row of the mask)
    target: int  # index within the target group (column of the mask)
    polarity: int  # +1 excitatory or -1 inhibitory
    strength: float  # sqrt(sum over the five heads of W[target, source]^2)

    def to_dict(self) -> dict:
        """Plain data for ``--json``; the strength to 6 significant digits (strengths of big
        networks are small, so a fixed number of decimals would lose them)."""
        return {
            "layer": self.layer,
            "source": self.source,
            "target": self.target,
            "polarity": self.polarity,
            "strength": float(f"{self.strength:.{DIGITS}g}"),
        }


def synapse_strengths(network) -> list[Synapse]:
    """Every synapse of a ``LiquidNCPNetwork`` with its strength, in layer order
    (sensory->inter, inter->command, command->motor), then by (source, target)."""
    from velora.models.lnn.synapses import strength_matrices

    strengths = strength_matrices(network)
    masks = layer_masks_numpy(network.wiring)
    synapses: list[Synapse] = []
    for name, _, _, attr in LAYERS:
        mask, strength = masks[name], strengths[attr]
        sources, targets = np.nonzero(mask)  # row-major: by source, then target
        synapses.extend(
            Synapse(name, int(i), int(j), int(p), float(s))
            for i, j, p, s in zip(
                sources.tolist(),
                targets.tolist(),
                mask[sources, targets].tolist(),
                strength[sources, targets].tolist(),
                strict=True,
            )
        )
    return synapses
