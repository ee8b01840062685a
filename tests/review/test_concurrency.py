"""Races the database settles: one decision per dispute, one open dispute per trip."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tripguard.review import disputes
from tripguard.review.db import opened
from tripguard.review.errors import Conflict
from tripguard.review.tokens import principal_for

N = 8


def _race(fn) -> list[str]:
    def attempt(i: int) -> str:
        try:
            fn(i)
            return "ok"
        except Conflict:
            return "conflict"

    with ThreadPoolExecutor(N) as pool:
        return sorted(pool.map(attempt, range(N)))


def test_concurrent_decisions_one_wins(db_path, tokens):
    with opened(db_path) as conn:
        backend = principal_for(conn, tokens["backend"])
        reviewer = principal_for(conn, tokens["reviewer"])
        d = disputes.create_dispute(conn, "porto-0001", "x", backend)

    def decide(i: int) -> None:
        with opened(db_path) as conn:  # one connection per thread, like one per request
            disputes.decide(conn, d["id"], "upheld" if i % 2 else "overturned", f"reviewer {i}", reviewer)

    assert _race(decide) == ["conflict"] * (N - 1) + ["ok"]
    with opened(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'dispute.decide'").fetchone()[0] == 1


def test_concurrent_disputes_of_one_trip_one_wins(db_path, tokens):
    with opened(db_path) as conn:
        backend = principal_for(conn, tokens["backend"])

    def file(i: int) -> None:
        with opened(db_path) as conn:
            disputes.create_dispute(conn, "porto-0002", f"statement {i}", backend)

    assert _race(file) == ["conflict"] * (N - 1) + ["ok"]
    with opened(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM disputes WHERE trip_id = 'porto-0002'").fetchone()[0] == 1
