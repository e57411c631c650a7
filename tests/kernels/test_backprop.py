"""The compiled training loop: same outputs and gradients as the PyTorch loop."""

import pytest
import torch

from velora.models import LiquidNCPNetwork
from velora.training import SequenceData, fit


@pytest.mark.parametrize("batch", [1, 11])
def test_outputs_and_gradients_match_the_pytorch_loop(batch: int) -> None:
    model = LiquidNCPNetwork(3, 12, 2, sparsity_level=0.6, seed=1)
    x = torch.randn(batch, 9, 3, requires_grad=True)
    ts = torch.rand(batch, 9) + 0.5
    h0 = (torch.randn(batch, model.n_units) * 0.3).requires_grad_()
    gy, gh = torch.randn(batch, 9, 2), torch.randn(batch, model.n_units)
    results = []
    for backend in ("compiled", "torch"):
        y, h_last = model.forward_sequence(x, h0, ts, backend=backend)
        loss = (y * gy).sum() + (h_last * gh).sum()
        grads = torch.autograd.grad(loss, [x, h0, *model.parameters()])
        results.append((y.detach(), h_last.detach(), grads))
    (y1, h1, g1), (y2, h2, g2) = results
    torch.testing.assert_close(y1, y2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h1, h2, rtol=1e-5, atol=1e-6)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_masked_out_weights_get_no_gradient_through_the_compiled_loop() -> None:
    model = LiquidNCPNetwork(3, 12, 1, sparsity_level=0.7, seed=2)
    y, _ = model.forward_sequence(torch.randn(4, 6, 3), backend="compiled")
    y.square().sum().backward()
    for cell in model.layers.values():
        off = cell.sparsity_mask == 0
        for head in cell.heads():
            assert torch.count_nonzero(head.weight.grad[off]) == 0


def test_fit_compiled_and_pytorch_loops_agree() -> None:
    g = torch.Generator().manual_seed(0)
    data = SequenceData(
        torch.randn(6, 12, 2, generator=g), torch.randn(6, 12, 1, generator=g), None, None
    )
    kwargs = {"epochs": 2, "lr": 0.01, "batch_size": 3, "window": 5, "seed": 0}
    a = fit(LiquidNCPNetwork(2, 8, 1, seed=0), data, compiled=True, **kwargs)
    b = fit(LiquidNCPNetwork(2, 8, 1, seed=0), data, compiled=False, **kwargs)
    assert a.train_loss == pytest.approx(b.train_loss, rel=1e-4)
