"""`velora export`: checkpoints, torch.export programs and ONNX graphs that match the model.

Exports are slow (seconds), so each format is exported once per module and shared.
"""

import contextlib
import io
import json
import subprocess
import sys
import sysconfig
import textwrap

import numpy as np
import pytest
import torch

from tests.helpers import EXAMPLE, step_inputs, step_reference
from velora.errors import VeloraError
from velora.files import checkpoint
from velora.files.export import export_model, run_onnx
from velora.files.loading import load_model
from velora_cli.main import main_exit_code


def _cli(argv: list[str]) -> tuple[int, str]:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main_exit_code(argv)
    return code, stdout.getvalue()


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict:
    """The example spec exported once in each format through the CLI."""
    folder = tmp_path_factory.mktemp("export")
    files = {}
    for fmt, name in (("pt2", "step.pt2"), ("onnx", "step.onnx")):
        path = folder / name
        code, stdout = _cli(["export", str(EXAMPLE), "-o", str(path)])
        assert code == 0, stdout
        files[fmt] = (path, stdout)
    return files


@pytest.mark.parametrize("fmt", ["pt2", "onnx"])
def test_export_reports_the_file_and_a_round_trip_check(exported, fmt):
    path, stdout = exported[fmt]
    lines = stdout.strip().splitlines()
    assert lines[0].startswith(f"wrote {path} (")
    assert "round-trip check: max |Δ| = " in lines[1]
    diff = float(lines[1].split("= ")[1].split()[0])
    assert diff < 1e-5


def test_pt2_runs_with_torch_alone(exported, tmp_path):
    """Load the program in a fresh interpreter where velora cannot be imported."""
    path, _ = exported["pt2"]
    cases = {batch: step_inputs(batch, 10 + batch) for batch in (1, 7)}
    for batch, (x, h) in cases.items():
        np.save(tmp_path / f"x{batch}.npy", x.numpy())
        np.save(tmp_path / f"h{batch}.npy", h.numpy())
    script = textwrap.dedent(
        f"""
        import importlib.util, json, sys
        sys.path.append({sysconfig.get_paths()["purelib"]!r})
        assert importlib.util.find_spec("velora") is None, "velora is importable"
        try:
            import velora  # noqa: F401
        except ImportError:
            pass
        else:
            raise SystemExit("velora imported")
        import numpy as np
        import torch

        step = torch.export.load({str(path)!r}).module()
        for batch in (1, 7):
            x = torch.from_numpy(np.load(f"x{{batch}}.npy"))
            h = torch.from_numpy(np.load(f"h{{batch}}.npy"))
            y, h_next = step(x, h)
            np.save(f"y{{batch}}.npy", y.numpy())
            np.save(f"hn{{batch}}.npy", h_next.numpy())
        print(json.dumps(sorted(m for m in sys.modules if m.startswith("velora"))))
        """
    )
    # -I: no user site, no PYTHONPATH, no script or working folder on the path; -S: no site, so
    # no .pth file can install velora's editable finder; torch comes from the appended folder.
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    for batch, (x, h) in cases.items():
        y = torch.from_numpy(np.load(tmp_path / f"y{batch}.npy"))
        h_next = torch.from_numpy(np.load(tmp_path / f"hn{batch}.npy"))
        expected_y, expected_h = step_reference(x, h)
        assert y.shape == (batch, 1) and h_next.shape == (batch, 17)
        assert float((y - expected_y).abs().max()) < 1e-5
        assert float((h_next - expected_h).abs().max()) < 1e-5


def test_onnx_matches_the_model_with_a_dynamic_batch(exported):
    import onnx

    path, _ = exported["onnx"]
    graph = onnx.load(path).graph
    assert [i.name for i in graph.input] == ["x", "h"]
    assert [o.name for o in graph.output] == ["y", "h_next"]
    for value in (*graph.input, *graph.output):
        assert value.type.tensor_type.shape.dim[0].dim_param  # symbolic batch size
    for batch in (1, 9, 33):
        x, h = step_inputs(batch, 20 + batch)
        y, h_next = run_onnx(path, x, h)
        expected_y, expected_h = step_reference(x, h)
        assert y.shape == (batch, 1) and h_next.shape == (batch, 17)
        assert float((y - expected_y).abs().max()) < 1e-5
        assert float((h_next - expected_h).abs().max()) < 1e-5


def test_checkpoint_export_from_a_spec_and_from_a_checkpoint(tmp_path):
    first, second = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    code, stdout = _cli(["export", str(EXAMPLE), "-o", str(first)])
    assert code == 0 and "velora checkpoint" in stdout and "max |Δ| = 0 " in stdout
    code, _ = _cli(["export", str(first), "-o", str(second), "--format", "safetensors"])
    assert code == 0
    a, b = checkpoint.load_checkpoint(first), checkpoint.load_checkpoint(second)
    assert a.metadata.sha256 == b.metadata.sha256
    assert a.metadata.spec_yaml == b.metadata.spec_yaml
    net, _ = load_model(EXAMPLE)
    assert all(
        torch.equal(p, q)
        for p, q in zip(net.state_dict().values(), a.model.state_dict().values(), strict=True)
    )


def test_export_refuses_to_overwrite_before_doing_any_work(tmp_path, capsys):
    target = tmp_path / "out.pt2"
    target.write_text("keep me")
    # The model does not exist: the output is checked first, so that is what the error names.
    assert main_exit_code(["export", str(tmp_path / "nope.yaml"), "-o", str(target)]) == 2
    assert "already exists (use --force" in capsys.readouterr().err
    assert target.read_text() == "keep me"


def test_force_overwrites_atomically(tmp_path):
    target = tmp_path / "out.safetensors"
    target.write_text("old")
    code, _ = _cli(["export", str(EXAMPLE), "-o", str(target), "--force"])
    assert code == 0
    assert checkpoint.load_checkpoint(target).spec.name == "pendulum"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.safetensors"]


def test_unknown_format_and_missing_onnx_are_clear_errors(tmp_path, monkeypatch, capsys):
    assert main_exit_code(["export", str(EXAMPLE), "-o", "x.bin", "--format", "tflite"]) == 2
    assert "tflite" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now fails
    target = tmp_path / "m.onnx"
    assert main_exit_code(["export", str(EXAMPLE), "-o", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "velora-ncp[onnx]" in err[0]
    assert not target.exists()
    with pytest.raises(VeloraError, match="onnxruntime"):
        export_model(load_model(EXAMPLE)[0], target)


@pytest.mark.parametrize("fmt", ["pt2", "onnx"])
def test_timespans_input_matches_the_model_at_irregular_times(tmp_path, fmt):
    """--timespans adds an input t (batch,); each sample steps by its own elapsed time."""
    path = tmp_path / f"timed.{fmt}"
    code, stdout = _cli(["export", str(EXAMPLE), "-o", str(path), "--timespans"])
    assert code == 0, stdout
    assert "random elapsed times" in stdout
    net, _ = load_model(EXAMPLE)
    for batch in (1, 6):
        x, h = step_inputs(batch, 40 + batch)
        t = torch.linspace(0.1, 2.5, batch)
        with torch.no_grad():
            want_y, want_h = net(x, h, t)
            if fmt == "pt2":
                y, h_next = torch.export.load(path).module()(x, h, t)
            else:
                y, h_next = run_onnx(path, x, h, t)
        assert float((y - want_y.reshape(batch, -1)).abs().max()) < 1e-5
        assert float((h_next - want_h).abs().max()) < 1e-5
    if batch > 1:
        # The time input really matters: the same x and h at another time give another state.
        with torch.no_grad():
            other = net(x, h, t + 1.0)[1]
        assert float((other - want_h).abs().max()) > 1e-3


def test_timespans_do_not_apply_to_checkpoints(tmp_path, capsys):
    path = tmp_path / "c.safetensors"
    assert main_exit_code(["export", str(EXAMPLE), "-o", str(path), "--timespans"]) == 2
    assert "--timespans: applies to the pt2 and onnx" in capsys.readouterr().err
    assert not path.exists()
