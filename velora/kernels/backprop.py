"""Compiled CPU training loop: a whole window of steps forward and backward (numba, cached).

The PyTorch step loop spends most of its time in per-operator overhead for the small matrices of
an NCP network (about thirty operators per step forward and as many backward). Here one
``torch.autograd.Function`` runs the window forward in one compiled call, keeping what the
backward pass needs, and back-propagates through time in another. It takes the fused masked
weights (``NCPLiquidCell.fused()``), so gradients reach the heads through the mask exactly as in
the PyTorch loop: weights outside the mask get none.

Sequences are processed in blocks (``BLOCK``) on one thread: training batches are small, and a
parallel region costs more than it gains at these sizes (and much more on a busy machine). Every
block accumulates its own weight gradient and the blocks are summed in order.
"""

import numba
import numpy as np
import torch

from velora.kernels import cache
from velora.kernels.step import BLOCK, cfc_layer


@numba.njit(cache=True)
def sequence_forward(x, ts, h0, w1, b1, w2, b2, w3, b3, n1, n2, n3):
    """Like ``velora.kernels.sequence.run_sequence`` and also returns, per layer, every step's
    input z and its g, h~ and gate: z_l (B, T, inputs + n_l), act_l (3, B, T, n_l)."""
    batch, steps, nf = x.shape
    dt = x.dtype
    y_out = np.empty((batch, steps, n3), dtype=dt)
    h_out = np.empty_like(h0)
    zs1 = np.empty((batch, steps, nf + n1), dtype=dt)
    zs2 = np.empty((batch, steps, n1 + n2), dtype=dt)
    zs3 = np.empty((batch, steps, n2 + n3), dtype=dt)
    a1 = np.empty((3, batch, steps, n1), dtype=dt)
    a2 = np.empty((3, batch, steps, n2), dtype=dt)
    a3 = np.empty((3, batch, steps, n3), dtype=dt)
    n_blocks = (batch + BLOCK - 1) // BLOCK
    for blk in range(n_blocks):
        lo = blk * BLOCK
        hi = min(lo + BLOCK, batch)
        rows = hi - lo
        z1 = np.zeros((rows, nf + n1), dtype=dt)
        z2 = np.zeros((rows, n1 + n2), dtype=dt)
        z3 = np.zeros((rows, n2 + n3), dtype=dt)
        p1 = np.empty((rows, 4 * n1), dtype=dt)
        p2 = np.empty((rows, 4 * n2), dtype=dt)
        p3 = np.empty((rows, 4 * n3), dtype=dt)
        y1 = np.empty((rows, n1), dtype=dt)
        y2 = np.empty((rows, n2), dtype=dt)
        y3 = np.empty((rows, n3), dtype=dt)
        h1 = np.empty((rows, n1), dtype=dt)
        h2 = np.empty((rows, n2), dtype=dt)
        h3 = np.empty((rows, n3), dtype=dt)
        s1 = np.empty((3, rows, n1), dtype=dt)
        s2 = np.empty((3, rows, n2), dtype=dt)
        s3 = np.empty((3, rows, n3), dtype=dt)
        t = np.empty(rows, dtype=dt)
        for r in range(rows):
            for j in range(n1):
                z1[r, nf + j] = h0[lo + r, j]
            for j in range(n2):
                z2[r, n1 + j] = h0[lo + r, n1 + j]
            for j in range(n3):
                z3[r, n2 + j] = h0[lo + r, n1 + n2 + j]
        for s in range(steps):
            for r in range(rows):
                t[r] = ts[lo + r, s]
                for f in range(nf):
                    z1[r, f] = x[lo + r, s, f]
            zs1[lo:hi, s] = z1
            cfc_layer(z1, nf, w1, b1, n1, t, p1, y1, h1, s1[0], s1[1], s1[2])
            for r in range(rows):
                for j in range(n1):
                    z1[r, nf + j] = h1[r, j]
                    z2[r, j] = y1[r, j]
            zs2[lo:hi, s] = z2
            cfc_layer(z2, n1, w2, b2, n2, t, p2, y2, h2, s2[0], s2[1], s2[2])
            for r in range(rows):
                for j in range(n2):
                    z2[r, n1 + j] = h2[r, j]
                    z3[r, j] = y2[r, j]
            zs3[lo:hi, s] = z3
            cfc_layer(z3, n2, w3, b3, n3, t, p3, y3, h3, s3[0], s3[1], s3[2])
            for r in range(rows):
                for j in range(n3):
                    z3[r, n2 + j] = h3[r, j]
                    y_out[lo + r, s, j] = y3[r, j]
            a1[:, lo:hi, s] = s1
            a2[:, lo:hi, s] = s2
            a3[:, lo:hi, s] = s3
        for r in range(rows):
            for j in range(n1):
                h_out[lo + r, j] = z1[r, nf + j]
            for j in range(n2):
                h_out[lo + r, n1 + j] = z2[r, n1 + j]
            for j in range(n3):
                h_out[lo + r, n1 + n2 + j] = z3[r, n2 + j]
    return y_out, h_out, zs1, zs2, zs3, a1, a2, a3


@numba.njit(cache=True, inline="always")
def _layer_bwd(z, n_in, w, n, t, g_s, hh_s, gate_s, d_out, d_state, da, dwt, db, dz):
    """Back through one cell for a block at one step; w is the fused weight (4n, inputs + n).

    d_out: gradient on the cell's output y; d_state: on its new state (both (rows, n)). Adds to
    dwt (inputs + n, 4n) and db (4n,), and writes dz (rows, inputs + n): the gradient on the
    cell's input and on its previous state.
    """
    rows = z.shape[0]
    width = 4 * n
    for r in range(rows):
        tr = t[r]
        for j in range(n):
            g = g_s[r, j]
            hh = hh_s[r, j]
            gate = gate_s[r, j]
            dnew = d_state[r, j] + d_out[r, j]
            da[r, j] = dnew * (1.0 - gate) * (1.0 - g * g)
            da[r, n + j] = dnew * gate * (1.0 - hh * hh)
            da[r, 2 * n + j] = dnew * (hh - g) * gate * (1.0 - gate) * tr
            da[r, 3 * n + j] = d_out[r, j]
    for k in range(n_in + n):
        dw = dwt[k]
        for r in range(rows):
            zk = z[r, k]
            for j in range(width):
                dw[j] += zk * da[r, j]
    # dz = da W: row-wise updates over contiguous rows of W (no reductions, so they vectorise).
    dz[:, :] = 0.0
    for j in range(width):
        wj = w[j]
        for r in range(rows):
            d = da[r, j]
            for k in range(n_in + n):
                dz[r, k] += d * wj[k]
    for r in range(rows):
        for j in range(width):
            db[j] += da[r, j]


@numba.njit(cache=True)
def sequence_backward(
    dy, dh, ts, w1, w2, w3, n1, n2, n3, zs1, zs2, zs3, a1, a2, a3
):  # fmt: skip
    """Back-propagation through time for ``sequence_forward``.

    dy (B, T, n3) and dh (B, n1+n2+n3) are the gradients on its outputs; w_l are the fused
    weights (4 n_l, inputs + n_l), not transposed. Returns the gradients on
    x (B, T, F), on h0, and per block on the transposed weights and biases (summed by the caller
    in block order).
    """
    batch, steps = dy.shape[0], dy.shape[1]
    nf = zs1.shape[2] - n1
    dt = dy.dtype
    n_blocks = (batch + BLOCK - 1) // BLOCK
    dx = np.zeros((batch, steps, nf), dtype=dt)
    dh0 = np.empty((batch, n1 + n2 + n3), dtype=dt)
    dw1 = np.zeros((n_blocks, nf + n1, 4 * n1), dtype=dt)
    dw2 = np.zeros((n_blocks, n1 + n2, 4 * n2), dtype=dt)
    dw3 = np.zeros((n_blocks, n2 + n3, 4 * n3), dtype=dt)
    db1 = np.zeros((n_blocks, 4 * n1), dtype=dt)
    db2 = np.zeros((n_blocks, 4 * n2), dtype=dt)
    db3 = np.zeros((n_blocks, 4 * n3), dtype=dt)
    for blk in range(n_blocks):
        lo = blk * BLOCK
        hi = min(lo + BLOCK, batch)
        rows = hi - lo
        ds1 = np.empty((rows, n1), dtype=dt)
        ds2 = np.empty((rows, n2), dtype=dt)
        ds3 = np.empty((rows, n3), dtype=dt)
        for r in range(rows):
            for j in range(n1):
                ds1[r, j] = dh[lo + r, j]
            for j in range(n2):
                ds2[r, j] = dh[lo + r, n1 + j]
            for j in range(n3):
                ds3[r, j] = dh[lo + r, n1 + n2 + j]
        da1 = np.empty((rows, 4 * n1), dtype=dt)
        da2 = np.empty((rows, 4 * n2), dtype=dt)
        da3 = np.empty((rows, 4 * n3), dtype=dt)
        dz1 = np.empty((rows, nf + n1), dtype=dt)
        dz2 = np.empty((rows, n1 + n2), dtype=dt)
        dz3 = np.empty((rows, n2 + n3), dtype=dt)
        d_out = np.empty((rows, n3), dtype=dt)
        t = np.empty(rows, dtype=dt)
        for s in range(steps - 1, -1, -1):
            for r in range(rows):
                t[r] = ts[lo + r, s]
                for j in range(n3):
                    d_out[r, j] = dy[lo + r, s, j]
            _layer_bwd(
                zs3[lo:hi, s], n2, w3, n3, t, a3[0, lo:hi, s], a3[1, lo:hi, s], a3[2, lo:hi, s],
                d_out, ds3, da3, dw3[blk], db3[blk], dz3,
            )  # fmt: skip
            for r in range(rows):
                for j in range(n3):
                    ds3[r, j] = dz3[r, n2 + j]
            _layer_bwd(
                zs2[lo:hi, s], n1, w2, n2, t, a2[0, lo:hi, s], a2[1, lo:hi, s], a2[2, lo:hi, s],
                dz3[:, :n2], ds2, da2, dw2[blk], db2[blk], dz2,
            )  # fmt: skip
            for r in range(rows):
                for j in range(n2):
                    ds2[r, j] = dz2[r, n1 + j]
            _layer_bwd(
                zs1[lo:hi, s], nf, w1, n1, t, a1[0, lo:hi, s], a1[1, lo:hi, s], a1[2, lo:hi, s],
                dz2[:, :n1], ds1, da1, dw1[blk], db1[blk], dz1,
            )  # fmt: skip
            for r in range(rows):
                for j in range(n1):
                    ds1[r, j] = dz1[r, nf + j]
                for f in range(nf):
                    dx[lo + r, s, f] = dz1[r, f]
        for r in range(rows):
            for j in range(n1):
                dh0[lo + r, j] = ds1[r, j]
            for j in range(n2):
                dh0[lo + r, n1 + j] = ds2[r, j]
            for j in range(n3):
                dh0[lo + r, n1 + n2 + j] = ds3[r, j]
    return dx, dh0, dw1, db1, dw2, db2, dw3, db3


def _np(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().numpy())


class CompiledSequence(torch.autograd.Function):
    """(x, h0, ts, W1, b1, W2, b2, W3, b3) -> (y, h_last) with W_l the fused (4n, in + n)
    masked weights; differentiable in x, h0 and every W_l, b_l (not in ts)."""

    @staticmethod
    def forward(ctx, x, h0, ts, w1, b1, w2, b2, w3, b3):
        cache.announce("training")
        sizes = (b1.shape[0] // 4, b2.shape[0] // 4, b3.shape[0] // 4)
        wts = [_np(w.T) for w in (w1, w2, w3)]
        y, h_last, *saved = sequence_forward(
            _np(x), _np(ts), _np(h0),
            wts[0], _np(b1), wts[1], _np(b2), wts[2], _np(b3), *sizes,
        )  # fmt: skip
        ctx.sizes = sizes
        ctx.ws = [_np(w) for w in (w1, w2, w3)]
        ctx.ts = _np(ts)
        ctx.saved = saved
        return torch.from_numpy(y), torch.from_numpy(h_last)

    @staticmethod
    def backward(ctx, dy, dh):
        dx, dh0, dw1, db1, dw2, db2, dw3, db3 = sequence_backward(
            _np(dy), _np(dh), ctx.ts, *ctx.ws, *ctx.sizes, *ctx.saved
        )
        grads = [torch.from_numpy(dx), torch.from_numpy(dh0), None]
        for dw, db in ((dw1, db1), (dw2, db2), (dw3, db3)):
            grads.append(torch.from_numpy(np.ascontiguousarray(dw.sum(axis=0).T)))
            grads.append(torch.from_numpy(db.sum(axis=0)))
        cache.mark_ready("training")
        return tuple(grads)
