"""Wiring designs on the command line: `velora wire` (header, --json, --plot, checkpoints),
`velora validate` (the resolved design), `velora init` (the section, commented out), and bad
keys (one line, exit 2)."""

import json
from pathlib import Path

import pytest

from velora_cli.main import main_exit_code

DESIGNED = """\
version: 1
name: designed
seed: 7
network:
  in_features: 4
  n_neurons: 20
  out_features: 2
  wiring:
    type: ncp
    inter_neurons: 12
    command_neurons: 8
    sensory_fanout: 4
    inter_fanout: 3
    motor_fanin: 5
"""


def cli(capsys, *argv: object) -> tuple[int, str, str]:
    code = main_exit_code([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write(tmp_path: Path, text: str, name: str = "net.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def wire_json(capsys, path: Path) -> dict:
    code, out, err = cli(capsys, "wire", path, "--json")
    assert code == 0, err
    return json.loads(out)


def test_explicit_keys_give_exactly_those_counts(tmp_path: Path, capsys) -> None:
    spec = write(tmp_path, DESIGNED)
    doc = wire_json(capsys, spec)
    assert doc["wiring"] == {
        "type": "ncp",
        "inter_neurons": 12,
        "command_neurons": 8,
        "sensory_fanout": 4,
        "inter_fanout": 3,
        "motor_fanin": 5,
    }
    assert doc["neurons"] == {"sensory": 4, "inter": 12, "command": 8, "motor": 2}
    inter, command, motor = doc["layers"]
    assert inter["fan_out"] == {"min": 4, "mean": 4.0, "max": 4} and inter["synapses"] == 16
    assert command["fan_out"] == {"min": 3, "mean": 3.0, "max": 3} and command["synapses"] == 36
    assert motor["fan_in"] == {"min": 5, "mean": 5.0, "max": 5} and motor["synapses"] == 10
    # The same spec twice gives the same masks, byte for byte.
    again = cli(capsys, "wire", spec, "--json")[1]
    assert again == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def test_the_checkpoint_keeps_the_design(tmp_path: Path, capsys) -> None:
    spec = write(tmp_path, DESIGNED)
    model = tmp_path / "designed.safetensors"
    assert cli(capsys, "export", spec, "-o", model)[0] == 0
    from_spec = cli(capsys, "wire", spec, "--json")[1]
    from_checkpoint = cli(capsys, "wire", model, "--json")[1]
    assert from_checkpoint == from_spec
    code, out, _ = cli(capsys, "inspect", model)
    assert code == 0 and "wiring:" in out and "sensory_fanout: 4" in out


def test_fully_connected_has_density_one(tmp_path: Path, capsys) -> None:
    text = DESIGNED.split("  wiring:")[0] + "  wiring: {type: fully_connected}\n"
    doc = wire_json(capsys, write(tmp_path, text))
    assert doc["wiring"] == {"type": "fully_connected", "inter_neurons": 12, "command_neurons": 8}
    assert [layer["density"] for layer in doc["layers"]] == [1.0, 1.0, 1.0]
    assert doc["totals"]["density"] == 1.0


def test_random_density_follows_sparsity(tmp_path: Path, capsys) -> None:
    text = (
        "version: 1\nseed: 3\nnetwork:\n  in_features: 8\n  n_neurons: 200\n  out_features: 4\n"
        "  sparsity_level: 0.7\n  wiring: {type: random}\n"
    )
    doc = wire_json(capsys, write(tmp_path, text))
    assert doc["wiring"]["type"] == "random" and doc["sparsity_level"] == 0.7
    assert abs(doc["totals"]["density"] - 0.3) < 0.02
    assert all(layer["fan_in"]["min"] >= 1 for layer in doc["layers"])


def test_header_and_plot_show_the_design(tmp_path: Path, capsys) -> None:
    spec = write(tmp_path, DESIGNED)
    plot = tmp_path / "designed.png"
    code, out, err = cli(capsys, "wire", spec, "--plot", plot)
    assert code == 0, err
    header = " ".join(out.split("Neurons")[0].split())
    assert header == (
        f"designed ({spec}) · ncp: sensory_fanout 4, inter_fanout 3, motor_fanin 5 · seed 7"
    )
    assert plot.read_bytes().startswith(b"\x89PNG") and "62 synapses drawn" in err
    default = Path(__file__).resolve().parents[2] / "examples" / "pendulum.yaml"
    out = cli(capsys, "wire", default)[1]
    header = " ".join(out.split("Neurons")[0].split())  # the terminal may wrap a long path
    assert header == f"pendulum ({default}) · ncp · sparsity 0.5 · seed 7"


def test_validate_prints_the_resolved_design(tmp_path: Path, capsys) -> None:
    text = DESIGNED.replace("    command_neurons: 8\n", "").replace("    inter_fanout: 3\n", "")
    code, out, err = cli(capsys, "validate", write(tmp_path, text))
    assert code == 0, err
    rows = {
        line.split()[0]: " ".join(line.split()[1:])
        for line in out.splitlines()
        if line.strip().split(" ")[0] in {"type", "inter_neurons", "command_neurons"}
        or line.strip().startswith(("sensory_fanout", "inter_fanout", "motor_fanin"))
    }
    assert "wiring: ncp" in out
    assert rows["inter_neurons"].startswith("12")
    assert rows["command_neurons"].startswith("8")  # filled in: n_neurons - inter_neurons
    assert rows["sensory_fanout"].startswith("4 exactly 4 out of every sensory neuron")
    assert rows["inter_fanout"].startswith("default 4 random command targets per inter neuron")
    assert rows["motor_fanin"].startswith("5 exactly 5 into every motor neuron")


def test_init_documents_the_section_and_it_validates_uncommented(tmp_path: Path, capsys) -> None:
    path = tmp_path / "net.yaml"
    assert cli(capsys, "init", path)[0] == 0
    text = path.read_text(encoding="utf-8")
    assert "  # wiring:" in text and "  #   sensory_fanout: 4" in text
    path.write_text(text.replace("  # wiring:", "  wiring:").replace("  #   ", "    "))
    code, out, err = cli(capsys, "validate", path)
    assert code == 0, err
    assert "exactly 4 out of every sensory neuron" in out


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("sensory_fanout: 4", "sensory_fanout: 13"),
            "net.yaml:12: network.wiring.sensory_fanout: expected an integer from 1 to "
            "inter_neurons (12), got 13",
        ),
        (
            ("command_neurons: 8", "command_neurons: 9"),
            "net.yaml:11: network.wiring.command_neurons: inter_neurons (12) + command_neurons "
            "(9) = 21, expected n_neurons (20)",
        ),
        (
            ("type: ncp", "type: full"),
            "net.yaml:9: network.wiring.type: expected one of ncp, fully_connected, random, got "
            "the text 'full'; did you mean 'fully_connected'?",
        ),
        (
            ("motor_fanin", "motor_fan_in"),
            "net.yaml:14: network.wiring.motor_fan_in: unknown key 'motor_fan_in'; did you mean "
            "'motor_fanin'?",
        ),
    ],
)
def test_bad_keys_exit_2_with_one_line(tmp_path: Path, capsys, edit, message) -> None:
    path = write(tmp_path, DESIGNED.replace(*edit))
    for command in ("validate", "wire"):
        code, out, err = cli(capsys, command, path)
        assert code == 2 and out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {tmp_path}/{message}"), err
