"""The JSON API, one module a resource. Thin: validation is in models.py, rules in store/
(disputes, tokens, records, audit), access in deps.py. Blocking SQLite work runs in FastAPI's
thread pool (plain `def` routes). Parameters, paging and the documented errors: params.py.
"""

from __future__ import annotations

from fastapi import APIRouter

from tripguard.review.api import alerts, audit, disputes, drivers, service, tokens, trips

router = APIRouter()
for _resource in (service, trips, drivers, alerts, disputes, audit, tokens):
    router.include_router(_resource.router)
