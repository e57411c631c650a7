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
    from velora.models import LiquidNCPNetwork
    from velora.models.lnn import kernel
    from velora_cli.console import note_compiling

    net = LiquidNCPNetwork(4, 10, 1, seed=0)
    monkeypatch.setattr(kernel, "is_ready", lambda *d: False)
    note_compiling(net)
    assert "compiling velora's CPU loops" in capsys.readouterr().err
    monkeypatch.setattr(kernel, "is_ready", lambda *d: True)
    note_compiling(net)
    assert capsys.readouterr().err == ""


def test_kernel_is_ready_after_a_call() -> None:
    import torch

    from velora.models import LiquidNCPNetwork
    from velora.models.lnn import kernel

    with torch.no_grad():
        LiquidNCPNetwork(4, 10, 1, seed=0).forward_sequence(torch.zeros(1, 2, 4))
    assert kernel.is_ready()
