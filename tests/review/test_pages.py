"""The review page without a browser: login, sessions, CSRF, escaping, headers, the map."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest

from tripguard.review.store.db import opened


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _login(client, token: str):
    form = client.get("/review/login")
    return client.post("/review/login", data={"token": token, "csrf": _csrf(form.text)}, follow_redirects=False)


@pytest.fixture
def reviewer(client, tokens):
    r = _login(client, tokens["reviewer"])
    assert r.status_code == 303 and r.headers["location"] == "/review/"
    return client


@pytest.fixture
def disputed(client, auth):
    """Two open disputes: porto-0001 (teleport, speed) and porto-0002 (route deviation)."""
    ids = []
    for trip, words in (("porto-0001", "I was in a tunnel <b>really</b>"), ("porto-0002", "Road closed")):
        r = client.post("/disputes", json={"trip_id": trip, "statement": words}, headers=auth["backend"])
        ids.append(r.json()["id"])
    return ids


def test_pages_need_a_session(client, disputed):
    for path in ("/review/", "/review/?status=decided", f"/review/disputes/{disputed[0]}"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/review/login", path
    r = client.post(
        f"/review/disputes/{disputed[0]}/decision", data={"decision": "upheld", "csrf": "x"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/review/login"
    assert client.get("/", follow_redirects=False).headers["location"] == "/review/"


def test_a_bearer_token_alone_does_not_open_the_page(client, auth, disputed):
    r = client.get("/review/", headers=auth["reviewer"], follow_redirects=False)
    assert r.status_code == 303  # the page authenticates by session cookie only


@pytest.mark.parametrize("role,status", [("backend", 403), ("admin", 403)])
def test_only_reviewers_log_in(client, tokens, role, status):
    r = _login(client, tokens[role])
    assert r.status_code == status and "cannot review" in r.text
    assert "tg_session" not in r.headers.get("set-cookie", "")


def test_login_rejects_bad_token_and_missing_csrf(client, tokens):
    assert _login(client, "tg_wrong").status_code == 401
    client.get("/review/login")
    r = client.post("/review/login", data={"token": tokens["reviewer"], "csrf": "forged"}, follow_redirects=False)
    assert r.status_code == 403
    assert "tg_session" not in r.headers.get("set-cookie", "")


def test_session_cookie_flags(client, tokens):
    cookie = _login(client, tokens["reviewer"]).headers["set-cookie"]
    session = next(c for c in cookie.split(", tg_") if "tg_session=" in c or c.startswith("session="))
    assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/review" in session


def test_queue_trip_view_and_decision(reviewer, disputed, db_path):
    queue = reviewer.get("/review/")
    assert queue.status_code == 200
    assert "porto-0001" in queue.text and "porto-0002" in queue.text
    assert f'href="/review/disputes/{disputed[0]}"' in queue.text

    page = reviewer.get(f"/review/disputes/{disputed[0]}")
    assert page.status_code == 200
    html = page.text
    # the statement is escaped, never markup
    assert "I was in a tunnel &lt;b&gt;really&lt;/b&gt;" in html and "<b>really</b>" not in html
    # evidence table: the teleport's distance and both of its points
    assert "implied_speed_mps" in html and "2400" in html
    assert html.count('class="fix kind-teleport"') == 2 and html.count('class="fix kind-impossible_speed"') == 4

    r = reviewer.post(
        f"/review/disputes/{disputed[0]}/decision",
        data={"decision": "overturned", "note": "tunnel exit", "csrf": _csrf(html)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/review/disputes/{disputed[0]}"
    after = reviewer.get(f"/review/disputes/{disputed[0]}").text
    assert 'id="decision-value">overturned<' in after and "tunnel exit" in after and 'id="decide-form"' not in after
    assert "porto-0001" not in reviewer.get("/review/").text
    assert "porto-0001" in reviewer.get("/review/?status=decided").text

    # the same decision again (a second tab): 409, nothing changes
    again = reviewer.post(
        f"/review/disputes/{disputed[0]}/decision",
        data={"decision": "upheld", "csrf": _csrf(html)},
        follow_redirects=False,
    )
    assert again.status_code == 409 and "already decided" in again.text
    with opened(db_path) as conn:
        row = conn.execute("SELECT decision, decided_by FROM disputes WHERE id = ?", (disputed[0],)).fetchone()
    assert row["decision"] == "overturned" and row["decided_by"] is not None


def test_decision_needs_the_session_csrf(reviewer, disputed):
    r = reviewer.post(
        f"/review/disputes/{disputed[1]}/decision", data={"decision": "upheld", "csrf": "guess"}, follow_redirects=False
    )
    assert r.status_code == 403
    assert reviewer.get(f"/review/disputes/{disputed[1]}").text.count('id="decide-form"') == 1  # still open


def test_map_draws_route_corridor_path_and_flagged_fixes(reviewer, disputed):
    html = reviewer.get(f"/review/disputes/{disputed[1]}").text
    svg_text = re.search(r"<svg id=\"trip-map\".*?</svg>", html, re.S).group(0)
    svg = ElementTree.fromstring(svg_text)  # well-formed XML
    ns = {"s": "http://www.w3.org/2000/svg"}
    width, height = float(svg.get("width")), float(svg.get("height"))
    polygons = svg.findall(".//s:g[@class='corridor']/s:polygon", ns)
    assert len(polygons) == 35
    planned = svg.find(".//s:polyline[@class='planned']", ns)
    gps = svg.find(".//s:polyline[@class='gps']", ns)
    assert planned is not None and gps is not None
    assert len(gps.get("points").split()) == 36
    fixes = svg.findall(".//s:circle[@class='fix kind-route_deviation']", ns)
    assert len(fixes) == 13
    for c in fixes:
        assert 0 <= float(c.get("cx")) <= width and 0 <= float(c.get("cy")) <= height
    # north up: the detour goes north of the planned route, so its fixes are above it (smaller y)
    route_y = [float(p.split(",")[1]) for p in planned.get("points").split()]
    assert max(float(c.get("cy")) for c in fixes) < min(route_y)


def test_logout_ends_the_session(reviewer):
    html = reviewer.get("/review/").text
    r = reviewer.post("/review/logout", data={"csrf": _csrf(html)}, follow_redirects=False)
    assert r.status_code == 303
    assert reviewer.get("/review/", follow_redirects=False).status_code == 303


def test_revoking_the_token_ends_its_sessions(reviewer, auth, tokens, db_path):
    from tripguard.review.store.tokens import principal_for

    with opened(db_path) as conn:
        token_id = principal_for(conn, tokens["reviewer"]).token_id
    assert reviewer.get("/review/", follow_redirects=False).status_code == 200
    reviewer.delete(f"/tokens/{token_id}", headers=auth["admin"])
    assert reviewer.get("/review/", follow_redirects=False).status_code == 303


def test_page_security_headers_and_local_assets(reviewer, disputed):
    r = reviewer.get(f"/review/disputes/{disputed[0]}")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    # every asset is local
    refs = re.findall(r'(?:href|src)="([^"]+)"', r.text)
    assert refs and all(ref.startswith("/") for ref in refs), refs
    css = reviewer.get("/static/review.css")
    assert css.status_code == 200 and "trip-map" in css.text and "url(http" not in css.text


def test_unknown_dispute_page_is_404(reviewer):
    assert reviewer.get("/review/disputes/424242").status_code == 404


def test_pages_render_rows_stored_before_ingest_was_strict(client, auth, tokens, db_path):
    """Ingest used to take "risk_score": "0.5" and store it as sent; such rows are still in
    databases. The dispute page and the queue show them instead of failing (500)."""
    import orjson
    from review_fixtures import build

    alerts, verdicts = build()
    verdict = {
        **verdicts[0],
        "trip_id": "legacy-1",
        "risk_score": "0.5",
        "gps_distance_m": "3170.7",
        "gps_duration_s": "600",
        "expected_fare": "8.9",
        "claimed_fare": True,
        "ts": str(verdicts[0]["ts"]),
    }
    alert = {**alerts[0], "alert_id": "legacy-a", "trip_id": "legacy-1", "score": "0.97", "ts": str(alerts[0]["ts"])}
    with opened(db_path) as conn:  # as the lax ingest stored them: the columns typed, the body as sent
        conn.execute(
            "INSERT INTO verdicts (trip_id, driver_id, city, ts, risk_score, body, ingested_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 0)",
            ("legacy-1", verdict["driver_id"], "porto", verdicts[0]["ts"], 0.5, orjson.dumps(verdict).decode()),
        )
        conn.execute(
            "INSERT INTO alerts (alert_id, trip_id, driver_id, city, kind, severity, score, ts, detected_at,"
            " body, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (
                "legacy-a",
                "legacy-1",
                alert["driver_id"],
                "porto",
                "teleport",
                "high",
                0.97,
                alerts[0]["ts"],
                alert["detected_at"],
                orjson.dumps(alert).decode(),
            ),
        )
    d = client.post("/disputes", json={"trip_id": "legacy-1", "statement": "old row"}, headers=auth["backend"]).json()
    _login(client, tokens["reviewer"])
    page = client.get(f"/review/disputes/{d['id']}")
    assert page.status_code == 200, page.text[:300]
    html = page.text
    assert ">0.5<" in html and "3170.7" in html and "score 0.97" in html
    assert client.get("/review/").status_code == 200
    trip = client.get("/trips/legacy-1", headers=auth["reviewer"])
    assert trip.status_code == 200 and trip.json()["verdict"]["risk_score"] == 0.5


def test_the_queue_counts_and_pages_every_open_dispute(reviewer, db_path):
    """501 open disputes: the queue says 501 (it used to show and count the first 500) and pages
    through them oldest first."""
    n = 501
    with opened(db_path) as conn:
        conn.executemany(
            "INSERT INTO alerts (alert_id, trip_id, driver_id, city, kind, severity, score, ts, detected_at, body,"
            " ingested_at) VALUES (?, ?, 'drv', 'porto', 'teleport', 'high', 0.9, 1, 1, '{}', 0)",
            [(f"a{i}", f"bulk-{i:04d}") for i in range(n)],
        )
        conn.executemany(
            "INSERT INTO disputes (trip_id, statement, status, created_at, created_by) VALUES (?, 'x', 'open', ?, 1)",
            [(f"bulk-{i:04d}", 1_700_000_000_000 + i) for i in range(n)],
        )
    seen, url = [], "/review/"
    while url:
        html = reviewer.get(url).text
        assert 'id="queue-total">(501)<' in html
        seen += re.findall(r'class="open-dispute" href="/review/disputes/\d+">(bulk-\d+)<', html)
        following = re.search(r'id="queue-next" href="([^"]+)"', html)
        url = following.group(1).replace("&amp;", "&") if following else None
    assert seen == [f"bulk-{i:04d}" for i in range(n)]
    assert (
        "1–100 of 501" in reviewer.get("/review/").text and "501–501 of 501" in reviewer.get("/review/?offset=500").text
    )


def test_a_note_from_the_form_keeps_its_lines_and_refuses_escapes(reviewer, disputed, db_path):
    html = reviewer.get(f"/review/disputes/{disputed[1]}").text
    bad = reviewer.post(
        f"/review/disputes/{disputed[1]}/decision",
        data={"decision": "upheld", "note": "ok\x1b[8m hidden", "csrf": _csrf(html)},
        follow_redirects=False,
    )
    assert bad.status_code == 422 and "U+001B" in bad.text and 'id="decide-form"' in bad.text
    ok = reviewer.post(
        f"/review/disputes/{disputed[1]}/decision",
        data={"decision": "upheld", "note": "line one\r\nline two", "csrf": _csrf(html)},
        follow_redirects=False,
    )
    assert ok.status_code == 303  # a browser sends a textarea's line breaks as CRLF
    with opened(db_path) as conn:
        assert (
            conn.execute("SELECT note FROM disputes WHERE id = ?", (disputed[1],)).fetchone()[0] == "line one\nline two"
        )
