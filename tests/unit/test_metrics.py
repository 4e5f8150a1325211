"""The metrics collectors of the master and the gateway, without sockets."""

from __future__ import annotations

import base64
from types import SimpleNamespace
from typing import Any

import pytest
from locust.stats import RequestStats
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from loadgen.failures import CATEGORIES, Failure
from loadgen.gateway import metrics as gateway_metrics
from loadgen.observe import metrics

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples_of(registry: Any) -> Samples:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


class FakeMonitor:
    """What the collector reads of a Monitor, with fixed figures."""

    def __init__(self, stats: RequestStats) -> None:
        self.environment = SimpleNamespace(stats=stats, runner=SimpleNamespace(user_count=30))
        self.config = SimpleNamespace(stages=[object(), object()])
        self.running = True
        self.peak_connected = 25
        self.redis_info = SimpleNamespace(
            latest=lambda: {
                "connected_clients": 7,
                "blocked_clients": 0,
                "instantaneous_ops_per_sec": 350,
                "used_memory": 1,
            }
        )
        self.workers = {
            "w1": {"connected": 20, "max_rss_kb": 2048, "tcp": {"inuse": 40, "tw": 3}},
            "w2": {"connected": 5, "max_rss_kb": 1024, "tcp": {"inuse": 40, "tw": 3}},
        }

    def totals(self) -> dict[str, int]:
        return {
            "connected": 25,
            "attempted": 31,
            "established": 27,
            "failed": 4,
            "reconnects": 2,
            "booted": 26,
            "lost": 2,
            "probe_checked": 9,
            "probe_missing": 1,
        }

    def position(self) -> Any:
        return SimpleNamespace(index=1, stage=SimpleNamespace(users=40), left_s=12.5)

    def run_time_s(self) -> float:
        return 33.0

    def worker_rows(self) -> list[dict[str, Any]]:
        return [
            {"name": "w1", "state": "running", "connected": 20, "open_files": 31,
             "max_rss_mb": 2.0, "tcp_inuse": 40, "tcp_tw": 3, "tcp_orphan": 0},
            {"name": "w2", "state": "lost", "connected": 5, "open_files": 9,
             "max_rss_mb": 1.0, "tcp_inuse": 40, "tcp_tw": 3, "tcp_orphan": 0},
        ]  # fmt: skip


@pytest.fixture
def stats() -> RequestStats:
    """Locust stats with connects, calls of a known and an unknown action, server calls."""
    stats = RequestStats()
    for ms in (3, 8, 40, 120, 1300, 45000, 90000):
        stats.log_request("WS", "connect", ms, 0)
    stats.log_error("WS", "connect", Failure("connect_timeout"))
    stats.log_error("WS", "connect", Failure("handshake_rejected", "401"))
    stats.log_error("WS", "connect", Failure("handshake_rejected", "503"))
    for ms in (2, 4):
        stats.log_request("OCPP", "BootNotification", ms, 0)
    stats.log_request("OCPP", "charger-CP-0001-private", 7, 0)  # not an OCPP action
    stats.log_request("OCPP", "BootNotification reply", 0, 0)
    stats.log_error("OCPP", "BootNotification reply", "something unheard of")
    stats.log_request("server", "GetConfiguration", 11, 0)
    return stats


def test_master_figures_come_from_the_monitor_and_stats(stats: RequestStats) -> None:
    """Fleet counters, stage, failures by category and per-worker figures are exported."""
    got = samples_of(metrics.registry_for(FakeMonitor(stats)))
    assert got[("loadgen_charge_points_connected", ())] == 25
    assert got[("loadgen_stage_target_charge_points", ())] == 40
    assert got[("loadgen_stage", ())] == 2 and got[("loadgen_stages", ())] == 2
    assert got[("loadgen_connections_attempted_total", ())] == 31
    assert got[("loadgen_connections_failed_total", ())] == 4
    assert got[("loadgen_boots_accepted_total", ())] == 26
    assert got[("loadgen_reconnects_total", ())] == 2
    assert got[("loadgen_failures_total", (("category", "handshake_rejected"),))] == 2
    assert got[("loadgen_failures_total", (("category", "connect_timeout"),))] == 1
    assert got[("loadgen_failures_total", (("category", "other"),))] == 1
    categories = {dict(k[1])["category"] for k in got if k[0] == "loadgen_failures_total"}
    assert categories == {*CATEGORIES, "other"}
    assert got[("loadgen_redis_probe_missing_total", ())] == 1
    assert got[("loadgen_redis_connected_clients", ())] == 7
    assert got[("loadgen_worker_open_files", (("worker", "w1"),))] == 31
    assert got[("loadgen_worker_up", (("worker", "w2"),))] == 0
    assert got[("loadgen_worker_max_rss_bytes", (("worker", "w1"),))] == 2048 * 1024
    assert got[("loadgen_worker_host_tcp_sockets", (("state", "tw"), ("worker", "w2")))] == 3


def test_latency_histograms_keep_locusts_counts_in_fixed_buckets(stats: RequestStats) -> None:
    """Connect times become cumulative buckets with fixed bounds; count and sum match Locust."""
    got = samples_of(metrics.registry_for(FakeMonitor(stats)))

    def bucket(le: str) -> float:
        return got[("loadgen_connect_duration_seconds_bucket", (("le", le),))]

    assert bucket("0.005") == 1 and bucket("0.01") == 2 and bucket("0.05") == 3
    assert bucket("0.25") == 4 and bucket("2.5") == 5 and bucket("60.0") == 6
    assert bucket("+Inf") == 7 == got[("loadgen_connect_duration_seconds_count", ())]
    entry = stats.get("connect", "WS")
    assert got[("loadgen_connect_duration_seconds_sum", ())] == pytest.approx(
        entry.total_response_time / 1000
    )


def test_action_labels_are_bounded(stats: RequestStats) -> None:
    """Only OCPP action names become label values; anything else is one 'other'."""
    got = samples_of(metrics.registry_for(FakeMonitor(stats)))
    actions = {
        dict(labels)["action"] for name, labels in got if name.startswith("loadgen_call_duration")
    }
    assert actions == {"BootNotification", "other"}
    other = got[("loadgen_call_duration_seconds_count", (("action", "other"),))]
    assert other == 2  # the private name and "BootNotification reply", merged
    served = got[("loadgen_server_calls_total", (("action", "GetConfiguration"),))]
    assert served == 1
    assert {"Heartbeat", "TransactionEvent", "GetConfiguration"} <= metrics.ACTIONS
    assert not any("CP-0001" in str(key) for key in got)


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("", False),
        (None, False),
        ("not an address", False),
    ],
)
def test_loopback_is_recognised(address: str | None, loopback: bool) -> None:
    """Loopback addresses, IPv4-mapped ones too, are this host; anything else is not."""
    assert metrics.is_loopback(address) is loopback
    assert gateway_metrics.is_loopback((address, 1234)) is loopback


def call(app: Any, path: str = "/metrics", remote: str = "127.0.0.1", auth: str = "") -> Any:
    said: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        said.update(status=status, headers=dict(headers))

    environ = {"PATH_INFO": path, "REMOTE_ADDR": remote}
    if auth:
        environ["HTTP_AUTHORIZATION"] = auth
    body = b"".join(app(environ, start_response))
    return said["status"], said["headers"], body


def test_the_metrics_port_refuses_other_hosts_and_needs_the_login(
    stats: RequestStats, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The headless endpoint: 403 for other hosts unless allowed; with the login, HTTP Basic
    with the web login's account (scheme in any case) and nothing else."""
    registry = metrics.registry_for(FakeMonitor(stats))
    app = metrics.wsgi_app(registry, allow_remote=False, login=False)
    assert call(app)[0] == "200 OK" and b"loadgen_stage " in call(app)[2]
    assert call(app, remote="10.1.2.3")[0] == "403 Forbidden"
    assert call(app, path="/other")[0] == "404 Not Found"
    remote = metrics.wsgi_app(registry, allow_remote=True, login=False)
    assert call(remote, remote="10.1.2.3")[0] == "200 OK"
    monkeypatch.setenv("LOADGEN_WEB_USER", "ops")
    monkeypatch.setenv("LOADGEN_WEB_PASSWORD", "pw")
    guarded = metrics.wsgi_app(registry, allow_remote=False, login=True)
    status, headers, _ = call(guarded)
    assert status == "401 Unauthorized" and headers["WWW-Authenticate"].startswith("Basic")
    good = base64.b64encode(b"ops:pw").decode()
    assert call(guarded, auth=f"Basic {good}")[0] == "200 OK"
    assert call(guarded, auth=f"basic {good}")[0] == "200 OK"
    for wrong in (b"ops:pw2", b"admin:pw", b"ops:", b"ops"):
        assert call(guarded, auth="Basic " + base64.b64encode(wrong).decode())[0].startswith("401")
    monkeypatch.setenv("LOADGEN_WEB_PASSWORD", "")
    assert call(guarded, auth="Basic " + base64.b64encode(b"ops:").decode())[0].startswith("401")


def test_answer_times_are_a_cumulative_histogram() -> None:
    """The gateway's hot-path histogram: plain ints, converted to cumulative buckets."""
    times = gateway_metrics.AnswerTimes((0.001, 0.01))
    for seconds in (0.0005, 0.001, 0.002, 0.5):
        times.observe(seconds)
    assert times.buckets() == [("0.001", 2), ("0.01", 3), ("+Inf", 4)]
    assert times.sum_s == pytest.approx(0.5035)


def test_gateway_figures_come_from_its_counters() -> None:
    """Connections, messages by action, answer times and the Redis pool stats are exported."""
    from loadgen.gateway.answers import AnswerConfig, Answers
    from loadgen.gateway.server import Gateway

    redis_status = {
        "set": 5, "refreshed": 1, "deleted": 2, "absent": 0, "not_owned": 0,
        "pool_timeouts": 81, "errors": 1, "dropped": 3, "refused": 0, "queued": 4,
        "max_queued": 100, "inflight": 1,
        "pool": {"hits": 10, "misses": 2, "timeouts": 81, "total_conns": 2, "idle_conns": 0,
                 "size": 2},
    }  # fmt: skip
    mappings = SimpleNamespace(status=lambda: redis_status)
    gateway = Gateway(Answers(AnswerConfig()), mappings)  # type: ignore[arg-type]
    gateway.messages.update({"BootNotification": 3, "unknown": 1})
    gateway.answer_times.observe(0.0002)
    got = samples_of(gateway.metrics_registry)
    assert got[("loadgen_gateway_connections", (("version", "1.6"),))] == 0
    assert got[("loadgen_gateway_messages_total", (("action", "BootNotification"),))] == 3
    assert got[("loadgen_gateway_answer_duration_seconds_count", ())] == 1
    assert got[("loadgen_gateway_redis_pool_timeouts_total", ())] == 81
    assert got[("loadgen_gateway_redis_pool_total_conns", ())] == 2
    assert got[("loadgen_gateway_redis_operations_total", (("result", "dropped"),))] == 3
    assert got[("loadgen_gateway_redis_queue_limit", ())] == 100
