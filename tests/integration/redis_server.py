"""A real ``redis-server`` for integration tests: free loopback port, no persistence, by PID.

:func:`running_redis` starts the Debian package's ``redis-server`` on 127.0.0.1 and a
free port with ``--save '' --appendonly no`` and a password (so every test also proves
that the password is masked), waits until it answers PING, and ends it by its PID. The
``redis_server`` fixture in ``conftest.py`` wraps it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis import Redis, RedisError

#: Timeouts scale with this variable on slow machines.
SCALE = float(os.environ.get("LOADGEN_TEST_SCALE", "1"))
START_TIMEOUT_S = 10.0 * SCALE
PASSWORD = "s3cret-redis-pw"


@dataclass
class RedisServer:
    """A running redis-server subprocess and how to reach it."""

    process: subprocess.Popen[bytes]
    port: int
    password: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def client(self) -> Redis:
        """A client with short timeouts, answers decoded to str."""
        return Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password,
            socket_timeout=5,
            socket_connect_timeout=5,
            decode_responses=True,
        )

    def kill(self) -> None:
        """SIGKILL the server by its PID (a crash, not a shutdown) and reap it."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(directory: Path, password: str) -> RedisServer:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail(
            "redis-server is not installed: run `bash scripts/system-packages.sh` as root "
            "(or `apt-get install redis-server`)."
        )
    port = _free_port()
    log_path = directory / f"redis-{port}.log"
    argv = [
        exe,
        *("--bind", "127.0.0.1", "--port", str(port)),
        *("--save", "", "--appendonly", "no", "--dir", str(directory)),
        *("--requirepass", password, "--daemonize", "no", "--logfile", str(log_path)),
    ]
    with open(os.devnull, "wb") as devnull:
        process = subprocess.Popen(argv, stdout=devnull, stderr=subprocess.STDOUT)
    return RedisServer(process, port, password, log_path)


def _wait_ready(server: RedisServer) -> bool:
    """Poll PING until it answers (True) or the server exits (False); bounded in time."""
    client = server.client()
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                return False
            try:
                if client.ping():
                    return True
            except RedisError:
                time.sleep(0.02)
        raise TimeoutError(f"redis-server did not answer PING within {START_TIMEOUT_S} s")
    finally:
        client.close()


@contextlib.contextmanager
def running_redis(directory: Path, password: str = PASSWORD) -> Iterator[RedisServer]:
    """Start redis-server on a free loopback port; yield it once it answers; end it by PID.

    A port taken between choosing and binding it makes the server exit: try another.
    """
    directory.mkdir(parents=True, exist_ok=True)
    server = None
    try:
        for _attempt in range(3):
            server = _start(directory, password)
            if _wait_ready(server):
                break
            server.process.wait(timeout=10)
        else:
            raise RuntimeError(f"redis-server did not start; see {directory}")
        yield server
    finally:
        if server is not None and server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
