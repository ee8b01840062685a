"""One input partition's processing, with no I/O: records in, outputs and state records out.

A PartitionPipeline holds partition p's Aligner (event-time merge of pings-p and trips-p), its
Engine, its state records (tripguard.engine.tripstate) and where reading resumes. The worker feeds it
Kafka records (`ingest`), asks it for output (`advance`), and at a checkpoint takes the state
records that changed (`changed_state`) and the offsets they correspond to (`resume_offsets`).
It is unit-tested with fake records (tests/stream/test_pipeline.py).

Poison input: when the engine raises on a batch, the pipeline's state is suspect, so it raises
EngineFailed and the worker rebuilds the partition from its last checkpoint. The records of the
failed batch become suspects: replayed, each goes to the engine alone (batch invariance: the
output is the same), so the record that makes the engine raise is found; after `max_attempts`
failures of its own it is dead-lettered with the exception's type and message, and the partition
moves on. The Quarantine that remembers this outlives the rebuilds.
"""

from __future__ import annotations

import operator
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tripguard.engine.batch import Batch, Names
from tripguard.engine.core import Engine
from tripguard.engine.tripstate import TripRecords
from tripguard.errors import ContractError
from tripguard.io.codec import decode_pings, decode_trip_event
from tripguard.io.columnar import decode_ping_messages, join_values
from tripguard.kernels.lifecycle import ROW_END, ROW_PING, ROW_START
from tripguard.stream.aligner import PINGS, TRIPS, Aligner, Pending, PingSpan

if TYPE_CHECKING:
    from tripguard.contract import TripEnded, TripStarted

SIDES = (PINGS, TRIPS)


@dataclass(slots=True)
class DeadLetter:
    record: Any  # the Kafka record (topic, partition, offset, key, value)
    reason: str


@dataclass
class PipelineOutput:
    # (alert, the record that revealed it, or None)
    alerts: list[tuple[dict[str, Any], Any]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    pings: int = 0
    trip_events: int = 0
    late_after_close: int = 0
    engine_seconds: list[float] = field(default_factory=list)  # one per engine batch
    pause_closed: int = 0  # trips closed because the input paused


@dataclass
class Quarantine:
    """A partition's records under suspicion, kept across rebuilds of its pipeline."""

    max_attempts: int = 3
    suspects: set[tuple[str, int]] = field(default_factory=set)  # (side, offset): replayed alone
    attempts: dict[tuple[str, int], int] = field(default_factory=dict)
    poison: dict[tuple[str, int], str] = field(default_factory=dict)  # dead-lettered instead of processed
    failures: int = 0  # engine failures since the partition last checkpointed

    def forget_before(self, offsets: dict[str, int]) -> None:
        """A checkpoint at these offsets (per side): the records before them are never read again."""

        def ahead(pos: tuple[str, int]) -> bool:
            return pos[1] >= offsets[pos[0]]

        self.suspects = {pos for pos in self.suspects if ahead(pos)}
        self.attempts = {pos: n for pos, n in self.attempts.items() if ahead(pos)}
        self.poison = {pos: why for pos, why in self.poison.items() if ahead(pos)}
        self.failures = 0


class EngineFailed(Exception):
    """The engine raised: this pipeline's state is suspect; rebuild the partition from its last
    checkpoint (its outputs since then are produced again, with the same ids)."""

    def __init__(self, partition: int, n_records: int, first_offset: int, poisoned: str | None):
        self.partition, self.n_records, self.first_offset, self.poisoned = partition, n_records, first_offset, poisoned
        super().__init__(
            f"partition {partition}: the engine raised on {n_records} record(s) from offset "
            f"{first_offset}" + (f"; dead-lettering {poisoned}" if poisoned else "")
        )


class PartitionPipeline:
    def __init__(
        self,
        partition: int,
        engine: Engine,
        topics: dict[str, str],
        next_read: dict[str, int],
        records: TripRecords | None = None,
        quarantine: Quarantine | None = None,
        pause_close_s: float = 10.0,
    ):
        self.partition = partition
        self.engine = engine
        self.topics = topics  # side -> topic name
        self.side_of = {name: side for side, name in topics.items()}
        self.next_read = dict(next_read)  # per side: offset after the last record read
        self.records = records if records is not None else TripRecords(engine)
        self.quarantine = quarantine if quarantine is not None else Quarantine()
        self.pause_close_s = pause_close_s
        self.aligner = Aligner()
        self.last_record_at = time.monotonic()
        self.pause_closed = False  # close_ended already ran during the current pause
        self.repair: dict[bytes, bytes | None] = {}  # records owed to the changelog (see changelog.fold)
        self.saved_offsets: dict[str, int] | None = None  # offsets of the last checkpoint
        self._dirty = False

    # ---- records in ---------------------------------------------------------------------------

    def ingest(self, record: Any, now: float | None = None) -> list[DeadLetter]:
        """One Kafka record of pings-p or trips-p (ingest_many of one)."""
        return self.ingest_many([record], now)

    def ingest_many(self, records: list[Any], now: float | None = None) -> list[DeadLetter]:
        """Records of one topic (pings-p or trips-p), in offset order, e.g. one fetch: a malformed
        one is a dead letter at once, a good one waits in the aligner. Ping values are decoded
        together, in one call of the columnar decoder (tripguard.io.columnar; the per-message path
        names the broken rule of what it defers)."""
        if not records:
            return []
        side = self.side_of[records[0].topic]
        self.next_read[side] = records[-1].offset + 1
        self.last_record_at = time.monotonic() if now is None else now
        self.pause_closed = False
        read_at_ms = time.time() * 1000
        dead: list[DeadLetter] = []
        if side == PINGS:
            self.aligner.add(_ping_span(records, read_at_ms, dead))
            return dead
        for record in records:
            try:
                event = decode_trip_event(record.value)
            except ContractError as exc:
                dead.append(DeadLetter(record, str(exc)))
                continue
            except Exception as exc:  # a decoder bug must not stop the stream: the message is kept
                dead.append(DeadLetter(record, f"undecodable: {exc!r}"))
                continue
            if record.key != event.trip_id.encode():  # the key rule of pings (_ping_span)
                dead.append(_wrong_key(record, event.trip_id))
                continue
            self.aligner.add(Pending(event.ts, record.offset, record, event, read_at_ms))
        return dead

    # ---- output ---------------------------------------------------------------------------------

    def advance(self, caught_up_at_ms: dict[str, float | None], now: float | None = None) -> PipelineOutput:
        """Give the engine what the aligner can release. caught_up_at_ms[side]: when a fetch
        response showed that side caught up (None: it is not). Raises EngineFailed."""
        now = time.monotonic() if now is None else now
        out = PipelineOutput()
        items = self.aligner.release(caught_up_at_ms[PINGS], caught_up_at_ms[TRIPS])
        if items:
            self._process(items, out)
        elif (
            not len(self.aligner)
            and caught_up_at_ms[PINGS] is not None
            and caught_up_at_ms[TRIPS] is not None
            and not self.pause_closed
            and now - self.last_record_at >= self.pause_close_s
        ):
            # The input paused: trips whose trip_ended arrived need not wait for event time.
            self.pause_closed = True
            closed = self.engine.close_ended()
            if closed.verdicts:
                self.records.processed((), closed)
                out.verdicts.extend(closed.verdicts)
                out.alerts.extend((a, None) for a in closed.alerts)
                out.pause_closed = len(closed.verdicts)
                self._dirty = True
        return out

    def release_all(self) -> PipelineOutput:
        """Process everything the aligner holds, whatever the other side (the input topics are
        gone: what was read before is all there is)."""
        out = PipelineOutput()
        items = self.aligner.release(float("inf"), float("inf"))
        if items:
            self._process(items, out)
        return out

    def _process(self, items: list[Item], out: PipelineOutput) -> None:
        q = self.quarantine
        self._dirty = True
        if not q.suspects and not q.poison:  # the usual case: nothing under suspicion
            self._batch(items, out)
            return
        run: list[Item] = []
        for it in (one for item in items for one in _singles(item)):
            pos = _positions(it)[0]
            if pos in q.poison:
                self._batch(run, out)
                run = []
                out.dead_letters.append(DeadLetter(_records(it)[0], q.poison[pos]))
            elif pos in q.suspects:
                self._batch(run, out)
                run = []
                self._alone(it, out)
            else:
                run.append(it)
        self._batch(run, out)

    def _batch(self, items: list[Item], out: PipelineOutput) -> None:
        n_records = sum(map(_count, items))
        if n_records == 1:
            self._alone(items[0], out)
        elif n_records:
            try:
                self._run_engine(items, out)
            except Exception as exc:
                self.quarantine.suspects.update(pos for it in items for pos in _positions(it))
                raise EngineFailed(self.partition, n_records, _positions(items[0])[0][1], None) from exc

    def _alone(self, it: Item, out: PipelineOutput) -> None:
        """One record (a trip event, or a span of one ping message) through the engine by itself."""
        q = self.quarantine
        pos = _positions(it)[0]
        try:
            self._run_engine([it], out)
        except Exception as exc:
            q.suspects.add(pos)
            q.attempts[pos] = q.attempts.get(pos, 0) + 1
            poisoned = None
            if q.attempts[pos] >= q.max_attempts:
                q.poison[pos] = f"engine: {type(exc).__name__}: {exc} (raised on this message {q.attempts[pos]} times)"
                poisoned = f"{self.topics[pos[0]]}[{self.partition}]@{pos[1]}"
            raise EngineFailed(self.partition, 1, pos[1], poisoned) from exc
        q.suspects.discard(pos)
        q.attempts.pop(pos, None)

    def _run_engine(self, items: list[Item], out: PipelineOutput) -> None:
        batch, owner, records = _build_batch(items, self.partition)
        late_before = self.engine.stats.late_after_close
        started = time.perf_counter()
        result = self.engine.process(batch)
        out.engine_seconds.append(time.perf_counter() - started)
        out.pings += batch.n_pings
        out.trip_events += len(batch.events)
        out.late_after_close += self.engine.stats.late_after_close - late_before
        self.records.processed(batch.trip_ids(), result)
        if result.alerts:
            revealed = _revealed_by(result.alerts, batch, owner, records)
            out.alerts.extend(zip(result.alerts, revealed))
        out.verdicts.extend(result.verdicts)
        done = set()
        for row, reason in result.rejected:
            m = int(owner[row])
            if m not in done:
                done.add(m)
                out.dead_letters.append(DeadLetter(records[m], reason))

    # ---- state and offsets ------------------------------------------------------------------------

    def resume_offsets(self) -> dict[str, int]:
        """Per input topic, the first record NOT yet given to the engine (the aligner may hold
        records already read): where a restored copy of this state must resume."""
        out = {}
        for side in SIDES:
            first = self.aligner.first_offset(side)
            out[self.topics[side]] = first if first is not None else self.next_read[side]
        return out

    def needs_checkpoint(self) -> bool:
        return self._dirty or bool(self.repair) or self.resume_offsets() != self.saved_offsets

    def changed_state(self) -> list[tuple[bytes, bytes | None]]:
        """The state records to append to the changelog for a checkpoint at resume_offsets():
        repairs owed first, then what changed since the last checkpoint (later records win)."""
        return list(self.repair.items()) + self.records.changes()

    def state_saved(self, offsets: dict[str, int]) -> None:
        """The records of the last changed_state() and a marker for `offsets` are acknowledged."""
        self.records.saved()
        self.repair = {}
        self.saved_offsets = dict(offsets)
        self._dirty = False
        self.quarantine.forget_before({side: offsets[self.topics[side]] for side in SIDES})

    def rewind(self) -> dict[str, int]:
        """Forget what the aligner holds (it is read again): per side, where to seek."""
        for side in SIDES:
            first = self.aligner.first_offset(side)
            if first is not None:
                self.next_read[side] = first
        self.aligner = Aligner()
        return dict(self.next_read)

    def held(self, side: str) -> int:
        return self.aligner.held(side)

    @property
    def live_trips(self) -> int:
        return self.engine.live_trips


def _key_of(record: Any) -> str | None:
    return record.key.decode("utf-8", "replace") if record.key is not None else None


def _wrong_key(record: Any, trip_id: str) -> DeadLetter:
    return DeadLetter(
        record,
        f"key: must be the message's trip_id {trip_id!r} (pings and trips are "
        f"co-partitioned by it), got {_key_of(record)!r}",
    )


def _decode_pings(value: Any) -> list[Any]:
    """The per-message path for what the columnar decoder defers; a decoder bug must not stop the
    stream, so it becomes a dead letter too."""
    try:
        return decode_pings(value)
    except ContractError:
        raise
    except Exception as exc:
        raise ContractError("", f"undecodable: {exc!r}") from None


def _ping_span(records: list[Any], read_at_ms: float, dead: list[DeadLetter]) -> PingSpan:
    """A fetch of ping records as one span: the values decoded together; a malformed message,
    or one whose key is not its trip_id, goes to `dead` instead. No Python per record on the
    way (map over C functions): a fetch holds hundreds of single-ping messages."""
    values = list(map(_VALUE, records))
    buf, starts, ends = join_values(values)
    cols = decode_ping_messages(buf, starts, ends, lambda m: _decode_pings(values[m]))
    # the key each trip's messages must have (the None after them: an invalid message's trip -1)
    want = [name.encode() for name in cols.trips.names] + [None]
    ok = cols.valid & np.fromiter(
        map(operator.eq, map(_KEY, records), map(want.__getitem__, cols.trip.tolist())), bool, len(records)
    )
    msg = np.flatnonzero(ok)
    if msg.size == len(records):
        kept = records
    else:
        kept = [records[m] for m in msg.tolist()]
        for m in np.flatnonzero(~ok).tolist():
            record = records[m]
            if not cols.valid[m]:
                dead.append(DeadLetter(record, cols.errors[m]))
            else:
                dead.append(_wrong_key(record, cols.trips.names[cols.trip[m]]))
    ts = cols.cols["ts"][cols.row0[msg]].astype(np.int64)
    offsets = np.fromiter(map(_OFFSET, kept), np.int64, len(kept))
    return PingSpan(cols, msg, ts, offsets, kept, read_at_ms)


_VALUE, _KEY, _OFFSET, _TIMESTAMP = (operator.attrgetter(a) for a in ("value", "key", "offset", "timestamp"))


# A released item: a trip event, or a run of ping messages of one fetch.
Item = Pending | PingSpan


def _count(it: Item) -> int:
    return len(it) if isinstance(it, PingSpan) else 1


def _records(it: Item) -> list[Any]:
    return it.records if isinstance(it, PingSpan) else [it.record]


def _positions(it: Item) -> list[tuple[str, int]]:
    """(side, offset) of each of the item's records: where the quarantine knows them."""
    return [(PINGS, o) for o in it.offsets.tolist()] if isinstance(it, PingSpan) else [(TRIPS, it.offset)]


def _singles(it: Item) -> list[Item]:
    """The item a record at a time (the quarantine's path)."""
    return [it.cut(k, k + 1) for k in range(len(it))] if isinstance(it, PingSpan) else [it]


_EVENT_COLUMNS = {"lat": np.nan, "lon": np.nan, "accuracy_m": np.nan, "speed_mps": np.nan, "mock": -1}


def _build_batch(items: list[Item], partition: int) -> tuple[Batch, np.ndarray, list[Any]]:
    """The engine batch of released items, in their order; the record of each row is
    records[owner[row]]. A ping message's rows are a span of its fetch's decoded columns; the
    batch's columns are gathered from those with one index array (no Python per ping or per ping
    message), trip and driver codes translated into the batch's own Names once per distinct id of
    each fetch."""
    fetches: dict[int, int] = {}  # id(PingColumns) -> its index in `decoded`
    decoded: list[Any] = []
    base: list[int] = []  # first row of each fetch in the concatenated columns
    firsts: list[np.ndarray] = []  # per item: its messages' first rows (-1: a trip event)
    lengths: list[np.ndarray] = []  # per item: its messages' row counts
    records: list[Any] = []
    events: list[tuple[int, TripStarted | TripEnded]] = []  # (message index, event)
    n_decoded_rows = 0
    one, none = np.ones(1, np.int64), np.full(1, -1, np.int64)
    for it in items:
        if not isinstance(it, PingSpan):
            events.append((len(records), it.event))
            records.append(it.record)
            firsts.append(none)
            lengths.append(one)
            continue
        cols = it.cols
        f = fetches.get(id(cols))
        if f is None:
            f = fetches[id(cols)] = len(decoded)
            decoded.append(cols)
            base.append(n_decoded_rows)
            n_decoded_rows += cols.cols["ts"].shape[0]
        firsts.append(base[f] + cols.row0[it.msg])
        lengths.append(cols.n_rows[it.msg])
        records.extend(it.records)
    first = np.concatenate(firsts) if firsts else np.zeros(0, np.int64)
    length = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
    n = int(length.sum())
    owner = np.repeat(np.arange(len(records)), length)
    row_start = np.cumsum(length) - length
    src = np.repeat(first, length) + (np.arange(n) - np.repeat(row_start, length))
    event_rows = row_start[[m for m, _ in events]] if events else np.zeros(0, np.int64)
    src[event_rows] = n_decoded_rows  # a row of the event columns' defaults, after the decoded rows
    trips, drivers = Names(), Names()
    columns: dict[str, np.ndarray] = {}
    for name, empty in (*_EVENT_COLUMNS.items(), ("ts", 0)):
        parts = [c.cols[name] for c in decoded]
        columns[name] = np.concatenate([*parts, np.array([empty], parts[0].dtype if parts else None)])[src]
    trip_code = np.concatenate([*(trips.codes(c.trips.names)[c.row_trip] for c in decoded), [0]])[src]
    driver_code = np.concatenate([*(drivers.codes(c.drivers.names)[c.row_driver] for c in decoded), [0]])[src]
    kind = np.full(n, ROW_PING, np.int64)
    batch_events = {}
    for (_, event), row in zip(events, event_rows.tolist()):
        kind[row] = ROW_START if event.type == "trip_started" else ROW_END
        columns["ts"][row] = event.ts
        trip_code[row] = trips.code(event.trip_id)
        driver_code[row] = drivers.code(event.driver_id)
        batch_events[row] = event
    batch = Batch(
        trip_code=trip_code.astype(np.int64),
        trip_names=trips,
        driver_code=driver_code.astype(np.int64),
        driver_names=drivers,
        kind=kind,
        ts=columns["ts"].astype(np.int64),
        partition=np.full(n, partition, np.int64),
        lat=columns["lat"],
        lon=columns["lon"],
        accuracy_m=columns["accuracy_m"],
        speed_mps=columns["speed_mps"],
        mock=columns["mock"].astype(np.int8),
        events=batch_events,
    )
    return batch, owner, records


def _revealed_by(alerts: list[dict[str, Any]], batch: Batch, owner: np.ndarray, records: list[Any]) -> list[Any]:
    """The record that revealed each alert: its trip's first row at the alert's ts, else the trip's
    latest record in the batch (a trip-end alert). One pass over the alerted trips' rows, and one
    more over its trip's rows for each trip-end alert."""
    codes = {a["trip_id"]: batch.trip_names.code(a["trip_id"]) for a in alerts}
    rows = np.flatnonzero(np.isin(batch.trip_code, np.fromiter(codes.values(), np.int64, len(codes))))
    row_code = batch.trip_code[rows]
    at: dict[tuple[int, int], int] = {}
    for row, key in zip(rows.tolist(), zip(row_code.tolist(), batch.ts[rows].tolist())):
        at.setdefault(key, row)
    out = []
    for a in alerts:
        code = codes[a["trip_id"]]
        found = at.get((code, a["ts"]))
        if found is None:  # a trip-end alert: the trip's latest record in the batch
            mine = [records[m] for m in owner[rows[row_code == code]].tolist()]
            out.append(max(mine, key=_TIMESTAMP) if mine else None)
        else:
            out.append(records[owner[found]])
    return out
