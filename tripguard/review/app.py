"""The FastAPI application of `tripguard serve`: the API (api/) and page (pages/) routes, limits,
error handling, Kafka lifecycle."""

from __future__ import annotations

import logging
import math
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from tripguard.config.settings import Settings
from tripguard.review import api, pages
from tripguard.review.errors import Conflict, NotFound
from tripguard.review.store.db import init_db

log = logging.getLogger("tripguard.review")

MAX_BODY_BYTES = 64 * 1024
"""Largest request body accepted (413 above). A dispute statement is at most 4,000 characters."""

_HTML_HEADERS = [
    # Everything the page needs is served from here; no script runs at all.
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class BodyLimit:
    """413 for a request body over `max_bytes`: checked against Content-Length up front and
    counted while streaming (a chunked body has no Content-Length)."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    return await self._too_large(send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside body parsing: FastAPI passes an HTTPException through.
                    raise HTTPException(413, f"request body larger than {self.max_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)

    async def _too_large(self, send):
        response = JSONResponse({"detail": f"request body larger than {self.max_bytes} bytes"}, status_code=413)
        await response(scope={"type": "http"}, receive=None, send=send)


class SecurityHeaders:
    """nosniff everywhere; a strict CSP, no framing and no caching for the HTML pages."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        is_page = scope.get("path", "").startswith("/review")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                if is_page:
                    headers.extend(_HTML_HEADERS)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _json_safe(value):
    """Error text can hold what JSON output cannot: an unknown body field's name with an unpaired
    surrogate, a rule's NaN parameter. Make both plain strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_json_safe(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


MAX_ERRORS_SHOWN = 20
MAX_ERROR_TEXT = 200


def _clip(value):
    if isinstance(value, str) and len(value) > MAX_ERROR_TEXT:
        return value[:MAX_ERROR_TEXT] + "…"
    return value


def _public(error: dict) -> dict:
    """One validation error as the client sees it: loc, msg, type and the rule's parameters
    (ctx), never the rejected input -- it may be a secret (`?token=...`) or 60 KiB of text --
    and no string longer than MAX_ERROR_TEXT."""
    out = {
        "type": str(error.get("type", "")),
        "loc": [_clip(p) for p in error.get("loc", ())],
        "msg": _clip(str(error.get("msg", ""))),
    }
    ctx = error.get("ctx")
    if ctx:
        out["ctx"] = {str(k): v if isinstance(v, (int, float, bool)) else _clip(str(v)) for k, v in ctx.items()}
    return out


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with field-level detail (loc, msg, type), at most MAX_ERRORS_SHOWN errors and then
    a count of the rest, so that 3,000 junk parameters do not make a 300 KB answer."""
    errors = exc.errors()
    detail = [_public(e) for e in errors[:MAX_ERRORS_SHOWN]]
    if len(errors) > MAX_ERRORS_SHOWN:
        detail.append(
            {"type": "too_many_errors", "loc": [], "msg": f"{len(errors) - MAX_ERRORS_SHOWN} more errors not shown"}
        )
    return JSONResponse({"detail": _json_safe(detail)}, status_code=422)


def _leaf_routes(routes):
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI wraps included routers
        if inner is not None:
            yield from _leaf_routes(inner.routes)
        else:
            yield route


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """Starlette's handler, except that a 405 lists every method of the path in Allow (the
    default lists only the methods of the first route that matched the path)."""
    if exc.status_code == 405:
        allowed = set()
        for route in _leaf_routes(request.app.router.routes):
            methods = getattr(route, "methods", None)
            if methods and route.matches({**request.scope, "type": "http"})[0] != Match.NONE:
                allowed |= methods
        if allowed:
            return JSONResponse({"detail": exc.detail}, status_code=405, headers={"Allow": ", ".join(sorted(allowed))})
    return await http_exception_handler(request, exc)


async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _conflict(request: Request, exc: Conflict) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    # The trace goes to the server log under an id; the client gets the id and nothing else.
    error_id = uuid.uuid4().hex[:12]
    log.error("error %s on %s %s", error_id, request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error", "error_id": error_id}, status_code=500)


def create_app(db_path: Path | str, settings: Settings | None = None, kafka: bool = False) -> FastAPI:
    """The service over the database at `db_path` (created when missing). With `kafka`, the
    lifespan consumes alerts and verdicts from settings.bootstrap and publishes decisions."""
    init_db(db_path)
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        link = None
        if kafka:
            from tripguard.review.kafka import ReviewKafka

            link = ReviewKafka(app.state.db_path, settings)
            await link.start()
            app.state.kafka = link
            app.state.outbox = link.outbox
        try:
            yield
        finally:
            if link is not None:
                await link.stop()
                app.state.outbox = None
                app.state.kafka = None

    app = FastAPI(
        title="tripguard review service",
        version="1",
        description="Disputed trips, evidence and decisions. Bearer tokens with roles backend, reviewer, admin "
        "(see docs/review.md). The review page is at /review/.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load their assets from a CDN; the spec is at /openapi.json
        redoc_url=None,
    )
    app.state.db_path = Path(db_path)
    app.state.outbox = None
    app.state.kafka = None
    app.state.settings = settings
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/review/", status_code=303)

    # starlette types a handler as taking any Exception; each of these takes the class it is registered for
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(NotFound, _not_found)  # type: ignore[arg-type]
    app.add_exception_handler(Conflict, _conflict)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    return app
