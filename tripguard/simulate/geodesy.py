"""Small numpy geodesy for the simulator: haversine distances and a local metric frame.

Trips span a few kilometres, so offsets (noise, detours, translations) are applied in a local
east/north frame in metres around a reference point (equirectangular; error < 0.1 % over 20 km).
"""

from __future__ import annotations

import numpy as np

# one geometry: the kernels' (the simulator measures with the detectors' own distance)
from tripguard.kernels.geo import EARTH_RADIUS_M, M_PER_DEG, local_latlon_np, local_xy_np
from tripguard.kernels.geo import haversine_m_np as haversine_m

__all__ = ["EARTH_RADIUS_M", "haversine_m"]  # re-exported for the simulator and the held-out generator


def path_length_m(lat: np.ndarray, lon: np.ndarray) -> float:
    if len(lat) < 2:
        return 0.0
    return float(haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]).sum())


def cumulative_m(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Cumulative distance along a polyline, starting at 0."""
    out = np.zeros(len(lat))
    if len(lat) > 1:
        out[1:] = np.cumsum(haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]))
    return out


class LocalFrame:
    """East/north metres around (lat0, lon0): the kernels' local projection (kernels/geo.local_xy)
    and its inverse."""

    def __init__(self, lat0: float, lon0: float):
        self.lat0 = float(lat0)
        self.lon0 = float(lon0)
        self.cos_lat0 = float(np.cos(np.radians(lat0)))
        self.m_per_deg_lat = M_PER_DEG
        self.m_per_deg_lon = self.m_per_deg_lat * self.cos_lat0

    def to_xy(self, lat, lon) -> tuple[np.ndarray, np.ndarray]:
        return local_xy_np(
            np.asarray(lat, np.float64), np.asarray(lon, np.float64), self.lat0, self.lon0, self.cos_lat0
        )

    def to_latlon(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        return local_latlon_np(np.asarray(x), np.asarray(y), self.lat0, self.lon0, self.cos_lat0)

    def offset(self, lat, lon, east_m, north_m) -> tuple[np.ndarray, np.ndarray]:
        """Move points by (east_m, north_m) metres."""
        return (
            np.asarray(lat) + np.asarray(north_m) / self.m_per_deg_lat,
            np.asarray(lon) + np.asarray(east_m) / self.m_per_deg_lon,
        )


def bearing_deg(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Initial bearing from point 1 to point 2, degrees in [0, 360)."""
    p1 = np.radians(lat1)
    p2 = np.radians(lat2)
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    y = np.sin(dl) * np.cos(p2)
    x = np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dl)
    return np.mod(np.degrees(np.arctan2(y, x)), 360.0)
