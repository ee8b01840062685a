"""Fixtures of the review service tests: a database loaded with realistic trips, tokens of
every role, and an in-process client (no server, no broker)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from review_fixtures import write_replay_dir

from tripguard.review.app import create_app
from tripguard.review.store.db import init_db, opened
from tripguard.review.store.ingest import ingest_dir
from tripguard.review.store.tokens import CLI, ROLES, create_token


@pytest.fixture
def replay_dir(tmp_path):
    return write_replay_dir(tmp_path / "replay")


@pytest.fixture
def db_path(tmp_path, replay_dir):
    path = tmp_path / "review.db"
    init_db(path)
    report = ingest_dir(path, replay_dir)
    assert report.rejected == 0, report.summary()
    return path


@pytest.fixture
def tokens(db_path) -> dict[str, str]:
    """role -> a bearer token of that role."""
    with opened(db_path) as conn:
        return {role: create_token(conn, role, f"test {role}", CLI)[1] for role in ROLES}


@pytest.fixture
def auth(tokens):
    """role -> the Authorization header of that role."""
    return {role: {"Authorization": f"Bearer {t}"} for role, t in tokens.items()}


@pytest.fixture
def client(db_path):
    # raise_server_exceptions=False: a 5xx must be seen as the response a client would get.
    with TestClient(create_app(db_path), raise_server_exceptions=False) as c:
        yield c
