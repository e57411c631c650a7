"""Old module paths of velora 0.1 (``velora.data``, ``velora.loading``, ...) that keep working.

Each old name is an alias module that hands every attribute to the module that now holds the
code, so ``from velora.data import CsvReader`` gives ``velora.files.tables.CsvReader`` itself.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence

MOVED = {
    "velora.checkpoint": "velora.files.checkpoint",
    "velora.csvparse": "velora.kernels.csvparse",
    "velora.data": "velora.files.tables",
    "velora.export": "velora.files.export",
    "velora.io": "velora.files.atomic",
    "velora.loading": "velora.files.loading",
    "velora.models.lnn.grad_kernel": "velora.kernels.backprop",
    "velora.models.lnn.kernel": "velora.kernels.sequence",
    "velora.plotting": "velora.viz.wiring",
    "velora.plotting_run": "velora.viz.run",
    "velora.plotting_train": "velora.viz.loss",
    "velora.stats": "velora.viz.stats",
    "velora.utils": "velora.seeding",
}


class _Alias(importlib.abc.Loader):
    """Loads an old name as a module that delegates to the new one."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None  # a plain new module

    def exec_module(self, module: types.ModuleType) -> None:
        target = importlib.import_module(self.target)
        module.__doc__ = f"Old name of {self.target}, kept for compatibility."
        module.__getattr__ = lambda name: getattr(target, name)  # type: ignore[method-assign]
        module.__dir__ = lambda: dir(target)  # type: ignore[method-assign]
        module.__all__ = [  # type: ignore[attr-defined]
            n for n in getattr(target, "__all__", dir(target)) if n[:1] != "_"
        ]


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(new))


def install() -> None:
    """Make the old names importable (once per process)."""
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.append(_Finder())
