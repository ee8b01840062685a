"""How a car drives a route: a speed profile along the road, then its position at any time.

The profile is built on a 5 m grid along the route from speed caps -- the edge's cruising speed
(posted limit x the trip's traffic level x per-edge variation), slower points at turns, stops at
some intersections (traffic lights) and zero at pickup and dropoff -- then limited by the
acceleration and braking a car can do. With v^2 <= cap^2 and |d(v^2)/ds| <= 2a, the limited
profile is the lower envelope of cones around every cap, which numpy computes in two passes of
`minimum.accumulate` (no Python loop over the grid).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tripguard.simulate.geodesy import bearing_deg
from tripguard.simulate.network import RoadNetwork, Route

GRID_M = 5.0
ACCEL_MPS2 = 1.3
BRAKE_MPS2 = 1.8
MIN_CRUISE_MPS = 3.0
MAX_CRUISE_MPS = 33.0


@dataclass(frozen=True)
class DriveParams:
    traffic_share_low: float = 0.5  # trip-level traffic: share of the posted limit driven
    traffic_share_high: float = 0.95
    edge_speed_sigma: float = 0.10  # per-edge variation around the trip's traffic level
    stop_prob_major: float = 0.30  # traffic light stop at an intersection on a major road
    stop_prob_minor: float = 0.10
    stop_s_median: float = 15.0
    stop_s_max: float = 60.0
    traffic_stops_per_km: float = 0.3  # stop-and-go mid-block (double-parked car, queue)


@dataclass(frozen=True)
class Drive:
    """A driven route: time <-> distance breakpoints (strictly increasing time)."""

    route: Route
    t_s: np.ndarray  # breakpoint times since departure
    s_m: np.ndarray  # distance driven at those times
    v_mps: np.ndarray  # speed at those times

    @property
    def duration_s(self) -> float:
        return float(self.t_s[-1])

    @property
    def length_m(self) -> float:
        return float(self.s_m[-1])

    def at(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(lat, lon, s_m, speed_mps, bearing_deg) at the given times."""
        t = np.clip(t_s, 0.0, self.duration_s)
        s = np.interp(t, self.t_s, self.s_m)
        v = np.interp(t, self.t_s, self.v_mps)
        lat, lon, brg = position_on(self.route.lat, self.route.lon, self.route.s_m, s)
        return lat, lon, s, v, brg


def position_on(lat: np.ndarray, lon: np.ndarray, cum_m: np.ndarray, s: np.ndarray):
    """Points at distances s along a polyline (beyond the end: extrapolated straight on), and the
    bearing of the polyline there."""
    s = np.asarray(s, dtype=np.float64)
    if len(lat) < 2:
        return np.full_like(s, lat[0]), np.full_like(s, lon[0]), np.zeros_like(s)
    seg = np.clip(np.searchsorted(cum_m, s, side="right") - 1, 0, len(lat) - 2)
    # Zero-length segments (repeated vertices) would divide by zero: step back to a real one.
    seg_len = cum_m[seg + 1] - cum_m[seg]
    frac = np.where(seg_len > 0, (s - cum_m[seg]) / np.where(seg_len > 0, seg_len, 1.0), 0.0)
    out_lat = lat[seg] + frac * (lat[seg + 1] - lat[seg])
    out_lon = lon[seg] + frac * (lon[seg + 1] - lon[seg])
    seg_brg = bearing_deg(lat[:-1], lon[:-1], lat[1:], lon[1:])
    return out_lat, out_lon, seg_brg[seg]


def _turn_angles_deg(route: Route) -> np.ndarray:
    """Heading change at each joint between consecutive edges (len = edges - 1)."""
    joints = route.edge_start_m[1:-1]
    if len(joints) == 0:
        return np.zeros(0)
    before = np.maximum(joints - 10.0, 0.0)
    after = np.minimum(joints + 10.0, route.length_m)
    la, lo, _ = position_on(route.lat, route.lon, route.s_m, np.concatenate([before, joints, after]))
    n = len(joints)
    b_in = bearing_deg(la[:n], lo[:n], la[n : 2 * n], lo[n : 2 * n])
    b_out = bearing_deg(la[n : 2 * n], lo[n : 2 * n], la[2 * n :], lo[2 * n :])
    d = np.abs(b_out - b_in) % 360.0
    return np.minimum(d, 360.0 - d)


MAJOR_CLASSES = {"motorway", "trunk", "primary", "secondary", "tertiary"}


def drive_route(net: RoadNetwork, route: Route, rng: np.random.Generator, params: DriveParams = DriveParams()) -> Drive:
    """Simulate driving `route` from standstill to standstill."""
    length = route.length_m
    n_grid = max(int(np.ceil(length / GRID_M)), 1)
    s = np.linspace(0.0, length, n_grid + 1)

    traffic = rng.uniform(params.traffic_share_low, params.traffic_share_high)
    edge_v = net.edge_speed_mps[route.edges] * traffic * rng.lognormal(0.0, params.edge_speed_sigma, len(route.edges))
    edge_v = np.clip(edge_v, MIN_CRUISE_MPS, MAX_CRUISE_MPS)
    edge_of = np.clip(np.searchsorted(route.edge_start_m, s, side="right") - 1, 0, len(route.edges) - 1)
    cap = edge_v[edge_of] if len(route.edges) else np.full_like(s, MIN_CRUISE_MPS)
    cap = cap.copy()

    # Point caps: turns, stops at intersections, pickup and dropoff.
    dwell = np.zeros_like(s)
    joints = route.edge_start_m[1:-1]
    if len(joints):
        idx = np.clip(np.round(joints / GRID_M).astype(np.int64), 1, n_grid - 1 if n_grid > 1 else 1)
        angle = _turn_angles_deg(route)
        turn_v = 3.0 + 11.0 * ((1.0 + np.cos(np.radians(angle))) / 2.0) ** 2
        cap[idx] = np.minimum(cap[idx], turn_v)
        next_edges = route.edges[1:]
        node = net.edge_u[next_edges]
        is_major = np.array([net.class_names[c] in MAJOR_CLASSES for c in net.edge_class[next_edges]])
        crossing = net.node_degree[node] >= 5  # three or more roads meet (two-way = 2 edges each)
        p_stop = np.where(is_major, params.stop_prob_major, params.stop_prob_minor) * crossing
        stop = rng.random(len(idx)) < p_stop
        cap[idx[stop]] = 0.0
        dwell[idx[stop]] = np.minimum(
            rng.lognormal(np.log(params.stop_s_median), 0.6, int(stop.sum())), params.stop_s_max
        )
    n_mid = rng.poisson(params.traffic_stops_per_km * length / 1000.0)
    if n_mid and n_grid > 2:
        idx = rng.integers(1, n_grid, n_mid)
        cap[idx] = 0.0
        dwell[idx] = np.maximum(dwell[idx], rng.uniform(3.0, 20.0, n_mid))
    cap[0] = 0.0
    cap[-1] = 0.0

    # Acceleration (forward) and braking (backward) limits on v^2.
    cap2 = cap**2
    fwd = np.minimum.accumulate(cap2 - 2.0 * ACCEL_MPS2 * s) + 2.0 * ACCEL_MPS2 * s
    bwd = (np.minimum.accumulate((cap2 + 2.0 * BRAKE_MPS2 * s)[::-1]))[::-1] - 2.0 * BRAKE_MPS2 * s
    v = np.sqrt(np.maximum(np.minimum(fwd, bwd), 0.0))

    ds = np.diff(s)
    # Constant acceleration between grid points; where both ends are (nearly) stopped -- two
    # caps of 0 a few metres apart -- the car creeps there from rest to rest instead.
    rest_to_rest = np.sqrt(2.0 * ds * (1.0 / ACCEL_MPS2 + 1.0 / BRAKE_MPS2))
    dt = np.minimum(2.0 * ds / np.maximum(v[:-1] + v[1:], 1e-9), rest_to_rest)
    # Breakpoints: every grid point, and a second one after each dwell (same place, later).
    t_arrive = np.concatenate([[0.0], np.cumsum(dt)]) + np.concatenate([[0.0], np.cumsum(dwell)[:-1]])
    stops = np.flatnonzero(dwell > 0)
    t_all = np.concatenate([t_arrive, t_arrive[stops] + dwell[stops]])
    s_all = np.concatenate([s, s[stops]])
    v_all = np.concatenate([v, v[stops]])
    order = np.argsort(t_all, kind="stable")
    return Drive(route=route, t_s=t_all[order], s_m=s_all[order], v_mps=v_all[order])
