"""The queue of disputes, a dispute's trip view, and deciding it from the page."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from tripguard.config.files import CityTables
from tripguard.config.settings import Settings
from tripguard.review import text
from tripguard.review.common import DB, AppSettings, DisputeIdPath, Offset, decide_and_publish
from tripguard.review.errors import Conflict, NotFound
from tripguard.review.geometry import trip_shapes
from tripguard.review.pages.login import CsrfField, current, to_login
from tripguard.review.pages.render import render
from tripguard.review.pages.svgmap import project
from tripguard.review.store import disputes, records, sessions
from tripguard.review.store.db import Database
from tripguard.review.store.disputes import MAX_NOTE_CHARS
from tripguard.review.store.drivers import driver_risk, queue_by_risk

router = APIRouter()

QUEUE_PAGE = 100
QUEUE_RISK_MAX = 5000  # open disputes ordered by risk at once (older ones beyond: not shown)


@router.get("/", response_class=HTMLResponse)
def queue(
    request: Request, db: DB, settings: AppSettings, status: Literal["open", "decided"] = "open", offset: Offset = 0
) -> Response:
    _, session = current(request, db)
    if session is None:
        return to_login()
    with db.opened() as conn:
        if status == "open":  # ordered by the driver's risk (docs/risk.md), then first come, first served
            rows, total = disputes.list_disputes(conn, [status], limit=QUEUE_RISK_MAX)
            summaries = [{**r, **records.trip_summary(conn, r["trip_id"])} for r in rows]
            items = queue_by_risk(conn, summaries, CityTables.load(settings.cities))[offset : offset + QUEUE_PAGE]
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
    return render(request, "queue.html", items=items, status=status, session=session, pages=pages)


def _dispute_page(
    request: Request,
    db: Database,
    settings: Settings,
    session: sessions.Session,
    dispute_id: int,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    with db.opened() as conn:
        try:
            dispute = disputes.get_dispute(conn, dispute_id)
        except NotFound:
            return render(request, "not_found.html", 404, session=session, what=f"dispute {dispute_id}")
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
                driver = driver_risk(conn, trip["verdict"]["driver_id"], CityTables.load(settings.cities))
            except NotFound:
                driver = None
    shapes = trip_shapes(trip)
    return render(
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


@router.get("/disputes/{dispute_id}", response_class=HTMLResponse)
def dispute_page(request: Request, db: DB, settings: AppSettings, dispute_id: DisputeIdPath) -> Response:
    _, session = current(request, db)
    if session is None:
        return to_login()
    return _dispute_page(request, db, settings, session, dispute_id)


@router.post("/disputes/{dispute_id}/decision")
async def decide(
    request: Request,
    db: DB,
    settings: AppSettings,
    dispute_id: DisputeIdPath,
    decision: Annotated[Literal["upheld", "overturned"], Form()],
    csrf: CsrfField,
    note: Annotated[str, Form(max_length=MAX_NOTE_CHARS)] = "",
) -> Response:
    _, session = await run_in_threadpool(current, request, db)
    if session is None:
        return to_login()

    async def page(status_code: int, error: str | None = None) -> Response:
        return await run_in_threadpool(_dispute_page, request, db, settings, session, dispute_id, status_code, error)

    if not sessions.csrf_ok(session.csrf, csrf):
        return await page(403, "The form was not sent by this page (CSRF check failed): reload and try again.")
    note = note.replace("\r\n", "\n")  # browsers send a textarea's line breaks as CRLF
    try:
        text.note(note)
    except ValueError as exc:
        return await page(422, f"The note {exc}.")
    try:
        await decide_and_publish(request, db, dispute_id, decision, note, session.principal)
    except Conflict as exc:
        return await page(409, str(exc))
    except NotFound:
        return await page(404)
    return RedirectResponse(f"/review/disputes/{dispute_id}", status_code=303)
