"""The pure-Python twin of kernels/polyline.py (Google's encoded polyline, written from its
documentation), which tests/kernels/test_polyline.py holds the compiled codec to."""

from __future__ import annotations

import numpy as np


def encode_polyline(latlon, precision: int = 5) -> str:
    """Google encoded polyline of (lat, lon) pairs."""
    factor = 10**precision
    out: list[str] = []
    prev_lat = prev_lon = 0
    for lat, lon in latlon:
        ilat = int(round(lat * factor))
        ilon = int(round(lon * factor))
        for delta in (ilat - prev_lat, ilon - prev_lon):
            v = ~(delta << 1) if delta < 0 else delta << 1
            while v >= 0x20:
                out.append(chr((0x20 | (v & 0x1F)) + 63))
                v >>= 5
            out.append(chr(v + 63))
        prev_lat, prev_lon = ilat, ilon
    return "".join(out)


def decode_polyline(text: str, precision: int = 5) -> np.ndarray:
    """Decode a Google encoded polyline into (n, 2) (lat, lon). ValueError when malformed."""
    factor = float(10**precision)
    coords: list[tuple[float, float]] = []
    index = lat = lon = 0
    n = len(text)
    while index < n:
        deltas = []
        for _ in range(2):
            shift = result = 0
            while True:
                if index >= n:
                    raise ValueError("truncated polyline")
                b = ord(text[index]) - 63
                index += 1
                if not 0 <= b < 64:
                    raise ValueError(f"character {text[index - 1]!r} at {index - 1} is not polyline alphabet")
                result |= (b & 0x1F) << shift
                shift += 5
                if b < 0x20:
                    break
                if shift > 60:
                    raise ValueError("polyline value too long")
            deltas.append(~(result >> 1) if result & 1 else result >> 1)
        lat += deltas[0]
        lon += deltas[1]
        coords.append((lat / factor, lon / factor))
    arr = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    if arr.size and (np.abs(arr[:, 0]).max() > 90.0 or np.abs(arr[:, 1]).max() > 180.0):
        raise ValueError("polyline decodes outside lat [-90, 90] / lon [-180, 180]")
    return arr


def encode_integers_ref(values) -> str:
    """Integers in the polyline alphabet: the first value, then each difference to the one before."""
    out: list[str] = []
    prev = 0
    for value in values:
        delta = int(value) - prev
        prev = int(value)
        v = ~(delta << 1) if delta < 0 else delta << 1
        while v >= 0x20:
            out.append(chr((0x20 | (v & 0x1F)) + 63))
            v >>= 5
        out.append(chr(v + 63))
    return "".join(out)
