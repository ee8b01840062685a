"""Browser sessions for the review page.

A reviewer pastes their bearer token into the login form once; the server checks it and sets a
session cookie (random 256-bit id, HttpOnly, SameSite=Strict; Secure over https). Only the id's
hash is stored, with the token it came from and a CSRF secret that every form post must carry.
A session ends at logout, after SESSION_TTL_MS, or when its token is revoked.
"""

from __future__ import annotations

import hmac
import secrets
import sqlite3
from dataclasses import dataclass

from tripguard.review.store import audit
from tripguard.review.store.db import now_ms, transaction
from tripguard.review.store.tokens import Principal, hash_token

COOKIE = "tg_session"
LOGIN_CSRF_COOKIE = "tg_login_csrf"
SESSION_TTL_MS = 8 * 3600 * 1000  # one working day
MAX_COOKIE_CHARS = 200


@dataclass(frozen=True, slots=True)
class Session:
    principal: Principal
    csrf: str


def start(conn: sqlite3.Connection, principal: Principal) -> tuple[str, Session]:
    """A new session for a checked token: (cookie value, session)."""
    sid = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    at = now_ms()
    with transaction(conn):
        conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (at,))
        conn.execute(
            "INSERT INTO sessions (id_hash, token_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (hash_token(sid), principal.token_id, csrf, at, at + SESSION_TTL_MS),
        )
        audit.record(conn, principal, "session.login", f"token:{principal.token_id}", {}, at)
    return sid, Session(principal, csrf)


def lookup(conn: sqlite3.Connection, sid: str | None) -> Session | None:
    """The live session of a cookie value: not expired, its token not revoked."""
    if not sid or len(sid) > MAX_COOKIE_CHARS:
        return None
    row = conn.execute(
        "SELECT s.csrf, t.id, t.role FROM sessions s JOIN tokens t ON t.id = s.token_id"
        " WHERE s.id_hash = ? AND s.expires_at > ? AND t.revoked_at IS NULL",
        (hash_token(sid), now_ms()),
    ).fetchone()
    return Session(Principal(int(row["id"]), row["role"]), row["csrf"]) if row else None


def end(conn: sqlite3.Connection, sid: str, session: Session) -> None:
    at = now_ms()
    with transaction(conn):
        conn.execute("DELETE FROM sessions WHERE id_hash = ?", (hash_token(sid),))
        audit.record(conn, session.principal, "session.logout", f"token:{session.principal.token_id}", {}, at)


def csrf_ok(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    # compare_digest on str accepts ASCII only: compare the UTF-8 bytes.
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))
