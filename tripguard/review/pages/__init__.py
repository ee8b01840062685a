"""The review page: server-rendered HTML (Jinja2), no JavaScript, no external assets.

/review/login     exchange a reviewer's bearer token for a session cookie (login.py, store/sessions.py)
/review/          the queue of open disputes (?status=decided for the decided ones)
/review/disputes/{id}  the trip view: statement, verdict, SVG map, evidence, decide buttons

Every form post carries the session's CSRF secret (and the cookie is SameSite=Strict).
pages/ imports nothing of api/ (tests/test_import_rules.py); what both need is in review/common.py.
"""

from __future__ import annotations

from fastapi import APIRouter

from tripguard.review.pages import disputes, login

router = APIRouter(prefix="/review", include_in_schema=False)
router.include_router(login.router)
router.include_router(disputes.router)
