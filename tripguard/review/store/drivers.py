"""A driver's history and risk, from what the review service stores: the driver's verdicts and
the decided disputes on their trips, through the driver-risk stage itself (tripguard.risk), so the
score a reviewer sees is the one the stream computes from the same records."""

from __future__ import annotations

import sqlite3
from typing import Any, cast

import orjson

from tripguard.config.files import CityTables
from tripguard.errors import ContractError
from tripguard.review.errors import NotFound
from tripguard.review.store.disputes import decision_message
from tripguard.risk.offline import RiskReplay
from tripguard.risk.stage import DECISION, VERDICT, Input, RiskStage, parse

MAX_TRIPS = 50  # the newest trips listed


def driver_risk(conn: sqlite3.Connection, driver_id: str, cities: CityTables) -> dict[str, Any]:
    """NotFound when no verdict of the driver is stored."""
    verdicts = [
        orjson.loads(r["body"])
        for r in conn.execute("SELECT body FROM verdicts WHERE driver_id = ? ORDER BY ts, trip_id", (driver_id,))
    ]
    if not verdicts:
        raise NotFound("no verdict of this driver")
    decided = [
        dict(r)
        for r in conn.execute(
            "SELECT d.* FROM disputes d JOIN verdicts v ON v.trip_id = d.trip_id WHERE v.driver_id = ?"
            " AND d.decision IS NOT NULL ORDER BY d.decided_at, d.id",
            (driver_id,),
        )
    ]
    stage = RiskStage(cities, [RiskReplay.SOURCE], 0)
    skipped = 0
    for dispute in decided:
        try:
            stage.add(Input(DECISION, parse(DECISION, orjson.dumps(decision_message(conn, dispute)))))
        except ContractError:
            skipped += 1
    for v in verdicts:
        try:
            stage.add(Input(VERDICT, parse(VERDICT, orjson.dumps(v)), None, RiskReplay.SOURCE))
        except ContractError:  # a row stored before validation was strict
            skipped += 1
    stage.flush()
    if driver_id not in stage.histories:
        raise NotFound("no readable verdict of this driver")
    a = stage.assess(driver_id)
    history = stage.histories[driver_id]
    trips = [
        {"trip_id": v["trip_id"], "ts": v["ts"], "kinds": v.get("kinds", []), "risk_score": v.get("risk_score")}
        for v in reversed(verdicts[-MAX_TRIPS:])
    ]
    return {
        "driver_id": driver_id,
        "city": history.city,
        "score": a.score,
        "level": a.level,
        "ts": history.newest_ts,
        "windows": a.windows,
        "evidence": a.evidence,
        "model": a.model,
        "trips": trips,
        "trips_total": len(verdicts),
        "records_skipped": skipped,
    }


def queue_by_risk(conn: sqlite3.Connection, rows: list[dict[str, Any]], cities: CityTables) -> list[dict[str, Any]]:
    """Open disputes (with their trip summaries) ordered by their driver's risk, highest first, then
    first come, first served; each row gains driver_score and driver_level (None: no verdict)."""
    risk: dict[str | None, tuple[float | None, str | None]] = {None: (None, None)}
    for r in rows:
        driver = r.get("driver_id")
        if driver not in risk:
            try:
                d = driver_risk(conn, cast(str, driver), cities)
                risk[driver] = (d["score"], d["level"])
            except NotFound:
                risk[driver] = (None, None)
        r["driver_score"], r["driver_level"] = risk[driver]
    return sorted(rows, key=lambda r: (-(r["driver_score"] or 0.0), r["created_at"], r["id"]))
