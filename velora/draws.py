"""Seeded random draws equal bit for bit to PyTorch's CPU generator, without PyTorch.

velora draws its wirings from ``torch.Generator().manual_seed(seed)``. Importing torch takes
longer than everything else ``velora wire`` does, so the draws are made here from the same
Mersenne Twister stream: torch seeds MT19937 with the low 32 bits of the seed exactly as numpy's
legacy ``RandomState`` does, and turns its 32-bit words into integers, permutations and floats by
the rules below (ATen's ``random_from_to``, ``randperm_cpu`` and ``uniform_real``), for the
wirings and for the initial weights ``nn.Linear`` would draw (``uniform``). Tests compare every
draw with torch's over many seeds, bounds and shapes. Without a seed the draws come from torch's
global generator (``TorchDraws``), as they always did.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

_WORDS_PER_PIECE = 1 << 20  # 32-bit words converted at a time, to bound temporary memory
_FLOAT32_BITS, _FLOAT64_BITS = 24, 53  # the mantissa bits torch keeps of a word (two for float64)
_WIDE_RANGE = 1 << 28  # from this range on, torch's randint takes two words per integer
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class Draws(Protocol):
    """The random draws a wiring is made of, in the order they are asked for."""

    def randint(self, high: int, shape: tuple[int, ...]) -> np.ndarray:
        """Integers in [0, high), int64, like ``torch.randint(high, shape)``."""
        ...

    def randperm(self, n: int) -> np.ndarray:
        """A random permutation of 0..n-1, int64, like ``torch.randperm(n)``."""
        ...

    def rand(self, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
        """Uniform floats in [0, 1), like ``torch.rand(shape, dtype=...)``."""
        ...

    def uniform(self, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
        """Uniform float32 in [low, high), like ``torch.empty(shape).uniform_(low, high)``."""
        ...


def _check_uniform_bounds(low: float, high: float) -> None:
    """Refuse the bounds ``uniform_`` refuses on a float32 tensor: each within float32's range,
    ``low <= high`` and ``high - low`` (in double) no larger than float32's largest value."""
    for name, value in (("low", low), ("high", high)):
        if not -_FLOAT32_MAX <= value <= _FLOAT32_MAX:  # NaN fails too
            raise ValueError(f"uniform: {name} must be a float32 value, got {value}")
    if low > high:
        raise ValueError(f"uniform: low must not exceed high, got {low} > {high}")
    if high - low > _FLOAT32_MAX:
        raise ValueError(f"uniform: high - low must be a float32 value, got {high} - {low}")


class SeededDraws:
    """Draws from MT19937 seeded as ``torch.Generator().manual_seed(seed)`` seeds it."""

    def __init__(self, seed: int) -> None:
        # RandomState's integer seeding is MT19937's init_genrand, as torch's; torch keeps the
        # low 32 bits of a 64-bit seed.
        self._state = np.random.RandomState(seed & 0xFFFFFFFF)

    def _words(self, count: int) -> np.ndarray:
        """The next ``count`` 32-bit words of the stream (uint32); a full-range draw returns
        each word as it comes."""
        return self._state.randint(0, 1 << 32, size=count, dtype=np.uint32)

    def randint(self, high: int, shape: tuple[int, ...]) -> np.ndarray:
        if not 1 <= high < 1 << 63:
            raise ValueError(f"randint: high must be in [1, 2**63), got {high}")
        out = np.empty(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
        wide = high >= _WIDE_RANGE
        step = _WORDS_PER_PIECE // 2 if wide else _WORDS_PER_PIECE
        for lo in range(0, out.size, step):
            hi = min(lo + step, out.size)
            if wide:  # a 64-bit word from two, the first the high half
                words = self._words(2 * (hi - lo)).astype(np.uint64)
                value = (words[0::2] << np.uint64(32)) | words[1::2]
                out[lo:hi] = value % np.uint64(high)
            else:
                out[lo:hi] = self._words(hi - lo) % np.uint32(high)
        return out.reshape(shape)

    def randperm(self, n: int) -> np.ndarray:
        # torch's randperm_cpu for n < 2**32 / 20: a Fisher-Yates shuffle from the front, one
        # word per position but the last.
        if n >= (1 << 32) // 20:
            raise ValueError(f"randperm: n must be below {(1 << 32) // 20}, got {n}")
        perm = list(range(n))
        if n > 1:
            offsets = self._words(n - 1).astype(np.int64) % np.arange(n, 1, -1, dtype=np.int64)
            for i, z in enumerate(offsets.tolist()):
                j = i + z
                perm[i], perm[j] = perm[j], perm[i]
        return np.asarray(perm, dtype=np.int64)

    def rand(self, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
        if np.dtype(dtype) == np.float32:
            return self.uniform(shape, 0.0, 1.0)  # torch.rand is uniform_(0, 1)
        if np.dtype(dtype) != np.float64:
            raise ValueError(f"rand: dtype must be float32 or float64, got {dtype}")
        # Two words each, the first the high half: the low 53 bits over 2**53.
        count = int(np.prod(shape, dtype=np.int64))
        out = np.empty(count, dtype=np.float64)
        step = _WORDS_PER_PIECE // 2
        for lo in range(0, count, step):
            hi = min(lo + step, count)
            words = self._words(2 * (hi - lo)).astype(np.uint64)
            value = (words[0::2] << np.uint64(32)) | words[1::2]
            bits = value & np.uint64((1 << _FLOAT64_BITS) - 1)
            out[lo:hi] = bits * 2.0**-_FLOAT64_BITS
        return out.reshape(shape)

    def uniform(self, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
        # ATen's CPU uniform_kernel on float32: the bounds cast to float32 and their difference
        # taken in float32; per value one word, its low 24 bits over 2**24, then
        # x * (high - low) + low in double, rounded to float32 at the store, where a value
        # that rounded up to high becomes low.
        _check_uniform_bounds(low, high)
        low32, high32 = np.float32(low), np.float32(high)
        span = float(np.float32(high32 - low32))
        count = int(np.prod(shape, dtype=np.int64))
        out = np.empty(count, dtype=np.float32)
        for lo in range(0, count, _WORDS_PER_PIECE):
            hi = min(lo + _WORDS_PER_PIECE, count)
            x = (self._words(hi - lo) & np.uint32((1 << _FLOAT32_BITS) - 1)).astype(np.float64)
            x *= 2.0**-_FLOAT32_BITS  # in place: a network's largest head adds little memory
            x *= span
            x += float(low32)
            out[lo:hi] = x
        out[out == high32] = low32
        return out.reshape(shape)


class TorchDraws:
    """Draws from torch's global generator (``torch.manual_seed``, ``velora.set_seed``)."""

    def __init__(self) -> None:
        import torch

        self._torch = torch

    def randint(self, high: int, shape: tuple[int, ...]) -> np.ndarray:
        return self._torch.randint(high, shape).numpy()

    def randperm(self, n: int) -> np.ndarray:
        return self._torch.randperm(n).numpy()

    def rand(self, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
        kind = self._torch.float64 if np.dtype(dtype) == np.float64 else self._torch.float32
        return self._torch.rand(shape, dtype=kind).numpy()

    def uniform(self, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
        _check_uniform_bounds(low, high)
        return self._torch.empty(shape).uniform_(low, high).numpy()


def draws_for(seed: int | None) -> Draws:
    """Seeded draws for a seed, torch's global generator without one."""
    return TorchDraws() if seed is None else SeededDraws(seed)
