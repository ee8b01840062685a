"""Bad input gets a clear reason and loses nothing else: every malformed message is dead-lettered
with a reason naming the field, nothing crashes, and every valid ping around them is processed."""

import json

import orjson
import pytest

from tests.streams import make_stream
from tripguard.io.replay import replay

T = 1_700_000_000_000
GOOD = {"trip_id": "bad-trip", "driver_id": "d1", "ts": T, "lat": 41.15, "lon": -8.61}


def ping(**changes):
    p = dict(GOOD)
    for k, v in changes.items():
        if v is ...:
            p.pop(k)
        else:
            p[k] = v
    return orjson.dumps(p)


# (raw message value, a substring the reason must contain)
BAD_PINGS = [
    (b'{"trip_id": "t1", "driver_id": "d", "ts": 17', "JSON"),  # truncated
    (b"{bad json", "JSON"),
    (b'\xff\xfe{"trip_id": "t"}', "UTF-8"),  # not UTF-8
    (b'\xef\xbb\xbf{"trip_id": "t"}', "JSON"),  # byte order mark
    (b'{"trip_id": "t"} {"trip_id": "u"}', "JSON"),  # two documents
    (b'{"lat": NaN, "lon": 0}', "JSON"),
    (b'{"lat": Infinity, "lon": 0}', "JSON"),
    (b'{"trip_id": "t", "driver_id": "d", "ts": 1, "lat": 1e400, "lon": 0}', "JSON"),
    (b"[]", "empty array"),
    (b"null", "null"),
    (b"42", "got number"),
    (b'"a string"', "got string"),
    (b"true", "got boolean"),
    (b"[[" + ping() + b"]]", "must be a JSON object"),
    (b"[" + ping() + b", 7]", "[1]"),
    (ping(trip_id=...), "trip_id: required"),
    (ping(trip_id=12345), "trip_id: must be a string"),
    (ping(trip_id=""), "trip_id: must be 1..128"),
    (ping(trip_id="x" * 1_000_000), "trip_id: must be 1..128"),
    (ping(driver_id=...), "driver_id: required"),
    (ping(driver_id=["d"]), "driver_id: must be a string"),
    (ping(ts="1700000000000"), "ts: must be an integer"),
    (ping(ts=1.7e12), "ts: must be an integer"),
    (ping(ts=-5), "ts: must be milliseconds"),
    (ping(ts=T * 1000), "ts: must be milliseconds"),  # microseconds
    (ping(ts=True), "ts: must be an integer"),
    (ping(ts=...), "ts: required"),
    (ping(lat=91.0), "lat: must be in [-90, 90]"),
    (ping(lat=-90.0001), "lat: must be in [-90, 90]"),
    (ping(lon=181.0), "lon: must be in [-180, 180]"),
    (ping(lat="41.15"), "lat: must be a number"),
    (ping(lat=None), "lat: required"),
    (ping(lon=...), "lon: required"),
    (ping(lat=True), "lat: must be a number"),
    (ping(accuracy_m=-3.0), "accuracy_m"),
    (ping(speed_mps=-1.0), "speed_mps"),
    (ping(bearing_deg=360.0), "bearing_deg"),
    (ping(provider="satellite"), "provider: must be one of"),
    (ping(mock="yes"), "mock: must be true or false"),
    (b"[" + ping() + b"," + ping(trip_id="other", ts=T + 1) + b"]", "[1].trip_id: one message carries one trip"),
    (b"[" + ping() + b"," + ping(driver_id="d2", ts=T + 1) + b"]", "[1].driver_id: one trip has one driver"),
    (b"[" + ping() + b"," + ping(lat=95.0, ts=T + 1) + b"]", "[1].lat"),
    (b"[" + b",".join([ping(ts=T + i) for i in range(10_001)]) + b"]", "the limit is 10000"),
]

BAD_TRIPS = [
    (b'{"trip_id": "t"}', "type: must be trip_started or trip_ended"),
    (b'{"type": "trip_paused", "trip_id": "t"}', "type: must be trip_started or trip_ended"),
    (b'{"type": "trip_started", "trip_id": "t", "driver_id": "d", "city": "porto", "ts": 1}', "pickup"),
    (
        b'{"type": "trip_started", "trip_id": "t", "driver_id": "d", "city": "porto", "ts": 1, '
        b'"pickup": {"lat": 91, "lon": 0}}',
        "pickup.lat",
    ),
    (
        b'{"type": "trip_started", "trip_id": "t", "driver_id": "d", "city": "porto", "ts": 1, '
        b'"pickup": {"lat": 1, "lon": 0}, "planned_route": "!!"}',
        "planned_route",
    ),
    (
        b'{"type": "trip_started", "trip_id": "t", "driver_id": "d", "city": "porto", "ts": 1, '
        b'"pickup": {"lat": 1, "lon": 0}, "planned_route": {"type": "LineString", "coordinates": [[0, 0]]}}',
        "planned_route",
    ),
    (
        b'{"type": "trip_started", "trip_id": "t", "driver_id": "d", "city": "porto", "ts": 1, '
        b'"pickup": {"lat": 1, "lon": 0}, "surge": 0}',
        "surge",
    ),
    (
        b'{"type": "trip_started", "trip_id": "t", "driver_id": "d", "city": "porto", "ts": 1, '
        b'"pickup": {"lat": 1, "lon": 0}, "planned_route": {"type": "LineString", "coordinates": [[-8.6, 41.1], '
        b"[151.2, -33.9]]}}",
        "planned_route: Value error, route is",
    ),
    (
        b'{"type": "trip_ended", "trip_id": "t", "driver_id": "d", "ts": 1, "claimed_fare": -3, "currency": "EUR"}',
        "claimed_fare",
    ),
    (
        b'{"type": "trip_ended", "trip_id": "t", "driver_id": "d", "ts": 1, "claimed_fare": 3, "currency": "eur"}',
        "currency",
    ),
    (
        b'{"type": "trip_ended", "trip_id": "t", "driver_id": "d", "ts": "1", "claimed_fare": 3, "currency": "EUR"}',
        "ts",
    ),
]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    messages = make_stream(7, n_trips=15)
    pings = [orjson.dumps(m["value"]) for m in messages if m["source"] == "pings"]
    trips = [orjson.dumps(m["value"]) for m in messages if m["source"] == "trips"]
    lines = []
    for i, raw in enumerate(pings):
        lines.append(raw)
        if i % 7 == 3 and i // 7 < len(BAD_PINGS):  # bad messages between the good ones
            lines.append(BAD_PINGS[i // 7][0])
    assert sum(1 for raw, _ in BAD_PINGS if raw in lines) == len(BAD_PINGS)
    trip_lines = []
    for i, raw in enumerate(trips):
        trip_lines.append(raw)
        if i < len(BAD_TRIPS):
            trip_lines.append(BAD_TRIPS[i][0])
    (tmp / "pings.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (tmp / "trips.jsonl").write_bytes(b"\n".join(trip_lines) + b"\n")
    result = replay(tmp / "pings.jsonl", tmp / "trips.jsonl", tmp / "out")
    dead = [json.loads(line) for line in (tmp / "out" / "dead_letters.jsonl").read_text().splitlines()]
    return result, dead, len(pings), len(trips)


def test_at_least_thirty_kinds():
    assert len(BAD_PINGS) + len(BAD_TRIPS) >= 30


@pytest.mark.parametrize("index", range(len(BAD_PINGS)))
def test_each_bad_ping_message_is_dead_lettered_with_a_clear_reason(replayed, index):
    _, dead, _, _ = replayed
    raw, reason = BAD_PINGS[index]
    matches = [d for d in dead if d["source"] == "pings" and d["value"] == raw.decode("utf-8", "replace")]
    assert len(matches) == 1, f"{raw[:60]!r} not dead-lettered exactly once"
    assert reason in matches[0]["reason"], matches[0]["reason"]


@pytest.mark.parametrize("index", range(len(BAD_TRIPS)))
def test_each_bad_trip_event_is_dead_lettered_with_a_clear_reason(replayed, index):
    _, dead, _, _ = replayed
    raw, reason = BAD_TRIPS[index]
    matches = [d for d in dead if d["source"] == "trips" and d["value"] == raw.decode()]
    assert len(matches) == 1
    assert reason in matches[0]["reason"], matches[0]["reason"]


def test_every_valid_message_around_them_is_processed(replayed):
    result, dead, n_pings, n_trips = replayed
    s = result.summary
    assert s["pings"] == n_pings  # every valid ping reached the engine
    assert s["trip_events"] == n_trips
    assert s["dead_letters"] == len(BAD_PINGS) + len(BAD_TRIPS) == len(dead)
    per_trip = sum(v["pings_used"] + sum(v["pings_dropped"].values()) for v in result.verdicts)
    assert per_trip + s["pings_dropped"]["late_after_close"] == n_pings
    assert len(result.verdicts) == 15
