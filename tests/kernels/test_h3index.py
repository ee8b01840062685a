"""The Numba H3 indexing kernel against h3-py, its reference twin: zero mismatches.

With the JIT on, 1,000,000 random points (half uniform on the sphere, half uniform in lat/lng)
are checked at res 0, 3, 5, 9, 12 and 15 (point and trajectory kernels), and 200,000 more at all
16 resolutions. With
NUMBA_DISABLE_JIT=1 the same tests run the pure-Python path on 20,000 points.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import h3
import numba
import numpy as np
import pytest
from h3.api import basic_int as h3_int

from tripguard.kernels import h3index
from tripguard.kernels.h3index import (
    ERR0_BY_RES,
    FACE_CENTER_XYZ,
    M_PI_180,
    M_SQRT3_2,
    RES_SCALE,
    _closest_face,
    _gnomonic_hex2d,
    _hex2d_nearest_axial,
    _hex2d_to_ijk,
    _hex_margin,
    _latlng_deg_to_cell_point,
    _latlng_deg_to_cell_step,
    _latlng_to_cell_exact,
    _latlng_to_cell_point,
    _vec3_to_hex2d,
    latlng_to_cell,
    latlng_to_cell_trajectory,
    new_trajectory_state,
)

JIT = not numba.config.DISABLE_JIT
N_GLOBAL = 1_000_000 if JIT else 20_000
N_ALL_RES = 200_000 if JIT else 3_000
PORTO_TRIPS = Path(__file__).resolve().parents[1] / "data" / "porto-trips-200.csv"  # shipped: 200 real trips
ALL_RES = range(16)


def h3py_cells(lat_deg: np.ndarray, lng_deg: np.ndarray, res: int) -> np.ndarray:
    """The reference: h3-py one point at a time; 0 where our contract says H3_NULL."""
    out = np.zeros(len(lat_deg), dtype=np.uint64)
    for n, (lat, lng) in enumerate(zip(lat_deg.tolist(), lng_deg.tolist())):
        if -90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0:
            out[n] = h3_int.latlng_to_cell(lat, lng, res)
    return out


def assert_same_cells(ours: np.ndarray, ref: np.ndarray, lat, lng, res, what: str) -> None:
    bad = np.flatnonzero(ours != ref)
    if bad.size:
        n = bad[0]
        pytest.fail(
            f"{what}: {bad.size} of {len(ref)} mismatches at res {res}; first at "
            f"lat={lat[n]!r} lng={lng[n]!r}: ours {int(ours[n]):x} vs h3 {int(ref[n]):x}"
        )


def sphere_points(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Half uniform on the sphere, half uniform in lat/lng (which crowds the poles)."""
    half = n // 2
    lat_sphere = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, half)))
    lat_box = rng.uniform(-90.0, 90.0, n - half)
    lng = rng.uniform(-180.0, 180.0, n)
    return np.concatenate([lat_sphere, lat_box]), lng


GLOBAL_RES = (0, 3, 5, 9, 12, 15)


@pytest.fixture(scope="module")
def global_points():
    return sphere_points(np.random.default_rng(20240601), N_GLOBAL)


@pytest.fixture(scope="module")
def global_reference(global_points):
    """h3-py's cells of the global points, per resolution (computed once, shared)."""
    lat, lng = global_points
    return {res: h3py_cells(lat, lng, res) for res in GLOBAL_RES}


@pytest.mark.parametrize("res", GLOBAL_RES)
def test_global_random_points_match_h3(global_points, global_reference, res):
    lat, lng = global_points
    assert len(lat) == N_GLOBAL
    ours = latlng_to_cell(lat, lng, res)
    assert_same_cells(ours, global_reference[res], lat, lng, res, "random global points")


@numba.njit(cache=True)  # as every kernel: a second run loads it
def exact_port_cells(lat_deg, lng_deg, res):
    """The plain port (no certified shortcut at all), for every point."""
    out = np.empty(lat_deg.shape[0], dtype=np.uint64)
    for n in range(lat_deg.shape[0]):
        out[n] = _latlng_to_cell_exact(lat_deg[n] * M_PI_180, lng_deg[n] * M_PI_180, res)
    return out


@pytest.mark.parametrize("res", [0, 9, 15])
def test_plain_port_matches_h3(global_points, global_reference, res):
    # the point kernel leaves H3's trigonometric path only when it can prove the same cell;
    # the path it falls back to is checked here on its own, on every point
    lat, lng = global_points
    ours = exact_port_cells(lat, lng, res)
    assert_same_cells(ours, global_reference[res], lat, lng, res, "plain port")


@pytest.mark.parametrize("res", GLOBAL_RES)
def test_trajectory_sweep_over_the_globe_matches_h3(global_points, global_reference, res):
    # the same points visited band by band (0.1 deg of latitude, alternating direction), so
    # consecutive points are neighbours everywhere on the globe and the shortcut is exercised
    lat, lng = global_points
    band = np.floor(lat * 10.0)
    order = np.lexsort((np.where(band % 2 == 0, lng, -lng), band))
    lat_s, lng_s = np.ascontiguousarray(lat[order]), np.ascontiguousarray(lng[order])
    stats: dict = {}
    traj = latlng_to_cell_trajectory(lat_s, lng_s, res, stats=stats)
    assert_same_cells(traj, global_reference[res][order], lat_s, lng_s, res, "global sweep trajectory")
    if JIT and res <= 5:  # 1M points: coarse cells span many consecutive points of the sweep
        assert stats["same_cell"] + stats["walk"] > 0.3 * len(lat)


def test_all_resolutions_match_h3():
    lat, lng = sphere_points(np.random.default_rng(7), N_ALL_RES)
    for res in ALL_RES:
        ours = latlng_to_cell(lat, lng, res)
        assert_same_cells(ours, h3py_cells(lat, lng, res), lat, lng, res, "all resolutions")


# --- targeted edge cases -----------------------------------------------------------------------


def _offsets_around(lat0: float, lng0: float) -> list[tuple[float, float]]:
    """The point and points 1e-9..1e-3 degrees away from it in 8 directions."""
    pts = [(lat0, lng0)]
    for exp in range(-9, -2):
        d = 10.0**exp
        for dlat, dlng in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)):
            pts.append((lat0 + dlat * d, lng0 + dlng * d))
    return pts


def _xyz_to_deg(x: float, y: float, z: float) -> tuple[float, float]:
    return math.degrees(math.asin(max(-1.0, min(1.0, z)))), math.degrees(math.atan2(y, x))


def _icosahedron_vertices() -> np.ndarray:
    """Unit vectors of the 12 icosahedron vertices (= the res-0 pentagon centres)."""
    verts = []
    for cell in h3.get_pentagons(0):
        lat, lng = map(math.radians, h3.cell_to_latlng(cell))
        verts.append((math.cos(lat) * math.cos(lng), math.cos(lat) * math.sin(lng), math.sin(lat)))
    return np.array(verts)


def _face_edge_points(rng: np.random.Generator) -> list[tuple[float, float]]:
    """Points on and next to the icosahedron's 30 edges (where two faces tie)."""
    verts = _icosahedron_vertices()
    pts = []
    for a in range(12):
        for b in range(a + 1, 12):
            cos_ab = float(verts[a] @ verts[b])
            if cos_ab < 0.4:  # adjacent vertices are 63.4 deg apart (cos 0.447)
                continue
            omega = math.acos(cos_ab)
            for t in np.concatenate([np.linspace(0.0, 1.0, 41), rng.uniform(0, 1, 20)]):
                p = (math.sin((1 - t) * omega) * verts[a] + math.sin(t * omega) * verts[b]) / math.sin(omega)
                lat, lng = _xyz_to_deg(*p)
                pts.append((lat, lng))
                for d in (1e-12, 1e-9, 1e-6):
                    pts.append((lat + d, lng))
                    pts.append((lat, lng - d))
    return pts


def edge_case_points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    pts: list[tuple[float, float]] = []
    # pentagon centres at several resolutions, and points 1e-9..1e-3 deg around them
    for res in (0, 1, 5, 9, 15):
        for cell in h3.get_pentagons(res):
            pts += _offsets_around(*h3.cell_to_latlng(cell))
    # icosahedron face centres (H3's r < EPSILON branch) and around them
    for x, y, z in FACE_CENTER_XYZ:
        pts += _offsets_around(*_xyz_to_deg(x, y, z))
    pts += _face_edge_points(rng)
    # poles and near-poles
    for pole in (90.0, -90.0):
        for lng in (-180.0, -179.999, -90.0, -45.0, 0.0, -0.0, 1e-300, 45.0, 90.0, 179.999, 180.0):
            pts.append((pole, lng))
            for exp in range(1, 16):
                pts.append((math.copysign(90.0 - 10.0**-exp, pole), lng))
            pts.append((math.copysign(np.nextafter(90.0, 0.0), pole), lng))
    # the antimeridian and both sides of it
    for lat in np.concatenate([np.linspace(-90, 90, 37), rng.uniform(-90, 90, 40)]):
        for lng in (180.0, -180.0, np.nextafter(180.0, 0.0), np.nextafter(-180.0, 0.0)):
            pts.append((float(lat), float(lng)))
        for exp in range(1, 13):
            pts.append((float(lat), 180.0 - 10.0**-exp))
            pts.append((float(lat), -180.0 + 10.0**-exp))
    # zeros, signed zeros, tiny magnitudes, the domain's limits
    specials = [0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 1e-15, -1e-15, 1e-7, -1e-7]
    pts += [(a, b) for a in specials for b in specials]
    pts += [(a, b) for a in (0.0, -0.0) for b in (180.0, -180.0, 90.0, -90.0, 1e-300)]
    pts += [(90.0, 180.0), (-90.0, -180.0), (90.0, -180.0), (-90.0, 180.0)]
    # cell boundaries: the vertices of cells, and points a hair either side of them
    for res in (0, 3, 7, 9, 12, 15):
        for lat0, lng0 in rng.uniform((-80, -180), (80, 180), (6, 2)):
            cell = h3.latlng_to_cell(float(lat0), float(lng0), res)
            for lat, lng in h3.cell_to_boundary(cell):
                pts += [(lat, lng), (lat + 1e-13, lng), (lat, lng + 1e-13), (lat - 1e-13, lng - 1e-13)]
    lat = np.array([p[0] for p in pts], dtype=np.float64)
    lng = np.array([p[1] for p in pts], dtype=np.float64)
    return lat, lng


def _takes_h3_trigonometric_path(lat_deg: float, lng_deg: float, res: int) -> bool:
    """Whether the point kernel falls back to H3's own operations for this point."""
    lat, lng = lat_deg * M_PI_180, lng_deg * M_PI_180
    rc = math.cos(lat)
    px, py, pz = math.cos(lng) * rc, math.sin(lng) * rc, math.sin(lat)
    face, sqd, _ = _closest_face(px, py, pz)
    if sqd < h3index._SQD_MIN:
        return True
    vx, vy = _gnomonic_hex2d(px, py, pz, face, res)
    a, b = _hex2d_nearest_axial(vx, vy)
    return not _hex_margin(vx - (a - 0.5 * b), vy - b * M_SQRT3_2) > ERR0_BY_RES[res]


def test_edge_cases_match_h3_at_every_resolution():
    lat, lng = edge_case_points()
    assert len(lat) > 5_000
    for res in ALL_RES:
        ours = latlng_to_cell(lat, lng, res)
        ref = h3py_cells(lat, lng, res)
        assert (ref != 0).all()  # every edge case is inside the domain
        assert_same_cells(ours, ref, lat, lng, res, "edge cases")
        assert_same_cells(exact_port_cells(lat, lng, res), ref, lat, lng, res, "edge cases, plain port")
    # the edge cases do reach the kernel's fallback (cell vertices, face centres)
    fallback = sum(_takes_h3_trigonometric_path(a, b, 9) for a, b in zip(lat.tolist(), lng.tolist()))
    assert fallback > 50


def test_nan_infinite_and_out_of_range_give_null_cell():
    bad = [
        (math.nan, 0.0), (0.0, math.nan), (math.nan, math.nan),
        (math.inf, 0.0), (0.0, -math.inf),
        (90.00000000000001, 0.0), (-90.00000000000001, 0.0),
        (0.0, 180.00000000000003), (0.0, -180.00000000000003),
        (1e300, 0.0), (0.0, -1e300), (100.0, 10.0), (1e10, 1e10),
    ]  # fmt: skip
    lat = np.array([b[0] for b in bad])
    lng = np.array([b[1] for b in bad])
    for res in (0, 9, 15):
        assert (latlng_to_cell(lat, lng, res) == 0).all()
        assert (latlng_to_cell_trajectory(lat, lng, res) == 0).all()
    # h3-py itself raises on NaN; the wrapper's 0 is our documented choice
    with pytest.raises(h3.H3LatLngDomainError):
        h3.latlng_to_cell(math.nan, 0.0, 9)


def test_radian_point_function_is_h3s_latlngtocell_for_any_finite_angle():
    # _latlng_to_cell_point is the C function itself: no [-90, 90] clamp, like h3's core
    rng = np.random.default_rng(3)
    lat_rad = rng.uniform(-4.0, 4.0, 300)
    lng_rad = rng.uniform(-10.0, 10.0, 300)
    for res in (0, 8, 15):
        for a, b in zip(lat_rad, lng_rad):
            expected = h3_int.latlng_to_cell(math.degrees(a), math.degrees(b), res)
            # h3-py converts degrees with one multiplication; feed the same radians
            got = _latlng_to_cell_point(math.degrees(a) * h3index.M_PI_180, math.degrees(b) * h3index.M_PI_180, res)
            assert int(got) == expected
    assert _latlng_to_cell_point(math.nan, 0.0, 5) == 0
    assert _latlng_to_cell_point(0.0, 0.0, 16) == 0


def test_points_in_a_ring_of_cells_around_one_point():
    # the six neighbours' centres and the cell boundary of each, checked against grid_disk
    for res in (2, 9, 14):
        centre = h3.latlng_to_cell(41.15, -8.61, res)
        disk = h3.grid_disk(centre, 1)
        lat = np.array([h3.cell_to_latlng(c)[0] for c in disk])
        lng = np.array([h3.cell_to_latlng(c)[1] for c in disk])
        got = [h3.int_to_str(int(c)) for c in latlng_to_cell(lat, lng, res)]
        assert got == list(disk)


# --- trajectory variant --------------------------------------------------------------------------


def random_walks(rng: np.random.Generator, n_walks: int, n_steps: int, step_deg: float):
    starts_lat, starts_lng = sphere_points(rng, n_walks)
    lats, lngs = [], []
    for lat0, lng0 in zip(starts_lat, starts_lng):
        heading = rng.uniform(0, 2 * np.pi)
        turn = np.cumsum(rng.normal(0.0, 0.2, n_steps))
        dist = rng.exponential(step_deg, n_steps)
        lat = lat0 + np.cumsum(dist * np.cos(heading + turn))
        lng = lng0 + np.cumsum(dist * np.sin(heading + turn))
        # reflect at the poles, wrap at the antimeridian: walks cross both
        lat = np.where(lat > 90, 180 - lat, lat)
        lat = np.where(lat < -90, -180 - lat, lat)
        lat = np.clip(lat, -90.0, 90.0)
        lng = (lng + 180.0) % 360.0 - 180.0
        lats.append(lat)
        lngs.append(lng)
    return np.concatenate(lats), np.concatenate(lngs)


@pytest.mark.parametrize("step_deg", [1e-6, 1e-4, 1e-3, 3e-2])
def test_trajectory_equals_point_kernel_and_h3_on_random_walks(step_deg):
    rng = np.random.default_rng(int(step_deg * 1e9) + 5)
    n_walks, n_steps = (200, 200) if JIT else (10, 100)
    lat, lng = random_walks(rng, n_walks, n_steps, step_deg)
    resolutions = ALL_RES if JIT else (0, 5, 9, 15)
    shortcut_used = 0
    for res in resolutions:
        stats: dict = {}
        traj = latlng_to_cell_trajectory(lat, lng, res, stats=stats)
        point = latlng_to_cell(lat, lng, res)
        assert_same_cells(traj, point, lat, lng, res, f"walk step {step_deg} trajectory vs point")
        shortcut_used += stats["same_cell"] + stats["walk"]
        assert sum(stats.values()) == len(lat)
        if res in (0, 5, 9, 15):
            assert_same_cells(traj, h3py_cells(lat, lng, res), lat, lng, res, f"walk step {step_deg} vs h3")
    assert shortcut_used > 0


def walks_through_hard_places(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Slow straight walks through pentagons, face centres, face edges, poles, the antimeridian."""
    targets = [h3.cell_to_latlng(c) for c in h3.get_pentagons(0)]
    targets += [_xyz_to_deg(*c) for c in FACE_CENTER_XYZ]
    verts = _icosahedron_vertices()
    for a, b in ((0, 1), (2, 5), (7, 9)):  # midpoints of a few vertex pairs (edges or faces)
        m = verts[a] + verts[b]
        targets.append(_xyz_to_deg(*(m / np.linalg.norm(m))))
    targets += [(89.9999, 30.0), (-89.9999, -60.0), (10.0, 179.9999), (-35.0, -179.9999), (0.0, 0.0)]
    lats, lngs = [], []
    for lat0, lng0 in targets:
        for _ in range(3):
            heading = rng.uniform(0, 2 * np.pi)
            t = np.linspace(-1.0, 1.0, 400) * 2e-3
            lat = np.clip(lat0 + t * np.cos(heading), -90, 90)
            lng = (lng0 + t * np.sin(heading) + 180.0) % 360.0 - 180.0
            lats.append(lat)
            lngs.append(lng)
    return np.concatenate(lats), np.concatenate(lngs)


def test_trajectory_through_pentagons_face_edges_poles_and_antimeridian():
    lat, lng = walks_through_hard_places(np.random.default_rng(5))
    for res in ALL_RES if JIT else (0, 7, 15):
        traj = latlng_to_cell_trajectory(lat, lng, res)
        assert_same_cells(traj, h3py_cells(lat, lng, res), lat, lng, res, "walks through hard places")


def test_trajectory_along_cell_edges():
    # a path that runs along and zig-zags across the edges of a cell: the margin test must
    # send every fix close to an edge to the full computation
    rng = np.random.default_rng(9)
    for res in (3, 9, 12, 15):
        cell = h3.latlng_to_cell(41.15, -8.61, res)
        boundary = np.array(h3.cell_to_boundary(cell) + (h3.cell_to_boundary(cell)[0],))
        t = np.linspace(0.0, 1.0, 60)[:-1]
        path = np.concatenate([a + t[:, None] * (b - a) for a, b in zip(boundary[:-1], boundary[1:])])
        span = np.abs(np.diff(boundary, axis=0)).max()
        jitter = rng.normal(0.0, span * 1e-3, path.shape) * rng.choice([0.0, 1e-6, 1e-3, 1.0], path.shape)
        lat = np.ascontiguousarray(path[:, 0] + jitter[:, 0])
        lng = np.ascontiguousarray(path[:, 1] + jitter[:, 1])
        traj = latlng_to_cell_trajectory(lat, lng, res)
        assert_same_cells(traj, h3py_cells(lat, lng, res), lat, lng, res, "along cell edges")


def porto_trajectories(resample_s: float | None) -> tuple[np.ndarray, np.ndarray]:
    lats, lngs = [], []
    with PORTO_TRIPS.open(newline="") as fh:
        for row in csv.DictReader(fh):
            fixes = np.array(json.loads(row["POLYLINE"]), dtype=np.float64).reshape(-1, 2)
            if len(fixes) < 2:
                continue
            if resample_s is None:
                lngs.append(fixes[:, 0])
                lats.append(fixes[:, 1])
            else:  # fixes are 15 s apart; linear interpolation to a finer ping rate
                t = np.arange(len(fixes)) * 15.0
                tt = np.arange(0.0, t[-1], resample_s)
                lngs.append(np.interp(tt, t, fixes[:, 0]))
                lats.append(np.interp(tt, t, fixes[:, 1]))
    return np.concatenate(lats), np.concatenate(lngs)


@pytest.mark.parametrize("resample_s", [None, 1.0])
def test_trajectory_on_real_porto_trips(resample_s):
    lat, lng = porto_trajectories(resample_s)
    if not JIT:
        lat, lng = lat[:20_000], lng[:20_000]
    for res in (5, 9, 12, 15):
        stats: dict = {}
        traj = latlng_to_cell_trajectory(lat, lng, res, stats=stats)
        assert_same_cells(traj, latlng_to_cell(lat, lng, res), lat, lng, res, "Porto trajectory vs point")
        assert_same_cells(traj, h3py_cells(lat, lng, res), lat, lng, res, "Porto trajectory vs h3")
        if res == 9:
            # consecutive fixes share cells: the shortcut must actually be exercised
            assert stats["same_cell"] > 0.3 * len(lat)


def test_trajectory_state_survives_nan_and_resolution_changes():
    lat = np.array([41.15, 41.1501, math.nan, 41.1502, 41.1503, 41.1504])
    lng = np.array([-8.61, -8.6101, -8.61, math.nan, -8.6103, -8.6104])
    states = new_trajectory_state(1)
    got = []
    for n, res in enumerate([9, 9, 9, 9, 12, 9]):
        got.append(int(_latlng_deg_to_cell_step(lat[n], lng[n], res, states[0])))
        expected = 0 if math.isnan(lat[n] + lng[n]) else h3_int.latlng_to_cell(lat[n], lng[n], res)
        assert got[-1] == expected


def test_kernels_are_callable_from_other_numba_kernels():
    @numba.njit
    def cells_of_trips(lat, lng, trip_idx, res, states):
        out = np.empty(lat.shape[0], dtype=np.uint64)
        point = np.empty(lat.shape[0], dtype=np.uint64)
        for n in range(lat.shape[0]):
            out[n] = _latlng_deg_to_cell_step(lat[n], lng[n], res, states[trip_idx[n]])
            point[n] = _latlng_deg_to_cell_point(lat[n], lng[n], res)
        return out, point

    n_trips, n_steps = 4, 500
    lat, lng = random_walks(np.random.default_rng(1), n_trips, n_steps, 1e-4)
    trip_idx = np.repeat(np.arange(n_trips), n_steps)
    # interleave the trips (step 0 of every trip, then step 1, ...): each keeps its own state
    sel = np.lexsort((trip_idx, np.tile(np.arange(n_steps), n_trips)))
    lat, lng, trip_idx = lat[sel], lng[sel], trip_idx[sel]
    states = new_trajectory_state(n_trips)
    traj, point = cells_of_trips(lat, lng, trip_idx, 9, states)
    assert_same_cells(traj, point, lat, lng, 9, "per-trip states")
    assert_same_cells(point, h3py_cells(lat, lng, 9), lat, lng, 9, "point kernel inside a kernel")
    assert (states["n_same_cell"] > 0).all()


# --- the two facts the trajectory shortcut rests on ----------------------------------------


def test_integer_rounding_equals_cs_lround_of_n_over_seven():
    # the digit walk replaces lround(n * M_ONESEVENTH) by integer arithmetic
    from tripguard.kernels._h3tables import M_ONESEVENTH

    n = np.arange(-3_000_000, 3_000_001, dtype=np.int64)
    x = n * M_ONESEVENTH
    c_lround = (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)  # halves away from 0
    assert ((n + 3) // 7 == c_lround).all()
    sample = np.random.default_rng(0).integers(-(2**30), 2**30, 2_000)
    for v in np.concatenate([sample, np.arange(-50, 50)]).tolist():
        x = v * M_ONESEVENTH
        assert h3index._div7_round(v) == int(math.copysign(math.floor(abs(x) + 0.5), x))


def test_hex2d_quantisation_is_the_nearest_hexagon():
    # every hex2d point lies inside the hexagon (inradius 0.5) around the centre it is given
    rng = np.random.default_rng(4)
    for span in (1.0, 1e3, 5e6):
        v = rng.uniform(-span, span, (20_000 if JIT else 2_000, 2))
        for vx, vy in v:
            i, j, k = _hex2d_to_ijk(vx, vy)
            cx = (i - k) - 0.5 * (j - k)
            cy = (j - k) * M_SQRT3_2
            assert _hex_margin(vx - cx, vy - cy) >= -1e-9 * span


def test_gnomonic_hex2d_agrees_with_h3s_trigonometric_hex2d():
    # the point kernel's certificate: the two evaluations differ by far less than ERR0_BY_RES
    rng = np.random.default_rng(12)
    lat, lng = sphere_points(rng, 20_000 if JIT else 2_000)
    # and points 1e-3..1e-2 rad from face centres, where H3's acos loses the most digits
    for x, y, z in FACE_CENTER_XYZ:
        c_lat, c_lng = _xyz_to_deg(x, y, z)
        for theta in (1.001e-3, 2e-3, 1e-2):
            for az in np.linspace(0, 2 * np.pi, 12, endpoint=False):
                lat = np.append(lat, c_lat + math.degrees(theta) * math.cos(az))
                lng = np.append(lng, c_lng + math.degrees(theta) * math.sin(az) / math.cos(math.radians(c_lat)))
    worst = 0.0
    checked = 0
    for a, b in zip(lat.tolist(), lng.tolist()):
        la, ln = a * M_PI_180, b * M_PI_180
        rc = math.cos(la)
        px, py, pz = math.cos(ln) * rc, math.sin(ln) * rc, math.sin(la)
        face, sqd, _ = _closest_face(px, py, pz)
        if sqd < h3index._SQD_MIN:
            continue
        for res in (0, 7, 15):
            hx, hy, _ = _vec3_to_hex2d(px, py, pz, face, sqd, res)
            gx, gy = _gnomonic_hex2d(px, py, pz, face, res)
            worst = max(worst, math.hypot(hx - gx, hy - gy) / RES_SCALE[res])
            checked += 1
    assert checked > 1_000
    # the certificate assumes 1e-10 (ERR0_BY_RES); demand ten times less
    assert worst < 1e-11


def test_linearised_hex2d_stays_within_the_error_bound():
    # v0 + J d must be within the bound of the hex2d H3 computes at the displaced point
    rng = np.random.default_rng(8)
    lat0, lng0 = sphere_points(rng, 400 if JIT else 60)
    worst_ratio = 0.0
    for a, b in zip(lat0, lng0):
        res = int(rng.integers(0, 16))
        states = new_trajectory_state(1)
        st = states[0]
        _latlng_deg_to_cell_step(a, b, res, st)
        if st["valid"] != 1:
            continue
        for _ in range(10):
            d1 = st["d1_max_rad"] * 10.0 ** rng.uniform(-6, 0) * 0.999
            w = rng.uniform(0, 1)
            dlat = d1 * w * rng.choice([-1.0, 1.0])
            dlng = d1 * (1 - w) * rng.choice([-1.0, 1.0])
            lat1 = st["lat0_rad"] + dlat
            lng1 = st["lng0_rad"] + dlng
            rc = math.cos(lat1)
            px, py, pz = math.cos(lng1) * rc, math.sin(lng1) * rc, math.sin(lat1)
            face, sqd, _ = _closest_face(px, py, pz)
            assert face == st["face"]
            vx, vy, _ = _vec3_to_hex2d(px, py, pz, face, sqd, res)
            ex = st["vx0"] + st["j00"] * dlat + st["j01"] * dlng
            ey = st["vy0"] + st["j10"] * dlat + st["j11"] * dlng
            dd1 = abs(dlat) + abs(dlng)
            bound = st["err_e2"] * (dlat * dlat + dlng * dlng) + st["err_d1"] * dd1 * dd1 + st["err_0"]
            ratio = math.hypot(ex - vx, ey - vy) / bound
            worst_ratio = max(worst_ratio, ratio)
    # within the derived bound even without the safety factor the kernel adds to it
    assert 0.0 < worst_ratio < 1.0 / h3index._TAYLOR_HEADROOM


# --- wrapper input checks -------------------------------------------------------------------


@pytest.mark.parametrize("fn", [latlng_to_cell, latlng_to_cell_trajectory])
def test_wrappers_reject_bad_input_with_a_fix(fn):
    good = np.zeros(3)
    with pytest.raises(TypeError, match="lat_deg.*float32.*astype"):
        fn(np.zeros(3, dtype=np.float32), good, 9)
    with pytest.raises(TypeError, match="lng_deg.*numpy array"):
        fn(good, [0.0, 0.0, 0.0], 9)
    with pytest.raises(ValueError, match="lat_deg.*1-D"):
        fn(np.zeros((3, 1)), good, 9)
    with pytest.raises(ValueError, match="lng_deg.*contiguous"):
        fn(good, np.zeros(6)[::2], 9)
    with pytest.raises(ValueError, match="lengths differ"):
        fn(good, np.zeros(4), 9)
    for res in (-1, 16):
        with pytest.raises(ValueError, match="res"):
            fn(good, good, res)
    for res in (9.0, True, "9"):
        with pytest.raises(TypeError, match="res"):
            fn(good, good, res)
    assert fn(np.zeros(0), np.zeros(0), 9).dtype == np.uint64
    assert fn(good, good, np.int64(9)).tolist() == [h3_int.latlng_to_cell(0.0, 0.0, 9)] * 3
