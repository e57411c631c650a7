"""NCP wiring: random sparse polarity masks for the sensory -> inter -> command -> motor layers.

A ``Wiring`` only holds integer masks; the cells in ``velora.models`` turn them into weights.
This module also owns the rules every other part of velora follows: how ``n_neurons`` splits
into inter and command neurons, how many synapses a source draws, and the sparsity range. Its
top level imports no torch, so that the spec can apply the same rules without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

MIN_SPARSITY = 0.1
MAX_SPARSITY = 0.9
DEFAULT_SPARSITY = 0.5
# Command neurons are 2/5 (40%) of n_neurons, at least one; integer arithmetic, exact at any size.
COMMAND_NUMERATOR, COMMAND_DENOMINATOR = 2, 5
LAYER_NAMES = ("inter", "command", "motor")  # the three masks, by the group they feed
GROUPS = ("sensory", "inter", "command", "motor")


def check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` if it is an integer (not a bool) >= ``minimum``, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


@dataclass(frozen=True)
class NeuronCounts:
    """Number of neurons in each NCP group."""

    sensory: int
    inter: int
    command: int
    motor: int

    @property
    def units(self) -> int:
        """Hidden state size: inter + command + motor."""
        return self.inter + self.command + self.motor


@dataclass(frozen=True)
class SynapseCounts:
    """Synapses drawn per source neuron of each group (``motor`` is a command->motor fan-in)."""

    sensory: int
    inter: int
    command: int
    motor: int


@dataclass(frozen=True)
class LayerMasks:
    """Signed int32 masks of shape (sources, targets): +1 excitatory, -1 inhibitory, 0 none."""

    inter: torch.Tensor
    command: torch.Tensor
    motor: torch.Tensor

    def items(self) -> list[tuple[str, torch.Tensor]]:
        """(layer name, mask) in order: inter, command, motor."""
        return [(name, getattr(self, name)) for name in LAYER_NAMES]


def neuron_counts(in_features: int, n_neurons: int, out_features: int) -> NeuronCounts:
    """Split ``n_neurons`` into inter and command neurons (40% command, at least one)."""
    n_command = max(n_neurons * COMMAND_NUMERATOR // COMMAND_DENOMINATOR, 1)
    return NeuronCounts(in_features, n_neurons - n_command, n_command, out_features)


def layer_sizes(counts: NeuronCounts) -> list[tuple[int, int]]:
    """(inputs, neurons) of the inter, command and motor cells."""
    return [
        (counts.sensory, counts.inter),
        (counts.inter, counts.command),
        (counts.command, counts.motor),
    ]


def synapse_counts(counts: NeuronCounts, sparsity_level: float) -> SynapseCounts:
    """Synapses per source neuron for a given sparsity level (density = 1 - sparsity)."""
    density = 1.0 - sparsity_level
    return SynapseCounts(
        sensory=max(int(counts.inter * density), 1),
        inter=max(int(counts.command * density), 1),
        command=max(int(counts.command * density * 2), 1),
        motor=max(int(counts.command * density), 1),
    )


def sparsity_problem(sparsity_level: object) -> str | None:
    """What is wrong with a sparsity level, in words, or None when it lies in [0.1, 0.9]."""
    if isinstance(sparsity_level, bool) or not isinstance(
        sparsity_level, int | float | np.floating | np.integer
    ):
        return f"must be a number in [{MIN_SPARSITY}, {MAX_SPARSITY}], got {sparsity_level!r}"
    value = float(sparsity_level)
    if not MIN_SPARSITY <= value <= MAX_SPARSITY:  # also False for NaN
        return f"must be in [{MIN_SPARSITY}, {MAX_SPARSITY}], got {sparsity_level}"
    return None


def check_sparsity(sparsity_level: object) -> float:
    """Return ``sparsity_level`` as a float if it lies in [0.1, 0.9], else raise ValueError."""
    problem = sparsity_problem(sparsity_level)
    if problem is not None:
        raise ValueError(f"sparsity_level {problem}")
    return float(sparsity_level)  # type: ignore[arg-type]


def _connect(
    n_sources: int, n_targets: int, per_source: int, generator: torch.Generator | None
) -> torch.Tensor:
    """Draw ``per_source`` targets (with replacement) per source, then feed every orphan target."""
    import torch

    targets = torch.randint(n_targets, (n_sources, per_source), generator=generator).numpy()
    signs = (torch.randint(2, (n_sources, per_source), generator=generator) * 2 - 1).numpy()
    mask = np.zeros((n_sources, n_targets), dtype=np.int32)
    sources = np.repeat(np.arange(n_sources), per_source)
    flat = sources * n_targets + targets.ravel()
    # A target drawn twice by one source keeps the polarity of its first draw.
    _, first = np.unique(flat, return_index=True)
    mask.ravel()[flat[first]] = signs.ravel()[first]

    orphans = np.flatnonzero(~mask.any(axis=0))
    if orphans.size:
        picks = torch.randint(n_sources, (orphans.size,), generator=generator).numpy()
        orphan_signs = (torch.randint(2, (orphans.size,), generator=generator) * 2 - 1).numpy()
        mask[picks, orphans] = orphan_signs
    return torch.from_numpy(mask)


class Wiring:
    """Random NCP wiring with a given sparsity; ``seed`` makes it reproducible.

    With ``seed=None`` the masks come from torch's global generator (see ``velora.set_seed``);
    with a seed they come from a private generator and global random state is left untouched.
    """

    def __init__(
        self,
        in_features: int,
        n_neurons: int,
        out_features: int,
        *,
        sparsity_level: float = DEFAULT_SPARSITY,
        seed: int | None = None,
    ) -> None:
        import torch

        self.in_features = check_int("in_features", in_features, 1)
        self.n_neurons = check_int("n_neurons", n_neurons, 2)
        self.out_features = check_int("out_features", out_features, 1)
        self.sparsity_level = check_sparsity(sparsity_level)
        if seed is not None:
            seed = check_int("seed", seed, 0)
        self.seed = seed

        self.counts = neuron_counts(self.in_features, self.n_neurons, self.out_features)
        self._n_connections = synapse_counts(self.counts, self.sparsity_level)

        generator = None if seed is None else torch.Generator().manual_seed(seed)
        c, n = self.counts, self._n_connections
        self.masks = LayerMasks(
            inter=_connect(c.sensory, c.inter, n.sensory, generator),
            command=_connect(c.inter, c.command, n.inter, generator),
            motor=_connect(c.command, c.motor, n.command, generator),
        )

    @classmethod
    def from_masks(cls, masks: LayerMasks, *, sparsity_level: float = DEFAULT_SPARSITY) -> Wiring:
        """Rebuild a wiring from stored masks (e.g. from a checkpoint), checking their shapes."""
        import torch

        inter, command, motor = (torch.as_tensor(m) for _, m in masks.items())
        for name, mask in (("inter", inter), ("command", command), ("motor", motor)):
            if mask.dim() != 2 or not bool(((mask >= -1) & (mask <= 1)).all()):
                raise ValueError(f"mask {name!r} must be a 2-D tensor of -1, 0 and +1")
        if inter.shape[1] != command.shape[0] or command.shape[1] != motor.shape[0]:
            raise ValueError(
                "mask shapes do not chain: inter "
                f"{tuple(inter.shape)}, command {tuple(command.shape)}, motor {tuple(motor.shape)}"
            )
        self = cls.__new__(cls)
        self.in_features = int(inter.shape[0])
        self.n_neurons = int(inter.shape[1] + command.shape[1])
        self.out_features = int(motor.shape[1])
        self.sparsity_level = check_sparsity(sparsity_level)
        self.seed = None
        self.counts = NeuronCounts(
            self.in_features, int(inter.shape[1]), int(command.shape[1]), self.out_features
        )
        self._n_connections = synapse_counts(self.counts, self.sparsity_level)
        self.masks = LayerMasks(
            inter.to(torch.int32), command.to(torch.int32), motor.to(torch.int32)
        )
        return self

    def data(self) -> tuple[LayerMasks, NeuronCounts]:
        """The three layer masks and the neuron counts."""
        return self.masks, self.counts

    @property
    def n_connections(self) -> SynapseCounts:
        """Synapses drawn per source neuron of each group."""
        return self._n_connections

    def __repr__(self) -> str:
        c = self.counts
        return (
            f"Wiring(sensory={c.sensory}, inter={c.inter}, command={c.command}, "
            f"motor={c.motor}, sparsity_level={self.sparsity_level}, seed={self.seed})"
        )
