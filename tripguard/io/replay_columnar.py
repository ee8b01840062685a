"""Replay's input, columnar: a JSONL pings file and a trips file as engine batches.

The same batches, dead letters and order as the per-message path (`tripguard.io.replay.batches`
over `merge_on_ts(checked(...))`), built without Python per ping: the pings file is read whole
and decoded by tripguard.io.columnar (the per-message path for what the compiled decoder defers);
trip events -- about one message in a hundred, each validated by the contract's pydantic models
-- are read as before. The merge on ts, the cut into batches and the rows' order are compiled
(tripguard/kernels/merge.py); a batch's columns are slices of whole-stream arrays.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson

from tripguard.engine.batch import Batch
from tripguard.errors import ContractError, InputError
from tripguard.io.codec import pings_from_value
from tripguard.io.columnar import PingColumns, decode_ping_messages
from tripguard.io.inputs import PINGS, TRIPS, Message, partition_of, read_messages
from tripguard.kernels import jsonpings
from tripguard.kernels import merge as M
from tripguard.kernels.lifecycle import ROW_END, ROW_PING, ROW_START

NO_KEY = -(2**62)


def _mapped(path: Path) -> mmap.mmap | bytes:
    """The file's bytes, mapped rather than read: a file of a million pings is not copied (reading
    one took 0.2-0.6 s in a fresh process), and the processes of `replay --workers` share its
    pages. Read when it cannot be mapped (empty, or not a regular file). A file appended to while
    it is replayed is read as it was when mapped; one truncated underneath the replay ends the
    process (SIGBUS on a page that no longer exists): copy a file that is being rewritten first."""
    with open(path, "rb") as fh:
        try:
            return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (ValueError, OSError):
            return fh.read()


def _per_message(src: np.ndarray, idx: np.ndarray, of_pings: np.ndarray, of_trips: np.ndarray) -> np.ndarray:
    """Each merged message's value (kernels/merge.py: src, idx), taken from its side's array;
    either side may have no messages."""
    ping = src == M.PING
    out = np.zeros(src.shape, np.result_type(of_pings, of_trips))
    out[ping] = of_pings[idx[ping]]
    out[~ping] = of_trips[idx[~ping]]
    return out


class PingFile:
    """A JSONL pings file decoded into columns; `message(m)` is message m as tripguard.io.inputs gives it."""

    def __init__(self, path: Path):
        try:
            self.data = _mapped(path)
        except OSError as exc:
            raise InputError(f"{path}: {exc.strerror}") from None
        buf = np.frombuffer(self.data, np.uint8)
        starts, ends, blank = jsonpings.lines(buf)
        keep = np.flatnonzero(~blank)  # blank lines are skipped, as inputs._jsonl does
        self.starts, self.ends, self.line = starts[keep], ends[keep], keep + 1
        self.columns: PingColumns = decode_ping_messages(buf, self.starts, self.ends, self._slow)
        c = self.columns
        key = np.full(c.n_messages, NO_KEY, np.int64)
        key[c.valid] = c.cols["ts"][c.row0[c.valid]]
        # an invalid message keeps the previous valid one's key (replay.checked): it cannot hold
        # back the good messages behind it
        last = np.maximum.accumulate(np.where(c.valid, np.arange(c.n_messages), -1)) if c.n_messages else key
        self.key = np.where(last >= 0, key[np.maximum(last, 0)], NO_KEY)

    def raw(self, m: int) -> bytes:
        return self.data[self.starts[m] : self.ends[m]]

    def _slow(self, m: int):
        try:
            value = orjson.loads(self.raw(m))
        except orjson.JSONDecodeError as exc:
            raise ContractError("", f"not valid UTF-8 JSON: {exc}") from None
        return pings_from_value(value)

    def message(self, m: int) -> Message:
        return Message(PINGS, int(self.line[m]), self.raw(m), None, None, int(self.key[m]))


class _RowMessages:
    """The message of each row of one batch, looked up only for the rows the engine rejects."""

    def __init__(self, stream: _Stream, first_row: int):
        self.stream, self.first_row = stream, first_row

    def __getitem__(self, row: int) -> Message:
        return self.stream.message_of_row(self.first_row + row)


class _Stream:
    lat: np.ndarray  # these five: set by name in __init__
    lon: np.ndarray
    accuracy_m: np.ndarray
    speed_mps: np.ndarray
    mock: np.ndarray

    def __init__(self, pings: PingFile, trips: list, part: tuple[int, int] | None = None):
        """trips: the checked trip events of partition `part` (ColumnarInputs.trips_of); the
        pings are the whole file's, of which _mine keeps the partition's."""
        self.pings, self.trips = pings, trips
        c = pings.columns
        trip_key = np.array([t.key_ts for t in trips], np.int64)
        self.src, self.idx = M.merge(pings.key, trip_key)
        if part is not None:
            keep = self._mine(part)
            self.src, self.idx = self.src[keep], self.idx[keep]
        trip_valid = np.array([t.error is None for t in trips], bool)
        self.trip_rows = trip_valid.astype(np.int64)
        self.row_src = M.expand(self.src, self.idx, c.row0, c.n_rows, self.trip_rows)
        self.msg_rows = _per_message(self.src, self.idx, c.n_rows, self.trip_rows)
        self.msg_row_start = np.concatenate([[0], np.cumsum(self.msg_rows)])
        trip_sizes = np.array([len(t.message.raw) + 1 for t in trips], np.int64)
        sizes = _per_message(self.src, self.idx, pings.ends - pings.starts + 1, trip_sizes)
        self.msg_bytes = np.concatenate([[0], np.cumsum(sizes)])
        valid = _per_message(self.src, self.idx, c.valid, trip_valid)
        self.bad = np.flatnonzero(~valid)  # merged positions of the dead letters
        self._columns(c, trip_valid)

    def _mine(self, part: tuple[int, int]) -> np.ndarray:
        """The merged messages of partition part[0] of part[1] (replay --workers): a valid ping
        message's by its trip_id (tripguard.io.inputs.partition_of), the invalid ones all in
        partition 0, so the partitions' dead letters together are one replay's; the trip events
        are the partition's already."""
        p, n = part
        c = self.pings.columns
        ping_part = np.array([partition_of(name.encode(), n) for name in c.trips.names] or [0], np.int64)
        ping_mine = np.where(c.valid, ping_part[np.maximum(c.trip, 0)] == p, p == 0)
        return _per_message(self.src, self.idx, ping_mine, np.ones(len(self.trips), bool))

    def _columns(self, c: PingColumns, trip_valid: np.ndarray) -> None:
        """Whole-stream row columns; a batch takes slices of them."""
        n = self.row_src.shape[0]
        is_ping = self.row_src >= 0
        pr = self.row_src[is_ping]
        self.event_rows = np.flatnonzero(~is_ping)
        self.event_of_row = -1 - self.row_src[self.event_rows]
        events = [self.trips[j].event for j in self.event_of_row.tolist()]
        self.events = events
        trips, drivers = c.trips, c.drivers
        self.kind = np.full(n, ROW_PING, np.int64)
        self.kind[self.event_rows] = [ROW_START if e.type == "trip_started" else ROW_END for e in events]
        self.ts = np.empty(n, np.int64)
        self.ts[is_ping] = c.cols["ts"][pr]
        self.ts[self.event_rows] = [e.ts for e in events]
        self.trip_code = np.empty(n, np.int64)
        self.trip_code[is_ping] = c.row_trip[pr]
        self.trip_code[self.event_rows] = [trips.code(e.trip_id) for e in events]
        self.driver_code = np.empty(n, np.int64)
        self.driver_code[is_ping] = c.row_driver[pr]
        self.driver_code[self.event_rows] = [drivers.code(e.driver_id) for e in events]
        for name, empty, dtype in (
            ("lat", np.nan, np.float64),
            ("lon", np.nan, np.float64),
            ("accuracy_m", np.nan, np.float64),
            ("speed_mps", np.nan, np.float64),
            ("mock", -1, np.int8),
        ):
            col = np.full(n, empty, dtype)
            col[is_ping] = c.cols[name][pr]
            setattr(self, name, col)
        self.zeros = np.zeros(n, np.int64)

    def message_of_row(self, row: int) -> Message:
        r = int(self.row_src[row])
        if r < 0:
            return self.trips[-1 - r].message
        return self.pings.message(int(self.pings.columns.row_message[r]))

    def dead_between(self, a: int, b: int) -> list[tuple[Message, str]]:
        """The dead letters of merged messages a..b-1, in order."""
        out = []
        for k in self.bad[np.searchsorted(self.bad, a) : np.searchsorted(self.bad, b)].tolist():
            j = int(self.idx[k])
            if self.src[k] == M.PING:
                out.append((self.pings.message(j), self.pings.columns.errors[j]))
            else:
                out.append((self.trips[j].message, self.trips[j].error))
        return out

    def batch(self, ra: int, rb: int) -> Batch:
        c = self.pings.columns
        lo, hi = np.searchsorted(self.event_rows, [ra, rb])
        events = {int(self.event_rows[k]) - ra: self.events[k] for k in range(lo, hi)}
        return Batch(
            trip_code=self.trip_code[ra:rb],
            trip_names=c.trips,
            driver_code=self.driver_code[ra:rb],
            driver_names=c.drivers,
            kind=self.kind[ra:rb],
            ts=self.ts[ra:rb],
            partition=self.zeros[ra:rb],
            lat=self.lat[ra:rb],
            lon=self.lon[ra:rb],
            accuracy_m=self.accuracy_m[ra:rb],
            speed_mps=self.speed_mps[ra:rb],
            mock=self.mock[ra:rb],
            events=events,
        )


class ColumnarInputs:
    """The two inputs decoded: the pings file as columns, the trip events read. Decoded once for
    every partition of `replay --workers` (forked processes inherit it); each partition validates
    only its own trip events (`trips_of`), in its own process."""

    def __init__(self, pings: Path, trips: Path, checked):
        self.paths = (pings, trips)
        self.pings = PingFile(pings)
        self.trip_messages = list(read_messages(trips, TRIPS))
        self._checked = checked

    def trips_of(self, part: tuple[int, int] | None) -> list:
        """The checked trip events of partition part[0] of part[1] (all of them for None): a
        message's partition is its trip_id's (partition_of, as produce keys it); one without a
        string trip_id is partition 0's (it can only be a dead letter)."""
        if part is None:
            return list(self._checked(self.trip_messages))
        p, n = part
        return list(self._checked(m for m in self.trip_messages if _partition_of_message(m, n) == p))


def _partition_of_message(m: Message, n: int) -> int:
    trip_id = m.value.get("trip_id") if isinstance(m.value, dict) else None
    return partition_of(trip_id.encode(), n) if isinstance(trip_id, str) else 0


def columnar_batches(
    inputs: ColumnarInputs, dead: list, batch_rows: int, part: tuple[int, int] | None = None
) -> Iterator[tuple]:
    """replay.batches(merge_on_ts(checked(pings), checked(trips))) for a JSONL pings file: the same
    (batch, the message of each row, input bytes consumed) and the same dead letters, in order.
    part = (p, n): only partition p's messages (_Stream._mine)."""
    stream = _Stream(inputs.pings, inputs.trips_of(part), part)
    start = 0
    for end in [*M.cuts(stream.msg_rows, batch_rows).tolist(), len(stream.src)]:
        dead.extend(stream.dead_between(start, end))
        ra, rb = int(stream.msg_row_start[start]), int(stream.msg_row_start[end])
        if rb > ra:
            yield stream.batch(ra, rb), _RowMessages(stream, ra), int(stream.msg_bytes[end] - stream.msg_bytes[start])
        start = end
