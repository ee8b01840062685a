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
        dist = float(np.clip(rng.lognormal(np.log(TRIP_MEDIAN_M), TRIP_SIGMA), max(min_straight_m, TRIP_MIN_M), TRIP_MAX_M))
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
        if net.route_time_s(alt) <= ALT_ROUTE_MAX_SLOWER * planned_s and alt.length_m <= ALT_ROUTE_MAX_LONGER * planned.length_m:
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


# ------------------------------------------------------------------------ planned itineraries
PLAN_TOLERANCE_M = 500.0  # a real trip's booked itinerary keeps the turns of its trace above this


def douglas_peucker(x: np.ndarray, y: np.ndarray, tolerance_m: float) -> np.ndarray:
    """Indexes of the points that simplify the polyline within tolerance_m (ends always kept)."""
    keep = np.zeros(len(x), dtype=bool)
    keep[[0, -1]] = True
    stack = [(0, len(x) - 1)]
    while stack:
        a, b = stack.pop()
        if b <= a + 1:
            continue
        dx, dy = x[b] - x[a], y[b] - y[a]
        seg2 = dx * dx + dy * dy
        px, py = x[a + 1:b] - x[a], y[a + 1:b] - y[a]
        if seg2 > 0:
            t = np.clip((px * dx + py * dy) / seg2, 0.0, 1.0)
            d = np.hypot(px - t * dx, py - t * dy)
        else:
            d = np.hypot(px, py)
        k = int(np.argmax(d))
        if d[k] > tolerance_m:
            m = a + 1 + k
            keep[m] = True
            stack += [(a, m), (m, b)]
    return np.flatnonzero(keep)


def itinerary_route(net: RoadNetwork, lat: np.ndarray, lon: np.ndarray, max_snap_m: float,
                    tolerance_m: float = PLAN_TOLERANCE_M) -> Route | None:
    """The planned route of a real trip: fastest road route from its first to its last fix via
    the turning points of its trace (Douglas-Peucker at tolerance_m) -- a stand-in for the
    booked itinerary (stops included) that street-hail taxi data does not record. Between those
    points the real driver chose their own streets."""
    x, y = net.frame.to_xy(lat, lon)
    stops = douglas_peucker(np.asarray(x, float), np.asarray(y, float), tolerance_m)
    nodes = []
    for i in stops:
        node, d = net.nearest_node(float(lat[i]), float(lon[i]))
        if d > max_snap_m:
            return None  # the trip leaves the network extract: no route can be planned for it
        if not nodes or nodes[-1] != node:
            nodes.append(node)
    if len(nodes) < 2:
        return None
    path = [net.shortest_path(nodes[0], nodes[1])]
    for u, v in zip(nodes[1:-1], nodes[2:]):
        path.append(net.shortest_path(u, v)[1:])
    return net.route(np.concatenate(path))
