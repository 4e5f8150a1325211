"""The multi-process gateway: a parent that starts N worker processes sharing one port.

The parent reserves the port (picking it when ``--port 0``), starts each worker as
``python -m loadgen.gateway ... --worker`` (the kernel spreads connections over their
SO_REUSEPORT sockets), waits until every worker printed its ready line, prints its own,
and then waits for SIGINT/SIGTERM or a worker's death. Workers stop on their own when
the parent dies: it holds their standard input, which then reaches end of file. With
``--metrics-port`` each worker also serves its metrics on a free loopback port, which it
prints after its ready line, and the parent serves them all (:mod:`.metricsproxy`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from types import FrameType

from loadgen.gateway import redisconf
from loadgen.gateway.server import CLOSE_TIMEOUT_S
from loadgen.gateway.system import (
    METRICS_PREFIX,
    READY_PREFIX,
    bind_error_message,
    metrics_line,
    ready_line,
    reserve_port,
)

log = logging.getLogger("loadgen.gateway")

#: Seconds a worker may take to import, bind and print its ready line.
WORKER_START_TIMEOUT_S = 60.0
#: Seconds workers get to close their connections after SIGTERM before SIGKILL.
WORKER_STOP_TIMEOUT_S = CLOSE_TIMEOUT_S + 10.0


class _Signals:
    """SIGINT/SIGTERM seen by the parent; the handlers only record them and wake the loop."""

    def __init__(self, wakeup_fd: int) -> None:
        self.wakeup_fd = wakeup_fd
        self.stop: str | None = None


def run_parent(args: argparse.Namespace) -> int:
    """Serve with ``args.processes`` workers on one port; the exit status of the gateway."""
    with _signals() as signals:
        try:
            holder, port = reserve_port(args.host, args.port)
        except OSError as exc:
            print(bind_error_message(exc, args.host, args.port), file=sys.stderr, flush=True)
            return 2
        workers: list[subprocess.Popen[bytes]] = []
        metrics_urls: dict[int, str] = {}  # worker pid -> its /metrics on loopback
        proxy = None
        try:
            with holder:
                for _ in range(args.processes):
                    workers.append(_start_worker(args, port))
                failed = _wait_ready(
                    workers, signals, metrics_urls, want_metrics=args.metrics_port is not None
                )
            if failed is not None or signals.stop:
                return failed or 0
            if args.metrics_port is not None:
                from loadgen.gateway.metricsproxy import MetricsProxy

                urls = [metrics_urls.get(w.pid, "") for w in workers]
                try:
                    proxy = MetricsProxy(
                        args.host, args.metrics_port, urls, allow_remote=args.metrics_allow_remote
                    )
                except OSError as exc:
                    flag = "--metrics-port"
                    message = bind_error_message(exc, args.host, args.metrics_port, flag)
                    print(message, file=sys.stderr, flush=True)
                    return 2
                proxy.start()
            print(ready_line(args.host, port, args.processes, os.getpid()), flush=True)
            if proxy is not None:
                print(metrics_line(args.host, proxy.port, os.getpid()), flush=True)
            return _supervise(workers, signals)
        finally:
            if proxy is not None:
                proxy.stop()
            _stop_workers(workers)


def _worker_argv(args: argparse.Namespace, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "loadgen.gateway",
        "--host",
        args.host,
        "--port",
        str(port),
        "--processes",
        "1",
        "--backlog",
        str(args.backlog),
        "--heartbeat-interval-s",
        str(args.heartbeat_interval_s),
        "--boot-status",
        args.boot_status,
        "--boot-retry-interval-s",
        str(args.boot_retry_interval_s),
        "--ping-interval-s",
        str(args.ping_interval_s),
        "--ping-timeout-s",
        str(args.ping_timeout_s),
        *(["--worker-metrics"] if args.metrics_port is not None else []),
        *(["--script", args.script] if getattr(args, "script", None) else []),
        *(["--validate"] if getattr(args, "validate", False) else []),
        *(["--metrics-allow-remote"] if args.metrics_allow_remote else []),
        "--log-level",
        args.log_level,
        *redisconf.worker_argv(args),
        *[
            item
            for flag, value in (
                ("--tls-cert", args.tls_cert),
                ("--tls-key", args.tls_key),
                ("--tls-client-ca", args.tls_client_ca),
                ("--basic-auth-file", args.basic_auth_file),
            )
            if value
            for item in (flag, value)
        ],
        "--worker",
    ]


def _start_worker(args: argparse.Namespace, port: int) -> subprocess.Popen[bytes]:
    worker = subprocess.Popen(
        _worker_argv(args, port),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=redisconf.worker_env(args),  # the Redis URL (and password) stays out of argv
    )
    log.debug("started worker pid %d", worker.pid)
    return worker


def _wait_ready(
    workers: list[subprocess.Popen[bytes]],
    signals: _Signals,
    metrics_urls: dict[int, str],
    *,
    want_metrics: bool = False,
) -> int | None:
    """Wait for every worker's ready line (or a signal); None when all listen or stopping.

    With ``want_metrics`` (workers started with ``--worker-metrics``) each also prints where
    its metrics are: those lines fill ``metrics_urls`` (pid -> URL). Returns an exit status
    when a worker fails to start.
    """
    wakeup = signals.wakeup_fd
    deadline = time.monotonic() + WORKER_START_TIMEOUT_S
    pending: dict[int, tuple[subprocess.Popen[bytes], bytearray]] = {}
    with selectors.DefaultSelector() as selector:
        selector.register(wakeup, selectors.EVENT_READ)
        for worker in workers:
            assert worker.stdout is not None
            fd = worker.stdout.fileno()
            pending[fd] = (worker, bytearray())
            selector.register(fd, selectors.EVENT_READ)
        while pending and not signals.stop:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.error("workers did not listen within %.0f s", WORKER_START_TIMEOUT_S)
                return 1
            for key, _events in selector.select(remaining):
                if key.fd == wakeup:
                    _drain(wakeup)
                    continue
                worker, buffer = pending[key.fd]
                chunk = os.read(key.fd, 4096)
                buffer += chunk
                if _read_lines(worker, buffer, metrics_urls, want_metrics):
                    selector.unregister(key.fd)
                    del pending[key.fd]
                elif not chunk:  # the worker exited before listening; it said why on stderr
                    code = worker.wait(timeout=WORKER_STOP_TIMEOUT_S)
                    log.debug("worker %d exited with %d before listening", worker.pid, code)
                    return code if code > 0 else 1
    return None


def _read_lines(
    worker: subprocess.Popen[bytes],
    buffer: bytearray,
    metrics_urls: dict[int, str],
    want_metrics: bool,
) -> bool:
    """Whether ``buffer`` holds all the worker's start lines (ready, then metrics)."""
    lines = bytes(buffer).split(b"\n")[:-1]
    ready = False
    for raw in lines:
        line = raw.decode("utf-8", "replace")
        if line.startswith(READY_PREFIX):
            ready = True
        elif line.startswith(METRICS_PREFIX):
            metrics_urls[worker.pid] = line[len(METRICS_PREFIX) :].split(" ", 1)[0]
        else:
            log.warning("worker %d said: %r", worker.pid, line)
            return True  # not a gateway worker's line: do not wait for more
    return ready and (not want_metrics or worker.pid in metrics_urls)


def _supervise(workers: list[subprocess.Popen[bytes]], signals: _Signals) -> int:
    """Block until SIGINT/SIGTERM (returns 0) or a worker's death (returns 1)."""
    wakeup = signals.wakeup_fd
    with selectors.DefaultSelector() as selector:
        selector.register(wakeup, selectors.EVENT_READ)
        while not signals.stop:
            for worker in workers:
                code = worker.poll()
                if code is not None:
                    log.error("worker %d exited with status %d: stopping", worker.pid, code)
                    return 1
            # SIGCHLD wakes us through the wakeup fd; the timeout is only a safety net.
            if selector.select(5.0):
                _drain(wakeup)
    log.info("stopping: %s", signals.stop)
    return 0


def _stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every live worker (by pid), wait a bounded time, SIGKILL the rest."""
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    deadline = time.monotonic() + WORKER_STOP_TIMEOUT_S
    for worker in workers:
        try:
            worker.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("worker %d did not stop in time: killing it", worker.pid)
            worker.kill()
            worker.wait(timeout=5)
        for stream in (worker.stdin, worker.stdout):
            if stream is not None:
                stream.close()


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError, InterruptedError):
        while os.read(fd, 512):
            pass


@contextlib.contextmanager
def _signals() -> Iterator[_Signals]:
    """Record SIGINT/SIGTERM; they and SIGCHLD wake a select() on the wakeup fd."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    signals = _Signals(read_fd)

    def stop(signum: int, _frame: FrameType | None) -> None:
        signals.stop = signals.stop or signal.Signals(signum).name

    def child(_signum: int, _frame: FrameType | None) -> None:
        pass

    previous_fd = signal.set_wakeup_fd(write_fd)
    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, stop),
        signal.SIGTERM: signal.signal(signal.SIGTERM, stop),
        signal.SIGCHLD: signal.signal(signal.SIGCHLD, child),
    }
    try:
        yield signals
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(previous_fd)
        os.close(read_fd)
        os.close(write_fd)
