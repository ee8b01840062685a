"""State follows its partition to any worker on any host, through the changelog topic; local state
the cluster does not back is never trusted; a poison message is dead-lettered and its partition
goes on. Real worker processes (each with a state dir of its own, as on separate hosts) against
real brokers; every alert-id set is compared with `tripguard replay` on the same traffic."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest

from tests.stream.helpers import (
    WorkerProcess,
    alert_ids,
    make_topics,
    produce,
    read_topic,
    replay_alerts,
    start_worker_with_traffic,
    tick_messages,
    unique_settings,
    wait_until,
    write_traffic,
)
from tests.streams import make_stream
from tripguard.stream.broker import EmbeddedBroker

pytestmark = pytest.mark.kafka

PARTITIONS = 4
# No early close on an input pause: between the two halves the input pauses on purpose, and
# replay (one file) has no such pause.
NO_PAUSE_CLOSE = ["--pause-close-s", "3600"]


def halves(directory: Path, seed: int, n_trips: int) -> tuple[tuple[Path, Path], tuple[Path, Path], tuple[Path, Path]]:
    """The traffic split by event time: every message of the first half is older than every
    message of the second, so producing one half after the other is the same stream for the
    worker's per-partition merge as replay's merge of the whole (written as the third pair)."""
    messages = make_stream(seed, n_trips)
    ts = sorted(m["value"]["ts"] for m in messages)
    cut = ts[len(ts) // 2]
    first = [m for m in messages if m["value"]["ts"] < cut]
    second = [m for m in messages if m["value"]["ts"] >= cut]
    second += tick_messages(messages, PARTITIONS, str(seed))
    return (
        write_traffic(directory / "first", first),
        write_traffic(directory / "second", second),
        write_traffic(directory / "whole", first + second),
    )


def pings_in(*files: Path) -> int:
    return sum(sum(1 for _ in f.open()) for f in files)


def live_trips(*workers: WorkerProcess) -> int:
    return int(sum(v for w in workers for k, v in w.metrics().items() if k.startswith("tripguard_trips_in_state")))


def pings_done(*workers: WorkerProcess) -> int:
    return int(sum(w.metrics()["tripguard_pings_total"] for w in workers))


def owned_once_each(workers: list[WorkerProcess]) -> bool:
    owned = [w.owned() for w in workers]
    return sum(len(o) for o in owned) == PARTITIONS and set().union(*owned) == set(range(PARTITIONS))


def restored_from_changelog(worker: WorkerProcess) -> int:
    return sum(int(n) for n in re.findall(r"restored (\d+) live trip\(s\) from the changelog", worker.log()))


def wait_for_alerts(bootstrap: str, topic: str, want: set[str], worker: WorkerProcess, timeout_s: float = 180):
    def complete():
        ids = alert_ids(bootstrap, topic)
        return ids if set(ids) >= want else None

    wait_until(complete, timeout_s, 1.0, f"the {len(want)} replay alerts on the alerts topic", worker=worker)
    time.sleep(3)  # anything extra would show now
    return set(alert_ids(bootstrap, topic))


def wait_for_split(a: WorkerProcess, b: WorkerProcess) -> None:
    wait_until(
        lambda: a.owned() and b.owned() and len(a.owned() | b.owned()) == PARTITIONS,
        60,
        0.5,
        "the two workers splitting the partitions",
        worker=b,
    )


def test_sigkill_with_live_trips_the_survivor_restores_them_from_the_changelog(kafka_bootstrap, tmp_path):
    settings = unique_settings("takeover")
    make_topics(kafka_bootstrap, settings, PARTITIONS)
    (p1, t1), (p2, t2), (pw, tw) = halves(tmp_path / "in", seed=61, n_trips=260)
    want = {a["alert_id"] for a in replay_alerts(pw, tw, tmp_path / "replay")}
    assert len(want) >= 20
    a = WorkerProcess(
        kafka_bootstrap, settings, tmp_path / "state-a", tmp_path / "a.log", extra_args=NO_PAUSE_CLOSE
    ).start()
    b = WorkerProcess(
        kafka_bootstrap, settings, tmp_path / "state-b", tmp_path / "b.log", extra_args=NO_PAUSE_CLOSE
    ).start()
    try:
        wait_for_split(a, b)
        own_b = b.owned()
        produce(kafka_bootstrap, settings, p1, t1)
        wait_until(lambda: pings_done(a, b) == pings_in(p1), 120, 0.5, "the first half processed", worker=a)
        live_a, live = live_trips(a), live_trips(a, b)
        assert live >= 100 and live_a > 0, (live_a, live)
        a.kill()  # SIGKILL while its trips are live: no checkpoint, no goodbye to the group
        wait_until(
            lambda: b.owned() == set(range(PARTITIONS)), 60, 0.5, "the survivor owning every partition", worker=b
        )
        produce(kafka_bootstrap, settings, p2, t2)
        got = wait_for_alerts(kafka_bootstrap, settings.alerts_topic, want, b)
        assert got == want  # nothing lost, nothing invented (repeats of an id are allowed)
        # b had no access to a's state dir: a's live trips (as of a's last checkpoint) came through
        # the changelog; its own partitions, handed back and forth in the rebalance, came from its
        # cache (which the changelog still backed)
        assert restored_from_changelog(b) > 0
        assert len(re.findall(r"restored \d+ live trip\(s\) from the cache", b.log())) == len(own_b)
    finally:
        a.stop()
        b.stop()


def test_a_third_worker_joining_mid_run_takes_partitions_with_their_live_trips(kafka_bootstrap, tmp_path):
    settings = unique_settings("join")
    make_topics(kafka_bootstrap, settings, PARTITIONS)
    (p1, t1), (p2, t2), (pw, tw) = halves(tmp_path / "in", seed=62, n_trips=260)
    want = {a["alert_id"] for a in replay_alerts(pw, tw, tmp_path / "replay")}
    workers = [
        WorkerProcess(
            kafka_bootstrap, settings, tmp_path / f"state-{n}", tmp_path / f"{n}.log", extra_args=NO_PAUSE_CLOSE
        )
        for n in "abc"
    ]
    a, b, c = workers
    try:
        a.start()
        b.start()
        wait_for_split(a, b)
        produce(kafka_bootstrap, settings, p1, t1)
        wait_until(lambda: pings_done(a, b) == pings_in(p1), 120, 0.5, "the first half processed", worker=a)
        assert live_trips(a, b) >= 100
        producer = produce(kafka_bootstrap, settings, p2, t2, rate=pings_in(p2) / 20, background=True)
        time.sleep(4)  # the second half is flowing
        c.start()  # a rebalance while trips are live and traffic flows
        wait_until(lambda: c.owned(), 90, 0.5, "the third worker owning a partition", worker=c)
        # c owning its share does not mean a and b have finished restoring theirs (a partition
        # being restored is not yet owned): wait for the group to settle, each partition owned once
        wait_until(lambda: owned_once_each(workers), 60, 0.5, "the three workers owning every partition once", worker=c)
        assert producer.wait(120) == 0, producer.stderr.read().decode()
        got = wait_for_alerts(kafka_bootstrap, settings.alerts_topic, want, c)
        assert got == want
        assert restored_from_changelog(c) > 0  # c started with an empty state dir
    finally:
        for w in workers:
            w.stop()


def test_a_state_dir_from_another_broker_session_is_not_trusted(tmp_path):
    """The same group, the same topic names, the same traffic; the state dir a worker left with
    the first broker (a clean SIGTERM: its cache holds live trips and offsets) must not make the
    worker skip anything on a fresh broker."""
    settings = unique_settings("stale")
    (p1, t1), _, (pw, tw) = halves(tmp_path / "in", seed=63, n_trips=120)
    want = {a["alert_id"] for a in replay_alerts(pw, tw, tmp_path / "replay")}
    state = tmp_path / "state"
    with EmbeddedBroker(log_path=tmp_path / "tansu-1.log") as first:
        make_topics(first.bootstrap, settings, PARTITIONS)
        w = WorkerProcess(first.bootstrap, settings, state, tmp_path / "w1.log", extra_args=NO_PAUSE_CLOSE).start()
        try:
            w.wait_for_log(r"assigned partitions \[0, 1, 2, 3\]")
            produce(first.bootstrap, settings, p1, t1)
            wait_until(lambda: pings_done(w) == pings_in(p1), 120, 0.5, "the first half processed", worker=w)
            assert live_trips(w) > 0
            assert w.terminate() == 0
        finally:
            w.stop()
    caches = sorted(state.rglob("*.state"))
    assert len(caches) == PARTITIONS  # the cache a clean stop leaves
    with EmbeddedBroker(log_path=tmp_path / "tansu-2.log") as second:
        make_topics(second.bootstrap, settings, PARTITIONS)
        w = WorkerProcess(second.bootstrap, settings, state, tmp_path / "w2.log", extra_args=NO_PAUSE_CLOSE).start()
        try:
            w.wait_for_log(r"assigned partitions \[0, 1, 2, 3\]")
            produce(second.bootstrap, settings, pw, tw)
            got = wait_for_alerts(second.bootstrap, settings.alerts_topic, want, w)
            assert got == want
            log = w.log()
            assert len(re.findall(r"local state cache \S+ set aside: it is for offsets", log)) == PARTITIONS
            assert "restored" not in log  # nothing restored: no state on this cluster
        finally:
            w.stop()


def test_a_poison_message_is_dead_lettered_after_retries_and_the_partition_goes_on(
    kafka_bootstrap, tmp_path, monkeypatch, run_async
):
    """A message that makes the engine raise (injected: an in-process worker whose engine fails on
    one trip) is retried --poison-attempts times, then dead-lettered with the exception's type and
    message; every other message of its partition is processed."""
    from tripguard.engine.core import Engine

    settings = unique_settings(
        "poisoned",
        state_dir=tmp_path / "state",
        metrics_port=0,
        checkpoint_interval_s=1,
        pause_close_s=3600,
        batch_max_ms=100,
        poison_attempts=3,
        engine_retry_s=0.2,
    )
    make_topics(kafka_bootstrap, settings, PARTITIONS)
    messages = make_stream(64, 40)
    messages = messages + tick_messages(messages, PARTITIONS, "64")
    pings, trips = write_traffic(tmp_path / "clean", messages)
    want = {a["alert_id"] for a in replay_alerts(pings, trips, tmp_path / "replay")}
    poison = {
        "trip_id": "poison-1",
        "driver_id": "d",
        "ts": messages[len(messages) // 2]["value"]["ts"],
        "lat": 41.15,
        "lon": -8.61,
    }
    with_poison = (
        messages[: len(messages) // 2] + [{"source": "pings", "value": poison}] + messages[len(messages) // 2 :]
    )
    pings, trips = write_traffic(tmp_path / "in", with_poison)
    real = Engine.process
    raised = {"n": 0}

    def process(self, batch, now_ms=None):
        if "poison-1" in batch.trip_id:
            raised["n"] += 1
            raise RuntimeError("the engine cannot digest poison-1")
        return real(self, batch, now_ms)

    monkeypatch.setattr(Engine, "process", process)

    async def scenario():
        worker, task = await start_worker_with_traffic(kafka_bootstrap, settings, pings, trips)
        deadline = time.monotonic() + 180
        got: set[str] = set()
        while time.monotonic() < deadline:
            got = set(await asyncio.to_thread(alert_ids, kafka_bootstrap, settings.alerts_topic))
            dlq = await asyncio.to_thread(read_topic, kafka_bootstrap, settings.dlq_topic, 0.5)
            if got >= want and dlq:
                break
            await asyncio.sleep(1)
        await asyncio.sleep(2)
        assert not task.done()  # nothing stopped the worker
        worker.stopping.set()
        assert await task == 0
        return got, worker.metrics

    got, metrics = run_async(scenario(), timeout_s=300)
    assert got == want  # every other message of the partition was processed
    dlq = read_topic(kafka_bootstrap, settings.dlq_topic)
    assert len({(r.partition, r.offset) for r in dlq}) >= 1
    letters = {json.loads(r.value)["trip_id"]: dict(r.headers) for r in dlq}
    assert set(letters) == {"poison-1"}
    assert letters["poison-1"]["error"].decode() == (
        "engine: RuntimeError: the engine cannot digest poison-1 (raised on this message 3 times)"
    )
    # in its batch once (unless it came alone), then alone three times
    assert raised["n"] in (3, 4) and metrics.batch_errors._value.get() == raised["n"]
