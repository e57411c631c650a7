"""velora: Liquid Neural Networks with Neural Circuit Policy (NCP) sparse wiring.

The names users reach for are attributes of this package, loaded on first use (PEP 562), so
``import velora`` alone stays quick and imports no torch::

    import velora
    net = velora.LiquidNCPNetwork(4, 16, 1, seed=7)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from velora import compat
from velora._version import __version__
from velora.errors import CheckpointError, DataError, SpecError, VeloraError

# Public name -> the module that defines it.
_LAZY = {
    "Wiring": "velora.wiring",
    "WiringDesign": "velora.wiring",
    "LiquidNCPNetwork": "velora.models",
    "NCPLiquidCell": "velora.models",
    "build_network": "velora.models",
    "Spec": "velora.spec",
    "load_spec": "velora.spec",
    "parse_spec": "velora.spec",
    "dump_spec": "velora.spec",
    "starter_spec": "velora.spec",
    "load_model": "velora.files.loading",
    "load_checkpoint": "velora.files.checkpoint",
    "save_checkpoint": "velora.files.checkpoint",
    "inspect_checkpoint": "velora.files.inspection",
    "export_model": "velora.files.export",
    "CsvReader": "velora.files.tables",
    "read_table": "velora.files.tables",
    "open_table": "velora.files.tables",
    "run_csv": "velora.inference",
    "evaluate_csv": "velora.evaluation",
    "prune_network": "velora.models.pruning",
    "prune_model": "velora.files.pruning",
    "synapse_strengths": "velora.viz.stats",
    "fit": "velora.training",
    "train_csv": "velora.training",
    "SequenceData": "velora.training",
    "FitResult": "velora.training",
    "read_sequences": "velora.training",
    "split_by_sequence": "velora.training",
    "network_stats": "velora.viz.stats",
    "wiring_figure": "velora.viz.wiring",
    "neuron_figure": "velora.viz.neurons",
    "set_seed": "velora.seeding",
}
# Names that are a module's attribute under another name.
_RENAMED = {"save_checkpoint": "save"}

__all__ = [
    "CheckpointError",
    "CsvReader",
    "DataError",
    "FitResult",
    "LiquidNCPNetwork",
    "NCPLiquidCell",
    "SequenceData",
    "Spec",
    "SpecError",
    "VeloraError",
    "Wiring",
    "WiringDesign",
    "__version__",
    "build_network",
    "dump_spec",
    "evaluate_csv",
    "export_model",
    "fit",
    "inspect_checkpoint",
    "load_checkpoint",
    "load_model",
    "load_spec",
    "network_stats",
    "neuron_figure",
    "open_table",
    "parse_spec",
    "prune_model",
    "prune_network",
    "read_sequences",
    "read_table",
    "run_csv",
    "save_checkpoint",
    "set_seed",
    "split_by_sequence",
    "starter_spec",
    "synapse_strengths",
    "train_csv",
    "wiring_figure",
]

compat.install()


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        moved = compat.MOVED.get(f"velora.{name}")
        if moved is None:
            raise AttributeError(f"module 'velora' has no attribute {name!r}")
        return importlib.import_module(moved)  # an old submodule name: its new home
    value = getattr(importlib.import_module(module), _RENAMED.get(name, name))
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:
    from velora.evaluation import evaluate_csv
    from velora.files.checkpoint import load_checkpoint
    from velora.files.checkpoint import save as save_checkpoint
    from velora.files.export import export_model
    from velora.files.inspection import inspect_checkpoint
    from velora.files.loading import load_model
    from velora.files.pruning import prune_model
    from velora.files.tables import CsvReader, open_table, read_table
    from velora.inference import run_csv
    from velora.models import LiquidNCPNetwork, NCPLiquidCell, build_network
    from velora.models.pruning import prune_network
    from velora.seeding import set_seed
    from velora.spec import Spec, dump_spec, load_spec, parse_spec, starter_spec
    from velora.training import (
        FitResult,
        SequenceData,
        fit,
        read_sequences,
        split_by_sequence,
        train_csv,
    )
    from velora.viz.neurons import neuron_figure
    from velora.viz.stats import network_stats, synapse_strengths
    from velora.viz.wiring import wiring_figure
    from velora.wiring import Wiring, WiringDesign
