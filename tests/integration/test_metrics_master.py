"""The Locust master's Prometheus metrics during real runs: a master with two workers."""

from __future__ import annotations

import base64
import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadgen.failures import CATEGORIES
from tests.integration.conftest import GatewayProcess
from tests.integration.support import ROOT, SCALE, free_port, ui_run

pytestmark = pytest.mark.integration

GatewayFactory = Callable[..., GatewayProcess]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
CHARGERS, REJECTED = 16, 4  # every 4th charger has a wrong password: handshake_rejected
REJECTED_LABEL = {"category": "handshake_rejected"}


def parse(text: str) -> Samples:
    """Every sample as {(name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def get(url: str, authorization: str | None = None) -> tuple[int, str, str]:
    """(status, content type, body) of a GET that follows no redirect."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    request = urllib.request.Request(url)
    if authorization:
        request.add_header("Authorization", authorization)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def ids_files(tmp_path: Path) -> tuple[Path, Path]:
    """The gateway's ids file, and the generator's with every 4th password wrong."""
    gateway = tmp_path / "gateway-ids.csv"
    gateway.write_text(
        "id,password\n" + "".join(f"MX-{i:02d},pw-{i}\n" for i in range(CHARGERS)),
        encoding="utf-8",
    )
    generator = tmp_path / "generator-ids.csv"
    generator.write_text(
        "id,password\n"
        + "".join(f"MX-{i:02d},{f'pw-{i}' if i % 4 else 'wrong'}\n" for i in range(CHARGERS)),
        encoding="utf-8",
    )
    return gateway, generator


def timeline_tolerance(path: Path, columns: list[str], last: int = 4) -> dict[str, float]:
    """The most each column moved between two samples (one interval) in the last rows."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[-last:]
    return {
        column: max(
            (abs(float(b[column] or 0) - float(a[column] or 0)) for a, b in pairwise(rows)),
            default=0.0,
        )
        for column in columns
    }


@pytest.mark.timeout(180)
def test_scraped_figures_equal_the_final_summary_within_one_sample(
    gateway_factory: GatewayFactory, tmp_path: Path
) -> None:
    """loadgen run --workers 2 --metrics-port: scraped during the run, connected, attempted,
    established, failed and failures by category equal summary.json within one sample."""
    gateway_ids, generator_ids = ids_files(tmp_path)
    gateway = gateway_factory(basic_auth_file=str(gateway_ids))
    config = tmp_path / "metrics.yaml"
    config.write_text(
        f"target: {gateway.url}/ocpp\n"
        f"charge_points: {{ids_file: {generator_ids}, heartbeat_interval_s: 2,\n"
        "  reconnect: {initial_s: 600, max_s: 600}}\n"  # the rejected ones hardly retry
        f"stages: [{{users: {CHARGERS}, spawn_rate: {CHARGERS}, duration: 8s}}]\n"
        "thresholds: {min_success_rate: null, min_boot_rate: null, max_connect_p95_ms: null}\n",
        encoding="utf-8",
    )
    results = tmp_path / "results"
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    run = subprocess.Popen(
        [sys.executable, "-m", "loadgen", "run", str(config), "--workers", "2"]
        + ["--metrics-port", str(port), "--results", str(results)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    scrapes: list[Samples] = []
    try:
        deadline = time.monotonic() + 120 * SCALE
        while run.poll() is None and time.monotonic() < deadline:
            try:
                status, content_type, body = get(url)
            except OSError:  # not listening yet, or gone
                time.sleep(0.1)
                continue
            assert status == 200 and content_type.startswith("text/plain; version=")
            scrapes.append(parse(body))
            time.sleep(0.2)  # the scrape interval of this test, not synchronisation
        output = run.communicate(timeout=60 * SCALE)[0]
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 0, output[-3000:]
    summary = json.loads((results / "summary.json").read_text())
    running = [s for s in scrapes if value(s, "loadgen_running") == 1]
    assert len(running) >= 10, f"{len(running)} scrapes while running"
    in_stage = [s for s in running if value(s, "loadgen_stage") == 1]
    assert value(in_stage[-1], "loadgen_stage_target_charge_points") == CHARGERS
    assert len({k[1] for k in in_stage[-1] if k[0] == "loadgen_worker_open_files"}) == 2
    last = running[-1]  # the test's last second may already be past the stage's end
    connections = summary["connections"]
    failures = summary["failures"]
    reached = summary["stages"][-1]["reached"]
    connected = value(in_stage[-1], "loadgen_charge_points_connected")
    tolerance = timeline_tolerance(
        results / "timeline.csv", ["connected", *(f"failures_{c}" for c in CATEGORIES)]
    )
    assert abs(connected - reached) <= tolerance["connected"], (connected, reached)
    pairs = {
        "attempted": ("loadgen_connections_attempted_total", connections["attempted"]),
        "established": ("loadgen_connections_established_total", connections["established"]),
        "failed": ("loadgen_connections_failed_total", connections["failed"]),
    }
    tolerance.update(timeline_tolerance(results / "timeline.csv", list(pairs)))
    for column, (metric, expected) in pairs.items():
        scraped = value(last, metric)
        assert abs(scraped - expected) <= tolerance[column], (column, scraped, expected)
    for category in CATEGORIES:
        scraped = value(last, "loadgen_failures_total", category=category)
        expected = failures.get(category, 0)
        assert abs(scraped - expected) <= tolerance[f"failures_{category}"], (category, scraped)
    print(  # the figures compared, for the record
        f"scraped at {value(last, 'loadgen_run_seconds'):.1f} s: connected {connected:g}, "
        + ", ".join(f"{c} {value(last, m):g}" for c, (m, _) in pairs.items())
        + f", handshake_rejected {value(last, 'loadgen_failures_total', **REJECTED_LABEL):g}"
        + f"; summary.json: reached {reached}, "
        + ", ".join(f"{c} {e}" for c, (_, e) in pairs.items())
        + f", failures {failures}; tolerance {tolerance}",
        file=sys.stderr,
    )
    assert failures.get("handshake_rejected", 0) >= REJECTED  # a real failure was measured
    assert value(last, "loadgen_failures_total", category="handshake_rejected") >= REJECTED
    boots = value(last, "loadgen_call_duration_seconds_count", action="BootNotification")
    assert boots == summary["messages"]["BootNotification"]["count"]
    assert value(last, "loadgen_connect_duration_seconds_bucket", le="+Inf") == value(
        last, "loadgen_connect_duration_seconds_count"
    )


CONFIG_UI = """
target: embedded
stages: [{users: 4, spawn_rate: 4, duration: 60s}]
"""


@pytest.mark.timeout(180)
def test_metrics_on_the_web_ui_need_the_login(tmp_path: Path) -> None:
    """With --web-login, /metrics answers only a logged-in user or the login's account as
    HTTP Basic (Prometheus' basic_auth); anyone else gets the login page, not metrics."""
    config = tmp_path / "ui.yaml"
    config.write_text(CONFIG_UI, encoding="utf-8")
    password = "metrics-pw-" + base64.b16encode(os.urandom(6)).decode()
    env = {**os.environ, "LOADGEN_WEB_USER": "ops", "LOADGEN_WEB_PASSWORD": password}

    def basic(user: str, secret: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()

    with ui_run(config, tmp_path / "results", "--workers", "1", "--web-login", env=env) as run:
        for authorization in (None, basic("ops", "wrong"), basic("admin", password), "Bearer x"):
            status, _, body = get(run.url + "/metrics", authorization)
            assert status in (302, 401) and "loadgen_" not in body, (authorization, status)
        status, content_type, body = get(run.url + "/metrics", basic("ops", password))
        assert status == 200 and content_type.startswith("text/plain; version=")
        assert value(parse(body), "loadgen_running") == 0  # not started from the form yet
        status, _, _ = get(run.url + "/metrics", "bAsIc " + basic("ops", password)[6:])
        assert status == 200
    assert password not in run.output


@pytest.mark.timeout(60)
def test_loadgen_run_refuses_a_metrics_port_in_use(tmp_path: Path) -> None:
    """loadgen run --metrics-port on a port in use: exit 2 naming the flag, nothing started."""
    config = tmp_path / "busy.yaml"
    config.write_text(CONFIG_UI, encoding="utf-8")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "loadgen", "run", str(config), "--metrics-port", str(port)]
            + ["--results", str(tmp_path / "results")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60 * SCALE,
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"--metrics-port {port}" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""
