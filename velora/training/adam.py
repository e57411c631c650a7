"""Adam for parameters on the CPU, equal bit for bit to ``torch.optim.Adam``.

``torch.optim.Optimizer`` wraps its methods so that the first call imports ``torch._dynamo``
(about a second of every training run). This class performs the same sequence of tensor
operations as torch's single-tensor Adam (the path torch takes for CPU tensors) with velora's
settings: no weight decay, no AMSGrad, minimising. Its ``state_dict`` is in
``torch.optim.Adam``'s format, so either optimizer can continue from the other's state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import torch

# torch.optim.Adam's defaults, which velora trains with.
DEFAULT_BETAS = (0.9, 0.999)
DEFAULT_EPS = 1e-8

# torch.optim.Adam's options besides lr, betas and eps, at the values this class implements:
# a parameter group, saved or loaded, carries them as torch writes them.
FIXED_OPTIONS: dict[str, Any] = {
    "weight_decay": 0,
    "amsgrad": False,
    "maximize": False,
    "foreach": None,
    "capturable": False,
    "differentiable": False,
    "fused": None,
    "decoupled_weight_decay": False,
}


class Optimizer(Protocol):
    """What velora's training loop asks of an optimizer: this module's ``Adam`` and
    ``torch.optim.Adam`` both provide it."""

    param_groups: list[dict[str, Any]]

    def zero_grad(self, set_to_none: bool = True) -> None: ...

    def step(self) -> Any: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...


def _step_dtype() -> torch.dtype:
    """The dtype torch keeps Adam's step count in: float64 under a float64 default dtype, else
    float32."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


class Adam:
    """``torch.optim.Adam(params, lr=lr)`` for real floating-point parameters on the CPU, with
    the same results, the same ``state_dict`` and no import of ``torch._dynamo``.

    ``param_groups[0]["lr"]`` (and ``betas``, ``eps``) may be changed between steps, as with
    torch's. A parameter whose ``.grad`` is None is skipped and gets no state until it has one.
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-3) -> None:
        if not lr >= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        tensors = list(params)
        if not tensors:
            raise ValueError("optimizer got an empty parameter list")
        for p in tensors:
            if not isinstance(p, torch.Tensor) or not p.is_floating_point() or not p.is_leaf:
                raise TypeError("Adam optimizes real floating-point leaf tensors only")
        group: dict[str, Any] = {"params": tensors, "lr": lr, "betas": DEFAULT_BETAS}
        group.update(eps=DEFAULT_EPS, **FIXED_OPTIONS)
        self.param_groups: list[dict[str, Any]] = [group]
        # Per-parameter state by the parameter's index over the groups (the index torch's
        # state_dict uses), in the order the parameters first had a gradient, as torch's.
        self.state: dict[int, dict[str, torch.Tensor]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (``set_to_none``) or set it to zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad.detach_()
                    else:
                        p.grad.requires_grad_(False)
                    p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of every parameter that has a gradient.

        The operations, their order and the Python floats are those of torch's
        ``_single_tensor_adam`` (no capturable, not differentiable), so every bit agrees.
        """
        index = -1
        for group in self.param_groups:
            lr = group["lr"]
            beta1, beta2 = group["betas"]
            eps = group["eps"]
            for param in group["params"]:
                index += 1
                grad = param.grad
                if grad is None:
                    continue
                if grad.is_sparse:
                    raise RuntimeError("Adam does not support sparse gradients")
                state = self.state.setdefault(index, {})
                if not state:  # a parameter's first gradient: its state starts at zeros
                    state["step"] = torch.tensor(0.0, dtype=_step_dtype())
                    state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(
                        param, memory_format=torch.preserve_format
                    )
                exp_avg, exp_avg_sq, step_t = state["exp_avg"], state["exp_avg_sq"], state["step"]
                step_t += 1
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                step = step_t.item()
                bias_correction1 = 1 - beta1**step
                bias_correction2 = 1 - beta2**step
                step_size = lr / bias_correction1
                bias_correction2_sqrt = bias_correction2**0.5
                denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
                param.addcdiv_(exp_avg, denom, value=-step_size)

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {"step", "exp_avg", "exp_avg_sq"}}, "param_groups": [...]}`` as
        ``torch.optim.Adam.state_dict`` gives it: the state tensors themselves, not copies."""
        groups, start = [], 0
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            packed["params"] = list(range(start, start + len(group["params"])))
            start += len(group["params"])
            groups.append(packed)
        return {"state": dict(self.state), "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue from ``state_dict`` (this class's or ``torch.optim.Adam``'s): its groups'
        lr, betas and eps and copies of its per-parameter state, cast as torch casts them
        (moments to the parameter's dtype, the step count kept as saved).

        Raises ValueError when the groups do not match this optimizer's or ask for an option
        this class does not implement (weight decay, AMSGrad, ...).
        """
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        index_of: dict[Any, int] = {}
        params: list[torch.Tensor] = []
        for group, saved in zip(self.param_groups, saved_groups, strict=True):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group "
                    "that doesn't match the size of optimizer's group"
                )
            for key in FIXED_OPTIONS:
                if saved.get(key):  # torch's defaults are all falsy
                    raise ValueError(f"velora's Adam does not implement {key}={saved[key]!r}")
            for saved_index, param in zip(saved["params"], group["params"], strict=True):
                index_of[saved_index] = len(params)
                params.append(param)
        state: dict[int, dict[str, torch.Tensor]] = {}
        for saved_index, values in state_dict["state"].items():
            if saved_index not in index_of:
                raise ValueError(f"loaded state dict has state for unknown parameter {saved_index}")
            index = index_of[saved_index]
            state[index] = {key: _cast(params[index], key, value) for key, value in values.items()}
        for group, saved in zip(self.param_groups, saved_groups, strict=True):
            options = {key: value for key, value in saved.items() if key != "params"}
            group.update(options)
        self.state = state


def _cast(param: torch.Tensor, key: str, value: Any) -> torch.Tensor:
    """A copy of one saved state value, as torch's ``load_state_dict`` casts it: the step count
    keeps its dtype (a number becomes a tensor of torch's step dtype), moments take the
    parameter's dtype and device."""
    if key == "step":
        if isinstance(value, torch.Tensor):
            return value.clone()
        return torch.tensor(float(value), dtype=_step_dtype())
    return torch.as_tensor(value).to(dtype=param.dtype, device=param.device, copy=True)
