"""Historical trip records for `tripguard fit-fare`, in three layouts detected by their columns.

- NYC TLC yellow taxi (trip_distance in miles, tpep_pickup/dropoff_datetime, fare_amount, ...):
  the target is fare_amount, the metered fare (no extra, MTA tax, surcharge, tip or tolls).
  Only RateCodeID 1 (standard metered rate) is kept: JFK flat fare (2), Newark (3),
  Nassau/Westchester (4), negotiated (5) and group rides (6) are not priced by the meter.
- Chicago taxi (trip_miles, trip_seconds, fare).
- tripguard's own verdicts.jsonl (gps_distance_m, gps_duration_s, claimed_fare[, city, currency]).

Every reader returns the same columns -- row_key, distance_m, duration_s, fare -- and a CleanReport
that says how many rows were dropped and why; nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from tripguard.errors import InputError

MILE_M = 1609.344
# Above this a taxi trip's average speed is a broken record (a city taxi does not average 120 km/h).
MAX_SPEED_KMH = 120.0
# Below this over a whole trip the meter was left running or the distance is missing.
MIN_SPEED_KMH = 3.0
MAX_DURATION_S = 3 * 3600.0

NYC_COLUMNS = {"trip_distance", "tpep_pickup_datetime", "tpep_dropoff_datetime", "fare_amount"}
CHICAGO_COLUMNS = {"trip_miles", "trip_seconds", "fare"}
VERDICT_COLUMNS = {"gps_distance_m", "gps_duration_s", "claimed_fare"}


@dataclass
class CleanReport:
    layout: str
    rows_read: int
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> rows, in the order applied

    @property
    def rows_kept(self) -> int:
        return self.rows_read - sum(self.dropped.values())

    def as_dict(self) -> dict:
        return {
            "layout": self.layout,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "dropped": self.dropped,
        }


def _drop(frame: pl.DataFrame, report: CleanReport, reason: str, bad: pl.Expr) -> pl.DataFrame:
    """Remove the rows matching `bad` (nulls count as bad) and record how many under `reason`."""
    mask = frame.select(bad.fill_null(True).alias("bad"))["bad"]
    n = int(mask.sum())
    if n:
        report.dropped[reason] = report.dropped.get(reason, 0) + n
    return frame.filter(~mask)


def _row_key_all_columns(frame: pl.DataFrame) -> pl.Expr:
    # The row's own content is its identity: the held-out split does not depend on file order.
    return pl.concat_str([pl.col(c).cast(pl.Utf8).fill_null("") for c in frame.columns], separator="|")


def _common_cleaning(frame: pl.DataFrame, report: CleanReport) -> pl.DataFrame:
    frame = _drop(
        frame,
        report,
        "missing distance, duration or fare",
        pl.any_horizontal(pl.col("distance_m").is_null(), pl.col("duration_s").is_null(), pl.col("fare").is_null()),
    )
    frame = _drop(
        frame,
        report,
        "negative fare, distance or duration (refund or void)",
        (pl.col("fare") < 0) | (pl.col("distance_m") < 0) | (pl.col("duration_s") < 0),
    )
    frame = _drop(frame, report, "zero fare", pl.col("fare") == 0)
    frame = _drop(frame, report, "zero distance with a fare", pl.col("distance_m") == 0)
    frame = _drop(frame, report, "zero duration with a fare", pl.col("duration_s") == 0)
    speed_kmh = pl.col("distance_m") / pl.col("duration_s") * 3.6
    frame = _drop(frame, report, f"absurd speed (> {MAX_SPEED_KMH:.0f} km/h average)", speed_kmh > MAX_SPEED_KMH)
    frame = _drop(
        frame,
        report,
        f"absurd speed (< {MIN_SPEED_KMH:.0f} km/h average: distance not recorded or meter left running)",
        speed_kmh < MIN_SPEED_KMH,
    )
    frame = _drop(frame, report, f"longer than {MAX_DURATION_S / 3600:.0f} h", pl.col("duration_s") > MAX_DURATION_S)
    return frame.select("row_key", "distance_m", "duration_s", "fare")


def _read_nyc(frame: pl.DataFrame, report: CleanReport) -> pl.DataFrame:
    if "RateCodeID" in frame.columns:
        frame = _drop(
            frame,
            report,
            "RateCodeID != 1 (JFK/Newark/Nassau flat or negotiated fares, not metered)",
            pl.col("RateCodeID").cast(pl.Int64, strict=False) != 1,
        )
    fmt = "%Y-%m-%d %H:%M:%S"
    frame = frame.with_columns(
        row_key=_row_key_all_columns(frame),
        distance_m=pl.col("trip_distance").cast(pl.Float64, strict=False) * MILE_M,
        duration_s=(
            pl.col("tpep_dropoff_datetime").cast(pl.Utf8).str.strptime(pl.Datetime, fmt, strict=False)
            - pl.col("tpep_pickup_datetime").cast(pl.Utf8).str.strptime(pl.Datetime, fmt, strict=False)
        )
        .dt.total_seconds()
        .cast(pl.Float64),
        fare=pl.col("fare_amount").cast(pl.Float64, strict=False),
    )
    return _common_cleaning(frame, report)


def _read_chicago(frame: pl.DataFrame, report: CleanReport) -> pl.DataFrame:
    frame = frame.with_columns(
        row_key=_row_key_all_columns(frame),
        distance_m=pl.col("trip_miles").cast(pl.Float64, strict=False) * MILE_M,
        duration_s=pl.col("trip_seconds").cast(pl.Float64, strict=False),
        fare=pl.col("fare").cast(pl.Float64, strict=False),
    )
    return _common_cleaning(frame, report)


def _read_verdicts(frame: pl.DataFrame, report: CleanReport, city: str | None, currency: str | None) -> pl.DataFrame:
    if city is not None and "city" in frame.columns:
        frame = _drop(frame, report, f"other city than {city}", pl.col("city") != city)
    if currency is not None and "currency" in frame.columns:
        frame = _drop(frame, report, f"currency other than {currency}", pl.col("currency") != currency)
    key = pl.col("trip_id").cast(pl.Utf8) if "trip_id" in frame.columns else _row_key_all_columns(frame)
    frame = frame.with_columns(
        row_key=key,
        distance_m=pl.col("gps_distance_m").cast(pl.Float64, strict=False),
        duration_s=pl.col("gps_duration_s").cast(pl.Float64, strict=False),
        fare=pl.col("claimed_fare").cast(pl.Float64, strict=False),
    )
    return _common_cleaning(frame, report)


def _load(path: Path) -> pl.DataFrame:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).lstrip()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    try:
        if head.startswith(b"{"):
            return pl.read_ndjson(path, infer_schema_length=None)
        return pl.read_csv(path, infer_schema_length=None)
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{path}: not a readable CSV or JSON-lines file: {str(exc).splitlines()[0]}") from None


def detect_layout(columns: list[str]) -> str:
    cols = set(columns)
    if NYC_COLUMNS <= cols:
        return "nyc_tlc"
    if CHICAGO_COLUMNS <= cols:
        return "chicago"
    if VERDICT_COLUMNS <= cols:
        return "verdicts"
    raise InputError(
        "unknown trip layout: need the NYC TLC columns (" + ", ".join(sorted(NYC_COLUMNS)) + "), the Chicago "
        "columns ("
        + ", ".join(sorted(CHICAGO_COLUMNS))
        + ") or tripguard verdicts ("
        + ", ".join(sorted(VERDICT_COLUMNS))
        + "); got "
        + ", ".join(columns[:20])
    )


def read_trips(
    path: Path | str, city: str | None = None, currency: str | None = None
) -> tuple[pl.DataFrame, CleanReport]:
    """Trips as (row_key, distance_m, duration_s, fare) after cleaning, and the cleaning report."""
    path = Path(path)
    frame = _load(path)
    layout = detect_layout(frame.columns)
    report = CleanReport(layout=layout, rows_read=frame.height)
    if layout == "nyc_tlc":
        out = _read_nyc(frame, report)
    elif layout == "chicago":
        out = _read_chicago(frame, report)
    else:
        out = _read_verdicts(frame, report, city, currency)
    return out, report
