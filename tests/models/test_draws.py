"""velora.draws against torch's CPU generator: every draw bit for bit, over seeds and shapes."""

import numpy as np
import pytest
import torch

from velora.draws import SeededDraws, TorchDraws, draws_for

SEEDS = [0, 1, 7, 42, 12345, 2**31 - 1, 2**32 - 1, 2**32 + 5, 2**40 + 3, 2**63 - 1, 2**64 - 1]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_mixed_stream_matches_torch(seed):
    """Integers, permutations and floats of both widths, interleaved as the wiring asks for
    them: each draw continues the same stream as torch's does."""
    g, ours = _generator(seed), SeededDraws(seed)
    ranges = [(2, (5,)), (7, (3, 4)), (1000, (17,)), (2**28 - 1, (3,)), (2**28, (3,))]
    ranges += [(2**31 + 11, (6,)), (2**40, (2,)), (1, (2,))]
    for high, shape in ranges:
        got = ours.randint(high, shape)
        np.testing.assert_array_equal(got, torch.randint(high, shape, generator=g).numpy())
        assert got.dtype == np.int64
    for n in [1, 2, 3, 10, 257]:
        np.testing.assert_array_equal(ours.randperm(n), torch.randperm(n, generator=g).numpy())
    for shape in [(1,), (4, 6), (3, 33)]:
        np.testing.assert_array_equal(ours.rand(shape), torch.rand(shape, generator=g).numpy())
        expected = torch.rand(shape, generator=g, dtype=torch.float64).numpy()
        np.testing.assert_array_equal(ours.rand(shape, np.float64), expected)
    np.testing.assert_array_equal(ours.randint(5, (9,)), torch.randint(5, (9,), generator=g))


def test_large_draws_are_made_in_pieces_without_changing_the_stream(monkeypatch):
    """Draws larger than one piece of words continue the stream exactly."""
    import velora.draws as draws

    monkeypatch.setattr(draws, "_WORDS_PER_PIECE", 64)
    g, ours = _generator(3), SeededDraws(3)
    np.testing.assert_array_equal(ours.randint(9, (501,)), torch.randint(9, (501,), generator=g))
    expected = torch.randint(2**30, (77,), generator=g).numpy()
    np.testing.assert_array_equal(ours.randint(2**30, (77,)), expected)
    np.testing.assert_array_equal(ours.rand((301,)), torch.rand(301, generator=g).numpy())
    expected = torch.rand(301, generator=g, dtype=torch.float64).numpy()
    np.testing.assert_array_equal(ours.rand((301,), np.float64), expected)


def test_without_a_seed_the_draws_come_from_torchs_global_generator():
    torch.manual_seed(11)
    expected = torch.randint(10, (8,)).numpy(), torch.rand(3).numpy()
    torch.manual_seed(11)
    ours = draws_for(None)
    assert isinstance(ours, TorchDraws)
    np.testing.assert_array_equal(ours.randint(10, (8,)), expected[0])
    np.testing.assert_array_equal(ours.rand((3,)), expected[1])


def test_out_of_range_requests_are_refused():
    ours = SeededDraws(0)
    with pytest.raises(ValueError, match="high"):
        ours.randint(2**63, (1,))
    with pytest.raises(ValueError, match="dtype"):
        ours.rand((1,), np.int32)


# ---- uniform_: the draws nn.Linear's initialisers make -------------------------------------

BOUNDS = [(0.0, 1.0), (-1.0, 1.0), (-0.1, 0.3), (2.0, 2.0), (-0.0, 0.0), (1e-3, 5.5)]
BOUNDS += [(-0.37796447300922725, 0.37796447300922725), (-1e30, 3e30), (-7.25, -7.0)]
# One float32 step wide: about half the values round up to high, which uniform_ stores as low
# (as it does every value of an empty range, -0.0 included).
BOUNDS += [(1.0, 1.0000001192092896), (0.0, -0.0)]
SHAPES = [(0,), (3, 0), (1,), (5,), (4, 7), (2, 3, 4)]


def _bits(values: np.ndarray) -> np.ndarray:
    """float32 values as their bit patterns: -0.0 and 0.0 differ, as the stores do."""
    return np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)


@pytest.mark.parametrize("seed", SEEDS)
def test_uniform_matches_torch_bit_for_bit_and_continues_the_stream(seed):
    """``torch.empty(shape).uniform_(low, high)`` after ``torch.manual_seed(seed)``: every
    bound and shape (zero-size ones draw nothing), interleaved with ``rand`` and ``randint``
    on the same stream."""
    torch.manual_seed(seed)
    ours = SeededDraws(seed)
    for low, high in BOUNDS:
        for shape in SHAPES:
            expected = torch.empty(shape).uniform_(low, high).numpy()
            got = ours.uniform(shape, low, high)
            assert got.dtype == np.float32 and got.shape == shape
            np.testing.assert_array_equal(_bits(got), _bits(expected))
        np.testing.assert_array_equal(_bits(ours.rand((3,))), _bits(torch.rand(3).numpy()))
        np.testing.assert_array_equal(ours.randint(9, (2,)), torch.randint(9, (2,)).numpy())


@pytest.mark.parametrize("seed", [0, 3, 2**32 + 5, 2**64 - 1])
def test_uniform_matches_torch_over_many_values_and_bounds(seed):
    """100 random bounds pairs, 2,000 values each: the float32 difference of the bounds and the
    double arithmetic after it leave no value off by a bit."""
    bounds = np.random.default_rng(seed % 2**32).uniform(-4.0, 4.0, (100, 2))
    torch.manual_seed(seed)
    ours = SeededDraws(seed)
    for low, high in np.sort(bounds, axis=1).tolist():
        expected = torch.empty(2000).uniform_(low, high).numpy()
        np.testing.assert_array_equal(_bits(ours.uniform((2000,), low, high)), _bits(expected))


def test_uniform_in_pieces_and_from_the_global_generator(monkeypatch):
    """A draw larger than a piece of words continues the stream exactly; ``TorchDraws`` draws
    from the global generator as ``uniform_`` does."""
    import velora.draws as draws

    monkeypatch.setattr(draws, "_WORDS_PER_PIECE", 64)
    g, ours = _generator(5), SeededDraws(5)
    expected = torch.empty(301).uniform_(-2.5, 3.0, generator=g).numpy()
    np.testing.assert_array_equal(_bits(ours.uniform((301,), -2.5, 3.0)), _bits(expected))
    np.testing.assert_array_equal(_bits(ours.rand((70,))), _bits(torch.rand(70, generator=g)))
    torch.manual_seed(21)
    expected = torch.empty(4, 5).uniform_(-0.5, 0.25).numpy()
    torch.manual_seed(21)
    got = draws_for(None).uniform((4, 5), -0.5, 0.25)
    np.testing.assert_array_equal(_bits(got), _bits(expected))


@pytest.mark.parametrize(
    ("low", "high"),
    [(1.0, 0.0), (0.0, float("inf")), (float("nan"), 1.0), (-3.5e38, 0.0), (-2e38, 2e38)],
)
def test_uniform_refuses_the_bounds_torch_refuses(low, high):
    with pytest.raises(RuntimeError):
        torch.empty(2).uniform_(low, high)
    for ours in (SeededDraws(0), TorchDraws()):
        with pytest.raises(ValueError, match="uniform"):
            ours.uniform((2,), low, high)
