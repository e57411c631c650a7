"""Plain helpers shared by library tests and CLI tests (shared fixtures: tests/conftest.py)."""

import json
import pickle
import struct
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
from hypothesis import settings

from velora.files import checkpoint
from velora.files.checkpoint_file import METADATA_DIGEST, metadata_digest
from velora.files.loading import load_model
from velora.files.tables import write_csv

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "pendulum.yaml"
CI_EXAMPLES = 100  # Hypothesis's default count, which the "ci" profile keeps


def examples(count: int) -> int:
    """A property test's own example count under ``make test``, scaled like the profile's count
    under ``make fuzz`` (tests/conftest.py loads the profile before any test module)."""
    return max(1, round(count * settings.default.max_examples / CI_EXAMPLES))


# ---- checkpoints: the stored metadata, and every kind of bad file ----------------------------


def checkpoint_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file's bytes."""
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n])["__metadata__"]


def _rewrite(good: Path, path: Path, edit) -> None:
    """Write ``good``'s tensors and metadata after ``edit(tensors, meta)``, rehashed, metadata
    digest included (so that only the edit is wrong), unless the edit sets a hash itself."""
    data = good.read_bytes()
    tensors, meta = safetensors.torch.load(data), checkpoint_metadata(data)
    stored, stored_meta = meta["sha256"], meta.get(METADATA_DIGEST)
    edit(tensors, meta)
    if meta["sha256"] == stored:
        meta["sha256"] = checkpoint.tensor_digest(tensors)
    if METADATA_DIGEST in meta and meta[METADATA_DIGEST] == stored_meta:
        meta[METADATA_DIGEST] = metadata_digest(meta)
    path.write_bytes(safetensors.torch.save(tensors, meta))


def _edit_metadata(key: str, value: str):
    """Change one metadata entry and keep the stored digests: tampering, as a bit flip does."""

    def write(good: Path, path: Path) -> None:
        data = good.read_bytes()
        tensors, meta = safetensors.torch.load(data), checkpoint_metadata(data)
        meta[key] = value
        path.write_bytes(safetensors.torch.save(tensors, meta))

    return write


def _flip_last_byte(good: Path, path: Path) -> None:
    data = bytearray(good.read_bytes())
    data[-3] ^= 0x40
    path.write_bytes(bytes(data))


def _tamper(good: Path, path: Path) -> None:
    data = good.read_bytes()
    tensors, meta = safetensors.torch.load(data), checkpoint_metadata(data)
    tensors["layers.motor.proj.bias"] += 1.0
    path.write_bytes(safetensors.torch.save(tensors, meta))


class _Evil:
    """Unpickling this would create a marker file next to the checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _header(edit):
    """A bad file from ``good`` whose JSON header ``edit(header)`` changes (written with
    Python's json, which allows Infinity and deep nesting), the tensor data kept."""

    def write(good: Path, path: Path) -> None:
        data = good.read_bytes()
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + n])
        text = edit(header) if callable(edit) else edit
        raw = (text if isinstance(text, str) else json.dumps(text)).encode()
        path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])

    return write


def _infinite_offsets(header: dict) -> dict:
    name = next(k for k in header if k != "__metadata__")
    header[name]["data_offsets"][1] = float("inf")
    return header


def _list_seed(header: dict) -> dict:
    header["__metadata__"]["seed"] = [1]
    return header


def _no_input(tensors, meta):
    tensors["wiring.command"][:, 2] = 0


def _not_finite(tensors, meta):
    tensors["layers.command.h_head.weight"][1, 1] = float("nan")


def _corrupt_header(good: Path, path: Path) -> None:
    data = bytearray(good.read_bytes())
    data[8:12] = b"{{{{"
    path.write_bytes(bytes(data))


def _set(key: str, value: str):
    def edit(tensors, meta):
        meta[key] = value

    return edit


def _wrong_shape(name: str, shape: tuple[int, ...]):
    def edit(tensors, meta):
        tensors[name] = torch.zeros(shape, dtype=tensors[name].dtype)

    return edit


def _drop(name: str):
    def edit(tensors, meta):
        del tensors[name]

    return edit


def _cast(name: str, dtype: torch.dtype):
    def edit(tensors, meta):
        tensors[name] = tensors[name].to(dtype)

    return edit


def _pruned_from(**changes) -> str:
    """A ``pruned_from`` metadata value for the example network, with ``changes``."""
    value = {
        "file": "big.safetensors",
        "sha256": "0" * 64,
        "keep": 0.5,
        "synapses_before": {"inter": 40, "command": 60, "motor": 6},
    }
    return json.dumps({**value, **changes})


def _bad_mask_values(tensors, meta):
    tensors["wiring.command"][0, 0] = 2


def make_bad(kind: str, good: Path, path: Path) -> None:
    """Write at ``path`` the bad file ``kind`` (a key of ``BAD``), made from the checkpoint
    ``good``; the pickles would create ``PWNED`` next to ``path`` if ever unpickled."""
    data = good.read_bytes()
    rewrites = {
        "missing tensor": _drop("layers.command.proj.bias"),
        "mask wrong shape": _wrong_shape("wiring.inter", (4, 11)),
        "mask shape vs weights": _wrong_shape("wiring.motor", (6, 2)),
        "mask values": _bad_mask_values,
        "weight wrong shape": _wrong_shape("layers.inter.h_head.weight", (10, 13)),
        "bias wrong shape": _wrong_shape("layers.motor.g_head.bias", (2,)),
        "weight dtype": _cast("layers.inter.g_head.weight", torch.float64),
        "unexpected tensor": lambda t, m: t.update(bogus=torch.zeros(2)),
        "newer version": _set("format_version", "2"),
        "spec disagrees": _set("spec", EXAMPLE.read_text().replace("16", "20")),
        "spec invalid": _set("spec", "version: 1\nnetwork: 3\n"),
        "no sha": _set("sha256", ""),
        "pruned_from not json": _set("pruned_from", "{file: big"),
        "pruned_from keep": _set("pruned_from", _pruned_from(keep=1.5)),
        "pruned_from sha": _set("pruned_from", _pruned_from(sha256="xyz")),
        "pruned_from grew": _set(
            "pruned_from", _pruned_from(synapses_before={"inter": 40, "command": 20, "motor": 6})
        ),
        "spec forged": _set(
            "spec", EXAMPLE.read_text().replace("sparsity_level: 0.5", "sparsity_level: 0.9")
        ),
        "target without input": _no_input,
        "weight not finite": _not_finite,
    }
    writers = {
        "metadata tampered": _edit_metadata("seed", "6"),
        "spec tampered": _edit_metadata(
            "spec", EXAMPLE.read_text().replace("sparsity_level: 0.5", "sparsity_level: 0.9")
        ),
        "offsets infinite": _header(_infinite_offsets),
        "metadata not strings": _header(_list_seed),
        "header nested": _header('{"a":' + "[" * 100_000 + "]" * 100_000 + "}"),
    }
    if kind in rewrites:
        _rewrite(good, path, rewrites[kind])
    elif kind in writers:
        writers[kind](good, path)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "too short":
        path.write_bytes(data[:5])
    elif kind == "truncated header":
        path.write_bytes(data[:100])
    elif kind == "truncated data":
        path.write_bytes(data[:-10])
    elif kind == "trailing bytes":
        path.write_bytes(data + b"\0" * 7)
    elif kind == "corrupted data":
        _flip_last_byte(good, path)
    elif kind == "corrupted header":
        _corrupt_header(good, path)
    elif kind == "tampered":
        _tamper(good, path)
    elif kind == "pickle":
        path.write_bytes(pickle.dumps(_Evil(path.parent / "PWNED"), protocol=4))
    elif kind == "torch.save":
        torch.save({"w": torch.zeros(2), "evil": _Evil(path.parent / "PWNED")}, path)
    elif kind == "legacy torch.save":
        torch.save({"w": torch.zeros(2)}, path, _use_new_zipfile_serialization=False)
    elif kind == "random binary":
        path.write_bytes(bytes(range(256)) * 4)
    elif kind == "plain safetensors":
        path.write_bytes(safetensors.torch.save({"w": torch.zeros(3)}))
    elif kind == "yaml spec":
        path.write_text(EXAMPLE.read_text())
    elif kind == "missing":
        pass
    else:  # pragma: no cover
        raise AssertionError(kind)


# Each kind of bad checkpoint -> words its one-line error must contain.
BAD = {
    "empty": "empty file",
    "too short": "truncated or not a checkpoint",
    "truncated header": "truncated: the header",
    "truncated data": "truncated: tensor data",
    "trailing bytes": "unexpected bytes after the tensor data",
    "corrupted data": "checksum mismatch",
    "corrupted header": "corrupted safetensors header",
    "tampered": "checksum mismatch",
    "pickle": "is a Python pickle",
    "torch.save": "is a zip archive",
    "legacy torch.save": "is a Python pickle",
    "random binary": "not a safetensors file",
    "plain safetensors": "not a velora checkpoint",
    "yaml spec": "not a velora checkpoint",
    "missing": "cannot read checkpoint",
    "missing tensor": "missing tensor 'layers.command.proj.bias'",
    "mask wrong shape": "mask shapes do not chain",
    "mask shape vs weights": "has shape (1, 7), expected (2, 8) from mask wiring.motor (6, 2)",
    "mask values": "values other than -1, 0 and +1",
    "weight wrong shape": "'layers.inter.h_head.weight' has shape (10, 13), expected (10, 14)",
    "bias wrong shape": "'layers.motor.g_head.bias' has shape (2,), expected (1,)",
    "weight dtype": "dtype float64, expected float32",
    "unexpected tensor": "unexpected tensor 'bogus'",
    "newer version": "format version 2 is newer",
    "spec disagrees": "stored spec describes",
    "spec invalid": "stored spec is invalid",
    "no sha": "no valid SHA-256",
    "pruned_from not json": "invalid pruned_from in the metadata: not JSON",
    "pruned_from keep": "invalid pruned_from in the metadata: 'keep' must be a fraction in (0, 1]",
    "pruned_from sha": "invalid pruned_from in the metadata: 'sha256' must be 64 hexadecimal",
    "pruned_from grew": "wiring.command holds 26 synapses, more than the 20 it was pruned from",
    "metadata tampered": "metadata checksum mismatch",
    "spec tampered": "metadata checksum mismatch",
    "offsets infinite": "corrupted safetensors header",
    "metadata not strings": "corrupted safetensors header (metadata values must be strings)",
    "header nested": "corrupted safetensors header (nested too deeply)",
    "spec forged": "stored spec (sparsity 0.9, seed 7) does not draw the stored masks, as the",
    "target without input": "mask 'wiring.command' leaves target 2 without any input",
    "weight not finite": "tensor 'layers.command.h_head.weight' holds NaN or infinite values",
}


# ---- export: one step of the example network -------------------------------------------------


def step_inputs(batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random inputs ``x`` (batch, 4) and states ``h`` (batch, 17) for the example network."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 4, generator=generator), torch.rand(batch, 17, generator=generator)


def step_reference(x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of the example network through its own ``forward``."""
    net, _ = load_model(EXAMPLE)
    with torch.no_grad():
        y, h_next = net(x, h)
    return y.reshape(x.shape[0], -1), h_next


# ---- run: a tiny network over CSV sequences --------------------------------------------------

# The spec behind the `spec` and `net` fixtures.
TINY_SPEC = """\
version: 1
name: tiny
seed: 3
network:
  in_features: 3
  n_neurons: 8
  out_features: 2
  sparsity_level: 0.5
"""


def reference(net, x: np.ndarray, ts: np.ndarray | None = None, h0=None):
    """forward_sequence on one sequence (batch of one)."""
    with torch.inference_mode():
        tt = None if ts is None else torch.from_numpy(np.float32(ts)[None])
        h = None if h0 is None else torch.from_numpy(h0)
        y, h_last = net.forward_sequence(torch.from_numpy(x)[None], h, tt)
    return y[0].numpy(), h_last[0].numpy()


def make_sequences(tmp_path: Path, lengths, *, seed=0, time=True) -> tuple[Path, dict]:
    """A CSV of random sequences ``run0, run1, ...`` of the given lengths (columns id, t if
    ``time``, a, b, c), and what it holds."""
    rng = np.random.default_rng(seed)
    ids = np.repeat([f"run{i}" for i in range(len(lengths))], lengths)
    n = len(ids)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    t = np.round(np.cumsum(rng.uniform(0.05, 2.0, n)), 3)
    names, cols = ["id"], [ids]
    if time:
        names.append("t")
        cols.append(t)
    names += ["a", "b", "c"]
    cols += [x[:, 0], x[:, 1], x[:, 2]]
    path = tmp_path / f"seq{seed}.csv"
    write_csv(path, names, cols)
    return path, {"ids": ids, "x": x, "t": t, "lengths": list(lengths)}


def pipe_of(data: bytes):
    """A real pipe's reading end (what ``-i -``, ``/dev/stdin`` or ``<(...)`` give a command),
    fed ``data`` by a thread that stops if the reader goes away early."""
    import os
    import threading

    read_fd, write_fd = os.pipe()

    def feed() -> None:
        try:
            with os.fdopen(write_fd, "wb") as writer:
                writer.write(data)
        except BrokenPipeError:  # the reader stopped early: an error, or no need for the rest
            pass

    threading.Thread(target=feed, daemon=True).start()
    return os.fdopen(read_fd, "rb")
