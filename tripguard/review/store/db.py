"""The review service's SQLite database: schema, connections, transactions.

One file, WAL mode (readers never block the writer), opened per operation: connections are
cheap and a short-lived connection never crosses threads. Every statement is parameterised.
Times are integer milliseconds since the Unix epoch, UTC, like the event contract.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2

# Statements that bring a database of the previous version to this one.
_MIGRATIONS = {
    2: [
        "ALTER TABLE disputes ADD COLUMN publish_claim TEXT",
        "ALTER TABLE disputes ADD COLUMN publish_claim_until INTEGER",
    ],
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Alerts as received (contract v1). alert_id is deterministic upstream, so a replayed topic
-- repeats ids and INSERT OR IGNORE keeps the first copy: a replay changes nothing.
CREATE TABLE IF NOT EXISTS alerts (
    alert_id    TEXT PRIMARY KEY,
    trip_id     TEXT NOT NULL,
    driver_id   TEXT NOT NULL,
    city        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    severity    TEXT NOT NULL,
    score       REAL NOT NULL,
    ts          INTEGER NOT NULL,
    detected_at INTEGER NOT NULL,
    body        TEXT NOT NULL,          -- the alert JSON as validated (unknown fields as received)
    ingested_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_trip   ON alerts (trip_id);
CREATE INDEX IF NOT EXISTS alerts_kind   ON alerts (kind, ts);
CREATE INDEX IF NOT EXISTS alerts_driver ON alerts (driver_id, ts);
CREATE INDEX IF NOT EXISTS alerts_city   ON alerts (city, ts);
CREATE INDEX IF NOT EXISTS alerts_ts     ON alerts (ts);

-- One verdict per trip; the first one received is kept (evidence under review must not change
-- under the reviewer's feet; a replay repeats the same verdict anyway).
CREATE TABLE IF NOT EXISTS verdicts (
    trip_id     TEXT PRIMARY KEY,
    driver_id   TEXT NOT NULL,
    city        TEXT NOT NULL,
    ts          INTEGER NOT NULL,
    risk_score  REAL NOT NULL,
    body        TEXT NOT NULL,          -- the verdict JSON as validated (unknown fields as received)
    ingested_at INTEGER NOT NULL
);

-- Geometry the verdict of contract v1 does not carry: the planned route and the corridor the
-- route-deviation detector used. Attached per trip from optional verdict fields or a separate
-- trip-detail record; each column is filled once and then kept.
CREATE TABLE IF NOT EXISTS trip_details (
    trip_id        TEXT PRIMARY KEY,
    planned_route  TEXT,                -- Google encoded polyline, precision 5
    corridor_cells TEXT,                -- JSON list of H3 cell ids (hex strings)
    updated_at     INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    role        TEXT NOT NULL CHECK (role IN ('backend', 'reviewer', 'admin')),
    label       TEXT NOT NULL DEFAULT '',
    token_hash  TEXT NOT NULL UNIQUE,   -- sha256 hex of the token; the token itself is never stored
    created_at  INTEGER NOT NULL,
    created_by  INTEGER,                -- token id of the admin, NULL when made by the CLI
    revoked_at  INTEGER
);

CREATE TABLE IF NOT EXISTS disputes (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    trip_id          TEXT NOT NULL,
    statement        TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('open', 'decided')),
    created_at       INTEGER NOT NULL,
    created_by       INTEGER NOT NULL,  -- token id
    decision         TEXT CHECK (decision IN ('upheld', 'overturned')),
    note             TEXT,
    decided_at       INTEGER,
    decided_by       INTEGER,           -- token id
    published_at     INTEGER,           -- when the decision reached tripguard.decisions (outbox)
    publish_claim    TEXT,              -- the `serve` process now publishing it (two may share a file)
    publish_claim_until INTEGER         -- the claim lapses then (its holder died), and another may take it
);
-- At most one open dispute per trip: the database enforces it, not a check-then-insert race.
CREATE UNIQUE INDEX IF NOT EXISTS disputes_one_open ON disputes (trip_id) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS disputes_status ON disputes (status, created_at);
CREATE INDEX IF NOT EXISTS disputes_unpublished ON disputes (decided_at) WHERE decision IS NOT NULL AND published_at IS NULL;

CREATE TABLE IF NOT EXISTS audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    token_id   INTEGER,                 -- NULL for the command line
    role       TEXT NOT NULL,           -- backend | reviewer | admin | cli
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);

-- Browser sessions of reviewers: the cookie carries a random id, only its hash is stored.
CREATE TABLE IF NOT EXISTS sessions (
    id_hash    TEXT PRIMARY KEY,
    token_id   INTEGER NOT NULL REFERENCES tokens (id),
    csrf       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
"""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit, see `transaction`)."""
    conn = sqlite3.connect(str(path), timeout=10.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 10000")
    # NORMAL is durable in WAL mode except for the last transactions before a power loss;
    # a process crash or restart loses nothing.
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def init_db(path: Path | str) -> None:
    """Create the file and the schema when missing; switch the file to WAL (persistent)."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"{path}: SQLite refused WAL mode (got {mode})")
        conn.executescript(_SCHEMA)  # creates what is missing; an older file keeps its tables
        with transaction(conn):  # one process migrates, a second one waits and finds it done
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:  # a new file: the schema above is this version's
                conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) < SCHEMA_VERSION:
                for version in range(int(row[0]) + 1, SCHEMA_VERSION + 1):
                    for statement in _MIGRATIONS[version]:
                        conn.execute(statement)
                conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
    finally:
        conn.close()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): takes the write lock up front so that a
    read-then-write inside cannot be invalidated by another writer."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def opened(path: Path | str) -> Iterator[sqlite3.Connection]:
    conn = connect(path)
    try:
        yield conn
    finally:
        conn.close()


@dataclass(frozen=True, slots=True)
class Database:
    """The database file of a running service, as routes receive it (review/common.py: DB). It
    holds no connection: each operation opens its own (`opened`), in the thread that runs it."""

    path: Path

    def opened(self) -> AbstractContextManager[sqlite3.Connection]:
        return opened(self.path)


@dataclass
class Where:
    """A WHERE clause built from optional conditions; a condition whose value is None (or an
    empty list) is left out. Column names come from the calling code, never from input; every
    value is bound."""

    parts: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def any_of(self, column: str, values: Sequence[Any] | None) -> Where:
        if values:
            unique = list(dict.fromkeys(values))
            self.parts.append(f"{column} IN ({', '.join('?' * len(unique))})")
            self.args.extend(unique)
        return self

    def compare(self, column: str, op: str, value: Any) -> Where:
        if value is not None:
            self.parts.append(f"{column} {op} ?")
            self.args.append(value)
        return self

    @property
    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.parts) if self.parts else ""


def page(
    conn: sqlite3.Connection, columns: str, table: str, where: Where, order_by: str, limit: int, offset: int
) -> tuple[list[sqlite3.Row], int]:
    """One page of the rows of `table` matching `where`, and how many match in all, read from
    one snapshot (a read transaction), so that the two agree."""
    conn.execute("BEGIN")
    try:
        rows = conn.execute(
            f"SELECT {columns} FROM {table}{where.sql} ORDER BY {order_by} LIMIT ? OFFSET ?",
            (*where.args, limit, offset),
        ).fetchall()
        total = conn.execute(f"SELECT COUNT(*) FROM {table}{where.sql}", where.args).fetchone()[0]
    finally:
        conn.execute("COMMIT")
    return rows, int(total)
