"""``train_csv`` checks the training estimate, with the batch and window the data allows, before
the first epoch."""

from pathlib import Path

import pytest

from tests.helpers import ROOT
from velora.spec import MemoryLimitError, estimate_memory
from velora.training import plan_training, train_csv
from velora.training.workflow import check_training_memory

SPEC, DATA = ROOT / "examples" / "oscillator.yaml", ROOT / "examples" / "oscillator.csv"


def test_the_estimate_takes_the_batch_and_window_the_data_allows() -> None:
    plan = plan_training(SPEC, DATA, sequence_column="run")  # 32 sequences of 120 steps
    network = plan.spec.network
    whole = estimate_memory(network, "train", batch=32, window=120)
    assert check_training_memory(plan, 1000, None, None) == whole
    assert check_training_memory(plan, 16, 500, None) == estimate_memory(
        network, "train", batch=16, window=120
    )
    assert check_training_memory(plan, 4, 64, None) == estimate_memory(
        network, "train", batch=4, window=64
    )
    assert estimate_memory(network) < check_training_memory(plan, 1, 1, None) < whole


def test_training_beyond_the_limit_is_refused_before_it_starts(tmp_path: Path) -> None:
    plan = plan_training(SPEC, DATA, sequence_column="run")
    need = estimate_memory(plan.spec.network, "train", batch=8, window=32)
    assert estimate_memory(plan.spec.network) < need  # the network alone would pass
    seen = []
    with pytest.raises(MemoryLimitError) as caught:
        train_csv(SPEC, DATA, tmp_path / "out.safetensors", sequence_column="run",
                  batch_size=8, window=32, max_memory=need - 1, on_start=seen.append)  # fmt: skip
    message = str(caught.value)
    assert message.startswith(f"{SPEC}: network: too large to train 8 sequences x 32 steps")
    assert "\n" not in message and caught.value.parameter == "max_memory"
    assert seen == [] and list(tmp_path.iterdir()) == []
