"""The review page in headless Chromium (Debian's chromium + chromium-driver, driven by
selenium): log in, open the queue, open a trip, decide, see the decision. A screenshot of the
decided trip view is saved under tests/artifacts/."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import httpx
import pytest
from review_service import new_token, running_service

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def _ensure_chromium() -> None:
    """The test setup installs the browser when it is missing (scripts/ensure-chromium)."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    r = subprocess.run([str(REPO / "scripts" / "ensure-chromium")], capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        pytest.fail(f"scripts/ensure-chromium failed: {r.stderr[-2000:]}")


@pytest.fixture
def browser(tmp_path):
    _ensure_chromium()
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium must never try to download a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,2200",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_review_flow_in_chromium(browser, tmp_path, replay_dir):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    def arrive(url: str) -> None:
        """Wait for the navigation a click started (a click does not wait for the next page)."""
        WebDriverWait(browser, 15).until(EC.url_to_be(url))
        WebDriverWait(browser, 15).until(lambda d: d.execute_script("return document.readyState") == "complete")

    db = tmp_path / "browser.db"
    backend, reviewer = new_token(db, "backend"), new_token(db, "reviewer")
    with running_service(db, "--ingest", str(replay_dir)) as (base, _):
        hb = {"Authorization": f"Bearer {backend}"}
        disputes = {}
        for trip, words in (
            ("porto-0001", "My phone lost GPS in the tunnel; I never drove that fast."),
            ("porto-0002", "The road was closed; the app sent me around."),
        ):
            disputes[trip] = httpx.post(
                f"{base}/disputes", json={"trip_id": trip, "statement": words}, headers=hb
            ).json()

        # the queue needs a login first
        browser.get(f"{base}/review/")
        assert browser.current_url == f"{base}/review/login"
        browser.find_element(By.ID, "token").send_keys(reviewer)
        browser.find_element(By.ID, "login").click()
        arrive(f"{base}/review/")

        # the queue lists both open disputes
        links = {a.text: a for a in browser.find_elements(By.CSS_SELECTOR, "#queue a.open-dispute")}
        assert set(links) == {"porto-0001", "porto-0002"}
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "review-queue.png"))

        # the trip view: map with the path, flagged fixes and segments; the evidence
        links["porto-0001"].click()
        arrive(f"{base}/review/disputes/{disputes['porto-0001']['id']}")
        svg = browser.find_element(By.ID, "trip-map")
        assert svg.find_element(By.CSS_SELECTOR, "polyline.gps").is_displayed()
        assert len(svg.find_elements(By.CSS_SELECTOR, "circle.fix")) == 6  # 2 teleport + 4 speed fixes
        assert len(svg.find_elements(By.CSS_SELECTOR, "polyline.flagged")) == 2
        evidence = browser.find_element(By.CSS_SELECTOR, ".alerts").text
        assert "teleport" in evidence and "implied_speed_mps" in evidence and "impossible_speed" in evidence
        assert browser.find_element(By.ID, "dispute-status").text == "open"

        # decide
        browser.find_element(By.ID, "note").send_keys("Tunnel under Av. da Boavista: GPS lost, no jump.")
        form = browser.find_element(By.ID, "decide-form")
        browser.find_element(By.ID, "overturn").click()
        WebDriverWait(browser, 15).until(EC.staleness_of(form))  # the post-redirect-get page replaced it

        # the decision is shown, and the decide form is gone
        assert browser.find_element(By.ID, "decision-value").text.lower() == "overturned"
        assert browser.find_element(By.ID, "dispute-status").text == "decided"
        assert "Tunnel under Av. da Boavista" in browser.find_element(By.ID, "decision-note").text
        assert not browser.find_elements(By.ID, "decide-form")
        shot = ARTIFACTS / "review-decided.png"
        browser.save_screenshot(str(shot))

        # the service agrees, and the queue moved on
        api = httpx.get(f"{base}/disputes/{disputes['porto-0001']['id']}", headers=hb).json()
        assert api["status"] == "decided" and api["decision"] == "overturned"
        browser.get(f"{base}/review/")
        remaining = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#queue a.open-dispute")]
        assert remaining == ["porto-0002"]

    data = shot.read_bytes()
    width, height = _png_size(data)
    assert (width, height) >= (1000, 1000) and len(data) > 50_000, (width, height, len(data))
