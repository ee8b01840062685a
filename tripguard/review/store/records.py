"""Alerts, verdicts and trip details in the database: idempotent writes, filtered reads.

Writes take contract-validated models (ingest.py validates) and store what was validated:
the model's fields as validated, over the record's other fields as received (fields added to
the contract later are not lost). Reads never trust a body to be well-typed, though: rows
stored before validation was strict may hold "0.5" for a number (the pages format defensively).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from tripguard.contract import Alert, Verdict
from tripguard.review.errors import NotFound
from tripguard.review.store.db import Where, now_ms, page


def _body(record: Alert | Verdict, raw: dict[str, Any]) -> str:
    return orjson.dumps({**raw, **record.model_dump(mode="json")}).decode()


def put_alert(conn: sqlite3.Connection, alert: Alert, raw: dict[str, Any]) -> bool:
    """Insert an alert unless its alert_id is known. True when it was new."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO alerts (alert_id, trip_id, driver_id, city, kind, severity, score, ts,"
        " detected_at, body, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            alert.alert_id,
            alert.trip_id,
            alert.driver_id,
            alert.city,
            alert.kind,
            alert.severity,
            alert.score,
            alert.ts,
            alert.detected_at,
            _body(alert, raw),
            now_ms(),
        ),
    )
    return cur.rowcount == 1


def put_verdict(conn: sqlite3.Connection, verdict: Verdict, raw: dict[str, Any]) -> bool:
    """Insert a trip's verdict unless the trip has one. True when it was new."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO verdicts (trip_id, driver_id, city, ts, risk_score, body, ingested_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            verdict.trip_id,
            verdict.driver_id,
            verdict.city,
            verdict.ts,
            verdict.risk_score,
            _body(verdict, raw),
            now_ms(),
        ),
    )
    return cur.rowcount == 1


def put_trip_detail(
    conn: sqlite3.Connection, trip_id: str, planned_route: str | None, corridor_cells: list[str] | None
) -> bool:
    """Attach a planned route (encoded polyline) and/or corridor cells to a trip. Each column is
    filled once and then kept, like the verdict. True when something was added."""
    if planned_route is None and corridor_cells is None:
        return False
    cells = orjson.dumps(corridor_cells).decode() if corridor_cells is not None else None
    before = conn.execute(
        "SELECT planned_route, corridor_cells FROM trip_details WHERE trip_id = ?", (trip_id,)
    ).fetchone()
    if before is None:
        conn.execute(
            "INSERT INTO trip_details (trip_id, planned_route, corridor_cells, updated_at) VALUES (?, ?, ?, ?)",
            (trip_id, planned_route, cells, now_ms()),
        )
        return True
    add_route = before["planned_route"] is None and planned_route is not None
    add_cells = before["corridor_cells"] is None and cells is not None
    if not (add_route or add_cells):
        return False
    conn.execute(
        "UPDATE trip_details SET planned_route = COALESCE(planned_route, ?),"
        " corridor_cells = COALESCE(corridor_cells, ?), updated_at = ? WHERE trip_id = ?",
        (planned_route, cells, now_ms(), trip_id),
    )
    return True


def trip_exists(conn: sqlite3.Connection, trip_id: str) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM verdicts WHERE trip_id = ?) OR EXISTS (SELECT 1 FROM alerts WHERE trip_id = ?)",
        (trip_id, trip_id),
    ).fetchone()
    return bool(row[0])


def get_trip(conn: sqlite3.Connection, trip_id: str) -> dict[str, Any]:
    """Everything stored about a trip: verdict (raw JSON dict or None), alerts (oldest first),
    planned route and corridor cells (None when unknown). NotFound when nothing is stored."""
    v = conn.execute("SELECT body FROM verdicts WHERE trip_id = ?", (trip_id,)).fetchone()
    alerts = [
        orjson.loads(r["body"])
        for r in conn.execute("SELECT body FROM alerts WHERE trip_id = ? ORDER BY ts, alert_id", (trip_id,))
    ]
    if v is None and not alerts:
        raise NotFound(f"no verdict or alert for trip {trip_id!r}")
    d = conn.execute("SELECT planned_route, corridor_cells FROM trip_details WHERE trip_id = ?", (trip_id,)).fetchone()
    return {
        "trip_id": trip_id,
        "verdict": orjson.loads(v["body"]) if v else None,
        "alerts": alerts,
        "planned_route": d["planned_route"] if d else None,
        "corridor_cells": orjson.loads(d["corridor_cells"]) if d and d["corridor_cells"] else None,
    }


def list_alerts(
    conn: sqlite3.Connection,
    kinds: list[str] | None = None,
    driver_ids: list[str] | None = None,
    cities: list[str] | None = None,
    trip_ids: list[str] | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the alerts matching every given filter (a list matches any of its values),
    newest event time first, and how many match in all. since/until bound `ts` (event time of
    the evidence): since inclusive, until exclusive."""
    where = (
        Where()
        .any_of("kind", kinds)
        .any_of("driver_id", driver_ids)
        .any_of("city", cities)
        .any_of("trip_id", trip_ids)
        .compare("ts", ">=", since_ms)
        .compare("ts", "<", until_ms)
    )
    rows, total = page(conn, "body", "alerts", where, "ts DESC, alert_id", limit, offset)
    return [orjson.loads(r["body"]) for r in rows], total


def trip_summary(conn: sqlite3.Connection, trip_id: str) -> dict[str, Any]:
    """Driver, city, risk score and alert kinds of a trip, for the review queue."""
    v = conn.execute("SELECT driver_id, city, risk_score FROM verdicts WHERE trip_id = ?", (trip_id,)).fetchone()
    kinds = [
        r["kind"] for r in conn.execute("SELECT DISTINCT kind FROM alerts WHERE trip_id = ? ORDER BY kind", (trip_id,))
    ]
    a = None
    if v is None:
        a = conn.execute(
            "SELECT driver_id, city, MAX(score) AS score FROM alerts WHERE trip_id = ?", (trip_id,)
        ).fetchone()
    return {
        "driver_id": v["driver_id"] if v else (a["driver_id"] if a else None),
        "city": v["city"] if v else (a["city"] if a else None),
        "risk_score": v["risk_score"] if v else (a["score"] if a else None),
        "kinds": kinds,
    }
