"""What the JSON API (api/) and the review page (pages/) share: the app's database and settings as
dependencies, a dispute id in a path and a list's offset, and deciding a dispute (both the API and
the page decide).

Here and not in api/, so that pages/ need not import route modules (tests/test_import_rules.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from tripguard.config.settings import Settings
from tripguard.review.store import disputes
from tripguard.review.store.db import Database
from tripguard.review.store.tokens import Principal

MAX_ID = 2**63 - 1  # SQLite INTEGER

DisputeIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


def get_db(request: Request) -> Database:
    """The database of the app (create_app's `db_path`); each operation opens its own connection."""
    return Database(request.app.state.db_path)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


DB = Annotated[Database, Depends(get_db)]
AppSettings = Annotated[Settings, Depends(get_settings)]


async def decide_and_publish(
    request: Request, db: Database, dispute_id: int, decision: str, note: str, who: Principal
) -> dict:
    """Record the decision (once), then wake the publisher of tripguard.decisions."""

    def work() -> dict:
        with db.opened() as conn:
            return disputes.decide(conn, dispute_id, decision, note, who)

    row = await run_in_threadpool(work)
    outbox = getattr(request.app.state, "outbox", None)
    if outbox is not None:
        outbox.wake()
    return row
