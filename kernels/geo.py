"""Great-circle distance on the WGS 84 mean sphere, in metres."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._jit import njit, njit_exact

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius
DEG = math.pi / 180.0
M_PER_DEG = EARTH_RADIUS_M * DEG  # metres per degree of latitude (of longitude at the equator)


@njit
def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance in metres between two (lat, lon) points in degrees. NaN in, NaN out."""
    p1 = lat1 * DEG
    p2 = lat2 * DEG
    s_dlat = math.sin((p2 - p1) * 0.5)
    s_dlon = math.sin((lon2 - lon1) * DEG * 0.5)
    h = s_dlat * s_dlat + math.cos(p1) * math.cos(p2) * s_dlon * s_dlon
    if h > 1.0:  # rounding at antipodes; written so that NaN passes through
        h = 1.0
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def haversine_m_np(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Numpy twin of haversine_m (vectorised, broadcasting)."""
    p1 = np.radians(lat1)
    p2 = np.radians(lat2)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(1.0, h)))


@njit
def path_length_m(lat: Any, lon: Any) -> float:
    """Great-circle length of a polyline (haversine_m summed over its steps), metres: a route is
    measured when its trip_started is validated, at every trip start (numpy's temporaries cost
    more than the sum)."""
    total = 0.0
    for i in range(1, lat.shape[0]):
        total += haversine_m(lat[i - 1], lon[i - 1], lat[i], lon[i])
    return total


# ---- the local metric frame ------------------------------------------------------------------------
def local_xy_np(lat: Any, lon: Any, lat0: float, lon0: float, cos_lat0: float) -> tuple[Any, Any]:
    """East and north metres of (lat, lon) from the origin (lat0, lon0), on the origin's local
    equirectangular frame (cos_lat0 = cos(lat0)): the one local projection (route corridors, the
    simulator's frames, the review map). The longitude difference goes the short way round, so a
    trip across the antimeridian stays whole. Floats or numpy arrays; `local_xy` is it compiled."""
    dlon = (lon - lon0 + 540.0) % 360.0 - 180.0
    return dlon * M_PER_DEG * cos_lat0, (lat - lat0) * M_PER_DEG


# without fastmath, so compiled and numpy give the same bits (the corridor's route and its fixes)
local_xy = njit_exact(local_xy_np)


def local_latlon_np(x: Any, y: Any, lat0: float, lon0: float, cos_lat0: float) -> tuple[Any, Any]:
    """The inverse of local_xy_np: (lat, lon) of points x metres east and y north of the origin,
    a longitude brought back into [-180, 180] only where it left it. Floats or numpy arrays."""
    lon = lon0 + x / (M_PER_DEG * cos_lat0)
    return lat0 + y / M_PER_DEG, lon - 360.0 * (lon > 180.0) + 360.0 * (lon < -180.0)


# compiled for arrays (a verdict's planned route, from its corridor's points): numpy's five
# operations on a short route cost ~5 us a trip, this ~1 us; the same bits (no fastmath)
local_latlon = njit_exact(local_latlon_np)


# ---- haversine along a track ---------------------------------------------------------------------
# Consecutive fixes of a trip are close together. Carrying sin and cos of the previous fix's
# latitude, the haversine of a short step needs only small angles, whose sine, cosine and arcsine
# are evaluated by their Taylor series (exact to double precision below SMALL_RAD): the same
# formula, without the cost of the library's transcendental functions.

SMALL_RAD = 0.02  # ~127 km of latitude


@njit(inline="always")
def _sin_small(x: float) -> float:
    x2 = x * x
    return x * (1.0 - x2 / 6.0 * (1.0 - x2 / 20.0 * (1.0 - x2 / 42.0 * (1.0 - x2 / 72.0))))


@njit(inline="always")
def _cos_small(x: float) -> float:
    x2 = x * x
    return 1.0 - x2 / 2.0 * (1.0 - x2 / 12.0 * (1.0 - x2 / 30.0 * (1.0 - x2 / 56.0)))


@njit(inline="always")
def _asin_small(y: float) -> float:
    y2 = y * y
    return y * (1.0 + y2 * (1.0 / 6.0 + y2 * (3.0 / 40.0 + y2 * (15.0 / 336.0 + y2 * (105.0 / 3456.0)))))


@njit(inline="always")
def haversine_step(
    lat1: float, lon1: float, sin1: float, cos1: float, lat2: float, lon2: float
) -> tuple[float, float, float]:
    """Haversine distance in metres from (lat1, lon1), whose sin/cos of latitude are given, to
    (lat2, lon2); also returns sin and cos of lat2 for the next step."""
    dphi = (lat2 - lat1) * DEG
    dlon = lon2 - lon1
    if dlon > 180.0:
        dlon -= 360.0
    elif dlon < -180.0:
        dlon += 360.0
    dlam = dlon * DEG
    if abs(dphi) < SMALL_RAD and abs(dlam) < SMALL_RAD:
        sh = _sin_small(0.5 * dphi)
        ch = _cos_small(0.5 * dphi)
        sin_dphi = 2.0 * sh * ch
        cos_dphi = 1.0 - 2.0 * sh * sh
        sin2 = sin1 * cos_dphi + cos1 * sin_dphi
        cos2 = cos1 * cos_dphi - sin1 * sin_dphi
        sl = _sin_small(0.5 * dlam)
        h = sh * sh + cos1 * cos2 * sl * sl
        return 2.0 * EARTH_RADIUS_M * _asin_small(math.sqrt(h)), sin2, cos2
    p2 = lat2 * DEG
    sin2 = math.sin(p2)
    cos2 = math.cos(p2)
    sh = math.sin(0.5 * dphi)
    sl = math.sin(0.5 * dlam)
    h = sh * sh + cos1 * cos2 * sl * sl
    if h > 1.0:
        h = 1.0
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(h)), sin2, cos2
