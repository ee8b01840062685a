"""The excursion kernel against its shapely twin; corridor construction; detour behaviour."""

import math

import h3.api.basic_int as h3i
import numpy as np
import pytest

from tests.kernels.corridor_ref import ExcursionsRef, project_route_np
from tripguard.detectors.route import Corridors, build_corridor, densify, route_cells
from tripguard.kernels import corridor as C

M_PER_DEG = 111_195.0
RES, RING = 10, 2
# min_fixes, min_dist_m, min_extra_m, end_near_m, min_extra_s, stop_s
PARAMS = np.array([[2.0, 400.0, 800.0, 500.0, 60.0, 120.0]])


def offset(lat, lon, east_m, north_m):
    return lat + north_m / M_PER_DEG, lon + east_m / (M_PER_DEG * math.cos(math.radians(lat)))


def random_route(rng, lat0, lon0, n=12):
    pts = [(lat0, lon0)]
    heading = rng.uniform(0, 2 * math.pi)
    for _ in range(n - 1):
        heading += rng.normal(0, 0.6)
        d = rng.uniform(150, 900)
        pts.append(offset(*pts[-1], d * math.sin(heading), d * math.cos(heading)))
    return np.array(pts)


def drive(rng, route, spacing_m=120.0, detour=None, noise_m=8.0):
    """Fixes along the route (every spacing_m), optionally with a detour out to a waypoint."""
    pts = densify(route, spacing_m)
    if detour is not None:
        i, away_m, *fixed_heading = detour
        i = min(i, len(pts) - 4)
        a, b = pts[i], pts[i + 3]
        mid = (a + b) / 2
        heading = fixed_heading[0] if fixed_heading else rng.uniform(0, 2 * math.pi)
        way = np.array(offset(*mid, away_m * math.sin(heading), away_m * math.cos(heading)))
        out_leg = np.linspace(a, way, 12)[1:]
        back_leg = np.linspace(way, b, 12)[1:]
        pts = np.vstack([pts[: i + 1], out_leg, back_leg, pts[i + 4 :]])
    noisy = np.array([offset(la, lo, rng.normal(0, noise_m), rng.normal(0, noise_m)) for la, lo in pts])
    ts = 1_700_000_000_000 + np.arange(len(noisy), dtype=np.int64) * 10_000
    return ts, noisy


def run_both(trips, rng):
    """trips: list of (route, ts, pts, flags). Kernel over interleaved batches vs twin per trip."""
    n = len(trips)
    arena = Corridors(n)
    state = C.new_route_state(n)
    last_cell = np.zeros(n, np.int64)
    refs = []
    for s, (route, _ts, _pts, _flags) in enumerate(trips):
        cells = build_corridor(route, RES, RING)
        lat0, lon0, cos0, x, y, cum = C.project_route(route)
        arena.add(s, cells, x, y, cum)
        state[s, C.R_ACTIVE], state[s, C.R_LAT0], state[s, C.R_LON0], state[s, C.R_COS0] = 1, lat0, lon0, cos0
        refs.append(ExcursionsRef(cells, x, y, lat0, lon0, cos0, *PARAMS[0]))
    rows = [(s, j) for s, t in enumerate(trips) for j in range(len(t[1]))]
    rows.sort(key=lambda r: trips[r[0]][1][r[1]] + rng.integers(0, 5000))  # interleave trips
    rows.sort(key=lambda r: (r[0], r[1]))
    kernel_events = []
    city = np.zeros(n, np.int64)
    for chunk in np.array_split(np.arange(len(rows)), 7):
        sel = [rows[k] for k in chunk]
        slot = np.array([s for s, _ in sel], np.int64)
        ts = np.array([trips[s][1][j] for s, j in sel], np.int64)
        lat = np.array([trips[s][2][j, 0] for s, j in sel])
        lon = np.array([trips[s][2][j, 1] for s, j in sel])
        flag = np.array([trips[s][3][j] for s, j in sel], np.int8)
        cell = np.array([h3i.latlng_to_cell(a, b, RES) for a, b in zip(lat, lon)], np.int64)
        kernel_events.extend(C.excursions(slot, ts, lat, lon, flag, cell, state, last_cell, city, PARAMS, arena))
    last_ts = np.array([t[1][-1] for t in trips], np.int64)
    kernel_events.extend(C.finish(np.arange(n, dtype=np.int64), last_ts, state, city, PARAMS, arena))
    for s, (_route, ts, pts, flags) in enumerate(trips):
        for j in range(len(ts)):
            refs[s].fix(int(ts[j]), pts[j, 0], pts[j, 1], flags[j], h3i.latlng_to_cell(pts[j, 0], pts[j, 1], RES))
        refs[s].finish(int(ts[-1]))
    return kernel_events, refs


@pytest.mark.parametrize("seed", range(4))
def test_kernel_matches_shapely_twin(seed):
    rng = np.random.default_rng(seed)
    trips = []
    for k in range(12):
        place = [(41.15, -8.61), (40.75, -73.98), (64.1, -21.9), (-33.87, 151.2)][k % 4]
        route = random_route(rng, *place)
        detour = (int(rng.integers(2, 20)), float(rng.uniform(300, 2500))) if k % 3 else None
        ts, pts = drive(rng, route, detour=detour)
        flags = np.zeros(len(ts), np.int8)
        if k % 5 == 4:
            flags[len(ts) // 2] = C.F_TELEPORT
        if k % 7 == 6:
            flags[len(ts) // 3 : len(ts) // 3 + 4] = C.F_FAST
        trips.append((route, ts, pts, flags))
    kernel_events, refs = run_both(trips, rng)
    want = {(s, e["end"]): e for s, r in enumerate(refs) for e in r.events}
    got = {(int(e[C.X_SLOT]), int(e[C.X_END_TS])): e for e in kernel_events}
    assert got.keys() == want.keys()
    assert len(got) >= 3  # detours were found, or this compares nothing
    for key, e in got.items():
        w = want[key]
        assert e[C.X_LEN_M] == pytest.approx(w["len"], rel=1e-6, abs=1e-3)
        assert e[C.X_EXTRA_M] == pytest.approx(w["extra"], rel=1e-4, abs=0.5)
        assert e[C.X_MAXD_M] == pytest.approx(w["maxd"], rel=1e-6, abs=1e-3)
        assert e[C.X_N_FIXES] == w["n"] and bool(e[C.X_CLOSED]) == w["closed"]
        assert e[C.X_EXTRA_S] == pytest.approx(w["extra_s"], rel=1e-4, abs=0.5)
        assert e[C.X_STILL_S] == pytest.approx(w["still"], abs=1e-6)


def test_route_cells_have_no_gaps():
    rng = np.random.default_rng(3)
    for place in [(41.15, -8.61), (0.0, 179.995), (78.2, 15.6)]:
        route = random_route(rng, *place, n=20)
        cells = route_cells(route, RES)
        assert all(h3i.are_neighbor_cells(int(a), int(b)) for a, b in zip(cells[:-1], cells[1:]))


def test_corridor_is_the_dilated_route():
    route = random_route(np.random.default_rng(4), 41.15, -8.61)
    corridor = build_corridor(route, RES, RING)
    core = route_cells(route, RES)
    want = set()
    for c in core:
        want |= set(h3i.grid_disk(int(c), RING))
    assert set(corridor.tolist()) == want and np.all(np.diff(corridor) > 0)


def test_detour_is_an_excursion_with_its_extra_distance():
    rng = np.random.default_rng(5)
    route = np.array([(41.15, -8.62), offset(41.15, -8.62, 4000, 0)])  # 4 km due east
    ts, pts = drive(rng, route, detour=(10, 1500.0, 0.0), noise_m=5.0)  # out 1.5 km due north and back
    events, _ = run_both([(route, ts, pts, np.zeros(len(ts), np.int8))], rng)
    assert len(events) == 1
    e = events[0]
    # out 1.5 km and back over a ~360 m stretch of route; measured from the last fix inside the
    # ~200-250 m corridor to the first one back: about 2 x (1.5 - 0.25) km - 0.36 km extra
    assert 1900 < e[C.X_EXTRA_M] < 2800 and 1300 < e[C.X_MAXD_M] < 1600 and e[C.X_CLOSED] == 1


def _detour_trip(rng, pace_factor=1.0, stop_s=0.0):
    """4 km due east, out 1.5 km north and back; the detour's fixes driven pace_factor times the
    trip's own pace, with a standstill of stop_s at the far end."""
    route = np.array([(41.15, -8.62), offset(41.15, -8.62, 4000, 0)])
    ts, pts = drive(rng, route, detour=(10, 1500.0, 0.0), noise_m=5.0)
    step_ms = np.diff(ts).astype(float)
    out = np.arange(11, 33)  # the 22 fixes of the detour legs (drive(): 11 out, 11 back)
    step_ms[out - 1] /= pace_factor
    step_ms[21] += 1000.0 * stop_s  # the step leaving the waypoint
    ts = ts[0] + np.concatenate([[0], np.cumsum(step_ms)]).astype(np.int64)
    return route, ts, pts


def test_a_detour_at_the_trips_own_pace_adds_time_and_is_an_excursion():
    rng = np.random.default_rng(5)
    route, ts, pts = _detour_trip(rng)
    events, _ = run_both([(route, ts, pts, np.zeros(len(ts), np.int8))], rng)
    assert len(events) == 1 and events[0][C.X_EXTRA_S] > 150.0


def test_a_longer_but_not_slower_route_is_not_a_detour():
    """A ring road instead of the centre: more distance, driven fast enough to lose no time."""
    rng = np.random.default_rng(5)
    route, ts, pts = _detour_trip(rng, pace_factor=8.0)
    events, refs = run_both([(route, ts, pts, np.zeros(len(ts), np.int8))], rng)
    assert events == [] and refs[0].events == []


def test_a_stop_off_the_route_is_not_a_detour():
    """Minutes standing at the far end: a stop the rider asked for, not padding."""
    rng = np.random.default_rng(5)
    route, ts, pts = _detour_trip(rng, stop_s=300.0)
    pts[21:23] = pts[21]  # parked at the waypoint: the next accepted fix is a short step later
    events, refs = run_both([(route, ts, pts, np.zeros(len(ts), np.int8))], rng)
    assert events == [] and refs[0].events == []


def test_parallel_street_and_tunnel_are_not_excursions():
    rng = np.random.default_rng(6)
    route = np.array([(41.15, -8.62), offset(41.15, -8.62, 4000, 0)])
    ts, pts = drive(rng, route, noise_m=5.0)
    pts[10:20] = [offset(la, lo, 0, 120) for la, lo in pts[10:20]]  # one block north for a while
    tunnel = np.r_[0:5, 25 : len(ts)]  # 200 s without fixes, straight line across
    events, _ = run_both([(route, ts[tunnel], pts[tunnel], np.zeros(tunnel.size, np.int8))], rng)
    assert events == []


def test_teleport_displacement_is_not_a_detour():
    rng = np.random.default_rng(7)
    route = np.array([(41.15, -8.62), offset(41.15, -8.62, 4000, 0)])
    ts, pts = drive(rng, route, noise_m=5.0)
    pts[15:] = [offset(la, lo, 0, 3000) for la, lo in pts[15:]]
    flags = np.zeros(len(ts), np.int8)
    flags[15] = C.F_TELEPORT
    events, _ = run_both([(route, ts, pts, flags)], rng)
    assert events == []


def test_route_cells_kernel_matches_numpy_densify_and_h3py():
    rng = np.random.default_rng(11)
    for place in [(41.15, -8.61), (0.0, 179.99), (78.2, 15.6), (-33.87, 151.2)]:
        route = random_route(rng, *place, n=15)
        for res in (9, 10):
            spacing = 0.5 * h3i.average_hexagon_edge_length(res, "m") * math.sqrt(3) / 2
            pts = densify(route, spacing)
            want = np.array([h3i.latlng_to_cell(a, b, res) for a, b in pts], np.int64)
            want = want[np.concatenate([[True], want[1:] != want[:-1]])]
            np.testing.assert_array_equal(route_cells(route, res), want)


def test_project_route_kernel_matches_numpy():
    rng = np.random.default_rng(5)
    for lat0, lon0 in ((41.15, -8.61), (-33.9, 151.2), (64.1, 179.999)):  # one across the antimeridian
        route = random_route(rng, lat0, lon0, n=int(rng.integers(2, 60)))
        route[:, 1] = (route[:, 1] + 540.0) % 360.0 - 180.0
        got, want = C.project_route(route), project_route_np(route)
        assert got[:3] == want[:3]
        for a, b in zip(got[3:], want[3:]):
            np.testing.assert_array_equal(a, b)  # bit for bit: the frame excursions are measured in


def test_arena_compaction_keeps_every_live_corridor_and_drops_the_closed():
    rng = np.random.default_rng(8)
    arena = Corridors(4, cells=64, points=32)  # tiny: adding 40 corridors compacts and grows it
    live = {}
    for k in range(40):
        slot = k % 4
        if slot in live and rng.random() < 0.7:
            arena.remove(slot)
            del live[slot]
        if slot not in live:
            n, m = int(rng.integers(1, 30)), int(rng.integers(2, 15))
            corridor = (rng.integers(0, 1 << 60, n), rng.normal(size=m), rng.normal(size=m), np.cumsum(rng.random(m)))
            arena.add(slot, *corridor)
            live[slot] = corridor
        assert_arena_holds(arena, live)
    arena._make_room(0, 0)  # what is left after a compaction is the live corridors, nothing else
    assert arena.n_cells == sum(c[0].size for c in live.values())
    assert arena.n_points == sum(c[1].size for c in live.values())
    assert_arena_holds(arena, live)


def assert_arena_holds(arena, live):
    """Each live slot's slice of the arena is the corridor it was given."""
    for s, want in live.items():
        for got, expected in zip(arena.slice(s), want):
            np.testing.assert_array_equal(got, expected)
