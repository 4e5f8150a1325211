"""The multi-process gateway's ``/metrics``: every worker's figures in one scrape.

With ``--processes N`` the workers share the gateway's port (SO_REUSEPORT), so a scrape
of ``GET /metrics`` there reaches one worker at random. Instead, each worker serves its
own figures on a free loopback port (``--worker-metrics``) and the parent serves
``--metrics-port``: each scrape fetches every worker's text, adds a ``process`` label (the
worker's index, 0..N-1: bounded) to each sample, and answers them together. Dashboards
sum over ``process``; a worker that cannot be read shows ``loadgen_gateway_worker_up 0``.
This was preferred over prometheus_client's multiprocess mode, which writes each counter
to a memory-mapped file on every increment: the hot path stays on plain ints.
"""

from __future__ import annotations

import http.server
import logging
import socket
import threading
import urllib.request
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from loadgen.gateway.metrics import CONTENT_TYPE, METRICS_PATH, REMOTE_REFUSED, is_loopback

log = logging.getLogger("loadgen.gateway")

#: Seconds to wait for one worker's figures.
FETCH_TIMEOUT_S = 2.0


class WorkersCollector(Collector):
    """Every worker's metric families, each sample labelled with ``process``."""

    def __init__(self, urls: Sequence[str]) -> None:
        self.urls = list(urls)  # index i: worker i's http://127.0.0.1:PORT/metrics

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        up = GaugeMetricFamily(
            "loadgen_gateway_worker_up",
            "1 when the worker's metrics could be read at this scrape",
            labels=["process"],
        )
        for index, url in enumerate(self.urls):
            process = str(index)
            try:
                with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as response:
                    text = response.read().decode("utf-8")
            except (OSError, ValueError) as exc:
                log.warning("could not read the metrics of worker %d (%s)", index, exc)
                up.add_metric([process], 0.0)
                continue
            up.add_metric([process], 1.0)
            for family in text_string_to_metric_families(text):
                into = merged.get(family.name)
                if into is None:
                    into = merged[family.name] = Metric(
                        family.name, family.documentation, family.type, family.unit
                    )
                for sample in family.samples:
                    labels = {**sample.labels, "process": process}
                    into.samples.append(Sample(sample.name, labels, sample.value, sample.timestamp))
        yield up
        yield from merged.values()


class _Server6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


class MetricsProxy:
    """An HTTP server on the parent answering ``GET /metrics`` with every worker's figures."""

    def __init__(
        self, host: str, port: int, urls: Sequence[str], *, allow_remote: bool = False
    ) -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(WorkersCollector(urls))

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.split("?", 1)[0] != METRICS_PATH:
                    self._send(404, "text/plain; charset=utf-8", b"metrics are at /metrics\n")
                elif not allow_remote and not is_loopback(self.client_address):
                    self._send(403, "text/plain; charset=utf-8", REMOTE_REFUSED.encode())
                else:
                    self._send(200, CONTENT_TYPE, generate_latest(registry))

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # one line per scrape is noise

        server_class = _Server6 if ":" in host else http.server.ThreadingHTTPServer
        #: raises OSError when the address cannot be bound
        self.server = server_class((host, port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
