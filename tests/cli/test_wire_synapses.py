"""`velora wire --synapses`: the strongest synapses as a table, every synapse in the JSON, with
strengths checked against the checkpoint's tensors (tests/reference.py)."""

import json

import pytest
import safetensors.numpy

from tests.helpers import EXAMPLE
from tests.reference import synapse_table
from velora.files import checkpoint
from velora.files.loading import load_model
from velora_cli.main import main_exit_code


def cli(capsys, *argv: object) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main_exit_code([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_lists_every_synapse_with_its_strength(good_file, capsys) -> None:
    code, out, _ = cli(capsys, "wire", good_file, "--synapses", "--json")
    assert code == 0
    found = json.loads(out)["synapses"]
    expected = synapse_table(safetensors.numpy.load_file(str(good_file)))
    assert len(found) == len(expected) == 51
    for got, want in zip(found, expected, strict=True):
        assert list(got) == ["layer", "source", "target", "polarity", "strength"]
        assert {k: got[k] for k in ("layer", "source", "target", "polarity")} == {
            k: want[k] for k in ("layer", "source", "target", "polarity")
        }
        assert got["strength"] == pytest.approx(want["strength"], rel=1e-5)


def test_a_spec_gives_its_seeded_weights_and_no_key_without_the_flag(tmp_path, capsys) -> None:
    net, spec = load_model(EXAMPLE)
    path = checkpoint.save(net, tmp_path / "seeded.safetensors", spec)
    from_spec = json.loads(cli(capsys, "wire", EXAMPLE, "--synapses", "--json")[1])
    from_file = json.loads(cli(capsys, "wire", path, "--synapses", "--json")[1])
    assert from_spec["synapses"] == from_file["synapses"]
    assert "synapses" not in json.loads(cli(capsys, "wire", EXAMPLE, "--json")[1])


def test_table_of_the_20_strongest(good_file, capsys) -> None:
    code, out, _ = cli(capsys, "wire", good_file, "--synapses")
    assert code == 0
    expected = synapse_table(safetensors.numpy.load_file(str(good_file)))
    top = sorted(expected, key=lambda s: -s["strength"])[:20]
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "The 20 strongest of 51 synapses" in line)
    rows = [
        line
        for line in lines[start:]
        if "→" in line and ("excitatory" in line or "inhibitory" in line)
    ]
    assert len(rows) == 20
    names = {"sensory": ["x", "y", "theta", "omega"], "motor": ["torque"]}
    for row, want in zip(rows, top, strict=True):
        source, target = want["layer"].split("->")
        src = (
            f"{want['source']} ({names[source][want['source']]})"
            if source in names
            else str(want["source"])
        )
        tgt = (
            f"{want['target']} ({names[target][want['target']]})"
            if target in names
            else str(want["target"])
        )
        assert row.split()[0] == f"{source}→{target}"
        assert f" {src} " in row and f" {tgt} " in row
        assert ("+ excitatory" if want["polarity"] > 0 else "- inhibitory") in row
        assert row.split()[-1] == f"{want['strength']:.4f}"
