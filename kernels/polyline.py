"""Google encoded polyline of (lat, lon) arrays, compiled: every verdict carries its trip's path.

The pure-Python twin is tripguard.geo.encode_polyline (tests compare them)."""

import numpy as np

from ._jit import njit


@njit
def _encode(lat, lon, factor, out):
    k = 0
    prev_a = 0
    prev_b = 0
    for i in range(lat.shape[0]):
        a = int(np.round(lat[i] * factor))
        b = int(np.round(lon[i] * factor))
        for delta in (a - prev_a, b - prev_b):
            v = ~(delta << 1) if delta < 0 else delta << 1
            while v >= 0x20:
                out[k] = (0x20 | (v & 0x1F)) + 63
                k += 1
                v >>= 5
            out[k] = v + 63
            k += 1
        prev_a = a
        prev_b = b
    return k


def encode(lat, lon, precision=5):
    """The encoded polyline of float64 lat/lon arrays (degrees), as str."""
    lat = np.ascontiguousarray(lat, dtype=np.float64)
    lon = np.ascontiguousarray(lon, dtype=np.float64)
    if lat.shape != lon.shape or lat.ndim != 1:
        raise ValueError("lat and lon must be 1-D arrays of the same length")
    out = np.empty(lat.size * 2 * 7, np.uint8)  # a coordinate difference takes at most 7 characters
    n = _encode(lat, lon, float(10**precision), out)
    return out[:n].tobytes().decode("ascii")
