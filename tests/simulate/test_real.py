"""--from-real: real Porto trajectories as the honest base, re-timed, with fraud injected."""

from __future__ import annotations

import numpy as np
import pytest

from tripguard.contract import ALERT_KINDS
from tripguard.errors import InputError
from tripguard.geo import decode_polyline
from tripguard.simulate.geodesy import haversine_m
from tripguard.simulate.real import read_real_trips, spike_mask, true_distance_m
from tripguard.simulate.simulator import SimConfig, simulate

from .helpers import clean_fixes, persistent_jumps


def test_real_run_keeps_the_real_trips_and_says_how_many_were_skipped(real, real_dir, real_sample_path):
    _, summary = real_dir
    read = read_real_trips(real_sample_path)
    assert summary.real_rows == 40
    assert summary.real_skipped_short == read.skipped_short == 40 - len(read.trips)
    assert summary.trips == len(read.trips) == len(real.labels)
    assert any("skipped" in line and "< 5 fixes" in line for line in summary.lines())
    assert all(tid.startswith("porto-") for tid in real.labels)


def test_real_fixes_keep_their_15_s_spacing_on_the_simulation_clock(real, real_sample_path):
    source = {f"porto-{t.trip_id}": t for t in read_real_trips(real_sample_path).trips}
    for tid, rows in real.pings.items():
        if real.labels[tid]["kinds"] in ("route_deviation", "gps_spoofing"):
            continue  # these replace part or all of the trace
        ts = np.array(sorted({p.ts for _, p in rows}))
        steps = np.diff(ts) / 1000.0
        multiples = steps / 15.0
        assert np.all(np.abs(multiples - np.round(multiples)) < 0.1), tid
        assert len(np.unique(ts % 1000)) > 1  # ms jitter: phones never report exact multiples
        assert len(ts) <= len(source[tid].lat)
        assert real.started[tid].ts >= 1_717_398_000_000  # re-timed onto the simulation clock
        # honest pickup = the first real fix
        assert (real.started[tid].pickup.lat, real.started[tid].pickup.lon) == (
            round(float(source[tid].lat[0]), 6),
            round(float(source[tid].lon[0]), 6),
        )


def test_real_honest_trips_jump_only_where_the_real_data_does(real, real_sample_path):
    source = {f"porto-{t.trip_id}": t for t in read_real_trips(real_sample_path).trips}
    for tid, label in real.labels.items():
        if label["kinds"]:
            continue
        if persistent_jumps(clean_fixes([p for _, p in real.pings[tid]]), min_m=1000.0):
            t = source[tid]
            raw_steps = haversine_m(t.lat[:-1], t.lon[:-1], t.lat[1:], t.lon[1:])
            assert raw_steps.max() > 900.0, tid


def test_real_run_injects_fraud_with_planned_routes_from_the_network(real, real_dir):
    _, summary = real_dir
    kinds = [r["kinds"] for r in real.labels.values()]
    assert set(ALERT_KINDS) <= set(kinds)
    with_route = [st for st in real.started.values() if st.planned_route is not None]
    assert len(with_route) >= 0.6 * len(real.started)
    for st in with_route:
        route = decode_polyline(st.planned_route)
        assert len(route) >= 2 and st.planned_distance_m > 0
    for tid in (t for t, k in zip(real.labels, kinds) if k == "route_deviation"):
        assert real.started[tid].planned_route is not None
        assert "synthesized fixes" in real.labels[tid]["detail"]


def test_spikes_are_removed_and_faults_replaced_in_the_true_distance():
    # a straight 100 m-per-fix drive, one out-and-back spike, then a 5 km persistent fault
    lat = 41.15 + np.arange(12) * 0.0009  # ~100 m apart
    lon = np.full(12, -8.61)
    lat_spiked = lat.copy()
    lat_spiked[4] += 0.02  # 2.2 km off, back at the next fix
    assert list(np.flatnonzero(spike_mask(lat_spiked, lon))) == [4]
    assert true_distance_m(lat_spiked, lon, spike_mask(lat_spiked, lon)) == pytest.approx(1100.0, rel=0.01)
    lat_fault = lat.copy()
    lat_fault[8:] += 0.045  # jumps 5 km and stays: a fault, counted as a median step
    d = true_distance_m(lat_fault, lon, spike_mask(lat_fault, lon))
    assert d == pytest.approx(1100.0, rel=0.01)


def test_from_real_bad_files_get_one_clear_reason(tmp_path):
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="missing column"):
        read_real_trips(wrong)
    short = tmp_path / "short.csv"
    short.write_text('TRIP_ID,TIMESTAMP,POLYLINE\n1,1372636858,"[[-8.6,41.1]]"\n2,1372636858,"[[-8.6,41.1"\n')
    read = read_real_trips(short)
    assert (read.rows, read.skipped_short, read.skipped_bad, len(read.trips)) == (2, 1, 1, 0)
    with pytest.raises(InputError, match="no usable trip"):
        simulate(SimConfig(out_dir=tmp_path / "out", from_real=short), progress=False)
