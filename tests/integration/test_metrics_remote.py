"""/metrics refuses other hosts by default: a client in another network namespace.

Two namespaces made by the test stand for two hosts, joined by a veth pair whose ends
live only inside them (10.232.0.1 serves, 10.232.0.2 asks). Traffic never leaves them.
Needs root and iproute2; skipped only where the kernel refuses namespaces.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.support import ROOT, SCALE

pytestmark = pytest.mark.integration

SERVER, CLIENT = "10.232.0.1", "10.232.0.2"
PROBE = """
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=5).status)
except urllib.error.HTTPError as exc:
    print(exc.code)
except OSError:
    print("refused")
"""


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


@pytest.fixture
def hosts() -> Iterator[tuple[str, str]]:
    """(server namespace, client namespace), deleted at teardown."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 (ip) for network namespaces")
    tag = f"{os.getpid() % 100000}"
    server, client = f"lgms-{tag}", f"lgmc-{tag}"
    try:
        ip("netns", "add", server)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"network namespaces are not available here: {exc.stderr.strip()}")
    try:
        ip("netns", "add", client)
        for ns in (server, client):
            ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", server, "link", "add", "lgv0", "type", "veth", "peer", "name", "lgv1")
        ip("-n", server, "link", "set", "lgv1", "netns", client)
        ip("-n", server, "addr", "add", f"{SERVER}/24", "dev", "lgv0")
        ip("-n", client, "addr", "add", f"{CLIENT}/24", "dev", "lgv1")
        ip("-n", server, "link", "set", "lgv0", "up")
        ip("-n", client, "link", "set", "lgv1", "up")
        yield server, client
    finally:
        for ns in (server, client):
            ip("netns", "delete", ns, check=False)


def ask(namespace: str, url: str) -> str:
    """The HTTP status of GET ``url`` from ``namespace``, or ``refused``."""
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", PROBE, url],
        capture_output=True,
        text=True,
        timeout=30 * SCALE,
        cwd=ROOT,
    )
    return done.stdout.strip() or done.stderr.strip()[-300:]


@contextlib.contextmanager
def started(namespace: str, argv: list[str], ready: str, log: Path) -> Iterator[str]:
    """Run ``argv`` in ``namespace`` until its output has ``ready``; end it by PID."""
    with log.open("w") as out:
        process = subprocess.Popen(
            ["ip", "netns", "exec", namespace, *argv],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # `ip netns exec` execs the command: this PID is the program's own
    try:
        deadline = time.monotonic() + 60 * SCALE
        while ready not in (text := log.read_text(errors="replace")):
            assert process.poll() is None, text[-2000:]
            assert time.monotonic() < deadline, f"no {ready!r} in: {text[-2000:]}"
            time.sleep(0.1)
        yield text
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.mark.timeout(120)
def test_gateway_metrics_refuse_other_hosts_unless_allowed(
    hosts: tuple[str, str], tmp_path: Path
) -> None:
    """A gateway on 0.0.0.0 answers /metrics to its own host only; --metrics-allow-remote
    lets the other host in."""
    server, client = hosts
    for allow, expected in ((False, "403"), (True, "200")):
        argv = [sys.executable, "-m", "loadgen.gateway", "--host", "0.0.0.0", "--port", "0"]
        argv += ["--metrics-allow-remote"] if allow else []
        with started(server, argv, "listening on", tmp_path / f"gateway-{allow}.log") as text:
            port = re.search(r"ws://0\.0\.0\.0:(\d+)/", text)[1]  # type: ignore[index]
            assert ask(client, f"http://{SERVER}:{port}/metrics") == expected
            assert ask(server, f"http://127.0.0.1:{port}/metrics") == "200"
            assert ask(client, f"http://{SERVER}:{port}/_status") == "200"  # unchanged


@pytest.mark.timeout(180)
def test_master_metrics_refuse_other_hosts_unless_its_host_flag_says_so(
    hosts: tuple[str, str], tmp_path: Path
) -> None:
    """The master's web UI /metrics and its metrics port answer this host only by default;
    --loadgen-metrics-host 0.0.0.0 opens both to other hosts."""
    server, client = hosts
    config = tmp_path / "remote.yaml"
    config.write_text("stages: [{users: 1, spawn_rate: 1, duration: 60s}]\n", encoding="utf-8")
    web, port = "8089", "9101"  # inside the test's own namespace: nothing else listens
    for host_flag, expected in (("127.0.0.1", ("403", "refused")), ("0.0.0.0", ("200", "200"))):
        argv = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py")]
        argv += ["--loadgen-config", str(config), "--host", "ws://127.0.0.1:9/ocpp"]
        argv += ["--web-host", "0.0.0.0", "--web-port", web, "--loadgen-metrics-port", port]
        argv += ["--loadgen-metrics-host", host_flag]
        with started(server, argv, "Starting web interface", tmp_path / f"m-{host_flag}.log"):
            deadline = time.monotonic() + 30 * SCALE
            while ask(server, f"http://127.0.0.1:{web}/metrics") != "200":
                assert time.monotonic() < deadline, "the web UI did not answer /metrics"
                time.sleep(0.2)
            got = (
                ask(client, f"http://{SERVER}:{web}/metrics"),
                ask(client, f"http://{SERVER}:{port}/metrics"),
            )
            assert got == expected, host_flag
            if host_flag == "127.0.0.1":
                assert ask(server, f"http://127.0.0.1:{port}/metrics") == "200"
