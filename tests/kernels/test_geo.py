"""The one local projection (kernels/geo.local_xy): compiled and numpy agree bit for bit, it goes
the short way round the antimeridian, and near its origin it measures what the haversine measures.
A polyline's length (path_length_m) is the sum of its steps' haversine distances."""

from __future__ import annotations

import math

import numpy as np

from tripguard.kernels.geo import haversine_m, haversine_m_np, local_xy, local_xy_np, path_length_m


def _points(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lat0 = rng.uniform(-70.0, 70.0, n)
    lon0 = rng.uniform(-180.0, 180.0, n)
    return lat0, lon0, lat0 + rng.normal(0.0, 0.03, n), lon0 + rng.normal(0.0, 0.03, n)


def test_compiled_and_numpy_give_the_same_bits():
    lat0, lon0, lat, lon = _points(500)
    cos0 = np.cos(np.radians(lat0))
    x_np, y_np = local_xy_np(lat, lon, lat0, lon0, cos0)
    for i in range(lat.size):
        x, y = local_xy(lat[i], lon[i], lat0[i], lon0[i], cos0[i])
        assert (x, y) == (x_np[i], y_np[i])


def test_the_antimeridian_is_crossed_the_short_way():
    cos0 = math.cos(math.radians(10.0))
    east, _ = local_xy(10.0, -179.99, 10.0, 179.99, cos0)  # 0.02 degrees east, across 180
    west, _ = local_xy(10.0, 179.99, 10.0, -179.99, cos0)
    expected = haversine_m(10.0, 179.99, 10.0, -179.99)
    assert math.isclose(east, expected, rel_tol=1e-4) and math.isclose(west, -expected, rel_tol=1e-4)


def test_near_the_origin_it_measures_the_haversine_distance():
    lat0, lon0, lat, lon = _points(500, seed=1)
    cos0 = np.cos(np.radians(lat0))
    x, y = local_xy_np(lat, lon, lat0, lon0, cos0)
    planar = np.hypot(x, y)
    great_circle = np.array([haversine_m(lat0[i], lon0[i], lat[i], lon[i]) for i in range(lat.size)])
    assert np.all(great_circle > 100.0)  # the points are kilometres apart, not on top of each other
    np.testing.assert_allclose(planar, great_circle, rtol=5e-3)


def test_a_polylines_length_is_the_sum_of_its_steps():
    rng = np.random.default_rng(2)
    lat = 41.15 + np.cumsum(rng.normal(0.0, 0.001, 300))
    lon = -8.61 + np.cumsum(rng.normal(0.0, 0.001, 300))
    want = float(haversine_m_np(lat[:-1], lon[:-1], lat[1:], lon[1:]).sum())
    assert want > 10_000.0
    assert math.isclose(path_length_m(lat, lon), want, rel_tol=1e-12)
    assert path_length_m(lat[:1], lon[:1]) == 0.0 and path_length_m(lat[:0], lon[:0]) == 0.0
