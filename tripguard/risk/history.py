"""One driver's recent history: the trips of the last 30 days (what their verdicts said, what
reviewers decided, which cross-trip patterns involve them) and the decisions, as the stage keeps
it and as the changelog stores it (`encode` / `decode`: one record per driver)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import orjson

from tripguard.contract import Decision, Verdict
from tripguard.engine.core import DISPLACING_KINDS
from tripguard.geo import decode_integers
from tripguard.kernels.polyline import decode as decode_polyline

FORMAT = 1  # of the encoded record: another format refuses to load
WINDOW_MS = 30 * 86_400_000  # the longest window: older trips and decisions are forgotten
# A trip that overlaps a later one ended after that one started; no ride lasts 12 h, so the
# fixes of trips that ended longer ago are dropped (their times stay, for the overlap check).
TRACK_KEEP_MS = 12 * 3_600_000
TRACK_STEP_S = 15  # a kept track has at most one fix per this many seconds
FARE_KINDS = ("fare_inflation", "distance_mismatch")


def root_kinds(kinds: list[str]) -> tuple[list[str], list[str]]:
    """(root, secondary) alert kinds of a trip. The engine makes a fare or distance finding on a
    trip that a teleport or impossible-speed run displaced name it (evidence.related): one cause,
    counted once."""
    displaced = any(k in DISPLACING_KINDS for k in kinds)
    root = [k for k in kinds if not (displaced and k in FARE_KINDS)]
    return root, [k for k in kinds if k not in root]


@dataclass
class TripFact:
    trip_id: str
    city: str
    started_ts: int
    ts: int  # the trip's end (the verdict's ts)
    kinds: list[str]  # root alert kinds
    secondary: list[str]  # kinds that follow from a root kind on the same trip
    alert_ids: list[str]
    fare_ratio: float | None  # claimed fare / the fare of the GPS path
    distance_ratio: float | None  # claimed distance / GPS distance
    track: list[list[float]] | None = None  # [t_s, lat, lon], at most one fix per TRACK_STEP_S
    decision: str | None = None  # the latest decision on the trip: upheld | overturned
    decided_at: int | None = None
    # pattern -> {the other trip in it: overlap s or distance apart m} (tripguard.risk.patterns)
    patterns: dict[str, dict[str, float]] = field(default_factory=dict)
    # The verdict's (path, path_times_s) while the track is not built yet: building it costs more
    # than the rest of the fact, and only an overlap with another trip or the changelog record
    # needs it (fixes()). Not a field of the record.
    track_source: tuple[str, str] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_verdict(cls, v: Verdict) -> TripFact:
        root, secondary = root_kinds(list(v.kinds))
        fare = v.claimed_fare / v.expected_fare if v.claimed_fare is not None and v.expected_fare else None
        dist = (
            v.claimed_distance_m / v.gps_distance_m
            if v.claimed_distance_m is not None and v.gps_distance_m > 0
            else None
        )
        return cls(
            v.trip_id,
            v.city,
            v.started_ts if v.started_ts is not None else v.ts,
            v.ts,
            root,
            secondary,
            list(v.alert_ids),
            round(fare, 4) if fare else None,
            round(dist, 4) if dist else None,
            track_source=(v.path, v.path_times_s) if v.path_times_s else None,
        )

    def fixes(self) -> list[list[float]] | None:
        """The track, built from the verdict's path the first time it is asked for."""
        if self.track_source is not None:
            self.track = coarse_track(*self.track_source)
            self.track_source = None
        return self.track

    def drop_track(self) -> None:
        self.track = self.track_source = None

    def record(self) -> dict:
        """The fact as the changelog stores it: the fields in their order, with the track."""
        self.fixes()
        return {k: v for k, v in self.__dict__.items() if k != "track_source"}


def coarse_track(path: str, times_s: str | None) -> list[list[float]] | None:
    """The path's fixes with their times, thinned to one per TRACK_STEP_S; None when the
    verdict has no times (an older producer) or they do not match the path."""
    if not times_s:
        return None
    try:
        latlon = decode_polyline(path)
        times = decode_integers(times_s)
    except ValueError:
        return None
    if len(times) != len(latlon) or not times:
        return None
    keep, last = [0], times[0]
    for i, t in enumerate(times):
        if t - last >= TRACK_STEP_S:
            keep.append(i)
            last = t
    rows = np.round(latlon[keep], 5)
    return [[times[i], lat, lon] for i, (lat, lon) in zip(keep, rows.tolist())]


@dataclass
class DecisionFact:
    event_id: str
    trip_id: str
    decision: str
    decided_at: int


@dataclass
class DriverHistory:
    driver_id: str
    trips: list[TripFact] = field(default_factory=list)  # sorted by (ts, trip_id)
    decisions: list[DecisionFact] = field(default_factory=list)  # sorted by (decided_at, event_id)
    level: str = "low"  # the level of the last driver_risk event (low before any)
    newest_ts: int = -(2**62)  # the latest event time seen
    # trip_id -> its fact: every verdict and decision looks its trip up
    _by_id: dict[str, TripFact] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for t in self.trips:
            self._by_id.setdefault(t.trip_id, t)  # the first of the list, as a scan would find

    @property
    def city(self) -> str:
        return self.trips[-1].city if self.trips else "unknown"

    def trip(self, trip_id: str) -> TripFact | None:
        return self._by_id.get(trip_id)

    def has_decision(self, event_id: str) -> bool:
        return any(d.event_id == event_id for d in self.decisions)

    def add_trip(self, fact: TripFact) -> None:
        bisect.insort(self.trips, fact, key=lambda t: (t.ts, t.trip_id))
        self._by_id.setdefault(fact.trip_id, fact)
        self.newest_ts = max(self.newest_ts, fact.ts)

    def add_decision(self, d: Decision) -> None:
        fact = DecisionFact(d.event_id, d.trip_id, d.decision, d.decided_at)
        bisect.insort(self.decisions, fact, key=lambda x: (x.decided_at, x.event_id))
        trip = cast(TripFact, self.trip(d.trip_id))
        if trip.decided_at is None or (d.decided_at, d.event_id) >= (trip.decided_at, ""):
            trip.decision, trip.decided_at = d.decision, d.decided_at  # an appeal's decision replaces the first
        self.newest_ts = max(self.newest_ts, d.decided_at)

    def forget_before(self, now_ms: int) -> None:
        """Trips and decisions older than the longest window go, and the fixes of trips that
        can no longer overlap a new one. Both lists are sorted by time: what goes is a prefix."""
        old = bisect.bisect_right(self.trips, now_ms - WINDOW_MS, key=lambda t: t.ts)
        for t in self.trips[:old]:
            if self._by_id.get(t.trip_id) is t:
                del self._by_id[t.trip_id]
        del self.trips[:old]
        del self.decisions[: bisect.bisect_right(self.decisions, now_ms - WINDOW_MS, key=lambda d: d.decided_at)]
        for t in self.trips:
            if t.ts > now_ms - TRACK_KEEP_MS:
                break
            t.drop_track()  # and the path it would be built from

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "format": FORMAT,
                "driver_id": self.driver_id,
                "level": self.level,
                "newest_ts": self.newest_ts,
                "trips": [t.record() for t in self.trips],
                "decisions": [d.__dict__ for d in self.decisions],
            }
        )

    @classmethod
    def decode(cls, value: bytes) -> DriverHistory:
        d = orjson.loads(value)
        if d.get("format") != FORMAT:
            raise ValueError(f"driver history format {d.get('format')!r}, this version reads {FORMAT}")
        return cls(
            d["driver_id"],
            [TripFact(**t) for t in d["trips"]],
            [DecisionFact(**x) for x in d["decisions"]],
            d["level"],
            d["newest_ts"],
        )
