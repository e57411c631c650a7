"""Data-parallel training: two processes under torchrun (gloo, localhost) train the model that
one process trains, to float rounding, with the compiled loop and with PyTorch's; both end with
the same weights; the losses mean what they mean on one process; train_csv resumes under
torchrun and only rank 0 writes. One job runs it all (tests/jobs/fit_job.py)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from tests import torchrun
from tests.training.test_fit import smoothing_task
from velora.files import checkpoint
from velora.models import LiquidNCPNetwork
from velora.training import SequenceData, evaluate, fit, split_by_sequence, train_csv

pytestmark = torchrun.needs_torchrun
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TRAIN_OPTIONS = {
    "targets": ["position", "velocity"],
    "sequence_column": "run",
    "time_column": "t",
    "val_split": 0.2,
    "lr": 0.005,
    "batch_size": 5,
    "window": 50,
}


def data() -> tuple[SequenceData, SequenceData]:
    """22 training sequences in batches of 7: the last batch has one sequence, so one process
    gets none of it."""
    train, val = split_by_sequence(smoothing_task(n=29), 0.25, seed=0)
    assert len(train) == 22
    return train, val


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> tuple[Path, torchrun.Job]:
    folder = tmp_path_factory.mktemp("fit-job")
    arrays = {}
    for part, sequences in zip(("train", "val"), data(), strict=True):
        for key, value in zip(("x", "y", "ts", "len"), (sequences.x, sequences.y,
                              sequences.timespans, sequences.lengths), strict=True):  # fmt: skip
            arrays[f"{part}_{key}"] = value.numpy()
    np.savez(folder / "data.npz", **arrays)
    done = torchrun.run([str(folder), str(EXAMPLES)], folder, script=torchrun.JOBS / "fit_job.py")
    assert done.returncode == 0, done.stderr[-4000:]
    return folder, done


def weights(net: LiquidNCPNetwork) -> np.ndarray:
    return torch.cat([p.detach().flatten() for p in net.parameters()]).numpy()


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled loop", "pytorch loop"])
def test_two_processes_train_the_one_process_model(job, compiled) -> None:
    folder, _ = job
    train, val = data()
    net = LiquidNCPNetwork(1, 8, 1, seed=1)
    one = fit(net, train, val, epochs=3, lr=0.03, batch_size=7, window=10, seed=0,
              compiled=compiled)  # fmt: skip
    ranks = [np.load(folder / f"fit-{compiled}-{rank}.npz") for rank in (0, 1)]
    # DDP's all-reduce reached every gradient: both processes hold the same weights, bit for
    # bit, and they are the one-process weights to float rounding.
    assert np.array_equal(ranks[0]["weights"], ranks[1]["weights"])
    assert np.abs(ranks[0]["weights"] - weights(net)).max() < 1e-4
    assert np.abs(ranks[0]["weights"] - weights(LiquidNCPNetwork(1, 8, 1, seed=1))).max() > 0.01
    for got in ranks:  # losses are sums and counts over every process: the same numbers
        np.testing.assert_allclose(got["train_loss"], one.train_loss, rtol=1e-5)
        np.testing.assert_allclose(got["val_loss"], one.val_loss, rtol=1e-5)
        assert int(got["best_epoch"]) == one.best_epoch
        assert not bool(got["interrupted"])
        assert float(got["evaluated"]) == pytest.approx(evaluate(net, val), rel=1e-5)


def test_early_stopping_and_the_best_epoch_are_decided_alike(job) -> None:
    folder, _ = job
    train, val = data()
    one = fit(LiquidNCPNetwork(1, 8, 1, seed=1), train, val, epochs=12, lr=0.1, batch_size=7,
              window=10, seed=0, patience=2)  # fmt: skip
    assert one.stopped_early and one.best_epoch < one.epochs_run < 12  # the case is the point
    for rank in (0, 1):
        got = np.load(folder / f"early-{rank}.npz")
        assert bool(got["stopped_early"]) and int(got["epochs_run"]) == one.epochs_run
        assert int(got["best_epoch"]) == one.best_epoch
        # lr 0.1 amplifies rounding from epoch to epoch; the decisions above are exact
        np.testing.assert_allclose(got["val_loss"], one.val_loss, rtol=1e-3)


def test_train_csv_resumes_under_torchrun_and_rank_0_alone_writes(job, tmp_path) -> None:
    folder, _ = job
    one = train_csv(EXAMPLES / "oscillator.yaml", EXAMPLES / "oscillator.csv",
                    tmp_path / "one.safetensors", epochs=3, **TRAIN_OPTIONS)  # fmt: skip
    two = checkpoint.load_checkpoint(folder / "resumed.safetensors")
    assert checkpoint.verify(two).ok
    mine, theirs = one.plan.network.state_dict(), two.model.state_dict()
    assert max(float((mine[k] - theirs[k]).abs().max()) for k in mine) < 1e-4
    history = two.extra["train.train_loss"].tolist()
    np.testing.assert_allclose(history, one.result.train_loss, rtol=1e-5)
    assert (folder / "train-0.txt").read_text().split() == ["True", "True", "True", "True", "2"]
    assert (folder / "train-1.txt").read_text().split() == ["False", "False", "False", "False",
                                                             "2"]  # fmt: skip
    expected = {
        "data.npz",
        "half.safetensors",
        "resumed.safetensors",
        "train-0.txt",
        "train-1.txt",
        "early-0.npz",
        "early-1.npz",
    } | {f"fit-{c}-{r}.npz" for c in (True, False) for r in (0, 1)}
    assert torchrun.stray(folder, expected) == set()  # fmt: skip


def test_data_parallel_is_silent_on_other_ranks(job) -> None:
    _, done = job
    assert done.errors() == []
    assert "Traceback" not in done.stderr
