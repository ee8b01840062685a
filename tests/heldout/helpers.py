"""Small readers shared by the held-out tests."""

from __future__ import annotations

import numpy as np

from tripguard.simulate.geodesy import LocalFrame
from tripguard.simulate.network import point_to_polyline_m

COARSE_M = 300.0


def good_fixes(pings: list[dict]) -> list[dict]:
    """A trip's pings as a consumer would first clean them: one per timestamp, no (0, 0), no
    coarse network fixes, in time order."""
    seen: dict[int, dict] = {}
    for p in pings:
        if p["lat"] == 0.0 and p["lon"] == 0.0:
            continue
        if p.get("accuracy_m") is not None and p["accuracy_m"] >= COARSE_M:
            continue
        seen.setdefault(p["ts"], p)
    return [seen[k] for k in sorted(seen)]


def steps(fixes: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per step between successive fixes: east and north displacement (m) and duration (s)."""
    lat = np.array([f["lat"] for f in fixes])
    lon = np.array([f["lon"] for f in fixes])
    ts = np.array([f["ts"] for f in fixes]) / 1000.0
    frame = LocalFrame(float(lat.mean()), float(lon.mean()))
    x, y = frame.to_xy(lat, lon)
    return np.diff(x), np.diff(y), np.diff(ts)


def fast_forward_run(fixes: list[dict], min_mps: float = 64.0) -> bool:
    """Two successive steps faster than min_mps that go on in the same direction (a spike's two
    steps go out and back)."""
    if len(fixes) < 3:
        return False
    dx, dy, dt = steps(fixes)
    v = np.hypot(dx, dy) / dt
    for i in range(len(v) - 1):
        if v[i] > min_mps and v[i + 1] > min_mps and dx[i] * dx[i + 1] + dy[i] * dy[i + 1] > 0:
            return True
    return False


def distance_to_polyline_m(lat: float, lon: float, line: np.ndarray) -> float:
    return point_to_polyline_m(LocalFrame(lat, lon), lat, lon, line[:, 0], line[:, 1])
