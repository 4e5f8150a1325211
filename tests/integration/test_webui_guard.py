"""The web UI against strangers: unknown /swarm fields, other sites, rebound names, logins."""

from __future__ import annotations

import http.client
import json
import os
import string
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.support import UiRun, ui_run

pytestmark = pytest.mark.integration

CONFIG = """
target: embedded
stages:
  - {users: 5, spawn_rate: 5, duration: 30s}
"""
EVIL = "http://evil.example"


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UiRun, Path]]:
    """One `loadgen run --ui` (no login) for the module; SIGINT at its end."""
    folder = tmp_path_factory.mktemp("ui")
    config = folder / "guard.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    with ui_run(config, folder / "results", "--workers", "1") as run:
        yield run, folder
    log = (folder / "results" / "locust.log").read_text(encoding="utf-8", errors="replace")
    # No request raised: Locust logs a view's exception as "resulted in a 500".
    assert "resulted in a 5" not in log and "webui.py" not in log, log[-3000:]
    assert not Path("/tmp/loadgen-evil").exists()  # no injected html_file was written


def request(
    run: UiRun,
    method: str,
    path: str,
    form: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request to the UI: (status, headers in lower case, body)."""
    parts = urllib.parse.urlsplit(run.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    body = urllib.parse.urlencode(form or []).encode() if form is not None else None
    sent = dict(headers or {})
    if body is not None:
        sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
    try:
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def not_started(run: UiRun) -> bool:
    """Whether the UI's run is still waiting for its start (no test under way)."""
    status, _, body = request(run, "GET", "/loadgen/state")
    return status == 200 and json.loads(body)["running"] is False


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "form",
    [
        [("html_file", "/tmp/loadgen-evil/report.html")],
        [("loadgen_config", "/etc/passwd")],
        [("loadgen_results", "/tmp/loadgen-evil")],
        [("loadgen_users", "100000")],
        [("loadgen_ocpp_version", "3.0")],
        [("host", "ws://<script>/x")],
        [("host", "http://127.0.0.1:1/not-websocket")],
        [("user_count", "1e9")],
        [("spawn_rate", "nan")],
        [("run_time", "forever")],
        [("user_classes", "ChargePoint")],
    ],
    ids=lambda form: form[0][0] + "=" + form[0][1][:12],
)
def test_swarm_refuses_unknown_fields_and_values_not_offered(ui, form) -> None:
    """A /swarm form with a field the start form lacks, or a value it does not offer, is 400."""
    run, _ = ui
    status, _, body = request(run, "POST", "/swarm", form)
    assert status == 400, body
    assert len(body) < 1000
    assert not_started(run)


@pytest.mark.timeout(60)
def test_other_sites_get_no_answer_and_no_cors_headers(ui) -> None:
    """Requests from another origin are 403 and no response grants CORS to any origin."""
    run, _ = ui
    status, headers, _ = request(run, "GET", "/loadgen/state", headers={"Origin": EVIL})
    assert status == 403 and "access-control-allow-origin" not in headers
    status, headers, _ = request(
        run,
        "OPTIONS",
        "/swarm",
        headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"},
    )
    assert status == 403 and "access-control-allow-origin" not in headers
    status, _, _ = request(run, "POST", "/swarm", [], headers={"Origin": EVIL})
    assert status == 403
    status, _, _ = request(run, "POST", "/stop", [], headers={"Referer": EVIL + "/page"})
    assert status == 403
    status, headers, _ = request(run, "GET", "/loadgen/state", headers={"Origin": run.url})
    assert status == 200 and "access-control-allow-origin" not in headers
    assert not_started(run)


@pytest.mark.timeout(60)
def test_a_rebound_host_name_is_refused_without_a_login(ui) -> None:
    """Without --web-login, a Host that is a foreign DNS name (rebinding) gets 403."""
    run, _ = ui
    port = urllib.parse.urlsplit(run.url).port
    status, _, body = request(run, "GET", "/", headers={"Host": f"evil.example:{port}"})
    assert status == 403 and b"LOADGEN_WEB_HOSTS" in body
    status, _, _ = request(run, "POST", "/swarm", [], headers={"Host": f"evil.example:{port}"})
    assert status == 403
    assert request(run, "GET", "/", headers={"Host": f"localhost:{port}"})[0] == 200
    assert not_started(run)


KNOWN = ["user_count", "spawn_rate", "host", "run_time", "profile", "loadgen_config"]
UNKNOWN = [
    "html_file",
    "loadgen_results",
    "loadgen_users",
    "loadgen_run_time",
    "loadgen_metrics_port",
    "master_host",
    "headless",
    "csv_prefix",
    "user_classes",
    "shape_class",
    "web_login",
]
TEXT = st.text(max_size=40) | st.text(string.printable, max_size=3000)
POISON = st.one_of(
    st.tuples(st.sampled_from(UNKNOWN) | st.text(min_size=1, max_size=30), TEXT),
    st.tuples(st.just("loadgen_config"), st.sampled_from(["/etc/passwd", "../x.yaml", ""]) | TEXT),
    st.tuples(st.just("loadgen_ocpp_version"), st.sampled_from(["2.2", "1.5", " 2.1"])),
    st.tuples(st.just("user_count"), st.sampled_from(["-1", "1.5", "9" * 30, "x", ""])),
    st.tuples(st.just("spawn_rate"), st.sampled_from(["-1", "inf", "nan", "1e400", "x", ""])),
    st.tuples(st.just("run_time"), st.sampled_from(["1x", "h", "9" * 50, "1h2h3h4h"])),
    st.tuples(st.just("host"), st.sampled_from(["x", "ws://", "ftp://h/", "ws://h:99999/"])),
)


@pytest.mark.timeout(300)
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    valid=st.lists(st.tuples(st.sampled_from(KNOWN), st.text(max_size=20)), max_size=4),
    poison=POISON,
    where=st.integers(0, 4),
    foreign=st.booleans(),
)
def test_random_swarm_forms_get_a_4xx_and_start_nothing(ui, valid, poison, where, foreign) -> None:
    """Random /swarm forms with one bad field or value get a short 4xx; no load starts."""
    run, folder = ui
    form = list(valid)
    form.insert(min(where, len(form)), poison)
    headers = {"Origin": EVIL} if foreign else {}
    status, _, body = request(run, "POST", "/swarm", form, headers)
    assert 400 <= status < 500, (status, body[:500])
    assert len(body) < 2000
    assert not_started(run)


@pytest.mark.timeout(120)
def test_login_compares_bytes_and_the_cookie_is_samesite_strict(tmp_path: Path) -> None:
    """A non-ASCII user name logs in (and a wrong one is refused, not a 500); the session
    cookie is SameSite=Strict."""
    config = tmp_path / "login.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    env = {**os.environ, "LOADGEN_WEB_USER": "opérateur", "LOADGEN_WEB_PASSWORD": "pässwörd-7"}
    with ui_run(config, tmp_path / "results", "--web-login", "--workers", "1", env=env) as run:

        def login(user: str, password: str) -> tuple[int, dict[str, str]]:
            form = [("username", user), ("password", password)]
            status, headers, _ = request(run, "POST", "/login_submit", form)
            return status, headers

        status, headers = login("ünknown", "x")
        assert status == 302 and "/login" in headers["location"]
        status, headers = login("opérateur", "pässwörd-7")
        assert status == 302 and "/login" not in headers["location"]
        assert "samesite=strict" in headers["set-cookie"].lower()
        assert "httponly" in headers["set-cookie"].lower()
