"""The review service against a real Kafka-protocol broker (Tansu, started by the session):
alerts and verdicts produced to their topics appear in the API, a replayed topic changes
nothing, bad records go to the DLQ, and every decision appears on tripguard.decisions."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi.testclient import TestClient
from review_fixtures import build

from tripguard.config.settings import Settings
from tripguard.review.app import create_app
from tripguard.review.store.db import init_db, opened
from tripguard.review.store.tokens import CLI, create_token
from tripguard.stream.topics import create_topics

pytestmark = pytest.mark.kafka


def _settings(bootstrap: str) -> Settings:
    tag = uuid.uuid4().hex[:8]  # topics and group of this test only
    return Settings(
        bootstrap=bootstrap,
        group=f"t-{tag}",
        pings_topic=f"t.{tag}.pings",
        trips_topic=f"t.{tag}.trips",
        alerts_topic=f"t.{tag}.alerts",
        verdicts_topic=f"t.{tag}.verdicts",
        dlq_topic=f"t.{tag}.dlq",
        decisions_topic=f"t.{tag}.decisions",
    )


async def _produce(bootstrap: str, messages: list[tuple[str, bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for topic, key, value in messages:
            await producer.send_and_wait(topic, key=key, value=value)
    finally:
        await producer.stop()


async def _read_all(bootstrap: str, topic: str, want: int, timeout_s: float = 30.0) -> list:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"reader-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        got: list = []
        deadline = time.monotonic() + timeout_s
        while len(got) < want and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                got.extend(records)
        # a little longer: nothing beyond `want` may be there
        for records in (await consumer.getmany(timeout_ms=1000)).values():
            got.extend(records)
        return got
    finally:
        await consumer.stop()


def _messages(settings: Settings) -> list[tuple[str, bytes, bytes]]:
    alerts, verdicts = build()
    return [(settings.alerts_topic, a["trip_id"].encode(), orjson.dumps(a)) for a in alerts] + [
        (settings.verdicts_topic, v["trip_id"].encode(), orjson.dumps(v)) for v in verdicts
    ]


def _wait(predicate, timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_topics_to_api_replay_dlq_and_decisions(kafka_bootstrap, tmp_path, monkeypatch):
    from tripguard.review import kafka as review_kafka

    # The first write fails (a locked database, say): the batch must be redone, not skipped.
    real_store, failures = review_kafka.TopicFeed._store, []

    def flaky_store(self, items):
        if not failures:
            failures.append(len(items))
            raise sqlite3.OperationalError("database is locked")
        return real_store(self, items)

    monkeypatch.setattr(review_kafka.TopicFeed, "_store", flaky_store)
    settings = _settings(kafka_bootstrap)
    asyncio.run(create_topics(kafka_bootstrap, settings, partitions=2))
    db = tmp_path / "k.db"
    init_db(db)
    with opened(db) as conn:
        h = {
            role: {"Authorization": f"Bearer {create_token(conn, role, '', CLI)[1]}"}
            for role in ("backend", "reviewer")
        }

    messages = _messages(settings)
    bad = (settings.alerts_topic, b"porto-0009", b'{"alert_id": "x", "kind": "teleport"}')
    asyncio.run(_produce(kafka_bootstrap, messages + [bad]))

    with TestClient(create_app(db, settings, kafka=True), raise_server_exceptions=False) as client:
        feed = client.app.state.kafka.feed
        _wait(lambda: feed.stored + feed.dead_lettered >= 9, what="the first 9 records")
        assert failures and failures[0] > 0  # the failure happened, and nothing was lost to it
        alerts = client.get("/alerts", headers=h["reviewer"]).json()
        assert sorted(a["alert_id"] for a in alerts) == sorted(a["alert_id"] for a in build()[0])
        trip = client.get("/trips/porto-0002", headers=h["reviewer"]).json()
        assert trip["verdict"]["trip_id"] == "porto-0002" and trip["corridor_cells"]
        with opened(db) as conn:
            snapshot = [tuple(r) for r in conn.execute("SELECT alert_id, body, ingested_at FROM alerts ORDER BY 1")]
            verdict_rows = [
                tuple(r) for r in conn.execute("SELECT trip_id, body, ingested_at FROM verdicts ORDER BY 1")
            ]

        # the same topic content again (a producer's replay after a crash): nothing changes
        asyncio.run(_produce(kafka_bootstrap, messages))
        _wait(lambda: feed.stored >= 16, what="the replayed records")
        with opened(db) as conn:
            assert [
                tuple(r) for r in conn.execute("SELECT alert_id, body, ingested_at FROM alerts ORDER BY 1")
            ] == snapshot
            assert [
                tuple(r) for r in conn.execute("SELECT trip_id, body, ingested_at FROM verdicts ORDER BY 1")
            ] == verdict_rows
        assert feed.dead_lettered == 1

        # a decision is published to the decisions topic, keyed by trip_id
        d = client.post("/disputes", json={"trip_id": "porto-0001", "statement": "tunnel"}, headers=h["backend"]).json()
        r = client.post(
            f"/disputes/{d['id']}/decision", json={"decision": "overturned", "note": "GPS lost"}, headers=h["reviewer"]
        )
        assert r.status_code == 200
        outbox = client.app.state.outbox
        _wait(lambda: outbox.published >= 1, what="the decision to be published")

    records = asyncio.run(_read_all(kafka_bootstrap, settings.decisions_topic, want=1))
    assert len(records) == 1
    assert records[0].key == b"porto-0001"
    msg = orjson.loads(records[0].value)
    assert msg["dispute_id"] == d["id"] and msg["decision"] == "overturned" and msg["note"] == "GPS lost"
    assert msg["driver_id"] == "drv-17" and msg["alert_ids"] == ["tel-0001", "spd-0001"]
    assert msg["event_id"].startswith("dec-") and msg["decided_by"] == r.json()["decided_by"]
    with opened(db) as conn:
        assert conn.execute("SELECT published_at FROM disputes WHERE id = ?", (d["id"],)).fetchone()[0] is not None

    dlq = asyncio.run(_read_all(kafka_bootstrap, settings.dlq_topic, want=1))
    assert len(dlq) == 1 and dlq[0].value == bad[2]
    headers = dict(dlq[0].headers)
    assert headers["source_topic"] == settings.alerts_topic.encode() and b"required" in headers["error"]


def test_decisions_made_without_a_broker_are_published_later(kafka_bootstrap, tmp_path, replay_dir):
    from tripguard.review.store.ingest import ingest_dir

    settings = _settings(kafka_bootstrap)
    asyncio.run(create_topics(kafka_bootstrap, settings, partitions=1))
    db = tmp_path / "o.db"
    init_db(db)
    ingest_dir(db, replay_dir)
    with opened(db) as conn:
        h = {
            role: {"Authorization": f"Bearer {create_token(conn, role, '', CLI)[1]}"}
            for role in ("backend", "reviewer")
        }

    with TestClient(create_app(db), raise_server_exceptions=False) as offline:  # no Kafka
        for trip in ("porto-0002", "porto-0003"):
            d = offline.post("/disputes", json={"trip_id": trip, "statement": "x"}, headers=h["backend"]).json()
            offline.post(f"/disputes/{d['id']}/decision", json={"decision": "upheld"}, headers=h["reviewer"])

    with TestClient(create_app(db, settings, kafka=True)) as online:
        _wait(lambda: online.app.state.outbox.published >= 2, what="the backlog")
    records = asyncio.run(_read_all(kafka_bootstrap, settings.decisions_topic, want=2))
    assert [r.key for r in records] == [b"porto-0002", b"porto-0003"]  # in decision order
    # published once: a restart does not publish them again
    with TestClient(create_app(db, settings, kafka=True)) as again:
        time.sleep(1.0)
        assert again.app.state.outbox.published == 0
    assert len(asyncio.run(_read_all(kafka_bootstrap, settings.decisions_topic, want=2))) == 2


def test_two_services_on_one_database_publish_each_decision_once(kafka_bootstrap, tmp_path, replay_dir):
    """Two `serve` processes on one file both run an outbox: each decision is claimed by one of
    them and reaches the topic once, with a deterministic event_id to dedupe a crash's repeat."""
    from tripguard.review.kafka import DecisionOutbox, make_producer
    from tripguard.review.store import disputes
    from tripguard.review.store.ingest import ingest_dir
    from tripguard.review.store.tokens import principal_for

    settings = _settings(kafka_bootstrap)
    asyncio.run(create_topics(kafka_bootstrap, settings, partitions=1))
    db = tmp_path / "two.db"
    init_db(db)
    ingest_dir(db, replay_dir)
    decided = []
    with opened(db) as conn:
        backend = principal_for(conn, create_token(conn, "backend", "", CLI)[1])
        reviewer = principal_for(conn, create_token(conn, "reviewer", "", CLI)[1])
        for round_ in range(2):
            for trip in ("porto-0001", "porto-0002", "porto-0003", "porto-0004"):
                d = disputes.create_dispute(conn, trip, f"round {round_}", backend)
                decided.append(disputes.decide(conn, d["id"], "upheld", "", reviewer))

    async def both() -> list[int]:
        producers = [make_producer(settings) for _ in range(2)]
        for p in producers:
            await p.start()
        try:
            outboxes = [DecisionOutbox(db, p, settings.decisions_topic) for p in producers]
            return await asyncio.gather(*(o.flush() for o in outboxes))
        finally:
            for p in producers:
                await p.stop()

    sent = asyncio.run(both())
    assert sum(sent) == len(decided)
    records = asyncio.run(_read_all(kafka_bootstrap, settings.decisions_topic, want=len(decided)))
    messages = [orjson.loads(r.value) for r in records]
    assert sorted(m["dispute_id"] for m in messages) == sorted(d["id"] for d in decided)
    with opened(db) as conn:
        expected = {d["id"]: disputes.decision_event_id(disputes.get_dispute(conn, d["id"])) for d in decided}
        assert (
            conn.execute(
                "SELECT COUNT(*) FROM disputes WHERE published_at IS NULL OR publish_claim IS NOT NULL"
            ).fetchone()[0]
            == 0
        )
    assert {m["dispute_id"]: m["event_id"] for m in messages} == expected
