"""The service itself: liveness."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from tripguard.review.api.deps import check_query
from tripguard.review.api.models import Health

router = APIRouter(tags=["service"])


@router.get("/healthz", response_model=Health, dependencies=[Depends(check_query)])
def healthz() -> Health:
    """Liveness: the process answers. No token needed."""
    return Health(status="ok")
