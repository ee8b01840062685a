"""Who may call what. The API takes `Authorization: Bearer <token>`; the review page uses a
session cookie (pages.py, sessions.py). 401 = no valid token, 403 = valid token, wrong role.

Roles (docs/review.md):
- backend: the mobility backend files disputes and reads their status;
- reviewer: reads evidence (trips, alerts), reads and decides disputes, reads the audit log;
- admin: manages tokens and reads the audit log. An admin does not review (separation of
  duties: deciding needs a reviewer token, whose every decision is attributed to it).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tripguard.review.store.db import opened
from tripguard.review.store.tokens import Principal, principal_for

BACKEND, REVIEWER, ADMIN = "backend", "reviewer", "admin"

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="A token from `tripguard token create --role ROLE` or POST /tokens (admin).",
)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def require(*roles: str) -> Callable[..., Principal]:
    """A dependency that admits a valid token of one of `roles`."""
    allowed = frozenset(roles)

    def dependency(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)
    ) -> Principal:
        if credentials is None:
            raise _unauthorized("missing bearer token (Authorization: Bearer <token>)")
        with opened(request.app.state.db_path) as conn:
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
