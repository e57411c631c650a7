"""The BLAS training loop: the outputs and gradients of the PyTorch loop, the masks kept exact,
and the choice ``fit`` makes between the loops."""

import numpy as np
import pytest
import torch

from tests.reference import as_np, network_sequence
from velora.models import LiquidNCPNetwork
from velora.models.layout import COMPILED_TRAINING_MAX_MACS, fused_size
from velora.training import SequenceData, fit


def inputs(net: LiquidNCPNetwork, batch: int, steps: int, seed: int = 0) -> tuple:
    """x, irregular timespans, a state carried in, and weights on both outputs."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, steps, net.in_features, generator=g)
    ts = 0.1 + 2 * torch.rand(batch, steps, generator=g)
    h0 = torch.randn(batch, net.n_units, generator=g) * 0.3
    gy = torch.randn(batch, steps, net.out_features, generator=g)
    gh = torch.randn(batch, net.n_units, generator=g)
    return x, ts, h0, gy, gh


def run(net, backend, x, ts, h0, gy, gh, *, x_grad=True, h_grad=True, params=True):
    """Outputs, and the gradients of sum(y * gy) + sum(h_last * gh) on what asks for one."""
    x = x.clone().requires_grad_(x_grad)
    h0 = h0.clone().requires_grad_(h_grad)
    for p in net.parameters():
        p.requires_grad_(params)
    wrt = [t for t in (x, h0) if t.requires_grad] + (list(net.parameters()) if params else [])
    y, h_last = net.forward_sequence(x, h0, ts, backend=backend)
    grads = torch.autograd.grad((y * gy).sum() + (h_last * gh).sum(), wrt)
    return y.detach(), h_last.detach(), grads


def assert_same(got, want) -> None:
    (y1, h1, g1), (y2, h2, g2) = got, want
    torch.testing.assert_close(y1, y2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h1, h2, rtol=1e-5, atol=1e-6)
    assert len(g1) == len(g2)
    for a, b in zip(g1, g2, strict=True):
        # float32 rounding, on the scale of each gradient
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * float(b.abs().max()) + 1e-7)


@pytest.mark.parametrize(
    ("sizes", "batch", "steps"),
    [((3, 12, 2), 1, 9), ((3, 12, 2), 11, 9), ((5, 40, 3), 16, 13), ((4, 256, 2), 6, 7)],
    ids=["n12-batch1", "n12-batch11", "n40", "n256"],
)
def test_outputs_and_gradients_match_the_pytorch_loop(sizes, batch, steps) -> None:
    net = LiquidNCPNetwork(*sizes, sparsity_level=0.5, seed=1)
    args = inputs(net, batch, steps)
    assert_same(run(net, "blas", *args), run(net, "torch", *args))


@pytest.mark.parametrize(
    "wanted",
    [
        {"x_grad": False, "h_grad": False},  # as fit trains: parameters only
        {"x_grad": True, "h_grad": False},
        {"x_grad": False, "h_grad": True},
        {"params": False},  # x and h0 only
    ],
    ids=["parameters", "x", "h0", "inputs-only"],
)
def test_gradients_on_what_asks_for_one(wanted: dict) -> None:
    net = LiquidNCPNetwork(4, 30, 2, seed=3)
    args = inputs(net, 5, 8, seed=1)
    assert_same(run(net, "blas", *args, **wanted), run(net, "torch", *args, **wanted))


def test_forward_matches_the_numpy_equations() -> None:
    net = LiquidNCPNetwork(3, 50, 2, sparsity_level=0.4, seed=2)
    x = np.random.randn(4, 11, 3).astype(np.float32)
    ts = (0.2 + np.random.rand(4, 11)).astype(np.float32)
    want_y, want_h = network_sequence(net, x, ts)
    y, h = net.forward_sequence(torch.from_numpy(x), None, torch.from_numpy(ts), backend="blas")
    np.testing.assert_allclose(as_np(y), want_y, atol=2e-6)
    np.testing.assert_allclose(as_np(h), want_h, atol=2e-6)
    with torch.no_grad():  # the same loop without gradients
        y2, h2 = net.forward_sequence(
            torch.from_numpy(x), None, torch.from_numpy(ts), backend="blas"
        )
    assert torch.equal(y2, y.detach()) and torch.equal(h2, h.detach())


def test_masked_out_weights_get_no_gradient() -> None:
    net = LiquidNCPNetwork(3, 40, 1, sparsity_level=0.7, seed=2)
    y, _ = net.forward_sequence(torch.randn(4, 6, 3), backend="blas")
    y.square().sum().backward()
    masked = 0
    for cell in net.layers.values():
        off = cell.sparsity_mask == 0
        masked += int(off.sum())
        for head in cell.heads():
            assert torch.count_nonzero(head.weight.grad[off]) == 0
    assert masked > 0


def test_return_states_is_refused() -> None:
    net = LiquidNCPNetwork(3, 12, 1, seed=0)
    with pytest.raises(ValueError, match="return_states is not available with backend='blas'"):
        net.forward_sequence(torch.randn(2, 3, 3), return_states=True, backend="blas")


def test_the_blas_loop_stays_on_the_cpu() -> None:
    net = LiquidNCPNetwork(3, 12, 1, seed=0).to("meta")
    with pytest.raises(ValueError, match="the blas loop runs on the CPU, not on meta"):
        net.forward_sequence(torch.randn(2, 3, 3), backend="blas")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_on_a_gpu_keeps_the_pytorch_loop() -> None:
    net = LiquidNCPNetwork(3, 100, 2, seed=0, device="cuda")
    assert net.training_backend(64) == "torch"
    g = torch.Generator().manual_seed(0)
    data = SequenceData(
        torch.randn(8, 12, 3, generator=g), torch.randn(8, 12, 2, generator=g), None, None
    )
    result = fit(net, data, epochs=1, lr=0.01, batch_size=8, window=5, seed=0)
    assert np.isfinite(result.train_loss[0]) and net.device.type == "cuda"


def test_training_backend_follows_the_work_per_step() -> None:
    net = LiquidNCPNetwork(4, 64, 2, seed=0)
    crossover = COMPILED_TRAINING_MAX_MACS / fused_size(net.wiring)
    assert net.training_backend(max(int(crossover) - 1, 1)) == "compiled"
    assert net.training_backend(int(crossover) + 1) == "blas"
    assert net.to("meta").training_backend(1000) == "torch"  # never a CPU loop elsewhere


def test_fit_through_the_blas_loop_matches_the_pytorch_loop() -> None:
    g = torch.Generator().manual_seed(0)
    data = SequenceData(
        torch.randn(8, 12, 3, generator=g),
        torch.randn(8, 12, 2, generator=g),
        0.5 + torch.rand(8, 12, generator=g),
        torch.tensor([12, 12, 9, 12, 5, 12, 12, 7]),
    )
    kwargs = {"epochs": 2, "lr": 0.01, "batch_size": 4, "window": 5, "seed": 0}
    net = LiquidNCPNetwork(3, 100, 2, seed=0)
    assert net.training_backend(4) == "blas"  # what compiled=None takes here
    a = fit(net, data, **kwargs)
    b = fit(LiquidNCPNetwork(3, 100, 2, seed=0), data, compiled=False, **kwargs)
    assert a.train_loss == pytest.approx(b.train_loss, rel=1e-4)
    for name, value in a.best_state.items():
        torch.testing.assert_close(value, b.best_state[name], rtol=1e-4, atol=1e-5)
