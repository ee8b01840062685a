"""A checkpoint restores exactly: snapshot mid-stream, restore into a fresh engine, carry on --
the output equals an uninterrupted run's."""

from tests.streams import build_batches, comparable, make_stream
from tripguard.engine import drop_partitions, restore_engine, snapshot_engine
from tripguard.replay import make_engine


def outputs(engine, batches):
    alerts, verdicts = [], []
    for b in batches:
        out = engine.process(b)
        alerts += out.alerts
        verdicts += out.verdicts
    return alerts, verdicts


def test_snapshot_restore_continues_exactly():
    messages = make_stream(11, n_trips=20)
    batches = build_batches(messages, list(range(50, len(messages), 97)))
    whole = make_engine(clock=lambda: 0)
    a, v = outputs(whole, batches)
    out = whole.flush()
    want = comparable(a + out.alerts, v + out.verdicts)

    for cut in (1, len(batches) // 2, len(batches) - 1):
        first = make_engine(clock=lambda: 0)
        a1, v1 = outputs(first, batches[:cut])
        blob = snapshot_engine(first, {0})
        live = first.live_trips
        assert drop_partitions(first, {0}) == live and first.live_trips == 0
        second = make_engine(clock=lambda: 0)
        restore_engine(second, blob)
        a2, v2 = outputs(second, batches[cut:])
        out = second.flush()
        assert comparable(a1 + a2 + out.alerts, v1 + v2 + out.verdicts) == want


def test_partitions_are_separate():
    messages = make_stream(12, n_trips=10)
    batch = build_batches(messages[: len(messages) // 2], [])[0]
    batch.partition[:] = [hash(t) % 2 for t in batch.trip_id]
    engine = make_engine(clock=lambda: 0)
    engine.process(batch)
    live = {engine.trips.meta[s].trip_id: engine.trips.meta[s].partition for s in engine.trips.live_slots()}
    blob = snapshot_engine(engine, {1})
    dropped = drop_partitions(engine, {1})
    assert dropped == sum(1 for p in live.values() if p == 1) > 0
    assert {engine.trips.meta[s].trip_id for s in engine.trips.live_slots()} == {t for t, p in live.items() if p == 0}
    other = make_engine(clock=lambda: 0)
    restore_engine(other, blob)
    assert {other.trips.meta[s].trip_id for s in other.trips.live_slots()} == {t for t, p in live.items() if p == 1}
