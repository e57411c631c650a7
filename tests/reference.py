"""An independent numpy implementation of the cell and network equations, for tests."""

import numpy as np
import torch

HEADS = ("g_head", "h_head", "f_head_to_g", "f_head_to_h", "proj")


def sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def cell_params(cell) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each head's raw weight and bias in float64."""
    return {
        name: (
            getattr(cell, name).weight.detach().double().numpy(),
            getattr(cell, name).bias.detach().double().numpy(),
        )
        for name in HEADS
    }


def cell_step(cell, mask: np.ndarray, x: np.ndarray, h: np.ndarray, t) -> tuple:
    """The five-head equations, float64, with the mask built here from the signed layer mask."""
    n = h.shape[1]
    full = np.concatenate([np.abs(mask).T, np.ones((n, n))], axis=1)
    z = np.concatenate([x, h], axis=1)
    a = {k: z @ (w * full).T + b for k, (w, b) in cell_params(cell).items()}
    t = np.asarray(t, dtype=np.float64).reshape(-1, 1) if np.ndim(t) else float(t)
    g, hh = np.tanh(a["g_head"]), np.tanh(a["h_head"])
    gate = sigmoid((a["f_head_to_g"] + a["f_head_to_h"]) * t)
    new_h = g * (1 - gate) + hh * gate
    return a["proj"] + new_h, new_h


def network_sequence(net, x: np.ndarray, ts: np.ndarray | None = None) -> tuple:
    """Run a LiquidNCPNetwork's equations over x (B, T, F) from a zero state, float64."""
    masks = net.wiring.masks
    layer_masks = [m.numpy() for m in (masks.inter, masks.command, masks.motor)]
    cells = list(net.layers.values())
    batch, steps, _ = x.shape
    states = [np.zeros((batch, c.n_hidden)) for c in cells]
    ys = []
    for s in range(steps):
        inputs = x[:, s].astype(np.float64)
        t = 1.0 if ts is None else ts[:, s]
        for i, (cell, mask) in enumerate(zip(cells, layer_masks, strict=True)):
            inputs, states[i] = cell_step(cell, mask, inputs, states[i], t)
        ys.append(inputs)
    return np.stack(ys, axis=1), np.concatenate(states, axis=1)


def as_np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


SYNAPSE_LAYERS = {"sensory->inter": "inter", "inter->command": "command", "command->motor": "motor"}


def synapse_table(tensors: dict[str, np.ndarray]) -> list[dict]:
    """Every synapse of a checkpoint's tensors (as read with safetensors.numpy), plain loops:
    the masks give the synapses, the five heads' weights W[target, source] their strength
    sqrt(sum of squares). In layer order, then by (source, target)."""
    out = []
    for name, layer in SYNAPSE_LAYERS.items():
        mask = tensors[f"wiring.{layer}"]
        for source in range(mask.shape[0]):
            for target in range(mask.shape[1]):
                if mask[source, target] == 0:
                    continue
                total = 0.0
                for head in HEADS:
                    w = float(tensors[f"layers.{layer}.{head}.weight"][target, source])
                    total += w * w
                out.append(
                    {
                        "layer": name,
                        "source": source,
                        "target": target,
                        "polarity": int(mask[source, target]),
                        "strength": float(np.sqrt(total)),
                    }
                )
    return out
