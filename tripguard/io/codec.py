"""orjson codec for event contract v1.

Decoding a ping message is the hot path of the worker, so pings are validated here by hand,
with exactly the rules of `tripguard.contract.Ping` (tests/test_contract.py checks the two agree on
generated input). Trip events are rare and go through the pydantic models. Every rejection is a
`ContractError` naming the field (`[3].lat` for the fourth ping of an array) and the rule.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from tripguard.contract import PROVIDERS, PingRow, TripEnded, TripEvent, TripStarted
from tripguard.errors import ContractError
from tripguard.kernels.limits import MAX_ID_CHARS, MAX_MESSAGE_BYTES, MAX_PINGS_PER_MESSAGE, MAX_TS_MS

PROVIDER_CODE = {None: 0, "gps": 1, "network": 2, "fused": 3}
"""Provider as a small integer for the columnar batch (0 = not reported)."""
MOCK_UNKNOWN, MOCK_FALSE, MOCK_TRUE = -1, 0, 1

NAN = float("nan")


def loads(value: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON, turning every parser failure into a ContractError."""
    if value is None:
        raise ContractError("", "empty message (null value)")
    if len(value) > MAX_MESSAGE_BYTES:
        raise ContractError("", f"message is {len(value)} bytes, the limit is {MAX_MESSAGE_BYTES}")
    if len(value) == 0:
        raise ContractError("", "empty message")
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise ContractError("", f"not valid UTF-8 JSON: {exc}") from None


def _id(obj: dict, name: str, where: str) -> str:
    v = obj.get(name)
    if v is None:
        raise ContractError(where + name, "required")
    if type(v) is not str:
        raise ContractError(where + name, f"must be a string, got {type(v).__name__}")
    if not 0 < len(v) <= MAX_ID_CHARS:
        raise ContractError(where + name, f"must be 1..{MAX_ID_CHARS} characters, got {len(v)}")
    return v


def _number(obj: dict, name: str, where: str, lo: float, hi: float, hi_open: bool = False) -> float:
    """A required finite number in [lo, hi] (or [lo, hi) when hi_open)."""
    v = obj.get(name)
    if v is None:
        raise ContractError(where + name, "required")
    return _check_number(v, where + name, lo, hi, hi_open)


def _check_number(v: Any, field: str, lo: float, hi: float, hi_open: bool = False) -> float:
    t = type(v)
    if t is not float and t is not int:  # bool is a subclass of int: `type` keeps it out
        raise ContractError(field, f"must be a number, got {t.__name__}")
    v = float(v)
    if not math.isfinite(v):
        raise ContractError(field, "must be finite")
    if v < lo or (v >= hi if hi_open else v > hi):
        raise ContractError(field, f"must be in [{lo:g}, {hi:g}{')' if hi_open else ']'}, got {v:g}")
    return v


def _optional_number(obj: dict, name: str, where: str, lo: float, hi: float, hi_open: bool = False) -> float:
    v = obj.get(name)
    if v is None:
        return NAN
    return _check_number(v, where + name, lo, hi, hi_open)


_INF = math.inf


def ping_from_obj(obj: Any, where: str = "") -> PingRow:
    """Validate one decoded ping object.

    The common case -- a well-formed ping -- is accepted by one chained test (NaN fails every
    comparison, so the ranges also reject NaN and the infinities). Anything it does not accept
    goes through `checked_ping_from_obj`, which names the field and the rule broken; the two
    accept exactly the same pings (tests/test_contract.py)."""
    if type(obj) is dict:
        g = obj.get
        trip_id, driver_id, ts, lat, lon = g("trip_id"), g("driver_id"), g("ts"), g("lat"), g("lon")
        acc, speed, bearing, provider, mock = (
            g("accuracy_m"),
            g("speed_mps"),
            g("bearing_deg"),
            g("provider"),
            g("mock"),
        )
        if (
            type(trip_id) is str
            and 0 < len(trip_id) <= MAX_ID_CHARS
            and type(driver_id) is str
            and 0 < len(driver_id) <= MAX_ID_CHARS
            and type(ts) is int
            and 0 <= ts <= MAX_TS_MS
            and (type(lat) is float or type(lat) is int)
            and -90.0 <= lat <= 90.0
            and (type(lon) is float or type(lon) is int)
            and -180.0 <= lon <= 180.0
            and (acc is None or (type(acc) is float or type(acc) is int) and 0.0 <= acc < _INF)
            and (speed is None or (type(speed) is float or type(speed) is int) and 0.0 <= speed < _INF)
            and (bearing is None or (type(bearing) is float or type(bearing) is int) and 0.0 <= bearing < 360.0)
            and (provider is None or type(provider) is str and provider in PROVIDER_CODE)
            and (mock is None or type(mock) is bool)
        ):
            return PingRow(
                trip_id,
                driver_id,
                ts,
                float(lat),
                float(lon),
                NAN if acc is None else float(acc),
                NAN if speed is None else float(speed),
                NAN if bearing is None else float(bearing),
                PROVIDER_CODE[provider],
                MOCK_UNKNOWN if mock is None else int(mock),
            )
    return checked_ping_from_obj(obj, where)


def checked_ping_from_obj(obj: Any, where: str = "") -> PingRow:
    """Validate one decoded ping object field by field; a ContractError names the first broken rule."""
    if type(obj) is not dict:
        raise ContractError(where.rstrip(".") or "", f"a ping must be a JSON object, got {_json_type(obj)}")
    trip_id = _id(obj, "trip_id", where)
    driver_id = _id(obj, "driver_id", where)
    ts = obj.get("ts")
    if ts is None:
        raise ContractError(where + "ts", "required")
    if type(ts) is not int:
        raise ContractError(where + "ts", f"must be an integer (ms since the Unix epoch), got {_json_type(ts)}")
    if not 0 <= ts <= MAX_TS_MS:
        raise ContractError(where + "ts", f"must be milliseconds in [0, {MAX_TS_MS}], got {ts}")
    lat = _number(obj, "lat", where, -90.0, 90.0)
    lon = _number(obj, "lon", where, -180.0, 180.0)
    acc = _optional_number(obj, "accuracy_m", where, 0.0, math.inf)
    speed = _optional_number(obj, "speed_mps", where, 0.0, math.inf)
    bearing = _optional_number(obj, "bearing_deg", where, 0.0, 360.0, hi_open=True)
    provider = obj.get("provider")
    if provider is not None and provider not in PROVIDERS:
        raise ContractError(where + "provider", f"must be one of {', '.join(PROVIDERS)}, got {provider!r}")
    mock = obj.get("mock")
    if mock is not None and type(mock) is not bool:
        raise ContractError(where + "mock", f"must be true or false, got {_json_type(mock)}")
    return PingRow(
        trip_id,
        driver_id,
        ts,
        lat,
        lon,
        acc,
        speed,
        bearing,
        PROVIDER_CODE[provider],
        MOCK_UNKNOWN if mock is None else int(mock),
    )


def decode_pings(value: bytes | str) -> list[PingRow]:
    """Decode one message of topic tripguard.pings: a ping object or a non-empty array of
    pings of one trip (an app's location batch). The message is atomic: one bad element
    rejects it whole, so a dead-lettered message can be fixed and replayed as it was."""
    return pings_from_value(loads(value))


def pings_from_value(doc: Any) -> list[PingRow]:
    """decode_pings for an already parsed JSON value."""
    if type(doc) is dict:
        return [ping_from_obj(doc)]
    if type(doc) is not list:
        raise ContractError("", f"a ping message must be an object or an array of objects, got {_json_type(doc)}")
    if not doc:
        raise ContractError("", "empty array: a location batch needs at least one ping")
    if len(doc) > MAX_PINGS_PER_MESSAGE:
        raise ContractError("", f"{len(doc)} pings in one message, the limit is {MAX_PINGS_PER_MESSAGE}")
    rows = [ping_from_obj(obj, f"[{i}].") for i, obj in enumerate(doc)]
    first = rows[0]
    for i, row in enumerate(rows):
        if row.trip_id != first.trip_id:
            raise ContractError(f"[{i}].trip_id", f"one message carries one trip: {row.trip_id!r} != {first.trip_id!r}")
        if row.driver_id != first.driver_id:
            raise ContractError(
                f"[{i}].driver_id", f"one trip has one driver: {row.driver_id!r} != {first.driver_id!r}"
            )
    return rows


_TRIP_EVENT = TypeAdapter(TripEvent)


def trip_event_from_obj(obj: Any) -> TripStarted | TripEnded:
    if type(obj) is not dict:
        raise ContractError("", f"a trip event must be a JSON object, got {_json_type(obj)}")
    kind = obj.get("type")
    if kind not in ("trip_started", "trip_ended"):
        raise ContractError("type", f"must be trip_started or trip_ended, got {kind!r}")
    try:
        return _TRIP_EVENT.validate_python(obj)
    except ValidationError as exc:
        raise contract_error_from(exc, skip_first=True) from None


def decode_trip_event(value: bytes | str) -> TripStarted | TripEnded:
    """Decode one message of topic tripguard.trips."""
    return trip_event_from_obj(loads(value))


def contract_error_from(exc: ValidationError, skip_first: bool = False) -> ContractError:
    """The first pydantic error as a ContractError; the others are summarised in the rule."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    loc = list(first["loc"])
    if skip_first and loc:  # the discriminated union puts the tag first: ('trip_started', 'ts')
        loc = loc[1:]
    field = ".".join(str(p) for p in loc)
    rule = first["msg"]
    if len(errors) > 1:
        rule += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return ContractError(field, rule)


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def dumps(obj: Any) -> bytes:
    """Encode an outgoing event (alerts, verdicts, decisions)."""
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)
