"""Prometheus metrics of one gateway process, converted from plain counters at scrape time.

The hot path only adds to ints and dicts (:class:`AnswerTimes`, ``Gateway.messages``);
:class:`GatewayCollector` turns them into metric families when ``GET /metrics`` is read.
With ``--processes N`` each worker serves its own figures on a private loopback port and
the parent serves them all on ``--metrics-port``, each sample labelled with its worker's
``process`` index (:mod:`loadgen.gateway.metricsproxy`). Dashboards sum over ``process``.

Clients other than loopback are refused unless ``--metrics-allow-remote``.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_left
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from loadgen.gateway.server import Gateway

METRICS_PATH = "/metrics"
#: Upper bounds (seconds) of the answer-time histogram: from a frame read to its answer
#: handed to the socket. Microseconds when the loop is idle; more means the loop is busy.
ANSWER_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
#: The one content type of the exposition format.
CONTENT_TYPE = CONTENT_TYPE_LATEST
REMOTE_REFUSED = (
    "/metrics answers this host only; start the gateway with --metrics-allow-remote to let "
    "other hosts (e.g. Prometheus in another container) read it\n"
)


class AnswerTimes:
    """A histogram kept as a list of ints: ``observe`` is one bisect and two additions."""

    __slots__ = ("bounds", "counts", "sum_s")

    def __init__(self, bounds: tuple[float, ...] = ANSWER_BUCKETS_S) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound
        self.sum_s = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum_s += seconds

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative ``(le, count)`` pairs, ending with ``+Inf``."""
        out: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip((*map(repr, self.bounds), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


def is_loopback(address: Any) -> bool:
    """Whether a peer address (``(host, port, ...)`` or a host string) is loopback."""
    host = address[0] if isinstance(address, tuple | list) and address else address
    if not isinstance(host, str):
        return False
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


class GatewayCollector(Collector):
    """The figures of one gateway process, read from its :class:`Gateway` at scrape time."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def collect(self) -> Iterator[Metric]:
        gateway = self.gateway
        status = gateway.status()
        connections = GaugeMetricFamily(
            "loadgen_gateway_connections",
            "charge points connected, by OCPP version",
            labels=["version"],
        )
        for version, count in status["by_version"].items():
            connections.add_metric([version], float(count))
        yield connections
        yield GaugeMetricFamily(
            "loadgen_gateway_booted",
            "connected charge points whose last boot was Accepted",
            value=float(status["booted"]),
        )
        yield GaugeMetricFamily("loadgen_gateway_processes", "gateway processes", value=1.0)
        for name, doc, key in (
            ("loadgen_gateway_connections_opened", "WebSockets accepted", "opened"),
            ("loadgen_gateway_connections_closed", "WebSockets ended", "closed"),
            (
                "loadgen_gateway_keepalive_timeouts",
                "connections closed because a ping got no pong in time",
                "keepalive_timeouts",
            ),
        ):
            yield CounterMetricFamily(name, doc, value=float(gateway.connection_counts[key]))
        messages = CounterMetricFamily(
            "loadgen_gateway_messages",
            "frames received by action (CALLs answered), plus unknown, invalid, CALLRESULT, "
            "CALLERROR and unauthorized (handshakes refused with 401)",
            labels=["action"],
        )
        for action, count in sorted(status["messages"].items()):
            messages.add_metric([action], float(count))
        yield messages
        times = gateway.answer_times
        answer = HistogramMetricFamily(
            "loadgen_gateway_answer_duration_seconds",
            "from a frame read to its answer handed to the socket",
        )
        answer.add_metric([], times.buckets(), times.sum_s)
        yield answer
        if "redis" in status:
            yield from _redis(status["redis"])


def _redis(redis: dict[str, Any]) -> Iterator[Metric]:
    operations = CounterMetricFamily(
        "loadgen_gateway_redis_operations",
        "mapping operations by result: set, refreshed, deleted, absent and not_owned are "
        "done; pool_timeouts, errors and dropped are not",
        labels=["result"],
    )
    for result in (
        "set",
        "refreshed",
        "deleted",
        "absent",
        "not_owned",
        "pool_timeouts",
        "errors",
        "dropped",
    ):
        operations.add_metric([result], float(redis.get(result, 0)))
    yield operations
    yield CounterMetricFamily(
        "loadgen_gateway_redis_refused",
        "charge points closed (1013) because their mapping was not stored",
        value=float(redis.get("refused", 0)),
    )
    yield GaugeMetricFamily(
        "loadgen_gateway_redis_queued",
        "mapping operations scheduled and not done",
        value=float(redis.get("queued", 0)),
    )
    yield GaugeMetricFamily(
        "loadgen_gateway_redis_queue_limit",
        "the most operations scheduled at once (--redis-max-queue)",
        value=float(redis.get("max_queued", 0)),
    )
    pool = redis.get("pool", {})
    for name, doc in (
        ("hits", "pool: a connection was free (go-redis PoolStats.Hits)"),
        ("misses", "pool: none was free, a new one was made (PoolStats.Misses)"),
        ("timeouts", "pool: none became free within pool_timeout (PoolStats.Timeouts)"),
    ):
        yield CounterMetricFamily(
            f"loadgen_gateway_redis_pool_{name}", doc, value=float(pool.get(name, 0))
        )
    for name, doc in (
        ("total_conns", "pool: connections open (PoolStats.TotalConns)"),
        ("idle_conns", "pool: connections open and free (PoolStats.IdleConns)"),
        ("size", "pool: the most connections (pool_size)"),
    ):
        yield GaugeMetricFamily(
            f"loadgen_gateway_redis_pool_{name}", doc, value=float(pool.get(name, 0))
        )


def registry_for(gateway: Gateway) -> CollectorRegistry:
    """A registry with only the gateway's collector (no process or platform metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(gateway))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus' text format."""
    return generate_latest(registry)
