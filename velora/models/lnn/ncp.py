"""LiquidNCPNetwork: three NCP liquid cells (inter, command, motor) chained by one wiring."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Literal, cast

import numpy as np
import torch
from torch import nn

from velora.models import layout
from velora.models.init import initial_parameters
from velora.models.lnn.cell import NCPLiquidCell, cfc_update
from velora.spec import DEFAULT_MAX_MEMORY, NetworkSpec, Spec, check_memory
from velora.wiring import DEFAULT_SPARSITY, LAYER_NAMES, Wiring, layer_sizes

Backend = Literal["auto", "compiled", "blas", "torch"]
BACKENDS = ("auto", "compiled", "blas", "torch")


class LiquidNCPNetwork(nn.Module):
    """A sensory -> inter -> command -> motor liquid network with sparse NCP wiring.

    ``seed`` fixes both the wiring and the initial weights without touching global random state.
    ``wiring`` rebuilds a network around existing masks (the sizes must agree).
    """

    def __init__(
        self,
        in_features: int,
        n_neurons: int,
        out_features: int,
        *,
        sparsity_level: float = DEFAULT_SPARSITY,
        seed: int | None = None,
        device: torch.device | str | None = None,
        wiring: Wiring | None = None,
    ) -> None:
        super().__init__()
        if wiring is None:
            wiring = Wiring(
                in_features, n_neurons, out_features, sparsity_level=sparsity_level, seed=seed
            )
        elif (wiring.in_features, wiring.n_neurons, wiring.out_features) != (
            in_features,
            n_neurons,
            out_features,
        ):
            raise ValueError(
                f"wiring sizes ({wiring.in_features}, {wiring.n_neurons}, "
                f"{wiring.out_features}) do not match ({in_features}, {n_neurons}, {out_features})"
            )
        self.wiring = wiring
        self.in_features = wiring.in_features
        self.n_neurons = wiring.n_neurons
        self.out_features = wiring.out_features
        self.n_units = self.n_neurons + self.out_features
        self.seed = seed

        # Unseeded, nn.Linear draws from torch's global generator; seeded, the weights are
        # velora.models.init's draws (torch's CPU stream after manual_seed(seed), the same on
        # every device, global random state untouched).
        initial = None if seed is None else initial_parameters(wiring, seed)
        cells = []
        for (n_in, n_out), (layer, mask) in zip(
            layer_sizes(wiring.counts), wiring.masks.items(), strict=True
        ):
            prefix = f"layers.{layer}."
            given = None
            if initial is not None:
                given = {
                    k.removeprefix(prefix): v for k, v in initial.items() if k.startswith(prefix)
                }
            cells.append(NCPLiquidCell(n_in, n_out, mask, device=device, initial=given))
        self.layers = nn.ModuleDict(OrderedDict(zip(LAYER_NAMES, cells, strict=True)))
        self.out_sizes = [cell.n_hidden for cell in cells]

    def cells(self) -> list[NCPLiquidCell]:
        """The three cells (inter, command, motor) in order, typed as ``NCPLiquidCell``."""
        return cast("list[NCPLiquidCell]", list(self.layers.values()))

    @property
    def total_params(self) -> int:
        """Number of trainable parameters, masked or not."""
        return sum(p.numel() for p in self.parameters())

    @property
    def active_params(self) -> int:
        """Parameters that the masks leave in effect (weights on synapses and on the recurrent
        blocks, plus every bias): ``velora.models.layout.active_parameters``."""
        return layout.active_parameters(self.wiring)

    @classmethod
    def from_spec(
        cls,
        spec: Spec,
        device: torch.device | str | None = None,
        *,
        max_memory: int | None = DEFAULT_MAX_MEMORY,
    ) -> LiquidNCPNetwork:
        """The seeded network a spec describes, after checking its memory estimate against
        ``max_memory`` bytes (None: no limit)."""
        check_memory(spec, max_memory)
        n, seed, wiring = spec.network, spec.effective_seed, spec.draw_wiring()
        return cls(
            n.in_features,
            n.n_neurons,
            n.out_features,
            sparsity_level=n.sparsity_level,
            seed=seed,
            device=device,
            wiring=wiring,
        )

    def to_spec(self) -> Spec:
        """A spec of this network's sizes, sparsity, wiring design and seed (no names)."""
        network = NetworkSpec(
            self.in_features,
            self.n_neurons,
            self.out_features,
            self.wiring.sparsity_level,
            wiring=self.wiring.spec_design(),
        )
        return Spec(network=network, seed=self.seed)

    @staticmethod
    def parameter_names() -> list[str]:
        """Names of the 30 parameters (``layers.<layer>.<head>.weight|bias``), in a fixed order."""
        return layout.parameter_names()

    @staticmethod
    def parameter_shapes(wiring: Wiring) -> dict[str, tuple[int, ...]]:
        """Name and shape of every parameter of a network with ``wiring``, in a fixed order."""
        return layout.parameter_shapes(wiring)

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """Parameters (float32) and signed masks (``wiring.<layer>``, int32), on the CPU.

        They share memory with the network where they can (no copy); clone them to keep them.
        """
        params = dict(self.named_parameters())
        tensors = {
            name: params[name].detach().to("cpu", torch.float32).contiguous()
            for name in self.parameter_shapes(self.wiring)
        }
        for layer, mask in self.wiring.masks.items():
            tensors[f"wiring.{layer}"] = mask.detach().to("cpu", torch.int32).contiguous()
        return tensors

    @classmethod
    def from_tensors(
        cls,
        wiring: Wiring,
        parameters: dict[str, torch.Tensor] | dict[str, np.ndarray],
        *,
        seed: int | None = None,
        device: torch.device | str | None = None,
    ) -> LiquidNCPNetwork:
        """A network around ``wiring`` holding ``parameters`` (names and shapes as
        ``parameter_shapes``, tensors or numpy arrays); global random state is left alone."""
        with torch.random.fork_rng(devices=[]):
            model = cls(wiring.in_features, wiring.n_neurons, wiring.out_features, wiring=wiring)
        model.seed = seed
        with torch.no_grad():
            params = dict(model.named_parameters())
            for name in cls.parameter_shapes(wiring):
                params[name].copy_(torch.as_tensor(parameters[name]))
        return model if device is None else model.to(device)

    def save(self, path: str | Path, spec: Spec | None = None) -> Path:
        """Save as a velora checkpoint (see ``velora.files.checkpoint.save``); returns the path."""
        from velora.files.checkpoint_file import write_checkpoint

        spec = self.to_spec() if spec is None else spec
        seed = spec.seed if spec.seed is not None else self.seed
        return write_checkpoint(path, self.to_tensors(), spec, seed=seed)

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str | None = None) -> LiquidNCPNetwork:
        """Load a network from a velora checkpoint (see ``velora.files.checkpoint.load``)."""
        from velora.files.checkpoint_file import read_checkpoint

        stored = read_checkpoint(path, cls.parameter_shapes)
        return cls.from_tensors(
            stored.wiring, stored.parameters, seed=stored.metadata.seed, device=device
        )

    def init_state(self, batch: int) -> torch.Tensor:
        """A zero hidden state for ``batch`` sequences."""
        return torch.zeros(batch, self.n_units, device=self.device)

    def _check_state(self, h_state: torch.Tensor | None, batch: int) -> torch.Tensor:
        if h_state is None:
            return self.init_state(batch)
        h_state = torch.as_tensor(h_state, device=self.device).to(torch.float32)
        if tuple(h_state.shape) != (batch, self.n_units):
            raise ValueError(
                f"h_state must have shape (batch, n_units) = ({batch}, {self.n_units}), "
                f"got {tuple(h_state.shape)}"
            )
        return h_state

    def _check_input(self, x: torch.Tensor, dims: int, what: str) -> torch.Tensor:
        x = torch.as_tensor(x)
        if x.dim() != dims or x.shape[-1] != self.in_features:
            raise ValueError(
                f"x must be {dims}-D {what} with {self.in_features} features, "
                f"got shape {tuple(x.shape)}"
            )
        return x.to(device=self.device, dtype=torch.float32)

    def forward(
        self,
        x: torch.Tensor,
        h_state: torch.Tensor | None = None,
        timespans: float | torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One time step for x (batch, in_features); returns (y_pred, h_state).

        y_pred is (batch, out_features), squeezed to (out_features,) for a batch of one.
        """
        x = self._check_input(x, 2, "(batch, features)")
        batch = x.shape[0]
        states = torch.split(self._check_state(h_state, batch), self.out_sizes, dim=1)
        new_states = []
        inputs = x
        for layer, state in zip(self.layers.values(), states, strict=True):
            inputs, h = layer(inputs, state, timespans)
            new_states.append(h)
        y_pred = inputs.squeeze(0) if batch == 1 else inputs
        return y_pred, torch.cat(new_states, dim=1)

    def forward_sequence(
        self,
        x: torch.Tensor,
        h_state: torch.Tensor | None = None,
        timespans: float | torch.Tensor | None = None,
        *,
        return_states: bool = False,
        backend: Backend = "auto",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run x (batch, time, in_features) from ``h_state``; returns y (batch, time, out) and
        the last state (batch, n_units), or with ``return_states`` the state after every step
        (batch, time, n_units).

        ``timespans`` is a float or (batch, time) elapsed times. ``backend``: "compiled" runs the
        step loop compiled on the CPU (with gradients through the compiled
        back-propagation loop); "blas" runs it on the CPU with every matrix product in BLAS and
        a hand-written back-propagation, the quicker one to train larger networks with (no
        ``return_states``); "torch" runs the PyTorch loop (any device, autograd); "auto" takes
        the compiled loop outside autograd on the CPU when ``prefers_compiled(batch)``, else
        the PyTorch loop.
        """
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        x = self._check_input(x, 3, "(batch, time, features)")
        batch, steps, _ = x.shape
        h = self._check_state(h_state, batch)
        ts = self._sequence_timespans(timespans, batch, steps, x)
        needs_grad = torch.is_grad_enabled() and (
            x.requires_grad or h.requires_grad or any(p.requires_grad for p in self.parameters())
        )
        on_cpu = x.device.type == "cpu"
        if backend == "auto":
            compiled = not needs_grad and on_cpu and self.prefers_compiled(batch)
            backend = "compiled" if compiled else "torch"
        elif backend != "torch" and not on_cpu:
            raise ValueError(f"the {backend} loop runs on the CPU, not on {x.device}")
        if backend == "torch" or steps == 0:
            return self._forward_eager(x, h, ts, return_states)
        if backend == "blas":
            if return_states:
                raise ValueError("return_states is not available with backend='blas'")
            return self._forward_blas(x, h, ts)
        if needs_grad:
            if return_states:
                raise ValueError(
                    "return_states is not available with gradients through the "
                    "compiled loop; use backend='torch'"
                )
            return self._forward_compiled_grad(x, h, ts)
        return self._forward_compiled(x, h, ts, return_states)

    def prefers_compiled(self, batch: int) -> bool:
        """Whether the compiled loop beats PyTorch's BLAS for ``batch`` sequences: true unless
        the batch's matmul work per step is large (measured crossover, see
        benchmarks/bench_sequence.py)."""
        return layout.prefers_compiled(self.wiring, batch)

    def training_backend(self, batch: int) -> Backend:
        """The loop that trains ``batch`` sequences quickest (``fit``'s choice): on the CPU the
        compiled loop while the batch's matmul work per step is small, else the BLAS loop
        (measured crossover, see benchmarks/bench_train.py); PyTorch's loop on other devices."""
        if self.device.type != "cpu":
            return "torch"
        return "compiled" if layout.prefers_compiled_training(self.wiring, batch) else "blas"

    @property
    def device(self) -> torch.device:
        """The device of the network's parameters."""
        return next(self.parameters()).device

    def _sequence_timespans(
        self, timespans: float | torch.Tensor | None, batch: int, steps: int, x: torch.Tensor
    ) -> torch.Tensor:
        if timespans is None:
            return torch.ones(batch, steps, device=x.device)
        t = torch.as_tensor(timespans, dtype=torch.float32, device=x.device)
        if t.dim() == 0:
            return t.expand(batch, steps)
        if t.dim() == 3 and t.shape[2] == 1:
            t = t[:, :, 0]
        if tuple(t.shape) != (batch, steps):
            raise ValueError(
                f"timespans must be a float or have shape (batch, time) = ({batch}, {steps}), "
                f"got {tuple(t.shape)}"
            )
        return t

    def _forward_eager(
        self, x: torch.Tensor, h: torch.Tensor, ts: torch.Tensor, return_states: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Step loop in PyTorch (autograd, any device), neurons-major so that every slice of the
        pre-activations is contiguous: a^T = W z^T + b, (4n, batch)."""
        cells = self.cells()
        weights, biases = [], []
        for cell in cells:
            weight, bias = cell.fused()
            weights.append(weight)
            biases.append(bias.unsqueeze(1))
        states = [s.T for s in torch.split(h, self.out_sizes, dim=1)]
        x_t = x.permute(1, 2, 0)  # (time, features, batch)
        ts_t = ts.T
        outputs, history = [], []
        for step in range(x.shape[1]):
            inputs, t = x_t[step], ts_t[step]
            for i, cell in enumerate(cells):
                z = torch.cat([inputs, states[i]], dim=0)
                pre = torch.addmm(biases[i], weights[i], z)
                inputs, states[i] = cfc_update(pre, cell.n_hidden, t, dim=0)
            outputs.append(inputs)
            if return_states:
                history.append(torch.cat(states, dim=0))
        if outputs:
            y = torch.stack(outputs).permute(2, 0, 1)
        else:
            y = x.new_zeros(x.shape[0], 0, self.out_features)
        if return_states:
            if history:
                return y, torch.stack(history).permute(2, 0, 1)
            return y, x.new_zeros(x.shape[0], 0, self.n_units)
        return y, torch.cat([s.T for s in states], dim=1)

    def _compiled_weights(self) -> list[np.ndarray]:
        """Transposed masked weights and biases for the kernel, rebuilt when the cells' change."""
        fused = [cell.fused() for cell in self.cells()]
        key = tuple(id(t) for pair in fused for t in pair)
        cached = getattr(self, "_kernel_cache", None)
        if cached is None or cached[0] != key:
            arrays = []
            for weight, bias in fused:
                arrays.append(np.ascontiguousarray(weight.detach().cpu().numpy().T))
                arrays.append(np.ascontiguousarray(bias.detach().cpu().numpy()))
            # Keep the tensors alive so their ids cannot be reused while the key is held.
            self._kernel_cache = (key, arrays, fused)
            cached = self._kernel_cache
        return cached[1]

    def _forward_compiled(
        self, x: torch.Tensor, h: torch.Tensor, ts: torch.Tensor, return_states: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        from velora.kernels.sequence import run_sequence

        batch, steps, _ = x.shape
        shape = (batch, steps, self.n_units) if return_states else (0, 0, 0)
        states = np.empty(shape, dtype=np.float32)
        # mypy cannot tell the lengths of the two unpacked lists (6 weights, 3 sizes).
        y, h_last = run_sequence(  # type: ignore[call-arg]
            np.ascontiguousarray(x.detach().numpy()),
            np.ascontiguousarray(ts.detach().numpy()),
            np.ascontiguousarray(h.detach().numpy()),
            *self._compiled_weights(),
            *self.out_sizes,
            states,
        )
        return torch.from_numpy(y), torch.from_numpy(states if return_states else h_last)

    def _forward_compiled_grad(
        self, x: torch.Tensor, h: torch.Tensor, ts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The compiled loop with gradients: forward and back-propagation through time each in
        one compiled call (``velora.kernels.backprop``)."""
        from velora.kernels.backprop import CompiledSequence

        return CompiledSequence.apply(x, h, ts.contiguous(), *self._fused_list())

    def _forward_blas(
        self, x: torch.Tensor, h: torch.Tensor, ts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The BLAS loop (``velora.kernels.backprop.BlasSequence``), with or without gradients."""
        from velora.kernels.backprop import BlasSequence

        return BlasSequence.apply(x, h, ts, *self._fused_list())

    def _fused_list(self) -> list[torch.Tensor]:
        """Every cell's fused weight and bias, in order: W1, b1, W2, b2, W3, b3."""
        fused: list[torch.Tensor] = []
        for cell in self.cells():
            fused.extend(cell.fused())
        return fused
