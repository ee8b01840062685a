"""schemathesis against the service's own OpenAPI spec, with valid tokens of the right role:
no generated request may get a 5xx, and every response must match the documented schema. The
database also holds rows with string-typed numbers, as the lax ingest of before stored them."""

from __future__ import annotations

import tempfile
from pathlib import Path

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from review_fixtures import build, write_replay_dir

from tripguard.review.app import create_app
from tripguard.review.store.db import init_db, opened
from tripguard.review.store.disputes import create_dispute
from tripguard.review.store.ingest import ingest_dir, ingest_records
from tripguard.review.store.tokens import CLI, create_token, principal_for

MAX_EXAMPLES = 100  # per operation and generation phase: the whole test runs in well under 2 min

ROLE_FOR = {
    ("GET", "/trips/{trip_id}"): "reviewer",
    ("GET", "/drivers/{driver_id}"): "reviewer",
    ("GET", "/alerts"): "reviewer",
    ("POST", "/disputes"): "backend",
    ("GET", "/disputes"): "reviewer",
    ("GET", "/disputes/{dispute_id}"): "backend",
    ("POST", "/disputes/{dispute_id}/decision"): "reviewer",
    ("GET", "/audit"): "admin",
    ("POST", "/tokens"): "admin",
    ("GET", "/tokens"): "admin",
    ("DELETE", "/tokens/{token_id}"): "admin",
    ("GET", "/healthz"): None,
}


class Tokens:
    """A valid token per role; re-minted when a generated DELETE /tokens/{id} revoked it."""

    def __init__(self, db_path):
        self.db_path = db_path
        self.tokens: dict[str, str] = {}

    def header(self, role: str) -> dict[str, str]:
        with opened(self.db_path) as conn:
            token = self.tokens.get(role)
            if token is None or principal_for(conn, token) is None:
                token = self.tokens[role] = create_token(conn, role, "schemathesis", CLI)[1]
        return {"Authorization": f"Bearer {token}"}


def _with_string_numbers(record: dict) -> dict:
    """The record as a lax upstream sends it: every number a string ("risk_score": "0.5")."""

    def lax(v):
        if isinstance(v, dict):
            return {k: lax(x) for k, x in v.items()}
        if isinstance(v, list):
            return [lax(x) for x in v]
        return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v

    return {k: lax(v) for k, v in record.items()}


def _store_string_numbers(db) -> None:
    """Records with string-typed numbers: ingest now refuses them, and rows the lax ingest of
    before stored as sent replace porto-0001's (the spec's example trip, so it is requested)."""
    alerts, verdicts = build()
    lax_alerts = [_with_string_numbers(a) for a in alerts if a["trip_id"] == "porto-0001"]
    lax_verdict = _with_string_numbers(verdicts[0])
    assert ingest_records(db, "alert", lax_alerts).rejected == len(lax_alerts)
    assert ingest_records(db, "verdict", [lax_verdict]).rejected == 1
    with opened(db) as conn:
        conn.execute("UPDATE verdicts SET body = ? WHERE trip_id = 'porto-0001'", (orjson.dumps(lax_verdict).decode(),))
        for a in lax_alerts:
            conn.execute("UPDATE alerts SET body = ? WHERE alert_id = ?", (orjson.dumps(a).decode(), a["alert_id"]))


@pytest.fixture(scope="module")
def fuzz_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    db = tmp / "review.db"
    init_db(db)
    ingest_dir(db, write_replay_dir(tmp / "replay"))
    _store_string_numbers(db)
    with opened(db) as conn:
        backend = principal_for(conn, create_token(conn, "backend", "setup", CLI)[1])
        for trip in ("porto-0002", "porto-0003", "porto-0004"):
            create_dispute(conn, trip, "generated test dispute", backend)
    return db


@pytest.fixture(scope="module")
def fuzz_tokens(fuzz_db):
    return Tokens(fuzz_db)


def _load_schema():
    # Loaded eagerly, at import (schemathesis' fixture-based lazy loader does not work with
    # pytest 9). The spec does not depend on the data: the app starts over a throwaway database
    # and the `fuzz_app` fixture points it at the fuzz database before any request.
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Path(tmp) / "spec.db")
        return app, schemathesis.openapi.from_asgi("/openapi.json", app)


APP, schema = _load_schema()


def role_for(method: str, path: str) -> str | None:
    # Generated negative cases also try undocumented methods (TRACE /healthz): any role of the path.
    roles_of_path = [r for (_, p), r in ROLE_FOR.items() if p == path]
    assert roles_of_path, f"{path} is not in ROLE_FOR: give the new endpoint its role"
    return ROLE_FOR.get((method.upper(), path), roles_of_path[0])


CURRENT: dict[str, Tokens] = {}


@schema.auth(refresh_interval=None)
class RoleTokens:
    """Registered with schemathesis, so that it knows every case is authenticated (a case it
    generated without Authorization is then not expected to be rejected)."""

    def get(self, case, ctx):
        role = role_for(case.method, case.path)
        if role is None or "tokens" not in CURRENT:  # open endpoint, or asked while collecting
            return None
        return CURRENT["tokens"].header(role)["Authorization"]

    def set(self, case, data, ctx):
        if data:
            case.headers = {**(case.headers or {}), "Authorization": data}


@pytest.fixture(scope="module")
def fuzz_app(fuzz_db, fuzz_tokens):
    APP.state.db_path = fuzz_db
    CURRENT["tokens"] = fuzz_tokens
    yield APP
    CURRENT.clear()


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_responses_match_the_spec(case, fuzz_app):
    assert fuzz_app.state.db_path.exists()
    response = case.call()
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
    )
    case.validate_response(response)


def test_the_fuzzed_database_serves_its_string_typed_rows(fuzz_app, fuzz_tokens):
    """The rows with string-typed numbers are there and answered (the spec's example trip)."""
    from fastapi.testclient import TestClient

    with TestClient(fuzz_app, raise_server_exceptions=False) as client:
        r = client.get("/trips/porto-0001", headers=fuzz_tokens.header("reviewer"))
        assert r.status_code == 200 and r.json()["verdict"]["risk_score"] == 0.97
        with opened(fuzz_app.state.db_path) as conn:
            body = orjson.loads(conn.execute("SELECT body FROM verdicts WHERE trip_id = 'porto-0001'").fetchone()[0])
        assert body["risk_score"] == "0.97"
