"""GET /drivers/{driver_id}: the driver's risk as the driver-risk stage computes it, for reviewers
only (auth before validation), 422 for a bad id without echoing it, 404 for a driver with no
trip; an upheld decision raises the score."""

from __future__ import annotations

from tripguard.config.files import CityTables
from tripguard.review.store.db import opened
from tripguard.review.store.drivers import driver_risk


def test_a_reviewer_sees_the_drivers_score_history_and_evidence(client, auth):
    r = client.get("/drivers/drv-17", headers=auth["reviewer"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["driver_id"] == "drv-17" and body["city"] == "porto" and body["trips_total"] == 1
    assert [t["trip_id"] for t in body["trips"]] == ["porto-0001"]
    assert sorted(k["kind"] for k in body["evidence"]["kinds"]) == ["impossible_speed", "teleport"]
    assert body["windows"]["30d"]["trips"] == 1 and 0.0 <= body["score"] <= 1.0 and body["level"] == "low"
    clean = client.get("/drivers/drv-03", headers=auth["reviewer"]).json()
    assert clean["score"] < body["score"] and clean["evidence"]["kinds"] == []


def test_an_upheld_decision_raises_the_score(client, auth, db_path):
    before = client.get("/drivers/drv-17", headers=auth["reviewer"]).json()["score"]
    d = client.post("/disputes", json={"trip_id": "porto-0001", "statement": "no"}, headers=auth["backend"]).json()
    assert (
        client.post(f"/disputes/{d['id']}/decision", json={"decision": "upheld"}, headers=auth["reviewer"]).status_code
        == 200
    )
    with opened(db_path) as conn:  # decided an hour after the trip (the fixtures' trips are from 2024)
        conn.execute(
            "UPDATE disputes SET decided_at = (SELECT ts FROM verdicts WHERE trip_id = 'porto-0001')"
            " + 3600000 WHERE id = ?",
            (d["id"],),
        )
    after = client.get("/drivers/drv-17", headers=auth["reviewer"]).json()
    assert after["score"] > before and after["windows"]["30d"]["upheld"] == 1
    with opened(db_path) as conn:  # the page and the API share the one computation
        assert driver_risk(conn, "drv-17", CityTables.load())["score"] == after["score"]


def test_roles_bad_ids_and_unknown_drivers(client, auth):
    assert client.get("/drivers/drv-17").status_code == 401
    assert client.get("/drivers/drv-17", headers=auth["backend"]).status_code == 403
    assert client.get("/drivers/" + "x" * 129, headers=auth["backend"]).status_code == 403  # auth before validation
    long = client.get("/drivers/" + "x" * 129, headers=auth["reviewer"])
    assert long.status_code == 422 and "x" * 129 not in long.text
    assert client.get("/drivers/drv-17", params={"knd": "1"}, headers=auth["reviewer"]).status_code == 422
    missing = client.get("/drivers/nobody-here", headers=auth["reviewer"])
    assert missing.status_code == 404 and "nobody-here" not in missing.text


def test_the_dispute_page_shows_the_driver_and_the_queue_is_ordered_by_risk(auth, client, tokens):
    from tests.review.test_pages import _login

    assert _login(client, tokens["reviewer"]).status_code == 303
    reviewer = client
    ids = {}
    for trip in ("porto-0004", "porto-0001"):  # the clean driver's dispute is filed first
        ids[trip] = client.post("/disputes", json={"trip_id": trip, "statement": "no"}, headers=auth["backend"]).json()[
            "id"
        ]
    page = reviewer.get(f"/review/disputes/{ids['porto-0001']}")
    assert page.status_code == 200 and 'id="driver-risk"' in page.text and "Driver drv-17" in page.text
    queue = reviewer.get("/review/").text
    first, second = (queue.index(f'href="/review/disputes/{ids[t]}"') for t in ("porto-0001", "porto-0004"))
    assert first < second  # drv-17 (teleport, impossible speed) before the clean drv-03
