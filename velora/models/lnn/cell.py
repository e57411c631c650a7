"""The NCP liquid cell: a closed-form continuous-time (CfC) cell whose inputs follow a mask.

For z = [x, h] and masked heads a_k = z (W_k * M)^T + b_k:
    g = tanh(a_g), h~ = tanh(a_h), gate = sigmoid((a_fg + a_fh) * t)
    h' = g * (1 - gate) + h~ * gate,  y = a_proj + h'
(Hasani et al., Nature Machine Intelligence 2022, eq. 10, with an elapsed time t per sample.)
"""

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from velora.models.layout import HEAD_NAMES, input_mask
from velora.wiring import check_int

__all__ = ["HEAD_NAMES", "NCPLiquidCell", "cell_step", "cfc_update", "timespan_column"]


def timespan_column(
    timespans: float | torch.Tensor | None, batch: int, like: torch.Tensor
) -> float | torch.Tensor:
    """Return elapsed times as a float or a (batch, 1) tensor that broadcasts over neurons."""
    if timespans is None:
        return 1.0
    if isinstance(timespans, int | float):
        return float(timespans)
    t = torch.as_tensor(timespans, dtype=like.dtype, device=like.device)
    if t.dim() == 0:
        return t
    if t.dim() == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.dim() != 1 or t.shape[0] not in (1, batch):
        raise ValueError(
            f"timespans must be a float, (batch,) or (batch, 1); got shape {tuple(t.shape)} "
            f"for batch {batch}"
        )
    return t.unsqueeze(1)


class NCPLiquidCell(nn.Module):
    """One NCP layer: ``n_hidden`` liquid neurons fed by ``in_features`` inputs through ``mask``.

    ``mask`` has shape (in_features, n_hidden); only its non-zero entries connect an input to a
    neuron. Every neuron also sees the whole hidden state of its layer (recurrent block).
    ``initial`` gives the heads' initial parameters (``<head>.weight|bias``, float32 arrays, as
    ``velora.models.init`` draws them; on the CPU they become the parameters without a copy);
    without it each head draws its own as ``nn.Linear`` does, from torch's global generator.
    """

    sparsity_mask: torch.Tensor  # a buffer (registered in __init__)

    def __init__(
        self,
        in_features: int,
        n_hidden: int,
        mask: torch.Tensor,
        *,
        device: torch.device | str | None = None,
        initial: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        super().__init__()
        self.in_features = check_int("in_features", in_features, 1)
        self.n_hidden = check_int("n_hidden", n_hidden, 1)
        mask = torch.as_tensor(mask)
        if tuple(mask.shape) != (self.in_features, self.n_hidden):
            raise ValueError(
                f"mask must have shape (in_features, n_hidden) = "
                f"({self.in_features}, {self.n_hidden}), got {tuple(mask.shape)}"
            )
        sparsity = torch.from_numpy(input_mask(mask.cpu().numpy()))
        self.register_buffer("sparsity_mask", sparsity.to(device))
        n_inputs = self.in_features + self.n_hidden
        home = torch.get_default_device() if device is None else device  # nn.Linear's pick
        for name in HEAD_NAMES:
            if initial is None:
                head = nn.Linear(n_inputs, self.n_hidden, device=device)
            else:  # made on the meta device (no draws, no memory), then given its parameters
                head = nn.Linear(n_inputs, self.n_hidden, device="meta")
                for kind in ("weight", "bias"):
                    value = torch.from_numpy(initial[f"{name}.{kind}"]).to(home)
                    setattr(head, kind, nn.Parameter(value))
            setattr(self, name, head)
        self._cache: tuple[tuple, torch.Tensor, torch.Tensor] | None = None

    def heads(self) -> tuple[nn.Linear, ...]:
        """The five linear heads in a fixed order."""
        return tuple(getattr(self, name) for name in HEAD_NAMES)

    def _fuse(self) -> tuple[torch.Tensor, torch.Tensor]:
        g, h, fg, fh, p = self.heads()
        weight = torch.cat([g.weight, h.weight, fg.weight + fh.weight, p.weight], dim=0)
        weight = weight * self.sparsity_mask.repeat(4, 1)
        bias = torch.cat([g.bias, h.bias, fg.bias + fh.bias, p.bias])
        return weight, bias

    def fused(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked weights of the four effective heads [g, h, f, proj] as one (4n, in+n) matrix.

        The two gate heads add up, so one matmul serves the whole cell. Outside autograd the
        result is cached and rebuilt only when a parameter or the mask changes.
        """
        if torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters()):
            return self._fuse()
        tensors = [*self.parameters(), self.sparsity_mask]
        key = tuple((t.data_ptr(), _version(t), t.device, t.dtype) for t in tensors)
        if self._cache is None or self._cache[0] != key:
            with torch.no_grad():
                weight, bias = self._fuse()
            self._cache = (key, weight, bias)
        return self._cache[1], self._cache[2]

    def forward(
        self,
        x: torch.Tensor,
        hidden: torch.Tensor,
        timespans: float | torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: returns (y, new_hidden), both (batch, n_hidden)."""
        weight, bias = self.fused()
        x = x.to(weight.dtype)
        hidden = hidden.to(weight.dtype)
        t = timespan_column(timespans, x.shape[0], x)
        return cell_step(torch.cat([x, hidden], dim=1), weight, bias, self.n_hidden, t)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, n_hidden={self.n_hidden}"


def _version(t: torch.Tensor) -> int:
    """In-place modification counter; inference tensors have none (-1)."""
    return -1 if t.is_inference() else t._version


def cell_step(
    z: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    n_hidden: int,
    t: float | torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The CfC update from the concatenated input ``z`` (batch, inputs + n) and fused masked
    weights."""
    return cfc_update(F.linear(z, weight, bias), n_hidden, t, dim=1)


def cfc_update(
    pre: torch.Tensor, n_hidden: int, t: float | torch.Tensor, *, dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The CfC step from the fused pre-activations [a_g, a_h, a_f, a_p] laid along ``dim``:
    returns (y, h'). The one PyTorch definition; the compiled loops use
    ``velora.kernels.step.cfc_layer``, and tests check both against tests/reference.py."""
    a_g, a_h, a_f, a_p = pre.split(n_hidden, dim=dim)
    new_hidden = torch.lerp(torch.tanh(a_g), torch.tanh(a_h), torch.sigmoid(a_f * t))
    return a_p + new_hidden, new_hidden
