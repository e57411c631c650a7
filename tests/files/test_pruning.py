"""``prune_model``: the pruned checkpoint on disk, its ``pruned_from`` metadata, and refusals
that leave nothing behind."""

import json
import os

import numpy as np
import pytest
import safetensors.numpy
import torch

from tests.helpers import EXAMPLE, checkpoint_metadata
from velora.errors import OutputExistsError, VeloraError
from velora.files import checkpoint
from velora.files.checkpoint_file import PrunedFrom, tensor_digest
from velora.files.loading import load_model
from velora.files.pruning import prune_model
from velora.models.pruning import prune_network
from velora.spec import dump_spec

LAYERS = ("inter", "command", "motor")


def test_pruned_checkpoint_verifies_and_records_its_origin(tmp_path, good_file) -> None:
    out = tmp_path / "pruned.safetensors"
    report = prune_model(good_file, out, keep=0.6)
    source = checkpoint.load_checkpoint(good_file)
    written = checkpoint.load_checkpoint(out)
    assert checkpoint.verify(written).ok
    assert written.metadata.pruned_from == PrunedFrom(
        file=str(good_file),
        sha256=source.metadata.sha256,
        keep=0.6,
        synapses_before={"inter": 19, "command": 26, "motor": 6},
    )
    assert report.pruned_from == written.metadata.pruned_from
    assert (report.output, report.n_bytes, report.sha256) == (
        out,
        out.stat().st_size,
        written.metadata.sha256,
    )
    meta = checkpoint_metadata(out.read_bytes())
    assert json.loads(meta["pruned_from"])["synapses_before"] == {
        "inter": 19,
        "command": 26,
        "motor": 6,
    }
    # the spec, names and seed of the source; the file holds what prune_network makes
    assert dump_spec(written.spec) == dump_spec(source.spec)
    assert written.metadata.seed == source.metadata.seed
    expected = prune_network(source.model, 0.6).network.to_tensors()
    stored = safetensors.numpy.load_file(str(out))
    assert sorted(stored) == sorted(expected)
    for name, tensor in expected.items():
        assert np.array_equal(stored[name], tensor.numpy()), name
    # masks of OUT are a subset of MODEL's
    original = safetensors.numpy.load_file(str(good_file))
    for layer in LAYERS:
        old, new = original[f"wiring.{layer}"], stored[f"wiring.{layer}"]
        assert np.all((new == 0) | (new == old)) and (new != 0).sum() < (old != 0).sum()
    assert [layer.to_dict() for layer in report.layers] == [
        {"layer": f"{s}->{t}", "before": b, "after": int((stored[f"wiring.{n}"] != 0).sum()),
         "restored": r.restored}
        for (s, t, n, b), r in zip(
            [("sensory", "inter", "inter", 19), ("inter", "command", "command", 26),
             ("command", "motor", "motor", 6)],
            report.layers,
            strict=True,
        )
    ]  # fmt: skip


def test_a_pruned_checkpoint_runs_like_the_pruned_network(tmp_path, good_file) -> None:
    out = prune_model(good_file, tmp_path / "p.safetensors", keep=0.4).output
    net, _ = load_model(out)
    want = prune_network(load_model(good_file)[0], 0.4).network
    x = torch.randn(5, 9, 4)
    with torch.no_grad():
        assert torch.equal(net.forward_sequence(x)[0], want.forward_sequence(x)[0])


def test_prune_a_spec_records_the_seeded_tensors(tmp_path) -> None:
    out = tmp_path / "p.safetensors"
    report = prune_model(EXAMPLE, out, keep=0.5)
    seeded, _ = load_model(EXAMPLE)
    assert report.pruned_from.sha256 == tensor_digest(seeded.to_tensors())
    assert report.pruned_from.file == str(EXAMPLE)
    assert checkpoint.verify(checkpoint.load_checkpoint(out)).ok


def test_pruning_a_pruned_checkpoint_records_the_nearest_origin(tmp_path, good_file) -> None:
    first = prune_model(good_file, tmp_path / "a.safetensors", keep=0.8)
    second = prune_model(first.output, tmp_path / "b.safetensors", keep=0.5)
    assert second.pruned_from.sha256 == first.sha256
    assert second.pruned_from.synapses_before == {
        layer.layer: layer.after for layer in first.layers
    }


def test_extra_tensors_are_not_carried_over(tmp_path, trained) -> None:
    source = checkpoint.save(
        trained, tmp_path / "s.safetensors", extra={"adam.step": torch.tensor([3])}
    )
    out = prune_model(source, tmp_path / "p.safetensors", keep=0.5).output
    assert checkpoint.load_checkpoint(out).extra == {}


def test_older_files_without_the_key_load(good_file) -> None:
    assert "pruned_from" not in checkpoint_metadata(good_file.read_bytes())
    assert checkpoint.load_checkpoint(good_file).metadata.pruned_from is None
    assert (
        checkpoint.summary(checkpoint.load_checkpoint(good_file))["metadata"]["pruned_from"] is None
    )


def test_inspect_summary_shows_the_origin(tmp_path, good_file) -> None:
    out = prune_model(good_file, tmp_path / "p.safetensors", keep=0.6).output
    info = checkpoint.summary(checkpoint.load_checkpoint(out))
    assert info["metadata"]["pruned_from"]["keep"] == 0.6
    source = checkpoint.summary(checkpoint.load_checkpoint(good_file))
    assert info["verification"]["ok"]
    # removed synapses are zeroed: no more weights sit outside the masks than before
    outside = info["verification"]["stored_outside_masks"]
    assert outside == source["verification"]["stored_outside_masks"]


@pytest.mark.parametrize(
    ("keep", "output", "error", "words"),
    [
        (0.0, "p.safetensors", VeloraError, "keep: expected a fraction in (0, 1], got 0.0"),
        (1.5, "p.safetensors", VeloraError, "keep: expected a fraction in (0, 1], got 1.5"),
        (0.5, "p.onnx", VeloraError, "output: "),
        (0.5, "exists.safetensors", OutputExistsError, "already exists"),
        (0.5, "nofolder/p.safetensors", VeloraError, "does not exist"),
    ],
)
def test_refusals_leave_nothing_behind(tmp_path, good_file, keep, output, error, words) -> None:
    (tmp_path / "exists.safetensors").write_bytes(b"mine")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(error) as info:
        prune_model(good_file, tmp_path / output, keep=keep)
    assert words in str(info.value) and "\n" not in str(info.value)
    assert sorted(os.listdir(tmp_path)) == before
    assert (tmp_path / "exists.safetensors").read_bytes() == b"mine"


def test_force_replaces_an_existing_file(tmp_path, good_file) -> None:
    out = tmp_path / "p.safetensors"
    out.write_bytes(b"old")
    prune_model(good_file, out, keep=0.5, force=True)
    assert checkpoint.verify(checkpoint.load_checkpoint(out)).ok
    assert sorted(os.listdir(tmp_path)) == ["model.safetensors", "p.safetensors"]


def test_same_input_gives_a_byte_identical_file(tmp_path, good_file, monkeypatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    a = prune_model(good_file, tmp_path / "a.safetensors", keep=0.6).output
    b = prune_model(good_file, tmp_path / "b.safetensors", keep=0.6).output
    assert a.read_bytes() == b.read_bytes()
