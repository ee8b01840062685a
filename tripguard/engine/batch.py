"""A micro-batch in arrival order, columnar: what `replay` and `run` hand to the Engine.

Every row is one ping or one trip event. Rows keep the order in which they arrived; that order
(and nothing about where the batch was cut) decides late pings and trip closing.

Trip and driver ids are codes into a `Names` table (the distinct ids, with their UTF-8 bytes for
compiled lookups), not a Python string per row: the columnar decoders (tripguard.io.columnar) make
one string per distinct id, and the engine looks a row's trip up by its code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import numpy as np

from tripguard.contract import PingRow, TripEnded, TripStarted
from tripguard.kernels.lifecycle import ROW_END, ROW_PING, ROW_START


class Names:
    """Distinct strings, each with a code (its index in `names`), and their UTF-8 bytes
    (`blob`, `offsets`: name c is blob[offsets[c]:offsets[c + 1]]) for compiled lookups."""

    __slots__ = ("names", "_index", "_blob", "_offsets")

    def __init__(self, names: list[str] | None = None):
        self.names: list[str] = list(names or ())
        self._index: dict[str, int] | None = None
        self._blob: np.ndarray | None = None
        self._offsets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.names)

    def code(self, name: str) -> int:
        index = self._index
        if index is None:
            index = self._index = {n: i for i, n in enumerate(self.names)}
        c = index.get(name)
        if c is None:
            c = index[name] = len(self.names)
            self.names.append(name)
            self._blob = None
        return c

    def codes(self, names: list[str]) -> np.ndarray:
        return np.fromiter(map(self.code, names), np.int64, count=len(names))

    def _build(self) -> None:
        n = len(self.names)
        blob = "".join(self.names).encode()
        # ids are nearly always ASCII: then a name's bytes are its characters, and one join and
        # one encode of the whole batch replace an encode per name
        lengths = (
            map(len, self.names) if len(blob) == sum(map(len, self.names)) else (len(x.encode()) for x in self.names)
        )
        self._offsets = np.zeros(n + 1, np.int64)
        np.cumsum(np.fromiter(lengths, np.int64, count=n), out=self._offsets[1:])
        self._blob = np.frombuffer(blob, np.uint8) if n else np.zeros(0, np.uint8)

    @property
    def blob(self) -> np.ndarray:
        if self._blob is None or cast(np.ndarray, self._offsets).size != len(self.names) + 1:
            self._build()
        return cast(np.ndarray, self._blob)

    @property
    def offsets(self) -> np.ndarray:
        if self._blob is None or cast(np.ndarray, self._offsets).size != len(self.names) + 1:
            self._build()
        return cast(np.ndarray, self._offsets)


@dataclass
class Batch:
    trip_code: np.ndarray  # int64 per row: index into trip_names
    trip_names: Names
    driver_code: np.ndarray  # int64 per row: index into driver_names
    driver_names: Names
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
        return len(self.trip_code)

    @property
    def n_pings(self) -> int:
        return int(np.count_nonzero(self.kind == ROW_PING))

    @property
    def trip_id(self) -> list[str]:
        """The trip id of every row (built on demand: the hot path uses the codes)."""
        names = self.trip_names.names
        return [names[c] for c in self.trip_code.tolist()]

    @property
    def driver_id(self) -> list[str]:
        names = self.driver_names.names
        return [names[c] for c in self.driver_code.tolist()]

    def trip_ids(self) -> list[str]:
        """The distinct trip ids of the batch's rows."""
        names = self.trip_names.names
        return [names[c] for c in np.unique(self.trip_code).tolist()]

    @classmethod
    def from_rows(
        cls,
        trip_id: list[str],
        driver_id: list[str],
        kind,
        ts,
        partition,
        lat,
        lon,
        accuracy_m,
        speed_mps,
        mock,
        events=None,
    ) -> Batch:
        """A batch from per-row Python lists or arrays (tests, benchmarks, BatchBuilder)."""
        trips, drivers = Names(), Names()
        return cls(
            trip_code=trips.codes(trip_id),
            trip_names=trips,
            driver_code=drivers.codes(driver_id),
            driver_names=drivers,
            kind=np.asarray(kind, np.int64),
            ts=np.asarray(ts, np.int64),
            partition=np.asarray(partition, np.int64),
            lat=np.asarray(lat, np.float64),
            lon=np.asarray(lon, np.float64),
            accuracy_m=np.asarray(accuracy_m, np.float64),
            speed_mps=np.asarray(speed_mps, np.float64),
            mock=np.asarray(mock, np.int8),
            events=dict(events or {}),
        )


class BatchBuilder:
    """Collects decoded messages in arrival order (the per-message path; the columnar decoders
    build their batches in tripguard.io.columnar)."""

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
        batch = Batch.from_rows(
            self._trip,
            self._driver,
            self._kind,
            self._ts,
            self._part,
            self._lat,
            self._lon,
            self._acc,
            self._speed,
            self._mock,
            self._events,
        )
        self.__init__()  # type: ignore[misc]
        return batch
