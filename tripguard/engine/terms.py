"""What the engine keeps of a trip's trip_started and trip_ended until the trip closes: the
events' values, without the validated models around them.

A pydantic model keeps a dict of its fields and a set of the fields given, and the pickup is a
model of its own: a trip_started costs ~2 KB held, more than everything else the engine keeps of a
live trip together (benchmarks/bench_engine.py counts it). These named tuples hold the same values
under the same names (code that reads `started.quoted_fare` or `started.pickup.lat` reads either)
in a few hundred bytes, and give back the event's JSON for the checkpoint changelog.

The planned route is not among them: once the trip's corridor is built, the route's points are in
the corridor arena (tripguard.detectors.route.Corridors), and the verdict encodes them again
(Engine._route_view); kept as text too, a route would be held twice."""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

from tripguard.contract import LatLon, TripEnded, TripStarted

_NO_SURGE = 1.0


class Point(NamedTuple):
    lat: float
    lon: float


class StartTerms(NamedTuple):
    """A trip_started's fields (all but `type` and `planned_route`), in its order."""

    trip_id: str
    driver_id: str
    city: str
    ts: int
    pickup: Point
    dropoff: Point | None
    planned_distance_m: float | None
    planned_duration_s: float | None
    quoted_fare: float | None
    surge: float
    product: str | None

    @classmethod
    def of(cls, event: TripStarted, trip_id: str, driver_id: str) -> StartTerms:
        """trip_id and driver_id: strings equal to the event's that the engine holds already.
        (Field by field, not through dict(event): once per trip, and 1 us instead of 7.)"""
        e = event
        return cls(
            trip_id,
            driver_id if driver_id == e.driver_id else e.driver_id,
            sys.intern(e.city),  # a few cities, not one string per trip
            e.ts,
            Point(e.pickup.lat, e.pickup.lon),
            _point(e.dropoff),
            e.planned_distance_m,
            e.planned_duration_s,
            e.quoted_fare,
            _NO_SURGE if e.surge == _NO_SURGE else e.surge,  # one float for the unsurged many, not one each
            e.product,
        )

    def to_json(self) -> dict[str, Any]:
        """The event as TripStarted.model_dump(mode="json", exclude_none=True) gives it, without
        its planned_route."""
        return _json("trip_started", self)


class EndTerms(NamedTuple):
    """A trip_ended's fields (all but `type`), in its order."""

    trip_id: str
    driver_id: str
    ts: int
    claimed_fare: float
    currency: str
    claimed_distance_m: float | None
    claimed_duration_s: float | None
    tolls: float | None

    @classmethod
    def of(cls, event: TripEnded, trip_id: str, driver_id: str) -> EndTerms:
        e = event
        return cls(
            trip_id,
            driver_id if driver_id == e.driver_id else e.driver_id,
            e.ts,
            e.claimed_fare,
            sys.intern(e.currency),
            e.claimed_distance_m,
            e.claimed_duration_s,
            e.tolls,
        )

    def to_json(self) -> dict[str, Any]:
        """The event as TripEnded.model_dump(mode="json", exclude_none=True) gives it."""
        return _json("trip_ended", self)


def _point(p: LatLon | None) -> Point | None:
    return None if p is None else Point(p.lat, p.lon)


def _json(kind: str, terms: StartTerms | EndTerms) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": kind}
    for name, v in zip(terms._fields, terms):
        if isinstance(v, Point):
            doc[name] = {"lat": v.lat, "lon": v.lon}
        elif v is not None:
            doc[name] = v
    return doc
