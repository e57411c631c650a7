"""NetworkArrays: the torch-free form of a network gives the module's results bit for bit."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers import EXAMPLE
from velora.evaluation import evaluate_csv
from velora.files.checkpoint import load_checkpoint, summary
from velora.files.loading import load_arrays, load_model
from velora.inference import run_csv
from velora.models import LiquidNCPNetwork
from velora.models.arrays import NetworkArrays, forward_numpy, parameter_arrays
from velora.models.layout import active_parameters, prefers_compiled, total_parameters
from velora.spec import parse_spec


def _inputs(batch: int, steps: int, features: int, units: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, steps, features)).astype(np.float32)
    h = rng.standard_normal((batch, units)).astype(np.float32)
    ts = rng.uniform(0.1, 2.0, (batch, steps)).astype(np.float32)
    return x, h, ts


def _arrays(network: LiquidNCPNetwork) -> NetworkArrays:
    return NetworkArrays.from_checkpoint(network.wiring, parameter_arrays(network), network.seed)


@pytest.mark.parametrize(("n", "batch"), [(10, 1), (24, 5), (64, 3), (300, 64)])
@pytest.mark.parametrize("states", [False, True])
def test_forward_is_the_modules_bit_for_bit(n, batch, states):
    """Both loops: the compiled one for small work, the module's BLAS loop where it wins."""
    network = LiquidNCPNetwork(3, n, 2, seed=n)
    ours = _arrays(network)
    assert ours.prefers_compiled(batch) == network.prefers_compiled(batch)
    x, h, ts = _inputs(batch, 9, 3, network.n_units)
    with torch.inference_mode():
        y, h_out = network.forward_sequence(
            torch.from_numpy(x), torch.from_numpy(h), torch.from_numpy(ts), return_states=states
        )
    y2, h2 = ours.forward_sequence(x, h, ts, return_states=states)
    assert np.array_equal(y.numpy(), y2) and np.array_equal(h_out.numpy(), h2)
    y3, h3 = forward_numpy(network, x, h, ts, return_states=states)
    assert np.array_equal(y3, y2) and np.array_equal(h3, h2)


def test_the_big_batch_path_hands_over_to_the_module():
    network = LiquidNCPNetwork(3, 300, 2, seed=1)
    ours = _arrays(network)
    assert not prefers_compiled(network.wiring, 64)
    x, h, ts = _inputs(64, 2, 3, network.n_units)
    ours.forward_sequence(x, h, ts)
    assert isinstance(ours._module, LiquidNCPNetwork)


def test_parameter_counts_match_the_module():
    for n in (5, 19, 100):
        network = LiquidNCPNetwork(4, n, 3, seed=0)
        assert total_parameters(network.wiring) == network.total_params
        assert active_parameters(network.wiring) == network.active_params


def test_a_spec_draws_its_wiring_and_makes_its_weights_only_when_asked():
    spec = parse_spec("version: 1\nnetwork: {in_features: 3, n_neurons: 12, out_features: 2}\n")
    ours = NetworkArrays.from_spec(spec)
    module = LiquidNCPNetwork.from_spec(spec)
    for (_, a), (_, b) in zip(ours.wiring.masks.items(), module.wiring.masks.items(), strict=True):
        assert torch.equal(a, b)
    assert ours._parameters is None  # nothing made yet
    expected = parameter_arrays(module)
    assert set(ours.parameters) == set(expected)
    assert all(np.array_equal(ours.parameters[k], v) for k, v in expected.items())
    assert ours._module is None  # drawn with numpy: no module was built


@pytest.mark.parametrize("weights_first", [False, True])
def test_a_large_specs_module_gets_the_same_seeded_weights(weights_first):
    """Where the batch hands over to the module (PyTorch's BLAS loop), the module holds the
    spec's seeded weights, whether they were drawn before or by the module itself, and the
    results are those of the module built from the spec."""
    spec = parse_spec(
        "version: 1\nseed: 11\nnetwork: {in_features: 3, n_neurons: 300, out_features: 2}\n"
    )
    ours = NetworkArrays.from_spec(spec)
    assert not ours.prefers_compiled(64)
    if weights_first:
        drawn = dict(ours.parameters)
    x, h, ts = _inputs(64, 2, 3, ours.n_units)
    y, h_out = ours.forward_sequence(x, h, ts)
    held = parameter_arrays(ours._module)
    expected = parameter_arrays(LiquidNCPNetwork.from_spec(spec))
    assert all(np.array_equal(held[k], v) for k, v in expected.items())
    assert all(np.array_equal(ours.parameters[k], v) for k, v in expected.items())
    if weights_first:
        assert all(np.array_equal(drawn[k], v) for k, v in expected.items())
    y2, h2 = forward_numpy(LiquidNCPNetwork.from_spec(spec), x, h, ts)
    assert np.array_equal(y, y2) and np.array_equal(h_out, h2)


def test_load_arrays_reads_a_checkpoint_as_load_model_does(good_file):
    ours, spec = load_arrays(good_file)
    module, spec2 = load_model(good_file)
    assert spec == spec2 and ours.seed == module.seed
    expected = parameter_arrays(module)
    assert all(np.array_equal(ours.parameters[k], v) for k, v in expected.items())


def test_run_and_wire_import_neither_torch_nor_pandas(tmp_path, good_file):
    """``velora run CHECKPOINT``, ``velora run SPEC`` and ``velora wire SPEC`` in a fresh
    process: neither torch nor pandas (which pyarrow's conversions import) is ever imported,
    for start-up time, and each run's output is the one the module gives (a spec's seeded
    weights drawn by numpy, bit for bit torch's)."""
    data = tmp_path / "in.csv"
    rows = "\n".join(f"{i},0.5,-1,{i / 7}" for i in range(40))
    data.write_text(f"x,y,theta,omega\n{rows}\n")
    out = tmp_path / "out.csv"
    episodes = tmp_path / "pendulum100.csv"  # the example's first 100 rows
    lines = (EXAMPLE.parent / "pendulum.csv").read_text().splitlines(keepends=True)
    episodes.write_text("".join(lines[:101]))
    out_spec = tmp_path / "out_spec.csv"
    by_spec = ["-i", str(episodes), "--sequence-column", "episode", "--time-column", "t"]
    code = f"""
import sys
from velora_cli.main import app
for argv in (["run", {str(good_file)!r}, "-i", {str(data)!r}, "-o", {str(out)!r}],
             ["run", {str(EXAMPLE)!r}, *{by_spec!r}, "-o", {str(out_spec)!r}, "--quiet"],
             ["wire", {str(EXAMPLE)!r}, "--json"]):
    try:
        app(argv)
    except SystemExit as exc:
        assert not exc.code, exc.code
print(sorted({{"torch", "pandas"}} & set(sys.modules)))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr
    module, spec = load_model(good_file)
    expected = tmp_path / "expected.csv"
    run_csv(module, data, expected, spec=spec)
    assert out.read_bytes() == expected.read_bytes()
    # The spec's run through the module, built by nn.Linear's own draws after manual_seed.
    spec = parse_spec(EXAMPLE.read_text())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.effective_seed)
        n = spec.network
        module = LiquidNCPNetwork(
            n.in_features, n.n_neurons, n.out_features, wiring=spec.draw_wiring()
        )
    assert torch.equal(
        nn.utils.parameters_to_vector(module.parameters()),
        nn.utils.parameters_to_vector(LiquidNCPNetwork.from_spec(spec).parameters()),
    )
    expected = tmp_path / "expected_spec.csv"
    run_csv(module, episodes, expected, spec=spec, sequence_column="episode", time_column="t")
    assert out_spec.read_bytes() == expected.read_bytes()


def test_inspect_imports_neither_torch_nor_pandas(good_file):
    """``velora inspect CHECKPOINT``, as text and as ``--json``, in a fresh process: neither
    torch nor pandas is imported, and the JSON is the torch-level summary of the file."""
    code = f"""
import contextlib, io, json, sys
from velora_cli.main import main_exit_code
outputs = []
for argv in (["inspect", {str(good_file)!r}], ["inspect", {str(good_file)!r}, "--json"]):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main_exit_code(argv) == 0
    outputs.append(out.getvalue())
print(json.dumps({{"modules": sorted({{"torch", "pandas"}} & set(sys.modules)), "out": outputs}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["modules"] == [], done.stdout + done.stderr
    text, document = result["out"]
    assert "✓ weights outside the masks are inert" in text
    expected = summary(load_checkpoint(good_file))
    assert json.loads(document) == expected and expected["verification"]["ok"]


def test_eval_imports_neither_torch_nor_pandas(tmp_path):
    """``velora eval`` of a spec and of a checkpoint in a fresh process: neither torch nor pandas
    is imported, and the metrics (per sequence too) are those of the module, as
    ``evaluate_csv`` gives them for a ``LiquidNCPNetwork``."""
    spec_path = EXAMPLE.parent / "oscillator.yaml"
    data = EXAMPLE.parent / "oscillator.csv"
    spec = parse_spec(spec_path.read_text())
    module = LiquidNCPNetwork.from_spec(spec)
    ckpt = tmp_path / "oscillator.safetensors"
    module.save(ckpt, spec)
    options = ["-i", str(data), "--sequence-column", "run", "--time-column", "t"]
    options += ["--per-sequence", "--json"]
    code = f"""
import contextlib, io, json, sys
from velora_cli.main import main_exit_code
outputs = []
for model in ({str(spec_path)!r}, {str(ckpt)!r}):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main_exit_code(["eval", model, *{options!r}]) == 0
    outputs.append(json.loads(out.getvalue()))
print(json.dumps({{"modules": sorted({{"torch", "pandas"}} & set(sys.modules)), "out": outputs}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["modules"] == []
    expected = evaluate_csv(
        module, data, spec=spec, sequence_column="run", time_column="t", per_sequence=True
    ).to_dict()
    assert found["out"] == [expected, expected]
