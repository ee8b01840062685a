"""The audit log: who (token id and role) did what, when. Written in the same transaction as
the change it records, so the log and the state cannot disagree."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

import orjson

from tripguard.review.store.db import Where, page

if TYPE_CHECKING:
    from tripguard.review.store.tokens import Principal

ACTIONS = (
    "token.create",
    "token.revoke",
    "dispute.create",
    "dispute.decide",
    "session.login",
    "session.logout",
)


def record(
    conn: sqlite3.Connection, actor: Principal, action: str, target: str, detail: dict[str, Any], at: int
) -> None:
    conn.execute(
        "INSERT INTO audit (at, token_id, role, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
        (at, actor.token_id, actor.role, action, target, orjson.dumps(detail).decode()),
    )


def list_entries(
    conn: sqlite3.Connection,
    actions: list[str] | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict], int]:
    """A page of the log, newest first, and how many entries match in all."""
    where = Where().any_of("action", actions).compare("at", ">=", since_ms).compare("at", "<", until_ms)
    rows, total = page(conn, "id, at, token_id, role, action, target, detail", "audit", where, "id DESC", limit, offset)
    return [
        {
            "id": r["id"],
            "at": r["at"],
            "token_id": r["token_id"],
            "role": r["role"],
            "action": r["action"],
            "target": r["target"],
            "detail": orjson.loads(r["detail"]),
        }
        for r in rows
    ], total
