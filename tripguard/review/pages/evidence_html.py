"""Evidence as HTML tables. Evidence is kind-specific and open-ended, so it is rendered
generically: an object is a key/value table, a list of objects (points, fixes) is a table with
one row per item and the union of their keys as columns, other lists are comma-separated.
Everything is escaped; times in ms (`ts`, `*_ms` keys with epoch-sized values) get a UTC date."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

from tripguard.contract import MAX_TS_MS

MAX_DEPTH = 6
MAX_ROWS = 500
_EPOCH_MS_MIN = 946_684_800_000  # 2000-01-01: smaller ms values are durations, not times


def utc_ms(ms: Any) -> str:
    """ms since the Unix epoch as 'YYYY-MM-DD HH:MM:SS UTC' ('' when not a time)."""
    if type(ms) is not int or not 0 <= ms <= MAX_TS_MS:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def number(v: Any, fmt: str = "%.2f", missing: str = "—") -> str:
    """A stored number for a page: formatted when it is one (not a bool), `missing` for None,
    else the stored value as text (rows stored before ingest was strict may hold "0.5"). Never
    raises: a page must not fail on what the database holds."""
    if v is None:
        return missing
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return fmt % v
    return str(v)


def _is_time_key(key: str) -> bool:
    return key in ("ts", "at", "detected_at", "decided_at", "created_at") or key.endswith("_ts") or key.endswith("_at")


def _scalar(key: str, v: Any) -> Markup:
    if v is None:
        return Markup('<span class="null">—</span>')
    if isinstance(v, bool):
        return Markup("true" if v else "false")
    if isinstance(v, float):
        if not math.isfinite(v):
            return escape(str(v))
        text = f"{v:.6f}".rstrip("0").rstrip(".") if abs(v) < 1e6 else f"{v:.6g}"
        return escape(text)
    if isinstance(v, int) and _is_time_key(key) and _EPOCH_MS_MIN <= v <= MAX_TS_MS:
        return Markup('<time title="{0}">{1}</time> <span class="ms">({0})</span>').format(v, utc_ms(v))
    return escape(str(v))


def _columns(items: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        for k in item:
            seen.setdefault(str(k), None)
    return list(seen)


def render_value(v: Any, key: str = "", depth: int = 0) -> Markup:
    if depth > MAX_DEPTH:
        return Markup('<span class="null">…</span>')
    if isinstance(v, dict):
        if not v:
            return Markup('<span class="null">{}</span>')
        rows = Markup("").join(
            Markup("<tr><th>{}</th><td>{}</td></tr>").format(k, render_value(x, str(k), depth + 1))
            for k, x in list(v.items())[:MAX_ROWS]
        )
        return Markup('<table class="kv">{}</table>').format(rows)
    if isinstance(v, list):
        if v and all(isinstance(x, dict) for x in v):
            cols = _columns(v)
            head = Markup("").join(Markup("<th>{}</th>").format(c) for c in ["#", *cols])
            body = Markup("").join(
                Markup("<tr><td>{}</td>{}</tr>").format(
                    i, Markup("").join(Markup("<td>{}</td>").format(render_value(x.get(c), c, depth + 1)) for c in cols)
                )
                for i, x in enumerate(v[:MAX_ROWS])
            )
            more = (
                Markup('<tr><td colspan="{}">… {} more</td></tr>').format(len(cols) + 1, len(v) - MAX_ROWS)
                if len(v) > MAX_ROWS
                else ""
            )
            return Markup('<table class="list"><thead><tr>{}</tr></thead><tbody>{}{}</tbody></table>').format(
                head, body, more
            )
        return Markup(", ").join(render_value(x, key, depth + 1) for x in v[:MAX_ROWS])
    return _scalar(key, v)
