"""`velora export --format c` (or a .c output): the files, the sizes, the round-trip check, the
options and their errors; the README's driver compiles and runs as shown; `velora inspect`
shows what a C export needs.

Tests that compile need a C compiler (gcc and clang when present, else cc) and skip without one.
The C code itself against the model: tests/files/test_export_c.py.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import velora
from tests.helpers import EXAMPLE, ROOT
from velora.files import export_c
from velora_cli.main import main_exit_code

STRICT = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2")
COMPILERS = [c for c in ("gcc", "clang") if shutil.which(c)] or [
    c for c in ("cc",) if shutil.which(c)
]
needs_cc = pytest.mark.skipif(not COMPILERS, reason="no C compiler (cc, gcc or clang)")


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main_exit_code([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _readme_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Deploying to a microcontroller")
    return readme[start : readme.index("\n## ", start + 1)]


def test_export_to_a_c_file_prints_the_files_the_sizes_and_the_check(tmp_path, capsys):
    path = tmp_path / "controller.c"
    code, out, err = _cli(["export", EXAMPLE, "-o", path], capsys)
    assert code == 0 and err == ""
    header = tmp_path / "controller.h"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["controller.c", "controller.h"]
    net, _ = velora.load_model(EXAMPLE)
    foot = export_c.footprint(net)
    lines = out.splitlines()
    assert lines[0].startswith(f"wrote {path} and {header} (C99 source, one step, ")
    assert lines[1] == (
        f"flash {foot.flash_bytes:,} bytes of constant data, RAM {foot.ram_bytes:,} bytes "
        "(state and scratch) per step"
    )
    if COMPILERS:
        assert lines[2].startswith("round-trip check: max |Δ| = ")
        assert float(lines[2].split("= ")[1].split()[0]) < 1e-5
        assert "64 random sequences of 8 steps, random elapsed times; compiled with " in lines[2]
    else:
        assert lines[2].startswith("round-trip check: skipped")
    assert "void velora_step(const float x[VELORA_IN_FEATURES]" in header.read_text()


@needs_cc
@pytest.mark.parametrize("compiler", COMPILERS)
def test_the_readme_driver_prints_what_velora_run_writes(compiler, tmp_path, capsys):
    """The README's main.c, compiled with every warning an error against the exported
    pendulum, prints the README's output: the torques `velora run` writes for those rows."""
    section = _readme_section()
    driver = next(b for b in re.findall(r"```c\n(.*?)```", section, re.S) if "int main" in b)
    shown = re.search(r"```text\n\$ cc [^\n]*\n(.*?)```", section, re.S)
    assert shown is not None
    (tmp_path / "main.c").write_text(driver)
    code, _, err = _cli(["export", EXAMPLE, "-o", tmp_path / "controller.c"], capsys)
    assert code == 0, err
    program = tmp_path / "controller"
    export_c.compile_program(
        [tmp_path / "main.c", tmp_path / "controller.c"], program, compiler=compiler, flags=STRICT
    )
    done = subprocess.run([str(program)], capture_output=True, text=True, check=True)
    assert done.stdout == shown.group(1)
    torques = [float(line.split("torque=")[1]) for line in done.stdout.splitlines()]
    csv = tmp_path / "run.csv"
    velora.run_csv(
        EXAMPLE,
        ROOT / "examples" / "pendulum.csv",
        csv,
        sequence_column="episode",
        time_column="t",
    )
    expected = [float(row.split(",")[2]) for row in csv.read_text().splitlines()[1:5]]
    assert max(abs(a - b) for a, b in zip(torques, expected, strict=True)) < 1e-6


def test_prefix_and_int8(tmp_path, capsys):
    path = tmp_path / "arm.c"
    code, out, err = _cli(
        ["export", EXAMPLE, "-o", path, "--c-prefix", "arm", "--quantize", "int8"], capsys
    )
    assert code == 0 and err == ""
    net, _ = velora.load_model(EXAMPLE)
    small, full = export_c.footprint(net, "int8"), export_c.footprint(net)
    saved = full.flash_bytes - small.flash_bytes
    assert (
        f"flash {small.flash_bytes:,} bytes of constant data (int8 weights: {saved:,} bytes "
        f"less than float32, {saved / full.flash_bytes:.0%})"
    ) in out
    if COMPILERS:
        assert "against the float PyTorch model" in out
        assert 0 < float(out.split("max |Δ| = ")[1].split()[0]) < 0.05
    assert "void arm_step(" in (tmp_path / "arm.h").read_text()
    assert "signed char" in path.read_text()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--c-prefix", "2fast"], "error: --c-prefix: expected a C identifier"),
        (["--quantize", "int8", "-f", "onnx"], "error: --quantize: applies to the c format only"),
        (["--c-prefix", "x", "-f", "pt2"], "error: --c-prefix: applies to the c format only"),
        (["--timespans"], "error: --timespans: applies to the pt2 and onnx step graphs"),
        (["--quantize", "int4"], "Invalid value for '--quantize'"),
    ],
)
def test_bad_options_exit_2_and_write_nothing(tmp_path, capsys, options, message):
    code, out, err = _cli(["export", EXAMPLE, "-o", tmp_path / "m.c", *options], capsys)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_an_existing_header_needs_force(tmp_path, capsys):
    header = tmp_path / "m.h"
    header.write_text("mine")
    code, _, err = _cli(["export", EXAMPLE, "-o", tmp_path / "m.c"], capsys)
    assert code == 2
    assert err.strip() == f"error: {header}: already exists (use --force to overwrite)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.h"]
    code, _, _ = _cli(["export", EXAMPLE, "-o", tmp_path / "m.c", "--force"], capsys)
    assert code == 0 and "#define VELORA_UNITS 17" in header.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.c", "m.h"]


def test_a_c_format_needs_a_c_file_name(tmp_path, capsys):
    code, _, err = _cli(["export", EXAMPLE, "-o", tmp_path / "m.cpp", "-f", "c"], capsys)
    assert code == 2 and "expected a name ending in .c" in err
    assert list(tmp_path.iterdir()) == []


def test_without_a_compiler_the_check_is_skipped(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    monkeypatch.delenv("CC", raising=False)
    code, out, _ = _cli(["export", EXAMPLE, "-o", tmp_path / "m.c"], capsys)
    assert code == 0
    assert out.splitlines()[-1] == (
        "round-trip check: skipped, no C compiler found (cc, gcc or clang; set CC to choose one)"
    )
    assert (tmp_path / "m.c").exists() and (tmp_path / "m.h").exists()


def test_inspect_shows_what_a_c_export_needs(ckpt, capsys):
    net, _ = velora.load_model(ckpt)
    foot, small = export_c.footprint(net), export_c.footprint(net, "int8")
    code, out, _ = _cli(["inspect", ckpt, "--json"], capsys)
    assert code == 0
    assert json.loads(out)["c_export"] == {
        "flash_bytes": foot.flash_bytes,
        "ram_bytes": foot.ram_bytes,
        "state_bytes": foot.state_bytes,
        "scratch_bytes": foot.scratch_bytes,
        "flash_bytes_int8": small.flash_bytes,
    }
    code, out, _ = _cli(["inspect", ckpt], capsys)
    assert code == 0
    text = " ".join(out.split())
    assert (
        f"C export (velora export --format c): flash {foot.flash_bytes:,} bytes of constant data "
        f"(int8 weights: {small.flash_bytes:,}), RAM {foot.ram_bytes:,} bytes per step"
    ) in text


def test_the_readme_shows_the_c_format():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "| `c` | `.c`" in readme
    section = _readme_section()
    net, _ = velora.load_model(EXAMPLE)
    foot = export_c.footprint(net)
    assert f"flash {foot.flash_bytes:,} bytes of constant data, RAM {foot.ram_bytes:,}" in section
    oscillator, _ = velora.load_model(ROOT / "examples" / "oscillator.yaml")
    for figure in (export_c.footprint(oscillator), export_c.footprint(oscillator, "int8")):
        assert f"{figure.flash_bytes:,} B" in section
    assert Path(EXAMPLE).name in section
