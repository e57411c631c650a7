"""The spec format (version 1): its single schema ``FIELDS`` and the typed ``Spec``.

Validation, the starter spec of ``velora init``, the error messages and the README table all come
from ``FIELDS``. The sizes follow the rules of ``velora.wiring``; nothing here imports torch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from velora.wiring import (
    DEFAULT_SPARSITY,
    DEFAULT_WIRING_TYPE,
    DESIGN_BOUNDS,
    MAX_SPARSITY,
    MIN_SPARSITY,
    WIRING_TYPES,
    Wiring,
    WiringDesign,
    resolve_design,
)

SPEC_VERSION = 1
SUPPORTED_VERSIONS = (1,)
DEFAULT_SEED = 0
MAX_SEED = 2**32 - 1  # numpy's global seed accepts no more
MAX_NAME_LENGTH = 64
NAME_PATTERN = re.compile(r"^\w[\w.\- ]*$")


def default_names(prefix: str, count: int) -> list[str]:
    """The names of unnamed inputs (``x0, x1, ...``) or outputs (``y0, y1, ...``)."""
    return [f"{prefix}{i}" for i in range(count)]


def input_names(names: tuple[str, ...] | list[str] | None, count: int) -> list[str]:
    """Input names: ``names`` if given, else x0, x1, ..."""
    return list(names) if names else default_names("x", count)


def output_names(names: Sequence[str] | None, count: int) -> list[str]:
    """Output names: ``names`` if given, else y0, y1, ..."""
    return list(names) if names else default_names("y", count)


@dataclass(frozen=True)
class Field:
    """One key of the spec format: its type, whether it is required, its range and its help."""

    path: str
    kind: str  # "int", "float", "str", "names", "choice" or "mapping"
    required: bool
    help: str
    example: Any = None
    default: Any = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    length_of: str | None = None  # for "names": the key whose value gives the list's length
    maximum_of: str | None = None  # for "int": the quantity that bounds it, when not a number
    choices: tuple[str, ...] = ()  # for "choice"

    @property
    def key(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    def expected(self) -> str:
        """What a valid value looks like, in words, for error messages and docs."""
        if self.kind == "int":
            if self.maximum_of is not None:
                return f"an integer from {self.minimum} to {self.maximum_of}"
            if self.minimum == self.maximum:
                return f"the integer {self.minimum}"
            if self.maximum is not None:
                return f"an integer from {self.minimum} to {self.maximum}"
            return f"an integer >= {self.minimum}"
        if self.kind == "float":
            return f"a number from {self.minimum:g} to {self.maximum:g}"
        if self.kind == "str":
            return f"a name of up to {MAX_NAME_LENGTH} letters, digits, spaces, '.', '-' or '_'"
        if self.kind == "names":
            return f"a list of {self.length_of} distinct, non-blank names"
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        return "a mapping"


FIELDS: tuple[Field, ...] = (
    Field(
        "version",
        "int",
        True,
        "spec format version; this velora reads version 1",
        example=1,
        minimum=1,
        maximum=max(SUPPORTED_VERSIONS),
    ),
    Field(
        "name",
        "str",
        False,
        "used in titles and default file names",
        example="my-network",
    ),
    Field(
        "seed",
        "int",
        False,
        f"same seed, same wiring and weights (default {DEFAULT_SEED})",
        example=7,
        default=DEFAULT_SEED,
        minimum=0,
        maximum=MAX_SEED,
    ),
    Field("network", "mapping", True, "the sizes of the network"),
    Field(
        "network.in_features",
        "int",
        True,
        "sensory neurons: one per input column",
        example=4,
        minimum=1,
    ),
    Field(
        "network.n_neurons",
        "int",
        True,
        "inter + command neurons (by default 40% command, at least one)",
        example=16,
        minimum=2,
    ),
    Field(
        "network.out_features",
        "int",
        True,
        "motor neurons: one per output",
        example=1,
        minimum=1,
    ),
    Field(
        "network.sparsity_level",
        "float",
        False,
        "share of synapses left out (density = 1 - sparsity)",
        example=0.5,
        default=DEFAULT_SPARSITY,
        minimum=MIN_SPARSITY,
        maximum=MAX_SPARSITY,
    ),
    Field(
        "network.wiring",
        "mapping",
        False,
        "how synapses are drawn; uncomment to design your own",
    ),
    Field(
        "network.wiring.type",
        "choice",
        False,
        "ncp (NCP groups and fan-outs; the default), fully_connected or random",
        example=DEFAULT_WIRING_TYPE,
        default=DEFAULT_WIRING_TYPE,
        choices=WIRING_TYPES,
    ),
    Field(
        "network.wiring.inter_neurons",
        "int",
        False,
        "inter neurons; inter + command = n_neurons",
        example=10,
        minimum=1,
        maximum_of=DESIGN_BOUNDS["inter_neurons"],
    ),
    Field(
        "network.wiring.command_neurons",
        "int",
        False,
        "command neurons; give one of the two, the other follows",
        example=6,
        minimum=1,
        maximum_of=DESIGN_BOUNDS["command_neurons"],
    ),
    Field(
        "network.wiring.sensory_fanout",
        "int",
        False,
        "ncp: exactly this many out of each sensory neuron",
        example=4,
        minimum=1,
        maximum_of=DESIGN_BOUNDS["sensory_fanout"],
    ),
    Field(
        "network.wiring.inter_fanout",
        "int",
        False,
        "ncp: exactly this many out of each inter neuron",
        example=3,
        minimum=1,
        maximum_of=DESIGN_BOUNDS["inter_fanout"],
    ),
    Field(
        "network.wiring.motor_fanin",
        "int",
        False,
        "ncp: exactly this many into each motor neuron",
        example=4,
        minimum=1,
        maximum_of=DESIGN_BOUNDS["motor_fanin"],
    ),
    Field(
        "inputs",
        "names",
        False,
        "input (CSV column) names, one per in_features",
        example=["x", "y", "theta", "omega"],
        length_of="network.in_features",
    ),
    Field(
        "outputs",
        "names",
        False,
        "output names, one per out_features",
        example=["torque"],
        length_of="network.out_features",
    ),
)
FIELD = {f.path: f for f in FIELDS}


def schema_markdown() -> str:
    """The spec format as a Markdown table (the README shows exactly this)."""
    rows = ["| key | required | value | meaning |", "| --- | --- | --- | --- |"]
    for f in FIELDS:
        if f.kind == "mapping":
            continue
        required = "yes" if f.required else "no"
        rows.append(f"| `{f.path}` | {required} | {f.expected()} | {f.help} |")
    return "\n".join(rows)


# --------------------------------------------------------------------------------------------
# Typed spec
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkSpec:
    """Sizes of the network (the arguments of ``LiquidNCPNetwork``) and its wiring design.

    ``wiring`` is the spec's ``network.wiring`` section, checked and with its group sizes filled
    in (``resolve_design``); None when the spec has none: ncp by the default rules.
    """

    in_features: int
    n_neurons: int
    out_features: int
    sparsity_level: float = DEFAULT_SPARSITY
    wiring: WiringDesign | None = None

    def __post_init__(self) -> None:
        if self.wiring is not None:
            object.__setattr__(self, "wiring", resolve_design(self.wiring, self.n_neurons))

    @property
    def design(self) -> WiringDesign:
        """The wiring design in effect, group sizes filled in (the default one without a
        section)."""
        return resolve_design(self.wiring, self.n_neurons)


@dataclass(frozen=True)
class Spec:
    """A validated network spec. ``seed`` is never None once parsed (default 0)."""

    network: NetworkSpec
    version: int = SPEC_VERSION
    name: str | None = None
    seed: int | None = DEFAULT_SEED
    inputs: tuple[str, ...] | None = None
    outputs: tuple[str, ...] | None = None
    source: str = "<spec>"

    def input_names(self) -> list[str]:
        """Input column names: the spec's, else x0, x1, ..."""
        return input_names(self.inputs, self.network.in_features)

    def output_names(self) -> list[str]:
        """Output column names: the spec's, else y0, y1, ..."""
        return output_names(self.outputs, self.network.out_features)

    @property
    def title(self) -> str:
        """A display name: the spec's name, else the file's stem."""
        if self.name:
            return self.name
        stem = Path(self.source).stem
        return stem if stem and not self.source.startswith("<") else "network"

    @property
    def effective_seed(self) -> int:
        """The seed used to build: the spec's, else ``DEFAULT_SEED``."""
        return DEFAULT_SEED if self.seed is None else self.seed

    def draw_wiring(self) -> Wiring:
        """The wiring this spec describes, drawn from ``effective_seed`` (no torch needed)."""
        n = self.network
        return Wiring(
            n.in_features,
            n.n_neurons,
            n.out_features,
            sparsity_level=n.sparsity_level,
            seed=self.effective_seed,
            design=n.wiring,
        )
