"""Checkpoints and wiring designs: the masks and the stored spec's `wiring` section round-trip,
files written before designs existed still load to the same network, and a stored design that
disagrees with the masks is refused."""

import hashlib
from pathlib import Path

import pytest
import safetensors.torch
import torch

from tests.helpers import EXAMPLE, checkpoint_metadata
from velora.errors import CheckpointError
from velora.files import checkpoint
from velora.files.checkpoint_file import METADATA_DIGEST, metadata_digest
from velora.files.loading import load_model
from velora.spec import dump_spec, parse_spec
from velora.viz.stats import network_stats
from velora.wiring import WiringDesign

DATA = Path(__file__).resolve().parent / "data"
# examples/pendulum.yaml saved by velora's code before wiring designs (commit f16f0df).
BEFORE = DATA / "pendulum-before-designs.safetensors"

DESIGNED = """\
version: 1
name: designed
seed: 7
network:
  in_features: 4
  n_neurons: 20
  out_features: 2
  wiring: {type: ncp, inter_neurons: 12, sensory_fanout: 4, inter_fanout: 3, motor_fanin: 5}
"""


def test_a_file_written_before_designs_loads_as_the_same_network() -> None:
    assert hashlib.sha256(BEFORE.read_bytes()).hexdigest().startswith("38aa7e5c")
    old, spec = load_model(BEFORE)
    new, _ = load_model(EXAMPLE)
    assert (
        spec.network.wiring is None
        and "wiring" not in checkpoint_metadata(BEFORE.read_bytes())["spec"]
    )
    for (name, a), (_, b) in zip(old.state_dict().items(), new.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert old.wiring.design == new.wiring.design == WiringDesign("ncp", 10, 6)
    assert network_stats(old, name="p").to_dict() == network_stats(new, name="p").to_dict()


def test_default_specs_store_the_same_tensors_as_before(tmp_path: Path) -> None:
    net, spec = load_model(EXAMPLE)
    path = checkpoint.save(net, tmp_path / "now.safetensors", spec)
    now, before = path.read_bytes(), BEFORE.read_bytes()
    assert safetensors.torch.load(now).keys() == safetensors.torch.load(before).keys()
    assert checkpoint_metadata(now)["sha256"] == checkpoint_metadata(before)["sha256"]
    assert checkpoint_metadata(now)["spec"] == checkpoint_metadata(before)["spec"]


def test_a_designed_network_round_trips(tmp_path: Path) -> None:
    spec = parse_spec(DESIGNED, "designed.yaml")
    net, _ = load_model_from_text(tmp_path, DESIGNED)
    path = checkpoint.save(net, tmp_path / "d.safetensors", spec)
    back, stored = load_model(path)
    assert stored.network.wiring == spec.network.wiring == WiringDesign("ncp", 12, 8, 4, 3, 5)
    assert back.wiring.design == net.wiring.design
    for (name, a), (_, b) in zip(back.wiring.masks.items(), net.wiring.masks.items(), strict=True):
        assert torch.equal(a, b), name
    assert network_stats(back, name="d").to_dict() == network_stats(net, name="d").to_dict()
    # Saved without a spec, the design still travels in the spec made from the network.
    bare = checkpoint.save(net, tmp_path / "bare.safetensors")
    assert load_model(bare)[1].network.wiring == spec.network.wiring


def load_model_from_text(tmp_path: Path, text: str):
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return load_model(path)


def test_a_stored_design_that_disagrees_with_the_masks_is_refused(tmp_path: Path) -> None:
    net, spec = load_model_from_text(tmp_path, DESIGNED)
    good = checkpoint.save(net, tmp_path / "d.safetensors", spec)
    data = good.read_bytes()
    tensors, meta = safetensors.torch.load(data), checkpoint_metadata(data)
    meta["spec"] = dump_spec(parse_spec(DESIGNED.replace("inter_neurons: 12", "inter_neurons: 11")))
    meta[METADATA_DIGEST] = metadata_digest(meta)  # forged consistently: the deeper check holds
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(safetensors.torch.save(tensors, meta))
    with pytest.raises(CheckpointError, match=r"stored spec describes \(inter_neurons, command_"):
        load_model(bad)
