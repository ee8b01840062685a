"""The audit log: who did what, when."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tripguard.review.api.deps import ReviewerOrAdmin
from tripguard.review.api.models import AuditEntry
from tripguard.review.api.params import AUTH, PAGED, ActionsQuery, Limit, TsQuery, paged
from tripguard.review.common import DB, Offset
from tripguard.review.store import audit

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=list[AuditEntry], responses={**AUTH, 200: PAGED})
def get_audit(
    request: Request,
    response: Response,
    who: ReviewerOrAdmin,
    db: DB,
    action: ActionsQuery,
    since: TsQuery = None,
    until: TsQuery = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[AuditEntry]:
    """Who (token id, role) did what, when: disputes filed, decisions, token management,
    review-page logins. Newest first. Roles: reviewer, admin."""
    with db.opened() as conn:
        rows, total = audit.list_entries(conn, action, since, until, limit, offset)
    return paged(request, response, [AuditEntry(**e) for e in rows], total, offset)
