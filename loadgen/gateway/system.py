"""Operating-system chores of the gateway: open-files limit, port reservation, messages.

Nothing here touches WebSockets; the functions are shared by the single-process path
(:mod:`loadgen.gateway.cli`) and the multi-process parent (:mod:`loadgen.gateway.supervisor`).
"""

from __future__ import annotations

import errno
import logging
import socket

log = logging.getLogger("loadgen.gateway")

READY_PREFIX = "loadgen gateway listening on "
METRICS_PREFIX = "loadgen gateway metrics on "


def ready_line(host: str, port: int, processes: int, pid: int) -> str:
    """The one line printed on stdout once the gateway accepts connections."""
    shown = f"[{host}]" if ":" in host else host
    return f"{READY_PREFIX}ws://{shown}:{port}/ (processes={processes}, pid={pid})"


def metrics_line(host: str, port: int, pid: int) -> str:
    """The line printed on stdout (before the ready line) once /metrics has its own port."""
    shown = f"[{host}]" if ":" in host else host
    return f"{METRICS_PREFIX}http://{shown}:{port}/metrics (pid={pid})"


def raise_open_files_limit() -> int:
    """Raise the RLIMIT_NOFILE soft limit to the hard limit; return the soft limit in force.

    Every WebSocket is a file descriptor, so the soft limit (often 1024) caps the number
    of chargers one process can hold.
    """
    try:
        import resource
    except ImportError:  # not a Unix system
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else _nr_open()
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open files limit from %d to %d: %s", soft, target, exc)
            return soft
        log.info("open files limit (RLIMIT_NOFILE) raised from %d to %d", soft, target)
        return target
    log.info("open files limit (RLIMIT_NOFILE) is %d (hard limit %d)", soft, hard)
    return soft


def _nr_open() -> int:
    """The kernel's ceiling for RLIMIT_NOFILE when the hard limit is unlimited."""
    try:
        with open("/proc/sys/fs/nr_open", encoding="ascii") as file:
            return int(file.read().strip())
    except (OSError, ValueError):
        return 1 << 20


def reserve_port(host: str, port: int) -> tuple[socket.socket, int]:
    """Check that ``host:port`` is free and hold it for SO_REUSEPORT workers.

    Returns a bound, non-listening socket with SO_REUSEPORT (close it once the workers
    listen) and the port number, which the system picks when ``port`` is 0. A first bind
    without SO_REUSEPORT makes a port held by any other listener, even another gateway
    with SO_REUSEPORT, fail with EADDRINUSE instead of silently sharing its traffic.
    """
    family, address = _address(host, port)
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
        port = probe.getsockname()[1]
    family, address = _address(host, port)
    holder = socket.socket(family, socket.SOCK_STREAM)
    try:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(address)
    except OSError:
        holder.close()
        raise
    return holder, port


def _address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _type, _proto, _name, address = infos[0]
    return family, (str(address[0]), int(address[1]))


def bind_error_message(exc: OSError, host: str, port: int, flag: str = "--port") -> str:
    """One paragraph telling the user why ``host:port`` cannot be listened on and the fix.

    ``flag`` names the flag that gave the port (``--port`` or ``--metrics-port``).
    """
    where = f"cannot listen on {host}:{port}"
    if isinstance(exc, socket.gaierror):
        return (
            f"loadgen gateway: {where}: --host {host!r} does not resolve ({exc.strerror}). "
            "Pass --host with an address of this machine, e.g. --host 127.0.0.1."
        )
    if exc.errno == errno.EADDRINUSE:
        names = "the ready line" if flag == "--port" else "the line after the ready line"
        return (
            f"loadgen gateway: {where}: port {port} is already in use by another program "
            "(perhaps another gateway). Stop that program, choose another port with "
            f"{flag} (e.g. {flag} {port + 1 if port < 65535 else 9000}), or pass {flag} 0 "
            f"to let the system pick a free port ({names} on stdout names it)."
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"loadgen gateway: {where}: {host} is not an address of this machine. Pass "
            "--host with a local address, e.g. --host 127.0.0.1 or --host 0.0.0.0."
        )
    if exc.errno == errno.EACCES:
        return (
            f"loadgen gateway: {where}: permission denied (ports below 1024 need "
            f"privileges). Choose {flag} 1024 or above, e.g. {flag} 9000."
        )
    return f"loadgen gateway: {where}: {exc.strerror or exc}. Check --host and {flag}."
