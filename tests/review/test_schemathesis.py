"""schemathesis against the service's own OpenAPI spec, with valid tokens of the right role:
no generated request may get a 5xx, and every response must match the documented schema."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from review_fixtures import write_replay_dir

from tripguard.review.app import create_app
from tripguard.review.db import init_db, opened
from tripguard.review.disputes import create_dispute
from tripguard.review.ingest import ingest_dir
from tripguard.review.tokens import CLI, create_token, principal_for

MAX_EXAMPLES = 100  # per operation and generation phase: the whole test runs in well under 2 min

ROLE_FOR = {
    ("GET", "/trips/{trip_id}"): "reviewer",
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


@pytest.fixture(scope="module")
def fuzz_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    db = tmp / "review.db"
    init_db(db)
    ingest_dir(db, write_replay_dir(tmp / "replay"))
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
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
    case.validate_response(response)
