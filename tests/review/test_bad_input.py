"""Bad input: 422 naming the field, 413 over the size limit, no stack trace ever, SQL stays data."""

from __future__ import annotations

import pytest

from tripguard.review.app import MAX_BODY_BYTES
from tripguard.review.models import MAX_NOTE_CHARS, MAX_STATEMENT_CHARS


def _fields(response) -> set[tuple]:
    assert response.status_code == 422, response.text
    return {tuple(e["loc"]) for e in response.json()["detail"]}


@pytest.mark.parametrize(
    "body,field",
    [
        ({"statement": "x"}, ("body", "trip_id")),
        ({"trip_id": "porto-0001"}, ("body", "statement")),
        ({"trip_id": "porto-0001", "statement": ""}, ("body", "statement")),
        ({"trip_id": "porto-0001", "statement": "   \n\t"}, ("body", "statement")),
        ({"trip_id": "porto-0001", "statement": "x" * (MAX_STATEMENT_CHARS + 1)}, ("body", "statement")),
        ({"trip_id": "", "statement": "x"}, ("body", "trip_id")),
        ({"trip_id": "t" * 129, "statement": "x"}, ("body", "trip_id")),
        ({"trip_id": 17, "statement": "x"}, ("body", "trip_id")),
        ({"trip_id": "porto-0001", "statement": ["x"]}, ("body", "statement")),
        ({"trip_id": "porto-0001", "statement": "x", "status": "decided"}, ("body", "status")),
    ],
)
def test_dispute_body_errors_name_the_field(client, auth, body, field):
    assert field in _fields(client.post("/disputes", json=body, headers=auth["backend"]))


def test_statement_at_the_limit_is_accepted(client, auth):
    body = {"trip_id": "porto-0001", "statement": "é" * MAX_STATEMENT_CHARS}
    assert client.post("/disputes", json=body, headers=auth["backend"]).status_code == 201


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, ("body", "decision")),
        ({"decision": "maybe"}, ("body", "decision")),
        ({"decision": "UPHELD"}, ("body", "decision")),
        ({"decision": "upheld", "note": "n" * (MAX_NOTE_CHARS + 1)}, ("body", "note")),
        ({"decision": "upheld", "note": None}, ("body", "note")),
    ],
)
def test_decision_body_errors_name_the_field(client, auth, body, field):
    d = client.post("/disputes", json={"trip_id": "porto-0001", "statement": "x"}, headers=auth["backend"]).json()
    assert field in _fields(client.post(f"/disputes/{d['id']}/decision", json=body, headers=auth["reviewer"]))
    # nothing was decided by the bad request
    assert client.get(f"/disputes/{d['id']}", headers=auth["reviewer"]).json()["status"] == "open"


def test_unpaired_surrogate_is_422_not_500(client, auth):
    raw = b'{"trip_id": "porto-0001", "statement": "bad \\ud800 text"}'
    r = client.post("/disputes", content=raw, headers={**auth["backend"], "content-type": "application/json"})
    assert ("body", "statement") in _fields(r)


def test_non_finite_numbers_in_input_are_422_not_500(client, auth):
    h = {**auth["backend"], "content-type": "application/json"}
    r = client.post("/disputes", content=b'{"trip_id": NaN, "statement": Infinity}', headers=h)
    assert _fields(r) == {("body", "trip_id"), ("body", "statement")}


def test_malformed_json_and_wrong_content(client, auth):
    h = {**auth["backend"], "content-type": "application/json"}
    assert _fields(client.post("/disputes", content=b'{"trip_id": ', headers=h)) == {("body", 12)}
    assert client.post("/disputes", content=b"[]", headers=h).status_code == 422
    assert client.post("/disputes", content=b"\xff\xfe", headers=h).status_code == 422


@pytest.mark.parametrize(
    "path,params,field",
    [
        ("/alerts", {"limit": 0}, ("query", "limit")),
        ("/alerts", {"limit": 501}, ("query", "limit")),
        ("/alerts", {"since": -1}, ("query", "since")),
        ("/alerts", {"since": 10**19}, ("query", "since")),
        ("/alerts", {"until": "yesterday"}, ("query", "until")),
        ("/alerts", {"kind": "speeding"}, ("query", "kind")),
        ("/alerts", {"offset": -5}, ("query", "offset")),
        ("/disputes", {"status": "closed"}, ("query", "status")),
        ("/disputes/0", {}, ("path", "dispute_id")),
        ("/disputes/99999999999999999999", {}, ("path", "dispute_id")),
        ("/disputes/abc", {}, ("path", "dispute_id")),
        ("/trips/" + "t" * 129, {}, ("path", "trip_id")),
    ],
)
def test_query_and_path_errors_name_the_field(client, auth, path, params, field):
    assert field in _fields(client.get(path, params=params, headers=auth["reviewer"]))


def test_body_size_limit(client, auth):
    big = {"trip_id": "porto-0001", "statement": "x" * (MAX_BODY_BYTES + 10)}
    r = client.post("/disputes", json=big, headers=auth["backend"])
    assert r.status_code == 413 and "bytes" in r.json()["detail"]

    # a chunked body has no Content-Length: it is counted while it streams
    def chunks():
        yield b'{"trip_id": "porto-0001", "statement": "'
        for _ in range(20):
            yield b"y" * 8192
        yield b'"}'

    r = client.post("/disputes", content=chunks(), headers={**auth["backend"], "content-type": "application/json"})
    assert r.status_code == 413
    # the limit applies before authentication too, and to the review page's forms
    assert client.post("/disputes", content=b"x" * (MAX_BODY_BYTES + 1)).status_code == 413
    assert client.post("/review/login", content=b"x" * (MAX_BODY_BYTES + 1),
                       headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 413
    assert client.get("/disputes", headers=auth["backend"]).json() == []


def test_sql_is_data(client, auth):
    evil = "porto-0001' OR '1'='1"
    assert client.post("/disputes", json={"trip_id": evil, "statement": "x"}, headers=auth["backend"]).status_code == 404
    assert client.get("/alerts", params={"driver_id": "x' OR 1=1 --"}, headers=auth["reviewer"]).json() == []
    assert client.get("/trips/porto-0001'--", headers=auth["reviewer"]).status_code == 404
    statement = "'); DROP TABLE disputes; --"
    d = client.post("/disputes", json={"trip_id": "porto-0001", "statement": statement}, headers=auth["backend"])
    assert d.status_code == 201
    assert client.get(f"/disputes/{d.json()['id']}", headers=auth["backend"]).json()["statement"] == statement


def test_internal_error_has_no_stack_trace(db_path, auth, monkeypatch):
    from fastapi.testclient import TestClient

    from tripguard.review import records
    from tripguard.review.app import create_app

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals at /srv/app/records.py line 42")

    monkeypatch.setattr(records, "get_trip", broken)
    with TestClient(create_app(db_path), raise_server_exceptions=False) as client:
        r = client.get("/trips/porto-0001", headers=auth["reviewer"])
    assert r.status_code == 500
    body = r.json()
    assert body["detail"] == "internal error" and len(body["error_id"]) == 12
    for leak in ("Traceback", "RuntimeError", "secret", "records.py", "line"):
        assert leak not in r.text


def test_error_responses_never_carry_traces(client, auth):
    """A sweep of bad requests: whatever the status, no trace text in the body."""
    h = {**auth["backend"], "content-type": "application/json"}
    responses = [
        client.post("/disputes", content=b"{", headers=h),
        client.post("/disputes", content=b'{"trip_id": null}', headers=h),
        client.get("/nowhere"),
        client.delete("/alerts", headers=auth["reviewer"]),
        client.get("/disputes/-1", headers=h),
        client.post("/review/disputes/1/decision", data={"decision": "x"}),
    ]
    for r in responses:
        assert r.status_code < 500
        assert "Traceback" not in r.text and 'File "' not in r.text
