"""A robust estimate of the distance a car really drove, from a faulty GPS trace.

Real Porto traces contain (1) multipath spikes: one to a few fixes kilometres off, then back;
(2) missing fixes: one 15 s step that spans several intervals' worth of road; (3) jitter while
stopped. The estimate removes (1), bridges (2) by road distance instead of the straight chord, and
ignores (3). It is the ground truth the honest claims are drawn around, so it is tested on traces
whose true length is known (tests/heldout/test_pathlen.py).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.csgraph import dijkstra

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
# Steps longer than this are bridged by road distance: no car covers it in one 15 s interval on these
# roads (> 45 m/s), so fixes were missing and the car followed the roads meanwhile. Shorter steps keep
# the chord (snapping each end to a node would add more error than the corner it cuts).
BRIDGE_STEP_M = 700.0
MAX_DETOUR_FACTOR = 1.6  # a road bridge longer than this times the chord is a routing artefact: keep the chord


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
    keep = list(keep)
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
                    del keep[k : k + w]
                    changed = True
                else:
                    k += 1
    return np.asarray(keep, dtype=np.int64)


def clean_indexes(lat: np.ndarray, lon: np.ndarray, t_s: np.ndarray) -> np.ndarray:
    """Indexes of the fixes that describe where the car was (spikes removed), in order."""
    x, y = _xy(lat, lon)
    chain = consistent_chain(x, y, t_s)
    return drop_out_and_back(x, y, chain)


def _road_distance_m(net, lat1, lon1, lat2, lon2, length_graph, chord_m: float) -> float | None:
    a, da = net.nearest_node(lat1, lon1)
    b, db = net.nearest_node(lat2, lon2)
    if a == b or da > 80.0 or db > 80.0:
        return None
    dist = dijkstra(length_graph, directed=True, indices=a, limit=MAX_DETOUR_FACTOR * chord_m + 200.0)
    road = float(dist[b])
    if not np.isfinite(road) or road > MAX_DETOUR_FACTOR * chord_m:
        return None
    return max(road, chord_m)


def driven_distance_m(lat: np.ndarray, lon: np.ndarray, t_s: np.ndarray, net=None, length_graph=None) -> float:
    """Robust driven distance in metres. With a network (and its length-weighted graph), long steps
    (missing fixes) are bridged by road distance; without, by the chord."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    if len(lat) < 2:
        return 0.0
    idx = clean_indexes(lat, lon, np.asarray(t_s, dtype=np.float64))
    x, y = _xy(lat, lon)
    total = 0.0
    anchor = idx[0]
    for j in idx[1:]:
        step = float(np.hypot(x[j] - x[anchor], y[j] - y[anchor]))
        if step < JITTER_M:
            continue
        if step > BRIDGE_STEP_M and net is not None and length_graph is not None:
            road = _road_distance_m(net, lat[anchor], lon[anchor], lat[j], lon[j], length_graph, step)
            if road is not None:
                step = road
        total += step
        anchor = j
    return total
