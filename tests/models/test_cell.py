"""NCPLiquidCell against the numpy equations, and masked weights that never take effect."""

import numpy as np
import pytest
import torch

from tests.reference import as_np, cell_step
from velora.models.lnn import NCPLiquidCell
from velora.models.lnn.cell import HEAD_NAMES
from velora.wiring import Wiring


@pytest.fixture
def layer():
    masks, counts = Wiring(5, 12, 2, seed=4).data()
    return NCPLiquidCell(counts.sensory, counts.inter, masks.inter), masks.inter.numpy()


def test_structure(layer) -> None:
    cell, mask = layer
    n, k = cell.n_hidden, cell.in_features + cell.n_hidden
    assert cell.sparsity_mask.shape == (n, k)
    np.testing.assert_array_equal(cell.sparsity_mask[:, : cell.in_features].numpy(), np.abs(mask).T)
    assert bool((cell.sparsity_mask[:, cell.in_features :] == 1).all())
    for name in HEAD_NAMES:
        head = getattr(cell, name)
        assert head.weight.shape == (n, k) and head.bias.shape == (n,)


@pytest.mark.parametrize("kind", ["none", "float", "batch", "batch1"])
def test_matches_numpy_equations(layer, kind: str) -> None:
    cell, mask = layer
    x, h = torch.randn(6, cell.in_features), torch.randn(6, cell.n_hidden)
    spans = torch.rand(6) * 3
    t = {"none": None, "float": 0.37, "batch": spans, "batch1": spans.unsqueeze(1)}[kind]
    y, new_h = cell(x, h, t)
    ref_t = {"none": 1.0, "float": 0.37}.get(kind, as_np(spans))
    want_y, want_h = cell_step(cell, mask, as_np(x), as_np(h), ref_t)
    np.testing.assert_allclose(as_np(y), want_y, atol=1e-5)
    np.testing.assert_allclose(as_np(new_h), want_h, atol=1e-5)


def test_timespans_shape_error(layer) -> None:
    cell, _ = layer
    with pytest.raises(ValueError, match="timespans"):
        cell(torch.randn(3, cell.in_features), torch.zeros(3, cell.n_hidden), torch.ones(4))


def test_mask_shape_error() -> None:
    with pytest.raises(ValueError, match=r"mask must have shape \(in_features, n_hidden\)"):
        NCPLiquidCell(3, 4, torch.ones(4, 3))


def perturb_outside_mask(cell: NCPLiquidCell) -> None:
    off = cell.sparsity_mask == 0
    with torch.no_grad():
        for name in HEAD_NAMES:
            getattr(cell, name).weight[off] += 100.0


@pytest.mark.parametrize("optimizer", [torch.optim.SGD, torch.optim.AdamW])
def test_masked_weights_have_no_effect_after_optimizer_steps(layer, optimizer) -> None:
    cell, _ = layer
    opt = optimizer(cell.parameters(), lr=0.1)
    x, h = torch.randn(8, cell.in_features), torch.randn(8, cell.n_hidden)
    for _ in range(5):
        opt.zero_grad()
        y, new_h = cell(x, h, 0.5)
        (y.pow(2).sum() + new_h.sum()).backward()
        off = cell.sparsity_mask == 0
        assert all(bool((getattr(cell, n).weight.grad[off] == 0).all()) for n in HEAD_NAMES)
        opt.step()
    with torch.no_grad():
        before = cell(x, h, 0.5)
        perturb_outside_mask(cell)
        after = cell(x, h, 0.5)
    assert torch.equal(before[0], after[0]) and torch.equal(before[1], after[1])


def test_inference_cache_follows_parameter_updates(layer) -> None:
    cell, _ = layer
    x, h = torch.randn(2, cell.in_features), torch.randn(2, cell.n_hidden)
    with torch.no_grad():
        first = cell(x, h)[0]
        cell.proj.bias += 1.0
        second = cell(x, h)[0]
    torch.testing.assert_close(second, first + 1.0)
