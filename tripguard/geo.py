"""Route geometry at the edges: encoded polylines and GeoJSON LineStrings.

Coordinates inside tripguard are (lat, lon) degrees, WGS 84 (EPSG:4326), as float64 arrays of
shape (n, 2). GeoJSON stores [lon, lat]; the encoded polyline stores lat first.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def encode_polyline(latlon: np.ndarray | list, precision: int = 5) -> str:
    """Google encoded polyline of (lat, lon) pairs (the compiled encoder, kernels/polyline.py)."""
    from tripguard.kernels.polyline import encode

    arr = np.asarray(latlon, dtype=np.float64).reshape(-1, 2)
    return encode(arr[:, 0], arr[:, 1], precision)


def decode_polyline(text: str, precision: int = 5) -> np.ndarray:
    """Decode a Google encoded polyline into (n, 2) (lat, lon) (compiled: every trip_started's
    route is decoded). ValueError when malformed or outside lat [-90, 90] / lon [-180, 180]."""
    from tripguard.kernels.polyline import decode

    arr = decode(text, precision)
    if arr.size and (np.abs(arr[:, 0]).max() > 90.0 or np.abs(arr[:, 1]).max() > 180.0):
        raise ValueError("polyline decodes outside lat [-90, 90] / lon [-180, 180]")
    return arr


def route_latlon(planned_route: Any) -> np.ndarray | None:
    """A trip_started planned_route (encoded polyline or GeoJSON LineString) as (n, 2) (lat, lon)."""
    if planned_route is None:
        return None
    if isinstance(planned_route, str):
        arr = decode_polyline(planned_route)
    else:
        coords = planned_route["coordinates"] if isinstance(planned_route, dict) else planned_route.coordinates
        arr = np.asarray([(c[1], c[0]) for c in coords], dtype=np.float64).reshape(-1, 2)
        if arr.size and (np.abs(arr[:, 0]).max() > 90.0 or np.abs(arr[:, 1]).max() > 180.0):
            raise ValueError("coordinates outside lat [-90, 90] / lon [-180, 180] (GeoJSON order is [lon, lat])")
    if len(arr) < 2:
        raise ValueError("a route needs at least two points")
    return arr


def encode_polyline_array(lat: np.ndarray, lon: np.ndarray, precision: int = 5) -> str:
    """encode_polyline for (lat, lon) arrays (verdicts carry every trip's path)."""
    from tripguard.kernels.polyline import encode

    return encode(lat, lon, precision)


def route_length_m(route: np.ndarray) -> float:
    """Great-circle length of a (lat, lon) polyline, metres."""
    from tripguard.kernels.geo import path_length_m

    return float(path_length_m(np.ascontiguousarray(route[:, 0]), np.ascontiguousarray(route[:, 1])))


def encode_integers(values) -> str:
    """Integers in the polyline alphabet: the first value, then each difference to the one
    before (a verdict's fix times in seconds: about one character per fix; compiled,
    kernels/polyline.py)."""
    from tripguard.kernels.polyline import encode_integers as encode

    return encode(values)


def decode_integers(text: str) -> list[int]:
    """The inverse of encode_integers. ValueError when malformed."""
    from tripguard.kernels.polyline import decode_integers as decode

    return decode(text).tolist()  # type: ignore[no-any-return]
