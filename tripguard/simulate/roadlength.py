"""A robust estimate of the distance a car really drove, from a faulty GPS trace.

Real Porto traces contain (1) multipath spikes: one to a few fixes kilometres off, then back;
(2) missing fixes: one 15 s step that spans several intervals' worth of road; (3) jitter while
stopped. And 15 s between fixes cuts the corners of the streets. The estimate removes (1), ignores
(3), and measures on the roads between fixes a few hundred metres apart, which bridges (2) and the
corners alike. It is the ground truth the honest claims are drawn around, so it is tested on traces
whose true length is known (tests/simulate/test_roadlength.py).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from tripguard.simulate.geodesy import LocalFrame

# Fastest plausible car in the data (motorway, plus a slack for fix error): anything that needs more
# between two fixes is not the car. Real Porto steps reach ~45 m/s on the A1/VCI.
MAX_SPEED_MPS = 55.0
SLACK_M = 100.0
# An out-and-back excursion too small for the speed test (a few hundred metres): the trace jumps
# away by more than SPIKE_JUMP_M and jumps back in the opposite direction within 1..MAX_SPIKE_FIXES
# fixes, and both jumps are much longer than the steps the car makes just before and after (a fast
# car on a motorway loop ramp reverses too, but its steps around the loop are all long).
SPIKE_JUMP_M = 300.0
SPIKE_REVERSAL_COS = -0.3
SPIKE_CONTEXT_FACTOR = 2.5
MAX_SPIKE_FIXES = 3
# Below this the car is treated as not having moved from its last counted position (stop jitter).
JITTER_M = 12.0
# Fixes 15 s apart cut the corners of the streets: their chords under-read a city drive by ~5 %
# (tests/simulate/test_roadlength.py). So the distance is measured on the roads between anchor fixes
# about ANCHOR_M apart. Each anchor is projected onto one of the road edges near it (the nearest is
# often a bridge or a parallel street), choosing the sequence of projections whose road distances
# agree best with the chords (Viterbi). Each anchor's projection ends one stretch and starts the
# next, so projection errors cancel along the trip.
ANCHOR_M = 150.0
SNAP_M = 60.0  # candidate edges for an anchor; none this close: off the mapped roads, keep the chord
SNAP_K = 48  # nearest road points looked at, giving the distinct edges near a fix
DENSIFY_M = 5.0
# Matching costs (Newson & Krumm style, as negative log-likelihoods): the distance to the road with
# a GPS-like sd, the road-vs-chord disagreement on an exponential scale.
SNAP_SD_M = 5.0
TRANSITION_M = 30.0
ROAD_OVER_CHORD = (0.8, 1.6)  # outside this the road path is not the one driven: keep the chord


def _xy(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    frame = LocalFrame(float(np.median(lat)), float(np.median(lon)))
    return frame.to_xy(lat, lon)


def consistent_chain(x: np.ndarray, y: np.ndarray, t_s: np.ndarray) -> np.ndarray:
    """Indexes of the longest subsequence of fixes a car could have produced (speed-feasible between
    consecutive kept fixes). Spikes of any length up to half the trace fall out of it."""
    n = len(x)
    best = np.ones(n, dtype=np.int64)
    prev = np.full(n, -1, dtype=np.int64)
    for j in range(1, n):
        d = np.hypot(x[:j] - x[j], y[:j] - y[j])
        ok = d <= MAX_SPEED_MPS * (t_s[j] - t_s[:j]) + SLACK_M
        if ok.any():
            cand = np.where(ok, best[:j], 0)
            i = int(np.argmax(cand))  # earliest of the best: ties keep the longer chain start
            best[j] = cand[i] + 1
            prev[j] = i
    j = int(np.argmax(best))
    out = [j]
    while prev[out[-1]] >= 0:
        out.append(int(prev[out[-1]]))
    return np.asarray(out[::-1], dtype=np.int64)


def drop_out_and_back(x: np.ndarray, y: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Remove windows of 1..MAX_SPIKE_FIXES kept fixes that the trace jumps into and back out of."""
    keep = list(keep)  # type: ignore[assignment]
    changed = True
    while changed:
        changed = False
        for w in range(1, MAX_SPIKE_FIXES + 1):
            k = 1
            while k + w < len(keep):
                a, p, q, b = keep[k - 1], keep[k], keep[k + w - 1], keep[k + w]
                ix, iy = x[p] - x[a], y[p] - y[a]
                ox, oy = x[b] - x[q], y[b] - y[q]
                jump_in, jump_out = np.hypot(ix, iy), np.hypot(ox, oy)
                before = np.hypot(x[a] - x[keep[k - 2]], y[a] - y[keep[k - 2]]) if k >= 2 else 0.0
                after = np.hypot(x[keep[k + w + 1]] - x[b], y[keep[k + w + 1]] - y[b]) if k + w + 1 < len(keep) else 0.0
                jump = max(SPIKE_JUMP_M, SPIKE_CONTEXT_FACTOR * max(before, after))
                if min(jump_in, jump_out) > jump and (ix * ox + iy * oy) < SPIKE_REVERSAL_COS * jump_in * jump_out:
                    del keep[k : k + w]  # type: ignore[attr-defined]
                    changed = True
                else:
                    k += 1
    return np.asarray(keep, dtype=np.int64)


def clean_indexes(lat: np.ndarray, lon: np.ndarray, t_s: np.ndarray) -> np.ndarray:
    """Indexes of the fixes that describe where the car was (spikes removed), in order."""
    x, y = _xy(lat, lon)
    chain = consistent_chain(x, y, t_s)
    return drop_out_and_back(x, y, chain)


def _anchors(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> tuple[list[int], list[float]]:
    """Anchor fixes about ANCHOR_M of movement apart (the first and last clean fix included), and the
    chord distance between successive anchors, stop jitter ignored."""
    anchors, chords = [int(idx[0])], []
    last, run = int(idx[0]), 0.0
    for j in idx[1:]:
        step = float(np.hypot(x[j] - x[last], y[j] - y[last]))
        if step < JITTER_M:
            continue
        run += step
        last = int(j)
        if run >= ANCHOR_M:
            anchors.append(last)
            chords.append(run)
            run = 0.0
    if run > 0.0:
        anchors.append(last)
        chords.append(run)
    return anchors, chords


def _emission(snap_m: float) -> float:
    # GPS puts a car within a few metres of its road: the nearest candidate is usually right
    return 0.5 * (snap_m / SNAP_SD_M) ** 2


class RoadMeter:
    """Measures a trace on the road network (see ANCHOR_M)."""

    def __init__(self, net):
        self.net = net
        self.graph = net.graph(net.edge_length_m)
        # Every edge's geometry as points at most DENSIFY_M apart, each knowing its edge and how far
        # along it lies: the nearest points to a fix then give its projections onto nearby edges.
        glat, glon = net.geom_lat, net.geom_lon
        gx, gy = net.frame.to_xy(glat, glon)
        edge_of_vertex = np.searchsorted(net.geom_offsets, np.arange(len(glat)), side="right") - 1
        seg_edge = edge_of_vertex[:-1]
        same = seg_edge == edge_of_vertex[1:]  # segments inside one edge's geometry
        sx, sy = gx[:-1][same], gy[:-1][same]
        dx, dy = (gx[1:] - gx[:-1])[same], (gy[1:] - gy[:-1])[same]
        seg_m = np.hypot(dx, dy)
        seg_edge = seg_edge[same]
        # distance along the edge at each segment's start
        first = np.r_[True, seg_edge[1:] != seg_edge[:-1]]
        csum = np.cumsum(seg_m)
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(seg_m)), 0))
        start_along = csum - seg_m - (csum - seg_m)[group_start]
        self.edge_geom_m = np.zeros(net.edge_u.shape[0])
        np.add.at(self.edge_geom_m, seg_edge, seg_m)
        pieces = np.maximum(1, np.ceil(seg_m / DENSIFY_M).astype(np.int64))
        seg_of_point = np.repeat(np.arange(len(seg_m)), pieces)
        frac = (np.arange(len(seg_of_point)) - np.repeat(np.cumsum(pieces) - pieces, pieces)) / pieces[seg_of_point]
        px = sx[seg_of_point] + frac * dx[seg_of_point]
        py = sy[seg_of_point] + frac * dy[seg_of_point]
        self.point_edge = seg_edge[seg_of_point]
        self.point_along = start_along[seg_of_point] + frac * seg_m[seg_of_point]
        self.tree = cKDTree(np.column_stack([px, py]))

    def candidates(self, lat: float, lon: float) -> list[tuple[int, float, float]]:
        """(edge, metres along it, distance to it) of the distinct edges near a point."""
        x, y = self.net.frame.to_xy(lat, lon)
        d, v = self.tree.query([float(x), float(y)], k=SNAP_K, distance_upper_bound=SNAP_M)
        out: dict[int, tuple[int, float, float]] = {}
        for dist, p in zip(d, v):
            if not np.isfinite(dist):
                break
            e = int(self.point_edge[p])
            if e not in out:
                out[e] = (e, float(self.point_along[p]), float(dist))
        return list(out.values())

    def measure(self, lat: np.ndarray, lon: np.ndarray, anchors: list[int], chords: list[float]) -> float:
        cands = [self.candidates(lat[i], lon[i]) for i in anchors]
        ends = sorted({int(n) for c in cands for e, _, _ in c for n in (self.net.edge_u[e], self.net.edge_v[e])})
        if not ends:
            return float(sum(chords))
        limit = ROAD_OVER_CHORD[1] * max(chords) + 200.0
        dist = dijkstra(self.graph, directed=False, indices=ends, limit=limit)
        row = {n: k for k, n in enumerate(ends)}
        total = 0.0
        k = 0
        while k < len(chords):  # runs of anchors that all have candidates are matched together
            if not cands[k] or not cands[k + 1]:
                total += chords[k]
                k += 1
                continue
            end = k + 1
            while end < len(chords) and cands[end + 1]:
                end += 1
            total += self._viterbi(cands[k : end + 1], chords[k:end], dist, row)
            k = end
        return total

    def _road_m(self, a: tuple, b: tuple, dist, row) -> float:
        """Road distance between two projections (either direction: the chord does not say which
        carriageway, and a one-way detour is not what was driven)."""
        (ea, oa, _), (eb, ob, _) = a, b
        net = self.net
        if ea == eb:
            return abs(ob - oa)
        best = np.inf
        for na, da in ((net.edge_u[ea], oa), (net.edge_v[ea], self.edge_geom_m[ea] - oa)):
            for nb, db in ((net.edge_u[eb], ob), (net.edge_v[eb], self.edge_geom_m[eb] - ob)):
                best = min(best, da + float(dist[row[int(na)], int(nb)]) + db)
        return best

    def _viterbi(self, cands, chords, dist, row) -> float:
        """Road length of the best projection sequence; a stretch whose road disagrees with its
        chord counts its chord."""

        def leg(a, b, chord: float) -> tuple[float, float]:
            road = self._road_m(a, b, dist, row)
            if np.isfinite(road) and ROAD_OVER_CHORD[0] * chord <= road <= ROAD_OVER_CHORD[1] * chord + 100.0:
                return abs(road - chord) / TRANSITION_M, road
            return chord / TRANSITION_M, chord  # no plausible road: as costly as the whole chord, measured by it

        cost = np.array([_emission(c[2]) for c in cands[0]])
        length = np.zeros(len(cost))
        for prev, cur, chord in zip(cands[:-1], cands[1:], chords):
            new_cost = np.full(len(cur), np.inf)
            new_len = np.zeros(len(cur))
            for j, b in enumerate(cur):
                for i, a in enumerate(prev):
                    c, ln = leg(a, b, chord)
                    total = cost[i] + c + _emission(b[2])
                    if total < new_cost[j]:
                        new_cost[j], new_len[j] = total, length[i] + ln
            cost, length = new_cost, new_len
        return float(length[int(np.argmin(cost))])


@lru_cache(maxsize=2)
def road_meter(net) -> RoadMeter:
    """One meter per network (building its road index takes a moment)."""
    return RoadMeter(net)


def driven_distance_m(lat: np.ndarray, lon: np.ndarray, t_s: np.ndarray, meter: RoadMeter | None = None) -> float:
    """Robust driven distance in metres: spikes removed, stop jitter ignored, and, with a RoadMeter,
    measured on the roads between anchor fixes; without, the sum of chords."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    if len(lat) < 2:
        return 0.0
    idx = clean_indexes(lat, lon, np.asarray(t_s, dtype=np.float64))
    x, y = _xy(lat, lon)
    anchors, chords = _anchors(x, y, idx)
    if meter is None or len(chords) == 0:
        return float(sum(chords))
    return meter.measure(lat, lon, anchors, chords)
