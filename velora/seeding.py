"""Seeding global random state, for code that does not pass a ``seed`` of its own."""

import random

import numpy as np


def set_seed(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators so that runs repeat exactly."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
