"""Races the database settles: one decision per dispute, one open dispute per trip."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tripguard.review.errors import Conflict
from tripguard.review.store import disputes
from tripguard.review.store.db import opened
from tripguard.review.store.tokens import principal_for

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


def _decided(db_path, tokens, trips=("porto-0001", "porto-0002", "porto-0003")) -> list[dict]:
    with opened(db_path) as conn:
        backend = principal_for(conn, tokens["backend"])
        reviewer = principal_for(conn, tokens["reviewer"])
        return [
            disputes.decide(conn, disputes.create_dispute(conn, t, "x", backend)["id"], "upheld", "", reviewer)
            for t in trips
        ]


def test_publishers_claim_disjoint_decisions(db_path, tokens):
    """What one `serve` process claimed for publishing another does not get, until the claim
    lapses (its holder died) or is released (it stopped)."""
    decided = _decided(db_path, tokens)
    with opened(db_path) as conn:
        a = disputes.claim_unpublished(conn, "a", limit=2)
        b = disputes.claim_unpublished(conn, "b")
        assert [d["id"] for d in a] == [d["id"] for d in decided[:2]]  # in decision order
        assert [d["id"] for d in b] == [decided[2]["id"]]
        assert disputes.claim_unpublished(conn, "c") == []
        assert [d["id"] for d in disputes.claim_unpublished(conn, "a")] == [d["id"] for d in decided[:2]]  # its own
        disputes.mark_published(conn, a[0]["id"])
        disputes.release_claims(conn, "a")
        assert [d["id"] for d in disputes.claim_unpublished(conn, "c")] == [decided[1]["id"]]
        # a claim that lapsed is taken over
        assert [d["id"] for d in disputes.claim_unpublished(conn, "d", lease_ms=0)] == []
        conn.execute("UPDATE disputes SET publish_claim_until = 0 WHERE publish_claim = 'b'")
        assert [d["id"] for d in disputes.claim_unpublished(conn, "d")] == [decided[2]["id"]]


def test_decision_event_ids_are_deterministic(db_path, tokens):
    decided = _decided(db_path, tokens)
    with opened(db_path) as conn:
        first = [disputes.decision_message(conn, disputes.get_dispute(conn, d["id"]))["event_id"] for d in decided]
        again = [disputes.decision_message(conn, disputes.get_dispute(conn, d["id"]))["event_id"] for d in decided]
    assert first == again and len(set(first)) == len(first)


def test_concurrent_publishers_never_claim_the_same_decision(db_path, tokens):
    _decided(db_path, tokens, trips=("porto-0001", "porto-0002", "porto-0003", "porto-0004"))

    def claim(i: int) -> list[int]:
        with opened(db_path) as conn:
            return [d["id"] for d in disputes.claim_unpublished(conn, f"p{i}", limit=1)]

    with ThreadPoolExecutor(N) as pool:
        claimed = [i for ids in pool.map(claim, range(N)) for i in ids]
    assert len(claimed) == 4 and len(set(claimed)) == 4
