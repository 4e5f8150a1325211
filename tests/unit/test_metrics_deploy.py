"""The monitoring files of docker compose: Prometheus config, Grafana dashboard, wiring."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_metrics import FakeMonitor, samples_of

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "loadgen.json"
COMPOSE = ROOT / "docker-compose.yml"
METRIC = re.compile(r"\b((?:loadgen)_[a-z0-9_]+)\b")


def exported_names() -> set[str]:
    """Every sample name the master's and the gateway's collectors export."""
    from locust.stats import RequestStats

    from loadgen.failures import Failure
    from loadgen.gateway.answers import AnswerConfig, Answers
    from loadgen.gateway.metricsproxy import WorkersCollector
    from loadgen.gateway.redisconf import RedisSettings
    from loadgen.gateway.redisstore import RedisMappings
    from loadgen.gateway.server import Gateway
    from loadgen.observe import metrics

    stats = RequestStats()
    stats.log_request("WS", "connect", 10, 0)
    stats.log_request("OCPP", "Heartbeat", 10, 0)
    stats.log_request("server", "Reset", 10, 0)
    stats.log_error("OCPP", "Heartbeat", Failure("call_timeout"))
    names = {name for name, _ in samples_of(metrics.registry_for(FakeMonitor(stats)))}
    mappings = RedisMappings(RedisSettings(url="redis://127.0.0.1:1/0"))
    gateway = Gateway(Answers(AnswerConfig()), mappings)
    gateway.messages["Heartbeat"] = 1  # a family without samples shows no sample names
    names |= {name for name, _ in samples_of(gateway.metrics_registry)}
    names |= {m.samples[0].name for m in WorkersCollector([]).collect() if m.samples} | {
        "loadgen_gateway_worker_up"
    }
    return names


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expression) of every query in the dashboard."""
    document = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                found.append((panel["title"], target["expr"]))
            walk(panel.get("panels", []))

    walk(document["panels"])
    return found


def test_every_metric_a_panel_queries_is_exported() -> None:
    """Each metric name in the dashboard's queries is a sample the code exports."""
    exported = exported_names()
    queries = dashboard_queries()
    assert len(queries) >= 20
    missing = {
        (title, name)
        for title, expr in queries
        for name in METRIC.findall(expr)
        if name not in exported
    }
    assert not missing, f"queried but not exported: {sorted(missing)}"


def test_the_dashboard_answers_the_issues_questions() -> None:
    """Panels for the ramp against target, failures by category, p50/p95/p99 per action, the
    gateway and the Redis pool; all on the provisioned data source."""
    document = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert document["uid"] == "loadgen" and document["title"] == "loadgen"
    exprs = " ".join(expr for _, expr in dashboard_queries())
    for needed in (
        "loadgen_stage_target_charge_points",
        "sum by (category) (rate(loadgen_failures_total",
        "histogram_quantile(0.99, sum by (le, action) (rate(loadgen_call_duration_seconds_bucket",
        "histogram_quantile(0.5, sum by (le) (rate(loadgen_connect_duration_seconds_bucket",
        "loadgen_gateway_connections",
        "loadgen_gateway_redis_pool_timeouts_total",
    ):
        assert needed in exprs, needed
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    uids = {p["datasource"]["uid"] for p in document["panels"] if p.get("type") != "row"}
    assert uids == {datasource["uid"]}


def test_prometheus_config_passes_promtool() -> None:
    """promtool (Debian's prometheus package) accepts the Prometheus config."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed: bash scripts/system-packages.sh installs it")
    done = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_compose_wires_prometheus_to_the_metrics_ports() -> None:
    """docker compose: Prometheus scrapes the ports the master and gateway serve metrics on,
    Grafana mounts the provisioning, and every image is pinned."""
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"][0]
        for job in yaml.safe_load(PROMETHEUS.read_text())["scrape_configs"]
    }
    master = compose["master"]["command"]
    port = master[master.index("--loadgen-metrics-port") + 1]
    assert targets["loadgen-master"] == f"master:{port}"
    assert master[master.index("--loadgen-metrics-host") + 1] == "0.0.0.0"
    if "--web-login" in master:  # then /metrics needs the login: Prometheus sends it
        job = next(
            j
            for j in yaml.safe_load(PROMETHEUS.read_text())["scrape_configs"]
            if j["job_name"] == "loadgen-master"
        )
        password_file = job["basic_auth"]["password_file"]
        started = " ".join(compose["prometheus"]["command"])
        assert f'"$$LOADGEN_WEB_PASSWORD" > {password_file}' in started
        assert "LOADGEN_WEB_PASSWORD" in compose["prometheus"]["environment"]
    gateway = compose["gateway"]["command"]
    assert targets["loadgen-gateway"] == f"gateway:{gateway[gateway.index('--metrics-port') + 1]}"
    assert "--metrics-allow-remote" in gateway
    for name, service in compose.items():
        image = service.get("image")
        if image:
            tag = image.rpartition(":")[2]
            assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: pin {image} to a version"
    mounts = " ".join(compose["grafana"]["volumes"])
    assert "./deploy/grafana/provisioning:" in mounts and "./deploy/grafana/dashboards:" in mounts
    assert "127.0.0.1:3000:3000" in compose["grafana"]["ports"]
    for path in (PROMETHEUS, ROOT / "deploy/grafana/provisioning/dashboards/loadgen.yml"):
        assert path.exists()
