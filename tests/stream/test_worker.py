"""The worker against the session's real broker, as real processes: end to end equals replay,
scale-out and takeover by a consumer group, SIGKILL at random moments, the co-partitioning refusal."""

from __future__ import annotations

import json
import random
import re
import time

import pytest

from tests.stream.helpers import (
    WorkerProcess,
    alert_ids,
    cli,
    make_topics,
    produce,
    read_topic,
    replay_alerts,
    settings_env,
    traffic,
    unique_settings,
    wait_until,
)
from tripguard.contract import Alert, Verdict

pytestmark = pytest.mark.kafka

PARTITIONS = 4


def _wait_for_alerts(bootstrap, topic, want: set[str], timeout_s: float = 180, worker=None) -> list[str]:
    def complete():
        ids = alert_ids(bootstrap, topic)
        return ids if set(ids) >= want else None

    try:
        return wait_until(complete, timeout_s, 1.0, "every replay alert on the alerts topic")
    except AssertionError as err:
        got = {json.loads(r.value)["alert_id"]: json.loads(r.value) for r in read_topic(bootstrap, topic)}
        extra = [(a["trip_id"], a["kind"], a["ts"]) for k, a in got.items() if k not in want]
        log = ""
        if worker:
            m = {k: v for k, v in worker.metrics().items() if "_bucket" not in k and "_created" not in k}
            log = f"{m}\n{worker.health()}\n{worker.log()[-3000:]}"
        raise AssertionError(
            f"missing {len(want - set(got))} of {len(want)} alerts; unexpected: {extra}\n{log}"
        ) from err


def test_end_to_end_alerts_equal_replay(kafka_bootstrap, tmp_path):
    settings = unique_settings("e2e")
    make_topics(kafka_bootstrap, settings, PARTITIONS)
    pings, trips, _ = traffic(tmp_path / "in", seed=21, n_trips=60, n_partitions=PARTITIONS)
    want = replay_alerts(pings, trips, tmp_path / "replay")
    want_ids = {a["alert_id"] for a in want}
    assert len(want_ids) >= 10 and {a["kind"] for a in want} >= {"teleport"}

    worker = WorkerProcess(kafka_bootstrap, settings, tmp_path / "state", tmp_path / "worker.log").start()
    try:
        worker.wait_for_log(r"assigned partitions \[0, 1, 2, 3\]")
        produce(kafka_bootstrap, settings, pings, trips)
        _wait_for_alerts(kafka_bootstrap, settings.alerts_topic, want_ids, worker=worker)
        time.sleep(3)  # anything extra would show now
        records = read_topic(kafka_bootstrap, settings.alerts_topic)
        alerts = [Alert.model_validate_json(r.value) for r in records]  # the contract's fields
        assert {a.alert_id for a in alerts} == want_ids
        assert all(r.key.decode() == a.trip_id for r, a in zip(records, alerts))
        by_id = {a["alert_id"]: a for a in want}
        for a in alerts:  # same evidence as replay; only the wall clock differs
            assert a.model_dump(mode="json", exclude={"detected_at"}) == {
                k: v for k, v in by_id[a.alert_id].items() if k != "detected_at"
            }
        verdicts = [Verdict.model_validate_json(r.value) for r in read_topic(kafka_bootstrap, settings.verdicts_topic)]
        replay_verdicts = (tmp_path / "replay" / "verdicts.jsonl").read_text().splitlines()
        # every traffic trip closed on the stream too (the partitions' clock ticks stay open)
        assert {v.trip_id for v in verdicts} == {
            json.loads(v)["trip_id"] for v in replay_verdicts if not json.loads(v)["trip_id"].startswith("tick-")
        }
        m = worker.metrics()
        assert m["tripguard_pings_total"] == sum(1 for _ in pings.open())
        # alerts revealed by a record have a ping->alert latency (those of trips closed by an input
        # pause have no record that revealed them)
        assert 0 < m["tripguard_ping_to_alert_seconds_count"] <= len(alerts)
        assert worker.health()["status"] == "ok"
        assert worker.terminate() == 0
        assert "final checkpoint done" in worker.log()
    finally:
        worker.stop()


def test_two_workers_split_partitions_and_take_over_after_sigkill(kafka_bootstrap, tmp_path):
    settings = unique_settings("pair")
    make_topics(kafka_bootstrap, settings, PARTITIONS)
    pings, trips, _ = traffic(tmp_path / "in", seed=22, n_trips=60, n_partitions=PARTITIONS)
    want_ids = {a["alert_id"] for a in replay_alerts(pings, trips, tmp_path / "replay")}
    state = tmp_path / "state"  # shared by the group, as a shared volume would be
    a = WorkerProcess(kafka_bootstrap, settings, state, tmp_path / "a.log").start()
    b = WorkerProcess(kafka_bootstrap, settings, state, tmp_path / "b.log").start()
    try:
        a.wait_for_log("assigned partitions")
        b.wait_for_log("assigned partitions")

        def split():
            owned_a, owned_b = a.owned(), b.owned()
            return (
                (owned_a, owned_b)
                if owned_a and owned_b and owned_a | owned_b == set(range(PARTITIONS)) and not owned_a & owned_b
                else None
            )

        owned_a, owned_b = wait_until(split, 60, 0.5, "the two workers splitting the partitions")
        assert len(owned_a) == len(owned_b) == PARTITIONS // 2

        producer = produce(kafka_bootstrap, settings, pings, trips, rate=400, background=True)
        time.sleep(2.5)  # traffic is flowing into both
        assert a.metrics()["tripguard_pings_total"] > 0 and b.metrics()["tripguard_pings_total"] > 0
        a.kill()  # SIGKILL: no checkpoint, no goodbye to the group
        wait_until(lambda: b.owned() == set(range(PARTITIONS)), 60, 0.5, "the survivor owning every partition")
        assert producer.wait(120) == 0, producer.stderr.read().decode()
        _wait_for_alerts(kafka_bootstrap, settings.alerts_topic, want_ids, worker=b)
        time.sleep(3)
        got = alert_ids(kafka_bootstrap, settings.alerts_topic)
        assert set(got) == want_ids  # nothing lost, nothing invented (repeats of an id are allowed)
        assert b.proc.poll() is None
        b.wait_for_log(r"restored \d+ live trip\(s\)")  # the survivor took a's partitions over from their state
    finally:
        a.stop()
        b.stop()


def test_sigkill_at_five_random_moments(kafka_bootstrap, tmp_path):
    settings = unique_settings("kill")
    make_topics(kafka_bootstrap, settings, PARTITIONS)
    pings, trips, _ = traffic(tmp_path / "in", seed=23, n_trips=80, n_partitions=PARTITIONS)
    want_ids = {a["alert_id"] for a in replay_alerts(pings, trips, tmp_path / "replay")}
    n_pings = sum(1 for _ in pings.open())
    rng = random.Random(2323)
    state = tmp_path / "state"
    worker = WorkerProcess(kafka_bootstrap, settings, state, tmp_path / "worker.log").start()
    worker.wait_for_log("assigned partitions")
    producer = produce(
        kafka_bootstrap, settings, pings, trips, rate=n_pings / 120, background=True
    )  # ~2 min of traffic
    kills = 0
    try:
        for _ in range(5):
            time.sleep(rng.uniform(1.5, 6.0))
            assert producer.poll() is None, "traffic ended before the fifth kill: slow the producer down"
            worker.kill()
            kills += 1
            worker.stop()
            worker = WorkerProcess(kafka_bootstrap, settings, state, tmp_path / "worker.log").start()
            worker.wait_for_log("assigned partitions")
        assert producer.wait(180) == 0, producer.stderr.read().decode()
        _wait_for_alerts(kafka_bootstrap, settings.alerts_topic, want_ids, worker=worker)
        time.sleep(3)
        got = alert_ids(kafka_bootstrap, settings.alerts_topic)
        assert kills == 5
        assert set(got) == want_ids  # an uninterrupted run gives replay's set (test above)
        # the kills hit trips in flight: restarts resumed from snapshots holding live trips
        restored = [int(n) for n in re.findall(r"restored (\d+) live trip", (tmp_path / "worker.log").read_text())]
        assert len(restored) >= 5 * PARTITIONS and sum(restored) > 0
    finally:
        producer.kill()
        worker.stop()


def test_refuses_topics_with_different_partition_counts(kafka_bootstrap, tmp_path):
    settings = unique_settings("copart")
    make_topics(kafka_bootstrap, settings.model_copy(update={"trips_topic": settings.trips_topic + ".x"}), 3)
    make_topics(kafka_bootstrap, settings, 2)  # pings exists with 3; trips gets 2
    proc = cli(
        ["run", "--bootstrap", kafka_bootstrap, "--metrics-port", "0", "--state-dir", str(tmp_path)],
        env=settings_env(settings),
        check=False,
        timeout_s=60,
    )
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert f"{settings.pings_topic} has 3 partitions and {settings.trips_topic} has 2: they must be equal" in err


def test_a_worker_creates_its_missing_state_changelog(kafka_bootstrap, tmp_path):
    """Topics made before the changelog existed (an older `topics create`): the worker, without
    --create-topics, creates the changelog with the inputs' partition count, and runs."""
    import asyncio

    from tests.stream.test_broker import topic_config
    from tripguard.stream.changelog import CHANGELOG_CONFIGS
    from tripguard.stream.topics import partition_counts

    settings = unique_settings("newlog")
    make_topics(kafka_bootstrap, settings.model_copy(update={"changelog_topic": settings.changelog_topic + ".not"}), 3)
    worker = WorkerProcess(kafka_bootstrap, settings, tmp_path / "state", tmp_path / "worker.log").start()
    try:
        worker.wait_for_log(f"created the state changelog {re.escape(settings.changelog_topic)}")
        worker.wait_for_log(r"assigned partitions \[0, 1, 2\]")
        counts = asyncio.run(partition_counts(kafka_bootstrap, [settings.changelog_topic]))
        assert counts == {settings.changelog_topic: 3}
        assert asyncio.run(topic_config(kafka_bootstrap, settings.changelog_topic)) == CHANGELOG_CONFIGS
    finally:
        worker.stop()
