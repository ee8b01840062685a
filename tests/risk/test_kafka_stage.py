"""The driver-risk stage on the real broker (`tripguard risk` as a process): verdicts and decisions
produced to their topics (keyed by trip_id, four partitions) come out of tripguard.driver-risk as
exactly the events replay wrote for the same run (by event_id); bad input goes to the dead-letter
topic with a reason; a SIGKILL mid-run loses no event."""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests.risk.helpers import MIN, decision, verdict
from tests.stream.helpers import WorkerProcess, make_topics, read_topic, trip_id_for_partition, wait_until
from tripguard.config.settings import Settings
from tripguard.risk.offline import lateness_ms
from tripguard.stream.changelog import MARKER_KEY

pytestmark = pytest.mark.kafka
PARTITIONS = 4


def risk_settings() -> Settings:
    tag = f"risk.{uuid.uuid4().hex[:6]}"
    return Settings(
        verdicts_topic=f"{tag}.verdicts",
        decisions_topic=f"{tag}.decisions",
        dlq_topic=f"{tag}.dlq",
        by_driver_topic=f"{tag}.by-driver",
        driver_risk_topic=f"{tag}.driver-risk",
        risk_changelog_topic=f"{tag}.risk-changelog",
        risk_group=f"{tag}.group",
        pings_topic=f"{tag}.pings",
        trips_topic=f"{tag}.trips",
        alerts_topic=f"{tag}.alerts",
        changelog_topic=f"{tag}.state-changelog",
        group=f"{tag}.trip-group",
    )


def env_of(s: Settings) -> dict[str, str]:
    names = (
        "verdicts_topic",
        "decisions_topic",
        "dlq_topic",
        "by_driver_topic",
        "driver_risk_topic",
        "risk_changelog_topic",
        "risk_group",
        "pings_topic",
        "trips_topic",
        "alerts_topic",
        "changelog_topic",
        "group",
    )
    return {f"TRIPGUARD_{n.upper()}": getattr(s, n) for n in names}


def lines(path) -> list[bytes]:
    return [x for x in path.read_bytes().splitlines() if x.strip()]


def clock_verdicts(last_ts: int) -> list[bytes]:
    """One verdict per upstream partition far after the run (a trip of a driver of its own): it moves
    every partition's watermark past everything, as continuing traffic would."""
    ts = last_ts + lateness_ms(1_800_000, 120_000) + 60 * MIN
    return [
        orjson.dumps(verdict(trip_id_for_partition(p, PARTITIONS, "clock"), "clock", ts - 20 * MIN, ts + p))
        for p in range(PARTITIONS)
    ]


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    async def go():
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            futures = []
            for v in values:
                try:
                    key = orjson.loads(v)["trip_id"].encode()
                except Exception:
                    key = b"malformed"
                futures.append(await producer.send(topic, v, key=key))
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(go())


def start(bootstrap, s: Settings, tmp_path, name: str) -> WorkerProcess:
    return WorkerProcess(
        bootstrap,
        s,
        tmp_path / name,
        tmp_path / f"{name}.log",
        env=env_of(s),
        command=["risk", "--bootstrap", bootstrap, "--checkpoint-interval-s", "0.5", "--batch-max-ms", "100"],
    ).start()


def events(bootstrap: str, s: Settings) -> list[dict]:
    return [json.loads(r.value) for r in read_topic(bootstrap, s.driver_risk_topic, timeout_s=0.5)]


def inputs(fleet_run):
    verdicts = lines(fleet_run / "out" / "verdicts.jsonl")
    decisions = lines(fleet_run / "decisions.jsonl")
    last = max([orjson.loads(v)["ts"] for v in verdicts] + [orjson.loads(d)["decided_at"] for d in decisions])
    return verdicts + clock_verdicts(last), decisions


def want(fleet_run) -> dict[str, dict]:
    return {e["event_id"]: e for e in map(orjson.loads, lines(fleet_run / "out" / "driver_risk.jsonl"))}


def test_streamed_events_are_replays_and_bad_input_is_dead_lettered(kafka_bootstrap, fleet_run, tmp_path):
    s = risk_settings()
    make_topics(kafka_bootstrap, s, PARTITIONS)
    verdicts, decisions = inputs(fleet_run)
    some = orjson.loads(verdicts[0])
    bad_decisions = [
        orjson.dumps({**decision(some, "upheld", some["ts"] + MIN, 901), "driver_id": "nobody"}),
        orjson.dumps({**decision(some, "upheld", some["ts"] + MIN, 902), "alert_ids": ["f" * 32]}),
        b"{not json",
    ]
    produce(kafka_bootstrap, s.decisions_topic, decisions + bad_decisions)
    produce(
        kafka_bootstrap,
        s.verdicts_topic,
        verdicts[: len(verdicts) // 2] + [b'{"trip_id": "x"}'] + verdicts[len(verdicts) // 2 :],
    )
    w = start(kafka_bootstrap, s, tmp_path, "risk")
    try:
        expected = want(fleet_run)
        got = wait_until(
            lambda: (lambda e: e if {x["event_id"] for x in e} >= set(expected) else None)(events(kafka_bootstrap, s)),
            90,
            what="every replay event on the driver-risk topic",
            worker=w,
        )
        assert {e["event_id"]: e for e in got} == expected
        dlq = wait_until(
            lambda: (lambda r: r if len(r) >= 4 else None)(read_topic(kafka_bootstrap, s.dlq_topic, 0.5)),
            30,
            what="four dead letters",
            worker=w,
        )
        reasons = sorted(dict(r.headers)["error"].decode() for r in dlq)
        assert len(reasons) == 4
        assert any("unknown driver 'nobody'" in r for r in reasons)
        assert any(r.startswith("alert_ids: 1 alert(s)") for r in reasons)
        assert (
            sum(r.startswith("decision: ") for r in reasons) == 1
            and sum(r.startswith("verdict: ") for r in reasons) == 1
        )
        assert w.proc.poll() is None  # nothing crashed
    finally:
        w.stop()


def test_a_kill_mid_run_loses_no_event(kafka_bootstrap, fleet_run, tmp_path):
    s = risk_settings()
    make_topics(kafka_bootstrap, s, PARTITIONS)
    verdicts, decisions = inputs(fleet_run)
    expected = want(fleet_run)
    produce(kafka_bootstrap, s.decisions_topic, decisions)
    produce(kafka_bootstrap, s.verdicts_topic, verdicts[: len(verdicts) // 2])
    first = start(kafka_bootstrap, s, tmp_path, "first")
    try:
        wait_until(lambda: len(events(kafka_bootstrap, s)) >= 2, 60, what="a first event", worker=first)
        # a checkpoint marker in the risk changelog: the restart restores state, not only offsets
        wait_until(
            lambda: any(r.key == MARKER_KEY for r in read_topic(kafka_bootstrap, s.risk_changelog_topic, 0.5)),
            30,
            what="a risk checkpoint",
            worker=first,
        )
        first.kill()
    finally:
        first.stop()
    before = {e["event_id"] for e in events(kafka_bootstrap, s)}
    produce(kafka_bootstrap, s.verdicts_topic, verdicts[len(verdicts) // 2 :])
    second = start(kafka_bootstrap, s, tmp_path, "second")
    try:
        got = wait_until(
            lambda: (lambda e: e if {x["event_id"] for x in e} >= set(expected) else None)(events(kafka_bootstrap, s)),
            90,
            what="every replay event after the restart",
            worker=second,
        )
        assert {e["event_id"]: e for e in got} == expected  # none lost, none made up (repeats share ids)
        assert 0 < len(before) < len(expected)
        assert re.search(r"restored [1-9]\d* driver", second.log()), second.log()[-3000:]
    finally:
        second.stop()
