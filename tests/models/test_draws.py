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
