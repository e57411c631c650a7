"""A network as plain numpy arrays: the parameters a checkpoint holds, run without torch.

``velora run`` on a checkpoint or a spec needs neither autograd nor a module: the compiled loop
takes the fused masked weights as arrays, and a spec's seeded initial weights are drawn without
torch (``velora.models.init``). ``NetworkArrays`` holds them and runs ``forward_sequence`` on
numpy arrays, bit for bit as ``LiquidNCPNetwork.forward_sequence`` does; for batches where
PyTorch's BLAS loop wins (``prefers_compiled``) it builds the module once and hands over, so the
results stay those of the module. The parameter layout both forms share is ``velora.models.layout``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from velora.models.init import initial_parameters
from velora.models.layout import (
    HEAD_NAMES,
    active_parameters,
    input_mask,
    prefers_compiled,
    total_parameters,
)
from velora.spec import DEFAULT_MAX_MEMORY, Spec, check_memory
from velora.wiring import Wiring, layer_sizes

if TYPE_CHECKING:
    from velora.models.lnn.ncp import LiquidNCPNetwork


@dataclass
class NetworkArrays:
    """A network's wiring and float32 parameters (names and shapes as ``parameter_shapes``).

    ``from_spec`` draws the wiring of a spec without torch and its seeded weights, also without
    torch, only when they are first asked for: wiring figures of a spec draw no weights.
    """

    wiring: Wiring
    _parameters: dict[str, np.ndarray] | None = field(default=None, repr=False)
    seed: int | None = None
    _kernel: list[np.ndarray] | None = field(default=None, repr=False)
    _module: Any = field(default=None, repr=False)

    @classmethod
    def from_checkpoint(
        cls, wiring: Wiring, parameters: dict[str, np.ndarray], seed: int | None
    ) -> NetworkArrays:
        """The arrays a checkpoint holds (checked by its reader)."""
        return cls(wiring, parameters, seed)

    @classmethod
    def from_spec(cls, spec: Spec, *, max_memory: int | None = DEFAULT_MAX_MEMORY) -> NetworkArrays:
        """The seeded network a spec describes (as ``LiquidNCPNetwork.from_spec``), after
        checking its memory estimate against ``max_memory`` bytes (None: no limit)."""
        check_memory(spec, max_memory)
        return cls(spec.draw_wiring(), None, spec.effective_seed)

    @property
    def parameters(self) -> dict[str, np.ndarray]:
        """The float32 parameters by name; a spec's seeded weights are made on first use
        (without a seed, by the module, from torch's global generator)."""
        if self._parameters is None:
            if self.seed is None:
                self._module = self.to_network()
                self._parameters = parameter_arrays(self._module)
            else:
                self._parameters = initial_parameters(self.wiring, self.seed)
        return self._parameters

    @property
    def in_features(self) -> int:
        return self.wiring.in_features

    @property
    def n_neurons(self) -> int:
        return self.wiring.n_neurons

    @property
    def out_features(self) -> int:
        return self.wiring.out_features

    @property
    def n_units(self) -> int:
        """Hidden state size: n_neurons + out_features."""
        return self.wiring.n_neurons + self.wiring.out_features

    @property
    def out_sizes(self) -> list[int]:
        """Neurons per layer (inter, command, motor): how the hidden state splits."""
        return [n for _, n in layer_sizes(self.wiring.counts)]

    @property
    def total_params(self) -> int:
        return total_parameters(self.wiring)

    @property
    def active_params(self) -> int:
        return active_parameters(self.wiring)

    def prefers_compiled(self, batch: int) -> bool:
        return prefers_compiled(self.wiring, batch)

    def kernel_weights(self) -> list[np.ndarray]:
        """Per layer the fused masked weights transposed to (inputs + n, 4 n) and the fused
        biases, as the compiled loop takes them: heads [g, h, f_to_g + f_to_h, proj], the two
        gate heads added in float32 as ``NCPLiquidCell.fused`` adds them."""
        if self._kernel is None:
            arrays = []
            for layer, mask in self.wiring.arrays.items():
                p = {h: self.parameters[f"layers.{layer}.{h}.weight"] for h in HEAD_NAMES}
                b = {h: self.parameters[f"layers.{layer}.{h}.bias"] for h in HEAD_NAMES}
                live = input_mask(mask)
                weight = np.concatenate(
                    [p["g_head"], p["h_head"], p["f_head_to_g"] + p["f_head_to_h"], p["proj"]]
                ) * np.tile(live, (4, 1))
                bias = np.concatenate(
                    [b["g_head"], b["h_head"], b["f_head_to_g"] + b["f_head_to_h"], b["proj"]]
                )
                arrays.append(np.ascontiguousarray(weight.T))
                arrays.append(np.ascontiguousarray(bias))
            self._kernel = arrays
        return self._kernel

    def to_network(self, device: Any = None) -> LiquidNCPNetwork:
        """The ``LiquidNCPNetwork`` holding these parameters (imports torch)."""
        from velora.models.lnn.ncp import LiquidNCPNetwork

        if self._parameters is None:  # a spec's: its seeded weights, around the drawn wiring
            w = self.wiring
            network = LiquidNCPNetwork(
                w.in_features,
                w.n_neurons,
                w.out_features,
                sparsity_level=w.sparsity_level,
                seed=self.seed,
                wiring=w,
            )
            return network if device is None else network.to(device)
        return LiquidNCPNetwork.from_tensors(
            self.wiring, self._parameters, seed=self.seed, device=device
        )

    def forward_sequence(
        self,
        x: np.ndarray,
        h_state: np.ndarray,
        timespans: np.ndarray,
        *,
        return_states: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``LiquidNCPNetwork.forward_sequence`` without gradients on float32 arrays: x (batch,
        time, in_features), h_state (batch, n_units), timespans (batch, time); returns y and the
        last state, or with ``return_states`` the state after every step."""
        batch, steps, _ = x.shape
        if steps == 0 or not self.prefers_compiled(batch):
            return self._forward_module(x, h_state, timespans, return_states)
        from velora.kernels.sequence import run_sequence

        shape = (batch, steps, self.n_units) if return_states else (0, 0, 0)
        states = np.empty(shape, dtype=np.float32)
        y, h_last = run_sequence(  # type: ignore[call-arg]
            np.ascontiguousarray(x, dtype=np.float32),
            np.ascontiguousarray(timespans, dtype=np.float32),
            np.ascontiguousarray(h_state, dtype=np.float32),
            *self.kernel_weights(),
            *self.out_sizes,
            states,
        )
        return y, states if return_states else h_last

    def _forward_module(
        self, x: np.ndarray, h: np.ndarray, ts: np.ndarray, return_states: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        if self._module is None:
            self._module = self.to_network()
        return forward_numpy(self._module, x, h, ts, return_states=return_states)


def forward_numpy(
    network: NetworkArrays | LiquidNCPNetwork,
    x: np.ndarray,
    h_state: np.ndarray,
    timespans: np.ndarray,
    *,
    return_states: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``forward_sequence`` without gradients on numpy arrays, for either form of a network
    (a module runs on its own device); returns numpy arrays."""
    if isinstance(network, NetworkArrays):
        return network.forward_sequence(x, h_state, timespans, return_states=return_states)
    import torch

    device = network.device
    with torch.inference_mode():
        y, h = network.forward_sequence(
            torch.from_numpy(x).to(device),
            torch.from_numpy(h_state).to(device),
            torch.from_numpy(timespans).to(device),
            return_states=return_states,
        )
    return y.cpu().numpy(), h.cpu().numpy()


def parameter_arrays(network: NetworkArrays | LiquidNCPNetwork) -> dict[str, np.ndarray]:
    """Either form of a network's float32 parameters as numpy arrays, by name (a module's are
    CPU copies where it lives elsewhere)."""
    if isinstance(network, NetworkArrays):
        return network.parameters
    return {
        name: tensor.numpy()
        for name, tensor in network.to_tensors().items()
        if not name.startswith("wiring.")
    }
