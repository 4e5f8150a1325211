"""The reference gateway's Prometheus metrics, scraped from real gateway processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from tests.integration.conftest import GatewayProcess
from tests.integration.redis_server import RedisServer
from tests.integration.support import free_port

pytestmark = pytest.mark.integration

GatewayFactory = Callable[..., GatewayProcess]
SCALE = float(os.environ.get("LOADGEN_TEST_SCALE", "1"))


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``url`` as {(name, sorted labels): value}."""
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: dict[tuple[str, Any], float], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and set(labels.items()) <= set(sample_labels)
    )


def wait_until(check: Callable[[], Any], what: str, timeout_s: float = 20.0) -> Any:
    """Poll ``check`` until it returns something truthy (returned); fail at the deadline."""
    deadline = time.monotonic() + timeout_s * SCALE
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s * SCALE:.0f} s waiting for {what}")
        time.sleep(0.05)


async def burst(base_url: str, count: int, hold: asyncio.Event, prefix: str = "CP-M") -> None:
    """``count`` chargers connect at once, boot, and stay connected until ``hold`` is set."""
    boot = {"chargePointVendor": "loadgen", "chargePointModel": "metrics"}

    async def one(n: int) -> None:
        async with connect(
            f"{base_url}/ocpp/{prefix}-{n:04d}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            open_timeout=30,
            ping_interval=None,
        ) as ws:
            await ws.send(json.dumps([2, f"b{n}", "BootNotification", boot]))
            assert json.loads(await asyncio.wait_for(ws.recv(), 30))[0] == 3
            await hold.wait()

    async with asyncio.timeout(60 * SCALE):
        await asyncio.gather(*(one(n) for n in range(count)))


@pytest.mark.timeout(120)
def test_gateway_metrics_show_connections_and_the_seeds_pool_timeouts(
    gateway_factory: GatewayFactory, redis_server: RedisServer
) -> None:
    """The seeds' failure as a curve: with pool_size 2 under a burst of 300 connects, /metrics
    shows 300 connections and the Redis pool timeouts /_status counts."""
    gateway = gateway_factory(
        redis_url=redis_server.url, redis_pool_size=2, redis_pool_timeout="20ms"
    )
    url = f"http://127.0.0.1:{gateway.port}/metrics"

    async def scenario() -> tuple[dict[tuple[str, Any], float], dict[str, Any]]:
        hold = asyncio.Event()
        task = asyncio.create_task(burst(gateway.url, 300, hold))
        try:

            def all_settled() -> tuple[dict[tuple[str, Any], float], dict[str, Any]] | None:
                redis = gateway.status()["redis"]
                samples = scrape(url)
                settled = (
                    total(samples, "loadgen_gateway_connections") == 300
                    and total(samples, "loadgen_gateway_booted") == 300  # answered, not only read
                    and redis["queued"] == 0
                    and redis["set"] + redis["pool_timeouts"] >= 300
                )
                return (samples, redis) if settled else None

            return await asyncio.to_thread(wait_until, all_settled, "300 chargers and 300 SETs")
        finally:
            hold.set()
            await task

    samples, status = asyncio.run(scenario())  # settled: nothing changes until they leave
    timeouts = total(samples, "loadgen_gateway_redis_pool_timeouts_total")
    assert timeouts > 0 and timeouts == status["pool_timeouts"]
    assert total(samples, "loadgen_gateway_redis_operations_total", result="pool_timeouts") == (
        timeouts
    )
    assert total(samples, "loadgen_gateway_redis_operations_total", result="set") == status["set"]
    assert total(samples, "loadgen_gateway_redis_pool_size") == 2
    assert 0 < total(samples, "loadgen_gateway_redis_pool_total_conns") <= 2
    assert total(samples, "loadgen_gateway_redis_pool_misses_total") <= 2
    gets = total(samples, "loadgen_gateway_redis_pool_hits_total") + total(
        samples, "loadgen_gateway_redis_pool_misses_total"
    )
    assert gets >= status["set"] > 0  # each stored mapping took a pool connection
    assert total(samples, "loadgen_gateway_booted") == 300
    assert total(samples, "loadgen_gateway_messages_total", action="BootNotification") == 300
    assert total(samples, "loadgen_gateway_answer_duration_seconds_count") == 300
    assert total(samples, "loadgen_gateway_connections_opened_total") == 300
    assert "connection pool timeout" in gateway.stderr()
    assert redis_server.password not in urllib.request.urlopen(url).read().decode()


@pytest.mark.timeout(120)
def test_multi_process_gateway_serves_every_worker_on_the_metrics_port(
    gateway_factory: GatewayFactory,
) -> None:
    """With --processes 2, --metrics-port shows both workers (label process 0 and 1), and
    their connections add up to every charger connected."""
    port = free_port()
    gateway = gateway_factory(processes=2, metrics_port=port)
    url = f"http://127.0.0.1:{port}/metrics"

    async def scenario() -> dict[tuple[str, Any], float]:
        hold = asyncio.Event()
        task = asyncio.create_task(burst(gateway.url, 200, hold))
        try:

            def all_in() -> dict[tuple[str, Any], float] | None:
                samples = scrape(url)
                return samples if total(samples, "loadgen_gateway_booted") == 200 else None

            return await asyncio.to_thread(wait_until, all_in, "200 chargers in /metrics")
        finally:
            hold.set()
            await task

    samples = asyncio.run(scenario())
    assert total(samples, "loadgen_gateway_connections") == 200
    assert total(samples, "loadgen_gateway_processes") == 2
    per_process = {
        labels: value
        for (name, labels), value in samples.items()
        if name == "loadgen_gateway_worker_up"
    }
    assert per_process == {(("process", "0"),): 1.0, (("process", "1"),): 1.0}
    for process in ("0", "1"):  # SO_REUSEPORT spreads 200 connects over both workers
        assert total(samples, "loadgen_gateway_connections", process=process) > 0


@pytest.mark.timeout(60)
def test_metrics_port_in_use_exits_2_naming_the_flag() -> None:
    """A --metrics-port already taken: exit 2, one paragraph naming --metrics-port."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for processes in ("1", "2"):
            done = subprocess.run(
                [sys.executable, "-m", "loadgen", "gateway", "--port", "0"]
                + ["--processes", processes, "--metrics-port", str(port)],
                capture_output=True,
                text=True,
                timeout=60 * SCALE,
            )
            assert done.returncode == 2, done.stderr
            assert "--metrics-port" in done.stderr and "Traceback" not in done.stderr
            said = [x for x in done.stderr.splitlines() if x.startswith("loadgen gateway:")]
            assert len(said) == 1, done.stderr


@pytest.mark.timeout(60)
def test_metrics_path_alone_on_the_metrics_port(gateway_factory: GatewayFactory) -> None:
    """The single-process metrics port answers /metrics and nothing else (404)."""
    port = free_port()
    gateway_factory(metrics_port=port)
    assert scrape(f"http://127.0.0.1:{port}/metrics")[("loadgen_gateway_processes", ())] == 1
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/_status", timeout=10)
    assert caught.value.code == 404
    caught.value.close()
