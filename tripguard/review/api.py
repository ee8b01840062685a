"""The JSON API. Thin: validation is in models.py, rules in disputes.py / tokens.py / records.py,
access in auth.py. Blocking SQLite work runs in FastAPI's thread pool (plain `def` routes).

Order of checks: authentication and role first (401/403), then the query and body (422), so a
caller without a valid token learns nothing about the fields. Lists are paged: `limit`/`offset`,
the number of all matches in `X-Total-Count` and the next page in `Link: <...>; rel="next"`.
A filter given more than once (`kind=a&kind=b`) matches any of its values; a parameter that
takes one value (since, until, limit, offset) given twice is a 422.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import StringConstraints
from starlette.concurrency import run_in_threadpool

from tripguard.contract import MAX_TS_MS, Alert, AlertKind
from tripguard.review.auth import ADMIN, BACKEND, REVIEWER, require
from tripguard.review.geometry import trip_geojson, trip_shapes
from tripguard.review.models import (
    TRIP_DISPUTES,
    AuditEntry,
    DecisionIn,
    Dispute,
    DisputeIn,
    DisputeStatus,
    DriverOut,
    Health,
    Identifier,
    TokenCreated,
    TokenIn,
    TokenInfo,
    TripOut,
)
from tripguard.review.store import audit, disputes, records, tokens
from tripguard.review.store.db import opened
from tripguard.review.store.tokens import Principal

MAX_ID = 2**63 - 1  # SQLite INTEGER

MAX_FILTER_VALUES = 100  # values of one repeated filter


def _text(max_length: int):
    return Annotated[Identifier, StringConstraints(min_length=1, max_length=max_length)]


# `:path`: trip ids come from upstream and may hold "/" (contract v1 allows any 1..128 characters);
# /trips/a/b and /trips/a%2Fb both name trip "a/b".
if TYPE_CHECKING:  # built by functions for FastAPI, which mypy cannot read as types: what they hold
    TripIdPath = str
    DriverIdPath = str
else:
    TripIdPath = Annotated[_text(128), Path(examples=["porto-0001"])]
    DriverIdPath = Annotated[_text(128), Path(examples=["drv-17"])]
DisputeIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
TsQuery = Annotated[int | None, Query(ge=0, le=MAX_TS_MS, description="ms since the Unix epoch, UTC")]


def _any_of(item, description: str):
    # A plain array with an empty default, not `list | None`: an absent filter is no filter.
    return Annotated[
        list[item],
        Query(
            default_factory=list,
            max_length=MAX_FILTER_VALUES,
            description=description + " Repeat it to match any of several values.",
        ),
    ]


if TYPE_CHECKING:  # as TripIdPath: the types the values have
    IdsQuery = list[str]
    KindsQuery = list[AlertKind]
    CitiesQuery = list[str]
    StatusQuery = list[DisputeStatus]
    ActionsQuery = list[str]
else:
    IdsQuery = _any_of(_text(128), "An id.")
    KindsQuery = _any_of(AlertKind, "An alert kind.")
    CitiesQuery = _any_of(_text(64), "A city.")
    StatusQuery = _any_of(DisputeStatus, "open or decided.")
    ActionsQuery = _any_of(_text(64), "An action, e.g. dispute.decide.")

_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or revoked token"},
    403: {"description": "The token's role may not do this"},
}
_404: dict[int | str, dict[str, Any]] = {404: {"description": "Not found"}}
_BODY: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body is not parseable (not JSON, not UTF-8)"},
    413: {"description": "The body is larger than 64 KiB"},
}
_409: dict[int | str, dict[str, Any]] = {409: {"description": "Conflicts with the current state"}}

_PAGED = {
    "headers": {
        "X-Total-Count": {
            "description": "How many items match the filters in all pages.",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        },
        "Link": {"description": 'The next page, `<URL>; rel="next"`, when there is one.', "schema": {"type": "string"}},
    }
}


def _query_fields(dependant):
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _query_fields(sub)


def _takes_many(field) -> bool:
    annotation = field.field_info.annotation
    return any(get_origin(t) is list for t in (annotation, *get_args(annotation)))


def check_query(request: Request) -> None:
    """422 for a query parameter the endpoint does not define (a misspelt filter, `?knd=teleport`,
    must not silently return everything) and for a single-valued one given more than once
    (FastAPI would silently keep the last)."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    fields = {f.alias: f for f in _query_fields(dependant)} if dependant is not None else {}
    errors = []
    for name in sorted(set(request.query_params.keys())):
        field = fields.get(name)
        if field is None:
            errors.append({"type": "extra_forbidden", "loc": ("query", name), "msg": "Unknown query parameter"})
        elif not _takes_many(field) and len(request.query_params.getlist(name)) > 1:
            errors.append(
                {"type": "repeated", "loc": ("query", name), "msg": "Given more than once; it takes one value"}
            )
    if errors:
        raise RequestValidationError(errors)


def allow(*roles: str):
    """The caller's principal, for a valid token of one of `roles`; then the query is checked."""
    authenticated = require(*roles)

    def dependency(request: Request, who: Principal = Depends(authenticated)) -> Principal:
        check_query(request)
        return who

    return Depends(dependency)


router = APIRouter()

Backend = allow(BACKEND)
Reviewer = allow(REVIEWER)
BackendOrReviewer = allow(BACKEND, REVIEWER)
ReviewerOrAdmin = allow(REVIEWER, ADMIN)
Admin = allow(ADMIN)


def paged(request: Request, response: Response, items: list, total: int, offset: int) -> list:
    """`items` (one page, from `offset`), with X-Total-Count and a Link to the next page."""
    response.headers["X-Total-Count"] = str(total)
    if offset + len(items) < total and items:
        following = request.url.include_query_params(offset=offset + len(items))
        response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return items


def db(request: Request):
    return opened(request.app.state.db_path)


def _dispute(row: dict) -> Dispute:
    return Dispute(**{k: row[k] for k in Dispute.model_fields})


@router.get("/healthz", response_model=Health, tags=["service"], dependencies=[Depends(check_query)])
def healthz() -> Health:
    """Liveness: the process answers. No token needed."""
    return Health(status="ok")


@router.get("/trips/{trip_id:path}", response_model=TripOut, responses={**_AUTH, **_404}, tags=["evidence"])
def get_trip(request: Request, trip_id: TripIdPath, who: Principal = Reviewer) -> TripOut:
    """A trip's verdict, its alerts with evidence, the GPS path, planned route and corridor
    cells as GeoJSON, and its newest disputes with their total (all of them: GET /disputes?trip_id=).
    A trip id with "/" may be given as is or as %2F. Role: reviewer."""
    with db(request) as conn:
        trip = records.get_trip(conn, trip_id)
        rows, total = disputes.list_disputes(conn, trip_ids=[trip_id], limit=TRIP_DISPUTES)
    return TripOut(
        trip_id=trip_id,
        verdict=trip["verdict"],
        alerts=trip["alerts"],
        planned_route=trip["planned_route"],
        corridor_cells=trip["corridor_cells"],
        geojson=trip_geojson(trip_shapes(trip)),
        disputes=[_dispute(r) for r in rows],
        disputes_total=total,
    )


@router.get("/drivers/{driver_id:path}", response_model=DriverOut, responses={**_AUTH, **_404}, tags=["evidence"])
def get_driver(request: Request, driver_id: DriverIdPath, who: Principal = Reviewer) -> DriverOut:
    """A driver's risk score and level (the driver-risk stage over the stored verdicts and decided
    disputes: docs/risk.md), its windows and evidence, and the newest trips. Role: reviewer."""
    from tripguard.config import CityTables
    from tripguard.review.store.drivers import driver_risk

    cities = CityTables.load(request.app.state.settings.cities)
    with db(request) as conn:
        return DriverOut(**driver_risk(conn, driver_id, cities))


@router.get("/alerts", response_model=list[Alert], responses={**_AUTH, 200: _PAGED}, tags=["evidence"])
def list_alerts(
    request: Request,
    response: Response,
    kind: KindsQuery,
    driver_id: IdsQuery,
    city: CitiesQuery,
    trip_id: IdsQuery,
    since: TsQuery = None,
    until: TsQuery = None,
    limit: Limit = 100,
    offset: Offset = 0,
    who: Principal = Reviewer,
) -> list[dict]:
    """Alerts (contract v1) newest first, filtered by kind, driver, city, trip and event time
    `ts` (since inclusive, until exclusive, ms). Role: reviewer."""
    with db(request) as conn:
        rows, total = records.list_alerts(conn, kind, driver_id, city, trip_id, since, until, limit, offset)
    return paged(request, response, rows, total, offset)


@router.post(
    "/disputes",
    status_code=201,
    response_model=Dispute,
    responses={**_AUTH, **_BODY, **_404, **_409},
    tags=["disputes"],
)
def create_dispute(request: Request, body: DisputeIn, who: Principal = Backend) -> Dispute:
    """File a driver's dispute of a flagged trip. 404 when the trip is unknown, 409 while the
    trip has an open dispute. Role: backend."""
    with db(request) as conn:
        return _dispute(disputes.create_dispute(conn, body.trip_id, body.statement, who))


@router.get("/disputes", response_model=list[Dispute], responses={**_AUTH, 200: _PAGED}, tags=["disputes"])
def list_disputes(
    request: Request,
    response: Response,
    status: StatusQuery,
    trip_id: IdsQuery,
    limit: Limit = 100,
    offset: Offset = 0,
    who: Principal = BackendOrReviewer,
) -> list[Dispute]:
    """Disputes; `status=open` is the review queue (oldest first), otherwise newest first.
    Roles: backend, reviewer."""
    with db(request) as conn:
        rows, total = disputes.list_disputes(conn, status, trip_id, limit, offset)
    return paged(request, response, [_dispute(r) for r in rows], total, offset)


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


@router.post(
    "/disputes/{dispute_id}/decision",
    response_model=Dispute,
    responses={**_AUTH, **_BODY, **_404, **_409},
    tags=["disputes"],
)
async def decide(request: Request, dispute_id: DisputeIdPath, body: DecisionIn, who: Principal = Reviewer) -> Dispute:
    """Decide a dispute: `upheld` (the alert stands) or `overturned` (the alert was wrong).
    Once only: 409 after. Published to tripguard.decisions (key trip_id). Role: reviewer."""
    return _dispute(await decide_and_publish(request, dispute_id, body.decision, body.note, who))


@router.get("/audit", response_model=list[AuditEntry], responses={**_AUTH, 200: _PAGED}, tags=["audit"])
def get_audit(
    request: Request,
    response: Response,
    action: ActionsQuery,
    since: TsQuery = None,
    until: TsQuery = None,
    limit: Limit = 100,
    offset: Offset = 0,
    who: Principal = ReviewerOrAdmin,
) -> list[AuditEntry]:
    """Who (token id, role) did what, when: disputes filed, decisions, token management,
    review-page logins. Newest first. Roles: reviewer, admin."""
    with db(request) as conn:
        rows, total = audit.list_entries(conn, action, since, until, limit, offset)
    return paged(request, response, [AuditEntry(**e) for e in rows], total, offset)


@router.post("/tokens", status_code=201, response_model=TokenCreated, responses={**_AUTH, **_BODY}, tags=["tokens"])
def create_token(request: Request, body: TokenIn, who: Principal = Admin) -> TokenCreated:
    """Create a token; the response is the only time it is shown. Role: admin."""
    with db(request) as conn:
        token_id, token = tokens.create_token(conn, body.role, body.label, who)
        info = tokens.get_token(conn, token_id)
    return TokenCreated(**info, token=token)


@router.get("/tokens", response_model=list[TokenInfo], responses=_AUTH, tags=["tokens"])
def list_tokens(request: Request, who: Principal = Admin) -> list[TokenInfo]:
    """All tokens (never the secrets), revoked ones included; not paged. Role: admin."""
    with db(request) as conn:
        return [TokenInfo(**t) for t in tokens.list_tokens(conn)]


@router.delete("/tokens/{token_id}", response_model=TokenInfo, responses={**_AUTH, **_404}, tags=["tokens"])
def revoke_token(
    request: Request, token_id: Annotated[int, Path(ge=1, le=MAX_ID)], who: Principal = Admin
) -> TokenInfo:
    """Revoke a token at once (its browser sessions end too). Idempotent. Role: admin."""
    with db(request) as conn:
        return TokenInfo(**tokens.revoke_token(conn, token_id, who))
