"""YAML network specs (version 1): parse, validate, dump, and build the seeded network.

This is a first version of the contract; the schema and error details are refined in place.
"""

from dataclasses import dataclass
from pathlib import Path

import yaml

from velora.errors import SpecError

SPEC_VERSION = 1


@dataclass(frozen=True)
class NetworkSpec:
    """Sizes of the network: the arguments of ``LiquidNCPNetwork``."""

    in_features: int
    n_neurons: int
    out_features: int
    sparsity_level: float = 0.5


@dataclass(frozen=True)
class Spec:
    """A validated network spec."""

    network: NetworkSpec
    version: int = SPEC_VERSION
    name: str | None = None
    seed: int | None = None
    inputs: tuple[str, ...] | None = None
    outputs: tuple[str, ...] | None = None
    source: str = "<spec>"

    def input_names(self) -> list[str]:
        """Input column names: the spec's, else x0, x1, ..."""
        return list(self.inputs or (f"x{i}" for i in range(self.network.in_features)))

    def output_names(self) -> list[str]:
        """Output column names: the spec's, else y0, y1, ..."""
        return list(self.outputs or (f"y{i}" for i in range(self.network.out_features)))


def parse_spec(text: str, source: str = "<spec>") -> Spec:
    """Validate YAML text and return a Spec; every problem raises one SpecError."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping at the top level")
    try:
        net = data["network"]
        network = NetworkSpec(
            int(net["in_features"]),
            int(net["n_neurons"]),
            int(net["out_features"]),
            float(net.get("sparsity_level", 0.5)),
        )
        inputs = data.get("inputs")
        outputs = data.get("outputs")
        return Spec(
            network=network,
            version=int(data["version"]),
            name=data.get("name"),
            seed=data.get("seed"),
            inputs=tuple(inputs) if inputs else None,
            outputs=tuple(outputs) if outputs else None,
            source=source,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SpecError(f"{source}: {exc}") from None


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read spec: {exc.strerror}") from None
    return parse_spec(text, source=str(path))


def spec_to_dict(spec: Spec) -> dict:
    """The spec as plain data, in the order of the file format."""
    out: dict = {"version": spec.version}
    if spec.name is not None:
        out["name"] = spec.name
    if spec.seed is not None:
        out["seed"] = spec.seed
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
    """YAML text that ``parse_spec`` reads back to an equal spec."""
    return yaml.safe_dump(spec_to_dict(spec), sort_keys=False)


def build_network(spec: Spec, device=None):
    """The seeded ``LiquidNCPNetwork`` the spec describes."""
    from velora.models import LiquidNCPNetwork

    n = spec.network
    return LiquidNCPNetwork(
        n.in_features,
        n.n_neurons,
        n.out_features,
        sparsity_level=n.sparsity_level,
        seed=spec.seed,
        device=device,
    )
