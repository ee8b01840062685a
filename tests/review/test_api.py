"""The review API's behaviour: disputes, decisions, evidence, filters, audit."""

from __future__ import annotations

import numpy as np
import pytest
from review_fixtures import build

from tripguard.geo import decode_polyline


def _file(client, auth, trip_id="porto-0001", statement="I never drove that fast."):
    return client.post("/disputes", json={"trip_id": trip_id, "statement": statement}, headers=auth["backend"])


def test_dispute_lifecycle(client, auth):
    r = _file(client, auth)
    assert r.status_code == 201
    d = r.json()
    assert d["trip_id"] == "porto-0001" and d["status"] == "open" and d["decision"] is None and d["id"] >= 1

    # the backend reads its status; the reviewer sees it in the queue
    assert client.get(f"/disputes/{d['id']}", headers=auth["backend"]).json()["status"] == "open"
    queue = client.get("/disputes", params={"status": "open"}, headers=auth["reviewer"]).json()
    assert [q["id"] for q in queue] == [d["id"]]

    r = client.post(
        f"/disputes/{d['id']}/decision",
        json={"decision": "overturned", "note": "tunnel: GPS lost"},
        headers=auth["reviewer"],
    )
    assert r.status_code == 200
    decided = r.json()
    assert (
        decided["status"] == "decided" and decided["decision"] == "overturned" and decided["note"] == "tunnel: GPS lost"
    )
    assert decided["decided_at"] >= d["created_at"]

    # once only
    again = client.post(f"/disputes/{d['id']}/decision", json={"decision": "upheld"}, headers=auth["reviewer"])
    assert again.status_code == 409
    assert client.get(f"/disputes/{d['id']}", headers=auth["backend"]).json()["decision"] == "overturned"

    assert client.get("/disputes", params={"status": "open"}, headers=auth["backend"]).json() == []
    assert [x["id"] for x in client.get("/disputes", params={"status": "decided"}, headers=auth["backend"]).json()] == [
        d["id"]
    ]


def test_unknown_trip_is_404_and_second_open_dispute_is_409(client, auth):
    assert _file(client, auth, trip_id="no-such-trip").status_code == 404
    first = _file(client, auth, trip_id="porto-0003")
    assert first.status_code == 201
    second = _file(client, auth, trip_id="porto-0003", statement="again")
    assert second.status_code == 409
    assert str(first.json()["id"]) in second.json()["detail"]
    # another trip is independent
    assert _file(client, auth, trip_id="porto-0004").status_code == 201
    # after a decision a new dispute (an appeal) may be filed
    client.post(f"/disputes/{first.json()['id']}/decision", json={"decision": "upheld"}, headers=auth["reviewer"])
    assert _file(client, auth, trip_id="porto-0003", statement="new facts").status_code == 201


def test_decision_on_unknown_dispute_is_404(client, auth):
    assert (
        client.post("/disputes/999/decision", json={"decision": "upheld"}, headers=auth["reviewer"]).status_code == 404
    )
    assert client.get("/disputes/999", headers=auth["reviewer"]).status_code == 404


def test_trip_has_verdict_alerts_and_geojson(client, auth):
    alerts, verdicts = build()
    r = client.get("/trips/porto-0002", headers=auth["reviewer"])
    assert r.status_code == 200
    trip = r.json()
    verdict = next(v for v in verdicts if v["trip_id"] == "porto-0002")
    assert trip["verdict"]["risk_score"] == verdict["risk_score"]
    assert [a["alert_id"] for a in trip["alerts"]] == ["dev-0002"]
    assert trip["alerts"][0]["evidence"] == next(a for a in alerts if a["alert_id"] == "dev-0002")["evidence"]
    assert trip["planned_route"] == verdict["planned_route"]
    assert trip["corridor_cells"] == verdict["corridor_cells"]

    by_role: dict[str, list] = {}
    for f in trip["geojson"]["features"]:
        by_role.setdefault(f["properties"]["role"], []).append(f)
    path = np.array([[lat, lon] for lon, lat in by_role["gps_path"][0]["geometry"]["coordinates"]])
    assert np.allclose(path, decode_polyline(verdict["path"]))
    planned = np.array([[lat, lon] for lon, lat in by_role["planned_route"][0]["geometry"]["coordinates"]])
    assert np.allclose(planned, decode_polyline(verdict["planned_route"]))
    assert sorted(f["properties"]["cell"] for f in by_role["corridor_cell"]) == sorted(verdict["corridor_cells"])
    for f in by_role["corridor_cell"]:
        ring = f["geometry"]["coordinates"][0]
        assert len(ring) == 7 and ring[0] == ring[-1]  # a closed hexagon
    fixes = [(f["geometry"]["coordinates"][1], f["geometry"]["coordinates"][0]) for f in by_role["flagged_fix"]]
    evidence_points = [(p["lat"], p["lon"]) for p in trip["alerts"][0]["evidence"]["points"]]
    assert fixes == evidence_points and len(fixes) >= 3
    assert len(by_role["flagged_segment"]) == 1


def test_trip_without_geometry_evidence_and_unknown_trip(client, auth):
    trip = client.get("/trips/porto-0003", headers=auth["reviewer"]).json()
    roles = {f["properties"]["role"] for f in trip["geojson"]["features"]}
    assert roles == {"gps_path"}  # fare evidence has no fixes; no planned route known
    assert trip["planned_route"] is None and trip["corridor_cells"] is None
    assert client.get("/trips/nope", headers=auth["reviewer"]).status_code == 404


def test_alert_filters(client, auth):
    alerts, _ = build()
    h = auth["reviewer"]

    def ids(**params):
        r = client.get("/alerts", params=params, headers=h)
        assert r.status_code == 200, r.text
        return sorted(a["alert_id"] for a in r.json())

    assert ids() == sorted(a["alert_id"] for a in alerts)
    assert ids(kind="teleport") == ["tel-0001"]
    assert ids(driver_id="drv-17") == ["spd-0001", "tel-0001"]
    assert ids(city="porto") == ids()
    assert ids(city="nyc") == []
    assert ids(trip_id="porto-0002") == ["dev-0002"]
    t_tel = next(a["ts"] for a in alerts if a["alert_id"] == "tel-0001")
    assert ids(since=t_tel, until=t_tel + 1) == ["tel-0001"]  # since inclusive, until exclusive
    assert "tel-0001" not in ids(since=t_tel + 1)
    assert "tel-0001" not in ids(until=t_tel)
    assert len(ids(limit=2)) == 2
    newest_first = [a["ts"] for a in client.get("/alerts", headers=h).json()]
    assert newest_first == sorted(newest_first, reverse=True)
    assert client.get("/alerts", params={"kind": "speeding"}, headers=h).status_code == 422


def test_audit_records_who_did_what(client, auth, tokens, db_path):
    from tripguard.review.store.db import opened
    from tripguard.review.store.tokens import principal_for

    with opened(db_path) as conn:
        ids = {role: principal_for(conn, t).token_id for role, t in tokens.items()}
    d = _file(client, auth).json()
    client.post(
        f"/disputes/{d['id']}/decision", json={"decision": "upheld", "note": "clear jump"}, headers=auth["reviewer"]
    )
    made = client.post("/tokens", json={"role": "backend", "label": "partner"}, headers=auth["admin"]).json()
    client.delete(f"/tokens/{made['id']}", headers=auth["admin"])

    entries = client.get("/audit", headers=auth["admin"]).json()
    got = [(e["action"], e["token_id"], e["role"], e["target"]) for e in entries]
    assert got[:4] == [
        ("token.revoke", ids["admin"], "admin", f"token:{made['id']}"),
        ("token.create", ids["admin"], "admin", f"token:{made['id']}"),
        ("dispute.decide", ids["reviewer"], "reviewer", f"dispute:{d['id']}"),
        ("dispute.create", ids["backend"], "backend", f"dispute:{d['id']}"),
    ]
    assert entries[2]["detail"]["decision"] == "upheld"
    # the fixture's tokens were made by the command line: token_id null, role cli
    assert {(e["token_id"], e["role"]) for e in entries[4:] if e["action"] == "token.create"} == {(None, "cli")}
    ts = [e["at"] for e in entries]
    assert ts == sorted(ts, reverse=True)
    only = client.get("/audit", params={"action": "dispute.decide"}, headers=auth["reviewer"]).json()
    assert [e["action"] for e in only] == ["dispute.decide"]


def test_token_management(client, auth):
    r = client.post("/tokens", json={"role": "reviewer", "label": "alice"}, headers=auth["admin"])
    assert r.status_code == 201
    made = r.json()
    new_auth = {"Authorization": f"Bearer {made['token']}"}
    assert client.get("/alerts", headers=new_auth).status_code == 200
    listed = client.get("/tokens", headers=auth["admin"]).json()
    assert any(t["id"] == made["id"] and t["label"] == "alice" and t["revoked_at"] is None for t in listed)
    assert all("token" not in t and "token_hash" not in t for t in listed)  # never the secret
    r = client.delete(f"/tokens/{made['id']}", headers=auth["admin"])
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert client.get("/alerts", headers=new_auth).status_code == 401
    assert client.delete(f"/tokens/{made['id']}", headers=auth["admin"]).status_code == 200  # idempotent
    assert client.delete("/tokens/9999", headers=auth["admin"]).status_code == 404


@pytest.mark.parametrize("path", ["/healthz"])
def test_healthz_is_open(client, path):
    assert client.get(path).json() == {"status": "ok"}


def test_trip_ids_with_a_slash_work_everywhere(client, auth, db_path):
    """Contract v1 allows "/" in a trip id; such a trip is ingested, can be disputed, and is
    found at /trips/a/b as well as at /trips/a%2Fb (it used to be 404 at both)."""
    from tripguard.review.store.ingest import ingest_records

    alerts, verdicts = build()
    trip = "porto/2024/0005"
    report = ingest_records(db_path, "verdict", [{**verdicts[0], "trip_id": trip}])
    report2 = ingest_records(db_path, "alert", [{**alerts[0], "alert_id": "tel-slash", "trip_id": trip}])
    assert report.verdicts_new == 1 and report2.alerts_new == 1
    d = _file(client, auth, trip_id=trip)
    assert d.status_code == 201
    for path in ("/trips/porto/2024/0005", "/trips/porto%2F2024%2F0005"):
        r = client.get(path, headers=auth["reviewer"])
        assert r.status_code == 200, path
        assert r.json()["trip_id"] == trip and [x["id"] for x in r.json()["disputes"]] == [d.json()["id"]]
    assert [
        a["alert_id"] for a in client.get("/alerts", params={"trip_id": trip}, headers=auth["reviewer"]).json()
    ] == ["tel-slash"]
    assert client.get("/trips/porto/2024", headers=auth["reviewer"]).status_code == 404  # a prefix is not the trip


def _follow(client, path, headers, **params) -> tuple[list, set[int]]:
    """Every page of a list by its Link headers: (items in order, the totals it reported)."""
    items, totals = [], set()
    r = client.get(path, params=params, headers=headers)
    while True:
        assert r.status_code == 200, r.text
        items.extend(r.json())
        totals.add(int(r.headers["x-total-count"]))
        link = r.headers.get("link")
        if link is None:
            return items, totals
        assert link.endswith('>; rel="next"') and link.startswith("</")
        r = client.get(link[1 : link.index(">")], headers=headers)


def test_lists_are_paged_with_a_total_and_a_next_link(client, auth, db_path):
    from tripguard.review.store import disputes
    from tripguard.review.store.db import opened
    from tripguard.review.store.tokens import principal_for

    with opened(db_path) as conn:  # 7 disputes: porto-0003 filed and decided 6 times, then once more
        backend, reviewer = (principal_for(conn, auth[r]["Authorization"].split()[1]) for r in ("backend", "reviewer"))
        for _ in range(6):
            d = disputes.create_dispute(conn, "porto-0003", "again", backend)
            disputes.decide(conn, d["id"], "upheld", "", reviewer)
        disputes.create_dispute(conn, "porto-0003", "and again", backend)

    got, totals = _follow(client, "/disputes", auth["backend"], limit=3)
    assert totals == {7} and len(got) == 7 and len({d["id"] for d in got}) == 7
    assert [d["id"] for d in got] == sorted((d["id"] for d in got), reverse=True)
    alerts, totals = _follow(client, "/alerts", auth["reviewer"], limit=3, city="porto")
    assert totals == {4} and sorted(a["alert_id"] for a in alerts) == sorted(a["alert_id"] for a in build()[0])
    entries, totals = _follow(client, "/audit", auth["admin"], limit=5)
    assert totals == {3 + 13} and len({e["id"] for e in entries}) == 16  # 3 tokens made, 7 filed, 6 decided
    # a page past the end is empty, with the total
    r = client.get("/disputes", params={"offset": 50}, headers=auth["backend"])
    assert r.json() == [] and r.headers["x-total-count"] == "7" and "link" not in r.headers


def test_a_trip_shows_its_newest_disputes_and_how_many_there_are(client, auth, db_path):
    """The trip view shows its newest 100 disputes and says how many there are (it used to show
    up to 500 with no sign of the rest); GET /disputes?trip_id= pages through all of them."""
    from tripguard.review.store import disputes
    from tripguard.review.store.db import opened
    from tripguard.review.store.tokens import principal_for

    n, shown = 105, 100
    with opened(db_path) as conn:
        backend, reviewer = (principal_for(conn, auth[r]["Authorization"].split()[1]) for r in ("backend", "reviewer"))
        for _ in range(n):
            d = disputes.create_dispute(conn, "porto-0001", "again", backend)
            disputes.decide(conn, d["id"], "upheld", "", reviewer)
    trip = client.get("/trips/porto-0001", headers=auth["reviewer"]).json()
    assert trip["disputes_total"] == n and len(trip["disputes"]) == shown
    assert trip["disputes"][0]["id"] == d["id"]  # newest first
    every, totals = _follow(client, "/disputes", auth["reviewer"], trip_id="porto-0001", limit=40)
    assert totals == {n} and [x["id"] for x in every][:shown] == [x["id"] for x in trip["disputes"]]
    assert len({x["id"] for x in every}) == n


def test_a_repeated_filter_matches_any_of_its_values(client, auth):
    h = auth["reviewer"]

    def ids(params):
        r = client.get("/alerts", params=params, headers=h)
        assert r.status_code == 200, r.text
        return sorted(a["alert_id"] for a in r.json())

    assert ids([("kind", "teleport"), ("kind", "route_deviation")]) == ["dev-0002", "tel-0001"]
    assert ids([("kind", "teleport"), ("kind", "teleport")]) == ["tel-0001"]
    assert ids([("trip_id", "porto-0001"), ("trip_id", "porto-0003")]) == ["fare-0003", "spd-0001", "tel-0001"]
    # different filters still all apply
    assert ids([("kind", "teleport"), ("kind", "fare_inflation"), ("driver_id", "drv-08")]) == ["fare-0003"]
    d1 = _file(client, auth, trip_id="porto-0001").json()
    d2 = _file(client, auth, trip_id="porto-0002").json()
    client.post(f"/disputes/{d1['id']}/decision", json={"decision": "upheld"}, headers=h)
    both = client.get("/disputes", params=[("status", "open"), ("status", "decided")], headers=h)
    assert sorted(d["id"] for d in both.json()) == sorted([d1["id"], d2["id"]]) and both.headers["x-total-count"] == "2"
    audit = client.get("/audit", params=[("action", "dispute.create"), ("action", "dispute.decide")], headers=h).json()
    assert sorted(e["action"] for e in audit) == ["dispute.create", "dispute.create", "dispute.decide"]


def test_a_dispute_says_who_decided_it(client, auth, tokens, db_path):
    """A client retrying a decision after a timeout gets 409 and can see whether the decision
    that stands is its own."""
    from tripguard.review.store.db import opened
    from tripguard.review.store.tokens import principal_for

    with opened(db_path) as conn:
        reviewer_id = principal_for(conn, tokens["reviewer"]).token_id
    other = client.post("/tokens", json={"role": "reviewer", "label": "bob"}, headers=auth["admin"]).json()
    d = _file(client, auth).json()
    assert d["decided_by"] is None
    first = client.post(f"/disputes/{d['id']}/decision", json={"decision": "upheld"}, headers=auth["reviewer"])
    assert first.json()["decided_by"] == reviewer_id
    retry = client.post(
        f"/disputes/{d['id']}/decision",
        json={"decision": "overturned"},
        headers={"Authorization": f"Bearer {other['token']}"},
    )
    assert retry.status_code == 409 and f"by token #{reviewer_id}" in retry.json()["detail"]
    assert client.get(f"/disputes/{d['id']}", headers=auth["backend"]).json()["decided_by"] == reviewer_id
