"""Wiring rules, checked against a plain-Python rebuild and against the invariants they promise."""

import random

import numpy as np
import pytest
import torch

from velora.seeding import set_seed
from velora.wiring import LayerMasks, NeuronCounts, SynapseCounts, Wiring


def expected_counts(n_in: int, n: int, n_out: int, sparsity: float):
    command = max(int(0.4 * n), 1)
    inter = n - command
    d = 1 - sparsity
    syn = (
        max(int(inter * d), 1),
        max(int(command * d), 1),
        max(int(command * d * 2), 1),
        max(int(command * d), 1),
    )
    return NeuronCounts(n_in, inter, command, n_out), SynapseCounts(*syn)


def rebuild(n_src: int, n_tgt: int, k: int, gen: torch.Generator) -> np.ndarray:
    """The build rule written out with loops, drawing the same random numbers in the same order."""
    targets = torch.randint(n_tgt, (n_src, k), generator=gen).tolist()
    signs = (torch.randint(2, (n_src, k), generator=gen) * 2 - 1).tolist()
    mask = [[0] * n_tgt for _ in range(n_src)]
    for s in range(n_src):
        seen = set()
        for t, p in zip(targets[s], signs[s], strict=True):
            if t not in seen:
                mask[s][t] = p
                seen.add(t)
    orphans = [t for t in range(n_tgt) if all(mask[s][t] == 0 for s in range(n_src))]
    if orphans:
        picks = torch.randint(n_src, (len(orphans),), generator=gen).tolist()
        osigns = (torch.randint(2, (len(orphans),), generator=gen) * 2 - 1).tolist()
        for t, s, p in zip(orphans, picks, osigns, strict=True):
            mask[s][t] = p
    return np.array(mask, dtype=np.int32)


@pytest.mark.parametrize(
    ("n_in", "n", "n_out", "sparsity"),
    [(4, 10, 1, 0.5), (1, 2, 1, 0.1), (3, 64, 5, 0.9), (7, 257, 3, 0.3)],
)
def test_counts_and_masks_follow_the_rules(n_in: int, n: int, n_out: int, sparsity: float) -> None:
    wiring = Wiring(n_in, n, n_out, sparsity_level=sparsity, seed=11)
    masks, counts = wiring.data()
    want_counts, want_syn = expected_counts(n_in, n, n_out, sparsity)
    assert counts == want_counts
    assert wiring.n_connections == want_syn
    assert isinstance(masks, LayerMasks)

    gen = torch.Generator().manual_seed(11)
    layers = [
        (masks.inter, counts.sensory, counts.inter, want_syn.sensory),
        (masks.command, counts.inter, counts.command, want_syn.inter),
        (masks.motor, counts.command, counts.motor, want_syn.command),
    ]
    for mask, n_src, n_tgt, k in layers:
        assert mask.dtype == torch.int32
        assert tuple(mask.shape) == (n_src, n_tgt)
        np.testing.assert_array_equal(mask.numpy(), rebuild(n_src, n_tgt, k, gen))
        m = mask.numpy()
        assert set(np.unique(m)) <= {-1, 0, 1}
        assert (np.abs(m).sum(axis=1) >= 1).all(), "a source without synapses"
        assert (np.abs(m).sum(axis=0) >= 1).all(), "a target without input"


def test_sparsity_changes_density() -> None:
    densities = []
    for sparsity in (0.1, 0.5, 0.9):
        m = Wiring(8, 100, 4, sparsity_level=sparsity, seed=3).masks
        total = sum(int(x.count_nonzero()) for x in (m.inter, m.command, m.motor))
        size = sum(x.numel() for x in (m.inter, m.command, m.motor))
        densities.append(total / size)
    assert densities[0] > densities[1] > densities[2]
    assert densities[0] > 0.5 and densities[2] < 0.3


def test_both_polarities_appear() -> None:
    m = Wiring(8, 64, 2, seed=0).masks.command
    assert int((m == 1).sum()) > 0 and int((m == -1).sum()) > 0


def test_seed_reproducible_and_leaves_global_state_alone() -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = Wiring(4, 32, 2, seed=5).masks
    assert torch.equal(torch.get_rng_state(), before)
    b = Wiring(4, 32, 2, seed=5).masks
    c = Wiring(4, 32, 2, seed=6).masks
    assert all(torch.equal(x, y) for x, y in zip(vars(a).values(), vars(b).values(), strict=True))
    assert not all(
        torch.equal(x, y) for x, y in zip(vars(a).values(), vars(c).values(), strict=True)
    )


def test_set_seed_makes_unseeded_wiring_repeat() -> None:
    set_seed(9)
    a, r1, n1 = Wiring(4, 32, 2).masks, random.random(), np.random.rand()
    set_seed(9)
    b, r2, n2 = Wiring(4, 32, 2).masks, random.random(), np.random.rand()
    assert torch.equal(a.command, b.command) and r1 == r2 and n1 == n2


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0, 10, 1), {}, "in_features must be an integer >= 1"),
        ((4, 1, 1), {}, "n_neurons must be an integer >= 2"),
        ((4, 10, 0), {}, "out_features must be an integer >= 1"),
        ((4, 10.0, 1), {}, "n_neurons must be an integer"),
        ((True, 10, 1), {}, "in_features must be an integer"),
        ((4, "10", 1), {}, "n_neurons must be an integer"),
        ((4, 10, 1), {"sparsity_level": 0.05}, r"sparsity_level must be in \[0.1, 0.9\]"),
        ((4, 10, 1), {"sparsity_level": 0.95}, r"sparsity_level must be in \[0.1, 0.9\]"),
        ((4, 10, 1), {"sparsity_level": "half"}, "sparsity_level must be a number"),
        ((4, 10, 1), {"seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_bad_arguments_name_the_argument(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Wiring(*args, **kwargs)


def test_from_masks_round_trip_and_checks() -> None:
    w = Wiring(5, 20, 3, sparsity_level=0.3, seed=1)
    again = Wiring.from_masks(w.masks, sparsity_level=0.3)
    assert again.counts == w.counts and again.n_connections == w.n_connections
    assert torch.equal(again.masks.motor, w.masks.motor)
    bad = LayerMasks(w.masks.inter, w.masks.command[:, :-1], w.masks.motor)
    with pytest.raises(ValueError, match="do not chain"):
        Wiring.from_masks(bad)
