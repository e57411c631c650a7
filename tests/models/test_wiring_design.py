"""Wiring designs: today's masks unchanged, the exact-count rules of ncp for many random designs
(checked by counting, not by re-running the draw), fully_connected, random, seeds, errors, and
``Wiring.from_ncps`` against a stand-in with the attributes of ncps's wirings."""

import hashlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import examples
from velora.errors import VeloraError
from velora.models import LiquidNCPNetwork
from velora.wiring import DesignError, Wiring, WiringDesign, resolve_design

# ---- specs without a wiring section: today's masks, bit for bit ------------------------------

# SHA-256 of "inter:RxC:" + mask bytes (int32, little-endian, row-major) for the three masks, as
# computed by velora's code before wiring designs existed (commit f16f0df), for fixed
# (in_features, n_neurons, out_features, sparsity_level, seed).
BEFORE = {
    (4, 16, 1, 0.5, 7): "2c8b743cc45df48e7bb9f77a3a10134c3025b84c02e4d2eba925ec98a8efa7b6",
    (1, 2, 1, 0.1, 0): "cfe9c2c2e30b31a5c8706b0214cd94f94ea4d18521a5ac99421fd4886b101ca7",
    (3, 64, 5, 0.9, 123): "df82486765df5b406185d99aee05099837937e6fbb4e588b9a175f27ffd6fc24",
    (7, 257, 3, 0.3, 11): "660268ad91a85938e16ca7ceff9474953edbd11b4583803baeeecb64a0748ac5",
    (2, 10, 3, 0.7, 4294967295): "131f7c8e3adb42e2cdd57498cd4bf8eb3c0f8ce120d62c09ccb92277d3bcd109",
    (5, 33, 2, 0.25, 42): "10de61672405dfac708065ab2e1a1aa2100ed32ac5d6f74f5a5d66ad18e9197e",
    (1, 32, 2, 0.5, 7): "bb69dc0a5766883bcb152fd7126532cd9a4b01b932ae3c850f6ae81326a5ee24",
    (8, 200, 4, 0.7, 1): "e3bdfd75e8df191c29ee6149ea71cc3b15478979402a950a529447311663e892",
}
# The same, for the weights (state_dict in sorted name order: name, then float32 bytes).
WEIGHTS_BEFORE = {
    (4, 16, 1, 0.5, 7): "69ea8c531f80ad42d47a9dd814d1fbb2baf4904c8f0c970d02ba77f42a96e559",
    (3, 64, 5, 0.9, 123): "d7f5e6aa76a6df82ddb567546e4076d14c7d832aa47d19c21c73f69855a82e79",
}


def mask_digest(wiring: Wiring) -> str:
    digest = hashlib.sha256()
    for name, mask in wiring.masks.items():
        m = mask.numpy().astype("<i4")
        digest.update(f"{name}:{m.shape[0]}x{m.shape[1]}:".encode())
        digest.update(np.ascontiguousarray(m).tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("case", sorted(BEFORE))
def test_default_wiring_is_bit_for_bit_what_it_was(case) -> None:
    n_in, n, n_out, sparsity, seed = case
    assert mask_digest(Wiring(n_in, n, n_out, sparsity_level=sparsity, seed=seed)) == BEFORE[case]
    # A design that sets nothing, or only the default split, is the default rule too.
    assert (
        mask_digest(Wiring.ncp(n_in, n, n_out, sparsity_level=sparsity, seed=seed))
        == (BEFORE[case])
    )
    inter = Wiring(n_in, n, n_out, seed=0).counts.inter
    same = Wiring(
        n_in, n, n_out, sparsity_level=sparsity, seed=seed, design=WiringDesign(inter_neurons=inter)
    )
    assert mask_digest(same) == BEFORE[case]


@pytest.mark.parametrize("case", sorted(WEIGHTS_BEFORE))
def test_default_network_weights_are_what_they_were(case) -> None:
    n_in, n, n_out, sparsity, seed = case
    net = LiquidNCPNetwork(n_in, n, n_out, sparsity_level=sparsity, seed=seed)
    digest = hashlib.sha256()
    for name, value in sorted(net.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().numpy().tobytes())
    assert digest.hexdigest() == WEIGHTS_BEFORE[case]
    assert mask_digest(net.wiring) == BEFORE[case]


# ---- ncp with explicit keys: the exact-count rules --------------------------------------------


def live(mask: torch.Tensor) -> np.ndarray:
    m = mask.numpy()
    assert m.dtype == np.int32 and set(np.unique(m)) <= {-1, 0, 1}
    return m != 0


def check_fanout_layer(a: np.ndarray, k: int) -> None:
    """Every source sends exactly k synapses when the sources can reach every target that way;
    otherwise every target gets exactly one input, shared out as evenly as can be."""
    n_sources, n_targets = a.shape
    fan_out, fan_in = a.sum(axis=1), a.sum(axis=0)
    assert (fan_in >= 1).all(), "a target without input"
    if k * n_sources >= n_targets:
        assert (fan_out == k).all()
        assert a.sum() == k * n_sources
    else:
        assert (fan_in == 1).all()
        assert set(fan_out.tolist()) <= {n_targets // n_sources, -(-n_targets // n_sources)}
        assert a.sum() == n_targets


def check_fanin_layer(a: np.ndarray, k: int) -> None:
    """Every motor neuron gets exactly k inputs from distinct command neurons, and as many
    command neurons as k × motor allows feed one."""
    n_command, n_motor = a.shape
    assert (a.sum(axis=0) == k).all()
    assert int((a.sum(axis=1) >= 1).sum()) == min(n_command, k * n_motor)


@st.composite
def designs(draw):
    n_in = draw(st.integers(1, 12))
    n = draw(st.integers(2, 60))
    n_out = draw(st.integers(1, 8))
    inter = draw(st.integers(1, n - 1))
    command = n - inter
    given_split = draw(st.sampled_from(["inter", "command", "both", "neither"]))
    if given_split == "neither":
        inter, command = resolve_design(None, n).split()
    fans = {
        "sensory_fanout": draw(st.none() | st.integers(1, inter)),
        "inter_fanout": draw(st.none() | st.integers(1, command)),
        "motor_fanin": draw(st.none() | st.integers(1, command)),
    }
    design = WiringDesign(
        "ncp",
        inter if given_split in ("inter", "both") else None,
        command if given_split in ("command", "both") else None,
        **fans,
    )
    seed = draw(st.integers(0, 2**32 - 1))
    sparsity = draw(st.sampled_from([0.1, 0.5, 0.9]))
    return n_in, n, n_out, design, seed, sparsity, (inter, command)


@settings(max_examples=examples(150), deadline=None)
@given(designs())
def test_exact_counts_for_random_designs(case) -> None:
    n_in, n, n_out, design, seed, sparsity, (inter, command) = case
    wiring = Wiring(n_in, n, n_out, sparsity_level=sparsity, seed=seed, design=design)
    masks, counts = wiring.data()
    assert (counts.sensory, counts.inter, counts.command, counts.motor) == (
        n_in,
        inter,
        command,
        n_out,
    )
    assert tuple(masks.inter.shape) == (n_in, inter)
    assert tuple(masks.command.shape) == (inter, command)
    assert tuple(masks.motor.shape) == (command, n_out)
    layers = {"sensory_fanout": masks.inter, "inter_fanout": masks.command}
    for key, mask in layers.items():
        a = live(mask)
        k = getattr(design, key)
        if k is not None:
            check_fanout_layer(a, k)
        else:  # the default rule: its draws per source plus one per orphan target at most
            draws = getattr(wiring.n_connections, key.split("_")[0])
            assert a.sum() <= a.shape[0] * draws + a.shape[1]
            assert (a.sum(axis=0) >= 1).all()
    motor = live(masks.motor)
    if design.motor_fanin is not None:
        check_fanin_layer(motor, design.motor_fanin)
    else:
        assert motor.sum() <= command * wiring.n_connections.command + n_out
    assert (motor.sum(axis=0) >= 1).all()
    # Reproducible: the same design and seed draw the same masks.
    again = Wiring(n_in, n, n_out, sparsity_level=sparsity, seed=seed, design=design)
    assert mask_digest(again) == mask_digest(wiring)


def test_the_issue_example_gives_exactly_its_counts() -> None:
    w = Wiring.ncp(
        4, 20, 2, inter_neurons=12, sensory_fanout=4, inter_fanout=3, motor_fanin=5, seed=7
    )
    assert (w.counts.inter, w.counts.command) == (12, 8)
    assert (live(w.masks.inter).sum(axis=1) == 4).all()
    assert (live(w.masks.command).sum(axis=1) == 3).all()
    assert (live(w.masks.motor).sum(axis=0) == 5).all()
    assert w.design == WiringDesign("ncp", 12, 8, 4, 3, 5)
    assert mask_digest(w) != mask_digest(Wiring.ncp(4, 20, 2, inter_neurons=12, seed=7))


def test_fanout_that_cannot_reach_every_target_shares_them_out() -> None:
    # One sensory neuron with a fan-out of 4 cannot reach 12 inter neurons with 4 synapses: it
    # feeds all 12 (each gets its one input); 2 motor neurons x 3 reach 6 of 8 command neurons.
    w = Wiring.ncp(1, 20, 2, inter_neurons=12, sensory_fanout=4, motor_fanin=3, seed=1)
    assert live(w.masks.inter).sum() == 12
    assert int((live(w.masks.motor).sum(axis=1) >= 1).sum()) == 6


def test_fully_connected_has_density_one_everywhere() -> None:
    w = Wiring.fully_connected(3, 20, 2, inter_neurons=15, seed=4)
    assert (w.counts.inter, w.counts.command) == (15, 5)
    for _, mask in w.masks.items():
        assert bool((mask != 0).all())
        assert int((mask == 1).sum()) > 0 and int((mask == -1).sum()) > 0


def test_random_density_follows_sparsity() -> None:
    w = Wiring.random(8, 200, 4, sparsity_level=0.7, seed=3)
    total = sum(int(live(m).sum()) for _, m in w.masks.items())
    possible = sum(m.numel() for _, m in w.masks.items())
    assert abs(total / possible - 0.3) < 0.02
    for _, mask in w.masks.items():
        a = live(mask)
        assert (a.sum(axis=0) >= 1).all()
        assert abs(a.mean() - 0.3) < 0.1
    dense = Wiring.random(8, 200, 4, sparsity_level=0.1, seed=3)
    assert sum(int(live(m).sum()) for _, m in dense.masks.items()) / possible > 0.85


def test_random_keeps_an_input_for_every_target_even_when_sparse() -> None:
    w = Wiring.random(1, 40, 3, sparsity_level=0.9, seed=0)
    for _, mask in w.masks.items():
        assert (live(mask).sum(axis=0) >= 1).all()


@pytest.mark.parametrize(
    "make",
    [
        lambda seed: Wiring.ncp(3, 30, 2, sensory_fanout=5, motor_fanin=2, seed=seed),
        lambda seed: Wiring.fully_connected(3, 30, 2, seed=seed),
        lambda seed: Wiring.random(3, 30, 2, sparsity_level=0.6, seed=seed),
    ],
)
def test_designs_are_seeded_and_leave_global_state_alone(make) -> None:
    torch.manual_seed(1)
    np.random.seed(1)
    before, np_before = torch.get_rng_state(), np.random.get_state()[1].copy()
    a, b, c = make(5), make(5), make(6)
    assert torch.equal(torch.get_rng_state(), before)
    assert (np.random.get_state()[1] == np_before).all()
    assert mask_digest(a) == mask_digest(b) != mask_digest(c)
    masks, counts = a.data()
    assert [name for name, _ in masks.items()] == ["inter", "command", "motor"]
    assert counts.units == counts.inter + counts.command + counts.motor


def test_unseeded_designs_follow_global_torch_state() -> None:
    torch.manual_seed(9)
    a = Wiring.ncp(3, 30, 2, sensory_fanout=5)
    torch.manual_seed(9)
    assert mask_digest(Wiring.ncp(3, 30, 2, sensory_fanout=5)) == mask_digest(a)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sensory_fanout": 13}, r"^sensory_fanout: expected an integer from 1 to inter_neurons"),
        ({"sensory_fanout": 0}, r"from 1 to inter_neurons \(12\), got 0$"),
        ({"inter_fanout": 9}, r"^inter_fanout: expected an integer from 1 to command_neurons"),
        ({"motor_fanin": 9}, r"^motor_fanin: .* command_neurons \(8\), got 9$"),
        ({"motor_fanin": 2.0}, r"^motor_fanin: .*got 2\.0$"),
        ({"motor_fanin": True}, r"^motor_fanin: .*got True$"),
        ({"command_neurons": 9}, r"inter_neurons \(12\) \+ command_neurons \(9\) = 21, expected"),
    ],
)
def test_bad_design_names_the_key(kwargs, message) -> None:
    with pytest.raises(DesignError, match=message) as caught:
        Wiring.ncp(4, 20, 2, inter_neurons=12, **kwargs)
    assert isinstance(caught.value, VeloraError)


def test_bad_type_and_keys_of_another_type() -> None:
    with pytest.raises(DesignError, match=r"^type: expected one of ncp, fully_connected, random"):
        Wiring(4, 20, 2, design=WiringDesign("dense"))
    with pytest.raises(DesignError, match="did you mean 'fully_connected'"):
        Wiring(4, 20, 2, design=WiringDesign("fully"))
    with pytest.raises(DesignError, match=r"^sensory_fanout: not a key of type random"):
        Wiring(4, 20, 2, design=WiringDesign("random", sensory_fanout=3))
    with pytest.raises(DesignError, match=r"^inter_neurons: .*n_neurons - 1 \(19\), got 20"):
        Wiring.fully_connected(4, 20, 2, inter_neurons=20)
    with pytest.raises(DesignError, match="did you mean 'motor_fanin'"):
        resolve_design({"motor_fan_in": 3}, 20)


def test_from_masks_keeps_a_design_and_checks_its_split() -> None:
    w = Wiring.ncp(4, 20, 2, inter_neurons=12, sensory_fanout=4, seed=1)
    again = Wiring.from_masks(w.masks, design=w.design)
    assert again.design == w.design and again.spec_design() == w.design
    assert Wiring.from_masks(w.masks).design == WiringDesign("ncp", 12, 8)
    with pytest.raises(ValueError, match="masks hold 12 and 8"):
        Wiring.from_masks(w.masks, design=WiringDesign(inter_neurons=10))
    assert Wiring(4, 20, 2, seed=1).spec_design() is None  # the default design: no section


# ---- Wiring.from_ncps, against a stand-in with ncps's attributes ------------------------------


class NcpsStandIn:
    """What ``ncps.wirings.NCP`` holds once built: ``units`` neurons numbered motor first, then
    command, then inter (ncps's order); ``adjacency_matrix[src, dest]`` and
    ``sensory_adjacency_matrix[sensory, dest]`` of -1, 0 and +1; ``num_layers`` = 3 and
    ``get_neurons_of_layer`` (0 inter, 1 command, 2 motor); its private group sizes and
    parameters. The synapses are drawn here with numpy, independently of velora."""

    def __init__(self, n_in, inter, command, motor, seed, *, recurrent=4, layers_api=True):
        rng = np.random.default_rng(seed)
        self.units, self.input_dim, self.output_dim = inter + command + motor, n_in, motor
        self._num_inter_neurons, self._num_command_neurons = inter, command
        self._num_motor_neurons = motor
        self._sensory_fanout, self._inter_fanout, self._motor_fanin = 2, 2, 1
        self._recurrent_command_synapses = recurrent
        self.motor_ids = list(range(motor))
        self.command_ids = list(range(motor, motor + command))
        self.inter_ids = list(range(motor + command, self.units))
        self.adjacency_matrix = np.zeros((self.units, self.units), dtype=np.int32)
        self.sensory_adjacency_matrix = np.zeros((n_in, self.units), dtype=np.int32)

        def block(rows, cols):
            return rng.choice([-1, 0, 0, 1], size=(rows, cols)).astype(np.int32)

        self.blocks = (block(n_in, inter), block(inter, command), block(command, motor))
        self.sensory_adjacency_matrix[:, self.inter_ids] = self.blocks[0]
        self.adjacency_matrix[np.ix_(self.inter_ids, self.command_ids)] = self.blocks[1]
        self.adjacency_matrix[np.ix_(self.command_ids, self.motor_ids)] = self.blocks[2]
        for _ in range(recurrent):  # command -> command, as ncps draws them
            s, d = rng.choice(self.command_ids, size=2)
            self.adjacency_matrix[s, d] = rng.choice([-1, 1])
        if layers_api:
            self.num_layers = 3

    def get_neurons_of_layer(self, layer_id):
        return [self.inter_ids, self.command_ids, self.motor_ids][layer_id]


class NcpsWithoutLayers(NcpsStandIn):
    """An ncps-like wiring that only names its group sizes (``_num_*_neurons``)."""

    get_neurons_of_layer = None  # type: ignore[assignment]


@pytest.mark.parametrize("kind", [NcpsStandIn, NcpsWithoutLayers])
def test_from_ncps_takes_the_circuit(kind) -> None:
    ncps = kind(3, 7, 5, 2, seed=4)
    w = Wiring.from_ncps(ncps)
    for (name, mask), block in zip(w.masks.items(), ncps.blocks, strict=True):
        assert mask.dtype == torch.int32, name
        np.testing.assert_array_equal(mask.numpy(), block)
    assert (w.counts.sensory, w.counts.inter, w.counts.command, w.counts.motor) == (3, 7, 5, 2)
    assert w.design == WiringDesign("ncp", 7, 5, 2, 2, 1) and w.seed is None


def test_a_network_on_an_ncps_wiring_masks_like_ncps_wired_cfc() -> None:
    """ncps's WiredCfCCell gives layer l the input sparsity of its rows (previous layer's
    neurons) and columns (this layer's), stacked on a full recurrent block, transposed and made
    absolute: velora's cells must hold the same masks."""
    ncps = NcpsStandIn(4, 8, 6, 3, seed=2)
    net = LiquidNCPNetwork(4, 14, 3, wiring=Wiring.from_ncps(ncps), seed=0)
    previous = None
    for layer, cell in enumerate(net.cells()):
        units = ncps.get_neurons_of_layer(layer)
        if previous is None:
            sparsity = ncps.sensory_adjacency_matrix[:, units]
        else:
            sparsity = ncps.adjacency_matrix[np.ix_(previous, units)]
        expected = np.abs(np.concatenate([sparsity, np.ones((len(units), len(units)))])).T
        np.testing.assert_array_equal(cell.sparsity_mask.numpy(), expected)
        previous = units
    y, h = net(torch.zeros(2, 4))
    assert tuple(y.shape) == (2, 3) and tuple(h.shape) == (2, 17)


def test_from_ncps_refuses_what_velora_cannot_hold() -> None:
    unbuilt = NcpsStandIn(3, 4, 3, 1, seed=0)
    unbuilt.input_dim = None
    with pytest.raises(VeloraError, match=r"not built: call wiring.build\(in_features\)"):
        Wiring.from_ncps(unbuilt)

    one_layer = NcpsStandIn(3, 4, 3, 1, seed=0)
    one_layer.num_layers = 1
    with pytest.raises(VeloraError, match=r"1 layer\(s\); .*Wiring.fully_connected"):
        Wiring.from_ncps(one_layer)

    skip = NcpsStandIn(3, 4, 3, 1, seed=0)
    skip.adjacency_matrix[skip.inter_ids[0], skip.motor_ids[0]] = 1
    with pytest.raises(VeloraError, match=r"from inter neuron 4 to motor neuron 0"):
        Wiring.from_ncps(skip)

    backwards = NcpsStandIn(3, 4, 3, 1, seed=0)
    backwards.adjacency_matrix[backwards.command_ids[0], backwards.inter_ids[1]] = -1
    with pytest.raises(VeloraError, match="from command neuron 1 to inter neuron 5"):
        Wiring.from_ncps(backwards)

    sensory = NcpsStandIn(3, 4, 3, 1, seed=0)
    sensory.sensory_adjacency_matrix[0, sensory.command_ids[0]] = 1
    with pytest.raises(VeloraError, match="sensory synapse into command neuron 1"):
        Wiring.from_ncps(sensory)

    values = NcpsStandIn(3, 4, 3, 1, seed=0)
    values.adjacency_matrix[0, 0] = 2
    with pytest.raises(VeloraError, match="other than -1, 0 and"):
        Wiring.from_ncps(values)

    shape = NcpsStandIn(3, 4, 3, 1, seed=0)
    shape.sensory_adjacency_matrix = np.zeros((2, 8))
    with pytest.raises(VeloraError, match=r"sensory_adjacency_matrix of shape \(3, 8\)"):
        Wiring.from_ncps(shape)

    motors = NcpsStandIn(3, 4, 3, 1, seed=0)
    motors.output_dim = 2
    with pytest.raises(VeloraError, match="output_dim 2 but 1 motor neurons"):
        Wiring.from_ncps(motors)

    class Nothing:
        units, input_dim = 3, 2
        adjacency_matrix = np.zeros((3, 3))
        sensory_adjacency_matrix = np.zeros((2, 3))

    with pytest.raises(VeloraError, match="no group sizes"):
        Wiring.from_ncps(Nothing())
