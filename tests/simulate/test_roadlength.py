"""The robust driven-distance estimate on traces whose true length is known, and on real ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evaluation.heldout import drive
from evaluation.heldout.roads import Line, Roads
from tripguard.simulate.geodesy import LocalFrame, path_length_m
from tripguard.simulate.roadlength import clean_indexes, driven_distance_m


@pytest.fixture(scope="module")
def real_trips():
    from evaluation.heldout.porto import load_eval_trips

    return load_eval_trips(Path(__file__).resolve().parents[1] / "data" / "porto-trips-200.csv")


@pytest.fixture(scope="module")
def roads():
    return Roads()


def _drive(roads, seed, src, dst):
    """A trace sampled every 15 s along a network route, with GPS error: its true length is known."""
    rng = np.random.default_rng(seed)
    route = roads.route(roads.fastest_nodes(src, dst))
    lengths, posted, junction = drive.segments_of(roads, route)
    prof = drive.irregular_profile(rng, lengths, posted, junction, roads.eta_of(route))
    t, lat, lon, _, _ = drive.sample(rng, Line(route.lat, route.lon), prof, 0.0, first_s=0.0)
    # the last fix on arrival, so the trace covers the whole route
    return route.length_m, np.r_[t, t[-1] + 15.0], np.r_[lat, route.lat[-1]], np.r_[lon, route.lon[-1]]


PAIRS = [(11, 5000, 1), (23, 7000, 2), (37, 3000, 3), (41, 8000, 4)]


def test_road_measure_is_unbiased_where_chords_under_read(roads):
    """30 random drives: 15 s chords cut corners (under-read ~5 %); measured on the roads the
    estimate is centred on the truth, 90 % of drives within 3 %."""
    road, chord = [], []
    for seed in range(30):
        src, dst = np.random.default_rng(seed).integers(0, roads.net.n_nodes, 2)
        true_m, t, lat, lon = _drive(roads, seed, int(src), int(dst))
        road.append(driven_distance_m(lat, lon, t, roads.meter) / true_m)
        chord.append(driven_distance_m(lat, lon, t) / true_m)
    assert np.median(chord) < 0.97
    assert abs(np.median(road) - 1) < 0.01
    assert np.mean(np.abs(np.asarray(road) - 1) <= 0.03) >= 0.9


@pytest.mark.parametrize("src,dst,seed", PAIRS)
def test_clean_trace_within_3_percent(roads, src, dst, seed):
    true_m, t, lat, lon = _drive(roads, seed, src, dst)
    assert true_m > 1500
    est = driven_distance_m(lat, lon, t, roads.meter)
    assert abs(est / true_m - 1) < 0.03


@pytest.mark.parametrize("src,dst,seed", PAIRS)
def test_spikes_are_removed(roads, src, dst, seed):
    true_m, t, lat, lon = _drive(roads, seed, src, dst)
    rng = np.random.default_rng(seed + 100)
    lat, lon = lat.copy(), lon.copy()
    hit = []
    for i in rng.choice(np.arange(3, len(t) - 4, 4), size=3, replace=False):
        width = int(rng.integers(1, 3))
        d, a = rng.uniform(300, 1500), rng.uniform(0, 2 * np.pi)
        frame = LocalFrame(float(lat[i]), float(lon[i]))
        lat[i : i + width], lon[i : i + width] = frame.offset(
            lat[i : i + width], lon[i : i + width], d * np.sin(a), d * np.cos(a)
        )
        hit += list(range(i, i + width))
    raw = path_length_m(lat, lon)
    est = driven_distance_m(lat, lon, t, roads.meter)
    assert raw > 1.2 * true_m  # the spikes would have inflated a naive sum
    assert abs(est / true_m - 1) < 0.03
    assert not set(hit) & set(clean_indexes(lat, lon, t).tolist())


@pytest.mark.parametrize("src,dst,seed", PAIRS)
def test_stop_jitter_is_not_distance(roads, src, dst, seed):
    true_m, t, lat, lon = _drive(roads, seed, src, dst)
    rng = np.random.default_rng(seed + 200)
    k = len(t) // 2
    n_stop = 30  # 7.5 minutes stopped, fixes jittering by a few metres
    frame = LocalFrame(float(lat[k]), float(lon[k]))
    slat, slon = frame.offset(
        np.full(n_stop, lat[k]), np.full(n_stop, lon[k]), rng.normal(0, 4, n_stop), rng.normal(0, 4, n_stop)
    )
    lat2, lon2 = np.r_[lat[:k], slat, lat[k:]], np.r_[lon[:k], slon, lon[k:]]
    t2 = np.arange(len(lat2)) * 15.0
    est = driven_distance_m(lat2, lon2, t2, roads.meter)
    assert path_length_m(lat2, lon2) - path_length_m(lat, lon) > 100  # the jitter adds 100+ m to a naive sum
    assert abs(est / true_m - 1) < 0.03


def test_missing_fixes_are_bridged_by_road(roads):
    """A stretch of lost fixes: the straight chord under-reads; the road distance does not."""
    true_m, t, lat, lon = _drive(roads, 5, 23, 7000)
    k = len(t) // 3
    gap = np.r_[np.arange(0, k), np.arange(k + 8, len(t))]  # 8 fixes (2 min) missing
    lat2, lon2 = lat[gap], lon[gap]
    t2 = np.arange(len(gap)) * 15.0  # the data set's clock: one fix every 15 s regardless
    chord = driven_distance_m(lat2, lon2, t2)
    bridged = driven_distance_m(lat2, lon2, t2, roads.meter)
    assert bridged >= chord
    assert abs(bridged / true_m - 1) < 0.03


def test_real_traces_lose_their_spikes(real_trips):
    """On the real trips the chord estimate never exceeds the naive sum, and removes the multi-km
    out-and-back jumps the data is known to contain."""
    big_jumps = 0
    for trip in real_trips:
        t = np.arange(trip.n) * 15.0
        est = driven_distance_m(trip.lat, trip.lon, t)
        assert est <= path_length_m(trip.lat, trip.lon) * 1.001  # (local-frame vs haversine rounding)
        keep = clean_indexes(trip.lat, trip.lon, t)
        kl, ko = trip.lat[keep], trip.lon[keep]
        frame = LocalFrame(float(np.median(kl)), float(np.median(ko)))
        x, y = frame.to_xy(kl, ko)
        steps = np.hypot(np.diff(x), np.diff(y)) / np.diff(t[keep])
        assert np.all(steps <= 55.0 + 100.0 / 15.0)
        big_jumps += int(np.sum(path_length_m(trip.lat, trip.lon) - est > 2000))
    assert big_jumps >= 1
