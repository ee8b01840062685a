"""The Porto calibration: spike removal and the detectors on simulated honest/fraud trips."""

from __future__ import annotations

import numpy as np

from tripguard.fare.calibrate import build_trips, evaluate, path_length_m, read_porto_polylines, remove_spikes


def straight_track(n=20, step_deg=0.001):
    return np.column_stack([41.15 + step_deg * np.arange(n), np.full(n, -8.61)])


def test_remove_spikes_drops_excursions_but_keeps_persistent_jumps():
    track = straight_track()
    spiked = track.copy()
    spiked[7] += [0.02, 0.0]  # ~2.2 km off and back: multipath
    spiked[12:14] += [0.0, 0.03]  # a 2-fix cluster
    cleaned = remove_spikes(spiked)
    assert len(cleaned) == len(track) - 3
    assert path_length_m(cleaned) < path_length_m(track) * 1.01

    jumped = track.copy()
    jumped[10:] += [0.05, 0.0]  # the trace continues from the new place
    assert len(remove_spikes(jumped)) == len(track)


def test_porto_slice_detectors_separate_honest_from_fraud(data_dir, porto_tariff, porto_params):
    polylines, skipped = read_porto_polylines(data_dir / "porto_trips_slice.csv")
    assert len(polylines) + skipped == 60 and all(p.shape[1] == 2 for p in polylines)
    trips = build_trips(polylines, porto_tariff, replicas=2, seed=1, gap_share=0.2)
    m = evaluate(trips, porto_tariff, porto_params)
    assert m["honest_false_alert_rate"] <= 0.02
    # the fare is judged against the most an honest meter charges, 3 minutes of waiting that the GPS
    # may not see included (data/cities.toml waiting_allowance_s): on this slice's short trips a few of
    # the smallest inflations (+15-20 %) hide under it -- the price of not accusing honest waits
    assert m["fare_inflation_recall"] >= 0.92
    assert m["distance_mismatch_recall"] >= 0.9
