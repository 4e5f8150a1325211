"""The end of a run: the monitor's last sample never costs the final results."""

from __future__ import annotations

from pathlib import Path

from locust import User
from locust.env import Environment

from loadgen.observe import telemetry
from loadgen.run import configfile
from loadgen.sim.actions import Counters


class _Idle(User):
    abstract = True


def test_a_failing_last_sample_still_stops_the_monitor(tmp_path: Path) -> None:
    """Stopping takes a last sample; when a callback of it raises, the stop goes on:
    sampling ends and the timeline is closed, so the final results can be written."""
    config = configfile.from_dict({"stages": [{"users": 1, "spawn_rate": 1, "duration": "5s"}]})
    environment = Environment(user_classes=[_Idle])
    environment.create_local_runner()
    monitor = telemetry.install_master(environment, config, tmp_path, Counters())
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise RuntimeError("a bug in a sample's callback")

    monitor.start(config)
    monitor.on_sample.append(broken)
    monitor.stop()  # must not raise
    assert calls == [1], "the last sample was taken"
    assert not monitor.running
    assert monitor._timeline is None, "the timeline was closed"
    rows = (tmp_path / "timeline.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 2, "the header and the last sample's row"
