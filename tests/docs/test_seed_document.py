"""Every code block of the API guide runs exactly as written."""

import re
from pathlib import Path

import pytest
import torch

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "building-liquid-networks.md"
BLOCKS = re.findall(r"```python[^\n]*\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)


def test_guide_has_the_five_blocks() -> None:
    assert len(BLOCKS) == 5


def test_blocks_run_in_order_as_written() -> None:
    namespace: dict = {}
    for block in BLOCKS:
        exec(compile(block, str(GUIDE), "exec"), namespace)
    assert namespace["y_pred"].shape == (1,)
    assert namespace["h_state"].shape == (1, 11)


@pytest.mark.parametrize(("index", "y_shape"), [(3, (1, 1)), (4, (1,))])
def test_standalone_blocks_run_alone(index: int, y_shape: tuple) -> None:
    """The full example and the prebuilt-network block (given torch) need nothing before them.

    The hand-written loop keeps the batch axis; the prebuilt network squeezes a batch of one.
    """
    namespace: dict = {"torch": torch} if index == 4 else {}
    exec(compile(BLOCKS[index], str(GUIDE), "exec"), namespace)
    assert namespace["y_pred"].shape == y_shape
    assert namespace["h_state"].shape == (1, 11)
