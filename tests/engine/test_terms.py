"""The engine keeps a trip's events as named tuples (tripguard/engine/terms.py): the same fields as
the contract's events (but the planned route, kept as the corridor's points), and the same JSON
for the checkpoint changelog."""

from __future__ import annotations

import numpy as np
import pytest

from tripguard.config.settings import Settings
from tripguard.contract import TripEnded, TripStarted
from tripguard.engine.batch import BatchBuilder
from tripguard.engine.core import Engine
from tripguard.engine.terms import EndTerms, StartTerms
from tripguard.geo import decode_polyline, encode_polyline, encode_polyline_array
from tripguard.io.codec import decode_pings, decode_trip_event, dumps
from tripguard.kernels.corridor import project_route
from tripguard.kernels.geo import local_latlon_np

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


# the planned route is kept as the corridor's points (Engine._route_view), not in the terms
NOT_KEPT = {"type", "planned_route"}


@pytest.mark.parametrize(("terms", "model"), [(StartTerms, TripStarted), (EndTerms, TripEnded)])
def test_the_terms_have_every_field_of_the_event(terms, model):
    assert terms._fields == tuple(name for name in model.model_fields if name not in NOT_KEPT)


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
    doc = event.model_dump(mode="json", exclude_none=True)
    doc.pop("planned_route", None)
    assert terms.to_json() == doc
    expected = event.model_copy(update={"planned_route": None}) if event.type == "trip_started" else event
    assert type(event).model_validate(terms.to_json()) == expected


def test_the_terms_read_as_the_event_does():
    event = decode_trip_event(dumps(STARTED))
    terms = StartTerms.of(event, "t-1", "d-1")
    assert (terms.pickup.lat, terms.pickup.lon, terms.dropoff.lat) == (41.15, -8.61, 41.16)
    assert (terms.quoted_fare, terms.surge) == (6.5, 1.2)
    # a driver_id that differs from the one the engine holds is the event's own
    assert StartTerms.of(event, "t-1", "d-other").driver_id == "d-1"


def _random_route(rng: np.random.Generator) -> np.ndarray:
    """A route of 2-200 points around a random origin (one in ten across the antimeridian), on the
    polyline's 1e-5 degree grid, as a decoded polyline gives it."""
    n = int(rng.integers(2, 200))
    lat0 = rng.uniform(-70.0, 70.0)
    lon0 = 179.99 if rng.random() < 0.1 else rng.uniform(-180.0, 180.0)
    lat = lat0 + np.cumsum(rng.normal(0.0, 0.002, n))
    lon = lon0 + np.cumsum(rng.normal(0.0, 0.002, n))
    lon = (lon + 180.0) % 360.0 - 180.0
    return decode_polyline(encode_polyline(np.column_stack([lat, lon])))


def test_a_route_comes_back_from_the_corridor_frame_as_its_own_polyline():
    rng = np.random.default_rng(7)
    for _ in range(2000):
        text = encode_polyline(_random_route(rng))
        lat0, lon0, cos0, x, y, _ = project_route(decode_polyline(text))
        lat, lon = local_latlon_np(x, y, lat0, lon0, cos0)
        assert encode_polyline_array(lat, lon) == text


@pytest.mark.parametrize("as_geojson", [False, True])
def test_the_verdict_carries_the_planned_route_it_was_given(as_geojson):
    route = _random_route(np.random.default_rng(3))
    route = np.column_stack([41.15 + (route[:, 0] - route[0, 0]), -8.61 + (route[:, 1] - route[0, 1])])
    text = encode_polyline(route)
    planned = {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in route]} if as_geojson else text
    builder = BatchBuilder()
    builder.add_trip_event(decode_trip_event(dumps({**STARTED, "planned_route": planned})))
    for i in range(5):
        builder.add_pings(
            [
                decode_pings(
                    dumps(
                        {
                            "trip_id": "t-1",
                            "driver_id": "d-1",
                            "ts": STARTED["ts"] + 15_000 * i + 1,
                            "lat": float(route[0, 0]),
                            "lon": float(route[0, 1]),
                        }
                    )
                )[0]
            ]
        )
    builder.add_trip_event(decode_trip_event(dumps({**ENDED, "ts": STARTED["ts"] + 80_000})))
    engine = Engine.from_settings(Settings(), clock=lambda: 0)
    verdicts = engine.process(builder.build(), now_ms=0).verdicts + engine.flush(now_ms=0).verdicts
    assert [v["planned_route"] for v in verdicts] == [text]
