"""NCP wiring: random sparse polarity masks for the sensory -> inter -> command -> motor layers.

A ``Wiring`` only holds integer masks; the cells in ``velora.models`` turn them into weights.
This module also owns the rules every other part of velora follows: how ``n_neurons`` splits
into inter and command neurons, how many synapses a source draws, the sparsity range, and the
wiring designs a spec can ask for (``WiringDesign``: ``ncp`` with explicit groups and fan-outs,
``fully_connected``, ``random``). Its top level imports no torch, so that the spec can apply the
same rules without it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np

from velora.draws import Draws, draws_for
from velora.errors import VeloraError

if TYPE_CHECKING:
    import torch

MaskT = TypeVar("MaskT")

MIN_SPARSITY = 0.1
MAX_SPARSITY = 0.9
DEFAULT_SPARSITY = 0.5
# Command neurons are 2/5 (40%) of n_neurons, at least one; integer arithmetic, exact at any size.
COMMAND_NUMERATOR, COMMAND_DENOMINATOR = 2, 5
LAYER_NAMES = ("inter", "command", "motor")  # the three masks, by the group they feed
GROUPS = ("sensory", "inter", "command", "motor")

# ---- wiring designs: the choices of a spec's `network.wiring` section ------------------------
WIRING_TYPES = ("ncp", "fully_connected", "random")
DEFAULT_WIRING_TYPE = "ncp"
GROUP_KEYS = ("inter_neurons", "command_neurons")
NCP_KEYS = ("sensory_fanout", "inter_fanout", "motor_fanin")  # ncp's exact synapse counts
DESIGN_KEYS = ("type", *GROUP_KEYS, *NCP_KEYS)
# The largest value of each numeric design key, in words (the smallest is 1).
DESIGN_BOUNDS = {
    "inter_neurons": "n_neurons - 1",
    "command_neurons": "n_neurons - 1",
    "sensory_fanout": "inter_neurons",
    "inter_fanout": "command_neurons",
    "motor_fanin": "command_neurons",
}
# Each mask, with its source and target groups and the ncp key that fixes its synapse count.
MASK_LAYERS = (
    ("inter", "sensory", "inter", "sensory_fanout"),
    ("command", "inter", "command", "inter_fanout"),
    ("motor", "command", "motor", "motor_fanin"),
)


def check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` if it is an integer (not a bool) >= ``minimum``, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


@dataclass(frozen=True)
class NeuronCounts:
    """Number of neurons in each NCP group."""

    sensory: int
    inter: int
    command: int
    motor: int

    @property
    def units(self) -> int:
        """Hidden state size: inter + command + motor."""
        return self.inter + self.command + self.motor


@dataclass(frozen=True)
class SynapseCounts:
    """Synapses drawn per source neuron of each group by the default rule (``motor`` is the
    command->motor fan-in that rule implies; it draws ``command`` per command neuron)."""

    sensory: int
    inter: int
    command: int
    motor: int


@dataclass(frozen=True)
class LayerMasks(Generic[MaskT]):
    """Signed int32 masks of shape (sources, targets): +1 excitatory, -1 inhibitory, 0 none;
    torch tensors (``Wiring.masks``) or numpy arrays (``Wiring.arrays``)."""

    inter: MaskT
    command: MaskT
    motor: MaskT

    def items(self) -> list[tuple[str, MaskT]]:
        """(layer name, mask) in order: inter, command, motor."""
        return [(name, getattr(self, name)) for name in LAYER_NAMES]


def neuron_counts(in_features: int, n_neurons: int, out_features: int) -> NeuronCounts:
    """Split ``n_neurons`` into inter and command neurons (40% command, at least one)."""
    n_command = max(n_neurons * COMMAND_NUMERATOR // COMMAND_DENOMINATOR, 1)
    return NeuronCounts(in_features, n_neurons - n_command, n_command, out_features)


def layer_sizes(counts: NeuronCounts) -> list[tuple[int, int]]:
    """(inputs, neurons) of the inter, command and motor cells."""
    return [
        (counts.sensory, counts.inter),
        (counts.inter, counts.command),
        (counts.command, counts.motor),
    ]


def synapse_counts(counts: NeuronCounts, sparsity_level: float) -> SynapseCounts:
    """Synapses per source neuron for a given sparsity level (density = 1 - sparsity)."""
    density = 1.0 - sparsity_level
    return SynapseCounts(
        sensory=max(int(counts.inter * density), 1),
        inter=max(int(counts.command * density), 1),
        command=max(int(counts.command * density * 2), 1),
        motor=max(int(counts.command * density), 1),
    )


def sparsity_problem(sparsity_level: object) -> str | None:
    """What is wrong with a sparsity level, in words, or None when it lies in [0.1, 0.9]."""
    if isinstance(sparsity_level, bool) or not isinstance(
        sparsity_level, int | float | np.floating | np.integer
    ):
        return f"must be a number in [{MIN_SPARSITY}, {MAX_SPARSITY}], got {sparsity_level!r}"
    value = float(sparsity_level)
    if not MIN_SPARSITY <= value <= MAX_SPARSITY:  # also False for NaN
        return f"must be in [{MIN_SPARSITY}, {MAX_SPARSITY}], got {sparsity_level}"
    return None


def check_sparsity(sparsity_level: object) -> float:
    """Return ``sparsity_level`` as a float if it lies in [0.1, 0.9], else raise ValueError."""
    problem = sparsity_problem(sparsity_level)
    if problem is not None:
        raise ValueError(f"sparsity_level {problem}")
    return float(sparsity_level)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Wiring designs
# --------------------------------------------------------------------------------------------


class DesignError(VeloraError):
    """A wiring design key has a bad value; ``key`` names it (e.g. ``sensory_fanout``) and
    ``problem`` says what was expected. The spec reports it as ``network.wiring.<key>``."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class WiringDesign:
    """How the masks are drawn: a wiring type and its parameters (a spec's ``network.wiring``).

    ``ncp``: the NCP groups; ``sensory_fanout`` / ``inter_fanout`` synapses out of every sensory
    / inter neuron and ``motor_fanin`` into every motor neuron, exactly, each to distinct
    neurons; a key left None draws its layer by the default rule (from ``sparsity_level``).
    ``fully_connected``: every possible synapse. ``random``: each possible synapse with
    probability 1 - ``sparsity_level``. ``inter_neurons + command_neurons = n_neurons`` for all
    three; give one and the other follows, give neither for the default 40% command split.
    """

    type: str = DEFAULT_WIRING_TYPE
    inter_neurons: int | None = None
    command_neurons: int | None = None
    sensory_fanout: int | None = None
    inter_fanout: int | None = None
    motor_fanin: int | None = None

    def given(self) -> dict[str, Any]:
        """The type and every key that is set, in ``DESIGN_KEYS`` order."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {key: value for key, value in values.items() if value is not None}

    def keys(self) -> tuple[str, ...]:
        """The keys of this design's type."""
        return type_keys(self.type)

    def to_dict(self) -> dict[str, Any]:
        """Every key of the type, None where the default rule applies (``velora wire --json``)."""
        return {key: getattr(self, key) for key in self.keys()}

    def split(self) -> tuple[int, int]:
        """(inter_neurons, command_neurons) of a resolved design."""
        if self.inter_neurons is None or self.command_neurons is None:
            raise ValueError("the design is not resolved; see resolve_design")
        return self.inter_neurons, self.command_neurons

    @property
    def uses_sparsity(self) -> bool:
        """Whether ``sparsity_level`` shapes the masks (random, or an ncp layer by default)."""
        if self.type == "random":
            return True
        return self.type == "ncp" and any(getattr(self, key) is None for key in NCP_KEYS)

    def is_default(self, n_neurons: int) -> bool:
        """Whether this is what a spec without a wiring section builds."""
        default = neuron_counts(1, n_neurons, 1)
        return (
            self.type == DEFAULT_WIRING_TYPE
            and all(getattr(self, key) is None for key in NCP_KEYS)
            and self.split() == (default.inter, default.command)
        )


def type_keys(wiring_type: str) -> tuple[str, ...]:
    """The design keys a wiring type takes: all of them for ncp, no fan-outs otherwise."""
    return DESIGN_KEYS if wiring_type == "ncp" else ("type", *GROUP_KEYS)


def _design_int(
    values: Mapping[str, object],
    key: str,
    maximum: int,
    describe: Callable[[Any], str],
) -> int | None:
    """A numeric design key's value, checked to lie in [1, maximum]; None when not given."""
    value = values.get(key)
    if value is None:
        return None
    ok = not isinstance(value, bool) and isinstance(value, int | np.integer)
    if not ok or not 1 <= value <= maximum:  # type: ignore[operator]
        raise DesignError(
            key,
            f"expected an integer from 1 to {DESIGN_BOUNDS[key]} ({describe(maximum)}), "
            f"got {describe(value)}",
        )
    return int(value)  # type: ignore[call-overload]


def resolve_design(
    design: WiringDesign | Mapping[str, object] | None,
    n_neurons: int,
    *,
    describe: Callable[[Any], str] = repr,
) -> WiringDesign:
    """Check a design against ``n_neurons`` and fill in the group sizes; raises ``DesignError``.

    ``design`` is a ``WiringDesign``, a mapping of design keys (a spec's section; None values
    count as absent) or None (the default: ncp, 40% command, every layer by the default rule).
    ``describe`` words a bad value for the message (the spec passes its own).
    """
    if design is None:
        values: dict[str, object] = {}
    elif isinstance(design, WiringDesign):
        values = design.given()
    else:
        values = {str(k): v for k, v in design.items() if v is not None}
    for key in values:
        if key not in DESIGN_KEYS:
            close = difflib.get_close_matches(key, DESIGN_KEYS, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise DesignError(
                key, f"unknown key {key!r}{hint} (allowed keys: {', '.join(DESIGN_KEYS)})"
            )
    wiring_type = values.get("type", DEFAULT_WIRING_TYPE)
    if not isinstance(wiring_type, str) or wiring_type not in WIRING_TYPES:
        close = []
        if isinstance(wiring_type, str) and wiring_type.strip():
            starts = [t for t in WIRING_TYPES if t.startswith(wiring_type.strip().lower())]
            close = starts or difflib.get_close_matches(wiring_type, WIRING_TYPES, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DesignError(
            "type", f"expected one of {', '.join(WIRING_TYPES)}, got {describe(wiring_type)}{hint}"
        )
    allowed = type_keys(wiring_type)
    for key in values:
        if key not in allowed:
            raise DesignError(
                key,
                f"not a key of type {wiring_type} (its keys: {', '.join(allowed)}); "
                "fan-outs and fan-ins are for type ncp",
            )

    n = n_neurons
    inter = _design_int(values, "inter_neurons", n - 1, describe)
    command = _design_int(values, "command_neurons", n - 1, describe)
    if inter is None and command is None:
        default = neuron_counts(1, n, 1)
        inter, command = default.inter, default.command
    elif inter is None:
        assert command is not None
        inter = n - command
    elif command is None:
        command = n - inter
    elif inter + command != n:
        raise DesignError(
            "command_neurons",
            f"inter_neurons ({describe(inter)}) + command_neurons ({describe(command)}) = "
            f"{describe(inter + command)}, expected n_neurons ({describe(n)}); "
            "give one of them and the other follows",
        )
    bound = {"inter_neurons": inter, "command_neurons": command}
    fans = {key: _design_int(values, key, bound[DESIGN_BOUNDS[key]], describe) for key in NCP_KEYS}
    return WiringDesign(wiring_type, inter, command, **fans)


def fanout_spread(per_source: int, n_sources: int, n_targets: int) -> tuple[int, int]:
    """(fewest, most) synapses out of a source under an exact fan-out of ``per_source``.

    Exactly ``per_source`` when the sources together reach every target; otherwise the targets
    are shared out, one input each, and a source feeds floor or ceil of targets / sources.
    """
    if per_source * n_sources >= n_targets:
        return per_source, per_source
    return n_targets // n_sources, -(-n_targets // n_sources)


@dataclass(frozen=True)
class DesignLine:
    """One key of a resolved design as ``velora validate`` shows it: value and what it does."""

    key: str
    value: str
    note: str


def describe_design(
    design: WiringDesign, counts: NeuronCounts, sparsity_level: float
) -> list[DesignLine]:
    """Every key of a resolved design with its value filled in and what it builds, in words."""
    density = 1.0 - sparsity_level
    notes = {
        "ncp": "sensory → inter → command → motor",
        "fully_connected": "every possible synapse of every layer (density 1)",
        "random": f"each possible synapse with probability {density:g} (1 - sparsity_level); "
        "a target left without input gets one from a random source",
    }
    default = neuron_counts(counts.sensory, counts.inter + counts.command, counts.motor)
    command_note = (
        "40% of n_neurons, at least one (the default split)"
        if (default.inter, default.command) == (counts.inter, counts.command)
        else "inter_neurons + command_neurons = n_neurons"
    )
    lines = [
        DesignLine("type", design.type, notes[design.type]),
        DesignLine("inter_neurons", f"{counts.inter:,}", "n_neurons - command_neurons"),
        DesignLine("command_neurons", f"{counts.command:,}", command_note),
    ]
    if design.type != "ncp":
        return lines
    draws = synapse_counts(counts, sparsity_level)
    default_draws = {
        "sensory_fanout": ("sensory", draws.sensory, "inter"),
        "inter_fanout": ("inter", draws.inter, "command"),
        "motor_fanin": ("command", draws.command, "motor"),
    }
    for key in NCP_KEYS:
        k = getattr(design, key)
        if k is None:
            source, n_draws, target = default_draws[key]
            lines.append(
                DesignLine(
                    key,
                    "default",
                    f"{n_draws:,} random {target} targets per {source} neuron, repeats merge "
                    f"(sparsity {sparsity_level:g})",
                )
            )
        elif key == "motor_fanin":
            reached = min(counts.command, k * counts.motor)
            tail = (
                "every command neuron feeds a motor neuron"
                if reached == counts.command
                else f"{reached:,} of the {counts.command:,} command neurons feed a motor neuron"
            )
            lines.append(
                DesignLine(key, f"{k:,}", f"exactly {k:,} into every motor neuron; {tail}")
            )
        else:
            source, target = (
                ("sensory", "inter") if key == "sensory_fanout" else ("inter", "command")
            )
            n_s, n_t = getattr(counts, source), getattr(counts, target)
            low, high = fanout_spread(k, n_s, n_t)
            spread = f"{low:,}" if low == high else f"{low:,} to {high:,}"
            note = (
                f"exactly {k:,} out of every {source} neuron"
                if low == high == k
                else f"{k:,} × {n_s:,} {source} < {n_t:,} {target} neurons: every {target} "
                f"neuron gets exactly one input, {spread} out of each {source} neuron"
            )
            lines.append(DesignLine(key, f"{k:,}", note))
    return lines


def design_summary(design: WiringDesign, sparsity_level: float) -> str:
    """The design in a few words, for headers and figure titles: ``ncp · sparsity 0.5``,
    ``ncp: sensory_fanout 4, inter_fanout 3, motor_fanin 5``, ``random · sparsity 0.7``."""
    given = [f"{key} {getattr(design, key):,}" for key in NCP_KEYS if getattr(design, key)]
    text = design.type + (": " + ", ".join(given) if design.type == "ncp" and given else "")
    if design.uses_sparsity:
        text += f" · sparsity {sparsity_level:g}"
    return text


def _layer_rule(design: WiringDesign, key: str) -> str:
    """How one mask is drawn: "default", "exact", "full" or "random"."""
    if design.type == "fully_connected":
        return "full"
    if design.type == "random":
        return "random"
    return "default" if getattr(design, key) is None else "exact"


# Peak bytes per possible synapse while one mask is drawn, by rule (an upper bound): the int32
# mask, plus for the default rule int64 targets, signs and indices for at most two draws per
# possible synapse; for an exact fan-out float64 keys, a bool mark, int64 ranks and signs; for
# random float32 draws, a bool mark and int64 signs; for full int64 signs.
_DRAW_BYTES = {
    "default": 4 + 3 * 8 * 2,
    "exact": 4 + 8 + 1 + 8 + 8,
    "random": 4 + 4 + 1 + 8,
    "full": 4 + 8,
}


def mask_bytes(design: WiringDesign, counts: NeuronCounts) -> int:
    """Bytes needed at the peak of drawing the masks of a resolved design (integers only, so
    that absurd sizes never overflow)."""
    total = 0
    for _, source, target, key in MASK_LAYERS:
        n_in, n_out = getattr(counts, source), getattr(counts, target)
        total += _DRAW_BYTES[_layer_rule(design, key)] * n_in * max(n_out, 1)
    return total


# --------------------------------------------------------------------------------------------
# Drawing the masks
# --------------------------------------------------------------------------------------------


def _signs(count: int, draws: Draws) -> np.ndarray:
    """``count`` random polarities, +1 or -1 with even odds."""
    return (draws.randint(2, (count,)) * 2 - 1).astype(np.int32)


def _connect(n_sources: int, n_targets: int, per_source: int, draws: Draws) -> np.ndarray:
    """Draw ``per_source`` targets (with replacement) per source, then feed every orphan target."""
    targets = draws.randint(n_targets, (n_sources, per_source))
    signs = draws.randint(2, (n_sources, per_source)) * 2 - 1
    mask = np.zeros((n_sources, n_targets), dtype=np.int32)
    sources = np.repeat(np.arange(n_sources), per_source)
    flat = sources * n_targets + targets.ravel()
    # A target drawn twice by one source keeps the polarity of its first draw.
    _, first = np.unique(flat, return_index=True)
    mask.ravel()[flat[first]] = signs.ravel()[first]

    orphans = np.flatnonzero(~mask.any(axis=0))
    if orphans.size:
        picks = draws.randint(n_sources, (orphans.size,))
        mask[picks, orphans] = draws.randint(2, (orphans.size,)) * 2 - 1
    return mask


def _choose_exact(
    n_rows: int, n_cols: int, per_row: int, draws: Draws, *, cover: bool
) -> np.ndarray:
    """A (rows, cols) bool matrix in which every row picks ``per_row`` distinct columns.

    First the columns, in a random order, are shared out among the rows in a random order, one
    each in turn: all of them with ``cover`` (a row then holds more than ``per_row`` only when
    ``per_row × rows < cols``), else only as many as ``per_row × rows`` allows. Then every row
    fills up to ``per_row`` with columns it does not hold yet, uniformly at random.
    """
    col_order = draws.randperm(n_cols)
    row_order = draws.randperm(n_rows)
    shared = n_cols if cover else min(n_cols, per_row * n_rows)
    chosen = np.zeros((n_rows, n_cols), dtype=bool)
    chosen[row_order[np.arange(shared) % n_rows], col_order[:shared]] = True
    keys = draws.rand((n_rows, n_cols), np.float64)
    keys[chosen] = 2.0  # above every draw: a row's shared columns rank first
    top = np.argpartition(-keys, per_row - 1, axis=1)[:, :per_row]
    chosen[np.arange(n_rows)[:, None], top] = True
    return chosen


def _signed(chosen: np.ndarray, draws: Draws) -> np.ndarray:
    """An int32 mask with a random polarity on every chosen entry (drawn in row-major order)."""
    mask = np.zeros(chosen.shape, dtype=np.int32)
    mask[chosen] = _signs(int(chosen.sum()), draws)
    return mask


def _connect_random(n_sources: int, n_targets: int, density: float, draws: Draws) -> np.ndarray:
    """Each possible synapse with probability ``density``; an orphan target gets one synapse
    from a random source."""
    # Compared in float32, as torch compares a float32 tensor with a Python float.
    chosen = draws.rand((n_sources, n_targets)) < np.float32(density)
    orphans = np.flatnonzero(~chosen.any(axis=0))
    if orphans.size:
        chosen[draws.randint(n_sources, (orphans.size,)), orphans] = True
    return _signed(chosen, draws)


def _draw_masks(
    design: WiringDesign,
    counts: NeuronCounts,
    per_source: SynapseCounts,
    sparsity_level: float,
    draws: Draws,
) -> LayerMasks[np.ndarray]:
    """The three masks of a resolved design, drawn in order inter, command, motor.

    The default rule of each layer draws exactly what velora always drew, so a design without
    keys builds today's masks bit for bit.
    """
    default_draws = {
        "inter": per_source.sensory,
        "command": per_source.inter,
        "motor": per_source.command,
    }
    masks = {}
    for name, group, target, key in MASK_LAYERS:
        n_s, n_t = getattr(counts, group), getattr(counts, target)
        rule = _layer_rule(design, key)
        if rule == "default":
            masks[name] = _connect(n_s, n_t, default_draws[name], draws)
        elif rule == "full":
            masks[name] = _signed(np.ones((n_s, n_t), dtype=bool), draws)
        elif rule == "random":
            masks[name] = _connect_random(n_s, n_t, 1.0 - sparsity_level, draws)
        elif name == "motor":  # a fan-in: every motor neuron picks its command sources
            chosen = _choose_exact(n_t, n_s, getattr(design, key), draws, cover=False)
            masks[name] = _signed(np.ascontiguousarray(chosen.T), draws)
        else:
            masks[name] = _signed(
                _choose_exact(n_s, n_t, getattr(design, key), draws, cover=True), draws
            )
    return LayerMasks(**masks)


class Wiring:
    """Random NCP wiring with a given sparsity, or as a ``WiringDesign`` says; ``seed`` makes
    it reproducible.

    With ``seed=None`` the masks come from torch's global generator (see ``velora.set_seed``);
    with a seed they come from a private generator (the stream of ``torch.Generator().
    manual_seed(seed)``, drawn without torch: ``velora.draws``) and global random state is left
    untouched. ``masks`` holds them as torch tensors, ``arrays`` as numpy arrays (no torch
    needed); the two share memory. ``Wiring.ncp``, ``Wiring.fully_connected`` and
    ``Wiring.random`` name the designs; ``Wiring.from_masks`` and ``Wiring.from_ncps`` take masks
    drawn elsewhere.
    """

    def __init__(
        self,
        in_features: int,
        n_neurons: int,
        out_features: int,
        *,
        sparsity_level: float = DEFAULT_SPARSITY,
        seed: int | None = None,
        design: WiringDesign | None = None,
    ) -> None:
        self.in_features = check_int("in_features", in_features, 1)
        self.n_neurons = check_int("n_neurons", n_neurons, 2)
        self.out_features = check_int("out_features", out_features, 1)
        self.sparsity_level = check_sparsity(sparsity_level)
        if seed is not None:
            seed = check_int("seed", seed, 0)
        self.seed = seed
        self.design = resolve_design(design, self.n_neurons)

        inter, command = self.design.split()
        self.counts = NeuronCounts(self.in_features, inter, command, self.out_features)
        self._n_connections = synapse_counts(self.counts, self.sparsity_level)

        self.arrays = _draw_masks(
            self.design, self.counts, self._n_connections, self.sparsity_level, draws_for(seed)
        )
        self._tensors: LayerMasks[torch.Tensor] | None = None

    @property
    def masks(self) -> LayerMasks[torch.Tensor]:
        """The three signed masks as int32 torch tensors (sharing memory with ``arrays``)."""
        if self._tensors is None:
            import torch

            self._tensors = LayerMasks(*(torch.from_numpy(a) for _, a in self.arrays.items()))
        return self._tensors

    @classmethod
    def ncp(
        cls,
        in_features: int,
        n_neurons: int,
        out_features: int,
        *,
        inter_neurons: int | None = None,
        command_neurons: int | None = None,
        sensory_fanout: int | None = None,
        inter_fanout: int | None = None,
        motor_fanin: int | None = None,
        sparsity_level: float = DEFAULT_SPARSITY,
        seed: int | None = None,
    ) -> Wiring:
        """NCP wiring with explicit groups and exact fan-outs; a key left None follows the
        default rule (``sparsity_level``), so ``Wiring.ncp(4, 16, 1)`` equals ``Wiring(4, 16, 1)``.
        """
        design = WiringDesign(
            "ncp", inter_neurons, command_neurons, sensory_fanout, inter_fanout, motor_fanin
        )
        return cls(
            in_features,
            n_neurons,
            out_features,
            sparsity_level=sparsity_level,
            seed=seed,
            design=design,
        )

    @classmethod
    def fully_connected(
        cls,
        in_features: int,
        n_neurons: int,
        out_features: int,
        *,
        inter_neurons: int | None = None,
        command_neurons: int | None = None,
        seed: int | None = None,
    ) -> Wiring:
        """Every possible synapse between consecutive groups (density 1), random polarities:
        a dense baseline with the same groups."""
        design = WiringDesign("fully_connected", inter_neurons, command_neurons)
        return cls(in_features, n_neurons, out_features, seed=seed, design=design)

    @classmethod
    def random(
        cls,
        in_features: int,
        n_neurons: int,
        out_features: int,
        *,
        sparsity_level: float = DEFAULT_SPARSITY,
        inter_neurons: int | None = None,
        command_neurons: int | None = None,
        seed: int | None = None,
    ) -> Wiring:
        """Each possible synapse with probability ``1 - sparsity_level``, independently; a
        target left without input gets one from a random source."""
        design = WiringDesign("random", inter_neurons, command_neurons)
        return cls(
            in_features,
            n_neurons,
            out_features,
            sparsity_level=sparsity_level,
            seed=seed,
            design=design,
        )

    @classmethod
    def from_masks(
        cls,
        masks: LayerMasks,
        *,
        sparsity_level: float = DEFAULT_SPARSITY,
        design: WiringDesign | None = None,
    ) -> Wiring:
        """Rebuild a wiring from stored masks (e.g. from a checkpoint), checking their shapes.

        ``design`` says how they were drawn (a checkpoint's stored spec); its group sizes must
        match the masks. Without it the design is ncp with the masks' group sizes.
        """
        inter, command, motor = (mask_array(m) for _, m in masks.items())
        for name, mask in (("inter", inter), ("command", command), ("motor", motor)):
            if mask.ndim != 2 or not bool(((mask >= -1) & (mask <= 1)).all()):
                raise ValueError(f"mask {name!r} must be a 2-D tensor of -1, 0 and +1")
        if inter.shape[1] != command.shape[0] or command.shape[1] != motor.shape[0]:
            raise ValueError(
                "mask shapes do not chain: inter "
                f"{tuple(inter.shape)}, command {tuple(command.shape)}, motor {tuple(motor.shape)}"
            )
        self = cls.__new__(cls)
        self.in_features = int(inter.shape[0])
        self.n_neurons = int(inter.shape[1] + command.shape[1])
        self.out_features = int(motor.shape[1])
        self.sparsity_level = check_sparsity(sparsity_level)
        self.seed = None
        split = (int(inter.shape[1]), int(command.shape[1]))
        if design is None:
            design = WiringDesign("ncp", *split)
        self.design = resolve_design(design, self.n_neurons)
        if self.design.split() != split:
            inter_neurons, command_neurons = self.design.split()
            raise ValueError(
                f"design has inter_neurons {inter_neurons}, command_neurons {command_neurons} "
                f"but the masks hold {split[0]} and {split[1]}"
            )
        self.counts = NeuronCounts(self.in_features, *split, self.out_features)
        self._n_connections = synapse_counts(self.counts, self.sparsity_level)
        self.arrays = LayerMasks(inter, command, motor)
        self._tensors = None
        return self

    @classmethod
    def from_ncps(cls, wiring: Any, *, sparsity_level: float | None = None) -> Wiring:
        """The circuit of an ncps wiring (``ncps.wirings.NCP`` or ``AutoNCP``, built), as masks.

        Duck-typed, so ncps is not needed: ``wiring`` has ``units``, ``input_dim``,
        ``output_dim``, ``adjacency_matrix`` (units × units, source rows), ``sensory_adjacency_
        matrix`` (input_dim × units) and three layers, inter, command and motor
        (``num_layers`` and ``get_neurons_of_layer``, or ncps's ``_num_inter_neurons``,
        ``_num_command_neurons``, ``_num_motor_neurons`` with its order motor, command, inter).
        Only the circuit carries over: the masks between consecutive groups, as ncps's
        ``WiredCfCCell`` uses them (synapses within a group are left out: in ncps's CfC as in
        velora every neuron sees its whole group). Weights do not carry over: see the README.
        """
        if getattr(wiring, "input_dim", None) is None:
            raise VeloraError(
                "the ncps wiring is not built: call wiring.build(in_features) first "
                "(ncps builds it on the first forward pass)"
            )
        units, n_in = _ncps_int(wiring, "units"), _ncps_int(wiring, "input_dim")
        adjacency = _ncps_matrix(wiring, "adjacency_matrix", (units, units))
        sensory = _ncps_matrix(wiring, "sensory_adjacency_matrix", (n_in, units))
        inter, command, motor = _ncps_groups(wiring, units)
        output_dim = getattr(wiring, "output_dim", None)
        if output_dim is not None and int(output_dim) != len(motor):
            raise VeloraError(
                f"ncps wiring: output_dim {output_dim} but {len(motor)} motor neurons"
            )

        groups = {"inter": inter, "command": command, "motor": motor}
        kind = np.full(units, "", dtype=object)
        for group, ids in groups.items():
            kind[ids] = group
        allowed = {("inter", "command"), ("command", "motor")}
        sources, targets = np.nonzero(adjacency)
        for s, t in zip(sources.tolist(), targets.tolist(), strict=True):
            pair = (kind[s], kind[t])
            if pair not in allowed and pair[0] != pair[1]:
                raise VeloraError(
                    f"ncps wiring: a synapse from {kind[s]} neuron {s} to {kind[t]} neuron {t}; "
                    "velora's circuit runs sensory → inter → command → motor only"
                )
        stray = np.flatnonzero(np.abs(sensory).sum(axis=0)[command + motor])
        if stray.size:
            t = (command + motor)[int(stray[0])]
            raise VeloraError(
                f"ncps wiring: a sensory synapse into {kind[t]} neuron {t}; velora's sensory "
                "neurons feed inter neurons only"
            )
        masks = LayerMasks(
            mask_array(sensory[:, inter]),
            mask_array(adjacency[np.ix_(inter, command)]),
            mask_array(adjacency[np.ix_(command, motor)]),
        )
        given = {key: getattr(wiring, f"_{key}", None) for key in NCP_KEYS}
        fans = {k: int(v) if isinstance(v, int | np.integer) else None for k, v in given.items()}
        design = WiringDesign("ncp", len(inter), len(command), **fans)
        if sparsity_level is None:
            stored = getattr(wiring, "_sparsity_level", None)  # AutoNCP's
            sparsity_level = (
                DEFAULT_SPARSITY if sparsity_problem(stored) else check_sparsity(stored)
            )
        try:
            return cls.from_masks(masks, sparsity_level=sparsity_level, design=design)
        except DesignError as exc:
            raise VeloraError(f"ncps wiring: {exc}") from None

    def data(self) -> tuple[LayerMasks, NeuronCounts]:
        """The three layer masks and the neuron counts."""
        return self.masks, self.counts

    @property
    def n_connections(self) -> SynapseCounts:
        """Synapses the default rule draws per source neuron of each group."""
        return self._n_connections

    def spec_design(self) -> WiringDesign | None:
        """The design for a spec's ``network.wiring`` section: None for the default one."""
        return None if self.design.is_default(self.n_neurons) else self.design

    def __repr__(self) -> str:
        c = self.counts
        return (
            f"Wiring(sensory={c.sensory}, inter={c.inter}, command={c.command}, "
            f"motor={c.motor}, type={self.design.type!r}, sparsity_level={self.sparsity_level}, "
            f"seed={self.seed})"
        )


# ---- reading an ncps wiring ------------------------------------------------------------------


def _ncps_int(wiring: Any, name: str) -> int:
    value = getattr(wiring, name, None)
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise VeloraError(f"ncps wiring: expected {name} to be an integer >= 1, got {value!r}")
    return int(value)


def _ncps_matrix(wiring: Any, name: str, shape: tuple[int, int]) -> np.ndarray:
    value = getattr(wiring, name, None)
    matrix = np.asarray(value) if value is not None else None
    if matrix is None or matrix.shape != shape:
        got = "none" if matrix is None else f"shape {matrix.shape}"
        raise VeloraError(f"ncps wiring: expected {name} of shape {shape}, got {got}")
    if not np.isin(matrix, (-1, 0, 1)).all():
        raise VeloraError(f"ncps wiring: {name} holds values other than -1, 0 and +1")
    return matrix.astype(np.int32)


def _ncps_groups(wiring: Any, units: int) -> tuple[list[int], list[int], list[int]]:
    """The neuron ids of the inter, command and motor groups, each in ncps's order."""
    if callable(getattr(wiring, "get_neurons_of_layer", None)):
        layers = getattr(wiring, "num_layers", None)
        if layers != 3:
            raise VeloraError(
                f"ncps wiring: {layers} layer(s); velora builds NCP circuits of three "
                "(inter, command, motor): for a dense or random baseline use "
                "Wiring.fully_connected or Wiring.random"
            )
        groups = [[int(i) for i in wiring.get_neurons_of_layer(k)] for k in range(3)]
    else:
        sizes = []
        for name in ("inter", "command", "motor"):
            size = getattr(wiring, f"_num_{name}_neurons", None)
            if isinstance(size, bool) or not isinstance(size, int | np.integer):
                raise VeloraError(
                    "ncps wiring: no group sizes (get_neurons_of_layer, or _num_inter_neurons, "
                    "_num_command_neurons and _num_motor_neurons)"
                )
            sizes.append(int(size))
        n_inter, n_command, n_motor = sizes
        # ncps numbers its neurons motor first, then command, then inter.
        groups = [
            list(range(n_motor + n_command, n_motor + n_command + n_inter)),
            list(range(n_motor, n_motor + n_command)),
            list(range(n_motor)),
        ]
    flat = sorted(i for ids in groups for i in ids)
    if flat != list(range(units)):
        raise VeloraError(
            f"ncps wiring: the inter, command and motor neurons do not number 0 to {units - 1} "
            "once each"
        )
    for name, ids in zip(("inter", "command", "motor"), groups, strict=True):
        if not ids:
            raise VeloraError(f"ncps wiring: no {name} neurons")
    return groups[0], groups[1], groups[2]


def mask_array(mask: Any) -> np.ndarray:
    """A mask (numpy array, torch tensor or nested lists) as a C-contiguous int32 array; a
    torch tensor's memory is shared where it already is one."""
    if hasattr(mask, "detach"):  # a torch tensor, without importing torch
        mask = mask.detach().cpu().numpy()
    return np.ascontiguousarray(mask, dtype=np.int32)
