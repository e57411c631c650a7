"""velora checkpoints of networks: save a ``LiquidNCPNetwork`` with its spec, load it back,
verify it and summarise it (what ``velora inspect`` shows).

The file format itself (tensors, metadata, checksum, every check on reading) lives in
``velora.files.checkpoint_file``; this module turns its contents into a network and back. The
checks and the summary are those of ``velora.files.inspection``, on the network's arrays.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from velora.files.checkpoint_file import (
    EXTRA_PREFIX,
    FORMAT_NAME,
    FORMAT_VERSION,
    MASK_NAMES,
    Metadata,
    encode_tensors,
    metadata_checksum_ok,
    read_checkpoint,
    serialize,
    tensor_digest,
    write_checkpoint,
)
from velora.files.inspection import Verification, summarize, verify_network
from velora.models import LiquidNCPNetwork
from velora.models.arrays import NetworkArrays, parameter_arrays
from velora.spec import Spec

__all__ = [
    "EXTRA_PREFIX",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MASK_NAMES",
    "Checkpoint",
    "Metadata",
    "Verification",
    "encode",
    "load",
    "load_checkpoint",
    "parameter_names",
    "save",
    "serialize",
    "spec_for",
    "summary",
    "tensor_digest",
    "to_tensors",
    "verify",
]


@dataclass
class Checkpoint:
    """A loaded checkpoint: the network, its spec, metadata and any extra tensors."""

    path: Path
    model: LiquidNCPNetwork
    spec: Spec
    metadata: Metadata
    computed_sha256: str
    n_bytes: int
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    computed_metadata_sha256: str | None = None  # None: the file's metadata has no digest

    @property
    def checksum_ok(self) -> bool:
        """Whether the tensors hash to the SHA-256 stored in the metadata."""
        return self.computed_sha256 == self.metadata.sha256

    @property
    def metadata_checksum_ok(self) -> bool | None:
        """Whether the metadata hashes to its stored digest; None when the file has none
        (files of velora 0.1: their spec and seed are not covered by a checksum)."""
        return metadata_checksum_ok(self.metadata, self.computed_metadata_sha256)


def parameter_names() -> list[str]:
    """Names of the 30 parameter tensors a checkpoint holds, in a fixed order."""
    return LiquidNCPNetwork.parameter_names()


def spec_for(model: LiquidNCPNetwork) -> Spec:
    """A spec made from a network's sizes, for networks saved without one."""
    return model.to_spec()


def to_tensors(model: LiquidNCPNetwork) -> dict[str, torch.Tensor]:
    """The tensors a checkpoint stores for ``model`` (``LiquidNCPNetwork.to_tensors``)."""
    return model.to_tensors()


def _checked_spec(model: LiquidNCPNetwork, spec: Spec | None) -> Spec:
    spec = model.to_spec() if spec is None else spec
    n = spec.network
    if (n.in_features, n.n_neurons, n.out_features) != (
        model.in_features,
        model.n_neurons,
        model.out_features,
    ):
        raise ValueError(
            f"spec network ({n.in_features}, {n.n_neurons}, {n.out_features}) does not match "
            f"the model ({model.in_features}, {model.n_neurons}, {model.out_features})"
        )
    return spec


def encode(
    model: LiquidNCPNetwork,
    spec: Spec | None = None,
    *,
    extra: dict[str, torch.Tensor] | None = None,
) -> bytes:
    """The checkpoint file's bytes for ``model`` (see ``save``)."""
    spec = _checked_spec(model, spec)
    seed = spec.seed if spec.seed is not None else model.seed
    return encode_tensors(model.to_tensors(), spec, seed=seed, extra=extra)


def save(
    model: LiquidNCPNetwork,
    path: str | Path,
    spec: Spec | None = None,
    *,
    extra: dict[str, torch.Tensor] | None = None,
    force: bool = True,
) -> Path:
    """Write ``model`` (and ``spec``, else one made from its sizes) as a checkpoint at ``path``.

    The write is atomic. Like ``torch.save`` it replaces an existing file unless ``force=False``.
    ``extra`` tensors (e.g. optimizer state) are stored under ``extra.<name>``.
    """
    spec = _checked_spec(model, spec)
    seed = spec.seed if spec.seed is not None else model.seed
    return write_checkpoint(path, model.to_tensors(), spec, seed=seed, extra=extra, force=force)


def load_checkpoint(
    path: str | Path, *, device: torch.device | str | None = None, verify_checksum: bool = True
) -> Checkpoint:
    """Read, check and rebuild a checkpoint; every problem raises one ``CheckpointError``.

    With ``verify_checksum=False`` a checksum mismatch is only recorded (``checksum_ok``), which
    lets ``velora inspect`` show a tampered file before refusing it.
    """
    stored = read_checkpoint(
        path, LiquidNCPNetwork.parameter_shapes, verify_checksum=verify_checksum
    )
    model = LiquidNCPNetwork.from_tensors(
        stored.wiring, stored.parameters, seed=stored.metadata.seed, device=device
    )
    return Checkpoint(
        stored.path,
        model,
        stored.spec,
        stored.metadata,
        stored.computed_sha256,
        stored.n_bytes,
        {name: torch.from_numpy(array) for name, array in stored.extra.items()},
        stored.computed_metadata_sha256,
    )


def load(
    path: str | Path, device: torch.device | str | None = None
) -> tuple[LiquidNCPNetwork, Spec]:
    """Return ``(model, spec)`` from a checkpoint written by ``save``."""
    checkpoint = load_checkpoint(path, device=device)
    return checkpoint.model, checkpoint.spec


def _arrays(model: LiquidNCPNetwork) -> NetworkArrays:
    """The network's wiring and parameters as numpy arrays (shared with it on the CPU)."""
    return NetworkArrays.from_checkpoint(model.wiring, parameter_arrays(model), model.seed)


def _module_weights(model: LiquidNCPNetwork, parameters: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The masked, fused weights and biases the cells of ``model`` compute with when they hold
    ``parameters``: a copy of the module (its mask buffers as they are) computes them."""
    probe = copy.deepcopy(model)
    with torch.no_grad():
        own = dict(probe.named_parameters())
        for name, array in parameters.items():
            own[name].copy_(torch.from_numpy(array))
        return [t.cpu().numpy() for cell in probe.cells() for t in cell.fused()]


def verify(checkpoint: Checkpoint) -> Verification:
    """Check a loaded checkpoint beyond its structure (``velora.files.inspection.verify_network``
    on its network's arrays, with the module's own mask buffers and masked weights).

    - checksum: the tensors hash to the stored SHA-256, and the metadata (spec, seed, format
      fields) to its own digest where the file has one;
    - masks: every cell's mask buffer is |mask|ᵀ of the stored wiring plus the recurrent block,
      and every weight's shape follows from it;
    - inert: randomising every weight outside the masks leaves the weights the cells compute
      with, and so every output, unchanged.
    """
    model = checkpoint.model
    return verify_network(
        _arrays(model),
        stored_sha256=checkpoint.metadata.sha256,
        computed_sha256=checkpoint.computed_sha256,
        metadata_checksum=checkpoint.metadata_checksum_ok,
        applied_masks=[cell.sparsity_mask.detach().cpu().numpy() for cell in model.cells()],
        masked_weights=lambda parameters: _module_weights(model, parameters),
    )


def summary(checkpoint: Checkpoint, verification: Verification | None = None) -> dict:
    """Everything ``velora inspect`` shows, as plain JSON-ready data (keys are stable): that of
    ``velora.files.inspection.summarize`` for the network's wiring."""
    verification = verify(checkpoint) if verification is None else verification
    return summarize(
        path=checkpoint.path,
        n_bytes=checkpoint.n_bytes,
        metadata=checkpoint.metadata,
        spec=checkpoint.spec,
        wiring=checkpoint.model.wiring,
        extra_names=checkpoint.extra,
        verification=verification,
    )
