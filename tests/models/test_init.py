"""velora.models.init: a network's seeded initial weights, without torch, are bit for bit the
draws nn.Linear makes after torch.manual_seed(seed), and the module holds the same."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from velora.models import LiquidNCPNetwork
from velora.models.arrays import parameter_arrays
from velora.models.init import initial_parameters, linear_bounds
from velora.models.layout import HEAD_NAMES, parameter_names, parameter_shapes
from velora.wiring import LAYER_NAMES, Wiring, WiringDesign, layer_sizes

SEEDS = [0, 1, 12345, 2**32 + 5, 2**63 - 1, 2**64 - 1]
WIRINGS = {
    "ncp 1 input": lambda seed: Wiring(1, 4, 1, seed=seed),
    "ncp": lambda seed: Wiring(4, 16, 1, seed=seed),
    "ncp designed": lambda seed: Wiring(
        4,
        20,
        2,
        seed=seed,
        design=WiringDesign(inter_neurons=12, sensory_fanout=4, inter_fanout=3, motor_fanin=5),
    ),
    "fully_connected": lambda seed: Wiring.fully_connected(3, 40, 2, seed=seed),
    "random": lambda seed: Wiring(
        2, 90, 3, sparsity_level=0.7, seed=seed, design=WiringDesign("random")
    ),
}


def _nn_linear_draws(wiring: Wiring) -> dict[str, np.ndarray]:
    """What the module's heads drew from the global generator before velora drew them: one
    ``nn.Linear`` per head, layer by layer, each with its own reset_parameters."""
    drawn = {}
    for layer, (n_in, n) in zip(LAYER_NAMES, layer_sizes(wiring.counts), strict=True):
        for head in HEAD_NAMES:
            linear = nn.Linear(n_in + n, n)
            drawn[f"layers.{layer}.{head}.weight"] = linear.weight.detach().numpy()
            drawn[f"layers.{layer}.{head}.bias"] = linear.bias.detach().numpy()
    return drawn


def _assert_same_bits(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert list(got) == list(expected)
    for name, value in expected.items():
        assert got[name].dtype == np.float32 and got[name].shape == value.shape, name
        assert np.array_equal(got[name].view(np.uint32), value.view(np.uint32)), name


@pytest.mark.parametrize("design", sorted(WIRINGS))
@pytest.mark.parametrize("seed", SEEDS)
def test_seeded_initial_weights_are_nn_linears_draws(seed, design):
    """numpy's draws, nn.Linear's after torch.manual_seed(seed) and the seeded module's: the
    same bits, by name in parameter_names() order, shapes as parameter_shapes."""
    wiring = WIRINGS[design](seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        expected = _nn_linear_draws(wiring)
    assert list(expected) == parameter_names()
    ours = initial_parameters(wiring, seed)
    _assert_same_bits(ours, expected)
    assert {k: v.shape for k, v in ours.items()} == parameter_shapes(wiring)
    n_in, n, n_out = wiring.in_features, wiring.n_neurons, wiring.out_features
    module = LiquidNCPNetwork(n_in, n, n_out, seed=seed, wiring=wiring)
    _assert_same_bits(parameter_arrays(module), expected)
    assert all(p.requires_grad and p.is_leaf for p in module.parameters())


def test_without_a_seed_the_draws_are_the_global_generators():
    """Unseeded, the numpy rule (through torch's global generator) and the module (nn.Linear's
    own draws) both take what nn.Linear takes from it, and leave it in the same state."""
    wiring = WIRINGS["ncp designed"](3)
    results, states = [], []
    for make in (
        _nn_linear_draws,
        lambda w: initial_parameters(w, None),
        lambda w: parameter_arrays(LiquidNCPNetwork(4, 20, 2, wiring=w)),
    ):
        torch.manual_seed(77)
        results.append(make(wiring))
        states.append(torch.get_rng_state())
    for result, state in zip(results[1:], states[1:], strict=True):
        _assert_same_bits(result, results[0])
        assert torch.equal(state, states[0])


def test_seeded_weights_leave_global_random_state_alone():
    torch.manual_seed(5)
    before = torch.get_rng_state()
    wiring = Wiring(3, 12, 2, seed=4)
    initial_parameters(wiring, 4)
    LiquidNCPNetwork(3, 12, 2, seed=4)
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("fan_in", [1, 2, 3, 7, 20, 41, 1000])
def test_linear_bounds_are_torch_nn_inits(fan_in):
    """kaiming_uniform_(a=sqrt(5))'s bound as torch.nn.init computes it, exactly, and the bias
    bound; both are 1/sqrt(fan_in) up to rounding (PyTorch issue 57109)."""
    gain = nn.init.calculate_gain("leaky_relu", math.sqrt(5))
    weight, bias = linear_bounds(fan_in)
    assert weight == math.sqrt(3.0) * (gain / math.sqrt(fan_in))
    assert bias == 1 / math.sqrt(fan_in)
    assert weight == pytest.approx(bias, rel=1e-15)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_seeded_network_has_the_same_weights_on_a_gpu():
    """The seed fixes the weights on every device (drawn on the CPU stream, then copied), and
    the GPU's generator is left alone."""
    torch.cuda.manual_seed(3)
    before = torch.cuda.get_rng_state()
    on_gpu = LiquidNCPNetwork(4, 16, 1, seed=7, device="cuda")
    assert on_gpu.device.type == "cuda" and on_gpu.layers["inter"].sparsity_mask.is_cuda
    _assert_same_bits(
        parameter_arrays(on_gpu), parameter_arrays(LiquidNCPNetwork(4, 16, 1, seed=7))
    )
    assert torch.equal(torch.cuda.get_rng_state(), before)
