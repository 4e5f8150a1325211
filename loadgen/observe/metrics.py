"""Prometheus metrics of a run, served by the Locust master at ``/metrics``.

A custom ``prometheus_client`` collector reads the :class:`~loadgen.observe.telemetry.Monitor`
and Locust's stats at scrape time, so every figure is the fleet's, from the same worker
samples and stats entries the verdict in ``summary.json`` uses. Nothing is counted twice
and nothing runs between scrapes.

Where it is served:

* with the web UI, as the route ``/metrics`` of Locust's Flask app, behind the web login
  when ``--web-login`` is on (a logged-in session, or HTTP Basic with the same
  ``LOADGEN_WEB_USER`` / ``LOADGEN_WEB_PASSWORD``, which Prometheus can send);
* with ``--loadgen-metrics-port PORT``, on a small gevent WSGI server of its own at
  ``--loadgen-metrics-host`` (default 127.0.0.1), e.g. for headless runs.

Either answers loopback clients only unless ``--loadgen-metrics-host`` names a
non-loopback address (``0.0.0.0`` for any). Label values are bounded: failure categories,
OCPP action names from the ``ocpp`` package's enums (anything else is ``other``), and
worker names; never a charge point id.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from loadgen.failures import CATEGORIES, category_of
from loadgen.ocpp.actions import ALL_ACTIONS

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
#: Upper bounds (seconds) of the latency histograms. Locust keeps response times rounded
#: (to 10 ms above 100 ms, 100 ms above 1 s, 1 s above 10 s), so a time near a bound may
#: land in the neighbouring bucket.
BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
OTHER = "other"
#: the web login's account (see loadgen.observe.webui)
USER_ENV, PASSWORD_ENV = "LOADGEN_WEB_USER", "LOADGEN_WEB_PASSWORD"
_PROBE_KEYS = ("checked", "found", "missing", "unchecked")
_TCP_STATES = ("inuse", "orphan", "tw", "alloc")


#: every OCPP action name of 1.6, 2.0.1 and 2.1 (label values are only these, or "other")
ACTIONS = ALL_ACTIONS


def action_label(name: str) -> str:
    """``name`` when it is an OCPP action, else ``other`` (keeps label values bounded)."""
    return name if name in ACTIONS else OTHER


def histogram_buckets(response_times_ms: dict[int, int]) -> tuple[list[tuple[str, float]], int]:
    """Cumulative ``(le, count)`` buckets from Locust's ``{ms: count}``, and the count."""
    counts = [0] * (len(BUCKETS_S) + 1)
    for ms, n in response_times_ms.items():
        seconds = ms / 1000.0
        for i, bound in enumerate(BUCKETS_S):
            if seconds <= bound:
                counts[i] += n
                break
        else:
            counts[-1] += n
    buckets: list[tuple[str, float]] = []
    running = 0
    for le, n in zip((*map(repr, BUCKETS_S), "+Inf"), counts, strict=True):
        running += n
        buckets.append((le, running))
    return buckets, running


class RunCollector(Collector):
    """The fleet's figures, read from the Monitor and Locust's stats at each scrape."""

    def __init__(self, monitor: Any) -> None:
        self.monitor = monitor  # loadgen.observe.telemetry.Monitor (not imported: no cycle)

    def collect(self) -> Iterator[Metric]:
        monitor = self.monitor
        totals = monitor.totals()
        yield from self._run(monitor, totals)
        yield from self._connections(totals)
        stats = monitor.environment.stats
        yield self._failures(stats)
        yield from self._latencies(stats)
        yield from self._redis(monitor, totals)
        yield from self._workers(monitor)

    # -- stage and fleet ------------------------------------------------------------------

    @staticmethod
    def _run(monitor: Any, totals: dict[str, int]) -> Iterator[Metric]:
        where = monitor.position()
        runner = monitor.environment.runner
        values = (
            ("loadgen_running", "1 while a test runs, else 0", int(monitor.running)),
            ("loadgen_run_seconds", "seconds since the test started", monitor.run_time_s()),
            ("loadgen_stage", "current stage, 1-based; 0 outside the stages", where.index + 1)
            if where
            else ("loadgen_stage", "current stage, 1-based; 0 outside the stages", 0),
            ("loadgen_stages", "stages in the config", len(monitor.config.stages)),
            (
                "loadgen_stage_target_charge_points",
                "charge points the current stage ramps to",
                where.stage.users if where else 0,
            ),
            (
                "loadgen_stage_seconds_left",
                "seconds until the current stage ends",
                where.left_s if where else 0,
            ),
            (
                "loadgen_charge_points_connected",
                "charge points with an open WebSocket, over all workers",
                totals.get("connected", 0),
            ),
            (
                "loadgen_charge_points_peak_connected",
                "most charge points connected at once during this test",
                monitor.peak_connected,
            ),
            ("loadgen_users", "Locust users running", getattr(runner, "user_count", 0) or 0),
            (
                "loadgen_charge_points_lost_with_workers",
                "charge points held by workers that went missing",
                totals.get("lost_with_workers", 0),
            ),
        )
        for name, doc, value in values:
            yield GaugeMetricFamily(name, doc, value=float(value))

    @staticmethod
    def _connections(totals: dict[str, int]) -> Iterator[Metric]:
        counters = (
            ("loadgen_connections_attempted", "connection attempts", "attempted"),
            ("loadgen_connections_established", "connections established", "established"),
            ("loadgen_connections_failed", "connection attempts that failed", "failed"),
            ("loadgen_connections_lost", "established connections lost", "lost"),
            ("loadgen_reconnects", "connections after a lost one", "reconnects"),
            ("loadgen_boots_accepted", "BootNotifications answered Accepted", "booted"),
        )
        for name, doc, key in counters:
            yield CounterMetricFamily(name, doc, value=float(totals.get(key, 0)))

    @staticmethod
    def _failures(stats: Any) -> Metric:
        by_category = dict.fromkeys((*CATEGORIES, OTHER), 0)
        for error in stats.errors.values():
            by_category[category_of(str(error.error))] += error.occurrences
        family = CounterMetricFamily(
            "loadgen_failures", "failures by category (as in summary.json)", labels=["category"]
        )
        for category, count in by_category.items():
            family.add_metric([category], float(count))
        return family

    # -- latencies from Locust's stats ----------------------------------------------------

    @staticmethod
    def _latencies(stats: Any) -> Iterator[Metric]:
        connect = HistogramMetricFamily(
            "loadgen_connect_duration_seconds",
            "TCP connect + TLS + WebSocket upgrade (Locust's WS connect)",
        )
        calls = HistogramMetricFamily(
            "loadgen_call_duration_seconds",
            "a CALL from the charge point until its answer, by action",
            labels=["action"],
        )
        served = HistogramMetricFamily(
            "loadgen_server_call_duration_seconds",
            "a CALL from the server until the charge point answered it, by action",
            labels=["action"],
        )
        failed = CounterMetricFamily(
            "loadgen_calls_failed", "failed exchanges by kind and action", labels=["kind", "action"]
        )
        answered = CounterMetricFamily(
            "loadgen_server_calls", "CALLs from the server answered, by action", labels=["action"]
        )
        merged: dict[tuple[str, str], tuple[dict[int, int], float, int]] = {}
        for (name, method), entry in list(stats.entries.items()):
            if method == "WS" and name == "connect":
                buckets, _ = histogram_buckets(entry.response_times)
                connect.add_metric([], buckets, entry.total_response_time / 1000.0)
                continue
            if method not in ("OCPP", "server"):
                continue
            key = (method, action_label(name))
            times, total_ms, failures = merged.get(key, ({}, 0.0, 0))
            for ms, n in entry.response_times.items():
                times[ms] = times.get(ms, 0) + n
            total_ms += entry.total_response_time
            merged[key] = (times, total_ms, failures + entry.num_failures)
        for (method, action), (times, total_ms, failures) in sorted(merged.items()):
            buckets, count = histogram_buckets(times)
            (calls if method == "OCPP" else served).add_metric([action], buckets, total_ms / 1000.0)
            failed.add_metric([method, action], float(failures))
            if method == "server":
                answered.add_metric([action], float(count))
        yield from (connect, calls, served, failed, answered)

    # -- Redis probe and INFO, workers ----------------------------------------------------

    @staticmethod
    def _redis(monitor: Any, totals: dict[str, int]) -> Iterator[Metric]:
        for key in _PROBE_KEYS:
            yield CounterMetricFamily(
                f"loadgen_redis_probe_{key}",
                f"mapping checks of the Redis probe: {key}",
                value=float(totals.get(f"probe_{key}", 0)),
            )
        info = monitor.redis_info.latest() if monitor.redis_info is not None else {}
        for field in ("connected_clients", "blocked_clients", "instantaneous_ops_per_sec"):
            if isinstance(info.get(field), int | float):
                yield GaugeMetricFamily(
                    f"loadgen_redis_{field}", f"the gateway's Redis: INFO {field}", info[field]
                )

    @staticmethod
    def _workers(monitor: Any) -> Iterator[Metric]:
        connected = GaugeMetricFamily(
            "loadgen_worker_charge_points_connected", "charge points per worker", labels=["worker"]
        )
        files = GaugeMetricFamily(
            "loadgen_worker_open_files", "open files per worker process", labels=["worker"]
        )
        rss = GaugeMetricFamily(
            "loadgen_worker_max_rss_bytes", "peak memory per worker process", labels=["worker"]
        )
        up = GaugeMetricFamily(
            "loadgen_worker_up", "1 for a worker heard from, 0 for a lost one", labels=["worker"]
        )
        tcp = GaugeMetricFamily(
            "loadgen_worker_host_tcp_sockets",
            "the worker host's TCP sockets by state (/proc/net/sockstat)",
            labels=["worker", "state"],
        )
        samples = monitor.workers
        for row in monitor.worker_rows():
            worker = str(row["name"])
            connected.add_metric([worker], float(row["connected"]))
            files.add_metric([worker], float(row["open_files"]))
            kb = samples.get(worker, {}).get("max_rss_kb", row["max_rss_mb"] * 1024)
            rss.add_metric([worker], float(kb) * 1024)
            up.add_metric([worker], 0.0 if row["state"] == "lost" else 1.0)
            sockstat = samples.get(worker, {}).get("tcp") or {
                "inuse": row["tcp_inuse"],
                "tw": row["tcp_tw"],
                "orphan": row["tcp_orphan"],
            }
            for state in _TCP_STATES:
                if state in sockstat:
                    tcp.add_metric([worker, state], float(sockstat[state]))
        yield from (connected, files, rss, up, tcp)


# -- access control --------------------------------------------------------------------


def is_loopback(address: str | None) -> bool:
    """Whether ``address`` (a client's IP, maybe IPv4-mapped IPv6) is a loopback address."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


def basic_credentials_ok(authorization: str | None, user: str, password: str) -> bool:
    """HTTP Basic ``user:password``, compared as bytes in constant time; never with no password."""
    if not password or not authorization:
        return False
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(given, f"{user}:{password}".encode())


def _login_credentials() -> tuple[str, str]:
    return os.environ.get(USER_ENV, "admin"), os.environ.get(PASSWORD_ENV, "")


# -- serving -----------------------------------------------------------------------------


def registry_for(monitor: Any) -> CollectorRegistry:
    """A registry holding only the run's collector (no process or platform metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RunCollector(monitor))
    return registry


def add_arguments(parser: Any) -> None:
    """The master's metrics flags (Locust's parser; kept out of the web UI's form)."""
    parser.add_argument(
        "--loadgen-metrics-port",
        env_var="LOCUST_LOADGEN_METRICS_PORT",
        type=int,
        default=0,
        help="serve Prometheus metrics on this port (0: only as /metrics of the web UI)",
        include_in_web_ui=False,
    )
    parser.add_argument(
        "--loadgen-metrics-host",
        env_var="LOCUST_LOADGEN_METRICS_HOST",
        default="127.0.0.1",
        help="address of --loadgen-metrics-port; a non-loopback one (e.g. 0.0.0.0) also lets "
        "other hosts read /metrics on the web UI (default 127.0.0.1: this host only)",
        include_in_web_ui=False,
    )


def wsgi_app(
    registry: CollectorRegistry, *, allow_remote: bool, login: bool
) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """A WSGI app serving ``/metrics``: loopback clients only unless ``allow_remote``;
    HTTP Basic with the web login's account when ``login``."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        status, headers, body = _answer(
            environ.get("PATH_INFO", ""),
            environ.get("REMOTE_ADDR"),
            environ.get("HTTP_AUTHORIZATION"),
            registry,
            allow_remote=allow_remote,
            login=login,
        )
        start_response(status, headers)
        return [body]

    return app


def _answer(
    path: str,
    remote: str | None,
    authorization: str | None,
    registry: CollectorRegistry,
    *,
    allow_remote: bool,
    login: bool,
) -> tuple[str, list[tuple[str, str]], bytes]:
    text = [("Content-Type", "text/plain; charset=utf-8")]
    if path != METRICS_PATH:
        return "404 Not Found", text, b"Prometheus metrics are at /metrics\n"
    if not allow_remote and not is_loopback(remote):
        return "403 Forbidden", text, _REMOTE_REFUSED
    if login and not basic_credentials_ok(authorization, *_login_credentials()):
        challenge = ("WWW-Authenticate", 'Basic realm="loadgen metrics"')
        return "401 Unauthorized", [*text, challenge], b"log in with the web UI's account\n"
    return "200 OK", [("Content-Type", CONTENT_TYPE_LATEST)], generate_latest(registry)


_REMOTE_REFUSED = (
    b"/metrics answers this host only; start the master with --loadgen-metrics-host "
    b"0.0.0.0 (or an address of this host) to let other hosts read it\n"
)


def install(environment: Any, monitor: Any) -> Any:
    """Serve the run's metrics: as ``/metrics`` of the web UI (when there is one) and on
    ``--loadgen-metrics-port`` (when given). Returns the registry.

    A port that cannot be bound stops the master before any load, with one line on stderr
    and exit status 2.
    """
    registry = registry_for(monitor)
    options = environment.parsed_options
    host = str(getattr(options, "loadgen_metrics_host", "127.0.0.1") or "127.0.0.1")
    port = int(getattr(options, "loadgen_metrics_port", 0) or 0)
    allow_remote = not _loopback_host(host)
    login = bool(getattr(options, "web_login", False))
    if environment.web_ui is not None:
        _install_route(environment.web_ui, registry, allow_remote=allow_remote)
    if port:
        try:
            _start_server(environment, registry, host, port, allow_remote, login)
        except (OSError, OverflowError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            sys.stderr.write(
                f"loadgen: --loadgen-metrics-port {port}: cannot listen on {host}:{port} "
                f"({reason}). Choose a free port (1-65535) and a --loadgen-metrics-host of "
                "this machine, or leave the flag out.\n"
            )
            # Out of Locust's init event, before any load: SystemExit passes its handler
            # guard, and Locust's atexit hook ends the --processes workers.
            raise SystemExit(2) from None
    return registry


def _loopback_host(host: str) -> bool:
    return host in ("localhost", "") or is_loopback(host)


def _install_route(web_ui: Any, registry: CollectorRegistry, *, allow_remote: bool) -> None:
    from flask import Response, request

    def metrics() -> Any:
        return Response(generate_latest(registry), mimetype=None, content_type=CONTENT_TYPE_LATEST)

    guarded = web_ui.auth_required_if_enabled(metrics)

    def route() -> Any:
        if not allow_remote and not is_loopback(request.remote_addr):
            return Response(_REMOTE_REFUSED, status=403, mimetype="text/plain")
        if web_ui.web_login and basic_credentials_ok(
            request.headers.get("Authorization"), *_login_credentials()
        ):
            return metrics()  # Prometheus' basic_auth: the web login's own account
        return guarded()  # a logged-in browser session, or the login page

    web_ui.app.add_url_rule(METRICS_PATH, "loadgen_metrics", route)


def _start_server(
    environment: Any,
    registry: CollectorRegistry,
    host: str,
    port: int,
    allow_remote: bool,
    login: bool,
) -> None:
    from gevent.pywsgi import WSGIServer  # the master runs on gevent's hub

    app = wsgi_app(registry, allow_remote=allow_remote, login=login)
    server = WSGIServer((host, port), app, log=None, error_log=log)
    server.start()
    log.info("Prometheus metrics on http://%s:%d%s", host, port, METRICS_PATH)
    environment.events.quitting.add_listener(lambda **_: server.stop(timeout=1))
