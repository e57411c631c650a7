"""What ``velora inspect`` shows about a checkpoint, from its numpy arrays, without torch: the
metadata, spec, neuron counts, parameters, the C export's footprint, and the checks (checksums,
masks against the weights' shapes, weights outside the masks inert).

``inspect_checkpoint`` reads a file and returns all of it. ``velora.files.checkpoint``'s
``verify`` and ``summary`` hand a loaded torch network over to ``verify_network`` and
``summarize`` here, with its module's own masks and masked weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from velora.errors import CheckpointError
from velora.files.c_footprint import wiring_footprint
from velora.files.checkpoint_file import (
    CHECKSUM_MISMATCH,
    FORMAT_NAME,
    METADATA_CHECKSUM_MISMATCH,
    Metadata,
    metadata_checksum_ok,
    read_checkpoint,
)
from velora.files.sources import source_name
from velora.models.arrays import NetworkArrays
from velora.models.layout import (
    HEAD_NAMES,
    active_by_layer,
    active_parameters,
    input_mask,
    parameter_shapes,
    total_by_layer,
    total_parameters,
)
from velora.spec import Spec, dump_spec
from velora.wiring import Wiring, layer_sizes

# The weights a network computes with, given its parameters (as arrays, in any fixed order):
# what the inert check compares with and without noise outside the masks.
MaskedWeights = Callable[[dict[str, np.ndarray]], list[np.ndarray]]
# The noise the inert check puts outside the masks: seeded, and far larger than any weight.
NOISE_SEED = 0
NOISE_SCALE = 1e3
VERIFICATION_FAILED = "verification failed (see above)"


@dataclass(frozen=True)
class Verification:
    """What ``verify_network`` found: each check passed or not, with the figures behind it."""

    stored_sha256: str
    computed_sha256: str
    masks_match_weights: bool
    n_tensors_checked: int
    inert_outside_masks: bool
    n_stored_outside_masks: int
    metadata_checksum: bool | None = None  # None: the metadata is not covered (velora 0.1)

    @property
    def checksum_ok(self) -> bool:
        return self.stored_sha256 == self.computed_sha256

    @property
    def ok(self) -> bool:
        return (
            self.checksum_ok
            and self.metadata_checksum is not False
            and self.masks_match_weights
            and self.inert_outside_masks
        )


def outside_masks(mask: np.ndarray) -> np.ndarray:
    """Where the head weights (neurons, inputs + neurons) of a layer with the wiring ``mask``
    (inputs, neurons) have no synapse: True at the inputs it leaves unconnected; every neuron
    sees the layer's whole state, so the recurrent block is all inside."""
    return input_mask(mask) == 0


def _shape(parameters: dict[str, np.ndarray], name: str) -> tuple[int, ...] | None:
    array = parameters.get(name)
    return None if array is None else tuple(array.shape)


def arrays_weights(network: NetworkArrays) -> MaskedWeights:
    """The masked weights ``NetworkArrays`` runs on (``kernel_weights``) for given parameters
    around ``network``'s wiring."""

    def masked(parameters: dict[str, np.ndarray]) -> list[np.ndarray]:
        return NetworkArrays.from_checkpoint(
            network.wiring, parameters, network.seed
        ).kernel_weights()

    return masked


def inert_outside_masks(
    network: NetworkArrays, masked_weights: MaskedWeights | None = None
) -> bool:
    """Whether the weights outside the masks have no effect: with seeded noise put in their
    place, the weights the network computes with (``masked_weights``, by default those of
    ``NetworkArrays``) are equal, so every input gives the same outputs."""
    masked_weights = arrays_weights(network) if masked_weights is None else masked_weights
    parameters = network.parameters
    rng = np.random.default_rng(NOISE_SEED)
    noisy = dict(parameters)
    for layer, mask in network.wiring.arrays.items():
        outside = outside_masks(mask)
        n_outside = int(np.count_nonzero(outside))
        for head in HEAD_NAMES:
            name = f"layers.{layer}.{head}.weight"
            weight = parameters[name].copy()
            weight[outside] = rng.standard_normal(n_outside, dtype=np.float32) * NOISE_SCALE
            noisy[name] = weight
    clean, probe = masked_weights(parameters), masked_weights(noisy)
    return len(clean) == len(probe) and all(
        np.array_equal(a, b) for a, b in zip(clean, probe, strict=True)
    )


def verify_network(
    network: NetworkArrays,
    *,
    stored_sha256: str,
    computed_sha256: str,
    metadata_checksum: bool | None,
    applied_masks: Sequence[np.ndarray] | None = None,
    masked_weights: MaskedWeights | None = None,
) -> Verification:
    """Check a checkpoint's network beyond its structure, with the file's digests.

    - checksum: ``computed_sha256`` of the tensors against the stored one; ``metadata_checksum``
      as ``velora.files.checkpoint_file.metadata_checksum_ok`` says;
    - masks: every weight and bias has the shape the wiring gives, and each layer's
      ``applied_masks`` (what a module multiplies its weights by; None: the network's masks
      follow from its wiring) are the wiring's, ones on the recurrent block;
    - inert: ``inert_outside_masks``, and the non-zero weights stored outside the masks counted.
    """
    parameters = network.parameters
    shapes = parameter_shapes(network.wiring)
    masks_ok = True
    shapes_ok = True
    n_checked = 0
    n_outside = 0
    for k, (layer, mask) in enumerate(network.wiring.arrays.items()):
        outside = outside_masks(mask)
        if applied_masks is not None:
            masks_ok &= bool(np.array_equal(applied_masks[k], ~outside))
        for head in HEAD_NAMES:
            names = [f"layers.{layer}.{head}.{kind}" for kind in ("weight", "bias")]
            shapes_ok &= all(_shape(parameters, name) == shapes[name] for name in names)
            masks_ok &= shapes_ok
            n_checked += len(names)
            if masks_ok:
                weight = parameters[names[0]]
                n_outside += int(np.count_nonzero((weight != 0) & outside))
    return Verification(
        stored_sha256=stored_sha256,
        computed_sha256=computed_sha256,
        masks_match_weights=masks_ok,
        n_tensors_checked=n_checked,
        inert_outside_masks=shapes_ok and inert_outside_masks(network, masked_weights),
        n_stored_outside_masks=n_outside,
        metadata_checksum=metadata_checksum,
    )


def summarize(
    *,
    path: Path,
    n_bytes: int,
    metadata: Metadata,
    spec: Spec,
    wiring: Wiring,
    extra_names: Iterable[str],
    verification: Verification,
) -> dict:
    """Everything ``velora inspect`` shows, as plain JSON-ready data (keys are stable); every
    figure of the network follows from its ``wiring``."""
    counts = wiring.counts
    c_float = wiring_footprint(wiring)
    c_int8 = wiring_footprint(wiring, "int8")
    shapes = parameter_shapes(wiring)
    total, active = total_by_layer(wiring), active_by_layer(wiring)
    layers = []
    for (layer, mask), (n_in, n) in zip(wiring.arrays.items(), layer_sizes(counts), strict=True):
        layers.append(
            {
                "layer": layer,
                "inputs": n_in,
                "neurons": n,
                "synapses": int(np.count_nonzero(mask)),
                "weight_shape": list(shapes[f"layers.{layer}.{HEAD_NAMES[0]}.weight"]),
                "total_params": total[layer],
                "active_params": active[layer],
            }
        )
    return {
        "file": source_name(path),
        "bytes": n_bytes,
        "metadata": {
            "format": FORMAT_NAME,
            "format_version": metadata.format_version,
            "velora_version": metadata.velora_version,
            "created": metadata.created,
            "seed": metadata.seed,
            "sha256": metadata.sha256,
            "pruned_from": None if metadata.pruned_from is None else metadata.pruned_from.to_dict(),
        },
        "spec": dump_spec(spec),
        "spec_stored": metadata.spec_yaml is not None,
        "neurons": {
            "sensory": counts.sensory,
            "inter": counts.inter,
            "command": counts.command,
            "motor": counts.motor,
            "units": counts.units,
        },
        "parameters": {
            "layers": layers,
            "total": total_parameters(wiring),
            "active": active_parameters(wiring),
        },
        "extra_tensors": sorted(extra_names),
        "c_export": {
            "flash_bytes": c_float.flash_bytes,
            "ram_bytes": c_float.ram_bytes,
            "state_bytes": c_float.state_bytes,
            "scratch_bytes": c_float.scratch_bytes,
            "flash_bytes_int8": c_int8.flash_bytes,
        },
        "verification": {
            "ok": verification.ok,
            "checksum": verification.checksum_ok,
            "computed_sha256": verification.computed_sha256,
            "metadata_checksum": verification.metadata_checksum,
            "masks_match_weights": verification.masks_match_weights,
            "tensors_checked": verification.n_tensors_checked,
            "inert_outside_masks": verification.inert_outside_masks,
            "stored_outside_masks": verification.n_stored_outside_masks,
        },
    }


@dataclass(frozen=True)
class Inspection:
    """What ``inspect_checkpoint`` found: ``info``, everything ``velora inspect`` shows (as
    ``summarize`` gives it), and the ``verification`` behind it."""

    path: Path
    info: dict
    verification: Verification

    @property
    def problem(self) -> str | None:
        """Why the file is refused, else None: a checksum mismatch first, as reading says it."""
        if not self.verification.checksum_ok:
            return CHECKSUM_MISMATCH
        if self.verification.metadata_checksum is False:
            return METADATA_CHECKSUM_MISMATCH
        if not self.verification.ok:
            return VERIFICATION_FAILED
        return None

    def check(self) -> None:
        """Raise the ``CheckpointError`` that refuses a file failing verification (after it
        has been shown); return for a file that passes."""
        if self.problem is not None:
            raise CheckpointError(f"{self.path}: {self.problem}")


def inspect_checkpoint(path: str | Path) -> Inspection:
    """Read, verify and summarise a checkpoint as numpy arrays, without torch: what
    ``velora inspect`` shows. A file that cannot be read raises ``CheckpointError``; one that
    reads but fails verification (a checksum mismatch included) is returned, to be shown, and
    ``Inspection.check`` refuses it."""
    path = Path(path)
    stored = read_checkpoint(path, parameter_shapes, verify_checksum=False)
    network = NetworkArrays.from_checkpoint(stored.wiring, stored.parameters, stored.metadata.seed)
    verification = verify_network(
        network,
        stored_sha256=stored.metadata.sha256,
        computed_sha256=stored.computed_sha256,
        metadata_checksum=metadata_checksum_ok(stored.metadata, stored.computed_metadata_sha256),
    )
    info = summarize(
        path=stored.path,
        n_bytes=stored.n_bytes,
        metadata=stored.metadata,
        spec=stored.spec,
        wiring=stored.wiring,
        extra_names=stored.extra,
        verification=verification,
    )
    return Inspection(path, info, verification)
