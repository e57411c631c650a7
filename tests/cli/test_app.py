"""The CLI shell: version, help, error policy, and a --help that never imports torch."""

import subprocess
import sys

from velora import __version__
from velora_cli.main import main_exit_code


def test_version(capsys) -> None:
    assert main_exit_code(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"velora {__version__}"


def test_help_lists_usage(capsys) -> None:
    assert main_exit_code(["--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_unknown_option_is_a_usage_error(capsys) -> None:
    assert main_exit_code(["--no-such-flag"]) == 2


def test_help_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from velora_cli.main import main_exit_code\n"
        "main_exit_code(['--help'])\n"
        "for cmd in [c.name for c in __import__('velora_cli.main').main.app.registered_commands]:\n"
        "    main_exit_code([cmd, '--help'])\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_first_run_says_it_compiles(monkeypatch, capsys) -> None:
    from velora.kernels import cache
    from velora_cli.console import show_library_notes

    show_library_notes(True)
    monkeypatch.setattr(cache, "_announced", set())
    monkeypatch.setattr(cache, "is_ready", lambda group="inference": False)
    cache.announce("inference")
    cache.announce("inference")  # once per process
    err = capsys.readouterr().err
    assert err.count("compiling velora's CPU inference loops") == 1
    monkeypatch.setattr(cache, "_announced", set())
    monkeypatch.setattr(cache, "is_ready", lambda group="inference": True)
    cache.announce("inference")
    assert capsys.readouterr().err == ""
    show_library_notes(False)
    monkeypatch.setattr(cache, "_announced", set())
    monkeypatch.setattr(cache, "is_ready", lambda group="inference": False)
    cache.announce("inference")
    assert capsys.readouterr().err == ""  # --quiet


def test_kernel_is_marked_ready_after_a_call(tmp_path, monkeypatch) -> None:
    import torch

    from velora.kernels import cache
    from velora.models import LiquidNCPNetwork

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cache, "_marked", set())
    assert not cache.is_ready("inference")
    with torch.no_grad():
        LiquidNCPNetwork(4, 10, 1, seed=0).forward_sequence(torch.zeros(1, 2, 4))
    assert cache.marker_path("inference").exists()
    monkeypatch.setattr(cache, "_marked", set())
    assert cache.is_ready("inference")
