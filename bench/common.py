"""Shared chores of the benchmarks: processes we start, their CPU and memory, the gateway.

Every process here is started by the benchmark and ended by its PID; every wait has a
deadline. Numbers come from ``/proc/<pid>/stat`` (CPU ticks) and ``/proc/<pid>/status``
(``VmRSS``, ``VmHWM``), so the benchmark needs Linux.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(rb"listening on ws://(?P<host>[^/]+):(?P<port>\d+)/")
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    """One look at a process: CPU seconds used so far and memory in KiB."""

    at: float  # monotonic seconds
    cpu_s: float
    sys_s: float  # the kernel's share of cpu_s
    rss_kb: int
    hwm_kb: int


def sample(pid: int) -> Sample | None:
    """CPU time and memory of ``pid`` now, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            status = handle.read()
    except OSError:
        return None
    utime, stime = int(fields[11]), int(fields[12])
    rss = re.search(r"VmRSS:\s+(\d+)", status)
    hwm = re.search(r"VmHWM:\s+(\d+)", status)
    return Sample(
        time.monotonic(),
        (utime + stime) / TICKS_PER_S,
        stime / TICKS_PER_S,
        int(rss.group(1)) if rss else 0,
        int(hwm.group(1)) if hwm else 0,
    )


def _children_by_parent() -> dict[int, list[int]]:
    """Every process in ``/proc`` filed under its parent.

    The per-thread ``/proc/<pid>/task/*/children`` files are not used: they miss
    processes (the kernel documents them as unreliable while children come and go),
    which left workers and gateway processes out of ``bench.scale``'s figures.
    """
    below: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        parent = parent_of(int(entry))
        if parent is not None:  # else gone meanwhile
            below.setdefault(parent, []).append(int(entry))
    return below


def children(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    return _children_by_parent().get(pid, [])


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, breadth first."""
    below = _children_by_parent()
    found, queue = [], [pid]
    while queue:
        for child in below.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found


def parent_of(pid: int) -> int | None:
    """The parent of ``pid``, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stop(proc: subprocess.Popen[Any], timeout_s: float = 30.0, sig: int = signal.SIGINT) -> None:
    """``sig`` to a process we started, then SIGKILL it and its forks after ``timeout_s``."""
    if proc.poll() is not None:
        return
    forks = descendants(proc.pid)
    proc.send_signal(sig)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        for pid in [proc.pid, *forks]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(10)


class Gateway:
    """The reference gateway as a child process on ``127.0.0.1``, port picked by the OS."""

    def __init__(self, log: Path, *flags: str, cpus: str | None = None) -> None:
        """Start it with ``flags``; ``cpus`` (e.g. ``"1"``) pins it with ``taskset -c``."""
        cmd = [sys.executable, "-m", "loadgen.gateway", "--host", "127.0.0.1", "--port", "0"]
        if cpus is not None:  # taskset execs the gateway: proc.pid stays the gateway's
            cmd = ["taskset", "-c", cpus, *cmd]
        self._log = open(log, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [*cmd, "--log-level", "WARNING", *flags],
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the gateway prints it once it listens
        match = READY.search(line)
        if match is None:
            self.close()
            raise SystemExit(f"bench: the gateway did not start; see {log}")
        self.port = int(match.group("port"))
        self.url = f"ws://127.0.0.1:{self.port}/ocpp"

    def status(self) -> dict[str, Any]:
        """``GET /_status`` of one gateway process."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/_status")
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def pids(self) -> list[int]:
        return [self.proc.pid, *descendants(self.proc.pid)]

    def close(self) -> None:
        stop(self.proc)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


def machine() -> dict[str, str]:
    """What the figures were measured on: cores, memory, kernel, Python."""
    with open("/proc/meminfo", encoding="ascii") as handle:
        total_kb = int(handle.readline().split()[1])
    return {
        "nproc": str(os.cpu_count()),
        "memory_gib": f"{total_kb / 1024 / 1024:.1f}",
        "kernel": os.uname().release,
        "python": sys.version.split()[0],
    }
