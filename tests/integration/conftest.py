"""Fixtures for integration tests: the reference gateway as a real subprocess on loopback.

``gateway_factory(**flags)`` starts ``python -m loadgen.gateway --host 127.0.0.1
--port 0`` plus ``flags`` (``boot_status="Pending"`` becomes ``--boot-status Pending``),
reads the ready line for the real port and returns a :class:`GatewayProcess`; every
gateway it started is ended by its PID at teardown. ``running_gateway`` is the same as
a context manager, for tests that want to control the lifetime themselves.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

READY_RE = re.compile(
    r"^loadgen gateway listening on ws://(?P<host>[^/]+):(?P<port>\d+)/ "
    r"\(processes=(?P<processes>\d+), pid=(?P<pid>\d+)\)$"
)
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


@dataclass
class GatewayProcess:
    """A running gateway subprocess and how to reach it."""

    process: subprocess.Popen[bytes]
    port: int
    ready_line: str
    stderr_path: Path
    host: str = "127.0.0.1"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        """Base WebSocket URL without a trailing slash: append ``/<prefix>/<id>``."""
        return f"ws://{self.host}:{self.port}"

    def status(self, timeout: float = 10.0) -> dict[str, Any]:
        """``GET /_status`` of whichever gateway process accepts this connection."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            connection.request("GET", "/_status")
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        assert response.status == 200, body
        return json.loads(body)

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> int:
        """Send ``sig`` to the gateway's PID and wait (bounded); SIGKILL if it hangs."""
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            raise
        finally:
            if self.process.stdout is not None:
                self.process.stdout.close()


def gateway_argv(**flags: Any) -> list[str]:
    """The command line of a gateway on 127.0.0.1, port 0 unless ``port`` is given."""
    options: dict[str, Any] = {"host": "127.0.0.1", "port": 0, **flags}
    argv = [sys.executable, "-m", "loadgen.gateway"]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is not False and value is not None:
            argv += [flag, str(value)]
    return argv


def _read_ready_line(process: subprocess.Popen[bytes], stderr_path: Path) -> str:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    buffer = b""
    deadline = time.monotonic() + START_TIMEOUT_S
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no ready line within {START_TIMEOUT_S} s: {buffer!r}")
            if not selector.select(remaining):
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                process.wait(timeout=STOP_TIMEOUT_S)
                stderr = stderr_path.read_text(encoding="utf-8", errors="replace")
                raise RuntimeError(
                    f"gateway exited with {process.returncode} before listening:\n{stderr}"
                )
            buffer += chunk
    return buffer.split(b"\n", 1)[0].decode()


@contextlib.contextmanager
def running_gateway(
    directory: Path, *, argv: list[str] | None = None, **flags: Any
) -> Iterator[GatewayProcess]:
    """Start a gateway subprocess, yield it once listening, end it by PID on exit.

    ``argv`` replaces the command line built from ``flags`` (it must print the ready line).
    """
    directory.mkdir(parents=True, exist_ok=True)
    stderr_path = directory / f"gateway-{time.monotonic_ns()}.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            argv or gateway_argv(**flags),
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
    gateway: GatewayProcess | None = None
    try:
        line = _read_ready_line(process, stderr_path)
        match = READY_RE.match(line)
        assert match, f"unexpected ready line: {line!r}"
        assert int(match["pid"]) == process.pid, line
        gateway = GatewayProcess(process, int(match["port"]), line, stderr_path)
        yield gateway
    finally:
        if gateway is not None:
            gateway.stop()
        elif process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_S)


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    """A factory ``gateway_factory(**flags)`` of listening gateways, all ended at teardown."""
    with contextlib.ExitStack() as stack:

        def start(*, argv: list[str] | None = None, **flags: Any) -> GatewayProcess:
            return stack.enter_context(running_gateway(tmp_path / "gateway", argv=argv, **flags))

        yield start


@pytest.fixture
def gateway(gateway_factory: Callable[..., GatewayProcess]) -> GatewayProcess:
    """One gateway with default flags on 127.0.0.1 and a free port."""
    return gateway_factory()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Any]:
    """A real redis-server (with a password) on a free loopback port, ended by its PID.

    See tests/integration/redis_server.py (``RedisServer``: ``url``, ``client()``, ``kill()``).
    """
    from tests.integration.redis_server import running_redis

    with running_redis(tmp_path / "redis") as server:
        yield server
