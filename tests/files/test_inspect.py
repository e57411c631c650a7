"""Checkpoint verification and the summary `velora inspect` shows: the checks catch a network
that no longer follows its wiring, and the torch-free summary (``inspect_checkpoint``, numpy
arrays) is the torch-level one and the figures of the module itself.

`velora inspect`, which shows these checks: tests/cli/test_inspect.py.
"""

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.helpers import make_bad
from velora.errors import CheckpointError
from velora.files import c_footprint, checkpoint, export_c
from velora.files.inspection import inspect_checkpoint
from velora.files.pruning import prune_model
from velora.models import LiquidNCPNetwork
from velora.models.arrays import NetworkArrays
from velora.wiring import LayerMasks, Wiring

# `ckpt` (the example network saved as a checkpoint) and `good_file` (the example network as
# after training: weights outside the masks too) are in tests/conftest.py.


def test_verification_checks_are_not_vacuous(ckpt):
    loaded = checkpoint.load_checkpoint(ckpt)
    assert checkpoint.verify(loaded).ok
    cell = loaded.model.layers["command"]
    cell.sparsity_mask.fill_(1.0)  # a mask buffer that no longer follows the wiring
    report = checkpoint.verify(loaded)
    assert not report.masks_match_weights and not report.inert_outside_masks
    assert not report.ok and report.checksum_ok


# ---- the torch-free summary against the module's own figures ---------------------------------


def _large(tmp_path, good_file):
    """A network large enough that its arrays hand a batch of 8 to the module, trained-like."""
    net = LiquidNCPNetwork(8, 400, 3, seed=2)
    assert not NetworkArrays(net.wiring).prefers_compiled(8)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return checkpoint.save(net, tmp_path / "large.safetensors")


def _pruned(tmp_path, good_file):
    out = tmp_path / "pruned.safetensors"
    prune_model(good_file, out, keep=0.5)
    return out


def _extra(tmp_path, good_file):
    net = checkpoint.load_checkpoint(good_file).model
    extra = {"optim.step": torch.tensor(5), "m": torch.ones(3, dtype=torch.float64)}
    return checkpoint.save(net, tmp_path / "extra.safetensors", extra=extra)


def _bad(kind):
    def make(tmp_path, good_file):
        path = tmp_path / f"{kind.replace(' ', '_')}.safetensors"
        make_bad(kind, good_file, path)
        return path

    return make


FILES = {
    "trained (weights stored outside the masks)": lambda tmp_path, good_file: good_file,
    "large": _large,
    "pruned": _pruned,
    "extra tensors": _extra,
    "checksum mismatch": _bad("tampered"),
    "metadata checksum mismatch": _bad("metadata tampered"),
}


def _inert_one_step(model: LiquidNCPNetwork) -> bool:
    """The module's own inert check: weights outside the masks randomised in a copy, one step
    of both compared bit for bit."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(8, model.in_features, generator=generator)
    h = torch.rand(8, model.n_units, generator=generator) * 2 - 1
    probe = copy.deepcopy(model)
    with torch.no_grad():
        for cell in probe.cells():
            outside = cell.sparsity_mask == 0
            for head in cell.heads():
                noise = torch.randn(head.weight.shape, generator=generator) * 1e3
                head.weight.copy_(torch.where(outside, noise, head.weight))
        y, h_next = model(x, h)
        y_probe, h_probe = probe(x, h)
    return torch.equal(y, y_probe) and torch.equal(h_next, h_probe)


def _module_figures(model: LiquidNCPNetwork) -> dict:
    """What `velora inspect` shows of a network, computed from its torch module."""
    layers = []
    for cell in model.cells():
        live = int(cell.sparsity_mask.count_nonzero())
        layers.append(
            {
                "inputs": cell.in_features,
                "neurons": cell.n_hidden,
                "synapses": int(cell.sparsity_mask[:, : cell.in_features].count_nonzero()),
                "weight_shape": list(cell.g_head.weight.shape),
                "total_params": sum(p.numel() for p in cell.parameters()),
                "active_params": 5 * (live + cell.n_hidden),
            }
        )
    stored_outside = sum(
        int(((head.weight != 0) & (cell.sparsity_mask == 0)).sum())
        for cell in model.cells()
        for head in cell.heads()
    )
    c_float = export_c.c_sources(model).footprint  # counted on the C arrays themselves
    c_int8 = export_c.c_sources(model, quantize="int8").footprint
    return {
        "layers": layers,
        "total": sum(p.numel() for p in model.parameters()),
        "units": model.n_units,
        "c_export": [c_float.flash_bytes, c_float.ram_bytes, c_int8.flash_bytes],
        "stored_outside": stored_outside,
        "inert": _inert_one_step(model),
    }


@pytest.mark.parametrize("kind", sorted(FILES))
def test_torch_free_summary_is_the_modules(kind, tmp_path, good_file):
    path = FILES[kind](tmp_path, good_file)
    report = inspect_checkpoint(path)
    loaded = checkpoint.load_checkpoint(path, verify_checksum=False)
    assert report.info == checkpoint.summary(loaded)
    assert report.verification == checkpoint.verify(loaded)
    info, module = report.info, _module_figures(loaded.model)
    layers = [
        {k: v for k, v in layer.items() if k != "layer"} for layer in info["parameters"]["layers"]
    ]
    assert layers == module["layers"]
    assert info["parameters"]["total"] == module["total"]
    assert info["parameters"]["active"] == sum(layer["active_params"] for layer in layers)
    assert info["neurons"]["units"] == module["units"]
    c = info["c_export"]
    assert [c["flash_bytes"], c["ram_bytes"], c["flash_bytes_int8"]] == module["c_export"]
    check = info["verification"]
    assert check["inert_outside_masks"] is module["inert"] is True
    assert check["stored_outside_masks"] == module["stored_outside"]
    assert check["checksum"] is (kind != "checksum mismatch")
    assert check["metadata_checksum"] is (kind != "metadata checksum mismatch")
    assert check["ok"] is (kind not in ("checksum mismatch", "metadata checksum mismatch"))
    assert info["extra_tensors"] == (["m", "optim.step"] if kind == "extra tensors" else [])
    if kind.startswith("trained"):
        assert check["stored_outside_masks"] > 0
    if kind == "pruned":
        assert info["metadata"]["pruned_from"]["keep"] == 0.5


def test_a_failed_file_is_returned_then_refused(tmp_path, good_file):
    tampered = _bad("tampered")(tmp_path, good_file)
    report = inspect_checkpoint(tampered)
    assert report.problem is not None and report.problem.startswith("checksum mismatch")
    with pytest.raises(CheckpointError, match=r"^.*tampered\.safetensors: checksum mismatch"):
        report.check()
    inspect_checkpoint(good_file).check()  # a good file passes


# ---- the inert check detects weights that leak ---------------------------------------------


def leaky_kernel_weights(self: NetworkArrays) -> list[np.ndarray]:
    """``NetworkArrays.kernel_weights`` with broken masking: every input connected, so the
    weights stored outside the masks reach the outputs."""
    ones = LayerMasks(*(np.ones_like(mask) for _, mask in self.wiring.arrays.items()))
    return KERNEL_WEIGHTS(replace(self, wiring=Wiring.from_masks(ones), _kernel=None))


KERNEL_WEIGHTS = NetworkArrays.kernel_weights


def test_the_inert_check_fails_when_the_masking_leaks(good_file, monkeypatch):
    assert inspect_checkpoint(good_file).verification.ok
    monkeypatch.setattr(NetworkArrays, "kernel_weights", leaky_kernel_weights)
    report = inspect_checkpoint(good_file)
    check = report.verification
    assert check.inert_outside_masks is False and check.ok is False
    assert check.checksum_ok and check.masks_match_weights and check.n_stored_outside_masks > 0
    assert report.problem == "verification failed (see above)"
    with pytest.raises(CheckpointError, match=r"model\.safetensors: verification failed"):
        report.check()


# ---- the C export's footprint from the wiring alone ------------------------------------------


@pytest.mark.parametrize("quantize", [None, "int8"])
def test_the_footprint_of_a_wiring_is_that_of_the_c_arrays(quantize, tmp_path, good_file):
    pruned = checkpoint.load_checkpoint(_pruned(tmp_path, good_file)).model
    for net in (LiquidNCPNetwork(4, 16, 1, seed=7), LiquidNCPNetwork(3, 300, 2, seed=1), pruned):
        expected = export_c.c_sources(net, quantize=quantize).footprint
        assert c_footprint.wiring_footprint(net.wiring, quantize) == expected
        assert export_c.footprint(net, quantize) == expected
