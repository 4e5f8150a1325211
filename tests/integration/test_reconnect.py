"""A gateway restart under load: every charge point comes back, spread out, and is counted."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.support import SCALE, free_port, locust_argv, poll

pytestmark = pytest.mark.integration

CHARGERS = 2000

CONFIG = f"""
charge_points:
  heartbeat_interval_s: 30
stages:
  - {{users: {CHARGERS}, spawn_rate: 500, duration: 50s}}
thresholds: {{min_success_rate: null, max_connect_p95_ms: null}}
"""


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_gateway_restart_reconnects_everyone_without_a_herd(
    gateway_factory, tmp_path: Path
) -> None:
    """After a gateway restart all 2,000 reconnect, under a quarter of them in any one second."""
    first = gateway_factory()
    port = first.port
    config = tmp_path / "restart.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    results = tmp_path / "results"
    master_port = free_port()
    locust = subprocess.Popen(
        locust_argv(
            config,
            f"ws://127.0.0.1:{port}/ocpp",
            results,
            *("--processes", "2", "--master-bind-host", "127.0.0.1"),
            *("--master-bind-port", str(master_port), "--master-port", str(master_port)),
        ),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        poll(lambda: first.status()["booted"] == CHARGERS, "all charge points booted", 60)
        first.stop(signal.SIGKILL)  # the gateway vanishes with every connection
        second = gateway_factory(port=port)
        seen: list[tuple[float, int]] = []

        def all_back() -> bool:
            seen.append((time.monotonic(), second.status()["connected"]))
            return seen[-1][1] == CHARGERS

        poll(all_back, "every charge point reconnected", 60)
        busiest = max(
            max(n for t, n in seen if start <= t < start + 1.0) - (n0 if i else 0)
            for i, (start, n0) in enumerate(seen)
        )
        assert busiest < CHARGERS / 4, f"{busiest} connects within one second"

        def counted_back() -> bool:  # the chargers' own count (the last 101s may be in flight)
            running = json.loads((results / "summary.json").read_text())
            return bool(running["connections"]["reconnects"] >= CHARGERS)

        poll(counted_back, "the chargers counting their reconnects", 30)
        locust.send_signal(signal.SIGINT)  # stop early: results are still written
        locust.wait(timeout=60 * SCALE)
    finally:
        if locust.poll() is None:
            locust.kill()
            locust.wait()
    summary = json.loads((results / "summary.json").read_text())
    assert summary["connections"]["reconnects"] >= CHARGERS
    assert summary["connections"]["established"] >= 2 * CHARGERS
