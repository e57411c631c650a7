"""YAML network specs (version 1): parse, validate, dump, and build the seeded network.

The schema lives in ``FIELDS``: validation, the starter spec of ``velora init``, the error messages
and the README table all come from it. Values are read with ``yaml.safe_load`` only; a second pass
with ``yaml.compose`` (the same safe loader, no values constructed) maps each key path to the
line where it appears, so that every error names the file, the key and the line.

This module imports no torch at top level, so that the command line stays quick to start.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from velora.errors import SpecError, VeloraError

SPEC_VERSION = 1
SUPPORTED_VERSIONS = (1,)
DEFAULT_SEED = 0
DEFAULT_SPARSITY = 0.5
MAX_SEED = 2**32 - 1  # numpy's global seed accepts no more
MAX_NAME_LENGTH = 64
NAME_PATTERN = re.compile(r"^\w[\w.\- ]*$")
DEFAULT_MAX_MEMORY = 4 * 2**30  # bytes; raise it with --max-memory


# --------------------------------------------------------------------------------------------
# The schema
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One key of the spec format: its type, whether it is required, its range and its help."""

    path: str
    kind: str  # "int", "float", "str", "names" or "mapping"
    required: bool
    help: str
    example: Any = None
    default: Any = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    length_of: str | None = None  # for "names": the key whose value gives the list's length

    @property
    def key(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    def expected(self) -> str:
        """What a valid value looks like, in words, for error messages and docs."""
        if self.kind == "int":
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
        "inter + command neurons (40% command, at least one)",
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
        minimum=0.1,
        maximum=0.9,
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
    """Sizes of the network: the arguments of ``LiquidNCPNetwork``."""

    in_features: int
    n_neurons: int
    out_features: int
    sparsity_level: float = DEFAULT_SPARSITY


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
        return list(self.inputs or (f"x{i}" for i in range(self.network.in_features)))

    def output_names(self) -> list[str]:
        """Output column names: the spec's, else y0, y1, ..."""
        return list(self.outputs or (f"y{i}" for i in range(self.network.out_features)))

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


# --------------------------------------------------------------------------------------------
# Errors with file, line and key
# --------------------------------------------------------------------------------------------


def spec_error(source: str, problem: str, *, key: str | None = None, line: int | None = None):
    """A one-line ``SpecError``: ``file:line: key: problem``; parts carried as attributes."""
    where = source if line is None else f"{source}:{line}"
    text = f"{where}: {key}: {problem}" if key else f"{where}: {problem}"
    text = " ".join(text.split())  # one line, whatever the YAML held
    exc = SpecError(text)
    exc.source, exc.key, exc.line, exc.problem = source, key, line, problem
    return exc


def _describe(value: Any) -> str:
    """A short description of a YAML value for 'got ...' in errors."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        text = str(value) if abs(value) < 10**30 else f"an integer of {len(str(abs(value)))} digits"
        return text
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {shown!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


class _Lines:
    """Key path -> 1-based line, from the node tree that ``yaml.compose`` builds."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.value_lines: dict[str, int] = {}
        self.key_lines: dict[str, int] = {}
        self.duplicates: list[tuple[str, int]] = []
        if root is not None:
            self.value_lines[""] = root.start_mark.line + 1
            self._walk(root, "")

    def _walk(self, node: yaml.Node, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                sub = f"{path}.{key_node.value}" if path else str(key_node.value)
                if sub in seen:
                    self.duplicates.append((sub, key_node.start_mark.line + 1))
                seen.add(sub)
                self.key_lines.setdefault(sub, key_node.start_mark.line + 1)
                self.value_lines.setdefault(sub, value_node.start_mark.line + 1)
                if path == "":  # the spec is two levels deep at most
                    self._walk(value_node, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.value_lines.setdefault(f"{path}[{i}]", item.start_mark.line + 1)

    def value(self, path: str) -> int | None:
        """Line of the value at ``path``, else of its key, else of the closest parent."""
        while True:
            if path in self.value_lines:
                return self.value_lines[path]
            if path in self.key_lines:
                return self.key_lines[path]
            if not path:
                return None
            path = path.rsplit(".", 1)[0] if "." in path else ""

    def key(self, path: str) -> int | None:
        return self.key_lines.get(path) or self.value(path)


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _load_yaml(text: str, source: str) -> tuple[Any, _Lines]:
    """Values via ``yaml.safe_load``; line marks via ``yaml.compose`` with the safe loader."""
    try:
        data = yaml.safe_load(text)
        lines = _Lines(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + 1
        problem = exc.problem or exc.context or "syntax error"
        raise spec_error(source, f"not valid YAML: {problem}", line=line) from None
    except yaml.YAMLError as exc:
        raise spec_error(source, f"not valid YAML: {exc}") from None
    except RecursionError:
        raise spec_error(source, "not valid YAML: nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a date like 2024-13-45
        raise spec_error(source, f"not valid YAML: {exc}") from None
    return data, lines


def _check_keys(data: dict, prefix: str, source: str, lines: _Lines) -> None:
    """Unknown keys (with a did-you-mean), duplicate keys and missing required keys."""
    known = [f.key for f in FIELDS if (f.path.rsplit(".", 1)[0] if "." in f.path else "") == prefix]
    for key in data:
        if not isinstance(key, str) or key not in known:
            path = f"{prefix}.{key}" if prefix else str(key)
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            allowed = ", ".join(known)
            raise spec_error(
                source,
                f"unknown key {str(key)!r}{hint} (allowed keys: {allowed})",
                key=path,
                line=lines.key(path),
            )
    for path, line in lines.duplicates:
        if (path.rsplit(".", 1)[0] if "." in path else "") == prefix:
            raise spec_error(source, "key given twice", key=path, line=line)
    for f in FIELDS:
        parent = f.path.rsplit(".", 1)[0] if "." in f.path else ""
        if parent == prefix and f.required and f.key not in data:
            raise spec_error(
                source,
                f"missing; expected {f.expected()}: {f.help}",
                key=f.path,
                line=lines.key(prefix) if prefix else None,
            )


def _check_int(f: Field, value: Any, source: str, lines: _Lines) -> int:
    line = lines.value(f.path)
    if isinstance(value, bool) or not isinstance(value, int):
        raise spec_error(
            source, f"expected {f.expected()}, got {_describe(value)}", key=f.path, line=line
        )
    if f.path == "version" and value not in SUPPORTED_VERSIONS:
        supported = ", ".join(map(str, SUPPORTED_VERSIONS))
        raise spec_error(
            source,
            f"unsupported spec version {_describe(value)}; this velora reads version {supported}",
            key=f.path,
            line=line,
        )
    too_small = f.minimum is not None and value < f.minimum
    too_big = f.maximum is not None and value > f.maximum
    if too_small or too_big:
        raise spec_error(
            source, f"expected {f.expected()}, got {_describe(value)}", key=f.path, line=line
        )
    return value


def _check_float(f: Field, value: Any, source: str, lines: _Lines) -> float:
    line = lines.value(f.path)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise spec_error(
            source, f"expected {f.expected()}, got {_describe(value)}", key=f.path, line=line
        )
    number = float(value)
    if math.isnan(number) or not f.minimum <= number <= f.maximum:
        raise spec_error(
            source, f"expected {f.expected()}, got {_describe(value)}", key=f.path, line=line
        )
    return number


def _check_name(f: Field, value: Any, source: str, lines: _Lines) -> str:
    line = lines.value(f.path)
    ok = (
        isinstance(value, str)
        and len(value) <= MAX_NAME_LENGTH
        and NAME_PATTERN.match(value) is not None
        and value == value.strip()
    )
    if not ok:
        raise spec_error(
            source, f"expected {f.expected()}, got {_describe(value)}", key=f.path, line=line
        )
    return value


def _check_names(f: Field, value: Any, length: int, source: str, lines: _Lines) -> tuple[str, ...]:
    line = lines.value(f.path)
    if not isinstance(value, list):
        raise spec_error(
            source,
            f"expected a list of {length} names ({f.length_of} = {length}), got {_describe(value)}",
            key=f.path,
            line=line,
        )
    if len(value) != length:
        raise spec_error(
            source,
            f"expected {length} name{'s' * (length != 1)} ({f.length_of} = {length}), "
            f"got {len(value)}",
            key=f.path,
            line=line,
        )
    seen: dict[str, int] = {}
    for i, name in enumerate(value):
        item = f"{f.path}[{i}]"
        item_line = lines.value(item)
        if not isinstance(name, str):
            raise spec_error(
                source,
                f"expected a name (text), got {_describe(name)}; quote it",
                key=item,
                line=item_line,
            )
        if not name.strip():
            raise spec_error(source, "blank name", key=item, line=item_line)
        if name != name.strip() or "\n" in name or "\r" in name:
            raise spec_error(
                source,
                f"name {name!r} has leading or trailing spaces or a line break",
                key=item,
                line=item_line,
            )
        if name in seen:
            raise spec_error(
                source,
                f"duplicate name {name!r} (also {f.path}[{seen[name]}])",
                key=item,
                line=item_line,
            )
        seen[name] = i
    return tuple(value)


def _optional(data: dict, key: str) -> Any:
    """An optional key's value; an explicit null counts as absent."""
    return data.get(key)


def parse_spec(text: str, source: str = "<spec>") -> Spec:
    """Validate YAML text and return a Spec; every problem raises one one-line SpecError."""
    if not isinstance(text, str):
        raise spec_error(source, f"expected YAML text, got {type(text).__name__}")
    data, lines = _load_yaml(text, source)
    if data is None:
        raise spec_error(source, "empty spec; expected a mapping with keys 'version' and 'network'")
    if not isinstance(data, dict):
        raise spec_error(
            source,
            f"expected a mapping with keys 'version' and 'network' at the top level, "
            f"got {_describe(data)}",
            line=lines.value(""),
        )
    if "version" in data:  # first: another version may have other keys
        _check_int(FIELD["version"], data["version"], source, lines)
    _check_keys(data, "", source, lines)
    version = _check_int(FIELD["version"], data["version"], source, lines)

    net = data["network"]
    if not isinstance(net, dict):
        raise spec_error(
            source,
            "expected a mapping with keys in_features, n_neurons, out_features "
            f"and optionally sparsity_level, got {_describe(net)}",
            key="network",
            line=lines.value("network"),
        )
    _check_keys(net, "network", source, lines)
    sizes = {
        key: _check_int(FIELD[f"network.{key}"], net[key], source, lines)
        for key in ("in_features", "n_neurons", "out_features")
    }
    sparsity = net.get("sparsity_level")
    sparsity = (
        DEFAULT_SPARSITY
        if sparsity is None
        else _check_float(FIELD["network.sparsity_level"], sparsity, source, lines)
    )
    network = NetworkSpec(**sizes, sparsity_level=sparsity)

    name = _optional(data, "name")
    if name is not None:
        name = _check_name(FIELD["name"], name, source, lines)
    seed = _optional(data, "seed")
    seed = DEFAULT_SEED if seed is None else _check_int(FIELD["seed"], seed, source, lines)
    inputs = _optional(data, "inputs")
    if inputs is not None:
        inputs = _check_names(FIELD["inputs"], inputs, network.in_features, source, lines)
    outputs = _optional(data, "outputs")
    if outputs is not None:
        outputs = _check_names(FIELD["outputs"], outputs, network.out_features, source, lines)
    return Spec(
        network=network,
        version=version,
        name=name,
        seed=seed,
        inputs=inputs,
        outputs=outputs,
        source=source,
    )


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file; a missing or unreadable file is a SpecError too."""
    path = Path(path)
    source = str(path)
    if path.is_dir():
        raise spec_error(source, "is a folder, expected a YAML spec file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise spec_error(source, "no such file") from None
    except OSError as exc:
        raise spec_error(source, f"cannot read spec: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise spec_error(
            source, f"not UTF-8 text (byte {exc.start}); expected a YAML spec file"
        ) from None
    return parse_spec(text, source=source)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def spec_to_dict(spec: Spec) -> dict:
    """The spec as plain data, in the order of the file format."""
    out: dict = {"version": spec.version}
    if spec.name is not None:
        out["name"] = spec.name
    out["seed"] = spec.effective_seed
    out["network"] = {
        "in_features": spec.network.in_features,
        "n_neurons": spec.network.n_neurons,
        "out_features": spec.network.out_features,
        "sparsity_level": spec.network.sparsity_level,
    }
    if spec.inputs is not None:
        out["inputs"] = list(spec.inputs)
    if spec.outputs is not None:
        out["outputs"] = list(spec.outputs)
    return out


def dump_spec(spec: Spec) -> str:
    """YAML text that ``parse_spec`` reads back to an equal spec (up to ``source``)."""
    return yaml.safe_dump(spec_to_dict(spec), sort_keys=False, allow_unicode=True)


def _yaml_scalar(value: Any) -> str:
    """One value in YAML flow style (lists on one line)."""
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...")


def starter_spec(name: str = "network") -> str:
    """The commented spec that ``velora init`` writes: every key of ``FIELDS`` with its help."""
    if not (len(name) <= MAX_NAME_LENGTH and NAME_PATTERN.match(name) and name == name.strip()):
        name = "network"
    lines = [
        "# A velora network spec. Check it with `velora validate FILE`,",
        "# look at its wiring with `velora wire FILE --plot wiring.png`.",
    ]
    for f in FIELDS:
        indent = "  " if "." in f.path else ""
        if f.kind == "mapping":
            lines.append(f"{f.key + ':':<30}# {f.help}")
            continue
        value = name if f.path == "name" else f.example
        text = f"{indent}{f.key}: {_yaml_scalar(value).strip()}"
        optional = "" if f.required else "optional; "
        lines.append(f"{text:<30}# {optional}{f.help}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Memory and building
# --------------------------------------------------------------------------------------------

BYTES_PER_WEIGHT = 4  # float32
# Float32 copies of each cell's (n_hidden, in + n_hidden) matrix alive at the peak of building
# and running a step: five heads, the mask buffer, the fused four-head cache, two temporaries.
COPIES_PER_CELL = 12


def layer_sizes(network: NetworkSpec) -> list[tuple[int, int]]:
    """(inputs, neurons) of the inter, command and motor cells, computed without torch."""
    n = network.n_neurons
    n_command = max(int(0.4 * n), 1) if n < 2**53 else 2 * n // 5  # as velora.wiring does
    n_inter = network.n_neurons - n_command
    return [
        (network.in_features, n_inter),
        (n_inter, n_command),
        (n_command, network.out_features),
    ]


def neuron_counts(network: NetworkSpec) -> dict[str, int]:
    """Neurons per group (sensory, inter, command, motor), as ``velora.wiring`` splits them."""
    (sensory, inter), (_, command), (_, motor) = layer_sizes(network)
    return {"sensory": sensory, "inter": inter, "command": command, "motor": motor}


def estimate_memory(network: NetworkSpec) -> int:
    """Bytes needed to build the network and run one step, estimated before allocating."""
    total = 0
    for n_in, n_hidden in layer_sizes(network):
        total += COPIES_PER_CELL * BYTES_PER_WEIGHT * n_hidden * (n_in + n_hidden)
        # Wiring: the int32 mask, plus int64 targets, signs and indices for at most two draws
        # per possible synapse (integer arithmetic: sizes may be absurd, never overflow).
        total += 4 * n_in * n_hidden + 3 * 8 * 2 * n_in * max(n_hidden, 1)
    return total


def format_bytes(n: float) -> str:
    """Human-readable bytes: 1.5 GiB, 12.0 MiB, 512 B."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_bytes(text: str) -> int:
    """Parse '4GiB', '512 MB', '2g' or '1000000' into bytes; a VeloraError when unreadable."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS:
        raise VeloraError(
            f"--max-memory: expected a size such as 4GiB, 512MB or 2000000000, got {text!r}"
        )
    return int(float(match.group(1)) * _UNITS[unit])


_MAX_MEMORY: contextvars.ContextVar[int] = contextvars.ContextVar(
    "velora_max_memory", default=DEFAULT_MAX_MEMORY
)


@contextlib.contextmanager
def memory_limit(max_bytes: int | None) -> Iterator[None]:
    """Within the block, ``build_network`` refuses networks estimated above ``max_bytes``."""
    token = _MAX_MEMORY.set(DEFAULT_MAX_MEMORY if max_bytes is None else int(max_bytes))
    try:
        yield
    finally:
        _MAX_MEMORY.reset(token)


def check_memory(spec: Spec, max_bytes: int | None = None) -> int:
    """Return the estimated bytes; raise SpecError when above the limit (default: the current)."""
    limit = _MAX_MEMORY.get() if max_bytes is None else max_bytes
    need = estimate_memory(spec.network)
    if need > limit:
        n = spec.network
        raise spec_error(
            spec.source,
            f"too large: in_features={n.in_features}, n_neurons={n.n_neurons}, "
            f"out_features={n.out_features} need about {format_bytes(need)}, more than the "
            f"limit of {format_bytes(limit)} (raise it with --max-memory)",
            key="network",
        )
    return need


def build_network(spec: Spec, device=None, *, max_memory: int | None = None):
    """The seeded ``LiquidNCPNetwork`` the spec describes, after a memory check."""
    check_memory(spec, max_memory)
    from velora.models import LiquidNCPNetwork

    n = spec.network
    return LiquidNCPNetwork(
        n.in_features,
        n.n_neurons,
        n.out_features,
        sparsity_level=n.sparsity_level,
        seed=spec.effective_seed,
        device=device,
    )
