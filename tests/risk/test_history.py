"""A trip's track is built from its verdict's path only when first needed; the changelog record
does not show whether it was."""

from __future__ import annotations

from typing import cast

import orjson

from tests.risk.helpers import MIN, T0, raw, verdict
from tripguard.contract import Verdict
from tripguard.risk.history import TRACK_KEEP_MS, DriverHistory, TripFact, coarse_track
from tripguard.risk.stage import VERDICT, parse


def history(*verdicts: dict) -> DriverHistory:
    h = DriverHistory("d")
    for v in verdicts:
        h.add_trip(TripFact.from_verdict(cast(Verdict, parse(VERDICT, raw(v)))))
    return h


VERDICTS = [verdict(f"t{i}", "d", T0 + i * 40 * MIN, T0 + i * 40 * MIN + 20 * MIN) for i in range(3)]


def test_a_track_never_built_encodes_as_one_built():
    lazy, built = history(*VERDICTS), history(*VERDICTS)
    for t in built.trips:
        t.fixes()
    assert all(t.track_source is not None for t in lazy.trips)
    assert lazy.encode() == built.encode()
    track = orjson.loads(lazy.encode())["trips"][0]["track"]
    assert track == coarse_track(VERDICTS[0]["path"], VERDICTS[0]["path_times_s"]) and len(track) > 2
    assert list(orjson.loads(lazy.encode())["trips"][0]) == [
        "trip_id", "city", "started_ts", "ts", "kinds", "secondary", "alert_ids", "fare_ratio",
        "distance_ratio", "track", "decision", "decided_at", "patterns",
    ]  # fmt: skip


def test_a_trip_past_the_track_horizon_encodes_without_its_track_built_or_not():
    lazy, built = history(*VERDICTS), history(*VERDICTS)
    built.trips[0].fixes()
    late = VERDICTS[0]["ts"] + TRACK_KEEP_MS
    for h in (lazy, built):
        h.forget_before(late)
        assert h.trips[0].track is None and h.trips[0].track_source is None
        assert h.trips[0].fixes() is None  # nothing left to build it from
        assert h.trips[1].fixes() is not None
    assert lazy.encode() == built.encode()
    assert orjson.loads(lazy.encode())["trips"][0]["track"] is None


def test_a_decoded_history_encodes_the_same_and_finds_its_trips():
    h = history(*VERDICTS)
    again = DriverHistory.decode(h.encode())
    assert again.encode() == h.encode()
    assert again.trip("t1") is again.trips[1] and again.trip("nope") is None


def test_a_verdict_without_fix_times_has_no_track():
    v = {**VERDICTS[0], "path_times_s": None}
    h = history(v)
    assert h.trips[0].fixes() is None and orjson.loads(h.encode())["trips"][0]["track"] is None
