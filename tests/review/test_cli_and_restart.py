"""The command line: `tripguard token create` and `tripguard serve`, run as real processes; a
decision survives a restart of the service on the same database file."""

from __future__ import annotations

import httpx
from review_service import new_token, running_service, tripguard

from tripguard.review.store.tokens import hash_token


def test_token_create_prints_the_token_once_and_stores_its_hash(tmp_path):
    db = tmp_path / "t.db"
    token = new_token(db, "reviewer")
    assert token.startswith("tg_") and len(token) >= 40
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("t.db"))
    assert token.encode() not in data
    assert hash_token(token).encode() in data
    assert new_token(db, "reviewer") != token
    listed = tripguard("token", "list", "--db", str(db))
    assert listed.returncode == 0 and listed.stdout.count("reviewer") == 2 and token not in listed.stdout


def test_token_create_reads_tripguard_db_and_rejects_bad_roles(tmp_path):
    db = tmp_path / "env.db"
    r = tripguard("token", "create", "--role", "admin", env={"TRIPGUARD_DB": str(db)})
    assert r.returncode == 0 and db.exists()
    bad = tripguard("token", "create", "--role", "root", "--db", str(db))
    assert bad.returncode == 2 and "--role must be one of backend, reviewer, admin" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_token_revoke(tmp_path):
    db = tmp_path / "t.db"
    new_token(db, "backend")
    assert tripguard("token", "revoke", "1", "--db", str(db)).returncode == 0
    assert "revoked" in tripguard("token", "list", "--db", str(db)).stdout
    missing = tripguard("token", "revoke", "99", "--db", str(db))
    assert missing.returncode == 2 and "no token with id 99" in missing.stderr


def test_decision_survives_a_restart(tmp_path, replay_dir):
    db = tmp_path / "svc.db"
    backend, reviewer = new_token(db, "backend"), new_token(db, "reviewer")
    hb, hr = {"Authorization": f"Bearer {backend}"}, {"Authorization": f"Bearer {reviewer}"}

    with running_service(db, "--ingest", str(replay_dir)) as (base, proc):
        d = httpx.post(
            f"{base}/disputes", json={"trip_id": "porto-0002", "statement": "road closed"}, headers=hb
        ).json()
        r = httpx.post(
            f"{base}/disputes/{d['id']}/decision",
            json={"decision": "overturned", "note": "closure confirmed"},
            headers=hr,
        )
        assert r.status_code == 200
        decided = r.json()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal (returncode -15)
    assert "Application shutdown complete" in proc.stdout.read()

    # a second start on the same file, ingesting the same directory again
    with running_service(db, "--ingest", str(replay_dir)) as (base, proc):
        after = httpx.get(f"{base}/disputes/{d['id']}", headers=hb).json()
        assert after == decided
        assert (
            httpx.post(f"{base}/disputes/{d['id']}/decision", json={"decision": "upheld"}, headers=hr).status_code
            == 409
        )
        actions = [e["action"] for e in httpx.get(f"{base}/audit", headers=hr).json()]
        assert actions[:2] == ["dispute.decide", "dispute.create"]
        assert len(httpx.get(f"{base}/alerts", headers=hr).json()) == 4  # the re-ingest added nothing
    output = proc.stdout.read()
    assert "alerts: 0 new of 4; verdicts: 0 new of 4" in output


def test_serve_with_an_unreachable_broker_fails_with_one_line(tmp_path):
    from tripguard.stream.broker import free_port

    r = tripguard("serve", "--db", str(tmp_path / "x.db"), "--bootstrap", f"127.0.0.1:{free_port()}")
    assert r.returncode == 2
    assert "tripguard: cannot reach Kafka at 127.0.0.1:" in r.stderr and "Traceback" not in r.stderr


def test_serve_rejects_a_missing_ingest_directory(tmp_path):
    r = tripguard("serve", "--db", str(tmp_path / "x.db"), "--ingest", str(tmp_path / "nope"))
    assert r.returncode == 2 and "not a directory" in r.stderr and "Traceback" not in r.stderr


def _session_cookie(base: str, headers=None) -> str:
    r = httpx.get(f"{base}/review/login", headers=headers or {})
    assert r.status_code == 200
    return r.headers["set-cookie"]


def test_proxy_headers_are_ignored_unless_the_proxy_is_trusted(tmp_path):
    """Behind a TLS proxy the service sees http; the cookie is Secure only when the proxy's
    X-Forwarded-Proto is believed, and it is believed only from --forwarded-allow-ips."""
    https = {"X-Forwarded-Proto": "https"}
    with running_service(tmp_path / "a.db") as (base, _):
        assert "secure" not in _session_cookie(base, https).lower()  # anyone could send that header
    with running_service(tmp_path / "a.db", "--forwarded-allow-ips", "127.0.0.1") as (base, proc):
        assert "secure" in _session_cookie(base, https).lower()
        assert "secure" not in _session_cookie(base).lower()  # the proxy said http
    assert "trusting X-Forwarded-Proto/-For from 127.0.0.1" in proc.stdout.read()
    with running_service(tmp_path / "a.db", "--forwarded-allow-ips", "10.9.9.9/32") as (base, _):
        assert "secure" not in _session_cookie(base, https).lower()  # 127.0.0.1 is not that proxy


def test_cookie_secure_setting_and_its_environment_variable(tmp_path):
    with running_service(tmp_path / "a.db", "--cookie-secure") as (base, _):
        assert "secure" in _session_cookie(base).lower()
    with running_service(tmp_path / "a.db", env={"TRIPGUARD_COOKIE_SECURE": "true"}) as (base, _):
        assert "secure" in _session_cookie(base).lower()


def test_bad_forwarded_allow_ips_fail_with_one_line(tmp_path):
    r = tripguard("serve", "--db", str(tmp_path / "x.db"), "--forwarded-allow-ips", "127.0.0.1,proxy.local")
    assert r.returncode == 2 and "forwarded_allow_ips" in r.stderr and "'proxy.local'" in r.stderr
    assert "Traceback" not in r.stderr


def test_access_log_never_records_query_values(tmp_path):
    """A token pasted into a URL (`?token=...`) must not end up in the access log."""
    db = tmp_path / "log.db"
    reviewer = new_token(db, "reviewer")
    with running_service(db) as (base, proc):
        statuses = [
            httpx.get(f"{base}/alerts", params={"token": reviewer}).status_code,
            httpx.get(
                f"{base}/alerts",
                params={"token": reviewer, "kind": "teleport"},
                headers={"Authorization": f"Bearer {reviewer}"},
            ).status_code,
            httpx.get(f"{base}/alerts?{reviewer}").status_code,  # a bare token as the query
        ]
    log = proc.stdout.read()
    assert reviewer not in log and reviewer[:12] not in log
    assert "/alerts?token=* HTTP/1.1" in log and "/alerts?token=*&kind=* HTTP/1.1" in log
    assert "/alerts?* HTTP/1.1" in log
    assert statuses == [401, 422, 401]


def test_token_list_never_prints_raw_escapes(tmp_path):
    """A label stored before labels were checked (or by hand) is printed escaped: a terminal
    must not run its ESC sequences or let \\r overwrite the line."""
    from tripguard.review.store.db import opened

    db = tmp_path / "t.db"
    new_token(db, "backend")
    with opened(db) as conn:
        conn.execute("UPDATE tokens SET label = ? WHERE id = 1", ("ops\x1b[2J\x1b[31m\rroot\u202ex\x00",))
    out = tripguard("token", "list", "--db", str(db))
    assert out.returncode == 0
    for raw in ("\x1b", "\r", "\u202e", "\x00"):
        assert raw not in out.stdout
    assert "ops\\x1b[2J\\x1b[31m\\x0droot\\u202ex\\x00" in out.stdout


def test_token_create_refuses_a_label_with_control_characters(tmp_path):
    db = tmp_path / "t.db"
    r = tripguard("token", "create", "--role", "backend", "--label", "a\x1b]0;owned\x07", "--db", str(db))
    assert r.returncode == 2 and "tripguard: label contains U+001B, a control character" in r.stderr
    assert "Traceback" not in r.stderr
    assert tripguard("token", "list", "--db", str(db)).stdout == ""


def test_a_database_of_the_previous_schema_is_upgraded(tmp_path):
    """A file made before decisions were claimed for publishing (schema 1) gets the new columns;
    its decisions and tokens stay."""
    import sqlite3

    from tripguard.review.store.db import SCHEMA_VERSION, init_db, opened

    db = tmp_path / "v1.db"
    conn = sqlite3.connect(db)
    conn.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE disputes (id INTEGER PRIMARY KEY AUTOINCREMENT, trip_id TEXT NOT NULL, statement TEXT NOT NULL,
            status TEXT NOT NULL, created_at INTEGER NOT NULL, created_by INTEGER NOT NULL, decision TEXT, note TEXT,
            decided_at INTEGER, decided_by INTEGER, published_at INTEGER);
        INSERT INTO disputes VALUES (1, 'porto-0001', 'x', 'decided', 1, 1, 'upheld', '', 2, 3, NULL);
    """)
    conn.commit()
    conn.close()
    init_db(db)
    init_db(db)  # twice: nothing more to do
    with opened(db) as conn:
        assert conn.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION)
        row = conn.execute("SELECT decided_by, publish_claim, publish_claim_until FROM disputes").fetchone()
    assert tuple(row) == (3, None, None)
