"""The real engine's output, reviewed: `replay` over a realistic Porto stream (tests/streams.py),
its output directory ingested, every alert and verdict accepted, the corridor rebuilt from the
verdict's `{h3_res, ring}`, and the trip view drawing the engine's own evidence."""

from __future__ import annotations

import h3
import orjson
import pytest
from fastapi.testclient import TestClient

from tests.streams import make_stream
from tripguard.detectors.route import build_corridor
from tripguard.geo import decode_polyline, encode_polyline
from tripguard.io.replay import replay
from tripguard.review.app import create_app
from tripguard.review.store.db import init_db, opened
from tripguard.review.store.ingest import ingest_dir
from tripguard.review.store.records import get_trip
from tripguard.review.store.tokens import CLI, create_token


@pytest.fixture(scope="module")
def replay_out(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("engine")
    messages = make_stream(11, n_trips=30)
    # Give trips a planned route: the straight line from pickup to the last fix (Porto's streets
    # are not straight, so some trips leave this "route" far enough to be flagged).
    last_fix: dict[str, tuple[float, float]] = {}
    for m in messages:
        if m["source"] == "pings":
            last_fix[m["value"]["trip_id"]] = (m["value"]["lat"], m["value"]["lon"])
    for m in messages:
        v = m["value"]
        if m["source"] == "trips" and v["type"] == "trip_started":
            end = last_fix[v["trip_id"]]
            v["planned_route"] = encode_polyline([(v["pickup"]["lat"], v["pickup"]["lon"]), end])
    pings, trips = tmp / "pings.jsonl", tmp / "trips.jsonl"
    pings.write_bytes(b"".join(orjson.dumps(m["value"]) + b"\n" for m in messages if m["source"] == "pings"))
    trips.write_bytes(b"".join(orjson.dumps(m["value"]) + b"\n" for m in messages if m["source"] == "trips"))
    out = tmp / "out"
    replay(pings, trips, out, progress=False)
    return out


def _lines(path):
    return [orjson.loads(x) for x in path.read_bytes().splitlines() if x.strip()]


def test_replay_output_is_ingested_whole_and_idempotently(replay_out, tmp_path):
    alerts, verdicts = _lines(replay_out / "alerts.jsonl"), _lines(replay_out / "verdicts.jsonl")
    assert alerts and verdicts
    db = tmp_path / "e.db"
    init_db(db)
    report = ingest_dir(db, replay_out)
    assert report.rejected == 0, report.summary()
    assert (report.alerts_new, report.verdicts_new) == (len(alerts), len(verdicts))
    again = ingest_dir(db, replay_out)
    assert (again.alerts_new, again.verdicts_new, again.details_new, again.rejected) == (0, 0, 0, 0)

    routed = [v for v in verdicts if v.get("planned_route") and v.get("corridor")]
    assert routed, "the stream should give some verdicts a planned route and corridor"
    with opened(db) as conn:
        for v in routed:
            trip = get_trip(conn, v["trip_id"])
            route = decode_polyline(v["planned_route"])
            expected = build_corridor(route, v["corridor"]["h3_res"], v["corridor"]["ring"])
            assert trip["planned_route"] == v["planned_route"]
            assert [h3.str_to_int(c) for c in trip["corridor_cells"]] == [int(c) for c in expected]


def test_trip_view_draws_the_engines_evidence(replay_out, tmp_path):
    db = tmp_path / "e.db"
    init_db(db)
    ingest_dir(db, replay_out)
    alerts = _lines(replay_out / "alerts.jsonl")
    with_points = [a for a in alerts if a["evidence"].get("points")]
    assert with_points, "the stream has teleports: their evidence carries points"
    alert = with_points[0]
    with opened(db) as conn:
        token = {r: create_token(conn, r, "", CLI)[1] for r in ("backend", "reviewer")}
    with TestClient(create_app(db), raise_server_exceptions=False) as client:
        trip = client.get(f"/trips/{alert['trip_id']}", headers={"Authorization": f"Bearer {token['reviewer']}"})
        assert trip.status_code == 200
        fixes = [
            (f["geometry"]["coordinates"][1], f["geometry"]["coordinates"][0], f["properties"]["alert_id"])
            for f in trip.json()["geojson"]["features"]
            if f["properties"]["role"] == "flagged_fix"
        ]
        mine = [(lat, lon) for lat, lon, aid in fixes if aid == alert["alert_id"]]
        assert mine == [(p["lat"], p["lon"]) for p in alert["evidence"]["points"]]

        d = client.post(
            "/disputes",
            json={"trip_id": alert["trip_id"], "statement": "not me"},
            headers={"Authorization": f"Bearer {token['backend']}"},
        ).json()
        import re

        form = client.get("/review/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
        client.post("/review/login", data={"token": token["reviewer"], "csrf": csrf})
        page = client.get(f"/review/disputes/{d['id']}")
        assert page.status_code == 200
        assert page.text.count(f'class="fix kind-{alert["kind"]}"') >= len(alert["evidence"]["points"])
        assert alert["evidence"]["summary"] in page.text  # the engine's one-line summary is shown
