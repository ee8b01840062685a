"""Event contract v1 as typed models (../DESIGN.md, "Event contract v1").

These models are the single definition of the contract: the JSON Schema files under
data/schemas/ are generated from them (`tripguard schemas --write`) and a test fails when
the checked-in files drift. The streaming hot path does not build these models per ping --
`tripguard.io.codec` validates pings with the same rules, and a test checks the two agree.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tripguard.geo import route_latlon, route_length_m
from tripguard.kernels.limits import MAX_ID_CHARS, MAX_TS_MS

if TYPE_CHECKING:
    import numpy as np

CONTRACT_VERSION = 1

TripId = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
DriverId = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
# Integer milliseconds since the Unix epoch, UTC (MAX_TS_MS: 2100-01-01, so that seconds or
# microseconds are rejected instead of silently misread).
TsMs = Annotated[int, Field(ge=0, le=MAX_TS_MS, strict=True)]
Lat = Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
Lon = Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False)]

ALERT_KINDS = (
    "teleport",
    "impossible_speed",
    "route_deviation",
    "fare_inflation",
    "distance_mismatch",
    "gps_spoofing",
)
"""Fixed vocabulary. New kinds are appended, never renamed."""

AlertKind = Literal[ALERT_KINDS]  # type: ignore[valid-type]
Severity = Literal["low", "medium", "high"]
PROVIDERS = ("gps", "network", "fused")
MAX_ROUTE_M = 1_000_000.0  # a planned route longer than this is not a ride (and would be costly to index)


class _Strict(BaseModel):
    # Unknown fields are ignored (forward compatibility for producers), types are strict
    # enough that "ts": "123" or "lat": "41.1" is an error rather than a guess.
    model_config = ConfigDict(extra="ignore", frozen=True)


class PingRow(NamedTuple):
    """A validated ping as plain values; optional numbers are NaN when absent. A named tuple:
    one is built per ping on the hot path, and a tuple costs a third of a frozen dataclass."""

    trip_id: str
    driver_id: str
    ts: int
    lat: float
    lon: float
    accuracy_m: float
    speed_mps: float
    bearing_deg: float
    provider: int
    mock: int


class Ping(_Strict):
    """One location fix. Topic tripguard.pings, key trip_id."""

    trip_id: TripId
    driver_id: DriverId
    ts: TsMs
    lat: Lat
    lon: Lon
    accuracy_m: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = Field(
        None, description="Device-reported horizontal accuracy, 68 % radius, metres."
    )
    speed_mps: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = Field(
        None, description="Device-reported speed, m/s."
    )
    bearing_deg: Annotated[float, Field(ge=0.0, lt=360.0, allow_inf_nan=False)] | None = None
    provider: Literal["gps", "network", "fused"] | None = None
    mock: Annotated[bool, Field(strict=True)] | None = Field(
        None, description="The OS reported a mock-location provider."
    )

    @field_validator("lat", "lon", "accuracy_m", "speed_mps", "bearing_deg", mode="before")
    @classmethod
    def _number_not_bool_or_str(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError("must be a number")
        return v


class LatLon(_Strict):
    lat: Lat
    lon: Lon

    @field_validator("lat", "lon", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError("must be a number")
        return v


class GeoJSONLineString(_Strict):
    type: Literal["LineString"]
    coordinates: Annotated[list[Annotated[list[float], Field(min_length=2, max_length=3)]], Field(min_length=2)]


Money = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class TripStarted(_Strict):
    type: Literal["trip_started"]
    trip_id: TripId
    driver_id: DriverId
    city: Annotated[str, Field(min_length=1, max_length=64)]
    ts: TsMs
    pickup: LatLon
    dropoff: LatLon | None = None
    planned_route: Annotated[str, Field(min_length=1, max_length=200_000)] | GeoJSONLineString | None = Field(
        None, description="Google encoded polyline (precision 5) or a GeoJSON LineString."
    )
    planned_distance_m: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None
    planned_duration_s: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None
    quoted_fare: Money | None = None
    surge: Annotated[float, Field(gt=0.0, le=20.0, allow_inf_nan=False)] = 1.0
    product: Annotated[str, Field(max_length=64)] | None = None

    @field_validator("planned_route")
    @classmethod
    def _route_decodes(cls, v: Any) -> Any:
        if v is not None:
            try:
                route = route_latlon(v)
            except ValueError as exc:
                raise ValueError(f"not a usable route: {exc}") from None
            length_m = route_length_m(cast("np.ndarray", route))
            if length_m > MAX_ROUTE_M:
                raise ValueError(f"route is {length_m / 1000:,.0f} km long, the limit is {MAX_ROUTE_M / 1000:,.0f} km")
        return v


class TripEnded(_Strict):
    type: Literal["trip_ended"]
    trip_id: TripId
    driver_id: DriverId
    ts: TsMs
    claimed_fare: Money
    currency: Annotated[str, Field(min_length=3, max_length=3, pattern="^[A-Z]{3}$")]
    claimed_distance_m: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None
    claimed_duration_s: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None
    tolls: Money | None = None


TripEvent = Annotated[TripStarted | TripEnded, Field(discriminator="type")]


class DetectorInfo(_Strict):
    name: str
    version: str
    params: dict[str, Any]


class Alert(_Strict):
    """Topic tripguard.alerts, key trip_id."""

    alert_id: str = Field(description="Deterministic: the same input gives the same id.")
    trip_id: TripId
    driver_id: DriverId
    city: str
    kind: AlertKind
    severity: Severity
    score: Annotated[float, Field(ge=0.0, le=1.0)]
    ts: int = Field(description="Event time of the evidence, ms.")
    detected_at: int = Field(description="Wall clock when the alert was raised, ms.")
    evidence: dict[str, Any] = Field(description="Kind-specific: points, distances, speeds, thresholds used.")
    detector: DetectorInfo


class DroppedCounts(_Strict):
    late: int = Field(0, description="ts older than or equal to the trip's last fix, or after the trip closed.")
    duplicate: int = Field(0, description="Same ts and position as a fix already seen.")
    invalid: int = Field(0, description="(0, 0) fixes, and fixes outside the trip's time.")
    spike: int = Field(0, description="Multipath spikes: off the track and back within a few fixes.")
    coarse: int = Field(0, description="Accuracy too coarse to measure movement (network fixes).")


class Verdict(_Strict):
    """Topic tripguard.verdicts, key trip_id, one per trip at trip end."""

    trip_id: TripId
    driver_id: DriverId
    city: str
    ts: int = Field(description="Event time of the trip's end, ms.")
    risk_score: Annotated[float, Field(ge=0.0, le=1.0)]
    kinds: list[AlertKind]
    alert_ids: list[str]
    gps_distance_m: float
    gps_duration_s: float
    planned_distance_m: float | None
    expected_fare: float | None = Field(description="Metered fare on the GPS path (with the gap allowance).")
    expected_fare_planned: float | None = Field(None, description="Metered fare on the planned route.")
    detour_extra_fare: float | None = Field(None, description="expected_fare - expected_fare_planned.")
    claimed_fare: float | None
    currency: str | None
    path: str = Field(description="Accepted fixes as a Google encoded polyline, precision 5.")
    pings_used: int
    pings_dropped: DroppedCounts
    ended_by: Literal["trip_ended", "idle_timeout", "end_of_input"]
    notes: list[str] = Field(default_factory=list, description="Checks that were skipped, and why.")
    planned_route: str | None = Field(None, description="The planned route as an encoded polyline, precision 5.")
    corridor: dict[str, int] | None = Field(
        None, description="{h3_res, ring} of the route's corridor; its cells follow from the route."
    )
    # v1 additions for the driver-risk stage (absent in older verdicts)
    started_ts: int | None = Field(
        None, description="Event time the trip started, ms: its trip_started, else its first accepted fix."
    )
    path_times_s: str | None = Field(
        None,
        description="Times of the path's fixes in whole seconds since the Unix epoch, one per fix of `path`, "
        "encoded like a one-coordinate polyline (the first value, then differences; tripguard.geo.decode_integers).",
    )
    claimed_distance_m: float | None = Field(None, description="The trip_ended's claimed distance, when it gave one.")


class Decision(_Strict):
    """Topic tripguard.decisions, key trip_id: a reviewer's decision on a disputed trip, published by
    the review service (docs/review.md). Consumers dedupe on event_id."""

    event_id: str = Field(description="Deterministic: a repeat of the same decision carries the same id.")
    dispute_id: int
    trip_id: TripId
    driver_id: DriverId
    city: str | None = None
    decision: Literal["upheld", "overturned"] = Field(
        description="upheld: the trip's alerts stand; overturned: they were wrong."
    )
    note: str | None = None
    decided_at: TsMs = Field(description="When the reviewer decided, ms: the decision's event time.")
    decided_by: int | None = None
    disputed_at: int | None = None
    kinds: list[AlertKind] = Field(default_factory=list, description="Alert kinds of the trip when it was decided.")
    alert_ids: list[str] = Field(default_factory=list, description="The alerts the decision is about.")


RiskLevel = Literal["low", "medium", "high"]
RISK_WINDOWS = ("1h", "24h", "30d")
RiskPattern = Literal[
    "overlapping_trips", "two_places_at_once", "repeated_fare_inflation", "repeated_distance_inflation"
]


class RiskWindow(_Strict):
    trips: int = Field(description="Trips that ended in the window.")
    alerts: dict[AlertKind, int] = Field(
        description="Per alert kind, trips with an alert of it (a trip counts once per kind)."
    )
    patterns: dict[RiskPattern, int] = Field(default_factory=dict, description="Per pattern, trips in it.")
    upheld: int = Field(description="Decisions in the window that upheld a trip's alerts.")
    overturned: int = Field(description="Decisions in the window that overturned them.")


class RiskKind(_Strict):
    kind: AlertKind | RiskPattern
    trips: int = Field(description="Trips of the 30-day window that show it.")
    precision: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        description="P(fraud) of an undecided trip showing it, in the driver's city."
    )


class RiskDecision(_Strict):
    event_id: str
    trip_id: TripId
    decision: Literal["upheld", "overturned"]
    decided_at: int


class RiskPatternFinding(_Strict):
    pattern: RiskPattern
    trip_ids: list[str]
    detail: dict[str, Any] = Field(
        description="Pattern-specific: overlap seconds, distances, counts, the probability for an honest driver."
    )


class RiskEvidence(_Strict):
    trip_ids: list[str] = Field(description="Trips that carry the score, most weight first (at most 20).")
    kinds: list[RiskKind] = Field(description="Alert kinds and patterns of the 30-day window, with their weight.")
    decisions: list[RiskDecision] = Field(description="Reviewers' decisions of the 30-day window, newest first.")
    patterns: list[RiskPatternFinding] = Field(default_factory=list, description="What no single trip shows.")


class RiskModel(_Strict):
    name: str
    version: str
    params: dict[str, Any]
    trips_weighted: float = Field(description="Trips of the 30-day window, each weighted by its age's decay.")
    fraud_weighted: float = Field(
        description="The same trips weighted by P(fraud): 1 upheld, 0 overturned, else "
        "from their alert kinds and patterns."
    )
    rate_mean: float = Field(description="Posterior mean of the driver's fraud rate per trip.")


class DriverRisk(_Strict):
    """Topic tripguard.driver-risk, key driver_id: emitted when a driver's risk level changes."""

    event_id: str = Field(description="Deterministic: the same input gives the same id.")
    driver_id: DriverId
    city: str
    score: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        description="P(the driver's fraud rate per trip exceeds the city's reference rate), given the evidence."
    )
    level: RiskLevel
    previous_level: RiskLevel
    ts: int = Field(description="Event time of the trip end or decision that changed the level, ms.")
    trigger: dict[str, str] = Field(description="{type: verdict|decision, id: trip_id or decision event_id}.")
    windows: dict[Literal["1h", "24h", "30d"], RiskWindow]
    evidence: RiskEvidence
    model: RiskModel


@functools.cache
def _field_names(model: type[BaseModel]) -> tuple[tuple[str, ...], frozenset[str], frozenset[str]]:
    fields = model.model_fields
    return tuple(fields), frozenset(fields), frozenset(n for n, f in fields.items() if f.is_required())


def record(model: type[BaseModel], **values: Any) -> dict[str, Any]:
    """An output of the contract (an Alert, a Verdict, their parts) as the plain dict its consumers
    read, keyed and ordered by the model's own fields: a field the model does not have, or a
    required one left out, is a TypeError here, so the engine's outputs cannot drift from the
    contract. The values are not validated per output (pydantic cost the engine 5-8 % of its
    time at 10k live trips, measured); tests/test_outputs.py validates a replay's outputs against
    the models."""
    names, known, required = _field_names(model)
    if tuple(values) == names:  # every field, in the model's order: as the engine passes them
        return values
    given = values.keys()
    if not given <= known or not required <= given:
        raise TypeError(
            f"{model.__name__}: unknown fields {sorted(given - known)}, missing fields {sorted(required - given)}"
        )
    return {n: values[n] for n in names if n in values}


SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "ping": Ping,
    "trip_started": TripStarted,
    "trip_ended": TripEnded,
    "alert": Alert,
    "verdict": Verdict,
    "decision": Decision,
    "driver_risk": DriverRisk,
}
