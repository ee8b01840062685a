"""Validate alerts, verdicts and trip details (contract v1) and store them idempotently.

Two feeds share this code: a replay output directory (`tripguard serve --ingest DIR`, files
alerts.jsonl and verdicts.jsonl, optional trip_details.jsonl) and the Kafka topics (review/kafka.py).
A bad record is rejected with the field and the rule, counted and reported, never fatal.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h3
from pydantic import ValidationError

from tripguard.contract import Alert, Verdict
from tripguard.errors import ContractError, InputError
from tripguard.geo import encode_polyline, route_latlon
from tripguard.io.codec import contract_error_from, loads
from tripguard.kernels.limits import MAX_ID_CHARS
from tripguard.review import text
from tripguard.review.store import records
from tripguard.review.store.db import opened, transaction

ALERTS_FILE = "alerts.jsonl"
VERDICTS_FILE = "verdicts.jsonl"
TRIP_DETAILS_FILE = "trip_details.jsonl"
MAX_CORRIDOR_CELLS = 50_000
BATCH_LINES = 1_000  # one transaction per this many lines: fast, and a crash loses no committed line


@dataclass
class IngestReport:
    alerts_seen: int = 0
    alerts_new: int = 0
    verdicts_seen: int = 0
    verdicts_new: int = 0
    details_new: int = 0
    rejected: int = 0
    rejections: list[str] = field(default_factory=list)  # the first few, "file:line: field: rule"

    def reject(self, where: str, exc: ContractError) -> None:
        self.rejected += 1
        if len(self.rejections) < 20:
            self.rejections.append(f"{where}: {exc}")

    def summary(self) -> str:
        text = (
            f"alerts: {self.alerts_new} new of {self.alerts_seen}; verdicts: {self.verdicts_new} new of "
            f"{self.verdicts_seen}; trip details added: {self.details_new}; rejected: {self.rejected}"
        )
        return "\n".join([text, *self.rejections])


def _object(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise ContractError("", "a record must be a JSON object")
    return value


IDS = ("alert_id", "trip_id", "driver_id")


def _validate(model: type[Alert] | type[Verdict], obj: Any) -> Any:
    """Contract v1 in strict mode: a number is a JSON number ("risk_score": "0.5" and "ts": "123"
    are errors, not guesses), an integer is not 3.0, a bool is not a number. Ids must also be
    text the API accepts (review/text.py), or the trip could be stored but never be disputed."""
    obj = _object(obj)
    try:
        record = model.model_validate(obj, strict=True)
    except ValidationError as exc:
        raise contract_error_from(exc) from None
    for name in IDS:
        if name in model.model_fields:
            try:
                text.identifier(getattr(record, name))
            except ValueError as exc:
                raise ContractError(name, str(exc)) from None
    return record


def validate_alert(obj: Any) -> Alert:
    return _validate(Alert, obj)


def validate_verdict(obj: Any) -> Verdict:
    return _validate(Verdict, obj)


def trip_detail_fields(obj: dict[str, Any]) -> tuple[str | None, list[str] | None]:
    """The optional `planned_route` (encoded polyline or GeoJSON LineString; stored as an
    encoded polyline) and `corridor_cells` (H3 cell ids, hex strings) of a verdict or a
    trip-detail record."""
    route = obj.get("planned_route")
    planned: str | None = None
    latlon = None
    if route is not None:
        try:
            latlon = route_latlon(route)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            raise ContractError("planned_route", f"not a usable route: {exc}") from None
        planned = route if isinstance(route, str) else encode_polyline(latlon)  # type: ignore[arg-type]
    cells = obj.get("corridor_cells")
    corridor: list[str] | None = None
    if cells is not None:
        if type(cells) is not list:
            raise ContractError("corridor_cells", "must be a list of H3 cell ids (hex strings)")
        if len(cells) > MAX_CORRIDOR_CELLS:
            raise ContractError("corridor_cells", f"{len(cells)} cells, the limit is {MAX_CORRIDOR_CELLS}")
        corridor = []
        for i, c in enumerate(cells):
            if type(c) is not str or not h3.is_valid_cell(c):
                raise ContractError(f"corridor_cells.{i}", f"not an H3 cell id: {c!r:.40}")
            corridor.append(c.lower())
    elif obj.get("corridor") is not None and latlon is not None:
        corridor = corridor_from_params(latlon, obj["corridor"])
    return planned, corridor


MAX_CORRIDOR_RES = 12
MAX_CORRIDOR_RING = 5


def corridor_from_params(latlon, params: Any) -> list[str]:
    """The engine's verdict names the corridor by `{h3_res, ring}`: its cells follow from the
    planned route exactly as the route-deviation detector built them."""
    from tripguard.detectors.route import build_corridor

    if type(params) is not dict:
        raise ContractError("corridor", "must be an object {h3_res, ring}")
    res, ring = params.get("h3_res"), params.get("ring")
    if type(res) is not int or not 0 <= res <= MAX_CORRIDOR_RES:
        raise ContractError("corridor.h3_res", f"must be an integer in [0, {MAX_CORRIDOR_RES}], got {res!r}")
    if type(ring) is not int or not 0 <= ring <= MAX_CORRIDOR_RING:
        raise ContractError("corridor.ring", f"must be an integer in [0, {MAX_CORRIDOR_RING}], got {ring!r}")
    cells = build_corridor(latlon, res, ring)
    if len(cells) > MAX_CORRIDOR_CELLS:
        raise ContractError("corridor", f"{len(cells)} cells, the limit is {MAX_CORRIDOR_CELLS}")
    return [h3.int_to_str(int(c)) for c in cells]


def ingest_alert(conn: sqlite3.Connection, obj: Any) -> bool:
    """Validate and store one alert. True when new. ContractError when invalid."""
    alert = validate_alert(obj)
    return records.put_alert(conn, alert, obj)


def ingest_verdict(conn: sqlite3.Connection, obj: Any) -> tuple[bool, bool]:
    """Validate and store one verdict and the trip detail it may carry.
    Returns (verdict was new, trip detail was added)."""
    verdict = validate_verdict(obj)
    planned, corridor = trip_detail_fields(obj)
    new = records.put_verdict(conn, verdict, obj)
    added = records.put_trip_detail(conn, verdict.trip_id, planned, corridor)
    return new, added


def ingest_trip_detail(conn: sqlite3.Connection, obj: Any) -> bool:
    obj = _object(obj)
    trip_id = obj.get("trip_id")
    if type(trip_id) is not str or not 0 < len(trip_id) <= MAX_ID_CHARS:
        raise ContractError("trip_id", f"required, a string of 1..{MAX_ID_CHARS} characters")
    planned, corridor = trip_detail_fields(obj)
    return records.put_trip_detail(conn, trip_id, planned, corridor)


def _lines(path: Path):
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    with fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield number, line


def _ingest_file(conn: sqlite3.Connection, path: Path, kind: str, report: IngestReport) -> None:
    pending = 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        for number, line in _lines(path):
            try:
                obj = loads(line)
                if kind == "alert":
                    report.alerts_seen += 1
                    report.alerts_new += ingest_alert(conn, obj)
                elif kind == "verdict":
                    report.verdicts_seen += 1
                    new, added = ingest_verdict(conn, obj)
                    report.verdicts_new += new
                    report.details_new += added
                else:
                    report.details_new += ingest_trip_detail(conn, obj)
            except ContractError as exc:
                report.reject(f"{path.name}:{number}", exc)
            pending += 1
            if pending >= BATCH_LINES:
                conn.execute("COMMIT")
                conn.execute("BEGIN IMMEDIATE")
                pending = 0
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def ingest_dir(db_path: Path | str, directory: Path | str) -> IngestReport:
    """Ingest a replay output directory; running it twice changes nothing the second time."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory (expected the output of `tripguard replay`)")
    files = [
        (directory / ALERTS_FILE, "alert"),
        (directory / VERDICTS_FILE, "verdict"),
        (directory / TRIP_DETAILS_FILE, "detail"),
    ]
    if not any(p.exists() for p, _ in files[:2]):
        raise InputError(f"{directory}: neither {ALERTS_FILE} nor {VERDICTS_FILE} is there")
    report = IngestReport()
    with opened(db_path) as conn:
        for path, kind in files:
            if path.exists():
                _ingest_file(conn, path, kind, report)
    return report


def ingest_records(db_path: Path | str, kind: str, objects: list[Any]) -> IngestReport:
    """Ingest already-decoded records of one kind in one transaction (used by the Kafka feed)."""
    report = IngestReport()
    with opened(db_path) as conn, transaction(conn):
        for i, obj in enumerate(objects):
            try:
                if kind == "alert":
                    report.alerts_seen += 1
                    report.alerts_new += ingest_alert(conn, obj)
                else:
                    report.verdicts_seen += 1
                    new, added = ingest_verdict(conn, obj)
                    report.verdicts_new += new
                    report.details_new += added
            except ContractError as exc:
                report.reject(f"[{i}]", exc)
    return report
