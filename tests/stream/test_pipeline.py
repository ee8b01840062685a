"""PartitionPipeline with fake Kafka records and no broker: one partition's records in, replay's
alerts out; bad records dead-lettered at once; a record that makes the engine raise isolated,
retried a bounded number of times and dead-lettered while the rest of the partition goes on;
checkpoints that restore into a fresh pipeline and carry on exactly."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest

from tests.stream.helpers import tick_messages
from tests.streams import make_stream
from tripguard.config.settings import Settings
from tripguard.engine.core import Engine
from tripguard.engine.tripstate import TripRecords
from tripguard.stream.aligner import PINGS, TRIPS
from tripguard.stream.pipeline import EngineFailed, PartitionPipeline, Quarantine

TOPICS = {PINGS: "t.pings", TRIPS: "t.trips"}
CAUGHT_UP = {PINGS: math.inf, TRIPS: math.inf}


@dataclass
class FakeRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int = 0


def records_of(messages: list[dict], extra: dict[int, FakeRecord] | None = None) -> dict[str, list[FakeRecord]]:
    """One partition's two topics as Kafka would hold them (offsets per topic, in order)."""
    out = {PINGS: [], TRIPS: []}
    for m in messages:
        side = PINGS if m["source"] == "pings" else TRIPS
        v = m["value"]
        out[side].append(
            FakeRecord(
                TOPICS[side], 0, len(out[side]), v["trip_id"].encode(), json.dumps(v).encode(), timestamp=v["ts"]
            )
        )
    return out


def add_raw(
    recs: dict[str, list[FakeRecord]], side: str, at: int, key: bytes | None, value: bytes | None
) -> FakeRecord:
    """Insert a raw record at position `at` of a topic (offsets renumbered)."""
    r = FakeRecord(TOPICS[side], 0, 0, key, value)
    recs[side].insert(at, r)
    for i, x in enumerate(recs[side]):
        x.offset = i
    return r


def replay_alerts(messages: list[dict]) -> set[str]:
    from tests.stream.test_aligner import _alerts, _merge_dicts

    return _alerts(_merge_dicts(messages))


class Driver:
    """What the worker does for one partition, without Kafka: fetches of `fetch` records per topic
    (each one ingest_many call),
    a checkpoint every `every` turns (state records folded into a dict, as the changelog holds
    them), and on EngineFailed a rebuild from the last checkpoint with the same quarantine."""

    def __init__(self, recs: dict[str, list[FakeRecord]], fetch: int = 7, every: int = 5, max_attempts: int = 3):
        self.recs, self.fetch, self.every = recs, fetch, every
        self.quarantine = Quarantine(max_attempts)
        self.changelog: dict[bytes, bytes] = {}
        self.checkpoint = {PINGS: 0, TRIPS: 0}
        self.alerts: list[dict] = []
        self.dead: list = []
        self.rebuilds = 0
        self.pipe = self._build()

    def _build(self) -> PartitionPipeline:
        engine = Engine.from_settings(Settings(), clock=lambda: 0)
        records = TripRecords(engine)
        records.load(self.changelog)
        return PartitionPipeline(0, engine, TOPICS, dict(self.checkpoint), records, self.quarantine, pause_close_s=1e9)

    def run(self, max_turns: int = 100_000) -> None:
        pos = dict(self.checkpoint)
        turn = 0
        while turn < max_turns:
            turn += 1
            for side in (PINGS, TRIPS):
                self.dead += self.pipe.ingest_many(self.recs[side][pos[side] : pos[side] + self.fetch], now=0.0)
                pos[side] = min(len(self.recs[side]), pos[side] + self.fetch)
            caught = {side: math.inf if pos[side] == len(self.recs[side]) else None for side in (PINGS, TRIPS)}
            try:
                out = self.pipe.advance(caught, now=0.0)
            except EngineFailed:
                self.rebuilds += 1
                self.pipe = self._build()
                pos = dict(self.checkpoint)
                continue
            self.alerts += [a for a, _ in out.alerts]
            self.dead += out.dead_letters
            if turn % self.every == 0:
                self.take_checkpoint()
            if all(pos[s] == len(self.recs[s]) for s in pos) and not len(self.pipe.aligner):
                self.take_checkpoint()
                return
        raise AssertionError("the partition never got through its input")

    def take_checkpoint(self) -> None:
        offsets = self.pipe.resume_offsets()
        for key, value in self.pipe.changed_state():
            if value is None:
                self.changelog.pop(key, None)
            else:
                self.changelog[key] = value
        self.pipe.state_saved(offsets)
        self.checkpoint = {side: offsets[TOPICS[side]] for side in (PINGS, TRIPS)}


def _stream(seed: int, n_trips: int) -> list[dict]:
    messages = make_stream(seed, n_trips)
    return messages + tick_messages(messages, 1, str(seed))


def test_a_partition_through_the_pipeline_gives_replays_alerts():
    messages = _stream(5, 30)
    want = replay_alerts(messages)
    for fetch in (1, 7, 500):
        d = Driver(records_of(messages), fetch=fetch, every=3)
        d.run()
        assert d.rebuilds == 0 and not d.dead
        assert {a["alert_id"] for a in d.alerts} == want and want, fetch


@pytest.mark.parametrize("whole_fetch", [False, True])
def test_alerts_name_the_record_that_revealed_them(whole_fetch):
    messages = _stream(6, 20)
    pipe = PartitionPipeline(0, Engine.from_settings(Settings(), clock=lambda: 0), TOPICS, {PINGS: 0, TRIPS: 0})
    recs = records_of(messages)
    for side in (PINGS, TRIPS):
        if whole_fetch:
            pipe.ingest_many(recs[side], now=0.0)
        else:
            for r in recs[side]:
                pipe.ingest(r, now=0.0)
    out = pipe.advance(CAUGHT_UP, now=0.0)
    revealed = [(a, r) for a, r in out.alerts if r is not None]
    assert revealed and all(json.loads(r.value)["trip_id"] == a["trip_id"] for a, r in revealed)
    teleports = [(a, r) for a, r in revealed if a["kind"] == "teleport"]
    assert teleports and all(json.loads(r.value)["ts"] == a["ts"] for a, r in teleports)


def test_an_alert_names_the_record_at_its_ts_else_its_trips_latest():
    from tripguard.stream.pipeline import _build_batch, _ping_span, _revealed_by

    def ping(offset: int, ts: int, timestamp: int) -> FakeRecord:
        value = {"trip_id": "a", "driver_id": "d", "ts": ts, "lat": 41.15, "lon": -8.61, "accuracy_m": 5.0}
        return FakeRecord(TOPICS[PINGS], 0, offset, b"a", json.dumps(value).encode(), timestamp)

    recs = [ping(0, 1000, 50), ping(1, 2000, 90), ping(2, 3000, 70)]
    dead: list = []
    span = _ping_span(recs, 0.0, dead)
    assert not dead and span.offsets.tolist() == [0, 1, 2]
    batch, owner, records = _build_batch([span.cut(0, 1), span.cut(1, 3)], 0)
    assert batch.ts.tolist() == [1000, 2000, 3000] and records == recs
    alerts = [{"trip_id": "a", "ts": 3000}, {"trip_id": "a", "ts": 5000}]  # the second at no record's ts
    assert _revealed_by(alerts, batch, owner, records) == [recs[2], recs[1]]  # recs[1]: the latest record


def test_bad_records_are_dead_letters_and_the_rest_is_processed():
    messages = _stream(7, 20)
    recs = records_of(messages)
    bad = [
        add_raw(recs, PINGS, 10, b"x", b"not json"),
        add_raw(recs, PINGS, 30, b"someone-else", recs[PINGS][40].value),  # key is not its trip_id
        add_raw(recs, TRIPS, 3, b"y", json.dumps({"type": "trip_paused", "trip_id": "y"}).encode()),
        add_raw(recs, PINGS, 50, b"z", None),
    ]
    d = Driver(recs)
    d.run()
    reasons = {(x.record.topic, x.record.offset): x.reason for x in d.dead}
    assert set(reasons) == {(b.topic, b.offset) for b in bad}
    assert reasons[(TOPICS[PINGS], bad[1].offset)].startswith("key: must be the message's trip_id")
    assert reasons[(TOPICS[PINGS], bad[3].offset)] == "empty message (null value)"
    assert {a["alert_id"] for a in d.alerts} == replay_alerts(messages)


def test_a_poison_record_is_retried_then_dead_lettered_and_the_partition_moves_on(monkeypatch):
    messages = _stream(8, 30)
    recs = records_of(messages)
    poison_trip = "poison-trip"
    poison = add_raw(
        recs,
        PINGS,
        len(recs[PINGS]) // 3,
        poison_trip.encode(),
        json.dumps(
            {"trip_id": poison_trip, "driver_id": "d", "ts": messages[200]["value"]["ts"], "lat": 41.15, "lon": -8.61}
        ).encode(),
    )
    real = Engine.process
    raised = {"n": 0}

    def process(self, batch, now_ms=None):
        if poison_trip in batch.trip_id:
            raised["n"] += 1
            raise RuntimeError("cannot digest this trip")
        return real(self, batch, now_ms)

    monkeypatch.setattr(Engine, "process", process)
    d = Driver(recs, fetch=9, every=4, max_attempts=3)
    d.run()
    assert raised["n"] == 1 + 3  # the batch it was in, then three times alone
    assert d.rebuilds == 4
    assert [(x.record.offset, x.reason) for x in d.dead] == [
        (poison.offset, "engine: RuntimeError: cannot digest this trip (raised on this message 3 times)")
    ]
    assert {a["alert_id"] for a in d.alerts} == replay_alerts(messages)  # every other record processed
    assert not d.quarantine.suspects and not d.quarantine.poison  # forgotten once checkpointed past


def test_a_fault_that_goes_away_dead_letters_nothing(monkeypatch):
    messages = _stream(9, 20)
    real = Engine.process
    calls = {"failed": 0}

    def flaky(self, batch, now_ms=None):
        if not calls["failed"] and len(batch) > 50:
            calls["failed"] += 1
            raise MemoryError("transient")
        return real(self, batch, now_ms)

    monkeypatch.setattr(Engine, "process", flaky)
    d = Driver(records_of(messages), fetch=100)
    d.run()
    assert calls["failed"] == 1 and d.rebuilds == 1 and not d.dead
    assert {a["alert_id"] for a in d.alerts} == replay_alerts(messages)


def test_resume_offsets_are_the_first_records_not_given_to_the_engine():
    messages = _stream(10, 10)
    recs = records_of(messages)
    pipe = PartitionPipeline(0, Engine.from_settings(Settings(), clock=lambda: 0), TOPICS, {PINGS: 0, TRIPS: 0})
    for r in recs[PINGS][:20]:
        pipe.ingest(r, now=0.0)
    assert pipe.resume_offsets() == {TOPICS[PINGS]: 0, TOPICS[TRIPS]: 0}  # trips not caught up: all held
    assert pipe.advance({PINGS: None, TRIPS: None}, now=0.0).pings == 0
    for r in recs[TRIPS]:
        pipe.ingest(r, now=0.0)
    out = pipe.advance({PINGS: None, TRIPS: math.inf}, now=0.0)  # trip events after the 20th ping wait
    held = pipe.aligner.first_offset(TRIPS)
    assert out.pings == 20 and held is not None and pipe.aligner.first_offset(PINGS) is None
    assert pipe.resume_offsets() == {TOPICS[PINGS]: 20, TOPICS[TRIPS]: held}
    assert pipe.needs_checkpoint()
    pipe.changed_state()
    pipe.state_saved(pipe.resume_offsets())
    assert not pipe.needs_checkpoint()
    assert pipe.rewind() == {PINGS: 20, TRIPS: held} and not len(pipe.aligner)


@pytest.mark.parametrize("pause_close_s", [5.0])
def test_an_input_pause_closes_ended_trips_once(pause_close_s):
    messages = make_stream(11, 12)  # no ticks: ended trips wait for their end grace
    recs = records_of(messages)
    pipe = PartitionPipeline(
        0, Engine.from_settings(Settings(), clock=lambda: 0), TOPICS, {PINGS: 0, TRIPS: 0}, pause_close_s=pause_close_s
    )
    for side in (PINGS, TRIPS):
        for r in recs[side]:
            pipe.ingest(r, now=100.0)
    first = pipe.advance(CAUGHT_UP, now=100.0)
    written = dict(pipe.changed_state())
    pipe.state_saved(pipe.resume_offsets())
    assert first.pings and pipe.advance(CAUGHT_UP, now=101.0).pause_closed == 0
    closed = pipe.advance(CAUGHT_UP, now=100.0 + pause_close_s)
    assert closed.pause_closed == len(closed.verdicts) > 0
    assert pipe.advance(CAUGHT_UP, now=200.0).pause_closed == 0  # once per pause
    keys = dict(pipe.changed_state())  # the closed trips' records are deleted from the changelog
    for v in closed.verdicts:
        key = b"trip/" + v["trip_id"].encode()
        assert key in written and key in keys and keys[key] is None
