"""Checkpoints: exact round trips, the stored format, and every kind of bad file refused.

The CLI's one-line errors for the same bad files: tests/cli/test_checkpoint_errors.py.
"""

import pytest
import safetensors.torch
import torch
import yaml

from tests.helpers import BAD, EXAMPLE, checkpoint_metadata, make_bad
from velora import __version__
from velora.errors import CheckpointError, OutputExistsError
from velora.files import checkpoint
from velora.files.checkpoint_file import METADATA_DIGEST
from velora.files.loading import load_model
from velora.files.sniff import sniff
from velora.models import LiquidNCPNetwork
from velora.spec import dump_spec, load_spec

# `trained` and `good_file` (the example network as after training, and saved) are in
# tests/conftest.py.


@pytest.fixture
def spec():
    """The example spec, loaded (here in place of tests/conftest.py's tiny spec file)."""
    return load_spec(EXAMPLE)


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
    meta = checkpoint_metadata(checkpoint.encode(net))
    del meta["spec"], meta[METADATA_DIGEST]  # as velora 0.1 wrote networks saved bare
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


def test_stored_format(good_file, trained, spec):
    data = good_file.read_bytes()
    meta = checkpoint_metadata(data)
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
    assert digest.hexdigest() == checkpoint_metadata(good_file.read_bytes())["sha256"]


def test_source_date_epoch_makes_files_reproducible(tmp_path, trained, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    a = checkpoint.save(trained, tmp_path / "a.safetensors").read_bytes()
    b = checkpoint.save(trained, tmp_path / "b.safetensors").read_bytes()
    assert a == b and checkpoint_metadata(a)["created"] == "2023-11-14T22:13:20Z"


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


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_file_is_refused_by_the_library(kind, tmp_path, good_file):
    path = tmp_path / "bad.safetensors"
    make_bad(kind, good_file, path)
    with pytest.raises(CheckpointError) as info:
        checkpoint.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and BAD[kind] in message
    assert "\n" not in message
    assert not (tmp_path / "PWNED").exists()


def test_a_bad_model_file_is_refused_where_a_spec_goes(tmp_path, good_file):
    """Binary files that are not checkpoints are refused as such, whatever their name."""
    path = tmp_path / "model.yaml"
    make_bad("torch.save", good_file, path)
    with pytest.raises(CheckpointError, match="is a zip archive"):
        load_model(path)
    assert not (tmp_path / "PWNED").exists()
