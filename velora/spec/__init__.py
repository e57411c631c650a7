"""YAML network specs (format version 1): the schema, parsing with exact error positions,
writing, and the memory estimate. Torch-free, so that commands that only read a spec start fast.

The spec describes a network; building it is the model's job (``LiquidNCPNetwork.from_spec``).
"""

from velora.spec.memory import (
    DEFAULT_MAX_MEMORY,
    PURPOSES,
    MemoryLimitError,
    Purpose,
    check_memory,
    estimate_memory,
    format_bytes,
    neuron_counts,
    parse_bytes,
)
from velora.spec.parse import (
    dump_spec,
    load_spec,
    parse_spec,
    spec_error,
    spec_to_dict,
    starter_spec,
)
from velora.spec.schema import (
    DEFAULT_SEED,
    FIELD,
    FIELDS,
    MAX_SEED,
    SPEC_VERSION,
    SUPPORTED_VERSIONS,
    Field,
    NetworkSpec,
    Spec,
    default_names,
    input_names,
    output_names,
    schema_markdown,
)

__all__ = [
    "DEFAULT_MAX_MEMORY",
    "DEFAULT_SEED",
    "FIELD",
    "FIELDS",
    "MAX_SEED",
    "PURPOSES",
    "SPEC_VERSION",
    "SUPPORTED_VERSIONS",
    "Field",
    "MemoryLimitError",
    "NetworkSpec",
    "Purpose",
    "Spec",
    "check_memory",
    "default_names",
    "dump_spec",
    "estimate_memory",
    "format_bytes",
    "input_names",
    "load_spec",
    "neuron_counts",
    "output_names",
    "parse_bytes",
    "parse_spec",
    "schema_markdown",
    "spec_error",
    "spec_to_dict",
    "starter_spec",
]


def __getattr__(name: str) -> object:
    if name == "build_network":  # velora 0.1's name: say where it went
        raise AttributeError(
            "velora.spec.build_network is now velora.build_network (or "
            "LiquidNCPNetwork.from_spec): the spec describes a network, the model builds it"
        )
    raise AttributeError(f"module 'velora.spec' has no attribute {name!r}")
