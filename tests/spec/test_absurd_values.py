"""Absurd sizes and numbers: one line naming the key and the allowed range, never an internal
error, and messages of bounded length."""

import pytest

from tests.helpers import ROOT
from velora.errors import SpecError, VeloraError
from velora.spec import check_memory, format_bytes, parse_bytes, parse_spec
from velora.training import plan_training


def _spec(network: str, extra: str = "") -> str:
    return f"version: 1\n{extra}network: {{{network}}}\n"


def test_a_seed_of_thousands_of_digits_names_the_key_and_range() -> None:
    text = _spec("in_features: 1, n_neurons: 10, out_features: 1", "seed: 0x" + "f" * 4000 + "\n")
    with pytest.raises(SpecError, match=r"seed: expected an integer from 0 to 4294967295, got an "
                       r"integer of about 4,817 digits") as caught:  # fmt: skip
        parse_spec(text)
    assert len(str(caught.value)) < 200


def test_an_integer_beyond_pythons_digit_cap_is_a_spec_error() -> None:
    text = _spec("in_features: 1, n_neurons: 1" + "0" * 5000 + ", out_features: 1")
    with pytest.raises(SpecError, match="an integer of more than 4,300 digits"):
        parse_spec(text)


def test_a_huge_network_is_refused_with_a_bounded_message() -> None:
    spec = parse_spec(_spec("in_features: 1, n_neurons: 1" + "0" * 200 + ", out_features: 1"))
    with pytest.raises(SpecError, match=r"n_neurons=\(an integer of about 201 digits\)") as caught:
        check_memory(spec)
    assert "need about 10^401 B" in str(caught.value) and len(str(caught.value)) < 300
    assert caught.value.parameter == "max_memory"


@pytest.mark.parametrize(
    ("text", "size"),
    [("4GiB", 4 * 2**30), ("1.5k", 1500), ("0.5 KiB", 512), ("123", 123), ("2g", 2 * 10**9)],
)
def test_sizes_are_read_exactly(text: str, size: int) -> None:
    assert parse_bytes(text) == size


def test_a_size_of_hundreds_of_digits_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 30 digits, got 400 digits"):
        parse_bytes("9" * 400)


def test_absurd_byte_counts_print_as_powers_of_ten() -> None:
    assert format_bytes(10**200) == "10^200 B"
    assert format_bytes(3 * 2**60) == "3.0 EiB"


@pytest.mark.parametrize("seed", [-1, 2**32, 2**64])
def test_a_training_seed_out_of_range_names_the_parameter(seed: int) -> None:
    with pytest.raises(VeloraError, match="seed: expected an integer from 0 to 4294967295") as e:
        plan_training(ROOT / "examples" / "oscillator.yaml", ROOT / "examples" / "oscillator.csv",
                      seed=seed)  # fmt: skip
    assert e.value.parameter == "seed"
