"""Learned synapse strengths (``velora.viz.stats.synapse_strengths``) against the checkpoint's
own tensors, read with safetensors and computed here in numpy."""

import math

import numpy as np
import safetensors.numpy
import torch

from tests.reference import SYNAPSE_LAYERS, synapse_table
from velora.files.loading import load_model
from velora.models import LiquidNCPNetwork
from velora.viz.stats import Synapse, synapse_strengths

LAYERS = SYNAPSE_LAYERS


def expected_synapses(path) -> list[dict]:
    return synapse_table(safetensors.numpy.load_file(str(path)))


def test_every_synapse_with_its_strength_from_the_tensors(good_file) -> None:
    network, _ = load_model(good_file)
    found = synapse_strengths(network)
    expected = expected_synapses(good_file)
    assert len(found) == len(expected) == 51  # the example wiring's synapses
    for synapse, want in zip(found, expected, strict=True):
        assert isinstance(synapse, Synapse)
        got = synapse.to_dict()
        assert {k: got[k] for k in ("layer", "source", "target", "polarity")} == {
            k: want[k] for k in ("layer", "source", "target", "polarity")
        }
        assert math.isclose(synapse.strength, want["strength"], rel_tol=1e-12)
        assert got["strength"] == float(f"{want['strength']:.6g}")


def test_weights_off_the_synapse_do_not_count(trained) -> None:
    """Changing a weight outside the masks, or a recurrent weight, changes no strength; the
    weight of a synapse in any head does."""
    before = [s.strength for s in synapse_strengths(trained)]
    cell = trained.cells()[0]  # inter: inputs are the 4 sensory neurons
    mask = trained.wiring.masks.inter.numpy()
    source, target = (int(v) for v in np.argwhere(mask == 0)[0])
    with torch.no_grad():
        cell.h_head.weight[target, source] += 5.0  # off the mask
        cell.proj.weight[0, cell.in_features] += 5.0  # recurrent block
    assert [s.strength for s in synapse_strengths(trained)] == before
    first = synapse_strengths(trained)[0]
    with torch.no_grad():
        cell.f_head_to_h.weight[first.target, first.source] += 1.0
    assert synapse_strengths(trained)[0].strength != first.strength


def test_order_and_polarity_follow_the_masks() -> None:
    net = LiquidNCPNetwork(3, 12, 2, seed=5)
    synapses = synapse_strengths(net)
    masks = {
        "sensory->inter": net.wiring.masks.inter.numpy(),
        "inter->command": net.wiring.masks.command.numpy(),
        "command->motor": net.wiring.masks.motor.numpy(),
    }
    keys = [(list(LAYERS).index(s.layer), s.source, s.target) for s in synapses]
    assert keys == sorted(keys)
    assert len(synapses) == sum(int((m != 0).sum()) for m in masks.values())
    for s in synapses:
        assert s.polarity == masks[s.layer][s.source, s.target] in (1, -1)
        assert s.strength > 0
