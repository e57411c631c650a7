"""`velora init`, `validate` and `wire`: figures against the masks, determinism, every error."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from velora.models import LiquidNCPNetwork
from velora.spec import parse_spec
from velora.viz.stats import network_stats
from velora_cli.main import main_exit_code

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pendulum.yaml"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main_exit_code([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])


# ---- init and validate ----


def test_init_writes_a_valid_starter(tmp_path: Path, capsys) -> None:
    path = tmp_path / "net.yaml"
    code, _, err = cli(capsys, "init", path)
    assert code == 0 and f"wrote {path}" in err
    spec = parse_spec(path.read_text(encoding="utf-8"))
    assert spec.name == "net"
    assert path.read_text(encoding="utf-8").startswith("# A velora network spec")


def test_init_default_path_and_name(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli(capsys, "init", "--name", "robot")[0] == 0
    assert parse_spec((tmp_path / "network.yaml").read_text(encoding="utf-8")).name == "robot"


def test_init_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    path = tmp_path / "net.yaml"
    path.write_text("mine\n", encoding="utf-8")
    code, _, err = cli(capsys, "init", path)
    assert code == 2
    assert_one_line_error(err, str(path), "already exists", "--force")
    assert path.read_text(encoding="utf-8") == "mine\n"
    assert cli(capsys, "init", path, "--force")[0] == 0
    assert path.read_text(encoding="utf-8").startswith("#")


def test_init_into_a_missing_folder(tmp_path: Path, capsys) -> None:
    code, _, err = cli(capsys, "init", tmp_path / "nope" / "net.yaml")
    assert code == 2
    assert_one_line_error(err, "does not exist")


def test_init_into_a_folder(tmp_path: Path, capsys) -> None:
    code, _, err = cli(capsys, "init", tmp_path, "--force")
    assert code == 2
    assert_one_line_error(err, "is a folder", "network.yaml")


def test_validate_prints_the_counts(capsys) -> None:
    code, out, _ = cli(capsys, "validate", EXAMPLE)
    assert code == 0
    assert "valid spec" in out
    # sensory, inter, command, motor, units
    assert re.search(r"4\s+10\s+6\s+1\s+17", out)
    assert "x, y, theta, omega" in out


BAD = {
    "missing file": (None, "no such file"),
    "not yaml": ("version: 1\nnetwork: [\n", "not valid YAML"),
    "not a mapping": ("- 1\n", "expected a mapping"),
    "missing key": ("version: 1\n", "network: missing"),
    "unknown key": (
        "version: 1\nnetwork: {in_features: 1, n_neurons: 4, out_feature: 1}\n",
        "did you mean 'out_features'?",
    ),
    "wrong type": (
        "version: 1\nnetwork: {in_features: 1, n_neurons: ten, out_features: 1}\n",
        ":2: network.n_neurons: expected an integer >= 2, got the text 'ten'",
    ),
    "out of range": (
        "version: 1\nnetwork: {in_features: 1, n_neurons: 4, out_features: 1, sparsity_level: 0}\n",
        "network.sparsity_level: expected a number from 0.1 to 0.9",
    ),
    "names": (
        "version: 1\nnetwork: {in_features: 2, n_neurons: 4, out_features: 1}\ninputs: [a, a]\n",
        ":3: inputs[1]: duplicate name 'a'",
    ),
    "version": ("version: 3\nnetwork: {}\n", ":1: version: unsupported spec version 3"),
    "too large": (
        "version: 1\nnetwork: {in_features: 1, n_neurons: 100000, out_features: 1}\n",
        "network: too large",
    ),
}


@pytest.mark.parametrize("command", ["validate", "wire"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_specs_exit_2_with_one_line(tmp_path: Path, capsys, command: str, case: str) -> None:
    text, words = BAD[case]
    path = tmp_path / "spec.yaml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    code, out, err = cli(capsys, command, path)
    assert code == 2
    assert out == ""
    assert_one_line_error(err, str(path), words)


def test_max_memory_flag(tmp_path: Path, capsys) -> None:
    code, _, err = cli(capsys, "validate", EXAMPLE, "--max-memory", "1KiB")
    assert code == 2
    assert_one_line_error(err, "too large", "limit of 1.0 KiB")
    code, _, err = cli(capsys, "wire", EXAMPLE, "--max-memory", "lots")
    assert code == 2
    assert_one_line_error(err, "'--max-memory': expected a size")
    big = tmp_path / "big.yaml"
    big.write_text(
        "version: 1\nnetwork: {in_features: 1, n_neurons: 12000, out_features: 1}\n",
        encoding="utf-8",
    )
    assert cli(capsys, "validate", big)[0] == 2
    assert cli(capsys, "validate", big, "--max-memory", "64GiB")[0] == 0


def test_debug_shows_the_traceback(tmp_path: Path, capsys) -> None:
    code, _, err = cli(capsys, "--debug", "validate", tmp_path / "missing.yaml")
    assert code == 2
    assert "Traceback" in err and "error: " in err


def test_internal_fault_exits_1(capsys, monkeypatch) -> None:
    import velora.viz.stats

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(velora.viz.stats, "network_stats", boom)
    code, _, err = cli(capsys, "wire", EXAMPLE)
    assert code == 1
    assert_one_line_error(err, "internal error: RuntimeError: kaboom", "--debug")


# ---- wire: the figures ----


def independent_figures(network) -> dict:
    """What `velora wire --json` must report, computed here straight from the masks."""
    w = network.wiring
    layers = []
    for name, attr, src, tgt in (
        ("sensory->inter", "inter", "sensory", "inter"),
        ("inter->command", "command", "inter", "command"),
        ("command->motor", "motor", "command", "motor"),
    ):
        m = getattr(w.masks, attr).numpy()
        fan_in, fan_out = (m != 0).sum(axis=0), (m != 0).sum(axis=1)
        layers.append(
            {
                "name": name,
                "source": src,
                "target": tgt,
                "shape": list(m.shape),
                "synapses": int(np.count_nonzero(m)),
                "possible": int(m.size),
                "density": pytest.approx(np.count_nonzero(m) / m.size, abs=1e-6),
                "excitatory": int((m == 1).sum()),
                "inhibitory": int((m == -1).sum()),
                "fan_in": {
                    "min": int(fan_in.min()),
                    "mean": pytest.approx(fan_in.mean(), abs=1e-6),
                    "max": int(fan_in.max()),
                },
                "fan_out": {
                    "min": int(fan_out.min()),
                    "mean": pytest.approx(fan_out.mean(), abs=1e-6),
                    "max": int(fan_out.max()),
                },
            }
        )
    # Parameters: five heads per cell over [inputs, hidden]; active = live mask entries + biases.
    total = active = 0
    for mask, n_hidden in ((w.masks.inter, w.counts.inter), (w.masks.command, w.counts.command)):
        n_in = mask.shape[0]
        total += 5 * (n_hidden * (n_in + n_hidden) + n_hidden)
        active += 5 * (int(np.count_nonzero(mask.numpy())) + n_hidden * n_hidden + n_hidden)
    mask, n_hidden = w.masks.motor, w.counts.motor
    total += 5 * (n_hidden * (mask.shape[0] + n_hidden) + n_hidden)
    active += 5 * (int(np.count_nonzero(mask.numpy())) + n_hidden * n_hidden + n_hidden)
    synapses = sum(layer["synapses"] for layer in layers)
    possible = sum(layer["possible"] for layer in layers)
    return {
        "neurons": {
            "sensory": w.in_features,
            "inter": int(w.masks.inter.shape[1]),
            "command": int(w.masks.command.shape[1]),
            "motor": w.out_features,
        },
        "layers": layers,
        "totals": {
            "synapses": synapses,
            "possible": possible,
            "density": pytest.approx(synapses / possible, abs=1e-6),
            "excitatory": sum(layer["excitatory"] for layer in layers),
            "inhibitory": sum(layer["inhibitory"] for layer in layers),
        },
        "params": {"total": total, "active": active},
    }


@pytest.mark.parametrize(
    ("n_in", "n", "n_out", "sparsity", "seed"),
    [(4, 16, 1, 0.5, 7), (3, 5, 2, 0.1, 0), (6, 40, 3, 0.9, 11), (2, 2, 1, 0.3, 5)],
)
def test_json_against_the_masks(tmp_path, capsys, n_in, n, n_out, sparsity, seed) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        f"version: 1\nname: t\nseed: {seed}\nnetwork: {{in_features: {n_in}, n_neurons: {n}, "
        f"out_features: {n_out}, sparsity_level: {sparsity}}}\n",
        encoding="utf-8",
    )
    code, out, err = cli(capsys, "wire", spec, "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    network = LiquidNCPNetwork(n_in, n, n_out, sparsity_level=sparsity, seed=seed)
    expected = independent_figures(network)
    assert doc["name"] == "t" and doc["seed"] == seed and doc["sparsity_level"] == sparsity
    for key in ("neurons", "layers", "totals", "params"):
        assert doc[key] == expected[key], key
    assert doc["params"] == {"total": network.total_params, "active": network.active_params}


def test_json_keys_are_documented(capsys) -> None:
    doc = json.loads(cli(capsys, "wire", EXAMPLE, "--json")[1])
    for key in doc:
        assert f"`{key}`" in README
    for key in doc["layers"][0]:
        assert f".{key}`" in README or f"[].{key}`" in README, key
    assert network_stats(LiquidNCPNetwork(4, 16, 1, seed=7), name="pendulum").to_dict() == doc


def test_json_is_byte_identical_across_processes(capsys) -> None:
    here = cli(capsys, "wire", EXAMPLE, "--json")[1].encode("utf-8")
    code = "import sys; from velora_cli.main import main_exit_code; sys.exit(main_exit_code())"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run(
        [sys.executable, "-c", code, "wire", str(EXAMPLE), "--json"],
        capture_output=True,
        env=env,
        check=True,
    ).stdout
    assert other == here
    assert json.loads(other)["totals"]["synapses"] > 0


def test_tables(capsys) -> None:
    code, out, _ = cli(capsys, "wire", EXAMPLE)
    assert code == 0
    doc = network_stats(LiquidNCPNetwork(4, 16, 1, seed=7)).to_dict()
    for layer in doc["layers"]:
        rows, cols = layer["shape"]
        row = next(line for line in out.splitlines() if f"{rows}×{cols}" in line)
        assert str(layer["synapses"]) in row and f"{layer['density']:.3f}" in row
    assert f"{doc['params']['total']:,}" in out and f"{doc['params']['active']:,}" in out
    assert "x, y, theta, omega" in out and "torque" in out


def test_masks_grid_matches_the_masks(capsys) -> None:
    code, out, _ = cli(capsys, "wire", EXAMPLE, "--masks")
    assert code == 0
    network = LiquidNCPNetwork(4, 16, 1, seed=7)
    grid_rows = [
        line.split()[-1] for line in out.splitlines() if re.fullmatch(r"\s*\S+ [+.-]+", line)
    ]
    expected = []
    for mask in (
        network.wiring.masks.inter,
        network.wiring.masks.command,
        network.wiring.masks.motor,
    ):
        for row in mask.numpy():
            expected.append("".join({1: "+", -1: "-", 0: "."}[int(v)] for v in row))
    assert grid_rows == expected


def test_masks_and_json_do_not_mix(capsys) -> None:
    code, out, err = cli(capsys, "wire", EXAMPLE, "--json", "--masks")
    assert code == 2 and out == ""
    assert "--json" in err


def test_plot(tmp_path: Path, capsys) -> None:
    path = tmp_path / "w.png"
    code, out, err = cli(capsys, "wire", EXAMPLE, "--plot", path, "--dpi", "40", "--json")
    assert code == 0
    doc = json.loads(out)  # the plot message goes to stderr; stdout stays pure JSON
    assert path.read_bytes().startswith(b"\x89PNG")
    t = doc["totals"]
    assert f"({t['synapses']} synapses drawn: {t['excitatory']} excitatory" in err


def test_plot_errors_exit_2_and_write_nothing(tmp_path: Path, capsys) -> None:
    existing = tmp_path / "w.png"
    existing.write_bytes(b"keep")
    code, out, err = cli(capsys, "wire", EXAMPLE, "--plot", existing)
    assert code == 2 and out == ""
    assert_one_line_error(err, "already exists", "--force")
    assert existing.read_bytes() == b"keep"

    code, _, err = cli(capsys, "wire", EXAMPLE, "--plot", tmp_path / "w.jpg")
    assert code == 2
    assert_one_line_error(err, "use .png, .svg or .pdf")
    code, _, err = cli(capsys, "wire", EXAMPLE, "--plot", tmp_path / "x" / "w.png")
    assert code == 2
    assert_one_line_error(err, "does not exist")
    code, _, err = cli(capsys, "wire", EXAMPLE, "--plot", tmp_path / "a.png", "--dpi", "5")
    assert code == 2
    assert "--dpi" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.png"]


def test_wire_reads_a_checkpoint_like_its_spec(tmp_path: Path, capsys) -> None:
    from velora.files import checkpoint
    from velora.files.loading import load_model

    network, spec = load_model(EXAMPLE)
    path = tmp_path / "pendulum.safetensors"
    checkpoint.save(network, path, spec=spec)
    from_spec = cli(capsys, "wire", EXAMPLE, "--json")[1]
    code, from_checkpoint, _ = cli(capsys, "wire", path, "--json")
    assert code == 0
    assert from_checkpoint == from_spec
