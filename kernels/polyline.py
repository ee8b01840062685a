"""Google encoded polyline of (lat, lon) arrays, compiled: every verdict carries its trip's path.

Its pure-Python twin is tests/kernels/polyline_ref.py (tests/kernels/test_polyline.py compares them)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._jit import njit, njit_exact
from ._types import F64, I64, U8


@njit(inline="always")
def _put(delta: int, out: U8, k: int) -> int:
    """One zigzag varint of the polyline alphabet at out[k]; returns the position after it."""
    v = ~(delta << 1) if delta < 0 else delta << 1
    while v >= 0x20:
        out[k] = (0x20 | (v & 0x1F)) + 63
        k += 1
        v >>= 5
    out[k] = v + 63
    return k + 1


@njit
def _encode(lat: F64, lon: F64, factor: float, out: U8) -> int:
    k = 0
    prev_a = 0
    prev_b = 0
    for i in range(lat.shape[0]):
        a = int(np.round(lat[i] * factor))
        b = int(np.round(lon[i] * factor))
        k = _put(a - prev_a, out, k)
        k = _put(b - prev_b, out, k)
        prev_a = a
        prev_b = b
    return k


def encode(lat: ArrayLike, lon: ArrayLike, precision: int = 5) -> str:
    """The encoded polyline of float64 lat/lon arrays (degrees), as str."""
    la = np.ascontiguousarray(lat, dtype=np.float64)
    lo = np.ascontiguousarray(lon, dtype=np.float64)
    if la.shape != lo.shape or la.ndim != 1:
        raise ValueError("lat and lon must be 1-D arrays of the same length")
    out = np.empty(la.size * 2 * 7, np.uint8)  # a coordinate difference takes at most 7 characters
    n = _encode(la, lo, float(10**precision), out)
    return out[:n].tobytes().decode("ascii")


@njit
def _encode_integers(values: I64, out: U8) -> int:
    k = 0
    prev = 0
    for i in range(values.shape[0]):
        k = _put(values[i] - prev, out, k)
        prev = values[i]
    return k


def encode_integers(values: ArrayLike) -> str:
    """Integers in the polyline alphabet: the first value, then each difference to the one before
    (every verdict carries its fix times this way). Differences must fit in int64."""
    v = np.ascontiguousarray(values, dtype=np.int64)
    if v.ndim != 1:
        raise ValueError("values must be a 1-D array")
    out = np.empty(v.size * 13, np.uint8)  # a 64-bit zigzag difference takes at most 13 characters
    n = _encode_integers(v, out)
    return out[:n].tobytes().decode("ascii")


ERR_TRUNCATED = 1
ERR_CHARACTER = 2
ERR_TOO_LONG = 3


@njit_exact  # a division, not fastmath's reciprocal: the same digits as the pure-Python decoder
def _decode(chars: U8, factor: float, out: F64) -> tuple[int, int, int]:
    """Returns (points, error code, position); error code 0 when the text is well formed."""
    n = chars.shape[0]
    i = 0
    k = 0
    lat = 0
    lon = 0
    while i < n:
        for c in range(2):
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
            if c == 0:
                lat += delta
            else:
                lon += delta
        out[k, 0] = lat / factor
        out[k, 1] = lon / factor
        k += 1
    return k, 0, i


def decode(text: str, precision: int = 5) -> F64:
    """(n, 2) lat/lon of an encoded polyline; ValueError (with the position) when malformed."""
    try:
        chars = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        raise ValueError("a polyline is ASCII text") from None
    out = np.empty((chars.size // 2 + 1, 2), np.float64)
    n, err, pos = _decode(chars, float(10**precision), out)
    if err == ERR_TRUNCATED:
        raise ValueError("truncated polyline")
    if err == ERR_CHARACTER:
        raise ValueError(f"character {text[pos]!r} at {pos} is not polyline alphabet")
    if err == ERR_TOO_LONG:
        raise ValueError("polyline value too long")
    return out[:n]
