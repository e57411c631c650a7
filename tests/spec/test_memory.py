"""The memory estimate of each command: the copies of the weights, the mask draws and, to train,
the activations of a window, counted by hand for a small network; and the refusal's one line.
(tests/cli/test_memory_peaks.py checks the estimates against measured peaks.)"""

import pytest

from velora.spec import PURPOSES, MemoryLimitError, NetworkSpec, check_memory, estimate_memory
from velora.spec import parse_spec as parse
from velora.spec.memory import ACTIVATION_FLOATS, WEIGHT_COPIES

SPEC = "version: 1\nnetwork: {in_features: 4, n_neurons: 16, out_features: 1}\n"
# 4 sensory, 10 inter, 6 command and 1 motor neuron: one head of every cell holds
# 10 x (4 + 10) + 6 x (10 + 6) + 1 x (6 + 1) weights; the default draws take 52 bytes per
# possible synapse of the 4x10, 10x6 and 6x1 masks.
WEIGHTS = 10 * 14 + 6 * 16 + 1 * 7
DRAWS = 52 * (4 * 10 + 10 * 6 + 6 * 1)


@pytest.mark.parametrize("purpose", PURPOSES)
def test_each_purpose_counts_its_copies_of_the_weights(purpose: str) -> None:
    network = NetworkSpec(4, 16, 1)
    expected = WEIGHT_COPIES[purpose] * 4 * WEIGHTS + DRAWS  # type: ignore[index]
    if purpose == "train":  # one sequence, one step: 4 inputs and 17 units
        expected += ACTIVATION_FLOATS * 4 * (4 + 17)
    assert estimate_memory(network, purpose) == expected  # type: ignore[arg-type]
    assert estimate_memory(network, purpose) >= estimate_memory(network)  # type: ignore[arg-type]


def test_training_adds_the_activations_of_a_window() -> None:
    network = NetworkSpec(4, 16, 1)
    copies = WEIGHT_COPIES["train"] * 4 * WEIGHTS + DRAWS
    # Every step of every sequence keeps ACTIVATION_FLOATS float32 values per input and unit
    # (4 inputs + 17 units).
    for batch, window in ((1, 1), (16, 64), (3, 1000)):
        activations = ACTIVATION_FLOATS * 4 * batch * window * (4 + 17)
        got = estimate_memory(network, "train", batch=batch, window=window)
        assert got == copies + activations
    # Batch and window only matter to training.
    assert estimate_memory(network, "pt2", batch=99, window=99) == estimate_memory(network, "pt2")


def test_the_training_refusal_is_one_line_naming_the_settings_and_limit() -> None:
    spec = parse(SPEC, "net.yaml")
    need = check_memory(spec, None, "train", batch=16, window=64)
    assert need == estimate_memory(spec.network, "train", batch=16, window=64) == 1_365_256
    with pytest.raises(MemoryLimitError) as caught:
        check_memory(spec, need - 1, "train", batch=16, window=64)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("net.yaml")
    assert "too large to train 16 sequences x 64 steps at a time: in_features=4" in message
    assert message.endswith("need about 1.3 MiB, more than the limit of 1.3 MiB")
    assert caught.value.parameter == "max_memory"  # the CLI names --max-memory
    assert check_memory(spec, need, "train", batch=16, window=64) == need


def test_an_export_refusal_names_the_format() -> None:
    spec = parse(SPEC, "net.yaml")
    with pytest.raises(MemoryLimitError, match=r"too large to export as onnx: in_features=4, "
                       r"n_neurons=16, out_features=1 need about .* KiB, more than the limit "
                       r"of 1\.0 KiB$"):  # fmt: skip
        check_memory(spec, 1024, "onnx")
    with pytest.raises(MemoryLimitError, match=r"network: too large to prune: in_features=4"):
        check_memory(spec, 1024, "prune")
    with pytest.raises(MemoryLimitError, match=r"network: too large: in_features=4"):
        check_memory(spec, 1024)


def test_absurd_settings_never_overflow_and_unknown_purposes_are_refused() -> None:
    huge = NetworkSpec(1, 10**200, 1)
    assert estimate_memory(huge, "train", batch=10**300, window=10**300) > 10**800
    spec = parse("version: 1\nnetwork: {in_features: 1, n_neurons: 1" + "0" * 200 + ", "
                 "out_features: 1}\n")  # fmt: skip
    with pytest.raises(MemoryLimitError) as caught:
        check_memory(spec, purpose="train", batch=10**300, window=64)
    assert "train (an integer of about 301 digits) sequences" in str(caught.value)
    assert len(str(caught.value)) < 400
    with pytest.raises(ValueError, match="purpose must be one of network, safetensors"):
        estimate_memory(NetworkSpec(4, 16, 1), "inspect")  # type: ignore[arg-type]
