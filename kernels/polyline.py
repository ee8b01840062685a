"""Google encoded polyline of (lat, lon) arrays, and integer sequences in the same alphabet,
compiled: every verdict carries its trip's path and the times of its fixes.

Its pure-Python twin is tests/kernels/polyline_ref.py (tests/kernels/test_polyline.py compares them)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._jit import njit, njit_exact
from ._types import F64, I64, U8


@njit
def _put(delta: int, out: U8, k: int) -> int:
    """One zigzag varint of the polyline alphabet at out[k]; the position after it."""
    v = ~(delta << 1) if delta < 0 else delta << 1
    while v >= 0x20:
        out[k] = (0x20 | (v & 0x1F)) + 63
        k += 1
        v >>= 5
    out[k] = v + 63
    return k + 1


@njit
def _encode(values: I64, out: U8) -> int:
    """Rows of integers, each column as differences to the row before, in the polyline alphabet."""
    k = 0
    dims = values.shape[1]
    for i in range(values.shape[0]):
        for c in range(dims):
            k = _put(values[i, c] - (values[i - 1, c] if i > 0 else 0), out, k)
    return k


@njit_exact
def _encode_latlon(lat: F64, lon: F64, factor: float, out: U8) -> int:
    """The polyline of lat/lon degrees in one pass: each rounded to an integer number of
    1/factor (half to even, as numpy.round) and written as the difference to the point before.
    Exact (no fastmath): one bit of lat * factor decides a rounding."""
    k = 0
    last_lat = 0
    last_lon = 0
    for i in range(lat.shape[0]):
        a = int(np.rint(lat[i] * factor))
        b = int(np.rint(lon[i] * factor))
        k = _put(a - last_lat, out, k)
        k = _put(b - last_lon, out, k)
        last_lat, last_lon = a, b
    return k


def _encode_rows(values: I64) -> str:
    out = np.empty(values.size * 13, np.uint8)  # a 64-bit difference takes at most 13 characters
    return out[: _encode(values, out)].tobytes().decode("ascii")


def encode(lat: ArrayLike, lon: ArrayLike, precision: int = 5) -> str:
    """The encoded polyline of float64 lat/lon arrays (degrees), as str."""
    la = np.ascontiguousarray(lat, dtype=np.float64)
    lo = np.ascontiguousarray(lon, dtype=np.float64)
    if la.shape != lo.shape or la.ndim != 1:
        raise ValueError("lat and lon must be 1-D arrays of the same length")
    out = np.empty(la.size * 26, np.uint8)  # a 64-bit difference takes at most 13 characters
    return out[: _encode_latlon(la, lo, float(10**precision), out)].tobytes().decode("ascii")


def encode_integers(values: ArrayLike) -> str:
    """Integers in the polyline alphabet: the first value, then each difference to the one
    before (a verdict's fix times in seconds: about one character per fix)."""
    return _encode_rows(np.asarray(values, dtype=np.int64).reshape(-1, 1))


ERR_TRUNCATED = 1
ERR_CHARACTER = 2
ERR_TOO_LONG = 3


@njit
def _decode(chars: U8, out: I64) -> tuple[int, int, int]:
    """Rows of out.shape[1] integers (each column summed from its differences); returns (rows,
    error code, position), the error code 0 when the text is well formed."""
    n = chars.shape[0]
    dims = out.shape[1]
    i = 0
    k = 0
    while i < n:
        for c in range(dims):
            shift = 0
            result = 0
            while True:
                if i >= n:
                    return k, ERR_TRUNCATED, i
                b = int(chars[i]) - 63
                i += 1
                if b < 0 or b >= 64:
                    return k, ERR_CHARACTER, i - 1
                result |= (b & 0x1F) << shift
                shift += 5
                if b < 0x20:
                    break
                if shift > 60:
                    return k, ERR_TOO_LONG, i - 1
            delta = ~(result >> 1) if result & 1 else result >> 1
            out[k, c] = (out[k - 1, c] if k > 0 else 0) + delta
        k += 1
    return k, 0, i


def _decode_rows(text: str, dims: int, what: str) -> I64:
    try:
        chars = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        raise ValueError(f"a {what} is ASCII text") from None
    out = np.empty((chars.size // dims + 1, dims), np.int64)
    n, err, pos = _decode(chars, out)
    if err == ERR_TRUNCATED:
        raise ValueError(f"truncated {what}")
    if err == ERR_CHARACTER:
        raise ValueError(f"character {text[pos]!r} at {pos} is not polyline alphabet")
    if err == ERR_TOO_LONG:
        raise ValueError(f"{what} value too long")
    return out[:n]


def decode(text: str, precision: int = 5) -> F64:
    """(n, 2) lat/lon of an encoded polyline; ValueError (with the position) when malformed."""
    return _decode_rows(text, 2, "polyline") / float(10**precision)


def decode_integers(text: str) -> I64:
    """The inverse of encode_integers, as an int64 array; ValueError when malformed."""
    return _decode_rows(text, 1, "integer sequence")[:, 0]
