"""Gateway hardening with real processes: the auth file refused at start, keepalive pings
that drop silent connections, and a bounded queue of Redis operations."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import GatewayProcess

pytestmark = pytest.mark.integration

GatewayFactory = Callable[..., GatewayProcess]
SCALE = float(os.environ.get("LOADGEN_TEST_SCALE", "1"))


def wait_until(check: Callable[[], Any], what: str, timeout_s: float = 20.0) -> Any:
    """Poll ``check`` until it returns something truthy (returned); fail at the deadline."""
    deadline = time.monotonic() + timeout_s * SCALE
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s * SCALE:.0f} s waiting for {what}")
        time.sleep(0.02)


def raw_websocket(port: int, charger_id: str, authorization: str | None = None) -> socket.socket:
    """A WebSocket opened by hand that never answers pings (a charger gone silent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ocpp/{charger_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: ocpp1.6\r\n"
        + (f"Authorization: {authorization}\r\n" if authorization else "")
        + "\r\n"
    )
    head = b""
    try:
        sock.sendall(request.encode())
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, head
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
    except BaseException:
        sock.close()
        raise
    return sock


def closed_by_peer(sock: socket.socket, timeout_s: float) -> bool:
    """Read (and discard pings) until the gateway ends the TCP connection or time runs out."""
    deadline = time.monotonic() + timeout_s * SCALE
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(4096):
                return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
    return False


# -- HTTP Basic auth file ------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_blank_password_stops_the_gateway_naming_the_line(tmp_path: Path, processes: str) -> None:
    """An ids file with a whitespace-only password: exit 2, one line naming the line, no
    traceback."""
    ids = tmp_path / "ids.csv"
    ids.write_text("ID,Password\nCP-1,good-pw\nCP-2,   \n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "loadgen", "gateway", "--port", "0", "--processes", processes]
        + ["--basic-auth-file", str(ids)],
        capture_output=True,
        text=True,
        timeout=30 * SCALE,
    )
    assert done.returncode == 2, done.stderr
    assert "--basic-auth-file" in done.stderr and "line 3" in done.stderr
    assert "Traceback" not in done.stderr and "good-pw" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.timeout(60)
def test_the_header_row_is_no_login_and_the_scheme_any_case(
    gateway_factory: GatewayFactory, tmp_path: Path
) -> None:
    """With an ``ID,Password`` header, 'ID:Password' gets 401; a lower-case 'basic' scheme
    with a real password gets in."""
    ids = tmp_path / "ids.csv"
    ids.write_text("ID,Password\nCP-1,pw-1\n", encoding="utf-8")
    gateway = gateway_factory(basic_auth_file=str(ids))
    header = "Basic " + base64.b64encode(b"ID:Password").decode()
    with pytest.raises(AssertionError, match="401"):
        raw_websocket(gateway.port, "ID", header).close()
    lower = "basic " + base64.b64encode(b"CP-1:pw-1").decode()
    raw_websocket(gateway.port, "CP-1", lower).close()
    assert gateway.status()["messages"]["unauthorized"] == 1


# -- keepalive pings ---------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_pings_are_on_by_default(gateway: GatewayProcess) -> None:
    """A gateway started without ping flags pings every 60 s and waits 30 s for the pong."""
    keepalive = gateway.status()["keepalive"]
    assert (keepalive["ping_interval_s"], keepalive["ping_timeout_s"]) == (60.0, 30.0)


@pytest.mark.timeout(60)
def test_a_connection_that_answers_no_ping_is_dropped(gateway_factory: GatewayFactory) -> None:
    """A charger that never answers pings is disconnected after interval + timeout; one that
    answers stays."""
    from websockets.sync.client import connect

    gateway = gateway_factory(ping_interval_s=1, ping_timeout_s=1)
    silent = raw_websocket(gateway.port, "CP-SILENT")
    with connect(f"{gateway.url}/ocpp/CP-ALIVE", subprotocols=["ocpp1.6"]) as alive:  # type: ignore[list-item]
        started = time.monotonic()
        assert closed_by_peer(silent, timeout_s=10), "the silent connection was kept"
        took_s = time.monotonic() - started
        assert took_s <= 5 * SCALE, took_s
        status = wait_until(
            lambda: (s := gateway.status())["connected"] == 1 and s, "the registry to drop it"
        )
        assert status["keepalive"]["timeouts"] == 1
        alive.send('[2, "1", "Heartbeat", {}]')
        assert alive.recv(timeout=10).startswith("[3")  # pinged and answered: still there
    silent.close()


# -- a bounded Redis queue -----------------------------------------------------------------------


@contextlib.contextmanager
def black_hole() -> Iterator[int]:
    """A TCP port that accepts connections (in the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


@pytest.mark.timeout(90)
def test_redis_operations_past_the_queue_limit_are_dropped_and_counted(
    gateway_factory: GatewayFactory,
) -> None:
    """With Redis not answering and --redis-max-queue 5, connects past the 5th drop their
    SET: counted in /_status and /metrics, and nothing more is queued."""
    from websockets.sync.client import connect

    with black_hole() as port:
        gateway = gateway_factory(
            redis_url=f"redis://127.0.0.1:{port}/0",
            redis_pool_size=1,
            redis_read_timeout="20s",
            redis_pool_timeout="20s",
            redis_max_retries=0,
            redis_max_queue=5,
        )
        with contextlib.ExitStack() as stack:
            for n in range(20):
                stack.enter_context(
                    connect(f"{gateway.url}/ocpp/CP-Q-{n}", subprotocols=["ocpp1.6"])  # type: ignore[list-item]
                )
            redis = wait_until(
                lambda: (r := gateway.status()["redis"])["dropped"] == 15 and r, "15 drops"
            )
            assert redis["queued"] == 5 and redis["max_queued"] == 5
            assert gateway.status()["connected"] == 20  # served anyway (--on-redis-error serve)
            import urllib.request

            text = urllib.request.urlopen(f"http://127.0.0.1:{gateway.port}/metrics").read()
            assert b'loadgen_gateway_redis_operations_total{result="dropped"} 15.0' in text
            assert b"loadgen_gateway_redis_queued 5.0" in text
        gateway.stop()
    assert "Dropped the Redis set of charge point" in gateway.stderr()
