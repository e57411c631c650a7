"""LiquidNCPNetwork: shapes, the numpy equations, and sequence paths that agree with stepping."""

import numpy as np
import pytest
import torch

from tests.reference import as_np, network_sequence
from velora.models import LiquidNCPNetwork
from velora.models.lnn import LiquidNCPNetwork as FromLnn
from velora.models.lnn.ncp import LiquidNCPNetwork as FromNcp


def test_exports_are_one_class() -> None:
    assert LiquidNCPNetwork is FromLnn is FromNcp


def test_structure() -> None:
    net = LiquidNCPNetwork(4, 10, 2, seed=0)
    assert list(net.layers) == ["inter", "command", "motor"]
    counts = net.wiring.counts
    assert net.out_sizes == [counts.inter, counts.command, counts.motor]
    assert net.n_units == 12 == sum(net.out_sizes)


def test_forward_shapes_and_squeeze() -> None:
    net = LiquidNCPNetwork(4, 10, 2, seed=0)
    y, h = net(torch.randn(1, 4))
    assert y.shape == (2,) and h.shape == (1, 12)
    y, h = net(torch.randn(3, 4), h.expand(3, -1))
    assert y.shape == (3, 2) and h.shape == (3, 12)


@pytest.mark.parametrize("shape", [(4,), (1, 1, 4), (2, 5)])
def test_forward_rejects_bad_input_shape(shape: tuple) -> None:
    net = LiquidNCPNetwork(4, 10, 1, seed=0)
    with pytest.raises(ValueError, match=r"x must be 2-D .* got shape"):
        net(torch.randn(*shape))


def test_forward_rejects_bad_state() -> None:
    net = LiquidNCPNetwork(4, 10, 1, seed=0)
    with pytest.raises(ValueError, match="h_state must have shape"):
        net(torch.randn(2, 4), torch.zeros(2, 10))


def test_forward_matches_numpy_equations() -> None:
    net = LiquidNCPNetwork(3, 20, 2, sparsity_level=0.3, seed=1)
    x = np.random.randn(5, 7, 3).astype(np.float32)
    ts = (np.random.rand(5, 7) * 2).astype(np.float32)
    want_y, want_h = network_sequence(net, x, ts)
    h = None
    for s in range(7):
        y, h = net(torch.from_numpy(x[:, s]), h, torch.from_numpy(ts[:, s]))
        np.testing.assert_allclose(as_np(y), want_y[:, s], atol=1e-5)
    np.testing.assert_allclose(as_np(h), want_h, atol=1e-5)


def step_loop(net, x, ts, h=None):
    ys = []
    for s in range(x.shape[1]):
        y, h = net(x[:, s], h, None if ts is None else ts[:, s])
        ys.append(y.reshape(x.shape[0], -1))
    return torch.stack(ys, dim=1), h


@pytest.mark.parametrize("batch", [1, 3, 17])
@pytest.mark.parametrize("with_ts", [False, True])
def test_forward_sequence_paths_match_step_loop(batch: int, with_ts: bool) -> None:
    net = LiquidNCPNetwork(4, 24, 3, seed=2)
    x = torch.randn(batch, 30, 4)
    ts = torch.rand(batch, 30) * 2 if with_ts else None
    h0 = torch.randn(batch, net.n_units) * 0.1
    with torch.no_grad():
        want_y, want_h = step_loop(net, x, ts, h0)
        fast_y, fast_h = net.forward_sequence(x, h0, ts)  # compiled loop
        eager_y, eager_h = net.forward_sequence(x, h0, ts, backend="torch")
    for y, h in ((fast_y, fast_h), (eager_y, eager_h)):
        torch.testing.assert_close(y, want_y, atol=2e-6, rtol=1e-5)
        torch.testing.assert_close(h, want_h, atol=2e-6, rtol=1e-5)


def test_large_batches_take_the_blas_path_with_same_numbers() -> None:
    net = LiquidNCPNetwork(4, 64, 1, seed=3)
    assert net.prefers_compiled(1) and not net.prefers_compiled(4096)
    x = torch.randn(5, 20, 4)
    with torch.no_grad():
        compiled = net.forward_sequence(x, backend="compiled")
        eager = net.forward_sequence(x, backend="torch")
    torch.testing.assert_close(compiled[0], eager[0], atol=2e-6, rtol=1e-5)


def test_forward_sequence_is_differentiable_and_matches() -> None:
    net = LiquidNCPNetwork(4, 16, 1, seed=0)
    x = torch.randn(2, 12, 4)
    y, _ = net.forward_sequence(x)
    y.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    with torch.no_grad():
        torch.testing.assert_close(net.forward_sequence(x)[0], y.detach(), atol=2e-6, rtol=1e-5)


def test_forward_sequence_checks() -> None:
    net = LiquidNCPNetwork(4, 16, 1, seed=0)
    with pytest.raises(ValueError, match="x must be 3-D"):
        net.forward_sequence(torch.randn(5, 4))
    with pytest.raises(ValueError, match="timespans must be"):
        net.forward_sequence(torch.randn(2, 5, 4), timespans=torch.ones(2, 4))
    y, h = net.forward_sequence(torch.randn(2, 0, 4))
    assert y.shape == (2, 0, 1) and h.shape == (2, net.n_units)


def test_float64_input_is_cast() -> None:
    net = LiquidNCPNetwork(4, 10, 1, seed=0)
    x = torch.randn(2, 4, dtype=torch.float64)
    y, h = net(x)
    assert y.dtype == torch.float32 and h.dtype == torch.float32
    torch.testing.assert_close(y, net(x.float())[0])


def test_to_device_keeps_outputs() -> None:
    net = LiquidNCPNetwork(4, 10, 1, seed=0)
    x = torch.randn(2, 4)
    moved = net.to("cpu").to(torch.device("cpu"))
    assert torch.equal(moved(x)[0], net(x)[0])


def test_seed_fixes_weights_without_touching_global_state() -> None:
    torch.manual_seed(1)
    before = torch.get_rng_state()
    a = LiquidNCPNetwork(4, 16, 2, seed=8)
    assert torch.equal(torch.get_rng_state(), before)
    b = LiquidNCPNetwork(4, 16, 2, seed=8)
    c = LiquidNCPNetwork(4, 16, 2, seed=9)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_parameter_counts_against_masks() -> None:
    net = LiquidNCPNetwork(4, 30, 2, seed=0)
    masks, counts = net.wiring.data()
    total = active = 0
    for (n_in, n), mask in zip(
        [(4, counts.inter), (counts.inter, counts.command), (counts.command, 2)],
        (masks.inter, masks.command, masks.motor),
        strict=True,
    ):
        total += 5 * ((n_in + n) * n + n)
        active += 5 * (int(np.count_nonzero(mask.numpy())) + n * n + n)
    assert net.total_params == total
    assert net.active_params == active < total


@pytest.mark.parametrize("path", ["compiled", "eager"])
def test_return_states_gives_every_step(path: str) -> None:
    net = LiquidNCPNetwork(3, 20, 2, seed=5)
    x, ts = torch.randn(4, 9, 3), torch.rand(4, 9) + 0.1
    with torch.no_grad():
        h, want = None, []
        for s in range(9):
            _, h = net(x[:, s], h, ts[:, s])
            want.append(h)
        run = net._forward_compiled if path == "compiled" else net._forward_eager
        y, states = run(x, net.init_state(4), ts, return_states=True)
        y_last, h_last = net.forward_sequence(x, timespans=ts)
    assert states.shape == (4, 9, net.n_units)
    torch.testing.assert_close(states, torch.stack(want, dim=1), atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(states[:, -1], h_last, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(y, y_last, atol=2e-6, rtol=1e-5)


def test_compiled_loop_gives_the_same_bits_on_any_number_of_threads(monkeypatch) -> None:
    from velora.kernels import sequence, threads

    net = LiquidNCPNetwork(4, 24, 2, seed=6)
    x, ts = torch.randn(37, 15, 4), torch.rand(37, 15) + 0.1
    results = []
    for n_threads in (1, 2, 3):
        monkeypatch.setattr(threads, "cpu_count", lambda n=n_threads: n)
        monkeypatch.setattr(sequence, "THREADED_MIN_MACS", 0)
        with torch.no_grad():
            results.append(net.forward_sequence(x, timespans=ts, backend="compiled"))
    for y, h in results[1:]:
        assert torch.equal(y, results[0][0]) and torch.equal(h, results[0][1])
