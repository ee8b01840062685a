"""Bearer tokens with roles. A token is 256 random bits; only its sha256 is stored, which is
enough for random secrets (no dictionary to attack, so no slow hash is needed)."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Literal

from tripguard.review import text
from tripguard.review.errors import NotFound
from tripguard.review.store import audit
from tripguard.review.store.db import now_ms, transaction

Role = Literal["backend", "reviewer", "admin"]
BACKEND, REVIEWER, ADMIN = "backend", "reviewer", "admin"  # what each may do: api/deps.py
ROLES: tuple[str, ...] = (BACKEND, REVIEWER, ADMIN)
TOKEN_PREFIX = "tg_"
MAX_TOKEN_CHARS = 200  # anything longer cannot be one of ours: refuse before hashing
MAX_LABEL_CHARS = 100


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's id and role."""

    token_id: int | None  # None = the command line (local operator)
    role: str


CLI = Principal(None, "cli")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_token(conn: sqlite3.Connection, role: str, label: str, actor: Principal) -> tuple[int, str]:
    """Store a new token's hash; returns (id, token). The token is shown once and never again."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if len(label) > MAX_LABEL_CHARS:
        raise ValueError(f"label is {len(label)} characters long, the limit is {MAX_LABEL_CHARS}")
    try:
        text.one_line(label)
    except ValueError as exc:
        raise ValueError(f"label {exc}") from None
    token = new_token()
    at = now_ms()
    with transaction(conn):
        cur = conn.execute(
            "INSERT INTO tokens (role, label, token_hash, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
            (role, label, hash_token(token), at, actor.token_id),
        )
        token_id = int(cur.lastrowid)  # type: ignore[arg-type]
        audit.record(conn, actor, "token.create", f"token:{token_id}", {"role": role, "label": label}, at)
    return token_id, token


def principal_for(conn: sqlite3.Connection, token: str) -> Principal | None:
    """The principal of a valid (known, not revoked) token, else None."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    row = conn.execute(
        "SELECT id, role FROM tokens WHERE token_hash = ? AND revoked_at IS NULL", (hash_token(token),)
    ).fetchone()
    return Principal(int(row["id"]), row["role"]) if row else None


def token_row(row: sqlite3.Row) -> dict:
    return {
        "id": row["id"],
        "role": row["role"],
        "label": row["label"],
        "created_at": row["created_at"],
        "created_by": row["created_by"],
        "revoked_at": row["revoked_at"],
    }


def get_token(conn: sqlite3.Connection, token_id: int) -> dict:
    row = conn.execute(
        "SELECT id, role, label, created_at, created_by, revoked_at FROM tokens WHERE id = ?", (token_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no token with id {token_id}")
    return token_row(row)


def list_tokens(conn: sqlite3.Connection) -> list[dict]:
    rows = conn.execute("SELECT id, role, label, created_at, created_by, revoked_at FROM tokens ORDER BY id").fetchall()
    return [token_row(r) for r in rows]


def revoke_token(conn: sqlite3.Connection, token_id: int, actor: Principal) -> dict:
    """Revoke a token (idempotent: revoking twice keeps the first time). Its browser sessions
    end with it."""
    at = now_ms()
    with transaction(conn):
        row = conn.execute("SELECT revoked_at FROM tokens WHERE id = ?", (token_id,)).fetchone()
        if row is None:
            raise NotFound(f"no token with id {token_id}")
        if row["revoked_at"] is None:
            conn.execute("UPDATE tokens SET revoked_at = ? WHERE id = ?", (at, token_id))
            conn.execute("DELETE FROM sessions WHERE token_id = ?", (token_id,))
            audit.record(conn, actor, "token.revoke", f"token:{token_id}", {}, at)
        return get_token(conn, token_id)
