"""Pruning (``velora.models.pruning``): every rule, checked against a selection made here from
the weights with plain Python sorting, independent of the library's numpy code."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import examples
from tests.reference import HEADS, as_np, network_sequence
from velora.errors import VeloraError
from velora.models import LiquidNCPNetwork
from velora.models.pruning import check_keep, keep_count, prune_network

LAYERS = ("inter", "command", "motor")


def strengths(net) -> dict[str, dict[tuple[int, int], float]]:
    """(source, target) -> strength of every synapse, by layer, with plain loops."""
    out = {}
    for layer, cell in zip(LAYERS, net.cells(), strict=True):
        mask = getattr(net.wiring.masks, layer).numpy()
        weights = [getattr(cell, h).weight.detach().double().numpy() for h in HEADS]
        out[layer] = {
            (i, j): math.sqrt(sum(float(w[j, i]) ** 2 for w in weights))
            for i in range(mask.shape[0])
            for j in range(mask.shape[1])
            if mask[i, j] != 0
        }
    return out


def expected_selection(net, keep: float) -> dict[str, set[tuple[int, int]]]:
    """The synapses the rules keep: per layer the round-half-up(keep x n) strongest (ties: the
    lower (source, target)), then for each target left without input its strongest synapse
    (ties: the lower source)."""
    chosen = {}
    for layer, table in strengths(net).items():
        ranked = sorted(table, key=lambda key: (-table[key], key))
        k = math.floor(keep * len(ranked) + 0.5)
        kept = set(ranked[:k])
        targets = {j for _, j in table}
        for j in sorted(targets - {j for _, j in kept}):
            into = [key for key in table if key[1] == j]
            kept.add(min(into, key=lambda key: (-table[key], key[0])))
        chosen[layer] = kept
    return chosen


def trained_net(seed: int, sizes=(4, 16, 1)) -> LiquidNCPNetwork:
    net = LiquidNCPNetwork(*sizes, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.3)
    return net


def check_rules(net: LiquidNCPNetwork, keep: float) -> None:
    before = {name: t.clone() for name, t in net.to_tensors().items()}
    pruning = prune_network(net, keep)
    pruned = pruning.network
    after = pruned.to_tensors()
    # the network pruned from is left alone
    for name, tensor in net.to_tensors().items():
        assert torch.equal(tensor, before[name]), name
    chosen = expected_selection(net, keep)
    for i, layer in enumerate(LAYERS):
        old, new = before[f"wiring.{layer}"].numpy(), after[f"wiring.{layer}"].numpy()
        kept = {(int(a), int(b)) for a, b in zip(*np.nonzero(new), strict=True)}
        assert kept == chosen[layer]
        # a subset with the same polarities
        assert np.all((new == 0) | (new == old))
        # no target without input unless it had none before
        assert np.array_equal((new != 0).any(axis=0), (old != 0).any(axis=0))
        stats = pruning.layers[i]
        assert (stats.layer, stats.before, stats.after) == (layer, int((old != 0).sum()), len(kept))
        assert stats.after == keep_count(keep, stats.before) + stats.restored
        n_in = old.shape[0]
        removed = torch.from_numpy((old != 0) & (new == 0)).T
        for head in HEADS:
            name = f"layers.{layer}.{head}"
            w_old, w_new = before[f"{name}.weight"], after[f"{name}.weight"]
            assert torch.all(w_new[:, :n_in][removed] == 0)  # removed: zeroed in every head
            same = torch.ones_like(w_old, dtype=torch.bool)
            same[:, :n_in] = ~removed
            assert torch.equal(w_new[same], w_old[same])  # everything else: bit for bit
            assert torch.equal(after[f"{name}.bias"], before[f"{name}.bias"])


@pytest.mark.parametrize("keep", [1.0, 0.8, 0.6, 0.4, 0.2, 0.01])
def test_prune_obeys_every_rule(keep: float) -> None:
    check_rules(trained_net(7), keep)


@settings(max_examples=examples(25))
@given(
    seed=st.integers(0, 2**16),
    sizes=st.tuples(st.integers(1, 6), st.integers(2, 30), st.integers(1, 4)),
    keep=st.floats(0.01, 1.0),
)
def test_prune_rules_hold_for_any_network(seed: int, sizes, keep: float) -> None:
    check_rules(trained_net(seed, sizes), keep)


def test_keep_one_changes_nothing() -> None:
    net = trained_net(3)
    pruned = prune_network(net, 1.0).network
    for name, tensor in net.to_tensors().items():
        assert torch.equal(pruned.to_tensors()[name], tensor), name


def test_ties_go_to_the_lower_index() -> None:
    """Every synapse equally strong: the first ones in (source, target) order stay, and an
    orphan target gets its synapse from the lowest source."""
    net = LiquidNCPNetwork(3, 10, 2, seed=1)
    with torch.no_grad():
        for cell in net.cells():
            for head in cell.heads():
                head.weight.fill_(0.25)
    pruning = prune_network(net, 0.5)
    for layer in LAYERS:
        old = getattr(net.wiring.masks, layer).numpy()
        new = getattr(pruning.network.wiring.masks, layer).numpy()
        live = list(zip(*np.nonzero(old), strict=True))  # row-major order
        first = set(live[: keep_count(0.5, len(live))])
        for j in range(old.shape[1]):
            sources = [i for i, t in live if t == j]
            if sources and not any((i, j) in first for i in sources):
                first.add((sources[0], j))
        assert {(int(a), int(b)) for a, b in zip(*np.nonzero(new), strict=True)} == first


def test_orphan_targets_get_their_strongest_synapse_back() -> None:
    """With keep tiny, only a handful survive by rank; every other target gets exactly its
    strongest original synapse."""
    net = trained_net(11, (2, 20, 3))
    table = strengths(net)
    pruning = prune_network(net, 0.01)
    for i, layer in enumerate(LAYERS):
        new = getattr(pruning.network.wiring.masks, layer).numpy()
        ranked = sorted(table[layer], key=lambda key: (-table[layer][key], key))
        by_rank = set(ranked[: keep_count(0.01, len(ranked))])
        for j in range(new.shape[1]):
            into = {(int(s), j) for s in np.nonzero(new[:, j])[0]}
            if into - by_rank:
                strongest = max(
                    (key for key in table[layer] if key[1] == j), key=lambda k: table[layer][k]
                )
                assert into - by_rank == {strongest}
        assert pruning.layers[i].restored == pruning.layers[i].after - len(by_rank)
    assert sum(layer.restored for layer in pruning.layers) > 0


def test_the_pruned_network_runs_its_own_masks() -> None:
    """Its outputs are the equations' (tests/reference.py) with the pruned masks, and differ
    from the unpruned network's."""
    net = trained_net(5)
    pruned = prune_network(net, 0.4).network
    x = np.random.default_rng(0).standard_normal((3, 12, 4)).astype(np.float32)
    with torch.no_grad():
        y, _ = pruned.forward_sequence(torch.from_numpy(x), backend="torch")
        y_full, _ = net.forward_sequence(torch.from_numpy(x), backend="torch")
    want, _ = network_sequence(pruned, x)
    np.testing.assert_allclose(as_np(y), want, atol=2e-5)
    assert not np.allclose(as_np(y), as_np(y_full), atol=1e-3)


@pytest.mark.parametrize("keep", [0, 0.0, -0.1, 1.0001, 2, float("nan"), float("inf"), True, "0.5"])
def test_keep_outside_zero_one_is_refused(keep) -> None:
    with pytest.raises(VeloraError) as info:
        check_keep(keep)
    assert info.value.parameter == "keep"
    assert str(info.value).startswith("keep: expected a fraction in (0, 1], got ")
    with pytest.raises(VeloraError):
        prune_network(trained_net(1), keep)


def test_keep_count_rounds_halves_up() -> None:
    assert [keep_count(0.5, n) for n in (1, 2, 3, 4, 5)] == [1, 1, 2, 2, 3]
    assert keep_count(0.8, 26) == 21  # 20.8
    assert keep_count(0.01, 10) == 0 and keep_count(1.0, 10) == 10
