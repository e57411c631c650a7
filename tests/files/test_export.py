"""velora.files.export: the step module is the network's step; a checkpoint export is exact.

Exports through `velora export` (pt2, ONNX, checkpoints): tests/cli/test_export.py.
"""

import torch

from tests.helpers import EXAMPLE, step_inputs, step_reference
from velora.files.export import StepModule, export_model
from velora.files.loading import load_model


def test_step_module_is_the_network_step_bit_for_bit():
    net, _ = load_model(EXAMPLE)
    for batch in (1, 5):
        x, h = step_inputs(batch, batch)
        with torch.no_grad():
            got = StepModule(net)(x, h)
        expected = step_reference(x, h)
        assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))


def test_library_export_of_a_checkpoint_is_exact(tmp_path):
    net, spec = load_model(EXAMPLE)
    result = export_model(net, tmp_path / "m.safetensors", spec=spec)
    assert result.format == "safetensors" and result.max_abs_diff == 0.0
    assert result.n_bytes == (tmp_path / "m.safetensors").stat().st_size
    assert len(result.sha256) == 64
