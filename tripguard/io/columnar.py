"""Columnar decoding of many ping messages at once: a JSONL file's lines (replay) or a fetch's
values (the worker), into column arrays.

The compiled decoder (tripguard/kernels/jsonpings.py) accepts the messages it can decide exactly
as the per-message path does and defers the others; those go through the per-message path
(`slow`: tripguard.io.codec's rules), which accepts them or names the broken rule. Valid messages'
pings end up in the same columns either way. tests/test_columnar_decode.py holds the two paths
to the same rows and the same dead letters.

Why a compiled decoder and not a library (benchmarks/bench_decode.py, one run, same file): orjson
per line plus the contract's checks in Python costs ~1.5 us a ping; msgspec Structs validate
types and ranges in C but still make one Python object per ping, and the columns need a Python
pass over them; polars' and pyarrow's NDJSON readers are fast but coerce types ("ts": 1.0 or a
bool lat pass or fail the whole file) and cannot read a file whose lines are objects and arrays
of objects, so they would need the contract re-checked afterwards and a fallback per bad line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from tripguard.contract import PingRow
from tripguard.engine.batch import Names
from tripguard.errors import ContractError
from tripguard.kernels import jsonpings

COLUMNS = ("ts", "lat", "lon", "accuracy_m", "speed_mps", "bearing_deg", "provider", "mock")
_DTYPES = {"ts": np.int64, "provider": np.int8, "mock": np.int8}


@dataclass
class PingColumns:
    """Decoded ping messages. Per message: valid, its first row and row count, its trip and
    driver codes (into `trips` / `drivers`; -1 when invalid); `errors` names the broken rule of
    each invalid message. Per row: the ping's columns (COLUMNS; NaN for an absent optional
    number, provider 0 and mock -1 when absent), `row_trip` / `row_driver` (its codes) and
    `row_message` (its message)."""

    valid: np.ndarray
    errors: dict[int, str]
    row0: np.ndarray
    n_rows: np.ndarray
    trip: np.ndarray
    driver: np.ndarray
    cols: dict[str, np.ndarray]
    row_trip: np.ndarray
    row_driver: np.ndarray
    row_message: np.ndarray
    trips: Names
    drivers: Names
    fast: int  # messages the compiled decoder accepted

    @property
    def n_messages(self) -> int:
        return self.valid.shape[0]

    def rows(self, m: int) -> list[PingRow]:
        """Message m's pings as PingRows (what the per-message path returns for it)."""
        a, b = int(self.row0[m]), int(self.row0[m] + self.n_rows[m])
        trip, driver = self.trips.names[self.trip[m]], self.drivers.names[self.driver[m]]
        c = self.cols
        return [
            PingRow(
                trip,
                driver,
                int(c["ts"][r]),
                float(c["lat"][r]),
                float(c["lon"][r]),
                float(c["accuracy_m"][r]),
                float(c["speed_mps"][r]),
                float(c["bearing_deg"][r]),
                int(c["provider"][r]),
                int(c["mock"][r]),
            )
            for r in range(a, b)
        ]


def _names(buf: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, Names]:
    code, first = jsonpings.intern(buf, lo, hi)
    return code, Names([buf[a:b].tobytes().decode("ascii") for a, b in zip(lo[first].tolist(), hi[first].tolist())])


def decode_ping_messages(
    buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, slow: Callable[[int], list[PingRow]]
) -> PingColumns:
    """The ping messages buf[starts[m]:ends[m]]. slow(m) decodes message m the per-message way
    (a list of PingRows, or ContractError naming the broken rule); it is called for the messages
    the compiled decoder defers."""
    d = jsonpings.decode(buf, starts, ends)
    valid = d.status == jsonpings.OK
    trip, trips = _names(buf, d.trip_lo, d.trip_hi)
    driver, drivers = _names(buf, d.driver_lo, d.driver_hi)
    cols = {k: getattr(d, k) for k in COLUMNS}
    row0, n_rows = d.row0.copy(), d.n_rows.copy()
    fast = int(np.count_nonzero(valid))
    errors: dict[int, str] = {}
    extra: list[PingRow] = []
    n_fast_rows = cols["ts"].shape[0]
    for m in np.flatnonzero(~valid).tolist():
        try:
            rows = slow(m)
        except ContractError as exc:
            errors[m] = str(exc)
            continue
        valid[m] = True
        row0[m] = n_fast_rows + len(extra)
        n_rows[m] = len(rows)
        trip[m] = trips.code(rows[0].trip_id)
        driver[m] = drivers.code(rows[0].driver_id)
        extra.extend(rows)
    if extra:
        fields = list(zip(*extra))  # PingRow: trip_id, driver_id, then COLUMNS in order
        cols = {
            k: np.concatenate([cols[k], np.array(fields[2 + i], _DTYPES.get(k, np.float64))])
            for i, k in enumerate(COLUMNS)
        }
    n_rows[~valid] = 0
    trip[~valid] = -1
    driver[~valid] = -1
    # fast rows come first, in message order; then the rows of the messages decoded the slow way
    fast_msgs = np.flatnonzero(d.status == jsonpings.OK)
    slow_msgs = np.flatnonzero(valid & (d.status != jsonpings.OK))
    owner = np.concatenate([np.repeat(fast_msgs, n_rows[fast_msgs]), np.repeat(slow_msgs, n_rows[slow_msgs])])
    row_trip, row_driver = trip[owner], driver[owner]
    return PingColumns(
        valid, errors, row0, n_rows, trip, driver, cols, row_trip, row_driver, owner, trips, drivers, fast
    )


def join_values(values: Sequence[bytes | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kafka record values as one buffer and their spans (a None value becomes an empty span,
    which the fast path defers)."""
    parts = cast("Sequence[bytes]", values) if None not in values else [v if v is not None else b"" for v in values]
    lengths = np.fromiter(map(len, parts), np.int64, count=len(parts))
    ends = np.cumsum(lengths)
    buf = np.frombuffer(b"".join(parts), np.uint8)
    return buf, ends - lengths, ends
