"""The event-time aligner (no broker): whatever way the two topics' records arrive, it releases
them in replay's merge order; and one engine per partition gives replay's alerts."""

from __future__ import annotations

import math

import numpy as np
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.stream.helpers import tick_messages
from tests.streams import make_stream
from tripguard.config.settings import Settings
from tripguard.engine.batch import BatchBuilder
from tripguard.engine.core import Engine
from tripguard.io.codec import pings_from_value, trip_event_from_obj
from tripguard.io.inputs import PINGS, TRIPS, Message, merge_on_ts
from tripguard.stream.aligner import Aligner, Pending, PingSpan


def _pending(ts_list: list[int]) -> list[Pending]:
    return [Pending(ts, offset, record=None) for offset, ts in enumerate(ts_list)]


def _span(pings: list[Pending], read_at_ms: float = 0.0) -> PingSpan:
    """Ping records of one fetch as the pipeline holds them: one span."""
    return PingSpan(
        None,
        np.arange(len(pings)),
        np.array([it.ts for it in pings], np.int64),
        np.array([it.offset for it in pings], np.int64),
        [it.record for it in pings],
        read_at_ms,
    )


def _released(items: list) -> list[tuple[str, int]]:
    """(side, offset) of every record released, a span's messages in their order."""
    return [
        pos
        for it in items
        for pos in ([(PINGS, o) for o in it.offsets.tolist()] if isinstance(it, PingSpan) else [(TRIPS, it.offset)])
    ]


def _merged(pings: list[Pending], trips: list[Pending]) -> list[tuple[str, int]]:
    as_msg = lambda items, source: (Message(source, it.offset, b"", None, None, it.ts) for it in items)  # noqa: E731
    return [(m.source, m.position) for m in merge_on_ts(as_msg(pings, PINGS), as_msg(trips, TRIPS))]


@settings(max_examples=300, deadline=None)
@given(
    ping_ts=st.lists(st.integers(0, 50), max_size=40),
    trip_ts=st.lists(st.integers(0, 50), max_size=15),
    arrivals=st.lists(st.tuples(st.booleans(), st.integers(1, 6)), max_size=60),
)
def test_release_order_is_replays_merge_however_records_arrive(ping_ts, trip_ts, arrivals):
    pings, trips = _pending(ping_ts), _pending(trip_ts)
    aligner = Aligner()
    fed = {PINGS: 0, TRIPS: 0}
    source = {PINGS: pings, TRIPS: trips}
    out: list = []

    def turn():
        # a side is caught up when everything it has was read (position == highwater)
        out.extend(
            aligner.release(
                math.inf if fed[PINGS] == len(pings) else None, math.inf if fed[TRIPS] == len(trips) else None
            )
        )
        # what is held, and where reading would resume, agree with what was released
        for side, items in source.items():
            gone = sum(1 for s, _ in _released(out) if s == side)
            assert aligner.held(side) == fed[side] - gone
            assert aligner.first_offset(side) == (items[gone].offset if fed[side] > gone else None)

    for from_pings, n in arrivals:  # fetches of random size from either topic, then a loop turn
        side = PINGS if from_pings else TRIPS
        fetched = source[side][fed[side] : fed[side] + n]
        if side == PINGS:
            aligner.add(_span(fetched))
        else:
            for it in fetched:
                aligner.add(it)
        fed[side] = min(len(source[side]), fed[side] + n)
        turn()
    aligner.add(_span(pings[fed[PINGS] :]))
    for it in trips[fed[TRIPS] :]:
        aligner.add(it)
    fed = {PINGS: len(pings), TRIPS: len(trips)}
    turn()
    assert len(aligner) == 0
    assert _released(out) == _merged(pings, trips)


def test_an_empty_side_that_is_behind_blocks_the_other():
    aligner = Aligner()
    aligner.add(_span([Pending(100, 0, None)], read_at_ms=1000.0))
    assert aligner.release(math.inf, None) == []  # trips not caught up
    assert aligner.release(math.inf, 900.0) == []  # caught up, but known from a fetch older than the ping
    assert aligner.first_offset(PINGS) == 0 and aligner.first_offset(TRIPS) is None
    assert [it.ts.tolist() for it in aligner.release(math.inf, 1001.0)] == [[100]]  # a fresh answer: nothing came


def _alerts(messages: list[dict]) -> set[str]:
    engine = Engine.from_settings(Settings(), clock=lambda: 0)
    alerts = []
    for m in messages:  # one message per batch: the engine is batch-invariant
        b = BatchBuilder()
        if m["source"] == PINGS:
            b.add_pings(pings_from_value(m["value"]))
        else:
            b.add_trip_event(trip_event_from_obj(m["value"]))
        alerts += engine.process(b.build()).alerts
    alerts += engine.flush().alerts
    return {a["alert_id"] for a in alerts}


def _merge_dicts(messages: list[dict]) -> list[dict]:
    def msg(source):
        return (
            Message(source, i, b"", m, None, m["value"]["ts"]) for i, m in enumerate(messages) if m["source"] == source
        )

    return [m.value for m in merge_on_ts(msg(PINGS), msg(TRIPS))]


def test_one_engine_per_partition_gives_replays_alerts():
    """Design decision 1: partition p of both topics is an independent stream. Each partition's
    own merge through its own engine yields the alerts of replay's single merged stream."""
    n = 4
    parts = list(range(n))
    for seed in (3, 17, 29):
        messages = make_stream(seed, 40)
        messages = messages + tick_messages(messages, n, str(seed))
        want = _alerts(_merge_dicts(messages))
        got: set[str] = set()
        for p in parts:
            mine = [m for m in messages if DefaultPartitioner()(m["value"]["trip_id"].encode(), parts, parts) == p]
            got |= _alerts(_merge_dicts(mine))
        assert want and got == want, seed
