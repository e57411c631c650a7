"""The README's Python examples and its command walk-through run as written, top to bottom;
it shows the spec schema, the commands and the wiring picture."""

import re
import shlex
from pathlib import Path

import pytest

from velora.spec import schema_markdown
from velora_cli.main import main_exit_code

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)
SHELL = re.findall(r"```bash\n(.*?)```", README, re.S)


def commands() -> list[list[str]]:
    """Every `velora` command of the README's bash blocks, in order, comments removed."""
    found = []
    for block in SHELL:
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "velora":
                found.append(words[1:])
    return found


def test_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index: int, tmp_path, monkeypatch) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), {})


def test_readme_walk_through_runs_top_to_bottom(tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    walk = commands()
    assert len(walk) >= 8
    for args in walk:
        code = main_exit_code(args)
        assert code == 0, f"velora {shlex.join(args)}: {capsys.readouterr().err}"
    assert Path("episodes.csv").read_text().startswith("episode,t,torque\nswing1,0,")


def test_readme_shows_the_commands_and_the_picture() -> None:
    assert schema_markdown() in README
    for command in ("velora init", "velora validate", "velora wire"):
        assert command in README
    assert "](docs/wiring.png)" in README
    assert (ROOT / "docs" / "wiring.png").read_bytes().startswith(b"\x89PNG")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "velora wire examples/pendulum.yaml --plot" in makefile
