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
    The three cells run in a loop over one copy of the step: a third of the code to compile.
    """
    keep = states.shape[0] > 0
    batch, steps, n_feat = x.shape
    weights = (w1, w2, w3)
    biases = (b1, b2, b3)
    sizes = (n1, n2, n3)
    inputs = (n_feat, n1, n2)  # each cell's input width: its z is [inputs, own state]
    offsets = (0, n1, n1 + n2)  # where each cell's state sits in h0, h_out and states
    wide = max(n1, n2, n3)
    for blk in range(first, last):
        lo = blk * BLOCK
        hi = min(lo + BLOCK, batch)
        rows = hi - lo
        zs = (
            np.zeros((rows, n_feat + n1), dtype=np.float32),
            np.zeros((rows, n1 + n2), dtype=np.float32),
            np.zeros((rows, n2 + n3), dtype=np.float32),
        )
        # Scratch sized for the widest cell; a cell uses its first n (4 n) columns.
        pre = np.empty((rows, 4 * wide), dtype=np.float32)
        y = np.empty((rows, wide), dtype=np.float32)
        h = np.empty((rows, wide), dtype=np.float32)
        t = np.empty(rows, dtype=np.float32)
        # g, h~ and the gate: scratch here, only the training loop keeps them.
        g_s = np.empty((rows, wide), dtype=np.float32)
        hh_s = np.empty((rows, wide), dtype=np.float32)
        gate_s = np.empty((rows, wide), dtype=np.float32)
        for cell in range(3):
            z, n_in, off = zs[cell], inputs[cell], offsets[cell]
            for r in range(rows):
                for j in range(sizes[cell]):
                    z[r, n_in + j] = h0[lo + r, off + j]
        for s in range(steps):
            z = zs[0]
            for r in range(rows):
                t[r] = ts[lo + r, s]
                for f in range(n_feat):
                    z[r, f] = x[lo + r, s, f]
            for cell in range(3):
                z, n_in, n = zs[cell], inputs[cell], sizes[cell]
                cfc_layer(z, n_in, weights[cell], biases[cell], n, t, pre, y, h, g_s, hh_s, gate_s)
                for r in range(rows):
                    for j in range(n):
                        z[r, n_in + j] = h[r, j]
                if cell < 2:  # the output is the next cell's input
                    z_next = zs[cell + 1]
                    for r in range(rows):
                        for j in range(n):
                            z_next[r, j] = y[r, j]
                else:
                    for r in range(rows):
                        for j in range(n):
                            y_out[lo + r, s, j] = y[r, j]
                if keep:
                    off = offsets[cell]
                    for r in range(rows):
                        for j in range(n):
                            states[lo + r, s, off + j] = h[r, j]
        for cell in range(3):
            z, n_in, off = zs[cell], inputs[cell], offsets[cell]
            for r in range(rows):
                for j in range(sizes[cell]):
                    h_out[lo + r, off + j] = z[r, n_in + j]


def frozen(a: np.ndarray) -> np.ndarray:
    """``a`` as the one input type the loops are compiled for: float32, C-contiguous and
    read-only. A read-only view where ``a`` already is float32 and contiguous (no copy), so
    writable arrays, read-only ones (safetensors, memory maps) and views all share one compiled
    specialisation instead of each compiling its own."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    view = a.view()
    view.flags.writeable = False
    return view


def run_sequence(x, ts, h0, w1, b1, w2, b2, w3, b3, n1, n2, n3, states):
    """Run x (B, T, F) with elapsed times ts (B, T) from state h0 (B, n1+n2+n3); returns
    y (B, T, n3) and the last state (float32). Arguments as for ``run_blocks``; ``states`` is
    written in place (float32, C-contiguous). Large calls are split over the CPU's cores by
    blocks of sequences."""
    cache.announce("inference")
    x, ts, h0, w1, b1, w2, b2, w3, b3 = map(frozen, (x, ts, h0, w1, b1, w2, b2, w3, b3))
    n1, n2, n3 = int(n1), int(n2), int(n3)
    batch, steps, _ = x.shape
    y_out = np.empty((batch, steps, n3), dtype=np.float32)
    h_out = np.empty(h0.shape, dtype=np.float32)
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
