"""Route choices on the network: origin/destination draws, honest alternative routes and
fraudulent detours via a far waypoint."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tripguard.simulate.drive import position_on
from tripguard.simulate.geodesy import cumulative_m
from tripguard.simulate.network import RoadNetwork, Route, point_to_polyline_m

TRIP_MEDIAN_M = 3000.0  # straight-line pickup-dropoff distance: lognormal around this
TRIP_SIGMA = 0.5
TRIP_MIN_M = 800.0
TRIP_MAX_M = 12000.0
ALT_ROUTE_SIGMA = 0.35  # honest alternative: shortest path with edge times x lognormal(0, this)
ALT_ROUTE_MAX_SLOWER = 1.15
ALT_ROUTE_MAX_LONGER = 1.20
DETOUR_MIN_M = 800.0
DETOUR_MAX_M = 3000.0


def draw_od(net: RoadNetwork, rng: np.random.Generator, min_straight_m: float = TRIP_MIN_M) -> tuple[int, int]:
    """Origin uniform over the network's nodes; destination at a lognormal straight-line
    distance in a random direction (snapped to the nearest node, which must be close)."""
    while True:
        o = int(rng.integers(0, net.n_nodes))
        dist = float(
            np.clip(rng.lognormal(np.log(TRIP_MEDIAN_M), TRIP_SIGMA), max(min_straight_m, TRIP_MIN_M), TRIP_MAX_M)
        )
        ang = rng.uniform(0.0, 2.0 * np.pi)
        lat, lon = net.frame.offset(net.node_lat[o], net.node_lon[o], dist * np.sin(ang), dist * np.cos(ang))
        d, snap_m = net.nearest_node(float(lat), float(lon))
        if d != o and snap_m < 400.0:
            return o, d


def alternative_route(net: RoadNetwork, rng: np.random.Generator, o: int, d: int, planned: Route) -> Route:
    """What an honest driver who knows the city differently drives: the fastest path under
    randomly perturbed travel times, kept only if it is nearly as fast as the plan (within
    ALT_ROUTE_MAX_SLOWER) and not much longer (ALT_ROUTE_MAX_LONGER): an honest driver does not
    take a much slower route, and a much longer one is what route-deviation fraud looks like."""
    planned_s = net.route_time_s(planned)
    for _ in range(3):
        weights = net.typical_time_s * rng.lognormal(0.0, ALT_ROUTE_SIGMA, len(net.typical_time_s))
        alt = net.route(net.shortest_path(o, d, net.graph(weights)))
        if (
            net.route_time_s(alt) <= ALT_ROUTE_MAX_SLOWER * planned_s
            and alt.length_m <= ALT_ROUTE_MAX_LONGER * planned.length_m
        ):
            return alt
    return planned


@dataclass(frozen=True)
class Detour:
    route: Route  # a -> waypoint -> b
    waypoint: int
    off_route_m: float  # waypoint's distance from the reference (planned) route


def find_detour(
    net: RoadNetwork,
    rng: np.random.Generator,
    a: int,
    b: int,
    anchor_lat: np.ndarray,
    anchor_lon: np.ndarray,
    ref_lat: np.ndarray,
    ref_lon: np.ndarray,
    min_length_m: float,
    tries: int = 40,
    candidates: int = 3,
) -> Detour | None:
    """A road path a -> W -> b where W is 0.8-3 km from the reference route and the path is at
    least min_length_m long. W is drawn near a point of the anchor polyline (the stretch of the
    trip where the driver leaves the route). Of the first `candidates` valid detours the
    shortest is taken: a fraudster pads the trip, he does not tour the region."""
    anchor_s = cumulative_m(anchor_lat, anchor_lon)
    found: list[Detour] = []
    for _ in range(tries):
        s = rng.uniform(0.2, 0.8) * anchor_s[-1] if anchor_s[-1] > 0 else 0.0
        plat, plon, _ = position_on(anchor_lat, anchor_lon, anchor_s, np.array([s]))
        dist = rng.uniform(DETOUR_MIN_M, DETOUR_MAX_M)
        ang = rng.uniform(0.0, 2.0 * np.pi)
        tlat, tlon = net.frame.offset(plat[0], plon[0], dist * np.sin(ang), dist * np.cos(ang))
        w, snap_m = net.nearest_node(float(tlat), float(tlon))
        if snap_m > 300.0 or w in (a, b):
            continue
        off = point_to_polyline_m(net.frame, net.node_lat[w], net.node_lon[w], ref_lat, ref_lon)
        if not DETOUR_MIN_M <= off <= DETOUR_MAX_M:
            continue
        nodes = np.concatenate([net.shortest_path(a, w), net.shortest_path(w, b)[1:]])
        route = net.route(nodes)
        if route.length_m >= min_length_m:
            found.append(Detour(route, w, off))
            if len(found) >= candidates:
                break
    return min(found, key=lambda d: d.route.length_m) if found else None
