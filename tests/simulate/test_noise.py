"""The honest noise of real GPS is in every run, at about the configured rates."""

from __future__ import annotations

import numpy as np

from tripguard.io.codec import PROVIDER_CODE
from tripguard.simulate.geodesy import haversine_m

from .helpers import arrays, clean_fixes


def _all_pings(run):
    return [p for rows in run.pings.values() for _, p in rows]


def test_late_pings_arrive_after_later_pings_of_their_trip(synthetic):
    late = 0
    total = 0
    lag_s = []
    for rows in synthetic.pings.values():
        newest = -1
        seen = set()
        for _, p in rows:  # file (delivery) order
            if p.ts in seen:
                continue  # a re-sent duplicate, counted by its own test
            seen.add(p.ts)
            total += 1
            if p.ts < newest:
                late += 1
                lag_s.append((newest - p.ts) / 1000.0)
            newest = max(newest, p.ts)
    assert 0.005 < late / total < 0.02, late / total
    # 5-60 s after the message that overtook it, which may itself be a batch of up to 40 s
    assert np.median(lag_s) >= 5.0 and max(lag_s) <= 110.0


def test_duplicates_are_the_same_fix_sent_twice(synthetic):
    seen = {}
    dups = 0
    pings = _all_pings(synthetic)
    for p in pings:
        key = (p.trip_id, p.ts)
        if key in seen:
            assert (seen[key].lat, seen[key].lon) == (p.lat, p.lon)
            dups += 1
        seen[key] = p
    assert 0.004 < dups / len(pings) < 0.02, dups / len(pings)


def test_zero_fixes_and_coarse_network_fixes(synthetic):
    pings = _all_pings(synthetic)
    zero = [p for p in pings if p.lat == 0.0 and p.lon == 0.0]
    network = [p for p in pings if p.provider == PROVIDER_CODE["network"]]
    assert 0.0005 < len(zero) / len(pings) < 0.005
    assert 0.005 < len(network) / len(pings) < 0.02
    acc = np.array([p.accuracy_m for p in network])
    assert np.all((acc >= 300.0) & (acc <= 1500.0))
    assert all(
        p.provider in (PROVIDER_CODE["gps"], PROVIDER_CODE["fused"])
        for p in pings
        if p.provider != PROVIDER_CODE["network"]
    )


def test_most_devices_report_accuracy_of_a_few_metres_and_some_none(synthetic):
    trips_without = 0
    ratios = []
    for rows in synthetic.pings.values():
        fixes = [p for _, p in rows if p.provider != PROVIDER_CODE["network"] and not (p.lat == 0 and p.lon == 0)]
        acc = np.array([p.accuracy_m for p in fixes])
        if np.all(np.isnan(acc)):
            trips_without += 1
            continue
        ratios.append(np.nanmedian(acc))
    share_without = trips_without / len(synthetic.pings)
    assert 0.03 < share_without < 0.2, share_without
    assert 3.0 < np.median(ratios) < 20.0


def test_gps_error_matches_the_reported_accuracy():
    """Position error against the truth, measured inside the simulator's noise step."""
    from tripguard.simulate.noise import NoiseRates, apply_noise, draw_device
    from tripguard.simulate.trace import Path, Trace

    rng = np.random.default_rng(0)
    n = 4000
    t = np.arange(n) * 4.0
    lat = np.full(n, 41.15)
    lon = np.full(n, -8.61)
    trace = Trace(
        t, lat, lon, np.zeros(n), np.zeros(n), np.zeros(n), Path.of(lat[:2], lon[:2] + [0, 1e-4]), float(t[-1]), 0.0
    )
    radii = []
    no_faults = NoiseRates(spike_per_fix=0.0, tunnel_trip_rate=0.0, zero_rate=0.0, network_rate=0.0)
    for _ in range(20):
        device = draw_device(rng, no_faults)
        fixes = apply_noise(trace, rng, no_faults, device, 0)
        err = haversine_m(lat[0], lon[0], fixes.lat, fixes.lon)
        radii.append(np.mean(err <= fixes.accuracy_m) if device.reports_accuracy else np.nan)
    share = np.nanmean(radii)
    # 68 % by construction; the white component and per-trip drift move it a little
    assert 0.6 < share < 0.76, share


def test_multipath_spikes_go_out_and_come_back(synthetic):
    spikes = 0
    fixes_total = 0
    for tid, rows in synthetic.pings.items():
        if synthetic.labels[tid]["kinds"]:
            continue
        fixes = clean_fixes([p for _, p in rows])
        t, lat, lon = arrays(fixes)
        fixes_total += len(fixes)
        step = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
        for i in range(1, len(step)):
            if step[i - 1] > 200.0 and step[i] > 200.0:
                direct = haversine_m(lat[i - 1], lon[i - 1], lat[i + 1], lon[i + 1])
                if direct < 0.3 * min(step[i - 1], step[i]):
                    spikes += 1
    rate = spikes / fixes_total
    assert 1 / 400 < rate < 1 / 80, rate


def test_some_trips_lose_fixes_in_a_tunnel_gap_and_continue_at_street_speed(synthetic):
    gaps = []
    for rows in synthetic.pings.values():
        t, lat, lon = arrays(clean_fixes([p for _, p in rows]))
        dt = np.diff(t)
        for i in np.flatnonzero(dt >= 55.0):
            gaps.append((dt[i], haversine_m(lat[i], lon[i], lat[i + 1], lon[i + 1]) / dt[i]))
    assert len(gaps) >= 5
    assert max(g for g, _ in gaps) <= 245.0
    assert all(v < 40.0 for _, v in gaps)


def test_device_speed_bearing_and_provider_fields(synthetic):
    with_speed = [tid for tid, rows in synthetic.pings.items() if any(p.speed_mps == p.speed_mps for _, p in rows)]
    share = len(with_speed) / len(synthetic.pings)
    assert 0.55 < share < 0.9, share
    bearings = np.array([p.bearing_deg for rows in synthetic.pings.values() for _, p in rows])
    bearings = bearings[~np.isnan(bearings)]
    assert len(bearings) and bearings.min() >= 0.0 and bearings.max() < 360.0
    mocks = {p.mock for rows in synthetic.pings.values() for _, p in rows}
    assert mocks >= {-1, 0}  # some apps send mock: false, others omit it


def test_timestamps_are_jittered_not_exact_multiples(synthetic):
    ms = np.array([p.ts % 1000 for rows in synthetic.pings.values() for _, p in rows])
    assert len(np.unique(ms)) > 900
