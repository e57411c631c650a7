"""The CfC step of one NCP cell, compiled: the one definition the inference and training loops
share (the PyTorch form is ``velora.models.lnn.cell.cfc_update``).

For a block of rows z = [x, h] and fused masked weights W (4n, inputs + n), transposed:
    a = z W^T + b = [a_g, a_h, a_f, a_p]
    g = tanh(a_g), h~ = tanh(a_h), gate = sigmoid(a_f * t)
    h' = g + gate * (h~ - g),  y = a_p + h'
"""

import math

import numba
import numpy as np

BLOCK = 8  # sequences per block: small enough for the pre-activations to stay in L1


@numba.njit(cache=True, inline="always")
def preactivate(z, n_in, weight_t, bias, n, pre):
    """pre = z W^T + b for a block of rows: each weight row is read once for the whole block."""
    rows = z.shape[0]
    width = 4 * n
    for r in range(rows):
        for j in range(width):
            pre[r, j] = bias[j]
    for k in range(n_in + n):
        w = weight_t[k]
        for r in range(rows):
            zk = z[r, k]
            for j in range(width):
                pre[r, j] += zk * w[j]


@numba.njit(cache=True, inline="always")
def cfc_mix(g, hh, a_f, t):
    """The step after the two tanh, for one neuron: gate = sigmoid(a_f * t) and
    h' = g + gate * (h~ - g); returns (gate, h'). Shared with the BLAS training loop, which
    takes its tanh from numpy."""
    one = np.float32(1.0)
    gate = one / (one + math.exp(-(a_f * t)))
    return gate, g + gate * (hh - g)


@numba.njit(cache=True, inline="always")
def cfc_layer(z, n_in, weight_t, bias, n, t, pre, y, h_new, g_s, hh_s, gate_s):
    """One cell for a block: z (rows, n_in + n) -> y, h_new (rows, n). Keeps g, h~ and the gate
    in g_s, hh_s and gate_s (rows, n) for back-propagation; inference passes scratch arrays."""
    rows = z.shape[0]
    preactivate(z, n_in, weight_t, bias, n, pre)
    for r in range(rows):
        tr = t[r]
        for j in range(n):
            g = math.tanh(pre[r, j])
            hh = math.tanh(pre[r, n + j])
            gate, new = cfc_mix(g, hh, pre[r, 2 * n + j], tr)
            g_s[r, j] = g
            hh_s[r, j] = hh
            gate_s[r, j] = gate
            h_new[r, j] = new
            y[r, j] = pre[r, 3 * n + j] + new
