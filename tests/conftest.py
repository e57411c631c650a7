"""Shared test helpers."""

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _fixed_seed() -> None:
    """Every test starts from the same global random state."""
    torch.manual_seed(0)
    np.random.seed(0)
