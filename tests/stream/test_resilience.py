"""A broker restart the worker survives on its own, and 10,000 poison messages that all land in the
DLQ while every valid ping is processed, by the same worker process."""

from __future__ import annotations

import asyncio
import json
import random
import time

import pytest
from aiokafka import AIOKafkaProducer

from tests.stream.helpers import (
    WorkerProcess,
    alert_ids,
    make_topics,
    produce,
    read_topic,
    replay_alerts,
    start_worker_with_traffic,
    traffic,
    unique_settings,
    wait_until,
)
from tripguard.stream.broker import EmbeddedBroker

pytestmark = pytest.mark.kafka

PARTITIONS = 4
DAY_MS = 86_400_000


def _complete(bootstrap, topic, want):
    def check():
        try:
            ids = alert_ids(bootstrap, topic)
        except Exception:  # the topic may not exist yet right after the restart
            return None
        return ids if set(ids) >= want else None

    return check


def test_broker_restart_mid_run_recovers_without_help(tmp_path):
    broker = EmbeddedBroker(log_path=tmp_path / "tansu.log").start()
    port = broker.port
    settings = unique_settings("restart")
    before_pings, before_trips, _ = traffic(tmp_path / "before", seed=31, n_trips=30, n_partitions=PARTITIONS)
    after_pings, after_trips, _ = traffic(
        tmp_path / "after", seed=32, n_trips=30, n_partitions=PARTITIONS, shift_ms=DAY_MS
    )
    want_before = {a["alert_id"] for a in replay_alerts(before_pings, before_trips, tmp_path / "replay-before")}
    want_after = {a["alert_id"] for a in replay_alerts(after_pings, after_trips, tmp_path / "replay-after")}
    assert want_after and not want_before & want_after
    worker = WorkerProcess(
        broker.bootstrap,
        settings,
        tmp_path / "state",
        tmp_path / "worker.log",
        extra_args=["--create-topics", "--partitions", str(PARTITIONS)],
    )
    try:
        worker.start()
        worker.wait_for_log("assigned partitions")
        pid = worker.proc.pid
        produce(broker.bootstrap, settings, before_pings, before_trips)
        wait_until(
            _complete(broker.bootstrap, settings.alerts_topic, want_before), 90, 1.0, "alerts before", worker=worker
        )

        broker.stop()  # memory storage: topics, records and group offsets are gone
        time.sleep(3)
        broker = EmbeddedBroker(port=port, log_path=tmp_path / "tansu.log").start()
        worker.wait_for_log("re-created them", timeout_s=90)
        worker.wait_for_log(
            r"assigned partitions \[0, 1, 2, 3\][\s\S]*assigned partitions \[0, 1, 2, 3\]", timeout_s=90
        )
        produce(broker.bootstrap, settings, after_pings, after_trips)
        wait_until(
            _complete(broker.bootstrap, settings.alerts_topic, want_after), 120, 1.0, "alerts after", worker=worker
        )
        time.sleep(3)
        assert set(alert_ids(broker.bootstrap, settings.alerts_topic)) == want_after
        assert worker.proc.pid == pid and worker.proc.poll() is None  # the same process, never restarted
        assert worker.health()["status"] == "ok"
    finally:
        worker.stop()
        broker.stop()


def _bad_pings(rng: random.Random, n: int) -> list[bytes]:
    def ping(i, **over):
        # ts before the traffic: replay's merge keys a message by its ts before validating it, so a
        # bad message with a later ts would hold back the valid pings behind it in replay (the
        # stream dead-letters it at once); out-of-range ts values are ignored by that merge.
        p = {"trip_id": f"bad-{i}", "driver_id": "d", "ts": 1_600_000_000_000 + i, "lat": 41.1, "lon": -8.6}
        p.update(over)
        return json.dumps({k: v for k, v in p.items() if v is not ...}).encode()

    makers = [
        lambda i: b"not json at all %d" % i,
        lambda i: b'{"trip_id": "bad-%d", "lat": ' % i,  # truncated
        lambda i: b"\xff\xfe\x00 binary %d" % i,
        lambda i: ping(i, lat=91.5),
        lambda i: ping(i, lon=-180.01),
        lambda i: ping(i, ts="2023-11-14T22:13:20Z"),
        lambda i: ping(i, ts=1_700_000_000_000_000),  # microseconds
        lambda i: ping(i, trip_id=...),
        lambda i: ping(i, driver_id=""),
        lambda i: ping(i, mock=1),
        lambda i: ping(i, accuracy_m=-3),
        lambda i: ping(i, provider="satellite"),
        lambda i: b"[]",
        lambda i: b'"just a string %d"' % i,
        lambda i: b"[" + ping(i) + b", " + ping(i + 1) + b"]",  # two trips in one message
        lambda i: b"[" + ping(i) + b", 7]",
    ]
    return [rng.choice(makers)(i) for i in range(n)]


def _bad_trip_events(rng: random.Random, n: int) -> list[bytes]:
    def event(i, **over):
        e = {
            "type": "trip_started",
            "trip_id": f"badtrip-{i}",
            "driver_id": "d",
            "city": "porto",
            "ts": 1_600_000_000_000 + i,
            "pickup": {"lat": 41.1, "lon": -8.6},
        }
        e.update(over)
        return json.dumps({k: v for k, v in e.items() if v is not ...}).encode()

    makers = [
        lambda i: event(i, type="trip_paused"),
        lambda i: event(i, city=...),
        lambda i: event(i, pickup={"lat": 123, "lon": 0}),
        lambda i: event(i, type="trip_ended", claimed_fare=-4, currency="EUR"),
        lambda i: event(i, type="trip_ended", claimed_fare=9.5),  # no currency
        lambda i: b"{oops %d}" % i,
        lambda i: b"null",
    ]
    return [rng.choice(makers)(i) for i in range(n)]


def test_ten_thousand_malformed_messages_go_to_the_dlq(kafka_bootstrap, tmp_path):
    rng = random.Random(4242)
    settings = unique_settings("poison")
    make_topics(kafka_bootstrap, settings, PARTITIONS)
    n_file_pings, n_file_trips, n_direct = 8_000, 1_000, 1_000
    bad_pings, bad_trips = _bad_pings(rng, n_file_pings), _bad_trip_events(rng, n_file_trips)
    pings, trips, messages = traffic(
        tmp_path / "in",
        seed=41,
        n_trips=40,
        n_partitions=PARTITIONS,
        extra_lines={"pings": bad_pings, "trips": bad_trips},
    )
    want = {a["alert_id"] for a in replay_alerts(pings, trips, tmp_path / "replay")}
    summary = json.loads((tmp_path / "replay" / "summary.json").read_text())
    assert summary["dead_letters"] == n_file_pings + n_file_trips  # replay agrees they are all bad
    valid_pings = sum(1 for m in messages if m["source"] == "pings")

    # the rest straight onto the topics: a valid ping whose key is not its trip_id, and empty values
    good = [m["value"] for m in messages if m["source"] == "pings"][: n_direct // 2]

    async def send_direct():
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for v in good:
                await producer.send(settings.pings_topic, json.dumps(v).encode(), key=b"someone-else")
            for i in range(n_direct - len(good)):
                await producer.send(
                    settings.trips_topic if i % 2 else settings.pings_topic, None, key=f"empty-{i}".encode()
                )
            await producer.flush()
        finally:
            await producer.stop()

    worker = WorkerProcess(kafka_bootstrap, settings, tmp_path / "state", tmp_path / "worker.log").start()
    try:
        worker.wait_for_log("assigned partitions")
        pid = worker.proc.pid
        producer = produce(kafka_bootstrap, settings, pings, trips, background=True)
        asyncio.run(send_direct())
        assert producer.wait(120) == 0, producer.stderr.read().decode()
        n_bad = n_file_pings + n_file_trips + n_direct
        wait_until(
            lambda: (
                worker.metrics().get(f'tripguard_dlq_total{{source_topic="{settings.pings_topic}"}}', 0)
                + worker.metrics().get(f'tripguard_dlq_total{{source_topic="{settings.trips_topic}"}}', 0)
                >= n_bad
            ),
            120,
            1.0,
            "every bad message counted",
            worker=worker,
        )
        wait_until(_complete(kafka_bootstrap, settings.alerts_topic, want), 90, 1.0, "alerts", worker=worker)
        dlq = read_topic(kafka_bootstrap, settings.dlq_topic)
        assert len(dlq) == n_bad
        positions = set()
        for r in dlq:
            h = {k: v.decode() for k, v in r.headers}
            assert h["error"].strip(), "a dead letter names its reason"
            assert h["source_topic"] in (settings.pings_topic, settings.trips_topic)
            positions.add((h["source_topic"], int(h["source_partition"]), int(h["source_offset"])))
        assert len(positions) == n_bad  # each bad message once, by its position
        reasons = [dict(r.headers)["error"].decode() for r in dlq]
        assert sum(x.startswith("key: must be the message's trip_id") for x in reasons) == len(good)
        assert sum(x == "empty message (null value)" for x in reasons) == n_direct - len(good)
        assert any(x.startswith("lat:") for x in reasons) and any(x.startswith("ts:") for x in reasons)
        raw = {r.value for r in dlq}
        assert set(bad_pings) | set(bad_trips) <= raw  # the original bytes, as they came

        m = worker.metrics()
        assert m["tripguard_pings_total"] == valid_pings  # every valid ping reached the engine
        time.sleep(3)
        assert set(alert_ids(kafka_bootstrap, settings.alerts_topic)) == want
        assert worker.proc.pid == pid and worker.proc.poll() is None
        assert worker.health()["status"] == "ok"
    finally:
        worker.stop()


def test_an_engine_exception_rewinds_the_partition_and_loses_nothing(kafka_bootstrap, tmp_path, monkeypatch, run_async):
    """An unexpected exception inside Engine.process (injected here, in an in-process worker): the
    partition goes back to its last checkpoint and reads again; the error shows in the metrics;
    the worker keeps running and the alert set is still replay's."""
    from tripguard.engine.core import Engine

    settings = unique_settings(
        "fault",
        state_dir=tmp_path / "state",
        metrics_port=0,
        checkpoint_interval_s=1,
        pause_close_s=2,
        batch_max_ms=100,
    )
    make_topics(kafka_bootstrap, settings, PARTITIONS)
    pings, trips, _ = traffic(tmp_path / "in", seed=51, n_trips=30, n_partitions=PARTITIONS)
    want = {a["alert_id"] for a in replay_alerts(pings, trips, tmp_path / "replay")}
    real_process = Engine.process
    calls = {"n": 0, "failed": 0}

    def flaky_process(self, batch, now_ms=None):
        calls["n"] += 1
        if not calls["failed"] and any(t.startswith("trip-") for t in batch.trip_id):  # first traffic batch
            calls["failed"] += 1
            raise RuntimeError("injected engine fault")
        return real_process(self, batch, now_ms)

    monkeypatch.setattr(Engine, "process", flaky_process)

    async def scenario():
        worker, task = await start_worker_with_traffic(kafka_bootstrap, settings, pings, trips)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            got = set(await asyncio.to_thread(alert_ids, kafka_bootstrap, settings.alerts_topic))
            if got >= want:
                break
            await asyncio.sleep(1)
        assert not task.done()
        worker.stopping.set()
        assert await task == 0
        return got, worker.metrics

    got, metrics = run_async(scenario(), timeout_s=240)
    assert calls["failed"] == 1
    assert metrics.batch_errors._value.get() == 1
    assert got == want
