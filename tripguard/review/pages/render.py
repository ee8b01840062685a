"""The pages' templates (review/templates) and the filters they format stored values with."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from tripguard.review.pages.evidence_html import number, render_value, utc_ms
from tripguard.review.store.disputes import MAX_NOTE_CHARS

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent.parent / "templates"))
TEMPLATES.env.filters["utc"] = utc_ms
TEMPLATES.env.filters["evidence"] = render_value
TEMPLATES.env.filters["num"] = number
TEMPLATES.env.globals["MAX_NOTE_CHARS"] = MAX_NOTE_CHARS


def render(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)
