"""Great-circle distance on the WGS 84 mean sphere, in metres."""

import math

import numpy as np

from ._jit import njit

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius
DEG = math.pi / 180.0


@njit
def haversine_m(lat1, lon1, lat2, lon2):
    """Distance in metres between two (lat, lon) points in degrees. NaN in, NaN out."""
    p1 = lat1 * DEG
    p2 = lat2 * DEG
    s_dlat = math.sin((p2 - p1) * 0.5)
    s_dlon = math.sin((lon2 - lon1) * DEG * 0.5)
    h = s_dlat * s_dlat + math.cos(p1) * math.cos(p2) * s_dlon * s_dlon
    if h > 1.0:  # rounding at antipodes; written so that NaN passes through
        h = 1.0
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def haversine_m_np(lat1, lon1, lat2, lon2):
    """Numpy twin of haversine_m (vectorised, broadcasting)."""
    p1 = np.radians(lat1)
    p2 = np.radians(lat2)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(1.0, h)))
