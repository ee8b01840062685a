"""The engine keeps a trip's events as named tuples (tripguard/engine/terms.py): the same fields as
the contract's events, and the same JSON for the checkpoint changelog."""

from __future__ import annotations

import pytest

from tripguard.contract import TripEnded, TripStarted
from tripguard.engine.terms import EndTerms, StartTerms
from tripguard.io.codec import decode_trip_event, dumps

STARTED = {
    "type": "trip_started",
    "trip_id": "t-1",
    "driver_id": "d-1",
    "city": "porto",
    "ts": 1_700_000_000_000,
    "pickup": {"lat": 41.15, "lon": -8.61},
    "dropoff": {"lat": 41.16, "lon": -8.6},
    "planned_route": "_p~iF~ps|U_ulLnnqC_mqNvxq`@",
    "planned_distance_m": 2300.0,
    "planned_duration_s": 450.0,
    "quoted_fare": 6.5,
    "surge": 1.2,
    "product": "standard",
}
ENDED = {
    "type": "trip_ended",
    "trip_id": "t-1",
    "driver_id": "d-1",
    "ts": 1_700_000_900_000,
    "claimed_fare": 9.5,
    "currency": "EUR",
    "claimed_distance_m": 2500.0,
    "claimed_duration_s": 880.0,
    "tolls": 1.0,
}
GEOJSON = {"type": "LineString", "coordinates": [[-8.61, 41.15], [-8.6, 41.16]]}


@pytest.mark.parametrize(("terms", "model"), [(StartTerms, TripStarted), (EndTerms, TripEnded)])
def test_the_terms_have_every_field_of_the_event(terms, model):
    assert terms._fields == tuple(name for name in model.model_fields if name != "type")


@pytest.mark.parametrize(
    "doc",
    [
        STARTED,
        {**STARTED, "planned_route": GEOJSON},
        {k: v for k, v in STARTED.items() if k not in ("dropoff", "planned_route", "quoted_fare", "product")},
        ENDED,
        {k: v for k, v in ENDED.items() if k not in ("claimed_distance_m", "claimed_duration_s", "tolls")},
    ],
)
def test_the_terms_give_back_the_events_json(doc):
    event = decode_trip_event(dumps(doc))
    terms = (StartTerms if event.type == "trip_started" else EndTerms).of(event, "t-1", "d-1")
    assert terms.to_json() == event.model_dump(mode="json", exclude_none=True)
    assert type(event).model_validate(terms.to_json()) == event


def test_the_terms_read_as_the_event_does():
    event = decode_trip_event(dumps(STARTED))
    terms = StartTerms.of(event, "t-1", "d-1")
    assert (terms.pickup.lat, terms.pickup.lon, terms.dropoff.lat) == (41.15, -8.61, 41.16)
    assert (terms.quoted_fare, terms.surge, terms.planned_route) == (6.5, 1.2, STARTED["planned_route"])
    # a driver_id that differs from the one the engine holds is the event's own
    assert StartTerms.of(event, "t-1", "d-other").driver_id == "d-1"
