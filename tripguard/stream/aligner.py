"""Event-time alignment of one partition's two topics (pings-p and trips-p).

The worker reads the two topics independently, so after a restart it may hold pings far ahead of
the trip events (or the other way round). Released as they come, a trip_started would reach the
engine "late" in event time and the result would differ from replay. The aligner releases the
buffered records with the same two-way merge as `tripguard.io.inputs.merge_on_ts`: each topic keeps
its own order, the smaller head ts goes first, on equal ts the trip event first.

A side whose buffer is empty blocks the release unless it is caught up (nothing more to read)
*and* that was seen in a fetch answered after the other side's head record was read. A highwater
known from an older fetch could be stale: a live producer writes trip_started before the trip's
first ping, but the two topics are fetched independently, and releasing the ping on an old "trips
is caught up" would put it first. The caller passes, per side, the time (ms) of the fetch response
that showed it caught up, or None.

Pings are held a fetch at a time (a PingSpan: its messages as arrays), not a Python object per
message: a ping topic carries dozens of messages for every trip event, so the merge cuts spans
at the trip events (one compiled search per trip event) and hands the engine whole runs of pings.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from tripguard.kernels.merge import first_at_least

PINGS, TRIPS = "pings", "trips"


@dataclass(slots=True)
class Pending:
    """A decoded trip event waiting for its turn: `ts` orders it, `record` is the Kafka record
    (for the offsets, the DLQ and latency)."""

    ts: int
    offset: int
    record: Any
    event: Any = None
    read_at_ms: float = 0.0  # wall clock when the worker read it


@dataclass(slots=True)
class PingSpan:
    """Ping messages of one fetch in offset order, or a run of them: message k has its rows in
    the fetch's decoded columns (`cols`, a PingColumns) at message index msg[k], orders by ts[k]
    (its first ping's), and is the Kafka record records[k] at offsets[k]."""

    cols: Any
    msg: np.ndarray  # int64
    ts: np.ndarray  # int64
    offsets: np.ndarray  # int64
    records: list[Any]
    read_at_ms: float = 0.0  # wall clock when the worker read the fetch

    def __len__(self) -> int:
        return len(self.records)

    def cut(self, a: int, b: int) -> PingSpan:
        """Messages a .. b-1 (views of the arrays)."""
        return PingSpan(self.cols, self.msg[a:b], self.ts[a:b], self.offsets[a:b], self.records[a:b], self.read_at_ms)


class Aligner:
    def __init__(self) -> None:
        self.spans: deque[PingSpan] = deque()
        self.trips: deque[Pending] = deque()
        self._head = 0  # first message of spans[0] not yet released
        self._held_pings = 0

    def add(self, item: Pending | PingSpan) -> None:
        if isinstance(item, PingSpan):
            if len(item):
                self.spans.append(item)
                self._held_pings += len(item)
        else:
            self.trips.append(item)

    def __len__(self) -> int:
        return self._held_pings + len(self.trips)

    def held(self, side: str) -> int:
        return self._held_pings if side == PINGS else len(self.trips)

    def first_offset(self, side: str) -> int | None:
        """Offset of the first record of this side not yet given to the engine."""
        if side == PINGS:
            return int(self.spans[0].offsets[self._head]) if self.spans else None
        return self.trips[0].offset if self.trips else None

    def release(
        self, pings_caught_up_at_ms: float | None, trips_caught_up_at_ms: float | None
    ) -> list[Pending | PingSpan]:
        """Records in merge order, as far as it is known: trip events one by one, pings as runs.
        `*_caught_up_at_ms`: when a fetch response showed that side caught up (None: it is not);
        math.inf: caught up for good."""
        spans, trips = self.spans, self.trips
        out: list[Pending | PingSpan] = []
        while True:
            if spans and trips:
                # the pings before the trip event: up to the first with ts >= its ts
                run = first_at_least(spans[0].ts, self._head, trips[0].ts) - self._head
                out.append(self._take(run) if run else trips.popleft())
            elif spans and trips_caught_up_at_ms is not None and trips_caught_up_at_ms > spans[0].read_at_ms:
                out.append(self._take(len(spans[0]) - self._head))
            elif trips and pings_caught_up_at_ms is not None and pings_caught_up_at_ms > trips[0].read_at_ms:
                out.append(trips.popleft())
            else:
                return out

    def _take(self, n: int) -> PingSpan:
        """The next n held messages of the first span."""
        span, a = self.spans[0], self._head
        self._head += n
        self._held_pings -= n
        if self._head == len(span):
            self.spans.popleft()
            self._head = 0
            if a == 0:
                return span
        return span.cut(a, a + n)
