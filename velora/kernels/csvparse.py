"""A compiled parser for plain numeric CSV blocks, exact to the bit or not at all.

``parse_plain`` reads lines (no header) into float32 columns when they are plain: no quotes, no
carriage returns, no empty lines, every line with exactly the header's number of fields, and
every selected field a plain decimal number (optional sign, digits with an optional point,
optional exponent). Each value must come out as the correctly rounded float32, as pyarrow gives:
it is computed only where that is certain (Clinger's fast path in float64, then float32 unless
the float64 sits exactly on a float32 midpoint, where rounding twice could differ). Anything
else makes it decline, and the caller parses the block the slow way, which also gives the exact
error messages. The functions release the GIL, so parts of a block can be parsed in threads.
"""

from __future__ import annotations

import numba
import numpy as np

_COMMA = 44
_NEWLINE = 10
_QUOTE = 34
_CR = 13
_POINT = 46
_MINUS = 45
_PLUS = 43
_MAX_DIGITS = 18  # significant digits that always fit an int64
_MAX_EXACT = 1 << 53  # integers up to this are exact in float64
_POWERS = np.array([10.0**k for k in range(23)])  # exact in float64 up to 10**22


_U8 = np.uint64(8)
_LOW_NIBBLES = np.uint64(0xF0F0F0F0F0F0F0F0)
_ZEROS = np.uint64(0x3030303030303030)
_SIXES = np.uint64(0x0606060606060606)
_BYTE_PAIRS = np.uint64(0x000000FF000000FF)
_MUL1 = np.uint64(100 + (1000000 << 32))
_MUL2 = np.uint64(1 + (10000 << 32))


@numba.njit(cache=True, nogil=True, inline="always")
def _eight(buf: np.ndarray, pos: int) -> int:
    """The value of the eight digits at ``pos``, or -1 if they are not all digits (SWAR)."""
    w = buf[pos : pos + 8]
    v = np.uint64(0)
    for k in range(7, -1, -1):
        v = (v << _U8) | np.uint64(w[k])
    if (v & _LOW_NIBBLES) != _ZEROS or ((v + _SIXES) & _LOW_NIBBLES) != _ZEROS:
        return -1
    v -= _ZEROS
    v = v * np.uint64(10) + (v >> _U8)
    v = ((v & _BYTE_PAIRS) * _MUL1 + ((v >> np.uint64(16)) & _BYTE_PAIRS) * _MUL2) >> np.uint64(32)
    return np.int64(v)  # type: ignore[return-value]  # numba: both returns are int64


@numba.njit(cache=True, nogil=True)
def count_newlines(buf: np.ndarray, lo: int, hi: int) -> int:
    """Number of newline bytes in ``buf[lo:hi]``."""
    count = 0
    part = buf[lo:hi]
    for i in range(part.shape[0]):  # indices from 0: the loop vectorizes
        count += part[i] == _NEWLINE
    return count


@numba.njit(cache=True, nogil=True)
def parse_plain(
    buf: np.ndarray,
    lo: int,
    hi: int,
    row: int,
    dest: np.ndarray,
    x: np.ndarray,
    targets: np.ndarray,
) -> int:
    """Parse the lines ``buf[lo:hi]`` (uint8, ending in a newline) into rows ``row, row + 1,
    ...`` of ``x`` and ``targets`` (float32); the number of lines, or -1 where it declines.

    ``dest[f]`` says where field ``f`` goes: -1 nowhere, ``k < x.shape[1]`` column ``k`` of
    ``x``, otherwise column ``k - x.shape[1]`` of ``targets``. Every scan stops at the final
    newline, so no read goes past ``hi``.
    """
    nx = x.shape[1]
    fields = dest.shape[0]
    first = row
    pos = lo
    while pos < hi:
        if row >= x.shape[0]:
            return -1
        c = buf[pos]
        for f in range(fields):
            d = dest[f]
            if d < 0:  # a field nobody reads: only the tokenizer's special bytes matter
                while c != _COMMA and c != _NEWLINE:
                    if c == _QUOTE or c == _CR:  # noqa: SIM109
                        return -1
                    pos += 1
                    c = buf[pos]
            else:
                negative = c == _MINUS
                if c == _MINUS or c == _PLUS:  # noqa: SIM109
                    pos += 1
                    c = buf[pos]
                mantissa = 0
                start = pos
                while c == 48:  # leading zeros
                    pos += 1
                    c = buf[pos]
                digits = pos
                if pos + 8 <= hi:
                    eight = _eight(buf, pos)
                    if eight >= 0:
                        mantissa = eight
                        pos += 8
                        c = buf[pos]
                while np.uint8(c - 48) < 10:
                    mantissa = mantissa * 10 + (c - 48)
                    pos += 1
                    c = buf[pos]
                digits = pos - digits
                seen = pos > start
                exponent = 0
                if c == _POINT:
                    pos += 1
                    c = buf[pos]
                    fraction = pos
                    if mantissa == 0:
                        while c == 48:
                            pos += 1
                            c = buf[pos]
                    counted = pos
                    if pos + 8 <= hi:
                        eight = _eight(buf, pos)
                        if eight >= 0:
                            mantissa = mantissa * 100000000 + eight
                            pos += 8
                            c = buf[pos]
                    while np.uint8(c - 48) < 10:
                        mantissa = mantissa * 10 + (c - 48)
                        pos += 1
                        c = buf[pos]
                    digits += pos - counted
                    exponent = fraction - pos
                    seen = seen or pos > fraction
                if not seen or digits > _MAX_DIGITS:
                    return -1
                if c == 101 or c == 69:  # 'e' or 'E'
                    pos += 1
                    c = buf[pos]
                    minus = c == _MINUS
                    if c == _MINUS or c == _PLUS:  # noqa: SIM109
                        pos += 1
                        c = buf[pos]
                    power = 0
                    start = pos
                    while np.uint8(c - 48) < 10:
                        if power < 100000:
                            power = power * 10 + (c - 48)
                        pos += 1
                        c = buf[pos]
                    if pos == start:
                        return -1
                    exponent += -power if minus else power
                if mantissa == 0:
                    result = np.float32(0.0)
                else:
                    if mantissa > _MAX_EXACT or exponent > 22 or exponent < -22:
                        return -1
                    if exponent >= 0:
                        value = np.float64(mantissa) * _POWERS[exponent]
                    else:
                        value = np.float64(mantissa) / _POWERS[-exponent]
                    # Its bits, by a scalar view (an array's view takes a second to compile).
                    b = np.float64(value).view(np.uint64)
                    # Below float32's normal range its midpoints sit elsewhere: decline.
                    if (b >> 52) & 0x7FF < 1023 - 126:
                        return -1
                    if b & 0x1FFFFFFF == 0x10000000:  # exactly halfway between two float32
                        return -1
                    result = np.float32(value)
                if negative:
                    result = -result
                if d < nx:
                    x[row, d] = result
                else:
                    targets[row, d - nx] = result
            if f < fields - 1:
                if c != _COMMA:
                    return -1
                pos += 1
                c = buf[pos]
            elif c != _NEWLINE:
                return -1
            else:
                pos += 1
        row += 1
    return row - first
