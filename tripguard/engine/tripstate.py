"""One partition's engine state as keyed records (bytes), and back: what the state changelog
(tripguard.stream.changelog) stores for the trip stage.

Keys, one family per kind of data, so that a checkpoint rewrites only what changed:

| key | value | written |
|---|---|---|
| `trip/<id>` | the trip's numeric rows (by column name and width), held and parked fixes, orphan pings, alert ids | when the trip changed |
| `events/<id>` | its trip_started / trip_ended (JSON) and its corridor (arrays) | when a trip event arrived |
| `path/<id>/<k>` | accepted fixes k*PATH_CHUNK .. (k+1)*PATH_CHUNK-1 | the chunks that grew |
| `closed/<id>` | the watermark at which the trip closed (late rows of it are recognised) | at close; deleted when forgotten |
| `watermark` | the partition's event-time watermark | when it moved |

A closed trip's `trip/`, `events/` and `path/` keys get tombstones. Numeric rows are stored by the
name and shape of the TripTable column they come from, under a format version, never field by
field: a column that grew (a new kinematics field) makes old records refuse to load rather than
load shifted. No pickle: JSON and raw little-endian arrays.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import orjson

from tripguard.contract import TripEnded, TripStarted
from tripguard.engine.core import Engine, TripState
from tripguard.engine.terms import EndTerms, StartTerms
from tripguard.engine.trips import TripMeta

FORMAT = 1
PATH_CHUNK = 64  # fixes per path record: a checkpoint rewrites at most one partial chunk per trip
TRIP, EVENTS, PATH, CLOSED = b"trip/", b"events/", b"path/", b"closed/"
WATERMARK = b"watermark"
_ORPHAN_DTYPES = (np.int64, np.float64, np.float64, np.float64, np.float64, np.int8)  # ts lat lon acc speed mock
_PATH_DTYPES = (np.int64, np.float64, np.float64, np.int8)  # ts lat lon flag
_CORRIDOR_DTYPES = (np.int64, np.float64, np.float64, np.float64)  # cells x y cum


class StateFormatError(ValueError):
    """A record this version cannot load (another format version or column shapes)."""


# ---- a record: a JSON document and named arrays ---------------------------------------------------


def pack(doc: dict, arrays: Mapping[str, np.ndarray] = {}) -> bytes:
    manifest = [[name, a.dtype.str, list(a.shape)] for name, a in arrays.items()]
    head = orjson.dumps({**doc, "arrays": manifest})
    return b"".join([struct.pack("<I", len(head)), head] + [np.ascontiguousarray(a).tobytes() for a in arrays.values()])


def unpack(blob: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """The document and read-only views of the arrays (whoever keeps one copies it)."""
    (n,) = struct.unpack_from("<I", blob)
    doc = orjson.loads(blob[4 : 4 + n])
    at = 4 + n
    arrays = {}
    for name, dtype, shape in doc.pop("arrays"):
        dt = np.dtype(dtype)
        count = math.prod(shape)
        arrays[name] = np.frombuffer(blob, dt, count, at).reshape(shape)
        at += count * dt.itemsize
    if at != len(blob):
        raise StateFormatError(f"record of {len(blob)} bytes, its manifest describes {at}")
    return doc, arrays


def _event_json(event: StartTerms | EndTerms | None) -> dict | None:
    return event.to_json() if event is not None else None


def _started_from_json(doc: dict) -> TripStarted:
    # The engine keeps no route text (its points are the corridor, stored beside the events:
    # tripguard/engine/terms.py); a record written before it held the route, which is left out
    # here: its validator decodes and measures it, most of the event's validation cost.
    return TripStarted.model_validate({**doc, "planned_route": None})


# ---- one trip --------------------------------------------------------------------------------------


def trip_record(state: TripState) -> bytes:
    m = state.meta
    arrays = {f"row.{name}": row for name, row in state.rows.items()}
    if state.held is not None:
        arrays["held"] = state.held
    if state.parked is not None:
        arrays["parked"] = state.parked
    if m.orphans:
        for k, dt in enumerate(_ORPHAN_DTYPES):
            arrays[f"orphan.{k}"] = np.concatenate([np.asarray(c[k], dt) for c in m.orphans])
    return pack(
        {
            "format": FORMAT,
            "driver_id": m.driver_id,
            "partition": m.partition,
            "city": state.city,
            "ended_row_rejected": m.ended_row_rejected,
            "alert_ids": list(m.alert_ids),
            "alert_scores": m.scores(),
            "displaced_by": list(m.displaced_by),
            "path_n": int(state.path[0].size),
        },
        arrays,
    )


def events_record(state: TripState) -> bytes:
    arrays = {}
    if state.corridor is not None:
        arrays = {f"corridor.{k}": np.asarray(a, dt) for k, (a, dt) in enumerate(zip(state.corridor, _CORRIDOR_DTYPES))}
    return pack(
        {"format": FORMAT, "started": _event_json(state.meta.started), "ended": _event_json(state.meta.ended)}, arrays
    )


def path_record(path: tuple, chunk: int) -> bytes:
    a, b = chunk * PATH_CHUNK, (chunk + 1) * PATH_CHUNK
    return pack(
        {"format": FORMAT},
        {f"path.{k}": np.asarray(col[a:b], dt) for k, (col, dt) in enumerate(zip(path, _PATH_DTYPES))},
    )


def trip_from_records(trip_id: str, trip: bytes, events: bytes | None, chunks: list[bytes]) -> TripState:
    doc, arrays = unpack(trip)
    _check_format(doc, f"trip/{trip_id}")
    meta = TripMeta(
        trip_id,
        doc["driver_id"],
        doc["partition"],
        ended_row_rejected=doc["ended_row_rejected"],
        alert_ids=tuple(doc["alert_ids"]),
        alert_scores=tuple(doc["alert_scores"].items()),
        displaced_by=tuple(doc.get("displaced_by", ())),
    )
    corridor = None
    if events is not None:
        edoc, earrays = unpack(events)
        _check_format(edoc, f"events/{trip_id}")
        if edoc["started"]:
            meta.started = StartTerms.of(_started_from_json(edoc["started"]), trip_id, meta.driver_id)
        if edoc["ended"]:
            meta.ended = EndTerms.of(TripEnded.model_validate(edoc["ended"]), trip_id, meta.driver_id)
        if earrays:
            corridor = tuple(earrays[f"corridor.{k}"] for k in range(4))
    if "orphan.0" in arrays:
        meta.orphans = (tuple(arrays[f"orphan.{k}"] for k in range(6)),)
    parts = [unpack(c)[1] for c in chunks]
    path = tuple(
        np.concatenate([np.empty(0, dt)] + [p[f"path.{k}"] for p in parts]).astype(dt, copy=False)
        for k, dt in enumerate(_PATH_DTYPES)
    )
    if path[0].size != doc["path_n"]:
        raise StateFormatError(
            f"trip {trip_id}: {path[0].size} path fixes in its chunks, its record says {doc['path_n']}"
        )
    rows = {name[4:]: a for name, a in arrays.items() if name.startswith("row.")}
    return TripState(
        meta=meta,
        city=doc["city"],
        rows=rows,
        held=arrays.get("held"),
        path=path,  # type: ignore[arg-type]
        corridor=corridor,  # type: ignore[arg-type]
        parked=arrays.get("parked"),
    )


def _check_format(doc: dict, what: str) -> None:
    if doc.get("format") != FORMAT:
        raise StateFormatError(f"{what}: state format {doc.get('format')}, this version reads {FORMAT}")


def _key(prefix: bytes, trip_id: str) -> bytes:
    return prefix + trip_id.encode()


def _path_key(trip_id: str, chunk: int) -> bytes:
    return PATH + trip_id.encode() + b"/%d" % chunk


# ---- a partition's trips ----------------------------------------------------------------------------


@dataclass
class _Written:
    """What the changelog holds of a live trip (so a checkpoint writes only what changed)."""

    path_n: int = 0
    started: object = None
    ended: object = None
    events: bool = False


@dataclass
class TripRecords:
    """An engine's trips as changelog records: `touch` the trips a batch changed, `changes()` at a
    checkpoint (puts and tombstones since the last acknowledged one), `saved()` once they are
    acknowledged; `load` puts records back into a fresh engine, `snapshot` is every record."""

    engine: Engine
    touched: set[str] = field(default_factory=set)
    written: dict[str, _Written] = field(default_factory=dict)  # live trips the changelog holds
    closed_written: set[str] = field(default_factory=set)
    watermark_written: int | None = None
    _pending: tuple | None = None

    def touch(self, trip_ids: Iterable[str]) -> None:
        self.touched.update(trip_ids)

    def processed(self, trip_ids: Iterable[str], out) -> None:
        """The engine processed rows of these trips and gave `out` (an Output): a trip's state
        changes only through its own rows or when it closes (its verdict)."""
        self.touched.update(trip_ids)
        self.touched.update(v["trip_id"] for v in out.verdicts)

    def changes(self) -> list[tuple[bytes, bytes | None]]:
        """The records that bring the changelog up to the engine's state. Nothing counts as
        written until `saved()`: after a failed checkpoint the next one writes it all again."""
        touched = set(self.touched)
        records, written = self._diff(touched, self.written, self.closed_written, self.watermark_written)
        self._pending = (touched, written, set(self.engine.closed), self.engine.watermark)
        return records

    def saved(self) -> None:
        """The records of the last `changes()` are acknowledged by the changelog."""
        touched, written, closed, watermark = self._pending  # type: ignore[misc]
        self._pending = None
        for trip_id in touched:
            if trip_id in written:
                self.written[trip_id] = written[trip_id]
            else:
                self.written.pop(trip_id, None)
        self.touched -= touched
        self.closed_written, self.watermark_written = closed, watermark

    def rewrite_all(self) -> None:
        """The changelog lost what it held (re-created): the next changes() writes everything."""
        self.written.clear()
        self.closed_written = set()
        self.watermark_written = None
        self.touched.update(self.engine.live_trip_ids())

    def snapshot(self) -> dict[bytes, bytes]:
        """Every record of the current state: what the changelog holds after a checkpoint."""
        records, _ = self._diff(set(self.engine.live_trip_ids()), {}, set(), None)
        return dict(records)  # type: ignore[arg-type]

    def _diff(
        self, trip_ids: set[str], written: dict[str, _Written], closed_written: set[str], watermark_written: int | None
    ) -> tuple[list[tuple[bytes, bytes | None]], dict[str, _Written]]:
        engine = self.engine
        out: list[tuple[bytes, bytes | None]] = []
        now_written = {}
        for trip_id in sorted(trip_ids):
            state = engine.export_trip(trip_id)
            before = written.get(trip_id)
            if state is None:  # closed (or never live here): the keys it has in the changelog go
                if before is not None:
                    out += [(k, None) for k in _trip_keys(trip_id, before)]
                continue
            w = _Written() if before is None else _Written(before.path_n, before.started, before.ended, before.events)
            out.append((_key(TRIP, trip_id), trip_record(state)))
            if not w.events or w.started is not state.meta.started or w.ended is not state.meta.ended:
                out.append((_key(EVENTS, trip_id), events_record(state)))
                w.started, w.ended, w.events = state.meta.started, state.meta.ended, True
            n = int(state.path[0].size)
            if n > w.path_n:  # the chunk that was partial, and any new ones (full chunks never change)
                for chunk in range(w.path_n // PATH_CHUNK, -(-n // PATH_CHUNK)):
                    out.append((_path_key(trip_id, chunk), path_record(state.path, chunk)))
                w.path_n = n
            now_written[trip_id] = w
        closed = engine.closed
        out += [(_key(CLOSED, t), struct.pack("<qq", *closed[t])) for t in closed.keys() - closed_written]
        out += [(_key(CLOSED, t), None) for t in closed_written - closed.keys()]
        if engine.watermark != watermark_written:
            out.append((WATERMARK, struct.pack("<q", engine.watermark)))
        return out, now_written

    def load(self, records: Mapping[bytes, bytes]) -> None:
        """Make the trips of these records (the changelog's last value per key) live in the engine,
        which must be fresh. Raises StateFormatError (or ValueError) on records it cannot use."""
        engine = self.engine
        trips: dict[str, bytes] = {}
        events: dict[str, bytes] = {}
        chunks: dict[str, dict[int, bytes]] = {}
        closed = []
        for key, value in records.items():
            if key.startswith(TRIP):
                trips[key[len(TRIP) :].decode()] = value
            elif key.startswith(EVENTS):
                events[key[len(EVENTS) :].decode()] = value
            elif key.startswith(PATH):
                trip_key, _, chunk = key[len(PATH) :].rpartition(b"/")
                chunks.setdefault(trip_key.decode(), {})[int(chunk)] = value
            elif key.startswith(CLOSED):
                closed.append((struct.unpack("<qq", value), key[len(CLOSED) :].decode()))
            elif key == WATERMARK:
                (engine.watermark,) = struct.unpack("<q", value)
            else:
                raise StateFormatError(f"unknown state key {key[:80]!r}")
        for trip_id, record in trips.items():
            mine = chunks.get(trip_id, {})
            state = trip_from_records(trip_id, record, events.get(trip_id), [mine[c] for c in sorted(mine)])
            engine.import_trip(state)
            self.written[trip_id] = _Written(
                int(state.path[0].size), state.meta.started, state.meta.ended, trip_id in events
            )
        # oldest first, as the engine adds them (it forgets closed trips from the front)
        marks: dict[tuple[int, int], tuple[int, int]] = {}  # one value per (watermark, partition), as _close
        for mark, trip_id in sorted(closed):
            engine.closed[trip_id] = marks.setdefault(mark, mark)
        self.closed_written = set(engine.closed)
        self.watermark_written = engine.watermark if WATERMARK in records else None


def _trip_keys(trip_id: str, w: _Written) -> list[bytes]:
    keys = [_key(TRIP, trip_id)] + ([_key(EVENTS, trip_id)] if w.events else [])
    return keys + [_path_key(trip_id, c) for c in range(-(-w.path_n // PATH_CHUNK))]
