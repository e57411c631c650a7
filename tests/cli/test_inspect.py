"""`velora inspect`, and checkpoints accepted wherever a spec is (`velora wire`, `velora run`).

`ckpt` (the example network saved as a checkpoint) is in tests/conftest.py.
"""

import contextlib
import hashlib
import io
import json

import safetensors
import safetensors.torch
import torch

from tests.files.test_inspect import leaky_kernel_weights
from tests.helpers import EXAMPLE
from velora.files import checkpoint
from velora.models import LiquidNCPNetwork
from velora.models.arrays import NetworkArrays
from velora.spec import load_spec
from velora_cli.main import main_exit_code


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main_exit_code(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_inspect_shows_metadata_spec_counts_parameters_and_checks(ckpt, capsys):
    code, out, err = _cli(["inspect", str(ckpt)], capsys)
    assert code == 0 and err == ""
    meta = checkpoint.load_checkpoint(ckpt).metadata
    for text in (
        "velora.checkpoint v1",
        meta.sha256,
        meta.created,
        "name: pendulum",
        "Neurons",
        "Parameters",
        "1,300",  # total parameters
        "1,025",  # active parameters
        "✓ checksum",
        "✓ masks agree",
        "✓ weights outside the masks are inert",
    ):
        assert text in out, text


def test_inspect_json_matches_figures_computed_from_the_file(ckpt, capsys):
    code, out, _ = _cli(["inspect", str(ckpt), "--json"], capsys)
    assert code == 0
    info = json.loads(out)
    tensors = safetensors.torch.load_file(ckpt)
    masks = [tensors[f"wiring.{layer}"] for layer in ("inter", "command", "motor")]
    assert info["neurons"] == {
        "sensory": masks[0].shape[0],
        "inter": masks[0].shape[1],
        "command": masks[1].shape[1],
        "motor": masks[2].shape[1],
        "units": masks[0].shape[1] + masks[1].shape[1] + masks[2].shape[1],
    }
    params = {k: v for k, v in tensors.items() if k.startswith("layers.")}
    assert info["parameters"]["total"] == sum(t.numel() for t in params.values())
    active = 0
    for layer, mask in zip(info["parameters"]["layers"], masks, strict=True):
        n_in, n_hidden = mask.shape
        live = int(mask.count_nonzero()) + n_hidden * n_hidden  # synapses + recurrent block
        assert layer["synapses"] == int(mask.count_nonzero())
        assert layer["active_params"] == 5 * (live + n_hidden)
        assert layer["total_params"] == 5 * (n_hidden * (n_in + n_hidden) + n_hidden)
        active += layer["active_params"]
    assert info["parameters"]["active"] == active
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name]
        code = {torch.float32: "F32", torch.int32: "I32"}[t.dtype]
        digest.update(f"{name}\0{code}\0{','.join(map(str, t.shape))}\0".encode())
        digest.update(t.numpy().tobytes())
    assert info["metadata"]["sha256"] == digest.hexdigest()
    assert info["metadata"]["seed"] == 7 and info["metadata"]["format_version"] == 1
    assert load_spec(EXAMPLE) == load_spec_from_text(info["spec"])
    meta = safetensors.safe_open(str(ckpt), "pt").metadata()
    covered = hashlib.sha256()  # the documented metadata digest, computed by hand
    for key in sorted(k for k in meta if k not in ("sha256", "metadata_sha256")):
        covered.update(f"{key}\0{meta[key]}\0".encode())
    assert meta["metadata_sha256"] == covered.hexdigest()
    assert info["verification"] == {
        "ok": True,
        "checksum": True,
        "metadata_checksum": True,
        "computed_sha256": digest.hexdigest(),
        "masks_match_weights": True,
        "tensors_checked": 30,
        "inert_outside_masks": True,
        "stored_outside_masks": sum(
            int(((tensors[f"layers.{layer}.{head}.weight"] != 0) & (mask == 0)).sum())
            for layer, m in zip(("inter", "command", "motor"), masks, strict=True)
            for mask in [torch.cat([m.abs().T, torch.ones(m.shape[1], m.shape[1])], dim=1)]
            for head in ("g_head", "h_head", "f_head_to_g", "f_head_to_h", "proj")
        ),
    }


def load_spec_from_text(text: str):
    from dataclasses import replace

    from velora.spec import parse_spec

    return replace(parse_spec(text), source=str(EXAMPLE))


def test_inspect_shows_a_tampered_file_then_refuses_it(ckpt, tmp_path, capsys):
    with safetensors.safe_open(ckpt, "pt") as handle:
        meta = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    tensors["layers.command.h_head.weight"][0, 0] += 0.25  # edited, metadata left as it was
    tampered = tmp_path / "tampered.safetensors"
    tampered.write_bytes(safetensors.torch.save(tensors, meta))
    code, out, err = _cli(["inspect", str(tampered), "--json"], capsys)
    assert code == 2
    info = json.loads(out)
    assert info["verification"]["checksum"] is False and info["verification"]["ok"] is False
    assert info["verification"]["computed_sha256"] != info["metadata"]["sha256"]
    assert err.strip().splitlines() == [
        f"error: {tampered}: checksum mismatch: the tensors do not match the stored SHA-256 "
        "(file corrupted or modified)"
    ]
    code, out, _ = _cli(["inspect", str(tampered)], capsys)
    assert code == 2 and "✗ checksum" in out


def test_inspect_counts_weights_stored_outside_the_masks(tmp_path, capsys):
    net = LiquidNCPNetwork(3, 10, 2, seed=1)
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(0.5)
    path = checkpoint.save(net, tmp_path / "ones.safetensors")
    code, out, _ = _cli(["inspect", str(path), "--json"], capsys)
    info = json.loads(out)
    outside = sum(5 * int((c.sparsity_mask == 0).sum()) for c in net.layers.values())
    assert code == 0 and info["verification"]["stored_outside_masks"] == outside
    assert info["spec_stored"] is True and info["metadata"]["seed"] == 1


def test_wire_shows_the_wiring_stored_in_a_checkpoint(tmp_path, capsys):
    # Masks drawn with seed 3, saved under the example spec (seed 7): wire must show seed 3's.
    spec = load_spec(EXAMPLE)
    net = LiquidNCPNetwork(4, 16, 1, seed=3)
    path = checkpoint.save(net, tmp_path / "seed3.safetensors", spec)
    seed3 = tmp_path / "seed3.yaml"
    seed3.write_text(EXAMPLE.read_text().replace("seed: 7", "seed: 3"))
    code, from_ckpt, _ = _cli(["wire", str(path), "--json"], capsys)
    assert code == 0
    code, from_spec, _ = _cli(["wire", str(seed3), "--json"], capsys)
    assert code == 0
    code, from_example, _ = _cli(["wire", str(EXAMPLE), "--json"], capsys)
    assert json.loads(from_ckpt)["layers"] == json.loads(from_spec)["layers"]
    assert json.loads(from_ckpt)["layers"] != json.loads(from_example)["layers"]


def test_run_on_a_spec_equals_run_on_its_exported_checkpoint(tmp_path, capsys):
    generator = torch.Generator().manual_seed(5)
    rows = torch.randn(200, 4, generator=generator).tolist()
    data = tmp_path / "in.csv"
    data.write_text("x,y,theta,omega\n" + "".join(",".join(map(repr, r)) + "\n" for r in rows))
    ckpt = tmp_path / "pendulum.safetensors"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main_exit_code(["export", str(EXAMPLE), "-o", str(ckpt)]) == 0
    outputs = {}
    for name, model in (("spec", EXAMPLE), ("ckpt", ckpt)):
        target = tmp_path / f"{name}.csv"
        argv = ["run", str(model), "--input", str(data), "--output", str(target), "--hidden"]
        code, _, err = _cli(argv, capsys)
        assert code == 0, err
        outputs[name] = target.read_bytes()
    assert outputs["spec"] == outputs["ckpt"]
    assert outputs["spec"].startswith(b"torque,h0")


def test_a_file_of_velora_0_1_loads_and_says_its_metadata_is_not_covered(capsys) -> None:
    old = EXAMPLE.parents[1] / "tests" / "files" / "data" / "pendulum-before-designs.safetensors"
    loaded = checkpoint.load_checkpoint(old)
    assert loaded.metadata.metadata_sha256 is None and loaded.metadata_checksum_ok is None
    assert checkpoint.verify(loaded).ok
    code, out, err = _cli(["inspect", str(old)], capsys)
    assert code == 0 and err == ""
    assert "metadata (spec, seed) not covered by a checksum" in out
    code, out, _ = _cli(["inspect", str(old), "--json"], capsys)
    assert json.loads(out)["verification"]["metadata_checksum"] is None


def test_inspect_shows_a_failed_check_then_refuses_the_file(good_file, monkeypatch, capsys):
    monkeypatch.setattr(NetworkArrays, "kernel_weights", leaky_kernel_weights)
    code, out, err = _cli(["inspect", str(good_file)], capsys)
    assert code == 2 and "✗ weights outside the masks are inert" in out
    assert "✓ checksum" in out and "✓ masks agree" in out
    assert err.strip().splitlines() == [f"error: {good_file}: verification failed (see above)"]
    code, out, _ = _cli(["inspect", str(good_file), "--json"], capsys)
    assert code == 2 and json.loads(out)["verification"]["inert_outside_masks"] is False
