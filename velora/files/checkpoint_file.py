"""The velora checkpoint file format (version 1): named tensors and metadata in one safetensors
file, read and written without knowing the network class.

Nothing is ever unpickled. The file holds every parameter (``layers.<layer>.<head>.weight`` and
``.bias``) and the three signed int32 wiring masks (``wiring.inter``, ``wiring.command``,
``wiring.motor``), plus optional ``extra.*`` tensors. Its string metadata holds the format name and
version, the velora version, the spec as YAML, the seed, the creation time and a SHA-256 over the
tensors (see ``tensor_digest``); a pruned network also records what it was pruned from
(``pruned_from``, see ``PrunedFrom``). Reading checks all of it and raises ``CheckpointError``
with one line naming the file and the problem. Which parameters a network needs is the caller's
to say (``expected_parameters``), so the format does not depend on the model that fills it.
Reading needs no torch: the tensors come back as numpy arrays (``StoredNetwork``), which the
model turns into tensors when it needs them.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from velora._version import __version__
from velora.errors import CheckpointError, SpecError
from velora.files.atomic import atomic_write
from velora.files.sniff import sniff
from velora.files.sources import peek_whole, read_whole, source_name
from velora.spec import NetworkSpec, Spec, dump_spec, parse_spec
from velora.wiring import LAYER_NAMES, LayerMasks, Wiring, mask_array

Array = Any  # a numpy array or a torch tensor: what the digest and the writer take

FORMAT_NAME = "velora.checkpoint"
FORMAT_VERSION = 1
EXTRA_PREFIX = "extra."
MASK_NAMES = tuple(f"wiring.{layer}" for layer in LAYER_NAMES)
METADATA_DIGEST = "metadata_sha256"  # covers every other metadata entry but ``sha256``
# Metadata ``masks``: present when the spec's seeded draw gives exactly the stored masks, which
# loading then checks, so that a spec saying another sparsity, seed or design is refused.
MASKS_DRAWN = "drawn from the spec"
# What is wrong with a file whose digests do not match (after its name, in a CheckpointError).
CHECKSUM_MISMATCH = (
    "checksum mismatch: the tensors do not match the stored SHA-256 (file corrupted or modified)"
)
METADATA_CHECKSUM_MISMATCH = (
    "metadata checksum mismatch: the metadata (spec, seed, format fields) does not match its "
    "stored SHA-256 (file corrupted or modified)"
)
# Tensor dtypes by their safetensors names (which the digest uses), with their common names and
# numpy types; numpy has no bfloat16, so such a tensor is read as its raw 16-bit words.
_DTYPES = {
    "F64": ("float64", np.float64),
    "F32": ("float32", np.float32),
    "F16": ("float16", np.float16),
    "BF16": ("bfloat16", np.uint16),
    "I64": ("int64", np.int64),
    "I32": ("int32", np.int32),
    "I16": ("int16", np.int16),
    "I8": ("int8", np.int8),
    "U8": ("uint8", np.uint8),
    "BOOL": ("bool", np.bool_),
}
_CODES = {name: code for code, (name, _) in _DTYPES.items()}
_INTEGER_CODES = ("I8", "I16", "I32", "I64")


@dataclass(frozen=True)
class PrunedFrom:
    """Where a pruned network came from (metadata key ``pruned_from``, a JSON object): the model
    file as it was named, the SHA-256 of its tensors (its metadata ``sha256``), the fraction
    kept, and the synapses each mask held before (``synapses_before``, by layer name)."""

    file: str
    sha256: str
    keep: float
    synapses_before: dict[str, int]

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "sha256": self.sha256,
            "keep": self.keep,
            "synapses_before": {layer: self.synapses_before[layer] for layer in LAYER_NAMES},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> PrunedFrom:
        """Parse the metadata value; raises ValueError saying what is wrong."""
        try:
            data = json.loads(text)
        except ValueError:
            raise ValueError("not JSON") from None
        keys = {"file", "sha256", "keep", "synapses_before"}
        if not isinstance(data, dict) or set(data) != keys:
            raise ValueError(f"expected a JSON object with the keys {', '.join(sorted(keys))}")
        file, sha256, keep, before = (
            data[k] for k in ("file", "sha256", "keep", "synapses_before")
        )
        if not isinstance(file, str) or not file:
            raise ValueError("'file' must be a non-empty string")
        if not (isinstance(sha256, str) and len(sha256) == 64 and _is_hex(sha256)):
            raise ValueError("'sha256' must be 64 hexadecimal digits")
        if isinstance(keep, bool) or not isinstance(keep, int | float) or not 0 < keep <= 1:
            raise ValueError(f"'keep' must be a fraction in (0, 1], got {keep!r}")
        if not isinstance(before, dict) or set(before) != set(LAYER_NAMES):
            raise ValueError(f"'synapses_before' must count {', '.join(LAYER_NAMES)}")
        for layer, n in before.items():
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"'synapses_before' of {layer} must be an integer >= 1")
        return cls(file, sha256, float(keep), {layer: before[layer] for layer in LAYER_NAMES})


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


@dataclass(frozen=True)
class Metadata:
    """What a checkpoint says about itself (its safetensors ``__metadata__``)."""

    format_version: int
    velora_version: str
    created: str
    seed: int | None
    sha256: str
    spec_yaml: str | None
    pruned_from: PrunedFrom | None = None  # optional key: older files have none
    metadata_sha256: str | None = None  # optional key: files of velora 0.1 have none
    masks_drawn: bool = False  # optional key ``masks``: the spec draws exactly these masks

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
        if self.pruned_from is not None:
            out["pruned_from"] = self.pruned_from.to_json()
        if self.masks_drawn:
            out["masks"] = MASKS_DRAWN
        return out


def _encoded(tensor: Array) -> tuple[str, tuple[int, ...], bytes | memoryview]:
    """A tensor's safetensors dtype code, shape and little-endian bytes (numpy or torch)."""
    if hasattr(tensor, "detach"):  # a torch tensor, without importing torch
        tensor = tensor.detach().cpu().contiguous()
        name = str(tensor.dtype).removeprefix("torch.")
        if name == "bfloat16":  # numpy cannot hold bfloat16: take its 16-bit words
            import torch

            tensor = tensor.view(torch.int16)
        data = tensor.reshape(-1).numpy().view(np.uint8)
        return _CODES.get(name, name), tuple(tensor.shape), data.data
    array = np.ascontiguousarray(tensor)
    code = _CODES.get(array.dtype.name, array.dtype.name)
    return code, array.shape, array.reshape(-1).view(np.uint8).data


def tensor_digest(tensors: dict[str, Array]) -> str:
    """SHA-256 over the tensors (numpy arrays or torch tensors), independent of the file layout.

    For each tensor in sorted name order: ``name NUL dtype NUL shape NUL`` (dtype as safetensors
    names it, e.g. ``F32``; shape as comma-separated sizes) followed by its little-endian bytes.
    """
    digest = hashlib.sha256()
    for name in sorted(tensors):
        code, shape, data = _encoded(tensors[name])
        _digest_one(digest, name, code, shape, data)
    return digest.hexdigest()


def _digest_one(digest, name: str, code: str, shape, data: bytes | memoryview) -> None:
    digest.update(f"{name}\0{code}\0{','.join(str(s) for s in shape)}\0".encode())
    digest.update(data)


def metadata_checksum_ok(metadata: Metadata, computed: str | None) -> bool | None:
    """Whether the metadata hashes (``computed``) to its stored digest; None when the file has
    none (files of velora 0.1: their spec and seed are not covered by a checksum)."""
    return None if computed is None else computed == metadata.metadata_sha256


def metadata_digest(strings: dict[str, str]) -> str:
    """SHA-256 over the metadata entries but the two digests, in sorted key order, each as
    ``key NUL value NUL`` (UTF-8): the spec text, the seed and the format fields are covered."""
    digest = hashlib.sha256()
    for key in sorted(strings):
        if key not in ("sha256", METADATA_DIGEST):
            digest.update(f"{key}\0{strings[key]}\0".encode())
    return digest.hexdigest()


def _created() -> str:
    """UTC creation time; ``SOURCE_DATE_EPOCH`` pins it for reproducible files."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def encode_tensors(
    tensors: dict[str, Array],
    spec: Spec,
    *,
    seed: int | None,
    extra: dict[str, Array] | None = None,
    pruned_from: PrunedFrom | None = None,
) -> bytes:
    """The file's bytes for a network's ``tensors`` (parameters and masks), its spec and seed,
    plus ``extra`` tensors stored as ``extra.<name>`` and, for a pruned network, its origin."""
    tensors = dict(tensors)
    for name, tensor in (extra or {}).items():
        tensors[EXTRA_PREFIX + name] = tensor
    metadata = Metadata(
        format_version=FORMAT_VERSION,
        velora_version=__version__,
        created=_created(),
        seed=seed,
        sha256=tensor_digest(tensors),
        spec_yaml=dump_spec(spec),
        pruned_from=pruned_from,
        masks_drawn=pruned_from is None and spec.seed is not None and _draws(spec, tensors),
    )
    strings = metadata.to_strings()
    strings[METADATA_DIGEST] = metadata_digest(strings)
    return serialize(tensors, strings)


def serialize(tensors: dict[str, Array], metadata: dict[str, str]) -> bytes:
    """safetensors bytes with a fixed layout, so equal inputs give byte-identical files.

    (``safetensors.torch.save`` orders the metadata differently from call to call.) Tensors are
    laid out by decreasing item size, then name, which keeps each one aligned.
    """
    encoded = {name: _encoded(tensor) for name, tensor in tensors.items()}
    for name, (code, _, _) in encoded.items():
        if code not in _DTYPES:
            raise ValueError(f"tensor {name!r}: dtype {code} cannot be stored")

    def item_size(name: str) -> int:
        return np.dtype(_DTYPES[encoded[name][0]][1]).itemsize

    order = sorted(tensors, key=lambda name: (-item_size(name), name))
    header: dict = {"__metadata__": dict(sorted(metadata.items()))}
    chunks = []
    offset = 0
    for name in order:
        code, shape, data = encoded[name]
        chunk = bytes(data)
        header[name] = {
            "dtype": code,
            "shape": list(shape),
            "data_offsets": [offset, offset + len(chunk)],
        }
        chunks.append(chunk)
        offset += len(chunk)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # the tensor data starts 8-byte aligned
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def _fail(path: Path, problem: str) -> CheckpointError:
    return CheckpointError(f"{source_name(path)}: {problem}")


def _read_file(path: Path) -> tuple[bytes, dict, dict[str, str]]:
    """Bytes, tensor header and metadata of a safetensors file; refuses anything else."""
    kind = sniff(path)
    if kind == "unreadable":
        try:
            read_whole(path)
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
    if kind != "safetensors":  # decided on the first bytes: /dev/zero is not read on
        head = peek_whole(path, 8)
        if len(head) < 8:
            raise _fail(path, f"truncated or not a checkpoint: only {len(head)} bytes")
        raise _fail(path, "not a safetensors file (unrecognised binary content)")
    data = read_whole(path)  # a stream (``-``, a pipe) once: sniff kept what it read
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
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError("metadata values must be strings")
        end = 0
        for value in header.values():
            offsets = value["data_offsets"]
            if not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets):
                raise ValueError("data_offsets must be integers")
            end = max(end, offsets[1])
    except (
        ValueError, TypeError, KeyError, IndexError, UnicodeDecodeError, RecursionError,
        OverflowError,
    ) as exc:  # fmt: skip
        problem = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise _fail(path, f"corrupted safetensors header ({problem})") from None
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
    pruned_from = None
    if "pruned_from" in raw:
        try:
            pruned_from = PrunedFrom.from_json(raw["pruned_from"])
        except ValueError as exc:
            raise _fail(path, f"invalid pruned_from in the metadata: {exc}") from None
    masks_drawn = "masks" in raw
    if masks_drawn and raw["masks"] != MASKS_DRAWN:
        raise _fail(path, f"invalid masks {raw['masks'][:40]!r} in the metadata")
    stored_digest = raw.get(METADATA_DIGEST)
    if stored_digest is not None and not (len(stored_digest) == 64 and _is_hex(stored_digest)):
        raise _fail(path, f"invalid {METADATA_DIGEST} in the metadata")
    return Metadata(
        format_version=version,
        velora_version=raw.get("velora_version", "unknown"),
        created=raw.get("created", "unknown"),
        seed=seed,
        sha256=sha256,
        spec_yaml=raw.get("spec"),
        pruned_from=pruned_from,
        metadata_sha256=stored_digest,
        masks_drawn=masks_drawn,
    )


@dataclass
class _Tensors:
    """The decoded tensors of a file (numpy arrays) and their dtypes as the file names them."""

    arrays: dict[str, np.ndarray]
    codes: dict[str, str]

    def dtype_name(self, name: str) -> str:
        return _DTYPES[self.codes[name]][0]


def _decode(path: Path, data: bytes, header: dict) -> tuple[_Tensors, str]:
    """The tensors of a safetensors file's bytes, checked as safetensors checks them, and the
    digest of ``tensor_digest`` computed over their stored bytes."""
    (n_header,) = struct.unpack("<Q", data[:8])
    body = memoryview(data)[8 + n_header :]
    arrays: dict[str, np.ndarray] = {}
    codes: dict[str, str] = {}
    spans = []
    try:
        for name, entry in header.items():
            code, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            if code not in _DTYPES:
                raise ValueError(f"tensor {name!r} has dtype {code!r}, which velora does not read")
            if not isinstance(shape, list) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
            ):
                raise ValueError(f"tensor {name!r} has an invalid shape")
            kind = np.dtype(_DTYPES[code][1])
            if not 0 <= begin <= end or end - begin != kind.itemsize * int(np.prod(shape)):
                raise ValueError(f"tensor {name!r} has offsets that do not match its size")
            arrays[name] = np.frombuffer(body[begin:end], dtype=kind.newbyteorder("<")).reshape(
                shape
            )
            codes[name] = code
            spans.append((begin, end))
        spans.sort()
        if any(a[1] != b[0] for a, b in pairwise(spans)) or (spans and spans[0][0] != 0):
            raise ValueError("the tensors do not fill the data without gaps or overlaps")
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise _fail(path, f"corrupted safetensors data ({exc})") from None
    digest = hashlib.sha256()
    for name in sorted(arrays):
        begin, end = header[name]["data_offsets"]
        _digest_one(digest, name, codes[name], arrays[name].shape, body[begin:end])
    # Writable copies, so that the model may take them over without copying again.
    writable = {name: array.copy() for name, array in arrays.items()}
    return _Tensors(writable, codes), digest.hexdigest()


def _check_masks(path: Path, tensors: _Tensors) -> Wiring:
    """The three masks: present, integer, 2-D, signed and chaining; the wiring they describe."""
    for name in MASK_NAMES:
        if name not in tensors.arrays:
            raise _fail(path, f"missing tensor {name!r}")
        mask = tensors.arrays[name]
        if tensors.codes[name] not in _INTEGER_CODES:
            raise _fail(path, f"mask {name!r} has dtype {tensors.dtype_name(name)}, expected int32")
        if mask.ndim != 2 or 0 in mask.shape:
            raise _fail(path, f"mask {name!r} has shape {tuple(mask.shape)}, expected 2-D")
        if not bool(((mask >= -1) & (mask <= 1)).all()):
            raise _fail(path, f"mask {name!r} holds values other than -1, 0 and +1")
    inter, command, motor = (tensors.arrays[name] for name in MASK_NAMES)
    if inter.shape[1] != command.shape[0] or command.shape[1] != motor.shape[0]:
        raise _fail(
            path,
            f"mask shapes do not chain: wiring.inter {tuple(inter.shape)}, wiring.command "
            f"{tuple(command.shape)}, wiring.motor {tuple(motor.shape)}",
        )
    return Wiring.from_masks(LayerMasks(inter, command, motor))


def _check_pruned_from(path: Path, pruned_from: PrunedFrom, wiring: Wiring) -> None:
    """A pruned network holds at most the synapses it was pruned from, layer by layer."""
    for layer, mask in wiring.arrays.items():
        now, before = int(np.count_nonzero(mask)), pruned_from.synapses_before[layer]
        if now > before:
            raise _fail(
                path,
                f"invalid pruned_from in the metadata: wiring.{layer} holds {now} synapses, "
                f"more than the {before} it was pruned from",
            )


def _check_inputs(path: Path, wiring: Wiring) -> None:
    """Every neuron has an input: a target column of a mask with no synapse is refused."""
    for layer, mask in wiring.arrays.items():
        fed = (mask != 0).any(axis=0)
        if not bool(fed.all()):
            target = int(np.flatnonzero(~fed)[0])
            raise _fail(path, f"mask 'wiring.{layer}' leaves target {target} without any input")


def _check_parameters(path: Path, tensors: _Tensors, expected: dict[str, tuple[int, ...]]) -> None:
    """Every expected float32 parameter with its shape, and no tensor nobody expects."""
    arrays = tensors.arrays
    for name in expected:
        if name not in arrays:
            raise _fail(path, f"missing tensor {name!r}")
    known = {*MASK_NAMES, *expected}
    unexpected = sorted(n for n in arrays if n not in known and not n.startswith(EXTRA_PREFIX))
    if unexpected:
        raise _fail(path, f"unexpected tensor {unexpected[0]!r}")
    for name, shape in expected.items():
        tensor = arrays[name]
        if tensors.codes[name] != "F32":
            raise _fail(
                path, f"tensor {name!r} has dtype {tensors.dtype_name(name)}, expected float32"
            )
        if not bool(np.isfinite(tensor).all()):
            raise _fail(path, f"tensor {name!r} holds NaN or infinite values")
        if tuple(tensor.shape) != shape:
            layer = name.split(".")[1]
            mask = tuple(arrays[f"wiring.{layer}"].shape)
            raise _fail(
                path,
                f"tensor {name!r} has shape {tuple(tensor.shape)}, expected {shape} "
                f"from mask wiring.{layer} {mask}",
            )


def _stored_spec(path: Path, metadata: Metadata, wiring: Wiring) -> Spec:
    """The spec stored in the file (checked against the masks), else one from the sizes."""
    if metadata.spec_yaml is None:
        sparsity = wiring.sparsity_level
        spec = Spec(
            network=NetworkSpec(
                wiring.in_features,
                wiring.n_neurons,
                wiring.out_features,
                sparsity,
                wiring=wiring.spec_design(),
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
    # A spec with a wiring section fixes the split too (older specs may predate the rule).
    split = (wiring.counts.inter, wiring.counts.command)
    if n.wiring is not None and n.wiring.split() != split:
        raise _fail(
            path,
            "stored spec describes (inter_neurons, command_neurons) = "
            f"{n.wiring.split()} but the masks hold {split}",
        )
    if metadata.masks_drawn:
        layer = _first_difference(spec, {f"wiring.{k}": m for k, m in wiring.arrays.items()})
        if layer is not None:
            raise _fail(
                path,
                f"stored spec (sparsity {n.sparsity_level:g}, seed {spec.effective_seed}) does not "
                f"draw the stored masks, as the file says it does: {layer} differs",
            )
    return spec


def _first_difference(spec: Spec, tensors: dict[str, Array]) -> str | None:
    """The first mask of ``tensors`` that the spec's seeded draw does not give, else None."""
    try:
        drawn = spec.draw_wiring()
    except ValueError:  # sizes the rules cannot draw: the masks were not drawn from the spec
        return MASK_NAMES[0]
    for name, (_, expected) in zip(MASK_NAMES, drawn.arrays.items(), strict=True):
        stored = mask_array(tensors[name])
        if stored.shape != expected.shape or not np.array_equal(stored, expected):
            return name
    return None


def _draws(spec: Spec, tensors: dict[str, Array]) -> bool:
    """Whether the spec's seeded draw gives exactly the masks among ``tensors``."""
    return _first_difference(spec, tensors) is None


@dataclass
class StoredNetwork:
    """A checked checkpoint file: the parameter tensors, the wiring its masks describe, the
    spec, the metadata and any extra tensors; building the network is the caller's part."""

    path: Path
    parameters: dict[str, np.ndarray]  # float32 arrays, writable, owned by this object
    wiring: Wiring
    spec: Spec
    metadata: Metadata
    computed_sha256: str
    n_bytes: int
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    computed_metadata_sha256: str | None = None  # None: the file has no metadata digest


def read_checkpoint(
    path: str | Path,
    expected_parameters: Callable[[Wiring], dict[str, tuple[int, ...]]],
    *,
    verify_checksum: bool = True,
) -> StoredNetwork:
    """Read and check a checkpoint file; every problem raises one ``CheckpointError``.

    ``expected_parameters(wiring)`` names the parameter tensors and shapes a network with that
    wiring has. With ``verify_checksum=False`` a checksum mismatch is only recorded, which lets
    ``velora inspect`` show a tampered file before refusing it.
    """
    path = Path(path)
    data, _header, raw_metadata = _read_file(path)
    metadata = _parse_metadata(path, raw_metadata)
    tensors, computed = _decode(path, data, _header)
    mismatch = _fail(path, CHECKSUM_MISMATCH)
    if verify_checksum and computed != metadata.sha256:
        raise mismatch
    meta_mismatch = _fail(path, METADATA_CHECKSUM_MISMATCH)
    computed_meta = None if metadata.metadata_sha256 is None else metadata_digest(raw_metadata)
    meta_ok = metadata_checksum_ok(metadata, computed_meta)
    if verify_checksum and meta_ok is False:
        raise meta_mismatch
    try:
        wiring = _check_masks(path, tensors)
        if metadata.pruned_from is not None:
            _check_pruned_from(path, metadata.pruned_from, wiring)
        expected = expected_parameters(wiring)
        _check_parameters(path, tensors, expected)
        _check_inputs(path, wiring)
        spec = _stored_spec(path, metadata, wiring)
    except CheckpointError:
        if computed != metadata.sha256:  # the damage is the likelier story
            raise mismatch from None
        if meta_ok is False:
            raise meta_mismatch from None
        raise
    wiring = Wiring.from_masks(
        wiring.arrays, sparsity_level=spec.network.sparsity_level, design=spec.network.wiring
    )
    extra = {
        name.removeprefix(EXTRA_PREFIX): tensor
        for name, tensor in tensors.arrays.items()
        if name.startswith(EXTRA_PREFIX)
    }
    parameters = {name: tensors.arrays[name] for name in expected}
    return StoredNetwork(
        path, parameters, wiring, spec, metadata, computed, len(data), extra, computed_meta
    )


def write_checkpoint(
    path: str | Path,
    tensors: dict[str, Array],
    spec: Spec,
    *,
    seed: int | None,
    extra: dict[str, Array] | None = None,
    force: bool = True,
    pruned_from: PrunedFrom | None = None,
) -> Path:
    """Write ``encode_tensors(...)`` to ``path`` atomically; replaces a file only with ``force``."""
    data = encode_tensors(tensors, spec, seed=seed, extra=extra, pruned_from=pruned_from)
    with atomic_write(path, force=force) as handle:
        handle.write(data)
    return Path(path)
