"""Reading and writing spec files: YAML text to a validated ``Spec`` and back.

Values are read with ``yaml.safe_load`` only; a second pass with ``yaml.compose`` (the same safe
loader, no values constructed) maps each key path to the line where it appears, so that every
error names the file, the key and the line.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any

import yaml

from velora.errors import SpecError
from velora.spec.schema import (
    DEFAULT_SEED,
    FIELD,
    FIELDS,
    MAX_NAME_LENGTH,
    NAME_PATTERN,
    SUPPORTED_VERSIONS,
    Field,
    NetworkSpec,
    Spec,
)
from velora.wiring import DEFAULT_SPARSITY, WIRING_TYPES, DesignError, WiringDesign, resolve_design

MAX_SPEC_BYTES = 1 << 20  # a spec is a few hundred bytes: read no more than this


def spec_error(
    source: str,
    problem: str,
    *,
    key: str | None = None,
    line: int | None = None,
    kind: type[SpecError] = SpecError,
) -> SpecError:
    """A one-line ``SpecError``: ``file:line: key: problem``; parts carried as attributes."""
    where = source if line is None else f"{source}:{line}"
    text = f"{where}: {key}: {problem}" if key else f"{where}: {problem}"
    text = " ".join(text.split())  # one line, whatever the YAML held
    exc = kind(text)
    exc.source, exc.key, exc.line, exc.problem = source, key, line, problem
    return exc


def _describe(value: Any) -> str:
    """A short description of a YAML value for 'got ...' in errors."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        if abs(value) < 10**30:
            return str(value)
        # Not str(value): Python refuses to format integers of more than 4,300 digits.
        return f"an integer of about {int(abs(value).bit_length() * 0.30103) + 1:,} digits"
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
                # Into every top-level value and into the deeper mappings of the schema.
                if path == "" or (sub in FIELD and FIELD[sub].kind == "mapping"):
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
        if "integer string conversion" in str(exc):  # Python's cap on integer digits
            raise spec_error(
                source, "not valid YAML: an integer of more than 4,300 digits"
            ) from None
        raise spec_error(source, f"not valid YAML: {exc}") from None
    return data, lines


def _parent(path: str) -> str:
    return path.rsplit(".", 1)[0] if "." in path else ""


def _mapping_expected(prefix: str) -> str:
    """'a mapping with keys a, b and optionally c, d', from the schema."""
    children = [f for f in FIELDS if _parent(f.path) == prefix]
    required = [f.key for f in children if f.required]
    optional = [f.key for f in children if not f.required]
    text = "a mapping with keys " + ", ".join(required or optional)
    if required and optional:
        text += " and optionally " + ", ".join(optional)
    return text


def _check_keys(data: dict, prefix: str, source: str, lines: _Lines) -> None:
    """Unknown keys (with a did-you-mean), duplicate keys and missing required keys."""
    known = [f.key for f in FIELDS if _parent(f.path) == prefix]
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
        if _parent(path) == prefix:
            raise spec_error(source, "key given twice", key=path, line=line)
    for f in FIELDS:
        if _parent(f.path) == prefix and f.required and f.key not in data:
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
    assert f.minimum is not None and f.maximum is not None  # float fields have both bounds
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


def _check_wiring(wiring: Any, n_neurons: int, source: str, lines: _Lines) -> WiringDesign:
    """The ``network.wiring`` section, checked by the rules of ``velora.wiring``."""
    path = "network.wiring"
    if not isinstance(wiring, dict):
        hint = ""
        if isinstance(wiring, str) and wiring in WIRING_TYPES:
            hint = f"; write 'wiring: {{type: {wiring}}}'"
        raise spec_error(
            source,
            f"expected {_mapping_expected(path)}, got {_describe(wiring)}{hint}",
            key=path,
            line=lines.value(path),
        )
    _check_keys(wiring, path, source, lines)
    try:
        return resolve_design(wiring, n_neurons, describe=_describe)
    except DesignError as exc:
        key = f"{path}.{exc.key}"
        raise spec_error(source, exc.problem, key=key, line=lines.value(key)) from None


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
            f"expected {_mapping_expected('network')}, got {_describe(net)}",
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
    wiring = _optional(net, "wiring")
    design = None if wiring is None else _check_wiring(wiring, sizes["n_neurons"], source, lines)
    network = NetworkSpec(**sizes, sparsity_level=sparsity, wiring=design)

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
        with open(path, "rb") as handle:  # at most one byte past the cap: /dev/zero ends too
            raw = handle.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise spec_error(source, "no such file") from None
    except OSError as exc:
        raise spec_error(source, f"cannot read spec: {exc.strerror or exc}") from None
    return spec_from_bytes(raw, source)


def spec_from_bytes(raw: bytes, source: str) -> Spec:
    """Validate a spec file's bytes (read from a pipe, say); ``source`` names it in errors."""
    if len(raw) > MAX_SPEC_BYTES:
        raise spec_error(
            source,
            f"larger than {MAX_SPEC_BYTES // 2**20} MiB; a spec is a small YAML file "
            "(read no further)",
        )
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
    if spec.network.wiring is not None:
        out["network"]["wiring"] = spec.network.wiring.given()
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
    # An optional section (a mapping such as network.wiring) is shown commented out.
    sections = [f.path for f in FIELDS if f.kind == "mapping" and not f.required]
    for f in FIELDS:
        indent = "  " * f.path.count(".")
        if f.kind == "mapping":
            text = f"{indent}{f.key}:"
        else:
            value = name if f.path == "name" else f.example
            text = f"{indent}{f.key}: {_yaml_scalar(value).strip()}"
        section = next((p for p in sections if f.path == p or f.path.startswith(p + ".")), None)
        if section is not None:
            base = "  " * section.count(".")
            text = f"{base}# {text[len(base) :]}"
        optional = "" if f.required or (section is not None and f.path != section) else "optional; "
        lines.append(f"{text:<30}# {optional}{f.help}")
    return "\n".join(lines) + "\n"
