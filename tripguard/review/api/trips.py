"""A trip's evidence: verdict, alerts, geometry and disputes."""

from __future__ import annotations

from fastapi import APIRouter

from tripguard.review.api.deps import Reviewer
from tripguard.review.api.models import TRIP_DISPUTES, Dispute, TripOut
from tripguard.review.api.params import AUTH, NOT_FOUND, TripIdPath
from tripguard.review.common import DB
from tripguard.review.geometry import trip_geojson, trip_shapes
from tripguard.review.store import disputes, records

router = APIRouter(tags=["evidence"])


@router.get("/trips/{trip_id:path}", response_model=TripOut, responses={**AUTH, **NOT_FOUND})
def get_trip(trip_id: TripIdPath, who: Reviewer, db: DB) -> TripOut:
    """A trip's verdict, its alerts with evidence, the GPS path, planned route and corridor
    cells as GeoJSON, and its newest disputes with their total (all of them: GET /disputes?trip_id=).
    A trip id with "/" may be given as is or as %2F. Role: reviewer."""
    with db.opened() as conn:
        trip = records.get_trip(conn, trip_id)
        rows, total = disputes.list_disputes(conn, trip_ids=[trip_id], limit=TRIP_DISPUTES)
    return TripOut(
        trip_id=trip_id,
        verdict=trip["verdict"],
        alerts=trip["alerts"],
        planned_route=trip["planned_route"],
        corridor_cells=trip["corridor_cells"],
        geojson=trip_geojson(trip_shapes(trip)),
        disputes=[Dispute.of(r) for r in rows],
        disputes_total=total,
    )
