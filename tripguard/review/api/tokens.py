"""Bearer tokens: created, listed and revoked by an admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from tripguard.review.api.deps import Admin
from tripguard.review.api.models import TokenCreated, TokenIn, TokenInfo
from tripguard.review.api.params import AUTH, BODY, NOT_FOUND
from tripguard.review.common import DB, MAX_ID
from tripguard.review.store import tokens

router = APIRouter(tags=["tokens"])


@router.post("/tokens", status_code=201, response_model=TokenCreated, responses={**AUTH, **BODY})
def create_token(body: TokenIn, who: Admin, db: DB) -> TokenCreated:
    """Create a token; the response is the only time it is shown. Role: admin."""
    with db.opened() as conn:
        token_id, token = tokens.create_token(conn, body.role, body.label, who)
        info = tokens.get_token(conn, token_id)
    return TokenCreated(**info, token=token)


@router.get("/tokens", response_model=list[TokenInfo], responses=AUTH)
def list_tokens(who: Admin, db: DB) -> list[TokenInfo]:
    """All tokens (never the secrets), revoked ones included; not paged. Role: admin."""
    with db.opened() as conn:
        return [TokenInfo(**t) for t in tokens.list_tokens(conn)]


@router.delete("/tokens/{token_id}", response_model=TokenInfo, responses={**AUTH, **NOT_FOUND})
def revoke_token(token_id: Annotated[int, Path(ge=1, le=MAX_ID)], who: Admin, db: DB) -> TokenInfo:
    """Revoke a token at once (its browser sessions end too). Idempotent. Role: admin."""
    with db.opened() as conn:
        return TokenInfo(**tokens.revoke_token(conn, token_id, who))
