"""What a new user reads: shell completion, --help's usage lines and flags, counts and plurals in
messages, `velora init`'s next steps, and `velora wire`'s tables on an 80-column terminal."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import shellingham
from rich.console import Console

import velora_cli.commands.wire as wire_command
import velora_cli.console as console
from tests.helpers import EXAMPLE
from velora_cli.console import count
from velora_cli.main import app, main_exit_code

COMMANDS = [command.name for command in app.registered_commands]
USAGE = {
    "": "velora [OPTIONS] COMMAND [ARGS]...",
    "init": "velora init [OPTIONS] [FILE]",
    "validate": "velora validate [OPTIONS] SPEC",
    "wire": "velora wire [OPTIONS] MODEL",
    "run": "velora run [OPTIONS] MODEL",
    "train": "velora train [OPTIONS] MODEL",
    "eval": "velora eval [OPTIONS] MODEL",
    "prune": "velora prune [OPTIONS] MODEL",
    "export": "velora export [OPTIONS] MODEL",
    "inspect": "velora inspect [OPTIONS] FILE",
    "warmup": "velora warmup [OPTIONS]",
}


def cli(capsys, *argv: object) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main_exit_code([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def shell(monkeypatch):
    """Pretend the user's shell is the one given (Typer asks shellingham which it is)."""

    def use(name: str) -> None:
        monkeypatch.setattr(shellingham, "detect_shell", lambda *a, **k: (name, f"/bin/{name}"))

    return use


def terminal(monkeypatch, width: int) -> None:
    """Results and messages as on a terminal ``width`` columns wide."""
    out = Console(highlight=False, width=width)
    err = Console(stderr=True, highlight=False, width=width)
    monkeypatch.setattr(console, "out", out)
    monkeypatch.setattr(console, "err", err)  # note() and fail_line() print through this
    monkeypatch.setattr(wire_command, "out", out)


def spec_file(tmp_path: Path, n_neurons: int, name: str = "big.yaml") -> Path:
    path = tmp_path / name
    path.write_text(
        "version: 1\nname: big\nseed: 7\n"
        f"network: {{in_features: 4, n_neurons: {n_neurons}, out_features: 1}}\n",
        encoding="utf-8",
    )
    return path


# ---- 1. shell completion ----


def test_help_offers_completion(capsys) -> None:
    code, out, _ = cli(capsys, "--help")
    assert code == 0
    assert "--install-completion" in out and "--show-completion" in out


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("bash", "complete -o default -F _velora_completion velora"),
        ("zsh", "compdef _velora_completion velora"),
        ("fish", "complete --command velora"),
    ],
)
def test_show_completion_prints_the_script(capsys, shell, name, line) -> None:
    shell(name)
    code, out, err = cli(capsys, "--show-completion")
    assert code == 0 and err == ""
    assert line in out and f"_VELORA_COMPLETE=complete_{name}" in out


def test_show_completion_followed_by_a_shell_name(capsys, shell) -> None:
    # Typer's flag takes no value: the word after it is not run as a command; the shell the
    # user is in decides the script.
    shell("bash")
    code, out, _ = cli(capsys, "--show-completion", "bash")
    assert code == 0
    assert "complete -o default -F _velora_completion velora" in out


def test_install_completion_writes_into_home(tmp_path, monkeypatch, capsys, shell) -> None:
    shell("bash")
    monkeypatch.setenv("HOME", str(tmp_path))
    code, out, _ = cli(capsys, "--install-completion")
    assert code == 0 and "bash completion installed" in out
    script = tmp_path / ".bash_completions" / "velora.sh"
    assert "_VELORA_COMPLETE=complete_bash" in script.read_text()
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("velora wi", ["wire"]),
        ("velora wire --ma", ["--masks", "--max-memory"]),
        ("velora export --format ", ["safetensors", "pt2", "onnx", "c"]),
    ],
)
def test_completion_answers_the_shell(monkeypatch, capsys, words, expected) -> None:
    monkeypatch.setenv("_VELORA_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", words)
    monkeypatch.setenv("COMP_CWORD", str(len(words.split(" ")) - 1))
    code, out, _ = cli(capsys)
    assert code == 0
    assert out.split() == expected


def test_completion_does_not_import_torch() -> None:
    code = (
        "import os, sys\n"
        "os.environ.update(_VELORA_COMPLETE='complete_bash', COMP_WORDS='velora run --', "
        "COMP_CWORD='2')\n"
        "from velora_cli.main import main_exit_code\n"
        "assert main_exit_code([]) == 0\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert "--input" in lines and lines[-1] == "False"


# ---- 2. --help: usage lines in capitals, no type beside a flag ----


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_usage_and_flags(monkeypatch, capsys, command, width) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, _ = cli(capsys, *([command] if command else []), "--help")
    assert code == 0
    usage = next(line for line in out.splitlines() if "Usage:" in line)
    assert usage.split("Usage:")[1].strip() == USAGE[command]
    assert "<bool>" not in out
    assert not re.search(r"\{\w+\}", out)
    # a flag's line goes straight from its name (and short name) to its help
    assert re.search(r"--help\s+-h\s+Show this message and exit\.", out)


def test_help_still_shows_the_type_of_an_option_with_a_value(capsys) -> None:
    out = cli(capsys, "wire", "--help")[1]
    assert re.search(r"--max-memory\s+SIZE\s", out) and re.search(r"--dpi\s+DPI\s", out)
    assert re.search(r"--force\s+Overwrite an existing plot\.", out)


def test_a_missing_argument_is_named_as_in_the_usage_line(capsys) -> None:
    code, _, err = cli(capsys, "wire")
    assert code == 2
    assert err.strip() == "error: Missing argument 'MODEL'. (see 'velora wire --help')"


# ---- 3. counts with thousands separators, nouns in the right number ----


def test_count() -> None:
    assert count(1, "row") == "1 row"
    assert count(0, "row") == "0 rows"
    assert count(96093, "synapse") == "96,093 synapses"
    assert count(2, "random sample") == "2 random samples"
    assert count(3, "child", "children") == "3 children"


def test_no_sloppy_plurals_in_the_cli() -> None:
    root = Path(wire_command.__file__).resolve().parents[1]
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert not re.search(r"[a-z]\(s\)", node.value), (path, node.value)


def test_validate_counts_have_separators(tmp_path, capsys) -> None:
    code, out, _ = cli(capsys, "validate", spec_file(tmp_path, 1000))
    assert code == 0
    assert re.search(r"4\s+600\s+400\s+1\s+1,001", out)  # sensory, inter, command, motor, units


def test_wire_counts_have_separators_and_fit_80_columns(tmp_path, monkeypatch, capsys) -> None:
    path = spec_file(tmp_path, 1000)
    doc = json.loads(cli(capsys, "wire", path, "--json")[1])
    terminal(monkeypatch, 80)
    code, out, _ = cli(capsys, "wire", path)
    assert code == 0
    lines = out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    assert "…" not in out
    assert re.search(r"units\s+1,001\s", out)
    t = doc["totals"]
    total = next(line for line in lines if line.lstrip().startswith("total"))
    for figure in (t["possible"], t["synapses"], t["excitatory"], t["inhibitory"]):
        assert figure >= 1000 and f"{figure:,}" in total
    # two tables: the counts, then fan-in and fan-out
    assert "Fan-in and fan-out per layer" in out
    for layer in doc["layers"]:
        rows, cols = layer["shape"]
        row = next(line for line in lines if f"{rows:,}×{cols:,}" in line)
        assert f"{layer['synapses']:,}" in row and f"{layer['density']:.3f}" in row
        assert f"{layer['excitatory']:,}" in row and f"{layer['inhibitory']:,}" in row
        name = f"{layer['source']}→{layer['target']}"
        spreads = [line for line in lines if line.lstrip().startswith(name)][-1]
        for key in ("fan_in", "fan_out"):
            s = layer[key]
            assert f"{s['min']:,}/{s['mean']:,.1f}/{s['max']:,}" in spreads


def test_wire_keeps_one_table_where_it_fits(monkeypatch, capsys) -> None:
    terminal(monkeypatch, 80)
    out = cli(capsys, "wire", EXAMPLE)[1]
    assert "Fan-in and fan-out per layer" not in out
    assert re.search(r"layer\s+mask\s+synapses\s+density\s+\+exc\s+-inh\s+fan-in\s+fan-out", out)
    assert re.search(r"sensory→inter\s+4×10\s+19\s+0\.475\s+9\s+10\s+1/1\.9/3\s+4/4\.8/6", out)
    terminal(monkeypatch, 60)  # the same split as a big network's on 80 columns
    out = cli(capsys, "wire", EXAMPLE)[1]
    assert "Fan-in and fan-out per layer" in out and "…" not in out
    assert re.search(r"sensory→inter\s+4×10\s+19\s+0\.475\s+9\s+10\s*$", out, re.M)
    assert re.search(r"sensory→inter\s+1/1\.9/3\s+4/4\.8/6\s*$", out, re.M)


def test_inspect_counts_have_separators(ckpt, capsys) -> None:
    info = json.loads(cli(capsys, "inspect", ckpt, "--json")[1])
    out = cli(capsys, "inspect", ckpt)[1]
    assert info["bytes"] >= 1000
    assert re.search(rf"size\s+{info['bytes']:,} bytes", out)


# ---- 4. velora init: the next commands, whole, one a line ----


@pytest.mark.parametrize("name", ["net.yaml", "my net.yaml"])
def test_init_prints_each_next_command_on_its_own_line(tmp_path, monkeypatch, capsys, name):
    terminal(monkeypatch, 30)  # narrower than any of the commands
    path = tmp_path / name
    code, _, err = cli(capsys, "init", path)
    assert code == 0
    shown = f"'{path}'" if " " in name else str(path)
    assert err.splitlines() == [
        f"wrote {path}",
        "next:",
        f"  velora validate {shown}",
        f"  velora wire {shown} --plot wiring.png",
    ]
