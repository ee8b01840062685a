"""The shipped Porto drivable network (data/porto/network.npz) and routing on it.

Routing is shortest path by travel time with scipy.sparse.csgraph.dijkstra on the directed
graph (one-way streets have one direction only). The network is the largest strongly connected
component, so every origin/destination pair has a route. See build_network.py for its origin.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from tripguard.config.files import shipped_path
from tripguard.errors import InputError
from tripguard.simulate.geodesy import LocalFrame, cumulative_m, haversine_m

# Share of the posted limit a taxi averages between intersections in Porto traffic: the ETA the
# app quotes (planned_duration_s) and the routing weight use it. Calibrated on the real trips of
# the tune part (tripguard.simulate.real.split_of): with 0.9 the median real trip takes 1.01x its
# ETA (0.7 gave 0.85x: an ETA slower than the city's real pace).
TYPICAL_SPEED_SHARE = 0.9
# Seconds lost at each intersection on a route (ETA only; the driving model simulates it).
INTERSECTION_DELAY_S = 4.0


@dataclass(frozen=True)
class Route:
    """A path on the network: its edges and its geometry with cumulative distance."""

    edges: np.ndarray  # int edge indexes, in driving order
    lat: np.ndarray  # vertices, edges' geometries joined (shared end points once)
    lon: np.ndarray
    s_m: np.ndarray  # cumulative distance at each vertex
    edge_start_m: np.ndarray  # distance along the route where each edge starts (len = edges + 1)

    @property
    def length_m(self) -> float:
        return float(self.s_m[-1])


class RoadNetwork:
    def __init__(self, path: Path | str | None = None):
        path = Path(path) if path is not None else shipped_path("porto/network.npz")
        try:
            z = np.load(path)
        except FileNotFoundError:
            raise InputError(f"{path}: road network file not found") from None
        self.node_lat = z["node_lat_e7"].astype(np.float64) / 1e7
        self.node_lon = z["node_lon_e7"].astype(np.float64) / 1e7
        self.node_osmid = z["node_osmid"]
        self.edge_u = z["edge_u"].astype(np.int64)
        self.edge_v = z["edge_v"].astype(np.int64)
        self.edge_speed_mps = z["edge_speed_kmh"].astype(np.float64) / 3.6
        self.edge_class = z["edge_class"].astype(np.int64)
        self.class_names = [str(c) for c in z["class_names"]]
        self.edge_tunnel = z["edge_tunnel"].astype(bool)
        counts = z["geom_counts"].astype(np.int64)
        self.geom_offsets = np.concatenate([[0], np.cumsum(counts)])
        self.geom_lat = z["geom_lat_e6"].astype(np.float64) / 1e6
        self.geom_lon = z["geom_lon_e6"].astype(np.float64) / 1e6
        seg = haversine_m(self.geom_lat[:-1], self.geom_lon[:-1], self.geom_lat[1:], self.geom_lon[1:])
        within = np.ones(len(seg), dtype=bool)
        within[self.geom_offsets[1:-1] - 1] = False  # steps between two edges' geometries
        cum = np.concatenate([[0.0], np.cumsum(np.where(within, seg, 0.0))])
        self.edge_length_m = np.maximum(cum[self.geom_offsets[1:] - 1] - cum[self.geom_offsets[:-1]], 1.0)

        self.n_nodes = len(self.node_lat)
        self.frame = LocalFrame(float(self.node_lat.mean()), float(self.node_lon.mean()))
        self._node_tree = cKDTree(np.column_stack(self.frame.to_xy(self.node_lat, self.node_lon)))
        self._geom_tree = cKDTree(np.column_stack(self.frame.to_xy(self.geom_lat, self.geom_lon)))
        # Out-degree + in-degree tells real intersections from shape nodes on a two-way street.
        self.node_degree = np.bincount(self.edge_u, minlength=self.n_nodes) + np.bincount(
            self.edge_v, minlength=self.n_nodes
        )

        # Routing graph: one edge per (u, v) pair (the fastest of parallel edges), no self-loops.
        self.typical_time_s = self.edge_length_m / (self.edge_speed_mps * TYPICAL_SPEED_SHARE) + INTERSECTION_DELAY_S
        usable = self.edge_u != self.edge_v
        order = np.lexsort((self.typical_time_s, self.edge_v, self.edge_u))
        order = order[usable[order]]
        key = self.edge_u[order] * self.n_nodes + self.edge_v[order]
        first = np.concatenate([[True], key[1:] != key[:-1]])
        self._pair_key = key[first]  # sorted
        self._pair_edge = order[first]
        self._graph = self.graph()

    # ---------------------------------------------------------------- lookup
    def nearest_node(self, lat: float, lon: float) -> tuple[int, float]:
        """Index of the node nearest (lat, lon) and its distance in metres."""
        x, y = self.frame.to_xy(lat, lon)
        d, i = self._node_tree.query([float(x), float(y)])
        return int(i), float(d)

    def distance_to_road_m(self, lat, lon) -> np.ndarray:
        """Distance to the nearest road geometry vertex (vertices are dense: ~15 m median spacing)."""
        x, y = self.frame.to_xy(np.atleast_1d(lat), np.atleast_1d(lon))
        d, _ = self._geom_tree.query(np.column_stack([x, y]))
        return d

    def edge_between(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        key = np.asarray(u, dtype=np.int64) * self.n_nodes + np.asarray(v, dtype=np.int64)
        pos = np.searchsorted(self._pair_key, key)
        if np.any(pos >= len(self._pair_key)) or np.any(
            self._pair_key[np.minimum(pos, len(self._pair_key) - 1)] != key
        ):
            raise ValueError("consecutive nodes are not joined by an edge")
        return self._pair_edge[pos]

    # ---------------------------------------------------------------- routing
    def graph(self, weights_s: np.ndarray | None = None) -> csr_matrix:
        """The routing graph with the given per-edge weights (default: typical travel time)."""
        w = self.typical_time_s if weights_s is None else weights_s
        return csr_matrix(
            (w[self._pair_edge], (self.edge_u[self._pair_edge], self.edge_v[self._pair_edge])),
            shape=(self.n_nodes, self.n_nodes),
        )

    def shortest_path(self, src: int, dst: int, graph: csr_matrix | None = None) -> np.ndarray:
        """Node indexes from src to dst (inclusive) by least weight."""
        g = self._graph if graph is None else graph
        if src == dst:
            return np.array([src], dtype=np.int64)
        _, pred = dijkstra(g, directed=True, indices=src, return_predecessors=True)
        if pred[dst] < 0:
            raise ValueError(f"node {dst} is not reachable from {src}")
        nodes = [dst]
        while nodes[-1] != src:
            nodes.append(int(pred[nodes[-1]]))
        return np.asarray(nodes[::-1], dtype=np.int64)

    def route(self, nodes: np.ndarray) -> Route:
        """Geometry of a node path (at least 2 nodes)."""
        edges = self.edge_between(nodes[:-1], nodes[1:]) if len(nodes) > 1 else np.zeros(0, dtype=np.int64)
        lat_parts = []
        lon_parts = []
        for k, e in enumerate(edges):
            a, b = self.geom_offsets[e], self.geom_offsets[e + 1]
            start = 0 if k == 0 else 1  # the joint point is the previous edge's last point
            lat_parts.append(self.geom_lat[a + start : b])
            lon_parts.append(self.geom_lon[a + start : b])
        if not lat_parts:
            lat = np.array([self.node_lat[nodes[0]]])
            lon = np.array([self.node_lon[nodes[0]]])
        else:
            lat = np.concatenate(lat_parts)
            lon = np.concatenate(lon_parts)
        s = cumulative_m(lat, lon)
        counts = np.array([self.geom_offsets[e + 1] - self.geom_offsets[e] - 1 for e in edges], dtype=np.int64)
        edge_start = np.concatenate([[0.0], s[np.cumsum(counts)]]) if len(edges) else np.array([0.0])
        return Route(edges=edges, lat=lat, lon=lon, s_m=s, edge_start_m=edge_start)

    @cached_property
    def length_graph(self) -> csr_matrix:
        """Weights = edge length: the shortest path, not the fastest."""
        return self.graph(self.edge_length_m)

    def route_time_s(self, route: Route) -> float:
        return float(self.typical_time_s[route.edges].sum())


@lru_cache(maxsize=2)
def load_network(path: str | None = None) -> RoadNetwork:
    return RoadNetwork(path)


def point_to_polyline_m(frame: LocalFrame, lat: float, lon: float, line_lat: np.ndarray, line_lon: np.ndarray) -> float:
    """Distance in metres from a point to a polyline (in the local metric frame)."""
    px, py = frame.to_xy(lat, lon)
    x, y = frame.to_xy(line_lat, line_lon)
    if len(x) == 1:
        return float(np.hypot(x[0] - px, y[0] - py))
    ax, ay, bx, by = x[:-1], y[:-1], x[1:], y[1:]
    dx, dy = bx - ax, by - ay
    seg2 = dx * dx + dy * dy
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / np.where(seg2 > 0, seg2, 1.0), 0.0, 1.0)
    return float(np.min(np.hypot(ax + t * dx - px, ay + t * dy - py)))
