"""The three trip layouts, read from small slices of the real files."""

from __future__ import annotations

import json

import pytest

from tripguard.errors import InputError
from tripguard.fare.readers import MILE_M, read_trips


def test_nyc_slice_layout_units_and_cleaning(data_dir):
    frame, report = read_trips(data_dir / "nyc_tlc_2015_slice.csv")
    assert report.layout == "nyc_tlc"
    assert report.rows_read == 84
    # the slice was cut to hold the sample's non-standard rate codes and refunds
    assert report.dropped["RateCodeID != 1 (JFK/Newark/Nassau flat or negotiated fares, not metered)"] == 15
    assert report.dropped["negative fare, distance or duration (refund or void)"] == 6
    assert report.dropped["zero distance with a fare"] >= 1
    assert report.rows_kept == frame.height == report.rows_read - sum(report.dropped.values())
    # first data row: 0.5 mi, 08:08:32 -> 08:09:58, fare 3.5
    first = frame.row(0, named=True)
    assert first["distance_m"] == pytest.approx(0.5 * MILE_M)
    assert first["duration_s"] == 86.0 and first["fare"] == 3.5
    assert (frame["fare"] > 0).all() and (frame["distance_m"] > 0).all() and (frame["duration_s"] > 0).all()


def test_chicago_slice(data_dir):
    frame, report = read_trips(data_dir / "chicago_taxi_slice.csv")
    assert report.layout == "chicago" and report.rows_read == 100
    assert report.dropped.get("zero distance with a fare", 0) > 0  # the sample records 0 miles on many trips
    speed_kmh = frame["distance_m"] / frame["duration_s"] * 3.6
    assert speed_kmh.min() >= 3.0 and speed_kmh.max() <= 120.0


def test_verdicts_jsonl_filters_city_and_currency(tmp_path):
    rows = [
        {
            "trip_id": "a",
            "city": "porto",
            "currency": "EUR",
            "gps_distance_m": 3000.0,
            "gps_duration_s": 600.0,
            "claimed_fare": 7.1,
        },
        {
            "trip_id": "b",
            "city": "nyc",
            "currency": "USD",
            "gps_distance_m": 3000.0,
            "gps_duration_s": 600.0,
            "claimed_fare": 9.0,
        },
        {
            "trip_id": "c",
            "city": "porto",
            "currency": "USD",
            "gps_distance_m": 3000.0,
            "gps_duration_s": 600.0,
            "claimed_fare": 9.0,
        },
        {
            "trip_id": "d",
            "city": "porto",
            "currency": "EUR",
            "gps_distance_m": 0.0,
            "gps_duration_s": 600.0,
            "claimed_fare": 4.0,
        },
        {
            "trip_id": "e",
            "city": "porto",
            "currency": "EUR",
            "gps_distance_m": 3000.0,
            "gps_duration_s": 600.0,
            "claimed_fare": None,
        },
    ]
    path = tmp_path / "verdicts.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    frame, report = read_trips(path, city="porto", currency="EUR")
    assert report.layout == "verdicts"
    assert frame["row_key"].to_list() == ["a"]
    assert report.dropped == {
        "other city than porto": 1,
        "currency other than EUR": 1,
        "missing distance, duration or fare": 1,
        "zero distance with a fare": 1,
    }


def test_unknown_layout_and_missing_file_are_clear_errors(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="unknown trip layout"):
        read_trips(path)
    with pytest.raises(InputError, match="no such file"):
        read_trips(tmp_path / "missing.csv")
