"""A driver's risk and newest trips."""

from __future__ import annotations

from fastapi import APIRouter

from tripguard.config.files import CityTables
from tripguard.review.api.deps import Reviewer
from tripguard.review.api.models import DriverOut
from tripguard.review.api.params import AUTH, NOT_FOUND, DriverIdPath
from tripguard.review.common import DB, AppSettings
from tripguard.review.store.drivers import driver_risk

router = APIRouter(tags=["evidence"])


@router.get("/drivers/{driver_id:path}", response_model=DriverOut, responses={**AUTH, **NOT_FOUND})
def get_driver(driver_id: DriverIdPath, who: Reviewer, db: DB, settings: AppSettings) -> DriverOut:
    """A driver's risk score and level (the driver-risk stage over the stored verdicts and decided
    disputes: docs/risk.md), its windows and evidence, and the newest trips. Role: reviewer."""
    cities = CityTables.load(settings.cities)
    with db.opened() as conn:
        return DriverOut(**driver_risk(conn, driver_id, cities))
