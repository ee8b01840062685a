"""The pure-Python twin of kernels/polyline.py (Google's encoded polyline, written from its
documentation), which tests/kernels/test_polyline.py holds the compiled codec to."""

from __future__ import annotations

import numpy as np


def _write_signed(delta: int, out: list[str]) -> None:
    """One zigzag varint of the polyline alphabet."""
    v = ~(delta << 1) if delta < 0 else delta << 1
    while v >= 0x20:
        out.append(chr((0x20 | (v & 0x1F)) + 63))
        v >>= 5
    out.append(chr(v + 63))


def _read_signed(text: str, index: int, what: str) -> tuple[int, int]:
    """The zigzag varint at text[index]: (value, the index after it). ValueError when malformed."""
    shift = result = 0
    while True:
        if index >= len(text):
            raise ValueError(f"truncated {what}")
        b = ord(text[index]) - 63
        index += 1
        if not 0 <= b < 64:
            raise ValueError(f"character {text[index - 1]!r} at {index - 1} is not polyline alphabet")
        result |= (b & 0x1F) << shift
        shift += 5
        if b < 0x20:
            break
        if shift > 60:
            raise ValueError(f"{what} value too long")
    return (~(result >> 1) if result & 1 else result >> 1), index


def encode_polyline(latlon, precision: int = 5) -> str:
    """Google encoded polyline of (lat, lon) pairs."""
    factor = 10**precision
    out: list[str] = []
    prev_lat = prev_lon = 0
    for lat, lon in latlon:
        ilat = int(round(lat * factor))
        ilon = int(round(lon * factor))
        _write_signed(ilat - prev_lat, out)
        _write_signed(ilon - prev_lon, out)
        prev_lat, prev_lon = ilat, ilon
    return "".join(out)


def encode_integers(values) -> str:
    """Integers as a one-coordinate polyline: the first value, then differences."""
    out: list[str] = []
    prev = 0
    for value in values:
        _write_signed(int(value) - prev, out)
        prev = int(value)
    return "".join(out)


def decode_integers(text: str) -> list[int]:
    """The inverse of encode_integers. ValueError when malformed."""
    values: list[int] = []
    index = prev = 0
    while index < len(text):
        delta, index = _read_signed(text, index, "integer sequence")
        prev += delta
        values.append(prev)
    return values


def decode_polyline(text: str, precision: int = 5) -> np.ndarray:
    """Decode a Google encoded polyline into (n, 2) (lat, lon). ValueError when malformed."""
    factor = float(10**precision)
    coords: list[tuple[float, float]] = []
    index = lat = lon = 0
    while index < len(text):
        dlat, index = _read_signed(text, index, "polyline")
        dlon, index = _read_signed(text, index, "polyline")
        lat += dlat
        lon += dlon
        coords.append((lat / factor, lon / factor))
    arr = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    if arr.size and (np.abs(arr[:, 0]).max() > 90.0 or np.abs(arr[:, 1]).max() > 180.0):
        raise ValueError("polyline decodes outside lat [-90, 90] / lon [-180, 180]")
    return arr
