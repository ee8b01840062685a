"""Driving a route at an irregular, city-like pace: distance along the route as a function of time.

A car does not hold a speed: it varies from one stretch to the next (traffic, bends) and stops at
some junctions (lights, give-way). The profile is piecewise linear in time: each stretch of at most
CHUNK_M is driven at its own speed, each stop is a dwell. The speeds are scaled together so the
whole drive takes the wanted time, never above MAX_OVER_LIMIT times the posted limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluation.heldout.track import offset_latlon

CHUNK_M = 150.0
SPEED_SPREAD = 0.3  # log-sd of a stretch's speed around the pace: 0.74x..1.35x for one sd
STOP_P = 0.25  # share of junctions where the car stops
STOP_S = (5.0, 45.0)
MAX_OVER_LIMIT = 1.1
MIN_MOVING_MPS = 1.5


@dataclass(frozen=True)
class Profile:
    t_s: np.ndarray  # knot times from the start of the drive
    s_m: np.ndarray  # distance along the route at the knots (non-decreasing)

    @property
    def duration_s(self) -> float:
        return float(self.t_s[-1])

    @property
    def length_m(self) -> float:
        return float(self.s_m[-1])

    def s_at(self, t_s) -> np.ndarray:
        return np.interp(t_s, self.t_s, self.s_m)

    def speed_at(self, t_s) -> np.ndarray:
        t = np.clip(np.asarray(t_s, dtype=np.float64), 0.0, self.duration_s)
        i = np.clip(np.searchsorted(self.t_s, t, side="right") - 1, 0, len(self.t_s) - 2)
        dt = self.t_s[i + 1] - self.t_s[i]
        return np.where(dt > 0, (self.s_m[i + 1] - self.s_m[i]) / np.where(dt > 0, dt, 1.0), 0.0)


def segments_of(roads, route, lead_m: float = 0.0, tail_m: float = 0.0):
    """(length, posted speed, junction at the end) per edge of a network route, with optional
    straight connectors before and after (from a fix to the road and back), driven at 30 km/h."""
    net = roads.net
    lengths = np.diff(route.edge_start_m)
    posted = net.edge_speed_mps[route.edges]
    junction = roads.junction[net.edge_v[route.edges]]
    if lead_m > 0:
        lengths, posted, junction = np.r_[lead_m, lengths], np.r_[8.3, posted], np.r_[False, junction]
    if tail_m > 0:
        lengths, posted, junction = np.r_[lengths, tail_m], np.r_[posted, 8.3], np.r_[junction, False]
    return lengths.astype(np.float64), posted.astype(np.float64), junction.astype(bool)


def irregular_profile(rng: np.random.Generator, lengths_m, posted_mps, junction_after, duration_s: float) -> Profile:
    """Drive the segments in about duration_s (exactly, unless the limits make it impossible: then
    as fast as allowed). Stops are placed first; the moving speeds are scaled to fill the rest."""
    pieces_len, pieces_cap, pieces_stop = [], [], []
    for length, posted, junction in zip(lengths_m, posted_mps, junction_after):
        k = max(1, int(np.ceil(length / CHUNK_M)))
        for j in range(k):
            pieces_len.append(length / k)
            pieces_cap.append(posted * MAX_OVER_LIMIT)
            last = j == k - 1
            pieces_stop.append(rng.uniform(*STOP_S) if (last and junction and rng.random() < STOP_P) else 0.0)
    ln = np.asarray(pieces_len)
    cap = np.asarray(pieces_cap)
    stop = np.asarray(pieces_stop)
    stop[-1] = 0.0  # the drive ends on arrival
    rel = np.exp(rng.normal(0.0, SPEED_SPREAD, len(ln))) * cap / MAX_OVER_LIMIT  # relative speeds, posted-shaped

    def moving_time(alpha: float) -> float:
        return float((ln / np.clip(alpha * rel, MIN_MOVING_MPS, cap)).sum())

    fastest = float((ln / cap).sum())
    if fastest + stop.sum() > duration_s:  # too little time for these stops: drop stops, go at the limits
        stop *= max(0.0, (duration_s - fastest) / max(stop.sum(), 1e-9))
    want = max(duration_s - stop.sum(), fastest)
    lo, hi = 1e-3, 1e3
    for _ in range(60):  # moving_time is non-increasing in alpha
        mid = np.sqrt(lo * hi)
        if moving_time(mid) > want:
            lo = mid
        else:
            hi = mid
    speed = np.clip(hi * rel, MIN_MOVING_MPS, cap)
    t, s = [0.0], [0.0]
    for length, v, dwell in zip(ln, speed, stop):
        t.append(t[-1] + length / v)
        s.append(s[-1] + length)
        if dwell > 0:
            t.append(t[-1] + dwell)
            s.append(s[-1])
    return Profile(np.asarray(t), np.asarray(s))


def gps_error_m(rng: np.random.Generator, n: int, sigma_m: float = 4.0, rho: float = 0.7):
    """Correlated GPS position error (east, north) for n successive fixes: a real receiver's error
    drifts slowly (AR(1)), it does not jump independently from fix to fix."""
    e = np.zeros((n, 2))
    if n == 0:
        return e[:, 0], e[:, 1]
    e[0] = rng.normal(0.0, sigma_m, 2)
    k = np.sqrt(1.0 - rho * rho)
    for i in range(1, n):
        e[i] = rho * e[i - 1] + k * rng.normal(0.0, sigma_m, 2)
    return e[:, 0], e[:, 1]


def sample(
    rng: np.random.Generator,
    line,
    profile: Profile,
    t_start_s: float,
    interval_s: float = 15.0,
    error_sigma_m: float = 4.0,
    first_s: float | None = None,
):
    """Fixes of a drive every interval_s after t_start_s (the first at t_start_s + first_s, default
    one interval): times, positions along `line` with GPS error, the car's speed and heading."""
    first = interval_s if first_s is None else first_s
    rel = np.arange(first, profile.duration_s + 1e-9, interval_s)
    scale = line.length_m / profile.length_m if profile.length_m > 0 else 1.0
    s = profile.s_at(rel) * scale
    lat, lon = line.at(s)
    if error_sigma_m > 0 and len(rel):
        ex, ey = gps_error_m(rng, len(rel), error_sigma_m)
        lat, lon = offset_latlon(lat, lon, ex, ey)
    speed = profile.speed_at(rel) * scale
    return t_start_s + rel, lat, lon, speed, line.heading_deg(s)
