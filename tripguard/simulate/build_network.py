"""Derive the shipped Porto road network (data/porto/network.npz) from the OSM extract.

Run once by a maintainer, not at simulation time:

    python -m tripguard.simulate.build_network OSM_DIR data/porto/network.npz

Inputs (in OSM_DIR; not shipped, see data/porto/ATTRIBUTION): porto_drive_edges.csv.gz, the
osmnx-simplified directed edge list (two-way streets appear once per direction), and
porto_drive.osm.bz2, the OSM XML it was simplified from. The edge list only has the two end nodes of each edge; the curve between them
(up to ~3x longer than the chord on ramps and bends) is recovered here from the OSM ways, so that
simulated cars drive on the road and a route's polyline is the road, not a chord across blocks.

Output: the largest strongly connected component (every node reachable from every other,
respecting one-way streets), as flat arrays:
  node_lat_e7, node_lon_e7 (int32, OSM's 1e-7 degree precision), node_osmid (int64)
  edge_u, edge_v (int32 node indexes), edge_speed_kmh (float32, posted maxspeed or the class
  default), edge_class (int8 into class_names), edge_tunnel (bool), geom_counts (uint16 points per
  edge, endpoints included), geom_lat_e6 / geom_lon_e6 (int32 micro-degrees, ~0.1 m, edges
  concatenated). Edge lengths are recomputed from the geometry on load (smaller file).
"""

from __future__ import annotations

import bz2
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import polars as pl
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from tripguard.simulate.geodesy import haversine_m

# Road classes, in the order of the int8 code. The speed is the default when OSM has no maxspeed
# (Portuguese urban limit 50 km/h; residential streets and living streets are slower in practice).
CLASSES = (
    "motorway",
    "trunk",
    "primary",
    "secondary",
    "tertiary",
    "unclassified",
    "residential",
    "living_street",
    "motorway_link",
    "trunk_link",
    "primary_link",
    "secondary_link",
    "tertiary_link",
    "service",
    "other",
)
CLASS_SPEED_KMH = {
    "motorway": 90.0,
    "trunk": 80.0,
    "primary": 50.0,
    "secondary": 50.0,
    "tertiary": 40.0,
    "unclassified": 40.0,
    "residential": 30.0,
    "living_street": 20.0,
    "motorway_link": 50.0,
    "trunk_link": 50.0,
    "primary_link": 40.0,
    "secondary_link": 40.0,
    "tertiary_link": 30.0,
    "service": 20.0,
    "other": 30.0,
}


def _road_class(highway: str) -> str:
    # osmnx joins the classes of merged ways with '|'; the first one names the road.
    first = highway.split("|")[0]
    return first if first in CLASS_SPEED_KMH else "other"


def _speed_kmh(maxspeed: str | None, road_class: str) -> float:
    if maxspeed:
        values = [float(p) for p in maxspeed.split("|") if p.strip().replace(".", "", 1).isdigit()]
        if values:
            return min(values)  # merged ways: the slowest posted limit governs the edge
    return CLASS_SPEED_KMH[road_class]


def read_osm(path: Path) -> tuple[dict[int, tuple[float, float]], dict[int, list[int]], set[int]]:
    """Nodes (id -> (lat, lon)), ways (id -> node ids) and the ids of tunnel ways."""
    nodes: dict[int, tuple[float, float]] = {}
    ways: dict[int, list[int]] = {}
    tunnels: set[int] = set()
    with bz2.open(path, "rb") as fh:
        for _, elem in ET.iterparse(fh, events=("end",)):
            if elem.tag == "node":
                nodes[int(elem.get("id"))] = (float(elem.get("lat")), float(elem.get("lon")))
                elem.clear()
            elif elem.tag == "way":
                wid = int(elem.get("id"))
                ways[wid] = [int(nd.get("ref")) for nd in elem.iter("nd")]
                for tag in elem.iter("tag"):
                    if tag.get("k") in ("tunnel", "covered") and tag.get("v") in ("yes", "building_passage"):
                        tunnels.add(wid)
                elem.clear()
    return nodes, ways, tunnels


def edge_geometry(
    u: int,
    v: int,
    way_ids: list[int],
    length_m: float,
    ways: dict[int, list[int]],
    graph_nodes: set[int],
    coords: dict[int, tuple[float, float]],
) -> list[int] | None:
    """OSM node ids from u to v along the edge's ways, through no other graph node; among the
    candidate chains (parallel edges share ends) the one whose length best matches length_m."""
    adjacency: dict[int, set[int]] = {}
    for wid in way_ids:
        refs = ways.get(wid, [])
        for a, b in zip(refs, refs[1:]):
            adjacency.setdefault(a, set()).add(b)
            adjacency.setdefault(b, set()).add(a)
    if u not in adjacency:
        return None
    best: list[int] | None = None
    best_err = float("inf")
    stack: list[tuple[int, list[int]]] = [(u, [u])]
    while stack:
        node, path = stack.pop()
        if len(path) > 2000:
            continue
        for nxt in adjacency.get(node, ()):
            if nxt == v and len(path) >= 1 and not (u == v and len(path) < 3):
                cand = path + [v]
                lat = np.array([coords[n][0] for n in cand])
                lon = np.array([coords[n][1] for n in cand])
                err = abs(float(haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]).sum()) - length_m)
                if err < best_err:
                    best, best_err = cand, err
                continue
            if nxt in path or (nxt in graph_nodes and nxt != v):
                continue
            stack.append((nxt, path + [nxt]))
    return best


def build(source_dir: Path, out_path: Path) -> dict[str, float]:
    edges = pl.read_csv(
        source_dir / "porto_drive_edges.csv.gz",
        infer_schema_length=None,
        schema_overrides={"osmid": pl.String, "maxspeed": pl.String, "name": pl.String},
    )
    nodes_csv = pl.read_csv(source_dir / "porto_drive_nodes.csv.gz")
    coords, ways, tunnel_ways = read_osm(source_dir / "porto_drive.osm.bz2")

    graph_ids = nodes_csv["osmid"].to_numpy()
    index_of = {int(n): i for i, n in enumerate(graph_ids)}
    u_idx = np.array([index_of[int(x)] for x in edges["u"]], dtype=np.int64)
    v_idx = np.array([index_of[int(x)] for x in edges["v"]], dtype=np.int64)
    n = len(graph_ids)
    adj = csr_matrix((np.ones(len(u_idx)), (u_idx, v_idx)), shape=(n, n))
    _, labels = connected_components(adj, directed=True, connection="strong")
    biggest = np.bincount(labels).argmax()
    keep_node = labels == biggest
    keep_edge = keep_node[u_idx] & keep_node[v_idx]

    new_index = np.full(n, -1, dtype=np.int64)
    new_index[keep_node] = np.arange(int(keep_node.sum()))
    graph_set = set(int(x) for x in graph_ids)

    geom_lat: list[float] = []
    geom_lon: list[float] = []
    offsets = [0]
    e_u, e_v, e_speed, e_class, e_tunnel = [], [], [], [], []
    chord_fallbacks = 0
    length_err = []
    rows = edges.select("u", "v", "osmid", "highway", "length", "maxspeed").rows()
    for keep, (u, v, osmid, highway, length_m, maxspeed) in zip(keep_edge, rows):
        if not keep:
            continue
        way_ids = [int(w) for w in str(osmid).split("|")]
        chain = edge_geometry(int(u), int(v), way_ids, float(length_m), ways, graph_set, coords)
        if chain is None:
            chain = [int(u), int(v)]
            chord_fallbacks += 1
        lat = np.array([coords[c][0] for c in chain])
        lon = np.array([coords[c][1] for c in chain])
        geo_len = float(haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]).sum())
        length_err.append(abs(geo_len - length_m) / max(length_m, 1.0))
        geom_lat.extend(lat)
        geom_lon.extend(lon)
        offsets.append(len(geom_lat))
        cls = _road_class(highway)
        e_u.append(new_index[index_of[int(u)]])
        e_v.append(new_index[index_of[int(v)]])
        e_speed.append(_speed_kmh(maxspeed, cls))
        e_class.append(CLASSES.index(cls))
        e_tunnel.append(any(w in tunnel_ways for w in way_ids))

    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out_path,
        node_lat_e7=np.round(nodes_csv["lat"].to_numpy()[keep_node] * 1e7).astype(np.int32),
        node_lon_e7=np.round(nodes_csv["lon"].to_numpy()[keep_node] * 1e7).astype(np.int32),
        node_osmid=graph_ids[keep_node].astype(np.int64),
        edge_u=np.asarray(e_u, dtype=np.int32),
        edge_v=np.asarray(e_v, dtype=np.int32),
        edge_speed_kmh=np.asarray(e_speed, dtype=np.float32),
        edge_class=np.asarray(e_class, dtype=np.int8),
        edge_tunnel=np.asarray(e_tunnel, dtype=bool),
        class_names=np.asarray(CLASSES),
        geom_counts=np.diff(np.asarray(offsets)).astype(np.uint16),
        geom_lat_e6=np.round(np.asarray(geom_lat) * 1e6).astype(np.int32),
        geom_lon_e6=np.round(np.asarray(geom_lon) * 1e6).astype(np.int32),
    )
    err = np.asarray(length_err)
    return {
        "nodes": int(keep_node.sum()),
        "edges": int(keep_edge.sum()),
        "chord_fallbacks": chord_fallbacks,
        "length_err_p50": float(np.median(err)),
        "length_err_p99": float(np.percentile(err, 99)),
        "length_err_max": float(err.max()),
        "bytes": out_path.stat().st_size,
    }


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m tripguard.simulate.build_network SOURCE_DIR OUT.npz")
    print(build(Path(sys.argv[1]), Path(sys.argv[2])))
