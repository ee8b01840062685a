"""The shipped road network and driving on it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components

from tripguard.simulate.drive import ACCEL_MPS2, BRAKE_MPS2, drive_route
from tripguard.simulate.geodesy import haversine_m
from tripguard.simulate.network import load_network
from tripguard.simulate.routes import alternative_route, draw_od, find_detour


@pytest.fixture(scope="module")
def net():
    return load_network()


def test_network_is_one_strongly_connected_component_with_road_geometry(net):
    n, _ = connected_components(net.graph(), directed=True, connection="strong")
    assert n == 1 and net.n_nodes > 8000
    starts = net.geom_offsets[:-1]
    ends = net.geom_offsets[1:] - 1
    # every edge's geometry runs from its u node to its v node (micro-degree rounding: < 0.2 m)
    assert (
        haversine_m(
            net.geom_lat[starts], net.geom_lon[starts], net.node_lat[net.edge_u], net.node_lon[net.edge_u]
        ).max()
        < 0.2
    )
    assert (
        haversine_m(net.geom_lat[ends], net.geom_lon[ends], net.node_lat[net.edge_v], net.node_lon[net.edge_v]).max()
        < 0.2
    )
    chord = haversine_m(
        net.node_lat[net.edge_u], net.node_lon[net.edge_u], net.node_lat[net.edge_v], net.node_lon[net.edge_v]
    )
    assert np.all(net.edge_length_m >= chord - 0.5)  # curves are at least as long as chords
    assert net.edge_length_m.sum() > 1.03 * chord.sum()  # ... and the recovered curves matter
    assert 2.0 < net.edge_speed_mps.min() and net.edge_speed_mps.max() < 40.0


def test_routes_respect_one_way_streets(net):
    rng = np.random.default_rng(1)
    directed = set(zip(net.edge_u.tolist(), net.edge_v.tolist()))
    for _ in range(20):
        o, d = draw_od(net, rng)
        nodes = net.shortest_path(o, d)
        assert nodes[0] == o and nodes[-1] == d
        assert all((int(a), int(b)) in directed for a, b in zip(nodes[:-1], nodes[1:]))
        route = net.route(nodes)
        assert route.length_m == pytest.approx(net.edge_length_m[route.edges].sum(), rel=1e-6)


def test_drive_starts_and_stops_at_rest_within_car_limits(net):
    rng = np.random.default_rng(2)
    for _ in range(10):
        o, d = draw_od(net, rng)
        route = net.route(net.shortest_path(o, d))
        drive = drive_route(net, route, rng)
        assert np.all(np.diff(drive.t_s) > 0)
        assert drive.v_mps[0] == 0.0 and drive.v_mps[-1] == 0.0
        assert drive.length_m == pytest.approx(route.length_m)
        assert drive.v_mps.max() <= 33.0 + 1e-9
        # v^2 changes by at most 2 a ds between grid points
        order = np.argsort(drive.t_s)
        s, v = drive.s_m[order], drive.v_mps[order]
        ds = np.diff(s)
        moving = ds > 0
        dv2 = np.diff(v**2)[moving]
        assert np.all(dv2 <= 2 * ACCEL_MPS2 * ds[moving] + 1e-6)
        assert np.all(-dv2 <= 2 * BRAKE_MPS2 * ds[moving] + 1e-6)
        avg = drive.length_m / drive.duration_s
        assert 3.0 < avg < 25.0


def test_alternative_routes_are_nearly_as_fast_and_detours_go_far(net):
    rng = np.random.default_rng(3)
    for _ in range(10):
        o, d = draw_od(net, rng)
        planned = net.route(net.shortest_path(o, d))
        alt = alternative_route(net, rng, o, d, planned)
        assert net.route_time_s(alt) <= 1.15 * net.route_time_s(planned) + 1e-6
        assert alt.length_m <= 1.2 * planned.length_m + 1e-6
        detour = find_detour(
            net, rng, o, d, planned.lat, planned.lon, planned.lat, planned.lon, 1.25 * planned.length_m
        )
        if detour is not None:
            assert 800.0 <= detour.off_route_m <= 3000.0
            assert detour.route.length_m >= 1.25 * planned.length_m
