"""A trip's fixes before the honest GPS faults and the delivery are applied.

Positions are what the device would report (real fixes, with their own real faults, or synthetic
ones); speed and bearing are the device's own motion sensors (Doppler), which follow the physical
car, not the reported position. `protected` marks the fixes that carry a fraud's evidence: honest
faults may happen around them but never delete, replace or delay them, so the label stays true.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evaluation.heldout.porto import SAMPLING_S, RealTrip
from tripguard.simulate.geodesy import LocalFrame, bearing_deg, cumulative_m
from tripguard.simulate.roadlength import clean_indexes

STATIONARY_MPS = 1.0


@dataclass
class Track:
    t_s: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    speed_mps: np.ndarray
    bearing_deg: np.ndarray
    protected: np.ndarray
    synthetic: np.ndarray  # position made by this generator (not a real fix)
    app: dict = field(default_factory=dict)  # a spoofing app's behaviour (see gpsfraud.spoof)

    @property
    def n(self) -> int:
        return len(self.t_s)

    @property
    def duration_s(self) -> float:
        return float(self.t_s[-1] - self.t_s[0])

    def take(self, idx) -> Track:
        return Track(
            self.t_s[idx],
            self.lat[idx],
            self.lon[idx],
            self.speed_mps[idx],
            self.bearing_deg[idx],
            self.protected[idx],
            self.synthetic[idx],
            dict(self.app),
        )

    @staticmethod
    def concat(*parts: Track) -> Track:
        cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
        return Track(
            cat("t_s"),
            cat("lat"),
            cat("lon"),
            cat("speed_mps"),
            cat("bearing_deg"),
            cat("protected"),
            cat("synthetic"),
            dict(parts[0].app),
        )


def motion_of(lat: np.ndarray, lon: np.ndarray, t_s: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Physical speed and heading at every fix time from the fixes in `keep` (spikes excluded):
    central differences on the kept fixes, interpolated in time to all fixes."""
    n = len(t_s)
    if len(keep) < 2:
        return np.zeros(n), np.full(n, np.nan)
    kl, ko, kt = lat[keep], lon[keep], t_s[keep]
    s = cumulative_m(kl, ko)
    v = np.gradient(s, kt)
    speed = np.interp(t_s, kt, np.maximum(v, 0.0))
    prev = np.r_[0, np.arange(len(keep) - 1)]
    nxt = np.r_[np.arange(1, len(keep)), len(keep) - 1]
    head = bearing_deg(kl[prev], ko[prev], kl[nxt], ko[nxt])
    # interpolate the heading as a unit vector so 359 -> 1 does not pass through 180
    hx = np.interp(t_s, kt, np.sin(np.radians(head)))
    hy = np.interp(t_s, kt, np.cos(np.radians(head)))
    bearing = np.mod(np.degrees(np.arctan2(hx, hy)), 360.0)
    bearing[speed < STATIONARY_MPS] = np.nan
    return speed, bearing


def from_real(trip: RealTrip) -> tuple[Track, np.ndarray]:
    """The real trip as a Track (fixes untouched) and the indexes of its clean fixes."""
    t = np.arange(trip.n) * SAMPLING_S
    keep = clean_indexes(trip.lat, trip.lon, t)
    speed, bearing = motion_of(trip.lat, trip.lon, t, keep)
    z = np.zeros(trip.n, dtype=bool)
    return Track(t, trip.lat.copy(), trip.lon.copy(), speed, bearing, z, z.copy()), keep


def synthetic_track(t_s, lat, lon, speed_mps, bearing) -> Track:
    n = len(t_s)
    bearing = np.where(np.asarray(speed_mps) < STATIONARY_MPS, np.nan, bearing)
    return Track(
        np.asarray(t_s, dtype=np.float64),
        np.asarray(lat),
        np.asarray(lon),
        np.asarray(speed_mps, dtype=np.float64),
        np.asarray(bearing, dtype=np.float64),
        np.zeros(n, dtype=bool),
        np.ones(n, dtype=bool),
    )


def offset_latlon(lat, lon, east_m, north_m):
    frame = LocalFrame(float(np.mean(lat)), float(np.mean(lon)))
    return frame.offset(lat, lon, east_m, north_m)
