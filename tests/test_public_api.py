"""The public face: names at the top level, loaded lazily, and the old module paths."""

import importlib
import subprocess
import sys

import pytest

import velora
from velora.compat import MOVED


def _fresh(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return result.stdout.strip()


def test_import_velora_imports_no_torch() -> None:
    code = "import sys, velora, velora.spec, velora.wiring\nprint('torch' in sys.modules)"
    assert _fresh(code) == "False"


def test_first_use_of_a_name_loads_it() -> None:
    code = (
        "import sys, velora\n"
        "net = velora.LiquidNCPNetwork(4, 16, 1, seed=7)\n"
        "print('torch' in sys.modules, type(net).__module__)"
    )
    assert _fresh(code) == "True velora.models.lnn.ncp"


@pytest.mark.parametrize("name", sorted(velora.__all__))
def test_every_public_name_is_an_attribute(name: str) -> None:
    assert getattr(velora, name) is not None
    assert name in dir(velora)


def test_public_names_are_the_library_objects() -> None:
    from velora.files import checkpoint
    from velora.models import LiquidNCPNetwork
    from velora.training import fit

    assert velora.LiquidNCPNetwork is LiquidNCPNetwork
    assert velora.fit is fit
    assert velora.save_checkpoint is checkpoint.save
    assert velora.load_checkpoint is checkpoint.load_checkpoint


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        velora.nothing_here


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_old_module_paths_hand_over_to_the_new_ones(old: str, new: str) -> None:
    alias, target = importlib.import_module(old), importlib.import_module(new)
    assert alias is not target  # the real module keeps its own name and spec
    names = [n for n in vars(target) if not n.startswith("_")]
    assert names
    for name in names:
        assert getattr(alias, name) is getattr(target, name)
    assert target.__name__ == new


def test_readme_paths_of_version_0_1_still_import() -> None:
    from velora.data import CsvReader, read_table
    from velora.export import export_model
    from velora.loading import load_model
    from velora.plotting import wiring_figure
    from velora.stats import network_stats
    from velora.utils import set_seed

    from velora import checkpoint
    from velora.models.lnn import LiquidNCPNetwork, NCPLiquidCell

    assert checkpoint.load_checkpoint is velora.load_checkpoint
    assert (CsvReader, read_table, export_model, load_model) == (
        velora.CsvReader,
        velora.read_table,
        velora.export_model,
        velora.load_model,
    )
    assert (LiquidNCPNetwork, NCPLiquidCell) == (velora.LiquidNCPNetwork, velora.NCPLiquidCell)
    assert (wiring_figure, network_stats, set_seed) == (
        velora.wiring_figure,
        velora.network_stats,
        velora.set_seed,
    )


def test_the_spec_says_where_build_network_went() -> None:
    import velora.spec

    with pytest.raises(AttributeError, match=r"now velora\.build_network"):
        velora.spec.build_network
