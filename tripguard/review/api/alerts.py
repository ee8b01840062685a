"""Alerts (contract v1), filtered and paged."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tripguard.contract import Alert
from tripguard.review.api.deps import Reviewer
from tripguard.review.api.params import AUTH, PAGED, CitiesQuery, IdsQuery, KindsQuery, Limit, TsQuery, paged
from tripguard.review.common import DB, Offset
from tripguard.review.store import records

router = APIRouter(tags=["evidence"])


@router.get("/alerts", response_model=list[Alert], responses={**AUTH, 200: PAGED})
def list_alerts(
    request: Request,
    response: Response,
    who: Reviewer,
    db: DB,
    kind: KindsQuery,
    driver_id: IdsQuery,
    city: CitiesQuery,
    trip_id: IdsQuery,
    since: TsQuery = None,
    until: TsQuery = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[dict]:
    """Alerts (contract v1) newest first, filtered by kind, driver, city, trip and event time
    `ts` (since inclusive, until exclusive, ms). Role: reviewer."""
    with db.opened() as conn:
        rows, total = records.list_alerts(conn, kind, driver_id, city, trip_id, since, until, limit, offset)
    return paged(request, response, rows, total, offset)
