"""A Locust master and two workers on separate hosts: network namespaces made by the test.

Three namespaces stand for three hosts: the master's (with the reference gateway, a
bridge and 10.231.0.1), and one per worker (10.231.0.2 and 10.231.0.3), joined by veth
pairs whose ends live only inside those namespaces. Traffic never leaves them. Needs
root and iproute2 (``ip``); skipped only where the kernel refuses namespaces.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.integration.support import SCALE

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "loadgen" / "run" / "locustfile.py"
SUBNET = "10.231.0"
MASTER_ADDRESS = f"{SUBNET}.1"
MASTER_PORT = 5557
USERS = 40


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


class Hosts:
    """The namespaces of one test, their processes, and their teardown."""

    def __init__(self, tag: str) -> None:
        self.master = f"lgm-{tag}"
        self.workers = [f"lgw1-{tag}", f"lgw2-{tag}"]
        self.tag = tag
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[IO[bytes]] = []

    def create(self) -> None:
        _ip("netns", "add", self.master)
        for ns in self.workers:
            _ip("netns", "add", ns)
        for ns in (self.master, *self.workers):
            self.run(ns, "ip", "link", "set", "lo", "up")
        self.run(self.master, "ip", "link", "add", "lgbr0", "type", "bridge")
        self.run(self.master, "ip", "addr", "add", f"{MASTER_ADDRESS}/24", "dev", "lgbr0")
        self.run(self.master, "ip", "link", "set", "lgbr0", "up")
        for i, ns in enumerate(self.workers, start=1):
            # Both ends are made in the master's namespace and one is moved: no veth end
            # ever sits among the host's own interfaces.
            outer, inner = f"lgm{i}", f"lgw{i}"
            self.run(self.master, "ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            self.run(self.master, "ip", "link", "set", inner, "netns", ns)
            self.run(self.master, "ip", "link", "set", outer, "master", "lgbr0")
            self.run(self.master, "ip", "link", "set", outer, "up")
            self.run(ns, "ip", "addr", "add", f"{SUBNET}.{i + 1}/24", "dev", inner)
            self.run(ns, "ip", "link", "set", inner, "up")

    def run(self, ns: str, *cmd: str) -> str:
        done = subprocess.run(
            ["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, timeout=20
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} in {ns}: {done.stderr.strip()}")
        return done.stdout

    def spawn(self, ns: str, *cmd: str, **kwargs: object) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *cmd], cwd=ROOT, **kwargs)  # type: ignore[call-overload]
        self.processes.append(proc)
        return proc

    def log(self, path: Path) -> IO[bytes]:
        """A log file for a process's output, closed at teardown."""
        handle = open(path, "wb")  # noqa: SIM115 - closed in destroy()
        self.logs.append(handle)
        return handle

    def destroy(self) -> None:
        for proc in self.processes:  # ip netns exec execs the command: same PID
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()
        for handle in self.logs:
            handle.close()
        for ns in (self.master, *self.workers):
            _ip("netns", "del", ns, check=False)


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    if shutil.which("ip") is None:
        pytest.fail("iproute2's `ip` is missing: run `bash scripts/system-packages.sh` as root")
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (CI runs as root)")
    made = Hosts(f"{os.getpid() % 100000}")
    probe = _ip("netns", "add", made.master, check=False)
    if probe.returncode != 0:
        pytest.skip(f"the kernel refuses network namespaces here: {probe.stderr.strip()}")
    _ip("netns", "del", made.master, check=False)
    try:
        made.create()
        yield made
    finally:
        made.destroy()


def _wait_line(proc: subprocess.Popen[bytes], pattern: str, timeout_s: float) -> re.Match[bytes]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if match := re.search(pattern.encode(), line):
            return match
    raise AssertionError(f"no line matching {pattern!r} within {timeout_s}s")


def _established(hosts: Hosts, ns: str, port: int) -> int:
    out = hosts.run(ns, "ss", "-Htn", "state", "established", "dst", f"{MASTER_ADDRESS}:{port}")
    return len([line for line in out.splitlines() if line.strip()])


@pytest.mark.timeout(180)
def test_master_and_two_workers_on_separate_hosts(hosts: Hosts, tmp_path: Path) -> None:
    """Two workers in their own namespaces reach the master and the gateway and both carry load."""
    gateway = hosts.spawn(
        hosts.master,
        sys.executable,
        "-m",
        "loadgen.gateway",
        "--host",
        MASTER_ADDRESS,
        "--port",
        "0",
        "--heartbeat-interval-s",
        "2",
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    port = int(_wait_line(gateway, r"listening on ws://[^:]+:(\d+)/", 30 * SCALE).group(1))
    config = tmp_path / "netns.yaml"
    config.write_text(
        "target: embedded\n"
        "charge_points: {id_prefix: NS-}\n"
        f"stages: [{{users: {USERS}, spawn_rate: 20, duration: {8 * SCALE:g}s}}]\n"
    )
    results = tmp_path / "results"
    common = ["-f", str(LOCUSTFILE), "--loadgen-config", str(config)]
    master = hosts.spawn(
        hosts.master,
        *(sys.executable, "-m", "locust", *common, "--master", "--headless"),
        *("--master-bind-host", MASTER_ADDRESS, "--master-bind-port", str(MASTER_PORT)),
        *("--expect-workers", "2", "--host", f"ws://{MASTER_ADDRESS}:{port}/ocpp"),
        *("--loadgen-results", str(results), "--only-summary", "--loglevel", "WARNING"),
        stdout=hosts.log(tmp_path / "master.out"),
        stderr=hosts.log(tmp_path / "master.log"),
    )
    for i, ns in enumerate(hosts.workers):
        hosts.spawn(
            ns,
            *(sys.executable, "-m", "locust", *common, "--worker"),
            *("--master-host", MASTER_ADDRESS, "--master-port", str(MASTER_PORT)),
            stdout=subprocess.DEVNULL,
            stderr=hosts.log(tmp_path / f"worker{i}.log"),
        )
    deadline = time.monotonic() + 60 * SCALE
    held = [0, 0]
    while time.monotonic() < deadline and master.poll() is None:
        held = [max(held[i], _established(hosts, ns, port)) for i, ns in enumerate(hosts.workers)]
        if sum(held) >= USERS:
            break
        time.sleep(0.2)
    assert held[0] > 0 and held[1] > 0 and sum(held) == USERS, held
    code = master.wait(timeout=60 * SCALE)
    log = (tmp_path / "master.log").read_text(errors="replace")
    assert code == 0, log[-2000:]
    summary = json.loads((results / "summary.json").read_text())
    assert summary["workers"] == 2
    assert summary["connections"]["established"] >= USERS
    assert summary["connections"]["failed"] == 0
    assert summary["messages"]["Heartbeat"]["count"] >= USERS
    # A plain Locust master prints loadgen's verdict and leaves loadgen's whole folder.
    assert "PASSED" in (tmp_path / "master.out").read_text(errors="replace")
    for name in ("config.yaml", "locust_stats.csv", "report.html", "junit.xml", "timeline.png"):
        assert (results / name).is_file(), name
    rebuilt = subprocess.run(
        [sys.executable, "-m", "loadgen", "report", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60 * SCALE,
    )
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert json.loads((results / "summary.json").read_text())["thresholds"] == summary["thresholds"]
