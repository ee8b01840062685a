"""Event-time alignment of one partition's two topics (pings-p and trips-p).

The worker reads the two topics independently, so after a restart it may hold pings far ahead of
the trip events (or the other way round). Released as they come, a trip_started would reach the
engine "late" in event time and the result would differ from replay. The aligner releases the
buffered records with the same two-way merge as `tripguard.inputs.merge_on_ts`: each topic keeps
its own order, the smaller head ts goes first, on equal ts the trip event first. A side whose
buffer is empty blocks the release unless it is caught up (nothing more to read right now).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

PINGS, TRIPS = "pings", "trips"


@dataclass(slots=True)
class Pending:
    """A decoded record waiting for its turn: `ts` orders it, `record` is the Kafka record (for the
    offsets, the DLQ and latency), `rows` the ping rows or `event` the trip event."""

    side: str
    ts: int
    offset: int
    record: Any
    rows: list | None = None
    event: Any = None


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

    def release(self, pings_caught_up: bool, trips_caught_up: bool) -> list[Pending]:
        pings, trips = self.buffers[PINGS], self.buffers[TRIPS]
        out: list[Pending] = []
        while True:
            if pings and trips:
                out.append(trips.popleft() if trips[0].ts <= pings[0].ts else pings.popleft())
            elif pings and trips_caught_up:
                out.extend(pings)
                pings.clear()
            elif trips and pings_caught_up:
                out.extend(trips)
                trips.clear()
            else:
                return out
