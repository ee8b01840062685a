"""Disputes and decisions. A decision is made once; it is stored with the dispute and queued
for tripguard.decisions in the same transaction (an outbox: `published_at` stays NULL until
the publisher has the broker's acknowledgement), so no decision is lost between the two."""

from __future__ import annotations

import sqlite3
from typing import Any

from tripguard.review import audit, records
from tripguard.review.db import now_ms, transaction
from tripguard.review.errors import Conflict, NotFound
from tripguard.review.tokens import Principal

STATUSES = ("open", "decided")
DECISIONS = ("upheld", "overturned")

_COLUMNS = (
    "id, trip_id, statement, status, created_at, created_by, decision, note, decided_at, decided_by, published_at"
)


def _row(r: sqlite3.Row) -> dict[str, Any]:
    return {k: r[k] for k in r.keys()}


def create_dispute(conn: sqlite3.Connection, trip_id: str, statement: str, actor: Principal) -> dict[str, Any]:
    """File a dispute. NotFound for a trip without verdict or alert; Conflict while the trip has
    an open dispute (after a decision, a new dispute may be filed)."""
    at = now_ms()
    with transaction(conn):
        if not records.trip_exists(conn, trip_id):
            raise NotFound(f"no verdict or alert for trip {trip_id!r}")
        open_row = conn.execute(
            "SELECT id FROM disputes WHERE trip_id = ? AND status = 'open'", (trip_id,)
        ).fetchone()
        if open_row is not None:
            raise Conflict(f"trip {trip_id!r} already has an open dispute (id {open_row['id']})")
        cur = conn.execute(
            "INSERT INTO disputes (trip_id, statement, status, created_at, created_by) VALUES (?, ?, 'open', ?, ?)",
            (trip_id, statement, at, actor.token_id),
        )
        dispute_id = int(cur.lastrowid)
        audit.record(
            conn, actor, "dispute.create", f"dispute:{dispute_id}", {"trip_id": trip_id, "statement_chars": len(statement)}, at
        )
        row = conn.execute(f"SELECT {_COLUMNS} FROM disputes WHERE id = ?", (dispute_id,)).fetchone()
    return _row(row)


def get_dispute(conn: sqlite3.Connection, dispute_id: int) -> dict[str, Any]:
    row = conn.execute(f"SELECT {_COLUMNS} FROM disputes WHERE id = ?", (dispute_id,)).fetchone()
    if row is None:
        raise NotFound(f"no dispute with id {dispute_id}")
    return _row(row)


def list_disputes(
    conn: sqlite3.Connection, status: str | None = None, trip_id: str | None = None, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """Open disputes oldest first (the review queue: first come, first served); otherwise newest first."""
    where, args = [], []
    if status is not None:
        where.append("status = ?")
        args.append(status)
    if trip_id is not None:
        where.append("trip_id = ?")
        args.append(trip_id)
    sql = f"SELECT {_COLUMNS} FROM disputes"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY created_at ASC, id ASC" if status == "open" else " ORDER BY id DESC"
    sql += " LIMIT ? OFFSET ?"
    return [_row(r) for r in conn.execute(sql, (*args, limit, offset))]


def decide(
    conn: sqlite3.Connection, dispute_id: int, decision: str, note: str, actor: Principal
) -> dict[str, Any]:
    """Record the decision once. NotFound for an unknown dispute, Conflict when already decided."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    at = now_ms()
    with transaction(conn):
        cur = conn.execute(
            "UPDATE disputes SET status = 'decided', decision = ?, note = ?, decided_at = ?, decided_by = ?"
            " WHERE id = ? AND status = 'open'",
            (decision, note, at, actor.token_id, dispute_id),
        )
        if cur.rowcount == 0:
            row = conn.execute("SELECT decision FROM disputes WHERE id = ?", (dispute_id,)).fetchone()
            if row is None:
                raise NotFound(f"no dispute with id {dispute_id}")
            raise Conflict(f"dispute {dispute_id} is already decided ({row['decision']}); a decision is final")
        row = conn.execute(f"SELECT {_COLUMNS} FROM disputes WHERE id = ?", (dispute_id,)).fetchone()
        audit.record(
            conn,
            actor,
            "dispute.decide",
            f"dispute:{dispute_id}",
            {"trip_id": row["trip_id"], "decision": decision, "note_chars": len(note)},
            at,
        )
    return _row(row)


def decision_message(conn: sqlite3.Connection, dispute: dict[str, Any]) -> dict[str, Any]:
    """The JSON published to tripguard.decisions (key trip_id)."""
    summary = records.trip_summary(conn, dispute["trip_id"])
    alert_ids = [r["alert_id"] for r in conn.execute(
        "SELECT alert_id FROM alerts WHERE trip_id = ? ORDER BY ts, alert_id", (dispute["trip_id"],))]
    return {
        "dispute_id": dispute["id"],
        "trip_id": dispute["trip_id"],
        "driver_id": summary["driver_id"],
        "city": summary["city"],
        "decision": dispute["decision"],
        "note": dispute["note"],
        "decided_at": dispute["decided_at"],
        "decided_by": dispute["decided_by"],
        "disputed_at": dispute["created_at"],
        "kinds": summary["kinds"],
        "alert_ids": alert_ids,
    }


def unpublished(conn: sqlite3.Connection, limit: int = 100) -> list[dict[str, Any]]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM disputes WHERE decision IS NOT NULL AND published_at IS NULL"
        " ORDER BY decided_at, id LIMIT ?",
        (limit,),
    ).fetchall()
    return [_row(r) for r in rows]


def mark_published(conn: sqlite3.Connection, dispute_id: int) -> None:
    conn.execute(
        "UPDATE disputes SET published_at = ? WHERE id = ? AND published_at IS NULL", (now_ms(), dispute_id)
    )
