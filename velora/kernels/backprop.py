"""CPU training loops: a whole window of steps forward and back-propagated through time, as
``torch.autograd.Function``s that take the fused masked weights (``NCPLiquidCell.fused()``), so
gradients reach the heads through the mask exactly as in the PyTorch loop: weights outside the
mask get none.

The PyTorch step loop spends most of its time in per-operator overhead for the small matrices of
an NCP network (about thirty operators per step forward and as many backward).
``CompiledSequence`` runs the window forward in one compiled call (numba, cached), keeping what
the backward pass needs, and back-propagates through time in another. Sequences are processed in
blocks (``BLOCK``) on one thread: training batches are small, and a parallel region costs more
than it gains at these sizes (and much more on a busy machine). Every block accumulates its own
weight gradient and the blocks are summed in order.

Its own matrix products are slower than BLAS's, which counts once a network is large enough for
the multiply-adds to outweigh the overhead: ``BlasSequence`` keeps the step loop in Python with
one BLAS product per layer and step each way, and the weight gradients as one product per layer
over the whole window.
"""

import numba
import numpy as np
import torch

from velora.kernels import cache
from velora.kernels.step import BLOCK, cfc_layer, cfc_mix


@numba.njit(cache=True)
def sequence_forward(x, ts, h0, w1, b1, w2, b2, w3, b3, n1, n2, n3):
    """Like ``velora.kernels.sequence.run_sequence`` and also returns, per layer, every step's
    input z and its g, h~ and gate: z_l (B, T, inputs + n_l), act_l (3, B, T, n_l). The three
    cells run in a loop over one copy of the step, as in the inference loop."""
    batch, steps, nf = x.shape
    dt = x.dtype
    y_out = np.empty((batch, steps, n3), dtype=dt)
    h_out = np.empty_like(h0)
    kept = (
        np.empty((batch, steps, nf + n1), dtype=dt),
        np.empty((batch, steps, n1 + n2), dtype=dt),
        np.empty((batch, steps, n2 + n3), dtype=dt),
    )
    acts = (
        np.empty((3, batch, steps, n1), dtype=dt),
        np.empty((3, batch, steps, n2), dtype=dt),
        np.empty((3, batch, steps, n3), dtype=dt),
    )
    weights = (w1, w2, w3)
    biases = (b1, b2, b3)
    sizes = (n1, n2, n3)
    inputs = (nf, n1, n2)
    offsets = (0, n1, n1 + n2)
    wide = max(n1, n2, n3)
    n_blocks = (batch + BLOCK - 1) // BLOCK
    for blk in range(n_blocks):
        lo = blk * BLOCK
        hi = min(lo + BLOCK, batch)
        rows = hi - lo
        zs = (
            np.zeros((rows, nf + n1), dtype=dt),
            np.zeros((rows, n1 + n2), dtype=dt),
            np.zeros((rows, n2 + n3), dtype=dt),
        )
        pre = np.empty((rows, 4 * wide), dtype=dt)
        y = np.empty((rows, wide), dtype=dt)
        h = np.empty((rows, wide), dtype=dt)
        g_s = np.empty((rows, wide), dtype=dt)
        hh_s = np.empty((rows, wide), dtype=dt)
        gate_s = np.empty((rows, wide), dtype=dt)
        t = np.empty(rows, dtype=dt)
        for cell in range(3):
            z, n_in, off = zs[cell], inputs[cell], offsets[cell]
            for r in range(rows):
                for j in range(sizes[cell]):
                    z[r, n_in + j] = h0[lo + r, off + j]
        for s in range(steps):
            z = zs[0]
            for r in range(rows):
                t[r] = ts[lo + r, s]
                for f in range(nf):
                    z[r, f] = x[lo + r, s, f]
            for cell in range(3):
                z, n_in, n = zs[cell], inputs[cell], sizes[cell]
                keep, act = kept[cell], acts[cell]
                for r in range(rows):
                    for k in range(n_in + n):
                        keep[lo + r, s, k] = z[r, k]
                cfc_layer(z, n_in, weights[cell], biases[cell], n, t, pre, y, h, g_s, hh_s, gate_s)
                for r in range(rows):
                    for j in range(n):
                        act[0, lo + r, s, j] = g_s[r, j]
                        act[1, lo + r, s, j] = hh_s[r, j]
                        act[2, lo + r, s, j] = gate_s[r, j]
                        z[r, n_in + j] = h[r, j]
                if cell < 2:
                    z_next = zs[cell + 1]
                    for r in range(rows):
                        for j in range(n):
                            z_next[r, j] = y[r, j]
                else:
                    for r in range(rows):
                        for j in range(n):
                            y_out[lo + r, s, j] = y[r, j]
        for cell in range(3):
            z, n_in, off = zs[cell], inputs[cell], offsets[cell]
            for r in range(rows):
                for j in range(sizes[cell]):
                    h_out[lo + r, off + j] = z[r, n_in + j]
    return y_out, h_out, kept[0], kept[1], kept[2], acts[0], acts[1], acts[2]


@numba.njit(cache=True, inline="always")
def cfc_grad(g, hh, gate, t, d_out, d_state):
    """Back through the CfC step of one neuron: from the gradients on its output y (d_out) and
    new state (d_state), and its saved g, h~ and gate, the gradients on its pre-activations
    (a_g, a_h, a_f, a_p)."""
    dnew = d_state + d_out
    return (
        dnew * (1.0 - gate) * (1.0 - g * g),
        dnew * gate * (1.0 - hh * hh),
        dnew * (hh - g) * gate * (1.0 - gate) * t,
        d_out,
    )


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
            da[r, j], da[r, n + j], da[r, 2 * n + j], da[r, 3 * n + j] = cfc_grad(
                g_s[r, j], hh_s[r, j], gate_s[r, j], tr, d_out[r, j], d_state[r, j]
            )
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
    in block order). The cells run in a loop over one copy of the step, last cell first.
    """
    batch, steps = dy.shape[0], dy.shape[1]
    nf = zs1.shape[2] - n1
    dt = dy.dtype
    n_blocks = (batch + BLOCK - 1) // BLOCK
    dx = np.zeros((batch, steps, nf), dtype=dt)
    dh0 = np.empty((batch, n1 + n2 + n3), dtype=dt)
    dws = (
        np.zeros((n_blocks, nf + n1, 4 * n1), dtype=dt),
        np.zeros((n_blocks, n1 + n2, 4 * n2), dtype=dt),
        np.zeros((n_blocks, n2 + n3, 4 * n3), dtype=dt),
    )
    dbs = (
        np.zeros((n_blocks, 4 * n1), dtype=dt),
        np.zeros((n_blocks, 4 * n2), dtype=dt),
        np.zeros((n_blocks, 4 * n3), dtype=dt),
    )
    weights = (w1, w2, w3)
    kept = (zs1, zs2, zs3)
    acts = (a1, a2, a3)
    sizes = (n1, n2, n3)
    inputs = (nf, n1, n2)
    offsets = (0, n1, n1 + n2)
    wide = max(n1, n2, n3)
    for blk in range(n_blocks):
        lo = blk * BLOCK
        hi = min(lo + BLOCK, batch)
        rows = hi - lo
        dss = (
            np.empty((rows, n1), dtype=dt),
            np.empty((rows, n2), dtype=dt),
            np.empty((rows, n3), dtype=dt),
        )
        dzs = (
            np.empty((rows, nf + n1), dtype=dt),
            np.empty((rows, n1 + n2), dtype=dt),
            np.empty((rows, n2 + n3), dtype=dt),
        )
        for cell in range(3):
            ds, off = dss[cell], offsets[cell]
            for r in range(rows):
                for j in range(sizes[cell]):
                    ds[r, j] = dh[lo + r, off + j]
        da = np.empty((rows, 4 * wide), dtype=dt)
        dy_s = np.empty((rows, n3), dtype=dt)
        t = np.empty(rows, dtype=dt)
        for s in range(steps - 1, -1, -1):
            for r in range(rows):
                t[r] = ts[lo + r, s]
                for j in range(n3):
                    dy_s[r, j] = dy[lo + r, s, j]
            for cell in range(2, -1, -1):
                n_in, n, ds, dz = inputs[cell], sizes[cell], dss[cell], dzs[cell]
                act = acts[cell]
                above = dy_s if cell == 2 else dzs[cell + 1]  # the gradient on the output
                _layer_bwd(
                    kept[cell][lo:hi, s], n_in, weights[cell], n, t, act[0, lo:hi, s],
                    act[1, lo:hi, s], act[2, lo:hi, s], above[:, :n], ds, da, dws[cell][blk],
                    dbs[cell][blk], dz,
                )  # fmt: skip
                for r in range(rows):
                    for j in range(n):
                        ds[r, j] = dz[r, n_in + j]
            dz = dzs[0]
            for r in range(rows):
                for f in range(nf):
                    dx[lo + r, s, f] = dz[r, f]
        for cell in range(3):
            ds, off = dss[cell], offsets[cell]
            for r in range(rows):
                for j in range(sizes[cell]):
                    dh0[lo + r, off + j] = ds[r, j]
    return dx, dh0, dws[0], dbs[0], dws[1], dbs[1], dws[2], dbs[2]


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


# The BLAS training loop: the same window forward and backward for networks whose matrix
# products are large enough for BLAS to pay. Every matrix product is one BLAS call (PyTorch's,
# on its intra-op threads); the rest of a step is one numpy tanh and one small compiled loop per
# layer. The loops take whole (steps, batch, ...) buffers and a step index: contiguous arrays
# are the quickest for numba to take, which counts at a few calls per layer and step.


@numba.njit(cache=True)
def cell_forward(acts, s, n, ts, zs, k, outs):
    """The rest of one cell's step ``s`` once the first 2n pre-activations of acts[s]
    (batch, 4n), [a_g, a_h, a_f, a_p], are through tanh: writes the gate over a_f (kept for
    the backward pass), the new state into zs[s + 1, :, k:] and the output a_p + h' into
    outs[s, :, :n]. ts is (steps, batch)."""
    act, t, h_new, out = acts[s], ts[s], zs[s + 1], outs[s]
    for r in range(act.shape[0]):
        tr = t[r]
        for j in range(n):
            gate, new = cfc_mix(act[r, j], act[r, n + j], act[r, 2 * n + j], tr)
            act[r, 2 * n + j] = gate
            h_new[r, k + j] = new
            out[r, j] = act[r, 3 * n + j] + new


@numba.njit(cache=True)
def cell_backward(acts, s, n, ts, d_out, d_state, k, das):
    """The gradients on one cell's pre-activations at step ``s``, das[s] (batch, 4n), from
    those on its output (the first n columns of d_out) and on its new state (d_state[:, k:]),
    and what ``cell_forward`` left in acts[s]: [g, h~, gate]."""
    act, t, da = acts[s], ts[s], das[s]
    for r in range(act.shape[0]):
        tr = t[r]
        for j in range(n):
            da[r, j], da[r, n + j], da[r, 2 * n + j], da[r, 3 * n + j] = cfc_grad(
                act[r, j], act[r, n + j], act[r, 2 * n + j], tr, d_out[r, j], d_state[r, k + j]
            )


class BlasSequence(torch.autograd.Function):
    """``CompiledSequence`` with the matrix products in BLAS: (x, h0, ts, W1, b1, W2, b2, W3, b3)
    -> (y, h_last), differentiable in x, h0 and every W_l, b_l (not in ts); CPU tensors only.

    Forward, per step and layer: a = z W^T + b (one product), tanh (numpy, vectorised) and
    ``cell_forward``; every step's z and [g, h~, gate, a_p] stay in (steps, batch, ...)
    buffers. Backward, per step and layer: ``cell_backward`` and dz = da W (one product); the
    weight gradient of a layer is then one product over the whole window, dW = sum_t da_t^T z_t,
    and its bias gradient one sum.
    """

    @staticmethod
    def forward(ctx, x, h0, ts, w1, b1, w2, b2, w3, b3):
        cache.announce("training")
        batch, steps, n_feat = x.shape
        weights = [w.detach() for w in (w1, w2, w3)]
        biases = [b.detach() for b in (b1, b2, b3)]
        sizes = [b.shape[0] // 4 for b in biases]
        inputs = [n_feat, sizes[0], sizes[1]]
        # zs[l][s] = [layer l's input at step s, its state before step s]; the extra slot at
        # the end receives the last state.
        zs = [torch.empty(steps + 1, batch, k + n) for k, n in zip(inputs, sizes, strict=True)]
        zs[0][:steps, :, :n_feat] = x.detach().transpose(0, 1)
        for z, k, h in zip(zs, inputs, h0.detach().split(sizes, dim=1), strict=True):
            z[0, :, k:] = h
        acts = [torch.empty(steps, batch, 4 * n) for n in sizes]
        for act, b in zip(acts, biases, strict=True):
            act.copy_(b)  # the bias: each step adds its product in place
        y = torch.empty(steps, batch, sizes[2])
        ts_t = ts.detach().T.contiguous().numpy()
        outs = [zs[1].numpy(), zs[2].numpy(), y.numpy()]
        layers = []  # per layer: what its steps work on
        for n, k, w, z, act, out in zip(sizes, inputs, weights, zs, acts, outs, strict=True):
            act_np = act.numpy()
            w_t = w.T.contiguous()  # (inputs + n, 4n): a little quicker in BLAS than w.T
            tanh_views = list(act_np[:, :, : 2 * n])
            layers.append(
                (n, k, w_t, z.unbind(0), act.unbind(0), tanh_views, act_np, z.numpy(), out)
            )
        for s in range(steps):
            for n, k, w_t, z_s, act_s, tanh_s, act_np, z_np, out_np in layers:
                act_s[s].addmm_(z_s[s], w_t)
                np.tanh(tanh_s[s], out=tanh_s[s])
                cell_forward(act_np, s, n, ts_t, z_np, k, out_np)
        ctx.save_for_backward(w1, w2, w3)
        ctx.buffers = (zs, acts, ts_t, sizes, inputs)
        h_last = torch.cat([z[steps, :, k:] for z, k in zip(zs, inputs, strict=True)], dim=1)
        return y.transpose(0, 1), h_last

    @staticmethod
    def backward(ctx, dy, dh):
        zs, acts, ts_t, sizes, inputs = ctx.buffers
        weights = [w.detach() for w in ctx.saved_tensors]
        steps, batch = acts[0].shape[:2]
        n_feat = inputs[0]
        need_x = ctx.needs_input_grad[0]
        dy_t = dy.detach().transpose(0, 1).contiguous().numpy()
        das = [torch.empty(steps, batch, 4 * n) for n in sizes]
        # dz = da W: the gradients on a layer's input (columns :k) and previous state (k:).
        # Layer 1 keeps every step's when x needs a gradient, else takes the state part alone.
        dzs = [torch.empty(batch, k + n) for k, n in zip(inputs[1:], sizes[1:], strict=True)]
        if need_x:
            dz1 = torch.empty(steps, batch, n_feat + sizes[0])
            back1 = (weights[0], n_feat, list(dz1.unbind(0)), list(dz1.numpy()))
        else:
            dz1 = torch.empty(batch, sizes[0])
            back1 = (weights[0][:, n_feat:], 0, [dz1] * steps, [dz1.numpy()] * steps)
        layers = [
            (2, weights[2], inputs[2], [dzs[1]] * steps, [dzs[1].numpy()] * steps),
            (1, weights[1], inputs[1], [dzs[0]] * steps, [dzs[0].numpy()] * steps),
            (0, *back1),
        ]
        per_layer = [
            (n, act.numpy(), da.unbind(0), da.numpy())
            for n, act, da in zip(sizes, acts, das, strict=True)
        ]
        # Where each layer's gradient on its new state is: (array, first column).
        d_state = [(np.ascontiguousarray(part.numpy()), 0) for part in dh.detach().split(sizes, 1)]
        for s in range(steps - 1, -1, -1):
            d_out = dy_t[s]
            for i, w, k, dz_s, dz_np in layers:
                n, act_np, da_s, da_np = per_layer[i]
                state, first = d_state[i]
                cell_backward(act_np, s, n, ts_t, d_out, state, first, da_np)
                torch.mm(da_s[s], w, out=dz_s[s])
                d_out = dz_np[s]
                d_state[i] = (d_out, k)
        grads: list[torch.Tensor | None] = [
            dz1[:, :, :n_feat].transpose(0, 1) if need_x else None,
            torch.from_numpy(np.concatenate([a[:, k:] for a, k in d_state], axis=1))
            if ctx.needs_input_grad[1]
            else None,
            None,
        ]
        for i, (z, da, k, n) in enumerate(zip(zs, das, inputs, sizes, strict=True)):
            flat = da.view(steps * batch, 4 * n)
            wanted = ctx.needs_input_grad[3 + 2 * i]
            grads.append(flat.T.mm(z[:steps].view(steps * batch, k + n)) if wanted else None)
            grads.append(flat.sum(0) if ctx.needs_input_grad[4 + 2 * i] else None)
        cache.mark_ready("training")
        return tuple(grads)
