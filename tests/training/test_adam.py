"""velora's Adam: the same bits as torch.optim.Adam on the CPU, its state_dict format both
ways, and a CPU training run that never imports torch._dynamo."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.helpers import ROOT
from tests.training.test_fit import FAST, smoothing_task, tiny_net
from velora.training import fit, split_by_sequence
from velora.training import fitting as fitting_module
from velora.training.adam import Adam
from velora.training.fitting import make_optimizer


def make_params(seed: int = 0) -> list[nn.Parameter]:
    """Parameters of several shapes and layouts: a scalar, a vector, matrices (one of them
    non-contiguous), a 3-d tensor, an odd-sized block and a float64 vector."""
    g = torch.Generator().manual_seed(seed)
    return [
        nn.Parameter(torch.randn((), generator=g)),
        nn.Parameter(torch.randn(5, generator=g)),
        nn.Parameter(torch.randn(3, 4, generator=g)),
        nn.Parameter(torch.randn(4, 3, generator=g).t()),  # strides (1, 3)
        nn.Parameter(torch.randn(2, 3, 4, generator=g)),
        nn.Parameter(torch.randn(67, 33, generator=g)),
        nn.Parameter(torch.randn(7, generator=g, dtype=torch.float64)),
    ]


def has_gradient(index: int, step: int) -> bool:
    """Parameter 2 skips every third step; parameter 4 first gets a gradient at step 5, so its
    state comes after the others'."""
    if index == 2:
        return step % 3 != 0
    if index == 4:
        return step >= 5
    return True


def set_gradients(params: list[nn.Parameter], step: int) -> None:
    """Gradients that depend on the parameters' own values (so a differing bit carries into
    every later step) plus seeded noise of varying scale; None where ``has_gradient`` says."""
    g = torch.Generator().manual_seed(1000 + step)
    for index, p in enumerate(params):
        noise = torch.randn(p.shape, generator=g, dtype=p.dtype)
        scale = 10.0 ** ((step + index) % 7 - 3)
        if has_gradient(index, step):
            p.grad = (torch.sin(p.detach() * 3) + noise) * scale
        else:
            p.grad = None


def run(optimizer, params: list[nn.Parameter], steps: range, lr_at: dict[int, float]) -> None:
    for step in steps:
        if step in lr_at:
            for group in optimizer.param_groups:
                group["lr"] = lr_at[step]
        optimizer.zero_grad(set_to_none=True)
        set_gradients(params, step)
        optimizer.step()


def assert_same(
    mine: list[nn.Parameter], theirs: list[nn.Parameter], mine_state: dict, theirs_state: dict
) -> None:
    """Every parameter and every state tensor equal bit for bit, with the same dtypes, keys,
    key order and parameter groups."""
    for a, b in zip(mine, theirs, strict=True):
        assert a.dtype == b.dtype and a.stride() == b.stride()
        assert torch.equal(a, b)
    assert mine_state["param_groups"] == theirs_state["param_groups"]
    assert list(mine_state["state"]) == list(theirs_state["state"])
    for index, values in theirs_state["state"].items():
        assert list(mine_state["state"][index]) == list(values)
        for key, value in values.items():
            other = mine_state["state"][index][key]
            assert other.dtype == value.dtype and other.shape == value.shape, (index, key)
            assert other.stride() == value.stride(), (index, key)
            assert torch.equal(other, value), (index, key)


@pytest.mark.parametrize("lr", [1e-3, 0.01, 0.3])
def test_equals_torch_adam_bit_for_bit(lr: float) -> None:
    """60 steps, lr changed in param_groups at step 25 and again at 40, a parameter that
    sometimes has no gradient and one that starts late: the same bits after every step."""
    mine, theirs = make_params(), make_params()
    ours, reference = Adam(mine, lr=lr), torch.optim.Adam(theirs, lr=lr)
    lr_at = {25: lr * 0.3, 40: lr * 1.7}
    assert_same(mine, theirs, ours.state_dict(), reference.state_dict())
    for step in range(60):
        run(ours, mine, range(step, step + 1), lr_at)
        run(reference, theirs, range(step, step + 1), lr_at)
        assert_same(mine, theirs, ours.state_dict(), reference.state_dict())
    state = ours.state_dict()["state"]
    assert list(state) == [0, 1, 3, 5, 6, 2, 4]  # in the order of their first gradients
    assert state[0]["step"].dtype == torch.float32 and state[0]["step"].shape == ()
    assert float(state[0]["step"]) == 60
    assert float(state[2]["step"]) == 40  # skipped on steps 0, 3, ..., 57
    assert float(state[4]["step"]) == 55
    assert all(not torch.equal(p, q) for p, q in zip(mine, make_params(), strict=True))


@pytest.mark.parametrize("first", ["torch", "velora"])
def test_state_dict_hands_over_midway_both_ways(first: str) -> None:
    """20 steps with one optimizer, its state_dict loaded into the other, 40 more: the same as
    60 steps with torch's Adam alone."""
    lr, lr_at = 0.02, {30: 0.005}
    theirs = make_params()
    reference = torch.optim.Adam(theirs, lr=lr)
    run(reference, theirs, range(60), lr_at)

    params = make_params()
    before, after = (torch.optim.Adam, Adam) if first == "torch" else (Adam, torch.optim.Adam)
    head = before(params, lr=lr)
    run(head, params, range(20), lr_at)
    saved = copy.deepcopy(head.state_dict())
    tail = after(params, lr=0.5)  # the loaded groups bring lr back
    tail.load_state_dict(saved)
    assert tail.param_groups[0]["lr"] == lr
    run(tail, params, range(20, 60), lr_at)
    assert_same(params, theirs, tail.state_dict(), reference.state_dict())


def test_loading_copies_and_casts_as_torch_does() -> None:
    """Moments take the parameter's dtype, the step count keeps its own; the loaded tensors are
    copies, so stepping leaves the given state_dict alone; a bare number of steps becomes a
    float32 tensor."""
    param = nn.Parameter(torch.ones(3))
    exp_avg = torch.full((3,), 0.5, dtype=torch.float64)
    saved = {
        "state": {0: {"step": 4.0, "exp_avg": exp_avg, "exp_avg_sq": torch.ones(3)}},
        "param_groups": Adam([param]).state_dict()["param_groups"],
    }
    optimizer = Adam([param])
    optimizer.load_state_dict(saved)
    state = optimizer.state_dict()["state"][0]
    assert state["step"].dtype == torch.float32 and float(state["step"]) == 4.0
    assert state["exp_avg"].dtype == torch.float32
    param.grad = torch.ones(3)
    optimizer.step()
    assert float(state["step"]) == 5.0
    assert saved["state"][0]["step"] == 4.0 and torch.equal(exp_avg, torch.full((3,), 0.5))


def test_load_state_dict_refuses_what_it_does_not_implement() -> None:
    params = make_params()
    groups = torch.optim.Adam(params, amsgrad=True).state_dict()
    with pytest.raises(ValueError, match="amsgrad"):
        Adam(params).load_state_dict(groups)
    with pytest.raises(ValueError, match="doesn't match the size"):
        Adam(params[:3]).load_state_dict(torch.optim.Adam(params).state_dict())
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])


def test_zero_grad() -> None:
    params = make_params()
    optimizer = Adam(params)
    set_gradients(params, 1)
    optimizer.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in params if p.grad is not None)
    optimizer.zero_grad()
    assert all(p.grad is None for p in params)


def test_make_optimizer_picks_velora_adam_on_the_cpu_only() -> None:
    assert type(make_optimizer(make_params(), 0.01)) is Adam
    on_meta = [nn.Parameter(torch.empty(3, device="meta"))]
    assert type(make_optimizer(on_meta, 0.01)) is torch.optim.Adam


def torch_adam(params, lr):
    return torch.optim.Adam(params, lr=lr)


def test_fit_with_velora_adam_equals_fit_with_torch_adam(monkeypatch) -> None:
    """A whole training run, and one resumed from the state torch's Adam left (as in a
    checkpoint of an earlier velora), give the same losses, weights and optimizer state as
    the run with torch's Adam throughout."""
    train, val = split_by_sequence(smoothing_task(), 0.25, seed=0)
    options = {**FAST, "epochs": 4}
    ours = fit(tiny_net(), train, val, **options)
    with monkeypatch.context() as patch:
        patch.setattr(fitting_module, "make_optimizer", torch_adam)
        theirs = fit(tiny_net(), train, val, **options)
        part = fit(tiny_net(), train, val, **{**options, "epochs": 2})
    resumed = fit(tiny_net(seed=99), train, val, **options, resume_state=part.state)
    for result in (ours, resumed):
        assert result.train_loss == theirs.train_loss
        assert result.val_loss == theirs.val_loss
        for key, value in theirs.state.model_state.items():
            assert torch.equal(result.state.model_state[key], value), key
        mine, reference = result.state.optimizer_state, theirs.state.optimizer_state
        assert mine["param_groups"] == reference["param_groups"]
        assert list(mine["state"]) == list(reference["state"])
        for index, values in reference["state"].items():
            for key, value in values.items():
                assert torch.equal(mine["state"][index][key], value), (index, key)


def test_cpu_training_run_never_imports_torch_dynamo(tmp_path: Path) -> None:
    """``velora train`` for one epoch on the CPU, in a fresh process: torch._dynamo (about a
    second of start-up, which torch.optim's optimizers import) stays out."""
    out = tmp_path / "m.safetensors"
    argv = [
        "train", str(ROOT / "examples/oscillator.yaml"),
        "--data", str(ROOT / "examples/oscillator.csv"),
        "--sequence-column", "run", "--time-column", "t",
        "--epochs", "1", "-o", str(out), "--force", "--quiet",
    ]  # fmt: skip
    code = f"""
import sys
from velora_cli.main import main_exit_code
code = main_exit_code({argv!r})
print(code, "torch._dynamo" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "0 False", done.stdout + done.stderr
    assert out.exists()
