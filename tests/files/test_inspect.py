"""Checkpoint verification: its checks catch a model that no longer follows its wiring.

`velora inspect`, which shows these checks: tests/cli/test_inspect.py.
"""

from velora.files import checkpoint

# `ckpt` (the example network saved as a checkpoint) is in tests/conftest.py.


def test_verification_checks_are_not_vacuous(ckpt):
    loaded = checkpoint.load_checkpoint(ckpt)
    assert checkpoint.verify(loaded).ok
    cell = loaded.model.layers["command"]
    cell.sparsity_mask.fill_(1.0)  # a mask buffer that no longer follows the wiring
    report = checkpoint.verify(loaded)
    assert not report.masks_match_weights and not report.inert_outside_masks
    assert not report.ok and report.checksum_ok
