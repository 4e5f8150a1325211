"""Shared helpers of the integration tests: paths, time scale, ports, polling, runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
#: Timeouts scale with this variable on slow machines.
SCALE = float(os.environ.get("LOADGEN_TEST_SCALE", "1"))


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll(predicate: Callable[[], Any], what: str, timeout_s: float = 30) -> Any:
    """Call ``predicate`` until it returns something truthy (returned) or the deadline."""
    deadline = time.monotonic() + timeout_s * SCALE
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # not ready yet: keep polling until the deadline
            last = exc
        else:
            if last:
                return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def locust_argv(
    config: Path, host: str, results: Path, *extra: str, locustfile: Path | None = None
) -> list[str]:
    """``locust -f locustfile.py --headless`` with loadgen's options, as a Locust user runs
    it; ``locustfile``: another one (an example's), else the project's own."""
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile or ROOT / "locustfile.py"),
        "--headless",
        "--only-summary",
        "--host",
        host,
        "--loadgen-config",
        str(config),
        "--loadgen-results",
        str(results),
        *extra,
    ]


def run_standalone(
    config: Path, host: str, results: Path, *extra: str, timeout_s: float = 90
) -> subprocess.CompletedProcess[str]:
    """A standalone Locust run (no workers), to its end."""
    return subprocess.run(
        locust_argv(config, host, results, *extra),
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=timeout_s * SCALE,
    )


@dataclass
class UiRun:
    """A ``loadgen run --ui`` under test; ``output`` is filled once it has ended."""

    url: str
    proc: subprocess.Popen[str]
    output: str = ""


@contextmanager
def ui_run(
    config: Path, results: Path, *extra: str, env: dict[str, str] | None = None
) -> Iterator[UiRun]:
    """``loadgen run CONFIG --ui`` until its web UI answers; SIGINT (then kill) at exit."""
    port = free_port()
    argv = ["run", str(config), "--ui", "--web-port", str(port), "--results", str(results)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadgen", *argv, *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    run = UiRun(f"http://127.0.0.1:{port}", proc)
    try:
        poll(lambda: urllib.request.urlopen(run.url + "/", timeout=2).status == 200, "web UI")
        yield run
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            run.output = proc.communicate(timeout=60 * SCALE)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            run.output = proc.communicate()[0]


@contextmanager
def loadgen_run_until(line_part: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """``loadgen run ARGS`` started and read until a progress line contains ``line_part``.

    The caller signals or waits for it; whatever is left running is killed at exit.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadgen", "run", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # bounded by the calling test's timeout
            if line_part in line:
                break
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
