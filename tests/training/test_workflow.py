"""train_csv does what `velora train` does, with the same defaults, and fit's defaults agree."""

from pathlib import Path

import pytest
import torch

from velora.errors import OutputExistsError, VeloraError
from velora.files import checkpoint
from velora.models import LiquidNCPNetwork
from velora.spec import load_spec
from velora.training import fit, read_sequences, split_by_sequence, train_csv
from velora_cli.main import main_exit_code

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "oscillator.yaml"
DATA = ROOT / "examples" / "oscillator.csv"
COLUMNS = {"sequence_column": "run", "time_column": "t"}


@pytest.fixture
def pinned(monkeypatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # byte-identical checkpoints


def test_the_cli_and_train_csv_write_the_same_checkpoint(tmp_path: Path, pinned) -> None:
    args = ["--val-split", "0.25", "--epochs", "2", "--window", "40"]
    cli_out = tmp_path / "cli.safetensors"
    code = main_exit_code(
        ["train", str(SPEC), "-d", str(DATA), "-o", str(cli_out), "--quiet",
         "--sequence-column", "run", "--time-column", "t", *args]
    )  # fmt: skip
    assert code == 0
    run = train_csv(
        SPEC, DATA, tmp_path / "lib.safetensors", val_split=0.25, epochs=2, window=40, **COLUMNS
    )
    assert run.wrote and run.plan.seed == 7  # the spec's seed, as the CLI takes it
    assert run.plan.targets == ["position", "velocity"] and run.plan.inputs == ["force"]
    assert cli_out.read_bytes() == (tmp_path / "lib.safetensors").read_bytes()


def test_fit_defaults_are_train_csv_defaults(tmp_path: Path) -> None:
    data, _ = read_sequences(DATA, targets=["position", "velocity"], columns=["force"], **COLUMNS)
    train, val = split_by_sequence(data, 0.25, seed=7)
    net = LiquidNCPNetwork.from_spec(load_spec(SPEC))
    by_hand = fit(net, train, val, epochs=2)  # default seed: the network's (the spec's) seed
    run = train_csv(SPEC, DATA, tmp_path / "m.safetensors", val_split=0.25, epochs=2, **COLUMNS)
    assert by_hand.train_loss == run.result.train_loss
    assert by_hand.val_loss == run.result.val_loss
    saved, _ = checkpoint.load(tmp_path / "m.safetensors")
    for a, b in zip(net.parameters(), saved.parameters(), strict=True):
        assert torch.equal(a, b)


def test_outputs_are_checked_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "m.safetensors"
    out.write_bytes(b"keep")
    with pytest.raises(OutputExistsError) as caught:
        train_csv(SPEC, tmp_path / "missing.csv", out, epochs=1)
    assert caught.value.parameter == "force" and out.read_bytes() == b"keep"
    with pytest.raises(VeloraError, match="same file"):
        train_csv(SPEC, DATA, tmp_path / "a.png", plot_loss=tmp_path / "a.png", epochs=1)
    assert not (tmp_path / "a.png").exists()


@pytest.mark.parametrize(
    ("options", "parameter"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": float("nan")}, "lr"),
        ({"lr": -1.0}, "lr"),
        ({"val_split": 1.5}, "val_split"),
        ({"window": 0}, "window"),
        ({"loss": "l3"}, "loss"),
        ({"targets": ["position"]}, "targets"),
    ],
)
def test_bad_options_name_the_parameter_not_a_flag(tmp_path: Path, options, parameter) -> None:
    with pytest.raises(VeloraError) as caught:
        train_csv(SPEC, DATA, tmp_path / "m.safetensors", **COLUMNS, **options)
    assert caught.value.parameter == parameter
    assert "--" not in str(caught.value)
    assert not list(tmp_path.iterdir())
