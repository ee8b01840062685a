"""The command line: `tripguard token create` and `tripguard serve`, run as real processes; a
decision survives a restart of the service on the same database file."""

from __future__ import annotations

import httpx
from review_service import new_token, running_service, tripguard

from tripguard.review.tokens import hash_token


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
        d = httpx.post(f"{base}/disputes", json={"trip_id": "porto-0002", "statement": "road closed"}, headers=hb).json()
        r = httpx.post(f"{base}/disputes/{d['id']}/decision", json={"decision": "overturned", "note": "closure confirmed"},
                       headers=hr)
        assert r.status_code == 200
        decided = r.json()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal (returncode -15)
    assert "Application shutdown complete" in proc.stdout.read()

    # a second start on the same file, ingesting the same directory again
    with running_service(db, "--ingest", str(replay_dir)) as (base, proc):
        after = httpx.get(f"{base}/disputes/{d['id']}", headers=hb).json()
        assert after == decided
        assert httpx.post(f"{base}/disputes/{d['id']}/decision", json={"decision": "upheld"}, headers=hr).status_code == 409
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
