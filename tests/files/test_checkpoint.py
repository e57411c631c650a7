"""Checkpoints: exact round trips, the stored format, and every kind of bad file."""

import json
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch
import yaml

from velora import __version__
from velora.errors import CheckpointError, OutputExistsError
from velora.files import checkpoint
from velora.files.loading import load_model
from velora.files.sniff import sniff
from velora.models import LiquidNCPNetwork
from velora.spec import dump_spec, load_spec
from velora_cli.main import main_exit_code

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pendulum.yaml"


@pytest.fixture
def spec():
    return load_spec(EXAMPLE)


@pytest.fixture
def trained(spec):
    """The example network with every weight moved, as after training (off-mask ones too)."""
    net, _ = load_model(EXAMPLE)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return net


@pytest.fixture
def good_file(tmp_path, trained, spec) -> Path:
    return checkpoint.save(trained, tmp_path / "model.safetensors", spec)


def _outputs(net: LiquidNCPNetwork) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    xs = torch.randn(3, 25, net.in_features, generator=generator)
    ts = torch.rand(3, 25, generator=generator) + 0.1
    with torch.no_grad():
        y_seq, h_seq = net.forward_sequence(xs, timespans=ts)
        y_step, h_step = net(xs[:, 0], h_seq, timespans=0.7)
    with torch.enable_grad():
        y_grad, _ = net.forward_sequence(xs[:, :5])
    return [y_seq, h_seq, y_step, h_step, y_grad.detach()]


def _same(a: LiquidNCPNetwork, b: LiquidNCPNetwork) -> bool:
    return all(torch.equal(x, y) for x, y in zip(_outputs(a), _outputs(b), strict=True))


def test_round_trip_is_bit_identical(good_file, trained, spec):
    loaded, loaded_spec = checkpoint.load(good_file)
    assert _same(trained, loaded)
    for (name, p), (name2, q) in zip(
        trained.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert name == name2 and torch.equal(p, q)
    for layer in ("inter", "command", "motor"):
        a, b = getattr(trained.wiring.masks, layer), getattr(loaded.wiring.masks, layer)
        assert torch.equal(a, b) and b.dtype == torch.int32
    assert dump_spec(loaded_spec) == dump_spec(spec)
    assert loaded_spec.name == "pendulum" and loaded_spec.inputs == spec.inputs
    assert loaded.seed == 7 and loaded.wiring.sparsity_level == 0.5


def test_network_save_and_load_conveniences(tmp_path, trained):
    path = trained.save(tmp_path / "net.safetensors")
    loaded = LiquidNCPNetwork.load(path)
    assert isinstance(loaded, LiquidNCPNetwork)
    assert _same(trained, loaded)


def test_spec_is_synthesised_when_none_is_given(tmp_path):
    net = LiquidNCPNetwork(3, 12, 2, sparsity_level=0.3, seed=5)
    _, spec = checkpoint.load(checkpoint.save(net, tmp_path / "n.safetensors"))
    n = spec.network
    assert (n.in_features, n.n_neurons, n.out_features, n.sparsity_level) == (3, 12, 2, 0.3)
    assert spec.seed == 5 and spec.name is None


def test_checkpoint_without_stored_spec_gets_one(tmp_path):
    net = LiquidNCPNetwork(3, 12, 2, seed=5)
    tensors = checkpoint.to_tensors(net)
    meta = _metadata(checkpoint.encode(net))
    del meta["spec"]
    path = tmp_path / "bare.safetensors"
    path.write_bytes(safetensors.torch.save(tensors, meta))
    loaded, spec = checkpoint.load(path)
    assert (spec.network.in_features, spec.network.n_neurons) == (3, 12)
    assert spec.seed == 5
    assert _same(net, loaded)


def test_load_model_detects_checkpoints_by_content(tmp_path, good_file, trained):
    for name in ("model.bin", "model", "model.yaml"):
        path = tmp_path / name
        path.write_bytes(good_file.read_bytes())
        net, spec = load_model(path)
        assert _same(trained, net) and spec.name == "pendulum"
    net, spec = load_model(EXAMPLE)  # a spec still loads as a spec
    assert spec.seed == 7 and isinstance(net, LiquidNCPNetwork)


def test_loading_leaves_global_random_state_alone(good_file):
    before = torch.get_rng_state()
    checkpoint.load(good_file)
    assert torch.equal(before, torch.get_rng_state())


def test_extra_tensors_round_trip(tmp_path, trained):
    extra = {"optimizer.step": torch.tensor([12]), "optimizer.m": torch.randn(4, 3)}
    path = checkpoint.save(trained, tmp_path / "x.safetensors", extra=extra)
    loaded = checkpoint.load_checkpoint(path)
    assert set(loaded.extra) == set(extra)
    assert all(torch.equal(loaded.extra[k], v) for k, v in extra.items())


def _metadata(data: bytes) -> dict[str, str]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n])["__metadata__"]


def test_stored_format(good_file, trained, spec):
    data = good_file.read_bytes()
    meta = _metadata(data)
    assert meta["format"] == "velora.checkpoint" and meta["format_version"] == "1"
    assert meta["velora_version"] == __version__ and meta["seed"] == "7"
    assert meta["created"].endswith("Z")
    assert yaml.safe_load(meta["spec"]) == yaml.safe_load(EXAMPLE.read_text())
    tensors = safetensors.torch.load(data)
    assert sorted(tensors) == sorted([*checkpoint.MASK_NAMES, *checkpoint.parameter_names()])
    assert len(tensors) == 33
    assert tensors["wiring.inter"].dtype == torch.int32
    assert torch.equal(tensors["wiring.command"], trained.wiring.masks.command)
    assert meta["sha256"] == checkpoint.tensor_digest(tensors)
    assert sniff(good_file) == "safetensors"


def test_digest_follows_its_documented_definition(good_file):
    import hashlib

    tensors = safetensors.torch.load_file(good_file)
    digest = hashlib.sha256()
    codes = {torch.float32: "F32", torch.int32: "I32"}
    for name in sorted(tensors):
        t = tensors[name]
        shape = ",".join(map(str, t.shape))
        digest.update(f"{name}\0{codes[t.dtype]}\0{shape}\0".encode())
        digest.update(t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes())
    assert digest.hexdigest() == _metadata(good_file.read_bytes())["sha256"]


def test_source_date_epoch_makes_files_reproducible(tmp_path, trained, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    a = checkpoint.save(trained, tmp_path / "a.safetensors").read_bytes()
    b = checkpoint.save(trained, tmp_path / "b.safetensors").read_bytes()
    assert a == b and _metadata(a)["created"] == "2023-11-14T22:13:20Z"


def test_save_refuses_to_overwrite_without_force(tmp_path, trained):
    path = checkpoint.save(trained, tmp_path / "a.safetensors")
    with pytest.raises(OutputExistsError):
        checkpoint.save(trained, path, force=False)
    checkpoint.save(trained, path)  # the default replaces, like torch.save


def test_save_rejects_a_spec_of_other_sizes(tmp_path, spec):
    with pytest.raises(ValueError, match="does not match"):
        checkpoint.save(LiquidNCPNetwork(4, 20, 1), tmp_path / "a.safetensors", spec)
    assert not (tmp_path / "a.safetensors").exists()


# ---- bad files -----------------------------------------------------------------------------


def _rewrite(good: Path, path: Path, edit) -> None:
    """Write ``good``'s tensors and metadata after ``edit(tensors, meta)``, rehashed (so that
    only the edit is wrong) unless the edit sets the hash itself."""
    data = good.read_bytes()
    tensors, meta = safetensors.torch.load(data), _metadata(data)
    stored = meta["sha256"]
    edit(tensors, meta)
    if meta["sha256"] == stored:
        meta["sha256"] = checkpoint.tensor_digest(tensors)
    path.write_bytes(safetensors.torch.save(tensors, meta))


def _flip_last_byte(good: Path, path: Path) -> None:
    data = bytearray(good.read_bytes())
    data[-3] ^= 0x40
    path.write_bytes(bytes(data))


def _tamper(good: Path, path: Path) -> None:
    data = good.read_bytes()
    tensors, meta = safetensors.torch.load(data), _metadata(data)
    tensors["layers.motor.proj.bias"] += 1.0
    path.write_bytes(safetensors.torch.save(tensors, meta))


class _Evil:
    """Unpickling this would create a marker file next to the checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


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


def _bad_mask_values(tensors, meta):
    tensors["wiring.command"][0, 0] = 2


def _make_bad(kind: str, good: Path, path: Path) -> None:
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
    }
    if kind in rewrites:
        _rewrite(good, path, rewrites[kind])
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
    "weight dtype": "dtype torch.float64, expected float32",
    "unexpected tensor": "unexpected tensor 'bogus'",
    "newer version": "format version 2 is newer",
    "spec disagrees": "stored spec describes",
    "spec invalid": "stored spec is invalid",
    "no sha": "no valid SHA-256",
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_file_is_refused_by_the_library(kind, tmp_path, good_file):
    path = tmp_path / "bad.safetensors"
    _make_bad(kind, good_file, path)
    with pytest.raises(CheckpointError) as info:
        checkpoint.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and BAD[kind] in message
    assert "\n" not in message
    assert not (tmp_path / "PWNED").exists()


# `export` reads a spec whatever its name (content decides), so a spec is only bad for `inspect`.
CLI_CASES = [
    (kind, command)
    for kind in sorted(BAD)
    for command in ("export", "inspect")
    if not (kind == "yaml spec" and command == "export")
]


@pytest.mark.parametrize(("kind", "command"), CLI_CASES)
def test_bad_file_gives_one_line_and_exit_2(kind, command, tmp_path, good_file, capsys):
    path = tmp_path / "in" / "bad.safetensors"
    path.parent.mkdir()
    _make_bad(kind, good_file, path)
    before = sorted(os.listdir(path.parent)), sorted(os.listdir(tmp_path))
    target = tmp_path / "out.safetensors"
    argv = [command, str(path)] + (["-o", str(target)] if command == "export" else [])
    capsys.readouterr()
    assert main_exit_code(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"error: {path}: ") and BAD[kind] in lines[0]
    if not (command == "inspect" and BAD[kind] == "checksum mismatch"):
        assert captured.out == ""  # inspect still shows a tampered file before refusing it
    assert not target.exists()
    assert (sorted(os.listdir(path.parent)), sorted(os.listdir(tmp_path))) == before


def test_a_bad_model_file_is_refused_where_a_spec_goes(tmp_path, good_file):
    """Binary files that are not checkpoints are refused as such, whatever their name."""
    path = tmp_path / "model.yaml"
    _make_bad("torch.save", good_file, path)
    with pytest.raises(CheckpointError, match="is a zip archive"):
        load_model(path)
    assert not (tmp_path / "PWNED").exists()


def test_real_process_exit_code_and_single_line(tmp_path, good_file):
    bad = tmp_path / "bad.safetensors"
    _make_bad("tampered", good_file, bad)
    velora = Path(sys.executable).with_name("velora")
    result = subprocess.run(
        [str(velora), "export", str(bad), "-o", str(tmp_path / "o.onnx")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: {bad}: checksum mismatch: the tensors do not match the stored SHA-256 "
        "(file corrupted or modified)"
    ]
    assert not (tmp_path / "o.onnx").exists()
