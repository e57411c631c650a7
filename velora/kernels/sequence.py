"""Compiled CPU inference loop for a three-cell NCP network (numba, cached on disk).

The loop takes a block of sequences through every time step, so a weight row is read once per
block and step. Blocks are independent: threads of the shared pool run ranges of them at once
(the compiled loop releases the GIL), and results do not depend on the thread count. Gradients
go through ``velora.kernels.backprop`` or the PyTorch loop of ``velora.models.lnn.ncp``.
"""

from itertools import pairwise

import numba
import numpy as np

from velora.kernels import cache, threads
from velora.kernels.step import BLOCK, cfc_layer

# Below this many multiply-adds per call one thread is quicker than handing work to others.
THREADED_MIN_MACS = 2_000_000


@numba.njit(cache=True, nogil=True)
def run_blocks(x, ts, h0, w1, b1, w2, b2, w3, b3, n1, n2, n3, states, y_out, h_out, first, last):
    """Run the sequences of blocks ``first`` to ``last`` (exclusive) of x (B, T, F), elapsed
    times ts (B, T), from state h0 (B, n1+n2+n3), into y_out (B, T, n3) and h_out (last state).

    w_i are masked fused weights transposed to (inputs + n_i, 4 n_i). ``states`` is
    (B, T, n1+n2+n3) to receive the state after every step, or an empty (0, 0, 0) array.
    """
    keep = states.shape[0] > 0
    batch, steps, n_feat = x.shape
    for blk in range(first, last):
        lo = blk * BLOCK
        hi = min(lo + BLOCK, batch)
        rows = hi - lo
        z1 = np.zeros((rows, n_feat + n1), dtype=np.float32)
        z2 = np.zeros((rows, n1 + n2), dtype=np.float32)
        z3 = np.zeros((rows, n2 + n3), dtype=np.float32)
        p1 = np.empty((rows, 4 * n1), dtype=np.float32)
        p2 = np.empty((rows, 4 * n2), dtype=np.float32)
        p3 = np.empty((rows, 4 * n3), dtype=np.float32)
        y1 = np.empty((rows, n1), dtype=np.float32)
        y2 = np.empty((rows, n2), dtype=np.float32)
        y3 = np.empty((rows, n3), dtype=np.float32)
        h1 = np.empty((rows, n1), dtype=np.float32)
        h2 = np.empty((rows, n2), dtype=np.float32)
        h3 = np.empty((rows, n3), dtype=np.float32)
        t = np.empty(rows, dtype=np.float32)
        # g, h~ and the gate of the widest layer: scratch, only the training loop keeps them.
        wide = max(n1, n2, n3)
        g_s = np.empty((rows, wide), dtype=np.float32)
        hh_s = np.empty((rows, wide), dtype=np.float32)
        gate_s = np.empty((rows, wide), dtype=np.float32)
        for r in range(rows):
            for j in range(n1):
                z1[r, n_feat + j] = h0[lo + r, j]
            for j in range(n2):
                z2[r, n1 + j] = h0[lo + r, n1 + j]
            for j in range(n3):
                z3[r, n2 + j] = h0[lo + r, n1 + n2 + j]
        for s in range(steps):
            for r in range(rows):
                t[r] = ts[lo + r, s]
                for f in range(n_feat):
                    z1[r, f] = x[lo + r, s, f]
            cfc_layer(z1, n_feat, w1, b1, n1, t, p1, y1, h1, g_s, hh_s, gate_s)
            for r in range(rows):
                for j in range(n1):
                    z1[r, n_feat + j] = h1[r, j]
                    z2[r, j] = y1[r, j]
            cfc_layer(z2, n1, w2, b2, n2, t, p2, y2, h2, g_s, hh_s, gate_s)
            for r in range(rows):
                for j in range(n2):
                    z2[r, n1 + j] = h2[r, j]
                    z3[r, j] = y2[r, j]
            cfc_layer(z3, n2, w3, b3, n3, t, p3, y3, h3, g_s, hh_s, gate_s)
            for r in range(rows):
                for j in range(n3):
                    z3[r, n2 + j] = h3[r, j]
                    y_out[lo + r, s, j] = y3[r, j]
            if keep:
                for r in range(rows):
                    for j in range(n1):
                        states[lo + r, s, j] = h1[r, j]
                    for j in range(n2):
                        states[lo + r, s, n1 + j] = h2[r, j]
                    for j in range(n3):
                        states[lo + r, s, n1 + n2 + j] = h3[r, j]
        for r in range(rows):
            for j in range(n1):
                h_out[lo + r, j] = z1[r, n_feat + j]
            for j in range(n2):
                h_out[lo + r, n1 + j] = z2[r, n1 + j]
            for j in range(n3):
                h_out[lo + r, n1 + n2 + j] = z3[r, n2 + j]


def run_sequence(x, ts, h0, w1, b1, w2, b2, w3, b3, n1, n2, n3, states):
    """Run x (B, T, F) with elapsed times ts (B, T) from state h0 (B, n1+n2+n3); returns
    y (B, T, n3) and the last state. Arguments as for ``run_blocks``; large calls are split
    over the CPU's cores by blocks of sequences."""
    cache.announce("inference")
    batch, steps, _ = x.shape
    y_out = np.empty((batch, steps, n3), dtype=np.float32)
    h_out = np.empty_like(h0)
    args = (x, ts, h0, w1, b1, w2, b2, w3, b3, n1, n2, n3, states, y_out, h_out)
    n_blocks = (batch + BLOCK - 1) // BLOCK
    workers = min(threads.cpu_count(), n_blocks)
    macs = batch * steps * (w1.size + w2.size + w3.size)
    if workers < 2 or macs < THREADED_MIN_MACS:
        run_blocks(*args, 0, n_blocks)
    else:
        bounds = [n_blocks * k // workers for k in range(workers + 1)]
        jobs = [threads.pool().submit(run_blocks, *args, lo, hi) for lo, hi in pairwise(bounds)]
        for job in jobs:
            job.result()
    cache.mark_ready("inference")
    return y_out, h_out
