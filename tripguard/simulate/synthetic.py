"""Synthetic trips on the road network: plan, choose what is really driven, drive it, sample
the phone's fixes every interval."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tripguard.simulate.drive import Drive, DriveParams, drive_route
from tripguard.simulate.network import RoadNetwork, Route
from tripguard.simulate.routes import alternative_route, draw_od, find_detour
from tripguard.simulate.trace import Path, Trace

HONEST_ALT_ROUTE_RATE = 0.18
DETOUR_MIN_EXTRA = 0.25  # a fraudulent detour adds at least this share of the planned distance


@dataclass(frozen=True)
class SyntheticBase:
    planned: Route
    planned_duration_s: float
    trace: Trace
    note: str  # honest deviation / detour description for labels.csv
    detour_waypoint_off_m: float | None = None


def sample_drive(drive: Drive, net: RoadNetwork, rng: np.random.Generator, interval_s: float) -> Trace:
    first = rng.uniform(0.3, interval_s)
    t = np.arange(first, drive.duration_s, interval_s)
    if len(t) == 0:
        t = np.array([drive.duration_s])
    lat, lon, s, v, brg = drive.at(t)
    route = drive.route
    tunnel_edges = np.flatnonzero(net.edge_tunnel[route.edges])
    tunnel_t = tuple(float(x) for x in np.interp(route.edge_start_m[tunnel_edges], drive.s_m, drive.t_s))
    return Trace(
        t_s=t,
        lat=lat,
        lon=lon,
        s_m=s,
        speed_mps=v,
        bearing_deg=brg,
        path=Path(route.lat, route.lon, route.s_m),
        duration_s=drive.duration_s,
        true_distance_m=route.length_m,
        tunnel_t_s=tunnel_t,
    )


def synthetic_base(
    net: RoadNetwork,
    rng: np.random.Generator,
    kind: str | None,
    interval_s: float,
    drive_params: DriveParams = DriveParams(),
    min_duration_s: float = 60.0,
) -> SyntheticBase:
    min_duration = min_duration_s
    for attempt in range(200):
        # Long-trip kinds start from longer straight-line distances after a few misses.
        o, d = draw_od(net, rng, min_straight_m=1500.0 if attempt > 5 and min_duration > 200 else 0.0)
        planned = net.route(net.shortest_path(o, d))
        if planned.length_m < 500.0:
            continue
        driven, note, off = planned, "", None
        if kind == "route_deviation":
            detour = find_detour(
                net,
                rng,
                o,
                d,
                planned.lat,
                planned.lon,
                planned.lat,
                planned.lon,
                min_length_m=(1.0 + DETOUR_MIN_EXTRA) * planned.length_m,
            )
            if detour is None:
                continue
            driven, off = detour.route, detour.off_route_m
            note = (
                f"detour via a waypoint {off:.0f} m off the planned route: driven {driven.length_m:.0f} m "
                f"vs planned {planned.length_m:.0f} m (+{100 * (driven.length_m / planned.length_m - 1):.0f} %)"
            )
        elif rng.random() < HONEST_ALT_ROUTE_RATE:
            driven = alternative_route(net, rng, o, d, planned)
            if not np.array_equal(driven.edges, planned.edges):
                note = f"honest alternative route ({100 * (driven.length_m / planned.length_m - 1):+.0f} % distance)"
        drive = drive_route(net, driven, rng, drive_params)
        if drive.duration_s < min_duration:
            continue
        trace = sample_drive(drive, net, rng, interval_s)
        return SyntheticBase(planned, net.route_time_s(planned), trace, note, off)
    raise RuntimeError(f"no synthetic trip long enough for {kind} after 200 draws")
