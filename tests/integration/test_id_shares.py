"""Ids file rows shared by workers that come and go: every charge point keeps its own id."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.support import ROOT, SCALE, free_port, poll

pytestmark = pytest.mark.integration

LOCUSTFILE = ROOT / "locustfile.py"


class Master:
    """A Locust master with a web UI (the test starts the swarm), and its workers."""

    def __init__(self, tmp_path: Path, config: Path, target: str) -> None:
        self.port, self.web_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.config = config
        self.logs = tmp_path
        self.processes: list[subprocess.Popen[bytes]] = []
        self.master = self._start(
            "master",
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(self.port),
            "--web-host",
            "127.0.0.1",
            "--web-port",
            str(self.web_port),
            "--host",
            target,
            "--loadgen-results",
            str(tmp_path / "results"),
        )
        poll(lambda: urllib.request.urlopen(self.url + "/", timeout=2).status == 200, "web UI")

    def _start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}-{len(self.processes)}.log").open("wb")
        with log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args]
                + ["--loadgen-config", str(self.config)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(proc)
        return proc

    def workers(self) -> int:
        with urllib.request.urlopen(self.url + "/worker-count", timeout=5) as response:
            import json

            return int(json.loads(response.read())["worker_count"])

    def add_worker(self) -> subprocess.Popen[bytes]:
        """A worker process; returns once the master counts it."""
        before = self.workers()
        proc = self._start(
            "worker", "--worker", "--master-host", "127.0.0.1", "--master-port", str(self.port)
        )
        poll(lambda: self.workers() == before + 1, "the worker to connect", 30)
        return proc

    def swarm(self) -> None:
        request = urllib.request.Request(self.url + "/swarm", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    def stop_all(self) -> None:
        """SIGINT every process (master last), then SIGKILL what is left."""
        for proc in [*self.processes[1:], self.processes[0]]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.processes:
            try:
                proc.wait(timeout=30 * SCALE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def master(tmp_path: Path, stages: str, target: str) -> Iterator[Master]:
    ids = tmp_path / "ids.csv"
    ids.write_text("".join(f"CP-{n:03d}\n" for n in range(60)), encoding="utf-8")
    config = tmp_path / "shares.yaml"
    config.write_text(
        f"charge_points: {{ids_file: {str(ids)!r}, heartbeat_interval_s: 5}}\nstages: {stages}\n",
        encoding="utf-8",
    )
    run = Master(tmp_path, config, target)
    try:
        yield run
    finally:
        run.stop_all()


@pytest.mark.timeout(120)
def test_workers_after_one_quit_take_different_rows(tmp_path: Path, gateway) -> None:
    """With workers 0 and 2 left of three, their charge points all get different ids."""
    stages = "[{users: 6, spawn_rate: 6, duration: 120s}]"
    with master(tmp_path, stages, gateway.url + "/ocpp") as run:
        run.add_worker()
        quitting = run.add_worker()  # index 1
        run.add_worker()
        quitting.send_signal(signal.SIGTERM)  # it tells the master it quits
        poll(lambda: run.workers() == 2, "the worker to quit", 30)
        run.swarm()
        poll(lambda: gateway.status()["connected"] == 6, "6 distinct charge points", 40)


@pytest.mark.timeout(180)
def test_a_worker_that_joins_during_a_test_takes_its_own_rows(tmp_path: Path, gateway) -> None:
    """A worker that connects mid-test learns the worker count and uses rows of its own."""
    # the worker joins during this stage (a worker process starts in seconds, up to ~15 s
    # on a loaded 2-core host); the next stage spreads the 4
    first_s = 30 * SCALE
    stages = (
        f"[{{users: 1, spawn_rate: 1, duration: {first_s:g}s}},"
        " {users: 4, spawn_rate: 4, duration: 120s}]"
    )
    with master(tmp_path, stages, gateway.url + "/ocpp") as run:
        run.add_worker()
        run.swarm()
        swarmed = time.monotonic()
        poll(lambda: gateway.status()["connected"] == 1, "the first charge point", 30)
        run.add_worker()
        joined_s = time.monotonic() - swarmed
        # Joined before the second stage: its 4 charge points are spread over both workers.
        assert joined_s < first_s, f"the second worker joined {joined_s:.1f} s into the test"
        poll(lambda: gateway.status()["connected"] == 4, "4 distinct charge points", 60)
