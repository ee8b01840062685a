"""The JSON API. Thin: validation is in models.py, rules in disputes.py / tokens.py / records.py,
access in auth.py. Blocking SQLite work runs in FastAPI's thread pool (plain `def` routes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from tripguard.contract import Alert, AlertKind
from tripguard.review import audit, disputes, records, tokens
from tripguard.review.auth import ADMIN, BACKEND, REVIEWER, require
from tripguard.review.db import opened
from tripguard.review.geometry import trip_geojson, trip_shapes
from tripguard.review.models import (
    AuditEntry,
    DecisionIn,
    Dispute,
    DisputeIn,
    DisputeStatus,
    Health,
    TokenCreated,
    TokenIn,
    TokenInfo,
    TripOut,
)
from tripguard.review.tokens import Principal

MAX_TS_MS = 4_102_444_800_000
MAX_ID = 2**63 - 1  # SQLite INTEGER

TripIdPath = Annotated[str, Path(min_length=1, max_length=128, examples=["porto-0001"])]
DisputeIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
TsQuery = Annotated[int | None, Query(ge=0, le=MAX_TS_MS, description="ms since the Unix epoch, UTC")]
IdQuery = Annotated[str | None, Query(min_length=1, max_length=128)]

_AUTH = {401: {"description": "Missing, invalid or revoked token"}, 403: {"description": "The token's role may not do this"}}
_404 = {404: {"description": "Not found"}}
_BODY = {400: {"description": "The body is not parseable (not JSON, not UTF-8)"},
         413: {"description": "The body is larger than 64 KiB"}}
_409 = {409: {"description": "Conflicts with the current state"}}

def no_unknown_query_parameters(request: Request) -> None:
    """422 for a query parameter the endpoint does not define: a misspelt filter
    (`?knd=teleport`) must not silently return everything."""
    route = request.scope.get("route")
    known = {p.alias for p in getattr(getattr(route, "dependant", None), "query_params", [])}
    for dep in getattr(getattr(route, "dependant", None), "dependencies", []):
        known |= {p.alias for p in dep.query_params}
    unknown = sorted(set(request.query_params.keys()) - known)
    if unknown:
        raise RequestValidationError([
            {"type": "extra_forbidden", "loc": ("query", name), "msg": "Unknown query parameter", "input": request.query_params.get(name)}
            for name in unknown
        ])


router = APIRouter(dependencies=[Depends(no_unknown_query_parameters)])

Backend = Depends(require(BACKEND))
Reviewer = Depends(require(REVIEWER))
BackendOrReviewer = Depends(require(BACKEND, REVIEWER))
ReviewerOrAdmin = Depends(require(REVIEWER, ADMIN))
Admin = Depends(require(ADMIN))


def db(request: Request):
    return opened(request.app.state.db_path)


def _dispute(row: dict) -> Dispute:
    return Dispute(**{k: row[k] for k in Dispute.model_fields})


@router.get("/healthz", response_model=Health, tags=["service"])
def healthz() -> Health:
    """Liveness: the process answers. No token needed."""
    return Health(status="ok")


@router.get("/trips/{trip_id}", response_model=TripOut, responses={**_AUTH, **_404}, tags=["evidence"])
def get_trip(request: Request, trip_id: TripIdPath, who: Principal = Reviewer) -> TripOut:
    """A trip's verdict, its alerts with evidence, the GPS path, planned route and corridor
    cells as GeoJSON, and its disputes. Role: reviewer."""
    with db(request) as conn:
        trip = records.get_trip(conn, trip_id)
        rows = disputes.list_disputes(conn, trip_id=trip_id, limit=500)
    return TripOut(
        trip_id=trip_id,
        verdict=trip["verdict"],
        alerts=trip["alerts"],
        planned_route=trip["planned_route"],
        corridor_cells=trip["corridor_cells"],
        geojson=trip_geojson(trip_shapes(trip)),
        disputes=[_dispute(r) for r in rows],
    )


@router.get("/alerts", response_model=list[Alert], responses=_AUTH, tags=["evidence"])
def list_alerts(
    request: Request,
    kind: AlertKind | None = None,
    driver_id: IdQuery = None,
    city: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    trip_id: IdQuery = None,
    since: TsQuery = None,
    until: TsQuery = None,
    limit: Limit = 100,
    offset: Offset = 0,
    who: Principal = Reviewer,
) -> list[dict]:
    """Alerts (contract v1) newest first, filtered by kind, driver, city, trip and event time
    `ts` (since inclusive, until exclusive, ms). Role: reviewer."""
    with db(request) as conn:
        return records.list_alerts(conn, kind, driver_id, city, trip_id, since, until, limit, offset)


@router.post("/disputes", status_code=201, response_model=Dispute, responses={**_AUTH, **_BODY, **_404, **_409},
             tags=["disputes"])
def create_dispute(request: Request, body: DisputeIn, who: Principal = Backend) -> Dispute:
    """File a driver's dispute of a flagged trip. 404 when the trip is unknown, 409 while the
    trip has an open dispute. Role: backend."""
    with db(request) as conn:
        return _dispute(disputes.create_dispute(conn, body.trip_id, body.statement, who))


@router.get("/disputes", response_model=list[Dispute], responses=_AUTH, tags=["disputes"])
def list_disputes(
    request: Request,
    status: DisputeStatus | None = None,
    trip_id: IdQuery = None,
    limit: Limit = 100,
    offset: Offset = 0,
    who: Principal = BackendOrReviewer,
) -> list[Dispute]:
    """Disputes; `status=open` is the review queue (oldest first), otherwise newest first.
    Roles: backend, reviewer."""
    with db(request) as conn:
        return [_dispute(r) for r in disputes.list_disputes(conn, status, trip_id, limit, offset)]


@router.get("/disputes/{dispute_id}", response_model=Dispute, responses={**_AUTH, **_404}, tags=["disputes"])
def get_dispute(request: Request, dispute_id: DisputeIdPath, who: Principal = BackendOrReviewer) -> Dispute:
    """One dispute and, once decided, its decision. Roles: backend, reviewer."""
    with db(request) as conn:
        return _dispute(disputes.get_dispute(conn, dispute_id))


async def decide_and_publish(request: Request, dispute_id: int, decision: str, note: str, who: Principal) -> dict:
    """Record the decision (once), then wake the publisher of tripguard.decisions."""

    def work() -> dict:
        with db(request) as conn:
            return disputes.decide(conn, dispute_id, decision, note, who)

    row = await run_in_threadpool(work)
    outbox = getattr(request.app.state, "outbox", None)
    if outbox is not None:
        outbox.wake()
    return row


@router.post("/disputes/{dispute_id}/decision", response_model=Dispute, responses={**_AUTH, **_BODY, **_404, **_409},
             tags=["disputes"])
async def decide(request: Request, dispute_id: DisputeIdPath, body: DecisionIn, who: Principal = Reviewer) -> Dispute:
    """Decide a dispute: `upheld` (the alert stands) or `overturned` (the alert was wrong).
    Once only: 409 after. Published to tripguard.decisions (key trip_id). Role: reviewer."""
    return _dispute(await decide_and_publish(request, dispute_id, body.decision, body.note, who))


@router.get("/audit", response_model=list[AuditEntry], responses=_AUTH, tags=["audit"])
def get_audit(
    request: Request,
    action: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    since: TsQuery = None,
    until: TsQuery = None,
    limit: Limit = 100,
    offset: Offset = 0,
    who: Principal = ReviewerOrAdmin,
) -> list[AuditEntry]:
    """Who (token id, role) did what, when: disputes filed, decisions, token management,
    review-page logins. Newest first. Roles: reviewer, admin."""
    with db(request) as conn:
        return [AuditEntry(**e) for e in audit.list_entries(conn, action, since, until, limit, offset)]


@router.post("/tokens", status_code=201, response_model=TokenCreated, responses={**_AUTH, **_BODY}, tags=["tokens"])
def create_token(request: Request, body: TokenIn, who: Principal = Admin) -> TokenCreated:
    """Create a token; the response is the only time it is shown. Role: admin."""
    with db(request) as conn:
        token_id, token = tokens.create_token(conn, body.role, body.label, who)
        info = tokens.get_token(conn, token_id)
    return TokenCreated(**info, token=token)


@router.get("/tokens", response_model=list[TokenInfo], responses=_AUTH, tags=["tokens"])
def list_tokens(request: Request, who: Principal = Admin) -> list[TokenInfo]:
    """All tokens (never the secrets), revoked ones included. Role: admin."""
    with db(request) as conn:
        return [TokenInfo(**t) for t in tokens.list_tokens(conn)]


@router.delete("/tokens/{token_id}", response_model=TokenInfo, responses={**_AUTH, **_404}, tags=["tokens"])
def revoke_token(request: Request, token_id: Annotated[int, Path(ge=1, le=MAX_ID)], who: Principal = Admin) -> TokenInfo:
    """Revoke a token at once (its browser sessions end too). Idempotent. Role: admin."""
    with db(request) as conn:
        return TokenInfo(**tokens.revoke_token(conn, token_id, who))
