"""Disputes and decisions. A decision is made once; it is stored with the dispute and queued
for tripguard.decisions in the same transaction (an outbox: `published_at` stays NULL until
the publisher has the broker's acknowledgement), so no decision is lost between the two.

Publishing is at-least-once: a crash between the broker's acknowledgement and `published_at`
sends the decision again. Each decision event carries a deterministic `event_id` for consumers
to drop such repeats. Two `serve` processes on one database never both send a decision: a
publisher first claims the rows it will send, for a lease; only a claim that lapsed (its holder
died) can be taken over.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from typing import Any

from tripguard.review.errors import Conflict, NotFound
from tripguard.review.store import audit, records
from tripguard.review.store.db import Where, now_ms, page, transaction
from tripguard.review.store.tokens import Principal

STATUSES = ("open", "decided")
MAX_STATEMENT_CHARS = 4_000  # the longest statement and note the API takes (api/models.py); the page: note
MAX_NOTE_CHARS = 2_000
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
        open_row = conn.execute("SELECT id FROM disputes WHERE trip_id = ? AND status = 'open'", (trip_id,)).fetchone()
        if open_row is not None:
            raise Conflict(f"trip {trip_id!r} already has an open dispute (id {open_row['id']})")
        cur = conn.execute(
            "INSERT INTO disputes (trip_id, statement, status, created_at, created_by) VALUES (?, ?, 'open', ?, ?)",
            (trip_id, statement, at, actor.token_id),
        )
        dispute_id = int(cur.lastrowid)  # type: ignore[arg-type]
        audit.record(
            conn,
            actor,
            "dispute.create",
            f"dispute:{dispute_id}",
            {"trip_id": trip_id, "statement_chars": len(statement)},
            at,
        )
        row = conn.execute(f"SELECT {_COLUMNS} FROM disputes WHERE id = ?", (dispute_id,)).fetchone()
    return _row(row)


def get_dispute(conn: sqlite3.Connection, dispute_id: int) -> dict[str, Any]:
    row = conn.execute(f"SELECT {_COLUMNS} FROM disputes WHERE id = ?", (dispute_id,)).fetchone()
    if row is None:
        raise NotFound(f"no dispute with id {dispute_id}")
    return _row(row)


def list_disputes(
    conn: sqlite3.Connection,
    statuses: Sequence[str] | None = None,
    trip_ids: Sequence[str] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """A page of disputes and how many match in all. Open disputes alone are listed oldest first
    (the review queue: first come, first served); otherwise newest first."""
    where = Where().any_of("status", statuses).any_of("trip_id", trip_ids)
    queue = bool(statuses) and set(statuses) == {"open"}  # type: ignore[arg-type]
    rows, total = page(
        conn, _COLUMNS, "disputes", where, "created_at ASC, id ASC" if queue else "id DESC", limit, offset
    )
    return [_row(r) for r in rows], total


def decide(conn: sqlite3.Connection, dispute_id: int, decision: str, note: str, actor: Principal) -> dict[str, Any]:
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
            row = conn.execute("SELECT decision, decided_by FROM disputes WHERE id = ?", (dispute_id,)).fetchone()
            if row is None:
                raise NotFound(f"no dispute with id {dispute_id}")
            raise Conflict(
                f"dispute {dispute_id} is already decided ({row['decision']}, by token #{row['decided_by']});"
                " a decision is final"
            )
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


def decision_event_id(dispute: dict[str, Any]) -> str:
    """The same decision always gets the same id, however often it is sent: it is made of what
    never changes once a dispute is decided."""
    key = "\x1f".join(str(dispute[k]) for k in ("trip_id", "id", "decided_at", "decision"))
    return "dec-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def decision_message(conn: sqlite3.Connection, dispute: dict[str, Any]) -> dict[str, Any]:
    """The JSON published to tripguard.decisions (key trip_id)."""
    summary = records.trip_summary(conn, dispute["trip_id"])
    alert_ids = [
        r["alert_id"]
        for r in conn.execute(
            "SELECT alert_id FROM alerts WHERE trip_id = ? ORDER BY ts, alert_id", (dispute["trip_id"],)
        )
    ]
    return {
        "event_id": decision_event_id(dispute),
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


CLAIM_MS = 120_000
"""How long a publisher's claim on unpublished decisions lasts. A publisher stops sending on a
claim when half of it has passed (and claims again), so a claim never lapses while in use."""


def claim_unpublished(
    conn: sqlite3.Connection, claimant: str, limit: int = 100, lease_ms: int = CLAIM_MS
) -> list[dict[str, Any]]:
    """Claim for `claimant` (one publishing process) up to `limit` decided, unpublished disputes,
    in decision order: those nobody claimed, its own, and those whose claim lapsed."""
    at = now_ms()
    with transaction(conn):
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM disputes WHERE decision IS NOT NULL AND published_at IS NULL"
            " AND (publish_claim IS NULL OR publish_claim = ? OR publish_claim_until <= ?)"
            " ORDER BY decided_at, id LIMIT ?",
            (claimant, at, limit),
        ).fetchall()
        conn.executemany(
            "UPDATE disputes SET publish_claim = ?, publish_claim_until = ? WHERE id = ?",
            [(claimant, at + lease_ms, r["id"]) for r in rows],
        )
    return [_row(r) for r in rows]


def mark_published(conn: sqlite3.Connection, dispute_id: int) -> None:
    conn.execute(
        "UPDATE disputes SET published_at = ?, publish_claim = NULL, publish_claim_until = NULL"
        " WHERE id = ? AND published_at IS NULL",
        (now_ms(), dispute_id),
    )


def release_claims(conn: sqlite3.Connection, claimant: str) -> None:
    """Give up `claimant`'s claims on what it has not sent (at shutdown), so that the next
    publisher need not wait for them to lapse."""
    conn.execute(
        "UPDATE disputes SET publish_claim = NULL, publish_claim_until = NULL"
        " WHERE publish_claim = ? AND published_at IS NULL",
        (claimant,),
    )
