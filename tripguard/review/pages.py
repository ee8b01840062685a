"""The review page: server-rendered HTML (Jinja2), no JavaScript, no external assets.

/review/login     exchange a reviewer's bearer token for a session cookie (sessions.py)
/review/          the queue of open disputes (?status=decided for the decided ones)
/review/disputes/{id}  the trip view: statement, verdict, SVG map, evidence, decide buttons

Every form post carries the session's CSRF secret (and the cookie is SameSite=Strict).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from tripguard.config import CityTables
from tripguard.review import text
from tripguard.review.api import MAX_ID, Offset, decide_and_publish
from tripguard.review.auth import REVIEWER
from tripguard.review.errors import Conflict, NotFound
from tripguard.review.evidence_html import number, render_value, utc_ms
from tripguard.review.geometry import trip_shapes
from tripguard.review.models import MAX_NOTE_CHARS
from tripguard.review.store import disputes, records, sessions
from tripguard.review.store.db import opened
from tripguard.review.store.drivers import driver_risk, queue_by_risk
from tripguard.review.store.tokens import MAX_TOKEN_CHARS, principal_for
from tripguard.review.svgmap import project

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.filters["utc"] = utc_ms
TEMPLATES.env.filters["evidence"] = render_value
TEMPLATES.env.filters["num"] = number
TEMPLATES.env.globals["MAX_NOTE_CHARS"] = MAX_NOTE_CHARS

router = APIRouter(prefix="/review", include_in_schema=False)

DisputeId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
CsrfField = Annotated[str, Form(max_length=100)]
QUEUE_PAGE = 100
QUEUE_RISK_MAX = 5000  # open disputes ordered by risk at once (older ones beyond: not shown)


def _secure(request: Request) -> bool:
    """Secure cookies when the request came over https -- as the proxy said, when `serve` trusts
    its X-Forwarded-Proto (--forwarded-allow-ips) -- or always with --cookie-secure."""
    return request.app.state.settings.cookie_secure or request.url.scheme == "https"


def _current(request: Request) -> tuple[str | None, sessions.Session | None]:
    sid = request.cookies.get(sessions.COOKIE)
    if not sid:
        return None, None
    with opened(request.app.state.db_path) as conn:
        return sid, sessions.lookup(conn, sid)


def _to_login() -> RedirectResponse:
    return RedirectResponse("/review/login", status_code=303)


def _render(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    csrf = secrets.token_urlsafe(32)
    resp = _render(request, "login.html", csrf=csrf, error=None)
    resp.set_cookie(
        sessions.LOGIN_CSRF_COOKIE,
        csrf,
        max_age=900,
        path="/review",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return resp


@router.post("/login")
def login(request: Request, token: Annotated[str, Form(max_length=MAX_TOKEN_CHARS)], csrf: CsrfField) -> Response:
    if not sessions.csrf_ok(request.cookies.get(sessions.LOGIN_CSRF_COOKIE), csrf):
        return _render(
            request, "login.html", 403, csrf="", error="The login form expired: reload the page and try again."
        )
    with opened(request.app.state.db_path) as conn:
        principal = principal_for(conn, token.strip())
        if principal is None:
            return _render(request, "login.html", 401, csrf=csrf, error="Unknown or revoked token.")
        if principal.role != REVIEWER:
            return _render(
                request,
                "login.html",
                403,
                csrf=csrf,
                error=f"A {principal.role} token cannot review: use a reviewer token.",
            )
        sid, _ = sessions.start(conn, principal)
    resp = RedirectResponse("/review/", status_code=303)
    resp.set_cookie(
        sessions.COOKIE,
        sid,
        max_age=sessions.SESSION_TTL_MS // 1000,
        path="/review",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    resp.delete_cookie(sessions.LOGIN_CSRF_COOKIE, path="/review")
    return resp


@router.post("/logout")
def logout(request: Request, csrf: CsrfField) -> Response:
    sid, session = _current(request)
    if session is not None and sessions.csrf_ok(session.csrf, csrf):
        with opened(request.app.state.db_path) as conn:
            sessions.end(conn, sid, session)  # type: ignore[arg-type]
    resp = _to_login()
    resp.delete_cookie(sessions.COOKIE, path="/review")
    return resp


@router.get("/", response_class=HTMLResponse)
def queue(request: Request, status: Literal["open", "decided"] = "open", offset: Offset = 0) -> Response:
    _, session = _current(request)
    if session is None:
        return _to_login()
    with opened(request.app.state.db_path) as conn:
        if status == "open":  # ordered by the driver's risk (docs/risk.md), then first come, first served
            rows, total = disputes.list_disputes(conn, [status], limit=QUEUE_RISK_MAX)
            summaries = [{**r, **records.trip_summary(conn, r["trip_id"])} for r in rows]
            items = queue_by_risk(conn, summaries, _cities(request))[offset : offset + QUEUE_PAGE]
        else:
            rows, total = disputes.list_disputes(conn, [status], limit=QUEUE_PAGE, offset=offset)
            items = [{**r, **records.trip_summary(conn, r["trip_id"])} for r in rows]
    pages = {
        "first": offset + 1,
        "last": offset + len(items),
        "total": total,
        "previous": max(offset - QUEUE_PAGE, 0) if offset > 0 else None,
        "next": offset + len(items) if offset + len(items) < total else None,
    }
    return _render(request, "queue.html", items=items, status=status, session=session, pages=pages)


def _dispute_page(
    request: Request, session: sessions.Session, dispute_id: int, status_code: int = 200, error: str | None = None
) -> Response:
    with opened(request.app.state.db_path) as conn:
        try:
            dispute = disputes.get_dispute(conn, dispute_id)
        except NotFound:
            return _render(request, "not_found.html", 404, session=session, what=f"dispute {dispute_id}")
        try:
            trip = records.get_trip(conn, dispute["trip_id"])
        except NotFound:  # cannot happen (a dispute needs a trip), but never a 500 for it
            trip = {
                "trip_id": dispute["trip_id"],
                "verdict": None,
                "alerts": [],
                "planned_route": None,
                "corridor_cells": None,
            }
        driver = None
        if trip["verdict"] and trip["verdict"].get("driver_id"):
            try:
                driver = driver_risk(conn, trip["verdict"]["driver_id"], _cities(request))
            except NotFound:
                driver = None
    shapes = trip_shapes(trip)
    return _render(
        request,
        "dispute.html",
        status_code,
        session=session,
        dispute=dispute,
        trip=trip,
        verdict=trip["verdict"],
        alerts=trip["alerts"],
        map=project(shapes),
        shapes=shapes,
        error=error,
        driver=driver,
    )


def _cities(request: Request) -> CityTables:
    return CityTables.load(request.app.state.settings.cities)


@router.get("/disputes/{dispute_id}", response_class=HTMLResponse)
def dispute_page(request: Request, dispute_id: DisputeId) -> Response:
    _, session = _current(request)
    if session is None:
        return _to_login()
    return _dispute_page(request, session, dispute_id)


@router.post("/disputes/{dispute_id}/decision")
async def decide(
    request: Request,
    dispute_id: DisputeId,
    decision: Annotated[Literal["upheld", "overturned"], Form()],
    csrf: CsrfField,
    note: Annotated[str, Form(max_length=MAX_NOTE_CHARS)] = "",
) -> Response:
    _, session = await run_in_threadpool(_current, request)
    if session is None:
        return _to_login()
    if not sessions.csrf_ok(session.csrf, csrf):
        return await run_in_threadpool(
            _dispute_page,
            request,
            session,
            dispute_id,
            403,
            "The form was not sent by this page (CSRF check failed): reload and try again.",
        )
    note = note.replace("\r\n", "\n")  # browsers send a textarea's line breaks as CRLF
    try:
        text.note(note)
    except ValueError as exc:
        return await run_in_threadpool(_dispute_page, request, session, dispute_id, 422, f"The note {exc}.")
    try:
        await decide_and_publish(request, dispute_id, decision, note, session.principal)
    except Conflict as exc:
        return await run_in_threadpool(_dispute_page, request, session, dispute_id, 409, str(exc))
    except NotFound:
        return await run_in_threadpool(_dispute_page, request, session, dispute_id, 404)
    return RedirectResponse(f"/review/disputes/{dispute_id}", status_code=303)
