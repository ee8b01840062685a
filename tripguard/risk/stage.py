"""The driver-risk stage: verdicts and decisions in, driver_risk events and rejects out. Pure.

Order. A driver's events depend on the order of their records, and the records come from many
upstream partitions (a driver's trips are spread over the trip stage's partitions by trip_id),
so the stage processes them in event-time order, never in arrival order: each waits in a buffer
until the watermark passes it, and is then released in (ts, verdict before decision, id) order.
The watermark is the least, over the upstream sources of verdicts, of the latest verdict ts seen
from each, minus `lateness_ms`: the trip stage emits a trip's verdict up to its idle timeout plus
end grace after the trip's end, so the stage waits that long. Decisions (people's clocks, sparse)
do not move the watermark; they wait for the verdicts'. A record that arrives after the
watermark passed it is processed at once and counted (`late`): then the order may differ from
replay's. Records are processed one at a time, so the output does not depend on batch sizes.

At-least-once input: a verdict whose trip the driver's history holds, or a decision whose
event_id it holds, is a duplicate and changes nothing. Rejected with a reason (the caller
dead-letters them): a record that breaks the contract, a decision for a driver without a trip in
the last 30 days, for a trip the driver's history does not hold, or naming alerts that trip did
not have.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import ValidationError

from tripguard.config.files import CityTables
from tripguard.contract import Decision, Verdict
from tripguard.errors import ContractError
from tripguard.io.codec import contract_error_from, loads
from tripguard.risk.history import WINDOW_MS, DriverHistory, TripFact
from tripguard.risk.params import RiskParams
from tripguard.risk.patterns import link_overlaps
from tripguard.risk.score import Assessment, assess

VERDICT, DECISION = "verdict", "decision"
DRIVER_PREFIX, MARK_PREFIX = b"driver/", b"mark/"


def parse(kind: str, value: bytes | None) -> Verdict | Decision:
    """A verdict or decision message, validated strictly (contract v1); ContractError naming the
    field otherwise."""
    obj = loads(cast(bytes, value))
    if type(obj) is not dict:
        raise ContractError("", "a record must be a JSON object")
    try:
        return (Verdict if kind == VERDICT else Decision).model_validate(obj, strict=True)
    except ValidationError as exc:
        raise contract_error_from(exc) from None


@dataclass
class Input:
    """A validated record on its way through the stage. `origin` is what the caller needs to
    dead-letter it (the Kafka record, a file position); `source` the upstream a verdict came
    through (its watermark); `offset` where the caller resumes reading to see it again."""

    kind: str
    record: Verdict | Decision
    origin: Any = None
    source: str | None = None
    offset: int | None = None

    @property
    def ts(self) -> int:
        return cast(Verdict, self.record).ts if self.kind == VERDICT else cast(Decision, self.record).decided_at

    @property
    def key(self) -> tuple[int, int, str]:
        r = self.record
        return (self.ts, 0, r.trip_id) if self.kind == VERDICT else (self.ts, 1, cast(Decision, r).event_id)


@dataclass
class StageOutput:
    events: list[dict] = field(default_factory=list)
    rejected: list[tuple[Input, str]] = field(default_factory=list)

    def extend(self, other: StageOutput) -> None:
        self.events.extend(other.events)
        self.rejected.extend(other.rejected)


def event_id(driver_id: str, ts: int, trigger: str, level: str) -> str:
    """Same driver, time, trigger and level -> same id: a replay after a crash repeats ids."""
    key = f"tripguard/v1|driver_risk|{driver_id}|{ts}|{trigger}|{level}"
    return "drk-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class RiskStage:
    def __init__(self, cities: CityTables, sources: Iterable[str], lateness_ms: int):
        self.cities = cities
        self.sources = tuple(sources)
        self.lateness_ms = int(lateness_ms)
        self.histories: dict[str, DriverHistory] = {}
        self.marks: dict[str, int] = {}  # source -> the latest verdict ts seen from it
        self.pending: list[tuple[tuple[int, int, str], int, Input]] = []
        self.frontier: tuple[int, int, str] | None = None  # the key of the last record released
        self.changed: set[str] = set()  # drivers whose history changed since the last changes()
        self.marks_changed: set[str] = set()
        self.stats: Counter = Counter()
        self._params: dict[str, RiskParams] = {}
        self._seq = itertools.count()

    def params(self, city: str) -> RiskParams:
        p = self._params.get(city)
        if p is None:
            p = self._params[city] = self.cities.params(RiskParams, city, "risk")
        return p

    # ---- records in -----------------------------------------------------------------------------

    def add(self, item: Input) -> StageOutput:
        if item.kind == VERDICT and item.source is not None:
            self._advance(item.source, item.ts)
        if self.frontier is not None and item.key < self.frontier:
            self.stats["late"] += 1
            out = StageOutput()
            self._process(item, out)
            return out
        heapq.heappush(self.pending, (item.key, next(self._seq), item))
        return self.release()

    def mark(self, source: str, ts: int) -> StageOutput:
        """A watermark from upstream: the source has forwarded every verdict it had up to ts."""
        self._advance(source, ts)
        return self.release()

    def _advance(self, source: str, ts: int) -> None:
        if ts > self.marks.get(source, -(2**62)):
            self.marks[source] = ts
            self.marks_changed.add(source)

    def watermark(self) -> int | None:
        if not self.sources or any(s not in self.marks for s in self.sources):
            return None  # a source not heard from yet may still send anything
        return min(self.marks[s] for s in self.sources) - self.lateness_ms

    def release(self, until: float | None = None) -> StageOutput:
        out = StageOutput()
        wm = self.watermark() if until is None else until
        while self.pending and wm is not None and self.pending[0][0][0] <= wm:
            key, _, item = heapq.heappop(self.pending)
            self.frontier = key
            self._process(item, out)
        return out

    def flush(self) -> StageOutput:
        """Everything buffered, in order (the end of a replay's input)."""
        return self.release(until=float("inf"))

    def resume_offset(self) -> int | None:
        """The least offset of a buffered record (None: nothing buffered)."""
        return min((it.offset for _, _, it in self.pending if it.offset is not None), default=None)

    # ---- one record -----------------------------------------------------------------------------

    def _process(self, item: Input, out: StageOutput) -> None:
        r = item.record
        history = self.histories.get(r.driver_id)
        if item.kind == VERDICT:
            if history is None:
                history = self.histories[r.driver_id] = DriverHistory(r.driver_id)
            if history.trip(r.trip_id) is not None:
                self.stats["duplicates"] += 1
                return
            if cast(Verdict, r).ts <= history.newest_ts - WINDOW_MS:
                self.stats["older_than_window"] += 1
                return
            fact = TripFact.from_verdict(cast(Verdict, r))
            link_overlaps(history, fact, self.params(fact.city))
            history.add_trip(fact)
            self.stats["verdicts"] += 1
            trigger = {"type": VERDICT, "id": r.trip_id}
        else:
            reason = self._check_decision(history, cast(Decision, r))
            if reason == "duplicate":
                self.stats["duplicates"] += 1
                return
            if reason is not None:
                self.stats["rejected"] += 1
                out.rejected.append((item, reason))
                return
            assert history is not None  # _check_decision gave a reason (returned above) for no history
            history.add_decision(cast(Decision, r))
            self.stats["decisions"] += 1
            trigger = {"type": DECISION, "id": cast(Decision, r).event_id}
        history.forget_before(history.newest_ts)
        self.changed.add(history.driver_id)
        event = self._evaluate(history, trigger)
        if event is not None:
            out.events.append(event)

    @staticmethod
    def _check_decision(history: DriverHistory | None, d: Decision) -> str | None:
        if history is None or not history.trips:
            return f"driver_id: unknown driver {d.driver_id!r} (no trip of theirs in the last 30 days)"
        if history.has_decision(d.event_id):
            return "duplicate"
        trip = history.trip(d.trip_id)
        if trip is None:
            return f"trip_id: driver {d.driver_id!r} has no trip {d.trip_id!r} in the last 30 days"
        unknown = [a for a in d.alert_ids if a not in trip.alert_ids]
        if unknown:
            return (
                f"alert_ids: {len(unknown)} alert(s) trip {d.trip_id!r} did not have: "
                f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}"
            )
        return None

    def assess(self, driver_id: str, at_ms: int | None = None, explain: bool = True) -> Assessment:
        history = self.histories[driver_id]
        return assess(history, self.params(history.city), history.newest_ts if at_ms is None else at_ms, explain)

    def _evaluate(self, history: DriverHistory, trigger: dict[str, str]) -> dict | None:
        at = history.newest_ts
        if self.assess(history.driver_id, at, explain=False).level == history.level:
            return None
        a = self.assess(history.driver_id, at)
        previous, history.level = history.level, a.level
        self.stats["events"] += 1
        return {
            "event_id": event_id(history.driver_id, at, trigger["id"], a.level),
            "driver_id": history.driver_id,
            "city": history.city,
            "score": a.score,
            "level": a.level,
            "previous_level": previous,
            "ts": at,
            "trigger": trigger,
            "windows": a.windows,
            "evidence": a.evidence,
            "model": a.model,
        }

    # ---- state records (the changelog) ----------------------------------------------------------

    def changes(self) -> list[tuple[bytes, bytes | None]]:
        """The records of the drivers and marks changed since the last call (a tombstone for a
        driver whose history emptied)."""
        out: list[tuple[bytes, bytes | None]] = []
        for driver_id in sorted(self.changed):
            history = self.histories.get(driver_id)
            key = DRIVER_PREFIX + driver_id.encode("utf-8", "surrogatepass")
            if history is None or (not history.trips and not history.decisions):
                self.histories.pop(driver_id, None)
                out.append((key, None))
            else:
                out.append((key, history.encode()))
        out.extend((MARK_PREFIX + s.encode(), str(self.marks[s]).encode()) for s in sorted(self.marks_changed))
        self.changed.clear()
        self.marks_changed.clear()
        return out

    def all_records(self) -> list[tuple[bytes, bytes]]:
        self.changed.update(self.histories)
        self.marks_changed.update(self.marks)
        return [(k, v) for k, v in self.changes() if v is not None]

    def load(self, records: dict[bytes, bytes]) -> None:
        """The state a changelog fold gave back. ValueError for a record this version cannot read."""
        for key, value in records.items():
            if key.startswith(DRIVER_PREFIX):
                history = DriverHistory.decode(value)
                self.histories[history.driver_id] = history
            elif key.startswith(MARK_PREFIX):
                self.marks[key[len(MARK_PREFIX) :].decode()] = int(value)
            else:
                raise ValueError(f"not a driver-risk state record: {key[:60]!r}")
