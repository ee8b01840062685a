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
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

PINGS, TRIPS = "pings", "trips"


@dataclass(slots=True)
class Pending:
    """A decoded record waiting for its turn: `ts` orders it, `record` is the Kafka record (for the
    offsets, the DLQ and latency), `pings` its ping rows (its fetch's decoded PingColumns, first
    row, row count) or `event` the trip event."""

    side: str
    ts: int
    offset: int
    record: Any
    pings: tuple[Any, ...] | None = None
    event: Any = None
    read_at_ms: float = 0.0  # wall clock when the worker read it


class Aligner:
    def __init__(self) -> None:
        self.buffers: dict[str, deque[Pending]] = {PINGS: deque(), TRIPS: deque()}

    def add(self, item: Pending) -> None:
        self.buffers[item.side].append(item)

    def __len__(self) -> int:
        return len(self.buffers[PINGS]) + len(self.buffers[TRIPS])

    def held(self, side: str) -> int:
        return len(self.buffers[side])

    def first_offset(self, side: str) -> int | None:
        """Offset of the first record of this side not yet given to the engine."""
        buf = self.buffers[side]
        return buf[0].offset if buf else None

    def release(self, pings_caught_up_at_ms: float | None, trips_caught_up_at_ms: float | None) -> list[Pending]:
        """Records in merge order, as far as it is known. `*_caught_up_at_ms`: when a fetch
        response showed that side caught up (None: it is not); math.inf: caught up for good."""
        pings, trips = self.buffers[PINGS], self.buffers[TRIPS]
        out: list[Pending] = []
        while True:
            if pings and trips:
                out.append(trips.popleft() if trips[0].ts <= pings[0].ts else pings.popleft())
            elif pings and trips_caught_up_at_ms is not None and trips_caught_up_at_ms > pings[0].read_at_ms:
                out.append(pings.popleft())
            elif trips and pings_caught_up_at_ms is not None and pings_caught_up_at_ms > trips[0].read_at_ms:
                out.append(trips.popleft())
            else:
                return out
