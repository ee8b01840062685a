"""Disputes and their decisions: filed by the backend, decided by a reviewer."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tripguard.review.api.deps import Backend, BackendOrReviewer, Reviewer
from tripguard.review.api.models import DecisionIn, Dispute, DisputeIn
from tripguard.review.api.params import AUTH, BODY, CONFLICT, NOT_FOUND, PAGED, IdsQuery, Limit, StatusQuery, paged
from tripguard.review.common import DB, DisputeIdPath, Offset, decide_and_publish
from tripguard.review.store import disputes

router = APIRouter(tags=["disputes"])


@router.post("/disputes", status_code=201, response_model=Dispute, responses={**AUTH, **BODY, **NOT_FOUND, **CONFLICT})
def create_dispute(body: DisputeIn, who: Backend, db: DB) -> Dispute:
    """File a driver's dispute of a flagged trip. 404 when the trip is unknown, 409 while the
    trip has an open dispute. Role: backend."""
    with db.opened() as conn:
        return Dispute.of(disputes.create_dispute(conn, body.trip_id, body.statement, who))


@router.get("/disputes", response_model=list[Dispute], responses={**AUTH, 200: PAGED})
def list_disputes(
    request: Request,
    response: Response,
    who: BackendOrReviewer,
    db: DB,
    status: StatusQuery,
    trip_id: IdsQuery,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[Dispute]:
    """Disputes; `status=open` is the review queue (oldest first), otherwise newest first.
    Roles: backend, reviewer."""
    with db.opened() as conn:
        rows, total = disputes.list_disputes(conn, status, trip_id, limit, offset)
    return paged(request, response, [Dispute.of(r) for r in rows], total, offset)


@router.get("/disputes/{dispute_id}", response_model=Dispute, responses={**AUTH, **NOT_FOUND})
def get_dispute(dispute_id: DisputeIdPath, who: BackendOrReviewer, db: DB) -> Dispute:
    """One dispute and, once decided, its decision. Roles: backend, reviewer."""
    with db.opened() as conn:
        return Dispute.of(disputes.get_dispute(conn, dispute_id))


@router.post(
    "/disputes/{dispute_id}/decision", response_model=Dispute, responses={**AUTH, **BODY, **NOT_FOUND, **CONFLICT}
)
async def decide(request: Request, dispute_id: DisputeIdPath, body: DecisionIn, who: Reviewer, db: DB) -> Dispute:
    """Decide a dispute: `upheld` (the alert stands) or `overturned` (the alert was wrong).
    Once only: 409 after. Published to tripguard.decisions (key trip_id). Role: reviewer."""
    return Dispute.of(await decide_and_publish(request, db, dispute_id, body.decision, body.note, who))
