"""The whole endpoint x caller matrix: every API endpoint, called by every role, without a token
and with a bad token, answers with exactly the expected status."""

from __future__ import annotations

import pytest

from tripguard.review.app import create_app

# (method, path template, JSON body, roles allowed, status when allowed)
ENDPOINTS = [
    ("GET", "/healthz", None, "open", 200),
    ("GET", "/trips/{trip_id}", None, {"reviewer"}, 200),
    ("GET", "/drivers/{driver_id}", None, {"reviewer"}, 200),
    ("GET", "/alerts", None, {"reviewer"}, 200),
    ("POST", "/disputes", {"trip_id": "porto-0004", "statement": "I took the fastest road."}, {"backend"}, 201),
    ("GET", "/disputes", None, {"backend", "reviewer"}, 200),
    ("GET", "/disputes/{dispute_id}", None, {"backend", "reviewer"}, 200),
    ("POST", "/disputes/{dispute_id}/decision", {"decision": "overturned", "note": "ok"}, {"reviewer"}, 200),
    ("GET", "/audit", None, {"reviewer", "admin"}, 200),
    ("POST", "/tokens", {"role": "backend", "label": "x"}, {"admin"}, 201),
    ("GET", "/tokens", None, {"admin"}, 200),
    ("DELETE", "/tokens/{token_id}", None, {"admin"}, 200),
]
CALLERS = ["no token", "bad token", "revoked token", "backend", "reviewer", "admin"]


def test_matrix_covers_every_endpoint_of_the_spec(db_path):
    spec = create_app(db_path).openapi()
    in_spec = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert in_spec == {(m, p) for m, p, *_ in ENDPOINTS}


@pytest.mark.parametrize("junk_query", [False, True], ids=["", "unknown query parameter"])
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("method,template,body,allowed,ok", ENDPOINTS, ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS])
def test_status(client, auth, method, template, body, allowed, ok, caller, junk_query):
    """With an unknown query parameter (`?foo=1`) the caller is still authenticated first: 401/403
    for those who may not call, 422 only for those who may."""
    # State each endpoint needs: an open dispute to read or decide, a token to revoke.
    dispute = client.post("/disputes", json={"trip_id": "porto-0001", "statement": "not me"}, headers=auth["backend"])
    assert dispute.status_code == 201
    victim = client.post("/tokens", json={"role": "backend"}, headers=auth["admin"]).json()
    revoked = client.post("/tokens", json={"role": "admin"}, headers=auth["admin"]).json()
    client.delete(f"/tokens/{revoked['id']}", headers=auth["admin"])
    path = template.format(
        trip_id="porto-0001", driver_id="drv-17", dispute_id=dispute.json()["id"], token_id=victim["id"]
    )

    headers = {
        "no token": {},
        "bad token": {"Authorization": "Bearer tg_not-a-real-token"},
        "revoked token": {"Authorization": f"Bearer {revoked['token']}"},
        **auth,
    }[caller]
    r = client.request(method, path, json=body, headers=headers, params={"foo": "1"} if junk_query else None)

    if allowed == "open" or caller in allowed:
        expected = 422 if junk_query else ok
    elif caller in ("no token", "bad token", "revoked token"):
        expected = 401
    else:
        expected = 403
    assert r.status_code == expected, r.text
    if expected == 401:
        assert r.headers["www-authenticate"] == "Bearer"
    if expected in (401, 403):
        assert "detail" in r.json()


def test_other_auth_schemes_are_401(client, tokens):
    for value in (f"Basic {tokens['reviewer']}", tokens["reviewer"], "Bearer", "Bearer  ", f"bearer {'x' * 5000}"):
        assert client.get("/alerts", headers={"Authorization": value}).status_code == 401, value
    # the scheme is case-insensitive (RFC 7235)
    assert client.get("/alerts", headers={"Authorization": f"bearer {tokens['reviewer']}"}).status_code == 200


def test_authentication_comes_before_field_validation(client, auth):
    """An unauthenticated caller learns nothing about the fields: 401, not 422."""
    assert client.post("/disputes", json={"nonsense": 1}).status_code == 401
    assert client.get("/alerts", params={"limit": 0}).status_code == 401
    assert client.post("/disputes", json={"nonsense": 1}, headers=auth["reviewer"]).status_code == 403
    assert client.get("/alerts", params={"foo": 1}).status_code == 401
    assert client.get("/alerts", params=[("limit", 1), ("limit", 2)]).status_code == 401
    assert client.get("/alerts", params={"foo": 1}, headers=auth["backend"]).status_code == 403
    assert client.get("/trips/a%1Bb").status_code == 401
