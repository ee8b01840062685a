"""Routing on the shipped Porto network with this generator's OWN pace model, and the planned route.

Pace model: a taxi averages PACE_SHARE of the posted limit on each edge. PACE_SHARE was calibrated
on the real trips of the held-out half so that the median of (real trip duration / ETA of the
fastest route between its end points) is 1: measured 1.005 at 0.60 (163 trips with a plan). The
generator re-measures it on every run and writes it to summary.json. The planned route is the
fastest path under this model, as a ride-hailing app would give it; it never looks at the trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from tripguard.geo import encode_polyline
from tripguard.simulate.geodesy import cumulative_m, haversine_m
from tripguard.simulate.network import Route, load_network
from tripguard.simulate.roadlength import RoadMeter

PACE_SHARE = 0.60
MAX_END_TO_ROAD_M = 300.0  # farther than this from any road, the app cannot place the pickup/dropoff


@dataclass(frozen=True)
class Plan:
    nodes: np.ndarray
    route: Route
    distance_m: float
    duration_s: float  # ETA under the pace model

    @cached_property
    def polyline(self) -> str:
        return encode_polyline(np.column_stack([self.route.lat, self.route.lon]), precision=5)


class Line:
    """A polyline with cumulative distance, for placing points at a distance along it."""

    def __init__(self, lat: np.ndarray, lon: np.ndarray):
        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        keep = np.concatenate([[True], (np.diff(lat) != 0) | (np.diff(lon) != 0)])  # no zero-length steps
        self.lat, self.lon = lat[keep], lon[keep]
        self.s = cumulative_m(self.lat, self.lon)

    @property
    def length_m(self) -> float:
        return float(self.s[-1])

    def at(self, s_m) -> tuple[np.ndarray, np.ndarray]:
        s = np.clip(np.asarray(s_m, dtype=np.float64), 0.0, self.length_m)
        if len(self.s) == 1:
            return np.full(s.shape, self.lat[0]), np.full(s.shape, self.lon[0])
        return np.interp(s, self.s, self.lat), np.interp(s, self.s, self.lon)

    def heading_deg(self, s_m) -> np.ndarray:
        """Direction of travel at s (bearing of the segment containing s)."""
        s = np.clip(np.asarray(s_m, dtype=np.float64), 0.0, self.length_m)
        if len(self.s) < 2:
            return np.zeros(s.shape)
        i = np.clip(np.searchsorted(self.s, s, side="right") - 1, 0, len(self.s) - 2)
        dlat = np.radians(self.lat[i + 1] - self.lat[i])
        dlon = np.radians(self.lon[i + 1] - self.lon[i]) * np.cos(np.radians(self.lat[i]))
        return np.mod(np.degrees(np.arctan2(dlon, dlat)), 360.0)

    @staticmethod
    def join(*lines: Line) -> Line:
        return Line(np.concatenate([ln.lat for ln in lines]), np.concatenate([ln.lon for ln in lines]))


class Roads:
    """The network plus this generator's edge times (pace model) and routing helpers."""

    def __init__(self):
        self.net = load_network()
        net = self.net
        self.eta_s = net.edge_length_m / (net.edge_speed_mps * PACE_SHARE)
        self.eta_graph = net.graph(self.eta_s)
        pairs = np.unique(np.sort(np.column_stack([net.edge_u, net.edge_v]), axis=1), axis=0)
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        self.junction = np.bincount(pairs.ravel(), minlength=net.n_nodes) >= 3
        self.meter = RoadMeter(net)

    def snap(self, lat: float, lon: float) -> tuple[int, float]:
        """Nearest node and the distance from the point to the nearest road geometry."""
        node, _ = self.net.nearest_node(lat, lon)
        return node, float(self.net.distance_to_road_m(lat, lon)[0])

    def fastest_nodes(self, src: int, dst: int, graph=None) -> np.ndarray:
        return self.net.shortest_path(src, dst, self.eta_graph if graph is None else graph)

    def nodes_via(self, nodes: list[int], graph=None) -> np.ndarray:
        """Fastest path through the given nodes in order."""
        parts = [self.fastest_nodes(a, b, graph) for a, b in zip(nodes[:-1], nodes[1:])]
        return np.concatenate([parts[0]] + [p[1:] for p in parts[1:]])

    def route(self, nodes: np.ndarray) -> Route:
        return self.net.route(nodes)

    def eta_of(self, route: Route) -> float:
        return float(self.eta_s[route.edges].sum())

    def free_flow_s(self, route: Route) -> float:
        return float((self.net.edge_length_m[route.edges] / self.net.edge_speed_mps[route.edges]).sum())

    def plan(self, pick_lat: float, pick_lon: float, drop_lat: float, drop_lon: float) -> Plan | None:
        """The app's planned route, or None when an end is off the roads or both snap to one node."""
        a, da = self.snap(pick_lat, pick_lon)
        b, db = self.snap(drop_lat, drop_lon)
        if a == b or da > MAX_END_TO_ROAD_M or db > MAX_END_TO_ROAD_M:
            return None
        nodes = self.fastest_nodes(a, b)
        route = self.route(nodes)
        return Plan(nodes=nodes, route=route, distance_m=route.length_m, duration_s=self.eta_of(route))

    def node_latlon(self, node: int) -> tuple[float, float]:
        return float(self.net.node_lat[node]), float(self.net.node_lon[node])

    def nodes_near(self, lat: float, lon: float, radius_m: float) -> np.ndarray:
        d = haversine_m(self.net.node_lat, self.net.node_lon, lat, lon)
        return np.flatnonzero(d <= radius_m)

    def route_line(self, route: Route) -> Line:
        return Line(route.lat, route.lon)
