"""Compiled CPU inference loop for a three-cell NCP network (numba, cached on disk).

The loop takes a block of sequences through every time step, so a weight row is read once per
block and step. Blocks are independent: Python threads run ranges of them at once (the compiled
loop releases the GIL), which compiles in a third of the time numba's own parallel loops take,
and results do not depend on the block size or thread count. Only inference: the autograd path
is the eager PyTorch loop in ``velora.models.lnn.ncp``.
"""

import math
import os
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import numba
import numpy as np

BLOCK = 8  # sequences per thread block: small enough for the pre-activations to stay in L1
# Below this many multiply-adds per call one thread is quicker than handing work to others.
THREADED_MIN_MACS = 2_000_000


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
def _layer(z, n_in, weight_t, bias, n, t, pre, y, h_new):
    """One cell for ``rows`` sequences: z (rows, n_in + n) -> y, h_new (rows, n)."""
    rows = z.shape[0]
    preactivate(z, n_in, weight_t, bias, n, pre)
    for r in range(rows):
        tr = t[r]
        for j in range(n):
            g = math.tanh(pre[r, j])
            hh = math.tanh(pre[r, n + j])
            gate = np.float32(1.0) / (np.float32(1.0) + math.exp(-(pre[r, 2 * n + j] * tr)))
            new = g + gate * (hh - g)
            h_new[r, j] = new
            y[r, j] = pre[r, 3 * n + j] + new


@numba.njit(cache=True, nogil=True, parallel=True)
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
            _layer(z1, n_feat, w1, b1, n1, t, p1, y1, h1)
            for r in range(rows):
                for j in range(n1):
                    z1[r, n_feat + j] = h1[r, j]
                    z2[r, j] = y1[r, j]
            _layer(z2, n1, w2, b2, n2, t, p2, y2, h2)
            for r in range(rows):
                for j in range(n2):
                    z2[r, n1 + j] = h2[r, j]
                    z3[r, j] = y2[r, j]
            _layer(z3, n2, w3, b3, n3, t, p3, y3, h3)
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


_pool: ThreadPoolExecutor | None = None


def _threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def run_sequence(x, ts, h0, w1, b1, w2, b2, w3, b3, n1, n2, n3, states):
    """Run x (B, T, F) with elapsed times ts (B, T) from state h0 (B, n1+n2+n3); returns
    y (B, T, n3) and the last state. Arguments as for ``run_blocks``; large calls are split
    over the CPU's cores by blocks of sequences."""
    global _pool
    batch, steps, _ = x.shape
    y_out = np.empty((batch, steps, n3), dtype=np.float32)
    h_out = np.empty_like(h0)
    args = (x, ts, h0, w1, b1, w2, b2, w3, b3, n1, n2, n3, states, y_out, h_out)
    n_blocks = (batch + BLOCK - 1) // BLOCK
    workers = min(_threads(), n_blocks)
    macs = batch * steps * (w1.size + w2.size + w3.size)
    if workers < 2 or macs < THREADED_MIN_MACS:
        run_blocks(*args, 0, n_blocks)
        return y_out, h_out
    if _pool is None:
        _pool = ThreadPoolExecutor(_threads(), thread_name_prefix="velora-kernel")
    bounds = [n_blocks * k // workers for k in range(workers + 1)]
    jobs = [_pool.submit(run_blocks, *args, lo, hi) for lo, hi in pairwise(bounds)]
    for job in jobs:
        job.result()
    return y_out, h_out


def is_ready(*dispatchers) -> bool:
    """Whether the compiled loops (default: the inference loop) are compiled in this process or
    cached on disk, i.e. whether their first call is quick. Best effort: True when unsure."""
    for dispatcher in dispatchers or (run_blocks,):
        if dispatcher.signatures:
            continue
        try:
            if not dispatcher._cache._cache_file._load_index():
                return False
        except Exception:
            continue
    return True
