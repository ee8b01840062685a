"""The ground truth of one trip before GPS noise: where the phone is at each fix time.

A Trace holds one row per fix (times relative to the pickup) and the path the car follows, so
fraud injection can move a position "along the path" and noise knows the true position under
each fix. For synthetic trips the positions lie on the road; for real trips they are the real
recorded fixes (real GPS faults included) and the path is the trace with obvious spikes removed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tripguard.simulate.geodesy import cumulative_m


@dataclass(frozen=True)
class Path:
    lat: np.ndarray
    lon: np.ndarray
    s_m: np.ndarray  # cumulative distance at each vertex

    @classmethod
    def of(cls, lat: np.ndarray, lon: np.ndarray) -> Path:
        return cls(np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64), cumulative_m(lat, lon))

    @property
    def length_m(self) -> float:
        return float(self.s_m[-1]) if len(self.s_m) else 0.0


@dataclass(frozen=True)
class Trace:
    t_s: np.ndarray  # fix times since pickup, increasing
    lat: np.ndarray
    lon: np.ndarray
    s_m: np.ndarray  # distance along `path` at each fix
    speed_mps: np.ndarray  # true speed at each fix
    bearing_deg: np.ndarray  # true heading at each fix
    path: Path
    duration_s: float  # pickup to dropoff
    true_distance_m: float  # what the car really drove (the odometer's truth)
    real: bool = False  # positions are recorded real fixes (they carry their own GPS error)
    regular: bool = False  # timestamps are exact multiples of the interval (a replay app)
    tunnel_t_s: tuple[float, ...] = ()  # times the car enters a tunnel (synthetic routes)

    @property
    def n(self) -> int:
        return len(self.t_s)

    def with_(self, **changes) -> Trace:
        return replace(self, **changes)


def speeds_from_positions(t_s: np.ndarray, s_m: np.ndarray) -> np.ndarray:
    """Speed at each fix from distance along the path (central differences)."""
    if len(t_s) < 2:
        return np.zeros(len(t_s))
    return np.maximum(np.gradient(s_m, t_s), 0.0)
