"""Input files for replay and produce: JSONL, CSV or Parquet, merged on ts.

JSONL: one message value per line (a ping object or an array of pings of one trip; a trip event).
CSV / Parquet: flat columns with the contract's names; nested fields are flattened
(pickup_lat, pickup_lon, dropoff_lat, dropoff_lon). Empty cells are absent fields.

Each message keeps its raw form (bytes for JSONL) so that a rejected one can be dead-lettered
exactly as it came.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import orjson
from aiokafka.partitioner import murmur2

from tripguard.errors import InputError
from tripguard.kernels.limits import MAX_TS_MS

if TYPE_CHECKING:

    class _Keyed(Protocol):  # what merge_on_ts reads: a Message, or replay's Checked
        @property
        def key_ts(self) -> int: ...

    _K = TypeVar("_K", bound=_Keyed)

PINGS, TRIPS = "pings", "trips"
NESTED = ("pickup", "dropoff")
ID_COLUMNS = ("trip_id", "driver_id", "currency", "city", "type", "provider", "product", "planned_route")


@dataclass(frozen=True, slots=True)
class Message:
    source: str  # PINGS or TRIPS
    position: int  # line (JSONL, 1-based) or row (CSV/Parquet, 1-based)
    raw: bytes  # the message value as it came (JSON for CSV/Parquet rows)
    value: Any  # the decoded JSON value, or None when it does not decode
    error: str | None  # why it does not decode
    key_ts: int  # merge key


def input_format(path: Path) -> str:
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise InputError(f"{path}: unknown input format {suffix or '(no extension)'}: use .jsonl, .csv or .parquet")


def check_readable(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable")


def _ts_of(value: Any) -> int | None:
    """The merge key of a message; None when its ts cannot be right (then the previous message's
    ts keeps it in place): a microsecond ts must not hold back the whole file behind it."""
    obj = value[0] if isinstance(value, list) and value else value
    if isinstance(obj, dict):
        ts = obj.get("ts")
        if type(ts) is int and 0 <= ts <= MAX_TS_MS:
            return ts
    return None


def _jsonl(path: Path, source: str) -> Iterator[Message]:
    last_ts = -(2**62)
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None
    with fh:
        for lineno, line in enumerate(fh, 1):
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                continue
            try:
                value, error = orjson.loads(raw), None
            except orjson.JSONDecodeError as exc:
                value, error = None, f"not valid UTF-8 JSON: {exc}"
            ts = _ts_of(value)
            if ts is not None:
                last_ts = ts
            yield Message(source, lineno, raw, value, error, last_ts if ts is None else ts)


def partition_of(key: bytes, n_partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2 of the key bytes, as the Java client and
    aiokafka) gives a keyed message: produce keys by trip_id, so replay --workers splits as a
    consumer group of workers would."""
    return (murmur2(key) & 0x7FFFFFFF) % n_partitions


def unflatten(row: dict[str, Any]) -> dict[str, Any]:
    """A flat CSV/Parquet row as a contract object: empty cells dropped, pickup_lat -> pickup.lat."""
    obj: dict[str, Any] = {}
    for key, value in row.items():
        if value is None or (isinstance(value, float) and value != value):
            continue
        for prefix in NESTED:
            if key.startswith(prefix + "_") and key[len(prefix) + 1 :] in ("lat", "lon"):
                obj.setdefault(prefix, {})[key[len(prefix) + 1 :]] = value
                break
        else:
            obj[key] = value
    return obj


def _table(path: Path, fmt: str, source: str) -> Iterator[Message]:
    import polars as pl

    try:
        if fmt == "csv":
            header = pl.read_csv(path, n_rows=0).columns
            frame = pl.read_csv(
                path, schema_overrides={c: pl.Utf8 for c in header if c in ID_COLUMNS}, infer_schema_length=100_000
            )
        else:
            frame = pl.read_parquet(path)
    except Exception as exc:  # polars raises many kinds; all mean "cannot read this file"
        raise InputError(f"{path}: cannot read {fmt}: {str(exc).splitlines()[0]}") from None
    last_ts = -(2**62)
    for i, row in enumerate(frame.iter_rows(named=True), 1):
        obj = unflatten(row)
        raw = orjson.dumps(obj)
        ts = _ts_of(obj)
        if ts is not None:
            last_ts = ts
        yield Message(source, i, raw, obj, None, last_ts if ts is None else ts)


def read_messages(path: Path | str, source: str) -> Iterator[Message]:
    path = Path(path)
    check_readable(path)
    fmt = input_format(path)
    if fmt == "jsonl":
        return _jsonl(path, source)
    return _table(path, fmt, source)


def merge_on_ts(pings: Iterator[_K], trips: Iterator[_K]) -> Iterator[_K]:
    """Two-way merge on ts that keeps each input's own order: a ping that sits late in its file
    stays late. On equal ts the trip event goes first (a trip_started precedes its first ping)."""
    keyed = (
        ((m.key_ts, 1, m) for m in pings),
        ((m.key_ts, 0, m) for m in trips),
    )
    for _, _, message in heapq.merge(*keyed, key=lambda x: (x[0], x[1])):
        yield message
