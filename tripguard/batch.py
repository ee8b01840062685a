"""A micro-batch in arrival order, columnar: what `replay` and `run` hand to the Engine.

Every row is one ping or one trip event. Rows keep the order in which they arrived; that order
(and nothing about where the batch was cut) decides late pings and trip closing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tripguard.codec import PingRow
from tripguard.contract import TripEnded, TripStarted
from tripguard.kernels.lifecycle import ROW_END, ROW_PING, ROW_START


@dataclass
class Batch:
    trip_id: list[str]
    driver_id: list[str]
    kind: np.ndarray  # int64, ROW_PING / ROW_START / ROW_END
    ts: np.ndarray  # int64 ms
    partition: np.ndarray  # int64 (Kafka partition; 0 offline)
    lat: np.ndarray  # float64; NaN on event rows
    lon: np.ndarray
    accuracy_m: np.ndarray  # NaN = not reported
    speed_mps: np.ndarray
    mock: np.ndarray  # int8: -1 not reported, 0, 1
    events: dict[int, TripStarted | TripEnded] = field(default_factory=dict)  # row -> event

    def __len__(self) -> int:
        return len(self.trip_id)

    @property
    def n_pings(self) -> int:
        return int(np.count_nonzero(self.kind == ROW_PING))


class BatchBuilder:
    """Collects decoded messages in arrival order."""

    def __init__(self) -> None:
        self._trip: list[str] = []
        self._driver: list[str] = []
        self._kind: list[int] = []
        self._ts: list[int] = []
        self._part: list[int] = []
        self._lat: list[float] = []
        self._lon: list[float] = []
        self._acc: list[float] = []
        self._speed: list[float] = []
        self._mock: list[int] = []
        self._events: dict[int, TripStarted | TripEnded] = {}

    def __len__(self) -> int:
        return len(self._trip)

    def add_pings(self, rows: list[PingRow], partition: int = 0) -> None:
        for r in rows:
            self._trip.append(r.trip_id)
            self._driver.append(r.driver_id)
            self._ts.append(r.ts)
            self._lat.append(r.lat)
            self._lon.append(r.lon)
            self._acc.append(r.accuracy_m)
            self._speed.append(r.speed_mps)
            self._mock.append(r.mock)
        n = len(rows)
        self._kind.extend([ROW_PING] * n)
        self._part.extend([partition] * n)

    def add_trip_event(self, event: TripStarted | TripEnded, partition: int = 0) -> None:
        self._events[len(self._trip)] = event
        self._trip.append(event.trip_id)
        self._driver.append(event.driver_id)
        self._kind.append(ROW_START if event.type == "trip_started" else ROW_END)
        self._ts.append(event.ts)
        self._part.append(partition)
        self._lat.append(np.nan)
        self._lon.append(np.nan)
        self._acc.append(np.nan)
        self._speed.append(np.nan)
        self._mock.append(-1)

    def build(self) -> Batch:
        batch = Batch(
            trip_id=self._trip,
            driver_id=self._driver,
            kind=np.array(self._kind, dtype=np.int64),
            ts=np.array(self._ts, dtype=np.int64),
            partition=np.array(self._part, dtype=np.int64),
            lat=np.array(self._lat, dtype=np.float64),
            lon=np.array(self._lon, dtype=np.float64),
            accuracy_m=np.array(self._acc, dtype=np.float64),
            speed_mps=np.array(self._speed, dtype=np.float64),
            mock=np.array(self._mock, dtype=np.int8),
            events=self._events,
        )
        self.__init__()
        return batch
