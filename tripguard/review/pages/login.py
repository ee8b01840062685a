"""Logging in and out of the review page, and the session of a request (store/sessions.py)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tripguard.config.settings import Settings
from tripguard.review.common import DB, AppSettings
from tripguard.review.pages.render import render
from tripguard.review.store import sessions
from tripguard.review.store.db import Database
from tripguard.review.store.tokens import MAX_TOKEN_CHARS, REVIEWER, principal_for

router = APIRouter()

CsrfField = Annotated[str, Form(max_length=100)]


def _set_cookie(resp: Response, request: Request, settings: Settings, name: str, value: str, max_age: int) -> None:
    """An HttpOnly, SameSite=Strict cookie for the pages only. Secure when the request came over
    https -- as the proxy said, when `serve` trusts its X-Forwarded-Proto (--forwarded-allow-ips) --
    or always with --cookie-secure."""
    secure = settings.cookie_secure or request.url.scheme == "https"
    resp.set_cookie(name, value, max_age=max_age, path="/review", httponly=True, samesite="strict", secure=secure)


def current(request: Request, db: Database) -> tuple[str | None, sessions.Session | None]:
    """The request's session cookie and its live session (None, None without a cookie)."""
    sid = request.cookies.get(sessions.COOKIE)
    if not sid:
        return None, None
    with db.opened() as conn:
        return sid, sessions.lookup(conn, sid)


def to_login() -> RedirectResponse:
    return RedirectResponse("/review/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, settings: AppSettings) -> Response:
    csrf = secrets.token_urlsafe(32)
    resp = render(request, "login.html", csrf=csrf, error=None)
    _set_cookie(resp, request, settings, sessions.LOGIN_CSRF_COOKIE, csrf, max_age=900)
    return resp


@router.post("/login")
def login(
    request: Request,
    db: DB,
    settings: AppSettings,
    token: Annotated[str, Form(max_length=MAX_TOKEN_CHARS)],
    csrf: CsrfField,
) -> Response:
    if not sessions.csrf_ok(request.cookies.get(sessions.LOGIN_CSRF_COOKIE), csrf):
        return render(
            request, "login.html", 403, csrf="", error="The login form expired: reload the page and try again."
        )
    with db.opened() as conn:
        principal = principal_for(conn, token.strip())
        if principal is None:
            return render(request, "login.html", 401, csrf=csrf, error="Unknown or revoked token.")
        if principal.role != REVIEWER:
            return render(
                request,
                "login.html",
                403,
                csrf=csrf,
                error=f"A {principal.role} token cannot review: use a reviewer token.",
            )
        sid, _ = sessions.start(conn, principal)
    resp = RedirectResponse("/review/", status_code=303)
    _set_cookie(resp, request, settings, sessions.COOKIE, sid, max_age=sessions.SESSION_TTL_MS // 1000)
    resp.delete_cookie(sessions.LOGIN_CSRF_COOKIE, path="/review")
    return resp


@router.post("/logout")
def logout(request: Request, db: DB, csrf: CsrfField) -> Response:
    sid, session = current(request, db)
    if session is not None and sessions.csrf_ok(session.csrf, csrf):
        with db.opened() as conn:
            sessions.end(conn, sid, session)  # type: ignore[arg-type]
    resp = to_login()
    resp.delete_cookie(sessions.COOKIE, path="/review")
    return resp
