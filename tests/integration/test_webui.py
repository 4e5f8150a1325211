"""The web UI as a person uses it: headless Chromium starts a ramp and watches it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.support import ROOT, SCALE, UiRun, ui_run
from tests.integration.support import poll as wait_for

pytestmark = pytest.mark.integration

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

CONFIG = """
target: embedded
charge_points: {heartbeat_interval_s: 2}
stages:
  - {users: 30, spawn_rate: 15, duration: 8s}
  - {users: 60, spawn_rate: 15, duration: 60s}
thresholds: {min_success_rate: 1.0, max_call_p95_ms: {StartTransaction: 1000}}
"""


@pytest.fixture
def running_ui(tmp_path: Path) -> Iterator[tuple[UiRun, Path]]:
    """`loadgen run CONFIG --ui` with 2 workers; ended by its PID with SIGINT."""
    config = tmp_path / "ui.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    results = tmp_path / "results"
    with ui_run(config, results, "--workers", "2") as run:
        yield run, results


@pytest.fixture
def browser():
    """Debian's Chromium, headless, driven by its chromedriver."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("chromium and chromium-driver are not installed (make test installs them)")
    options = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _tab(driver, title: str):
    upper = (
        "translate(normalize-space(), 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')"
    )
    return driver.find_element(By.XPATH, f"//*[@role='tab' and {upper}='{title.upper()}']")


@pytest.mark.timeout(240)
def test_ramp_started_in_the_browser_reaches_the_stage_target(running_ui, browser) -> None:
    """Starting from the form, the Charge points tab shows connected rising to each stage target."""
    run, results = running_ui
    url, proc = run.url, run.proc
    ARTIFACTS.mkdir(exist_ok=True)
    browser.get(url + "/")
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "button[type=submit]"), "start form")
    options = [
        o.get_attribute("value")
        for o in browser.find_elements(By.CSS_SELECTOR, "select[name=loadgenConfig] option")
    ]
    assert "configs/quickstart.yaml" in options  # configs/ are offered in the form
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: _tab(browser, "Charge points"), "Charge points tab").click()

    def connected_row() -> str:
        body = browser.find_element(By.TAG_NAME, "body").text
        line = next((ln for ln in body.splitlines() if ln.startswith("Connected now")), "")
        return line

    wait_for(lambda: "30 / 30" in connected_row(), "first stage target in the tab", 60)
    assert "Stage 1 of 2" in browser.find_element(By.TAG_NAME, "body").text
    wait_for(lambda: "60 / 60" in connected_row(), "second stage target in the tab", 60)
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Stage 2 of 2" in body and "Success rate 100.00%" in body
    # The verdict, live: the idle chargers never start a transaction, so that check has
    # no data and fails, as it will in summary.json; the others hold.
    assert "Verdict failing: max_call_p95_ms.StartTransaction" in body
    assert "Check max_call_p95_ms.StartTransaction FAIL: no data" in body
    assert "Check min_success_rate ok: 1 (limit 1)" in body
    browser.save_screenshot(str(ARTIFACTS / "webui-charge-points.png"))

    _tab(browser, "Charge point workers").click()
    rows = wait_for(
        lambda: [r.text for r in browser.find_elements(By.CSS_SELECTOR, "tbody tr")], "worker rows"
    )
    assert len(rows) == 2  # one row per worker process
    browser.save_screenshot(str(ARTIFACTS / "webui-workers.png"))

    state = json.loads(urllib.request.urlopen(url + "/loadgen/state", timeout=5).read())
    assert state["connected"] == 60 and sum(w["connected"] for w in state["workers"]) == 60
    assert all(w["open_files"] >= w["connected"] for w in state["workers"])

    browser.get(url + "/loadgen/chart")
    svg = wait_for(lambda: browser.find_element(By.TAG_NAME, "svg"), "chart")
    assert "connected 60 / target 60" in svg.text
    browser.save_screenshot(str(ARTIFACTS / "webui-chart.png"))

    proc.send_signal(signal.SIGINT)  # stopped mid-stage; the fixture collects its output
    proc.wait(timeout=60 * SCALE)
    summary = json.loads((results / "summary.json").read_text())
    assert summary["state"] == "interrupted"  # stopped mid-stage by SIGINT
    failed = {c["name"] for c in summary["thresholds"]["checks"] if not c["passed"]}
    assert failed == {"max_call_p95_ms.StartTransaction", "run_completed"}
    assert summary["connections"]["established"] == 60
    assert [s["reached"] for s in summary["stages"]] == [30, 60]
    assert (results / "timeline.png").exists() and (results / "junit.xml").exists()


@pytest.mark.timeout(120)
def test_web_login_keeps_strangers_out_and_the_password_out_of_results(tmp_path: Path) -> None:
    """With --web-login the UI and its routes need the password, which no result file holds."""
    import http.cookiejar
    import urllib.parse

    secret = "s3cret-Pass-9f2c"
    config = tmp_path / "ui.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    results = tmp_path / "results"
    env = {**os.environ, "LOADGEN_WEB_USER": "ops", "LOADGEN_WEB_PASSWORD": secret}
    with ui_run(config, results, "--web-login", "--workers", "1", env=env) as run:
        url = run.url
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        page = wait_for(lambda: opener.open(url + "/loadgen/state", timeout=2), "web UI")
        assert "/login" in page.geturl()  # sent to the login page, no data

        def login(password: str) -> str:
            form = urllib.parse.urlencode({"username": "ops", "password": password}).encode()
            return opener.open(url + "/login_submit", data=form, timeout=5).geturl()

        assert "/login" in login("wrong-password")
        assert "/login" not in login(secret)
        state = json.loads(opener.open(url + "/loadgen/state", timeout=5).read())
        assert state["config"] == "ui"
    out = run.output
    assert secret not in out
    for path in results.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(encoding="utf-8", errors="replace"), path


@pytest.mark.timeout(30)
def test_web_login_without_a_password_exits_2() -> None:
    """--web-login with no LOADGEN_WEB_PASSWORD is refused with the variable to set."""
    env = {k: v for k, v in os.environ.items() if k != "LOADGEN_WEB_PASSWORD"}
    done = subprocess.run(
        [sys.executable, "-m", "loadgen", "run", "configs/quickstart.yaml", "--ui", "--web-login"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=30 * SCALE,
    )
    assert done.returncode == 2
    assert "LOADGEN_WEB_PASSWORD" in done.stderr and "Traceback" not in done.stderr
