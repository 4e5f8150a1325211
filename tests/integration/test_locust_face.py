"""The Locust face as a user runs it: plain Locust, the engine underneath, Locust's stop."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import GatewayProcess
from tests.integration.support import poll, run_standalone

pytestmark = pytest.mark.integration

CHARGING = """
charge_points:
  heartbeat_interval_s: 2
  scenario: {idle: 0, charging: 1}
  session: {duration_s: 60, meter_interval_s: 1, pause_s: 0.5}
stages:
  - {users: 20, spawn_rate: 20, duration: 5s}
thresholds: {min_success_rate: 1.0}
"""


def _run(gateway: GatewayProcess, tmp_path: Path, *extra: str) -> dict[str, int]:
    config = tmp_path / "charging.yaml"
    config.write_text(CHARGING, encoding="utf-8")
    done = run_standalone(config, f"{gateway.url}/ocpp", tmp_path / "results", *extra)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert summary["connections"]["established"] == 20
    # every charge point closed its connection (the gateway sees the closes a moment later)
    poll(lambda: gateway.status()["connected"] == 0, "every connection closed", 10)
    return dict(gateway.status()["messages"])


@pytest.mark.timeout(120)
def test_stop_timeout_ends_every_session_before_closing(
    gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    """With Locust's --stop-timeout the stop is graceful: every charge point ends its
    running session (a StopTransaction for each StartTransaction) before it closes."""
    messages = _run(gateway_factory(), tmp_path, "--stop-timeout", "10")
    assert messages["StartTransaction"] >= 20
    assert messages.get("StopTransaction", 0) == messages["StartTransaction"]


@pytest.mark.timeout(120)
def test_without_stop_timeout_charge_points_stop_at_once(
    gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    """Without --stop-timeout Locust stops users at once: sessions are cut, not ended
    (60 s sessions in a 5 s run), and every connection is still closed."""
    messages = _run(gateway_factory(), tmp_path)
    assert messages["StartTransaction"] >= 20
    assert messages.get("StopTransaction", 0) == 0
