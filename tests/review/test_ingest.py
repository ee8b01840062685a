"""Ingest of a replay output directory: idempotent, bad lines rejected with the field, trip details."""

from __future__ import annotations

import sqlite3

import h3
import orjson
import pytest
from review_fixtures import build

from tripguard.errors import InputError
from tripguard.geo import encode_polyline
from tripguard.review.store.db import init_db, opened
from tripguard.review.store.ingest import ingest_dir
from tripguard.review.store.records import get_trip


def _counts(db) -> tuple[int, int, int]:
    with opened(db) as conn:
        return tuple(
            conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("alerts", "verdicts", "trip_details")
        )


def test_ingest_twice_changes_nothing(tmp_path, replay_dir):
    db = tmp_path / "r.db"
    init_db(db)
    first = ingest_dir(db, replay_dir)
    assert (first.alerts_new, first.verdicts_new, first.details_new, first.rejected) == (4, 4, 1, 0)
    with opened(db) as conn:
        before = [tuple(r) for r in conn.execute("SELECT alert_id, body, ingested_at FROM alerts ORDER BY alert_id")]
    second = ingest_dir(db, replay_dir)
    assert (second.alerts_seen, second.alerts_new, second.verdicts_new, second.details_new) == (4, 0, 0, 0)
    assert _counts(db) == (4, 4, 1)
    with opened(db) as conn:
        after = [tuple(r) for r in conn.execute("SELECT alert_id, body, ingested_at FROM alerts ORDER BY alert_id")]
    assert after == before  # not rewritten either


def test_database_is_in_wal_mode(db_path):
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_bad_lines_are_rejected_with_file_line_and_field(tmp_path):
    alerts, verdicts = build()
    bad_alert = {**alerts[0], "alert_id": "bad-1", "score": 1.7}
    wrong_kind = {**alerts[0], "alert_id": "bad-2", "kind": "speeding"}
    bad_cells = {**verdicts[0], "trip_id": "porto-9", "corridor_cells": ["not-a-cell"]}
    d = tmp_path / "replay"
    d.mkdir()
    (d / "alerts.jsonl").write_bytes(
        b"\n".join(
            [
                orjson.dumps(alerts[0]),
                b"{not json",
                orjson.dumps(bad_alert),
                b"",
                orjson.dumps(wrong_kind),
                b"[1, 2]",
            ]
        )
        + b"\n"
    )
    (d / "verdicts.jsonl").write_bytes(orjson.dumps(verdicts[0]) + b"\n" + orjson.dumps(bad_cells) + b"\n")
    db = tmp_path / "r.db"
    init_db(db)
    report = ingest_dir(db, d)
    assert (report.alerts_new, report.verdicts_new, report.rejected) == (1, 1, 5)
    text = report.summary()
    assert "alerts.jsonl:2: " in text and "not valid UTF-8 JSON" in text
    assert "alerts.jsonl:3: score:" in text
    assert "alerts.jsonl:5: kind:" in text
    assert "alerts.jsonl:6: " in text and "JSON object" in text
    assert "verdicts.jsonl:2: corridor_cells.0:" in text


def test_trip_detail_from_a_separate_file_fills_only_what_is_missing(tmp_path, replay_dir):
    route = [(41.15, -8.61), (41.151, -8.605), (41.152, -8.600)]
    cells = [h3.latlng_to_cell(lat, lon, 9) for lat, lon in route]
    (replay_dir / "trip_details.jsonl").write_bytes(
        b"".join(
            orjson.dumps(x) + b"\n"
            for x in [
                # GeoJSON input is stored as an encoded polyline
                {
                    "trip_id": "porto-0001",
                    "planned_route": {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in route]},
                    "corridor_cells": cells,
                },
                # porto-0002 has both from its verdict already: the verdict's stay
                {"trip_id": "porto-0002", "planned_route": encode_polyline(route), "corridor_cells": cells},
                {"trip_id": "porto-0003", "planned_route": "!!! not a polyline"},
            ]
        )
    )
    db = tmp_path / "r.db"
    init_db(db)
    report = ingest_dir(db, replay_dir)
    assert report.details_new == 2 and report.rejected == 1  # porto-0002's verdict detail + porto-0001
    assert "trip_details.jsonl:3: planned_route:" in report.summary()
    with opened(db) as conn:
        t1 = get_trip(conn, "porto-0001")
        t2 = get_trip(conn, "porto-0002")
    assert t1["planned_route"] == encode_polyline(route) and t1["corridor_cells"] == cells
    verdict2 = next(v for v in build()[1] if v["trip_id"] == "porto-0002")
    assert t2["planned_route"] == verdict2["planned_route"] and t2["corridor_cells"] == verdict2["corridor_cells"]


def test_missing_directory_or_files(tmp_path):
    db = tmp_path / "r.db"
    init_db(db)
    with pytest.raises(InputError, match="not a directory"):
        ingest_dir(db, tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="alerts.jsonl"):
        ingest_dir(db, tmp_path / "empty")


@pytest.mark.parametrize(
    "kind,field,value",
    [
        ("verdict", "risk_score", "0.5"),
        ("verdict", "gps_distance_m", "3170.7"),
        ("verdict", "ts", "123"),
        ("verdict", "pings_used", 12.0),
        ("verdict", "risk_score", True),
        ("alert", "score", "0.5"),
        ("alert", "ts", "123"),
    ],
)
def test_numbers_must_be_json_numbers(tmp_path, kind, field, value):
    """Contract v1 is strict: "ts": "123" is an error, not a guess. A lax record used to be stored
    as sent (and broke the dispute page); a corrected record sent afterwards must then be taken,
    which it could not be while the first (bad) verdict was kept."""
    alerts, verdicts = build()
    good = verdicts[0] if kind == "verdict" else alerts[0]
    d = tmp_path / "replay"
    d.mkdir()
    name = "verdicts.jsonl" if kind == "verdict" else "alerts.jsonl"
    (d / name).write_bytes(orjson.dumps({**good, field: value}) + b"\n" + orjson.dumps(good) + b"\n")
    db = tmp_path / "r.db"
    init_db(db)
    report = ingest_dir(db, d)
    assert report.rejected == 1 and f"{name}:1: {field}:" in report.summary(), report.summary()
    with opened(db) as conn:
        trip = get_trip(conn, good["trip_id"])
    stored = trip["verdict"] if kind == "verdict" else trip["alerts"][0]
    assert stored[field] == good[field] and type(stored[field]) is type(good[field])


def test_what_is_stored_is_what_was_validated(tmp_path):
    """The stored body is the validated record (defaults filled in), and fields the contract does
    not know yet are kept as received."""
    from tripguard.contract import Verdict

    _, verdicts = build()
    raw = {k: v for k, v in verdicts[2].items() if k != "notes"}
    d = tmp_path / "replay"
    d.mkdir()
    (d / "verdicts.jsonl").write_bytes(orjson.dumps({**raw, "x_future_field": {"a": 1}}) + b"\n")
    db = tmp_path / "r.db"
    init_db(db)
    assert ingest_dir(db, d).rejected == 0
    with opened(db) as conn:
        body = orjson.loads(conn.execute("SELECT body FROM verdicts").fetchone()[0])
    assert body["x_future_field"] == {"a": 1} and body["notes"] == []
    assert Verdict.model_validate(body, strict=True).model_dump(mode="json").items() <= body.items()


@pytest.mark.parametrize("field", ["trip_id", "driver_id", "alert_id"])
def test_ids_with_control_characters_are_rejected_at_ingest(tmp_path, field):
    """An id the API would refuse (text.py) is refused at ingest too: otherwise the trip is stored
    but can never be asked for or disputed."""
    alerts, _ = build()
    d = tmp_path / "replay"
    d.mkdir()
    (d / "alerts.jsonl").write_bytes(orjson.dumps({**alerts[0], field: "porto\x1b[2J-0001"}) + b"\n")
    db = tmp_path / "r.db"
    init_db(db)
    report = ingest_dir(db, d)
    assert report.rejected == 1 and f"alerts.jsonl:1: {field}: contains U+001B" in report.summary()
