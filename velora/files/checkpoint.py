"""velora checkpoints of networks: save a ``LiquidNCPNetwork`` with its spec, load it back,
verify it and summarise it (what ``velora inspect`` shows).

The file format itself (tensors, metadata, checksum, every check on reading) lives in
``velora.files.checkpoint_file``; this module turns its contents into a network and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from velora.files import export_c
from velora.files.checkpoint_file import (
    EXTRA_PREFIX,
    FORMAT_NAME,
    FORMAT_VERSION,
    MASK_NAMES,
    Metadata,
    encode_tensors,
    read_checkpoint,
    serialize,
    tensor_digest,
    write_checkpoint,
)
from velora.files.sources import source_name
from velora.models import LiquidNCPNetwork
from velora.spec import Spec, dump_spec

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
        if self.computed_metadata_sha256 is None:
            return None
        return self.computed_metadata_sha256 == self.metadata.metadata_sha256


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


@dataclass(frozen=True)
class Verification:
    """What ``verify`` found: each check passed or not, with the figures behind it."""

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


def verify(checkpoint: Checkpoint) -> Verification:
    """Check a loaded checkpoint beyond its structure.

    - checksum: the tensors hash to the stored SHA-256, and the metadata (spec, seed, format
      fields) to its own digest where the file has one;
    - masks: every cell's mask buffer is |mask|ᵀ of the stored wiring plus the recurrent block,
      and every weight's shape follows from it;
    - inert: randomising every weight outside the masks leaves one step's outputs bit-identical.
    """
    model = checkpoint.model
    masks = model.wiring.masks
    masks_ok = True
    n_checked = 0
    n_outside = 0
    for cell, (_, mask) in zip(model.cells(), masks.items(), strict=True):
        n_in, n_hidden = mask.shape
        expected = _input_mask(mask).to(cell.sparsity_mask.device)
        masks_ok &= bool(torch.equal(cell.sparsity_mask, expected))
        for head in cell.heads():
            masks_ok &= tuple(head.weight.shape) == (n_hidden, n_in + n_hidden)
            masks_ok &= tuple(head.bias.shape) == (n_hidden,)
            n_checked += 2
            if masks_ok:
                n_outside += int(((head.weight != 0) & (expected == 0)).sum())
    return Verification(
        stored_sha256=checkpoint.metadata.sha256,
        computed_sha256=checkpoint.computed_sha256,
        masks_match_weights=masks_ok,
        n_tensors_checked=n_checked,
        inert_outside_masks=_inert(model),
        n_stored_outside_masks=n_outside,
        metadata_checksum=checkpoint.metadata_checksum_ok,
    )


def _input_mask(mask: torch.Tensor) -> torch.Tensor:
    """Which inputs of a cell's heads a wiring mask connects: |mask|ᵀ, then the recurrent block."""
    n_hidden = mask.shape[1]
    return torch.cat([mask.abs().T.to(torch.float32), torch.ones(n_hidden, n_hidden)], dim=1)


def _inert(model: LiquidNCPNetwork) -> bool:
    """Whether weights outside the wiring masks have no effect: randomise them, compare one step."""
    generator = torch.Generator().manual_seed(0)
    device = model.device
    x = torch.randn(8, model.in_features, generator=generator).to(device)
    h = torch.rand(8, model.n_units, generator=generator).mul(2).sub(1).to(device)
    probe = LiquidNCPNetwork(
        model.in_features, model.n_neurons, model.out_features, wiring=model.wiring, seed=0
    ).to(device)
    probe.load_state_dict(model.state_dict())
    with torch.no_grad():
        masks = model.wiring.masks
        for cell, (_, mask) in zip(probe.cells(), masks.items(), strict=True):
            outside = _input_mask(mask).to(device) == 0
            for head in cell.heads():
                noise = torch.randn(head.weight.shape, generator=generator).to(device) * 1e3
                head.weight.copy_(torch.where(outside, noise, head.weight))
        y, h_next = model(x, h)
        y_probe, h_probe = probe(x, h)
    return bool(torch.equal(y, y_probe) and torch.equal(h_next, h_probe))


def summary(checkpoint: Checkpoint, verification: Verification | None = None) -> dict:
    """Everything ``velora inspect`` shows, as plain JSON-ready data (keys are stable)."""
    model = checkpoint.model
    verification = verify(checkpoint) if verification is None else verification
    meta = checkpoint.metadata
    counts = model.wiring.counts
    c_float = export_c.footprint(model)
    c_int8 = export_c.footprint(model, "int8")
    layers = []
    for cell, (name, mask) in zip(model.cells(), model.wiring.masks.items(), strict=True):
        live = int(cell.sparsity_mask.count_nonzero())
        n_heads = len(cell.heads())
        layers.append(
            {
                "layer": name,
                "inputs": cell.in_features,
                "neurons": cell.n_hidden,
                "synapses": int(mask.count_nonzero()),
                "weight_shape": [cell.n_hidden, cell.in_features + cell.n_hidden],
                "total_params": sum(p.numel() for p in cell.parameters()),
                "active_params": n_heads * (live + cell.n_hidden),
            }
        )
    return {
        "file": source_name(checkpoint.path),
        "bytes": checkpoint.n_bytes,
        "metadata": {
            "format": FORMAT_NAME,
            "format_version": meta.format_version,
            "velora_version": meta.velora_version,
            "created": meta.created,
            "seed": meta.seed,
            "sha256": meta.sha256,
            "pruned_from": None if meta.pruned_from is None else meta.pruned_from.to_dict(),
        },
        "spec": dump_spec(checkpoint.spec),
        "spec_stored": meta.spec_yaml is not None,
        "neurons": {
            "sensory": counts.sensory,
            "inter": counts.inter,
            "command": counts.command,
            "motor": counts.motor,
            "units": model.n_units,
        },
        "parameters": {
            "layers": layers,
            "total": model.total_params,
            "active": model.active_params,
        },
        "extra_tensors": sorted(checkpoint.extra),
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
