"""Load a model from whatever the user points at: a YAML spec or (later) a checkpoint."""

from pathlib import Path

from velora.spec import Spec, build_network, load_spec


def load_model(path: str | Path, device=None):
    """Return ``(network, spec)`` for a spec file (seeded weights)."""
    spec: Spec = load_spec(path)
    return build_network(spec, device=device), spec
