"""velora.training: learning works, masks stay exact, runs repeat, resume continues exactly."""

import math

import pytest
import torch

from velora.models import LiquidNCPNetwork
from velora.training import (
    SequenceData,
    elementwise_loss,
    evaluate,
    fit,
    split_by_sequence,
)


def smoothing_task(n: int = 24, steps: int = 30, seed: int = 0) -> SequenceData:
    """Targets are an exponential moving average of a random input: learnable by a tiny
    network, with sequences of different lengths and irregular time steps."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, steps, 1, generator=g)
    dt = 0.5 + torch.rand(n, steps, generator=g)
    y = torch.zeros(n, steps, 1)
    avg = torch.zeros(n, 1)
    for t in range(steps):
        keep = torch.exp(-dt[:, t : t + 1] / 3.0)
        avg = keep * avg + (1 - keep) * x[:, t]
        y[:, t] = avg
    lengths = torch.randint(steps // 2, steps + 1, (n,), generator=g)
    return SequenceData(x, y, dt, lengths)


def tiny_net(seed: int = 1) -> LiquidNCPNetwork:
    return LiquidNCPNetwork(1, 8, 1, seed=seed)


FAST = {"epochs": 6, "lr": 0.03, "batch_size": 6, "window": 10, "seed": 0}


def test_training_drives_validation_loss_far_below_untrained() -> None:
    train, val = split_by_sequence(smoothing_task(), 0.25, seed=0)
    result = fit(tiny_net(), train, val, **FAST)
    assert result.epochs_run == 6
    assert len(result.train_loss) == len(result.val_loss) == 6
    assert result.best_loss == min(result.val_loss)
    assert result.best_loss < result.initial_val_loss / 5


def test_model_holds_best_weights_and_evaluate_agrees() -> None:
    train, val = split_by_sequence(smoothing_task(), 0.25, seed=0)
    model = tiny_net()
    result = fit(model, train, val, **FAST)
    assert evaluate(model, val) == pytest.approx(result.best_loss, rel=1e-5)


def test_masked_out_weights_never_take_effect_and_masks_never_change() -> None:
    model = LiquidNCPNetwork(3, 12, 1, sparsity_level=0.7, seed=2)
    masks = {name: cell.sparsity_mask.clone() for name, cell in model.layers.items()}
    task = smoothing_task()
    task.x = torch.cat([task.x, task.x.roll(1, 1), -task.x], dim=2)
    fit(model, task, **{**FAST, "epochs": 4, "lr": 0.1})
    for name, cell in model.layers.items():
        assert torch.equal(cell.sparsity_mask, masks[name])
    data = task.subset([0, 1, 2, 3])
    eager_before, _ = model.forward_sequence(data.x, timespans=data.timespans)  # autograd path
    with torch.no_grad():
        before, _ = model.forward_sequence(data.x, timespans=data.timespans)
        for cell in model.layers.values():
            off = cell.sparsity_mask == 0
            for head in cell.heads():
                head.weight[off] = torch.randn(int(off.sum())) * 100
        after, _ = model.forward_sequence(data.x, timespans=data.timespans)
    eager_after, _ = model.forward_sequence(data.x, timespans=data.timespans)
    assert torch.equal(eager_before, eager_after)
    assert sum(int((c.sparsity_mask == 0).sum()) for c in model.layers.values()) > 0
    # The same masked weights on both sides: the outputs agree bit for bit.
    assert torch.equal(before, after)


def test_masked_out_weights_get_no_gradient() -> None:
    model = tiny_net()
    data = smoothing_task(n=4)
    y, _ = model.forward_sequence(data.x, timespans=data.timespans)
    y.square().sum().backward()
    for cell in model.layers.values():
        off = cell.sparsity_mask == 0
        for head in cell.heads():
            assert torch.count_nonzero(head.weight.grad[off]) == 0


def test_same_seed_same_data_same_final_loss() -> None:
    train, val = split_by_sequence(smoothing_task(), 0.25, seed=3)
    a = fit(tiny_net(), train, val, **{**FAST, "epochs": 3})
    b = fit(tiny_net(), train, val, **{**FAST, "epochs": 3})
    assert a.train_loss == b.train_loss
    assert a.val_loss == b.val_loss
    c = fit(tiny_net(), train, val, **{**FAST, "epochs": 3, "seed": 1})
    assert c.train_loss != a.train_loss  # the seed orders the batches


def test_resume_equals_uninterrupted() -> None:
    train, val = split_by_sequence(smoothing_task(), 0.25, seed=0)
    full_model = tiny_net()
    full = fit(full_model, train, val, **{**FAST, "epochs": 4}, restore_best=False)
    part = fit(tiny_net(), train, val, **{**FAST, "epochs": 2})
    resumed_model = tiny_net(seed=99)  # weights come from the saved state
    resumed = fit(resumed_model, train, val, **{**FAST, "epochs": 4}, resume_state=part.state)
    assert resumed.train_loss == full.train_loss
    assert resumed.val_loss == full.val_loss
    assert resumed.best_epoch == full.best_epoch
    for key, value in full.state.model_state.items():
        assert torch.equal(resumed.state.model_state[key], value), key


def test_early_stopping_restores_best() -> None:
    train, val = split_by_sequence(smoothing_task(), 0.25, seed=0)
    # A learning rate this large makes validation worse at once: patience stops the run.
    model = tiny_net()
    result = fit(model, train, val, **{**FAST, "epochs": 20, "lr": 5.0}, patience=2)
    assert result.stopped_early
    assert result.epochs_run - result.best_epoch == 2
    assert evaluate(model, val) == pytest.approx(result.best_loss, rel=1e-5)


def test_padding_never_counts() -> None:
    """A sequence's loss is the same alone or padded beside a longer one, and garbage in the
    padding changes nothing."""
    data = smoothing_task(n=2)
    data.lengths = torch.tensor([10, 30])
    model = tiny_net()
    both = evaluate(model, data)
    noisy = SequenceData(data.x.clone(), data.y.clone(), data.timespans, data.lengths)
    noisy.y[0, 10:] = 1e6
    noisy.x[0, 10:] = 1e6
    assert evaluate(model, noisy) == pytest.approx(both, rel=1e-6)
    first, second = evaluate(model, data.subset([0])), evaluate(model, data.subset([1]))
    assert both == pytest.approx((10 * first + 30 * second) / 40, rel=1e-5)


def test_padding_does_not_change_training() -> None:
    """Training on padded data equals training on the same data with garbage in the padding."""
    data = smoothing_task(n=8)
    noisy = SequenceData(data.x.clone(), data.y.clone(), data.timespans, data.lengths)
    pad = ~data.mask()
    noisy.x[pad] = 7.0
    noisy.y[pad] = -7.0
    a = fit(tiny_net(), data, **{**FAST, "epochs": 2})
    b = fit(tiny_net(), noisy, **{**FAST, "epochs": 2})
    assert a.train_loss == b.train_loss


def test_from_sequences_pads_variable_lengths() -> None:
    xs = [torch.ones(3, 2), torch.ones(5, 2)]
    ys = [torch.zeros(3, 1), torch.zeros(5, 1)]
    ts = [torch.full((3,), 0.5), torch.full((5,), 2.0)]
    data = SequenceData.from_sequences(xs, ys, ts)
    assert data.x.shape == (2, 5, 2)
    assert data.lengths.tolist() == [3, 5]
    assert data.n_steps == 8
    assert data.timespans[0].tolist() == [0.5, 0.5, 0.5, 1.0, 1.0]


def test_split_keeps_sequences_whole() -> None:
    data = smoothing_task(n=10)
    train, val = split_by_sequence(data, 0.2, seed=0)
    assert (len(train), len(val)) == (8, 2)
    assert train.n_steps + val.n_steps == data.n_steps
    with pytest.raises(ValueError, match="at least 2"):
        split_by_sequence(data.subset([0]), 0.2)


def test_losses() -> None:
    pred, target = torch.tensor([0.0, 3.0]), torch.tensor([0.5, 0.0])
    assert elementwise_loss("mse", pred, target).tolist() == [0.25, 9.0]
    assert elementwise_loss("mae", pred, target).tolist() == [0.5, 3.0]
    assert elementwise_loss("huber", pred, target).tolist() == [0.125, 2.5]
    for name in ("mae", "huber"):
        result = fit(tiny_net(), smoothing_task(n=6), epochs=1, loss=name, batch_size=3)
        assert math.isfinite(result.train_loss[0])


def test_bad_arguments() -> None:
    data = smoothing_task(n=4)
    with pytest.raises(ValueError, match="loss"):
        fit(tiny_net(), data, loss="l3")
    with pytest.raises(ValueError, match="window"):
        fit(tiny_net(), data, window=0)
    with pytest.raises(ValueError, match="targets"):
        fit(LiquidNCPNetwork(1, 8, 2, seed=0), data, epochs=1)


def test_interrupt_keeps_best_completed_epoch() -> None:
    train, val = split_by_sequence(smoothing_task(), 0.25, seed=0)
    seen = []

    def stop_in_epoch_three(progress) -> None:
        seen.append(progress.phase)
        if progress.epoch == 3 and progress.phase == "batch":
            raise KeyboardInterrupt

    model = tiny_net()
    result = fit(model, train, val, **FAST, callback=stop_in_epoch_three)
    assert result.interrupted
    assert result.epochs_run == 2
    assert result.state.epoch == 2
    assert seen.count("epoch") == 2
    assert evaluate(model, val) == pytest.approx(result.best_loss, rel=1e-5)


def test_state_round_trips_through_tensors_and_a_checkpoint(tmp_path) -> None:
    from velora.files import checkpoint
    from velora.training import has_state, state_from_tensors, state_to_tensors

    train, val = split_by_sequence(smoothing_task(), 0.25, seed=0)
    full = fit(tiny_net(), train, val, **{**FAST, "epochs": 4}, restore_best=False)
    model = tiny_net()
    part = fit(model, train, val, **{**FAST, "epochs": 2})
    path = tmp_path / "part.safetensors"
    checkpoint.save(model, path, extra=state_to_tensors(part.state))
    loaded = checkpoint.load_checkpoint(path)
    assert has_state(loaded.extra)
    state = state_from_tensors(loaded.extra, loaded.model, loaded.model.state_dict())
    assert state.train_loss == part.train_loss and state.val_loss == part.val_loss
    resumed = fit(loaded.model, train, val, **{**FAST, "epochs": 4}, resume_state=state)
    assert resumed.train_loss == full.train_loss
    assert resumed.val_loss == full.val_loss
