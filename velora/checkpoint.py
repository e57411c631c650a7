"""velora checkpoints: one safetensors file with the weights, the wiring and the spec.

Nothing is ever unpickled. The file holds every parameter (``layers.<layer>.<head>.weight`` and
``.bias``) and the three signed int32 wiring masks (``wiring.inter``, ``wiring.command``,
``wiring.motor``), plus optional ``extra.*`` tensors. Its string metadata holds the format name and
version, the velora version, the spec as YAML, the seed, the creation time and a SHA-256 over the
tensors (see ``tensor_digest``). Loading checks all of it and raises ``CheckpointError`` with one
line naming the file and the problem.
"""

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import safetensors.torch
import torch

from velora import __version__
from velora.errors import CheckpointError, SpecError
from velora.io import atomic_write
from velora.loading import sniff
from velora.models.lnn.cell import HEAD_NAMES
from velora.models.lnn.ncp import LAYER_NAMES, LiquidNCPNetwork
from velora.spec import NetworkSpec, Spec, dump_spec, parse_spec
from velora.wiring import LayerMasks, Wiring

FORMAT_NAME = "velora.checkpoint"
FORMAT_VERSION = 1
EXTRA_PREFIX = "extra."
MASK_NAMES = tuple(f"wiring.{layer}" for layer in LAYER_NAMES)
# Tensor dtypes by their safetensors names, which the digest uses so that it is not torch-bound.
_DTYPE_CODES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


@dataclass(frozen=True)
class Metadata:
    """What a checkpoint says about itself (its safetensors ``__metadata__``)."""

    format_version: int
    velora_version: str
    created: str
    seed: int | None
    sha256: str
    spec_yaml: str | None

    def to_strings(self) -> dict[str, str]:
        """The metadata as safetensors stores it: strings only."""
        out = {
            "format": FORMAT_NAME,
            "format_version": str(self.format_version),
            "velora_version": self.velora_version,
            "created": self.created,
            "seed": "none" if self.seed is None else str(self.seed),
            "sha256": self.sha256,
        }
        if self.spec_yaml is not None:
            out["spec"] = self.spec_yaml
        return out


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

    @property
    def checksum_ok(self) -> bool:
        """Whether the tensors hash to the SHA-256 stored in the metadata."""
        return self.computed_sha256 == self.metadata.sha256


def parameter_names() -> list[str]:
    """Names of the 30 parameter tensors a checkpoint must hold, in a fixed order."""
    return [
        f"layers.{layer}.{head}.{kind}"
        for layer in LAYER_NAMES
        for head in HEAD_NAMES
        for kind in ("weight", "bias")
    ]


def tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the tensors, independent of the file layout.

    For each tensor in sorted name order: ``name NUL dtype NUL shape NUL`` (dtype as safetensors
    names it, e.g. ``F32``; shape as comma-separated sizes) followed by its little-endian bytes.
    """
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        code = _DTYPE_CODES.get(tensor.dtype, str(tensor.dtype))
        shape = ",".join(str(s) for s in tensor.shape)
        digest.update(f"{name}\0{code}\0{shape}\0".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def spec_for(model: LiquidNCPNetwork) -> Spec:
    """A spec synthesised from a network's sizes, for networks saved without one."""
    return Spec(
        network=NetworkSpec(
            model.in_features,
            model.n_neurons,
            model.out_features,
            model.wiring.sparsity_level,
        ),
        seed=model.seed,
    )


def _created() -> str:
    """UTC creation time; ``SOURCE_DATE_EPOCH`` pins it for reproducible files."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def to_tensors(model: LiquidNCPNetwork) -> dict[str, torch.Tensor]:
    """The tensors a checkpoint stores for ``model``: parameters and signed masks, on the CPU.

    They share memory with the model where they can (no copy); clone them to keep them.
    """
    params = dict(model.named_parameters())
    tensors = {
        name: params[name].detach().to("cpu", torch.float32).contiguous()
        for name in parameter_names()
    }
    masks = model.wiring.masks
    for name, mask in zip(MASK_NAMES, (masks.inter, masks.command, masks.motor), strict=True):
        tensors[name] = mask.detach().to("cpu", torch.int32).contiguous()
    return tensors


def encode(
    model: LiquidNCPNetwork,
    spec: Spec | None = None,
    *,
    extra: dict[str, torch.Tensor] | None = None,
) -> bytes:
    """The checkpoint file's bytes for ``model`` (see ``save``)."""
    spec = spec_for(model) if spec is None else spec
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
    tensors = to_tensors(model)
    for name, tensor in (extra or {}).items():
        tensors[EXTRA_PREFIX + name] = tensor.detach().cpu().contiguous()
    seed = spec.seed if spec.seed is not None else model.seed
    metadata = Metadata(
        format_version=FORMAT_VERSION,
        velora_version=__version__,
        created=_created(),
        seed=seed,
        sha256=tensor_digest(tensors),
        spec_yaml=dump_spec(spec),
    )
    return serialize(tensors, metadata.to_strings())


def serialize(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """safetensors bytes with a fixed layout, so equal inputs give byte-identical files.

    (``safetensors.torch.save`` orders the metadata differently from call to call.) Tensors are
    laid out by decreasing item size, then name, which keeps each one aligned.
    """
    order = sorted(tensors, key=lambda name: (-tensors[name].element_size(), name))
    header: dict = {"__metadata__": dict(sorted(metadata.items()))}
    chunks = []
    offset = 0
    for name in order:
        tensor = tensors[name].detach().cpu().contiguous()
        if tensor.dtype not in _DTYPE_CODES:
            raise ValueError(f"tensor {name!r}: dtype {tensor.dtype} cannot be stored")
        chunk = tensor.reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {
            "dtype": _DTYPE_CODES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(chunk)],
        }
        chunks.append(chunk)
        offset += len(chunk)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # the tensor data starts 8-byte aligned
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


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
    data = encode(model, spec, extra=extra)
    with atomic_write(path, force=force) as handle:
        handle.write(data)
    return Path(path)


def _fail(path: Path, problem: str) -> CheckpointError:
    return CheckpointError(f"{path}: {problem}")


def _read_file(path: Path) -> tuple[bytes, dict, dict[str, str]]:
    """Bytes, tensor header and metadata of a safetensors file; refuses anything else."""
    kind = sniff(path)
    if kind == "unreadable":
        try:
            path.read_bytes()
        except OSError as exc:
            raise _fail(path, f"cannot read checkpoint: {exc.strerror or exc}") from None
    if kind == "empty":
        raise _fail(path, "empty file (0 bytes), not a velora checkpoint")
    if kind == "pickle":
        raise _fail(
            path,
            "is a Python pickle, not a velora checkpoint; pickles are never loaded "
            "(velora checkpoints are safetensors files)",
        )
    if kind == "zip":
        raise _fail(
            path,
            "is a zip archive (torch.save or torch.export output?), not a velora checkpoint; "
            "it is never unpickled (velora checkpoints are safetensors files)",
        )
    if kind == "text":
        raise _fail(path, "is a text file (a YAML spec?), not a velora checkpoint (safetensors)")
    data = path.read_bytes()
    if len(data) < 8:
        raise _fail(path, f"truncated or not a checkpoint: only {len(data)} bytes")
    if kind != "safetensors":
        raise _fail(path, "not a safetensors file (unrecognised binary content)")
    (n_header,) = struct.unpack("<Q", data[:8])
    if 8 + n_header > len(data):
        raise _fail(
            path, f"truncated: the header alone needs {8 + n_header} bytes, file has {len(data)}"
        )
    try:
        header = json.loads(data[8 : 8 + n_header].decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("not a JSON object")
        metadata = header.pop("__metadata__", None) or {}
        if not isinstance(metadata, dict):
            raise ValueError("metadata is not a mapping")
        end = max((int(v["data_offsets"][1]) for v in header.values()), default=0)
    except (ValueError, TypeError, KeyError, IndexError, UnicodeDecodeError) as exc:
        raise _fail(path, f"corrupted safetensors header ({exc})") from None
    available = len(data) - 8 - n_header
    if available < end:
        raise _fail(path, f"truncated: tensor data needs {end} bytes, file holds {available}")
    if available > end:
        raise _fail(path, f"corrupted: {available - end} unexpected bytes after the tensor data")
    return data, header, metadata


def _parse_metadata(path: Path, raw: dict[str, str]) -> Metadata:
    if raw.get("format") != FORMAT_NAME:
        raise _fail(path, "a safetensors file but not a velora checkpoint (no velora metadata)")
    try:
        version = int(raw.get("format_version", ""))
    except ValueError:
        raise _fail(path, f"invalid format_version {raw.get('format_version')!r}") from None
    if version > FORMAT_VERSION:
        raise _fail(
            path,
            f"checkpoint format version {version} is newer than this velora ({__version__}) "
            f"reads (up to {FORMAT_VERSION}); upgrade velora",
        )
    if version < 1:
        raise _fail(path, f"invalid format_version {version}")
    sha256 = raw.get("sha256", "")
    if len(sha256) != 64:
        raise _fail(path, "no valid SHA-256 in the metadata")
    seed_text = raw.get("seed", "none")
    try:
        seed = None if seed_text == "none" else int(seed_text)
    except ValueError:
        raise _fail(path, f"invalid seed {seed_text!r} in the metadata") from None
    return Metadata(
        format_version=version,
        velora_version=raw.get("velora_version", "unknown"),
        created=raw.get("created", "unknown"),
        seed=seed,
        sha256=sha256,
        spec_yaml=raw.get("spec"),
    )


def _check_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> Wiring:
    """Names, dtypes and shapes of the stored tensors; returns the wiring the masks describe."""
    expected = [*MASK_NAMES, *parameter_names()]
    for name in expected:
        if name not in tensors:
            raise _fail(path, f"missing tensor {name!r}")
    unexpected = sorted(n for n in tensors if n not in expected and not n.startswith(EXTRA_PREFIX))
    if unexpected:
        raise _fail(path, f"unexpected tensor {unexpected[0]!r}")
    for name in MASK_NAMES:
        mask = tensors[name]
        if mask.dtype not in (torch.int8, torch.int16, torch.int32, torch.int64):
            raise _fail(path, f"mask {name!r} has dtype {mask.dtype}, expected int32")
        if mask.dim() != 2 or 0 in mask.shape:
            raise _fail(path, f"mask {name!r} has shape {tuple(mask.shape)}, expected 2-D")
        if not bool(((mask >= -1) & (mask <= 1)).all()):
            raise _fail(path, f"mask {name!r} holds values other than -1, 0 and +1")
    inter, command, motor = (tensors[name] for name in MASK_NAMES)
    if inter.shape[1] != command.shape[0] or command.shape[1] != motor.shape[0]:
        raise _fail(
            path,
            f"mask shapes do not chain: wiring.inter {tuple(inter.shape)}, wiring.command "
            f"{tuple(command.shape)}, wiring.motor {tuple(motor.shape)}",
        )
    for layer, mask in zip(LAYER_NAMES, (inter, command, motor), strict=True):
        n_in, n_hidden = mask.shape
        for head in HEAD_NAMES:
            for kind, shape in (("weight", (n_hidden, n_in + n_hidden)), ("bias", (n_hidden,))):
                name = f"layers.{layer}.{head}.{kind}"
                tensor = tensors[name]
                if tensor.dtype != torch.float32:
                    raise _fail(path, f"tensor {name!r} has dtype {tensor.dtype}, expected float32")
                if tuple(tensor.shape) != shape:
                    raise _fail(
                        path,
                        f"tensor {name!r} has shape {tuple(tensor.shape)}, expected {shape} "
                        f"from mask wiring.{layer} {tuple(mask.shape)}",
                    )
    return Wiring.from_masks(LayerMasks(inter, command, motor))


def _stored_spec(path: Path, metadata: Metadata, wiring: Wiring) -> Spec:
    """The spec stored in the file (checked against the masks), else one from the sizes."""
    if metadata.spec_yaml is None:
        sparsity = wiring.sparsity_level
        spec = Spec(
            network=NetworkSpec(
                wiring.in_features, wiring.n_neurons, wiring.out_features, sparsity
            ),
            seed=metadata.seed,
            source=str(path),
        )
        return spec
    try:
        spec = parse_spec(metadata.spec_yaml, source=str(path))
    except SpecError as exc:
        raise _fail(path, f"stored spec is invalid: {exc}") from None
    n = spec.network
    stored = (n.in_features, n.n_neurons, n.out_features)
    actual = (wiring.in_features, wiring.n_neurons, wiring.out_features)
    if stored != actual:
        raise _fail(
            path,
            f"stored spec describes (in_features, n_neurons, out_features) = {stored} but the "
            f"masks hold {actual}",
        )
    return spec


def load_checkpoint(path: str | Path, *, device=None, verify_checksum: bool = True) -> Checkpoint:
    """Read, check and rebuild a checkpoint; every problem raises one ``CheckpointError``.

    With ``verify_checksum=False`` a checksum mismatch is only recorded (``checksum_ok``), which
    lets ``velora inspect`` show a tampered file before refusing it.
    """
    path = Path(path)
    data, _header, raw_metadata = _read_file(path)
    metadata = _parse_metadata(path, raw_metadata)
    try:
        tensors = safetensors.torch.load(data)
    except Exception as exc:  # safetensors raises its own error types for malformed files
        raise _fail(path, f"corrupted safetensors data ({exc})") from None
    computed = tensor_digest(tensors)
    mismatch = _fail(
        path,
        "checksum mismatch: the tensors do not match the stored SHA-256 "
        "(file corrupted or modified)",
    )
    if verify_checksum and computed != metadata.sha256:
        raise mismatch
    try:
        wiring = _check_tensors(path, tensors)
        spec = _stored_spec(path, metadata, wiring)
    except CheckpointError:
        if computed != metadata.sha256:  # the damage is the likelier story
            raise mismatch from None
        raise
    wiring = Wiring.from_masks(wiring.masks, sparsity_level=spec.network.sparsity_level)
    # Build without touching global random state: the weights are overwritten right away.
    with torch.random.fork_rng(devices=[]):
        model = LiquidNCPNetwork(
            wiring.in_features, wiring.n_neurons, wiring.out_features, wiring=wiring
        )
    model.seed = metadata.seed
    with torch.no_grad():
        params = dict(model.named_parameters())
        for name in parameter_names():
            params[name].copy_(tensors[name])
    if device is not None:
        model = model.to(device)
    extra = {
        name.removeprefix(EXTRA_PREFIX): tensor
        for name, tensor in tensors.items()
        if name.startswith(EXTRA_PREFIX)
    }
    return Checkpoint(path, model, spec, metadata, computed, len(data), extra)


def load(path: str | Path, device=None) -> tuple[LiquidNCPNetwork, Spec]:
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

    @property
    def checksum_ok(self) -> bool:
        return self.stored_sha256 == self.computed_sha256

    @property
    def ok(self) -> bool:
        return self.checksum_ok and self.masks_match_weights and self.inert_outside_masks


def verify(checkpoint: Checkpoint) -> Verification:
    """Check a loaded checkpoint beyond its structure.

    - checksum: the tensors hash to the stored SHA-256;
    - masks: every cell's mask buffer is |mask|ᵀ of the stored wiring plus the recurrent block,
      and every weight's shape follows from it;
    - inert: randomising every weight outside the masks leaves one step's outputs bit-identical.
    """
    model = checkpoint.model
    masks = model.wiring.masks
    masks_ok = True
    n_checked = 0
    n_outside = 0
    for cell, mask in zip(
        model.layers.values(), (masks.inter, masks.command, masks.motor), strict=True
    ):
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
    )


def _input_mask(mask: torch.Tensor) -> torch.Tensor:
    """Which inputs of a cell's heads a wiring mask connects: |mask|ᵀ, then the recurrent block."""
    n_hidden = mask.shape[1]
    return torch.cat([mask.abs().T.to(torch.float32), torch.ones(n_hidden, n_hidden)], dim=1)


def _inert(model: LiquidNCPNetwork) -> bool:
    """Whether weights outside the wiring masks have no effect: randomise them, compare one step."""
    generator = torch.Generator().manual_seed(0)
    device = model._device()
    x = torch.randn(8, model.in_features, generator=generator).to(device)
    h = torch.rand(8, model.n_units, generator=generator).mul(2).sub(1).to(device)
    probe = LiquidNCPNetwork(
        model.in_features, model.n_neurons, model.out_features, wiring=model.wiring, seed=0
    ).to(device)
    probe.load_state_dict(model.state_dict())
    with torch.no_grad():
        masks = model.wiring.masks
        for cell, mask in zip(
            probe.layers.values(), (masks.inter, masks.command, masks.motor), strict=True
        ):
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
    layers = []
    for name, cell, mask in zip(
        LAYER_NAMES,
        model.layers.values(),
        (model.wiring.masks.inter, model.wiring.masks.command, model.wiring.masks.motor),
        strict=True,
    ):
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
        "file": str(checkpoint.path),
        "bytes": checkpoint.n_bytes,
        "metadata": {
            "format": FORMAT_NAME,
            "format_version": meta.format_version,
            "velora_version": meta.velora_version,
            "created": meta.created,
            "seed": meta.seed,
            "sha256": meta.sha256,
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
        "verification": {
            "ok": verification.ok,
            "checksum": verification.checksum_ok,
            "computed_sha256": verification.computed_sha256,
            "masks_match_weights": verification.masks_match_weights,
            "tensors_checked": verification.n_tensors_checked,
            "inert_outside_masks": verification.inert_outside_masks,
            "stored_outside_masks": verification.n_stored_outside_masks,
        },
    }
