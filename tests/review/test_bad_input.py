"""Bad input: 422 naming the field, 413 over the size limit, no stack trace ever, SQL stays data."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tripguard.review import text
from tripguard.review.app import MAX_BODY_BYTES
from tripguard.review.store.disputes import MAX_NOTE_CHARS, MAX_STATEMENT_CHARS


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
    # a repeatable filter's loc goes on to the position of the bad value: ("query", "kind", 0)
    assert any(loc[: len(field)] == field for loc in _fields(client.get(path, params=params, headers=auth["reviewer"])))


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
    assert (
        client.post(
            "/review/login",
            content=b"x" * (MAX_BODY_BYTES + 1),
            headers={"content-type": "application/x-www-form-urlencoded"},
        ).status_code
        == 413
    )
    assert client.get("/disputes", headers=auth["backend"]).json() == []


def test_sql_is_data(client, auth):
    evil = "porto-0001' OR '1'='1"
    assert (
        client.post("/disputes", json={"trip_id": evil, "statement": "x"}, headers=auth["backend"]).status_code == 404
    )
    assert client.get("/alerts", params={"driver_id": "x' OR 1=1 --"}, headers=auth["reviewer"]).json() == []
    assert client.get("/trips/porto-0001'--", headers=auth["reviewer"]).status_code == 404
    statement = "'); DROP TABLE disputes; --"
    d = client.post("/disputes", json={"trip_id": "porto-0001", "statement": statement}, headers=auth["backend"])
    assert d.status_code == 201
    assert client.get(f"/disputes/{d.json()['id']}", headers=auth["backend"]).json()["statement"] == statement


def test_internal_error_has_no_stack_trace(db_path, auth, monkeypatch):
    from fastapi.testclient import TestClient

    from tripguard.review.app import create_app
    from tripguard.review.store import records

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


def test_errors_never_echo_the_input(client, auth, tokens):
    """A 422 names the field and the rule, not the value: the value may be a secret (a token
    pasted into the query) or a driver's 4,000-character statement."""
    for params, field in (
        ({"token": tokens["reviewer"]}, ("query", "token")),
        ({"since": tokens["reviewer"]}, ("query", "since")),
    ):
        r = client.get("/alerts", params=params, headers=auth["reviewer"])
        assert _fields(r) == {field}
        assert tokens["reviewer"] not in r.text and '"input"' not in r.text
    secret = "my-secret-words-" + "x" * 50
    r = client.post(
        "/disputes", json={"trip_id": "porto-0001", "statement": secret, "extra": secret}, headers=auth["backend"]
    )
    assert _fields(r) == {("body", "extra")} and "my-secret-words" not in r.text


def test_error_bodies_are_capped(client, auth):
    """3,000 junk parameters made a 284 KB answer; now the first errors and a count of the rest."""
    r = client.get("/alerts", params=[(f"junk{i}", "v") for i in range(3_000)], headers=auth["reviewer"])
    assert r.status_code == 422 and len(r.content) < 10_000, len(r.content)
    detail = r.json()["detail"]
    assert detail[-1]["type"] == "too_many_errors" and "2980 more errors" in detail[-1]["msg"]
    assert all(tuple(e["loc"][:1]) == ("query",) for e in detail[:-1])
    # one huge parameter name is clipped too
    r = client.get("/alerts", params={"n" * 8_000: "1"}, headers=auth["reviewer"])
    assert r.status_code == 422 and len(r.content) < 2_000, len(r.content)


def test_repeated_single_valued_parameters_are_422(client, auth):
    for name, values in (("since", (1, 2)), ("limit", (5, 6)), ("offset", (0, 0))):
        r = client.get("/alerts", params=[(name, v) for v in values], headers=auth["reviewer"])
        assert _fields(r) == {("query", name)}, name
    r = client.get("/disputes", params=[("limit", 1), ("limit", 2)], headers=auth["backend"])
    assert _fields(r) == {("query", "limit")}


BAD_TEXT = {
    "NUL": "before\x00after",
    "ESC": "red \x1b[31malert\x1b[0m",
    "CR": "innocent\rrewritten",
    "bidi override": "invoice \u202egnp.exe",
    "bidi isolate": "a\u2066b\u2069",
    "C1 control": "a\x9bb",
}
INVISIBLE_ONLY = "\u200b\u200d\ufeff"


def _open_dispute(client, auth):
    r = client.post("/disputes", json={"trip_id": "porto-0001", "statement": "x"}, headers=auth["backend"])
    assert r.status_code == 201
    return r.json()["id"]


# (what, send(client, auth, value) -> response, loc of the field)
TEXT_FIELDS = {
    "statement": (
        lambda c, a, v: c.post("/disputes", json={"trip_id": "porto-0002", "statement": v}, headers=a["backend"]),
        ("body", "statement"),
    ),
    "dispute trip_id": (
        lambda c, a, v: c.post("/disputes", json={"trip_id": v, "statement": "x"}, headers=a["backend"]),
        ("body", "trip_id"),
    ),
    "note": (
        lambda c, a, v: c.post(
            f"/disputes/{_open_dispute(c, a)}/decision", json={"decision": "upheld", "note": v}, headers=a["reviewer"]
        ),
        ("body", "note"),
    ),
    "label": (
        lambda c, a, v: c.post("/tokens", json={"role": "backend", "label": v}, headers=a["admin"]),
        ("body", "label"),
    ),
    "trip path": (lambda c, a, v: c.get("/trips/" + quote(v, safe=""), headers=a["reviewer"]), ("path", "trip_id")),
    "driver_id filter": (
        lambda c, a, v: c.get("/alerts", params={"driver_id": v}, headers=a["reviewer"]),
        ("query", "driver_id", 0),
    ),
}


@pytest.mark.parametrize("bad", BAD_TEXT, ids=list(BAD_TEXT))
@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_control_characters_are_422_naming_the_field(client, auth, field, bad):
    send, loc = TEXT_FIELDS[field]
    r = send(client, auth, BAD_TEXT[bad])
    assert _fields(r) == {loc}, r.text
    assert "U+" in r.json()["detail"][0]["msg"]


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_invisible_only_text_is_422(client, auth, field):
    send, loc = TEXT_FIELDS[field]
    assert _fields(send(client, auth, INVISIBLE_ONLY)) == {loc}


def test_real_text_with_format_characters_is_accepted(client, auth):
    """Line breaks and tabs in a statement, a ZWJ emoji, right-to-left text with its marks: fine."""
    statement = "Line one\nline two\twith a tab. 👩\u200d💻 قال\u200f السائق"
    r = client.post("/disputes", json={"trip_id": "porto-0001", "statement": statement}, headers=auth["backend"])
    assert r.status_code == 201 and r.json()["statement"] == statement
    r = client.post(
        f"/disputes/{r.json()['id']}/decision",
        json={"decision": "upheld", "note": "checked\n\tok"},
        headers=auth["reviewer"],
    )
    assert r.status_code == 200
    assert (
        client.post("/tokens", json={"role": "backend", "label": "Zoë's ops"}, headers=auth["admin"]).status_code == 201
    )


_SAMPLES = st.sampled_from(list("a é字 \t\n\r\x00\x1b\x85\x9b\xa0\xad\u200b\u200d\u200f\u2028\u202e\u2066\u3000\ufeff"))


@settings(max_examples=1_000, deadline=None)
@given(
    v=st.text(st.one_of(_SAMPLES, st.characters(exclude_categories=["Cs"])), max_size=8),
    multiline=st.booleans(),
    required=st.booleans(),
)
def test_the_spec_pattern_states_the_text_rule(v, multiline, required):
    """The pattern in the OpenAPI spec (what schemathesis and clients read) accepts exactly what
    the check accepts."""
    try:
        text.check_text(v, multiline=multiline, required=required)
        accepted = True
    except ValueError:
        accepted = False
    assert bool(re.fullmatch(text.schema_pattern(multiline, required), v)) == accepted


def test_visible_escapes_what_a_terminal_would_obey():
    shown = text.visible("ops\x1b[2J\r\u202eok\u200b \\x1b\x00é")
    assert shown == "ops\\x1b[2J\\x0d\\u202eok\\u200b \\\\x1b\\x00é"
    assert text.visible("plain label, Zoë") == "plain label, Zoë"
