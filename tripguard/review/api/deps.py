"""Who may call what, as dependencies: an endpoint declares `who: Reviewer` (or Backend,
BackendOrReviewer, ReviewerOrAdmin, Admin) and gets the caller's principal. The API takes
`Authorization: Bearer <token>`; the review page uses a session cookie (pages/, store/sessions.py).
401 = no valid token, 403 = valid token, wrong role.

Roles (docs/review.md):
- backend: the mobility backend files disputes and reads their status;
- reviewer: reads evidence (trips, alerts), reads and decides disputes, reads the audit log;
- admin: manages tokens and reads the audit log. An admin does not review (separation of
  duties: deciding needs a reviewer token, whose every decision is attributed to it).

Order of checks: authentication and role first (401/403), then the query (check_query) and the
body (422), so a caller without a valid token learns nothing about the fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, get_args, get_origin

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tripguard.review.common import DB
from tripguard.review.store.tokens import ADMIN, BACKEND, REVIEWER, Principal, principal_for

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="A token from `tripguard token create --role ROLE` or POST /tokens (admin).",
)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def require(*roles: str) -> Callable[..., Principal]:
    """A dependency that admits a valid token of one of `roles`."""
    allowed = frozenset(roles)

    def dependency(db: DB, credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)) -> Principal:
        if credentials is None:
            raise _unauthorized("missing bearer token (Authorization: Bearer <token>)")
        with db.opened() as conn:
            principal = principal_for(conn, credentials.credentials)
        if principal is None:
            raise _unauthorized("invalid or revoked token")
        if principal.role not in allowed:
            raise HTTPException(
                status_code=403,
                detail=f"role {principal.role!r} may not do this; it needs {' or '.join(sorted(allowed))}",
            )
        return principal

    return dependency


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


Backend = Annotated[Principal, allow(BACKEND)]
Reviewer = Annotated[Principal, allow(REVIEWER)]
BackendOrReviewer = Annotated[Principal, allow(BACKEND, REVIEWER)]
ReviewerOrAdmin = Annotated[Principal, allow(REVIEWER, ADMIN)]
Admin = Annotated[Principal, allow(ADMIN)]
