"""The defaults of ``fit`` and ``train_csv``, which ``velora train`` shows and uses as its own.

Torch-free, so that the command line can show them without importing torch.
"""

from typing import Literal

LOSSES = ("mse", "mae", "huber")
LossName = Literal["mse", "mae", "huber"]
DEFAULT_EPOCHS = 20
DEFAULT_LR = 0.01
DEFAULT_BATCH_SIZE = 16
DEFAULT_WINDOW = 64  # steps per truncated-BPTT window
DEFAULT_CLIP = 1.0  # gradient norm
DEFAULT_LOSS: LossName = "mse"
