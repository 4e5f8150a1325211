"""Preflight: will this host hold the planned connections? Files, ports, listen queues.

``loadgen doctor CONFIG.yaml`` and the start of ``loadgen run`` plan how many worker
(and embedded gateway) processes a run needs and compare what each needs with the
host's limits: ``RLIMIT_NOFILE`` (one connection is one file, and Locust only raises the
soft limit to the hard one), the ephemeral port range (one source address and one
destination give at most that many connections), and ``net.core.somaxconn`` /
``net.ipv4.tcp_max_syn_backlog`` (connects queued while the gateway accepts). Each
problem comes with its fix for Linux (and Windows where it differs).
"""

from __future__ import annotations

import errno
import math
import os
import socket
import sys
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from loadgen.config import Config

#: Files a process needs besides its connections: Locust's sockets, logs, pipes, libraries.
FILES_HEADROOM = 1_000
#: Share of the ephemeral port range planned for use (the rest covers TIME_WAIT and others).
PORTS_USABLE = 0.95
#: Most connections planned per process, whatever the open-files limit allows.
MAX_CONNECTIONS_PER_PROCESS = 50_000


@dataclass(frozen=True, slots=True)
class HostLimits:
    """The limits of this host (and process) that bound how many connections it opens."""

    files_soft: int
    files_hard: int
    port_low: int = 32768
    port_high: int = 60999
    somaxconn: int | None = None
    syn_backlog: int | None = None

    @property
    def ports(self) -> int:
        return self.port_high - self.port_low + 1


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def read_limits() -> HostLimits:
    """This process's open-files limits and the kernel's port range and queue sizes."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        cap = _read_int("/proc/sys/fs/nr_open") or 1 << 20
        soft = cap if soft == resource.RLIM_INFINITY else soft
        hard = cap if hard == resource.RLIM_INFINITY else hard
    except ImportError:  # Windows: no RLIMIT_NOFILE; sockets are limited elsewhere
        soft = hard = 1 << 20
    low, high = 32768, 60999
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as handle:
            low, high = (int(x) for x in handle.read().split())
    except (OSError, ValueError):
        if sys.platform == "win32":
            low, high = 49152, 65535  # Windows' default dynamic port range
    return HostLimits(
        files_soft=soft,
        files_hard=hard,
        port_low=low,
        port_high=high,
        somaxconn=_read_int("/proc/sys/net/core/somaxconn"),
        syn_backlog=_read_int("/proc/sys/net/ipv4/tcp_max_syn_backlog"),
    )


def connections_per_process(limits: HostLimits) -> int:
    """Connections one process can hold: its hard open-files limit less the headroom."""
    return max(100, min(MAX_CONNECTIONS_PER_PROCESS, limits.files_hard - FILES_HEADROOM))


@dataclass(frozen=True, slots=True)
class Check:
    """One comparison of what the run needs with what the host has."""

    name: str
    needed: int
    have: int
    fix: str = ""  # empty when it fits

    @property
    def ok(self) -> bool:
        return self.needed <= self.have


@dataclass(slots=True)
class Plan:
    """Processes for a run and the checks of what each needs."""

    users: int
    workers: int
    gateways: int  # embedded gateway processes; 0 for a remote target
    checks: list[Check] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def per_worker(self) -> int:
        return math.ceil(self.users / self.workers)


def plan_run(config: Config, workers: str | int, limits: HostLimits | None = None) -> Plan:
    """Worker and gateway processes for ``config`` on this host, and the checks.

    ``workers`` is a number or ``"auto"``: one per core, more when the connections need
    them (each holds at most :func:`connections_per_process`).
    """
    limits = limits or read_limits()
    users = config.max_users
    cap = connections_per_process(limits)
    needed = math.ceil(users / cap)
    count = max(os.cpu_count() or 1, needed) if workers == "auto" else int(workers)
    embedded = config.target == "embedded"
    plan = Plan(users, count, needed if embedded else 0)
    plan.checks.append(_files_check("open files per worker", plan.per_worker, limits, needed))
    if embedded:
        per_gateway = math.ceil(users / plan.gateways)
        plan.checks.append(_files_check("open files per gateway process", per_gateway, limits, 0))
    plan.checks.append(_ports_check(config, users, limits))
    plan.checks.extend(_queue_checks(config, limits, embedded))
    return plan


def _files_check(name: str, connections: int, limits: HostLimits, workers: int) -> Check:
    needed = connections + FILES_HEADROOM
    fix = ""
    if needed > limits.files_hard:
        more = f" or run more workers (--workers {workers})" if workers else ""
        fix = (
            f"raise the open-files hard limit to at least {needed}: add '* - nofile 200000' "
            "to /etc/security/limits.conf and log in again (systemd: LimitNOFILE=200000; "
            f"Docker: --ulimit nofile=200000:200000; shell: ulimit -Hn 200000 as root){more}"
        )
    return Check(name, needed, limits.files_hard, fix)


def _ports_check(config: Config, users: int, limits: HostLimits) -> Check:
    """Connections to one destination from this host against ports x source addresses."""
    sources = len(config.source_addresses or ()) or 1
    per_source = int(limits.ports * PORTS_USABLE)
    have = per_source * sources
    fix = ""
    if users > have:
        wanted = math.ceil(users / per_source)
        loopback = _loopback_target(config)
        pool = (
            f"source_addresses: 127.0.0.0/{32 - math.ceil(math.log2(wanted + 2))} "
            "(any of 127.0.0.0/8 works on loopback)"
            if loopback
            else f"source_addresses with {wanted} addresses of this host (ip addr add ADDR/32 "
            "dev IFACE)"
        )
        fix = (
            f"one source address reaches one target through {per_source:,} ports "
            f"({limits.port_low}-{limits.port_high}); add {pool}, or widen the range: "
            "sysctl -w net.ipv4.ip_local_port_range='1024 65535' (persist it in "
            "/etc/sysctl.d/; Windows: netsh int ipv4 set dynamicport tcp start=1025 "
            "num=64510), or spread the workers over more hosts"
        )
    return Check("ephemeral ports to the target", users, have, fix)


def _queue_checks(config: Config, limits: HostLimits, embedded: bool) -> list[Check]:
    """Listen and SYN queues of the embedded gateway: a second of connects at peak rate."""
    if not embedded:
        return []
    rate = math.ceil(max(stage.spawn_rate for stage in config.stages))
    checks = []
    for name, have, key in (
        ("net.core.somaxconn", limits.somaxconn, "net.core.somaxconn"),
        ("net.ipv4.tcp_max_syn_backlog", limits.syn_backlog, "net.ipv4.tcp_max_syn_backlog"),
    ):
        if have is None:
            continue
        fix = f"sysctl -w {key}={max(4096, rate)} (persist it in /etc/sysctl.d/)"
        checks.append(Check(name, rate, have, fix if rate > have else ""))
    return checks


def _loopback_target(config: Config) -> bool:
    if config.target == "embedded":
        return True
    host = urlsplit(config.target).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def unbindable_sources(config: Config, sample: int = 64) -> list[str]:
    """Source addresses of the pool (up to ``sample``) that this host cannot bind."""
    bad = []
    for address in (config.source_addresses or ())[:sample]:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((address, 0))
            except OSError as exc:
                if exc.errno in (errno.EADDRNOTAVAIL, errno.EINVAL):
                    bad.append(address)
    return bad


def render(plan: Plan, config: Config, limits: HostLimits) -> str:
    """The doctor's report: the plan, one line per check, the fixes."""
    lines = [
        f"{config.name}: {plan.users:,} charge points, {plan.workers} worker processes "
        f"(~{plan.per_worker:,} connections each)"
        + (f", {plan.gateways} embedded gateway processes" if plan.gateways else ""),
        f"host: open files soft {limits.files_soft:,} / hard {limits.files_hard:,}, ports "
        f"{limits.port_low}-{limits.port_high}, somaxconn {limits.somaxconn}, "
        f"tcp_max_syn_backlog {limits.syn_backlog}, source addresses "
        f"{len(config.source_addresses or ()) or 'OS default'}",
    ]
    for check in plan.checks:
        mark = "ok  " if check.ok else "FAIL"
        lines.append(f"  {mark} {check.name}: needs {check.needed:,}, has {check.have:,}")
        if not check.ok:
            lines.append(f"       fix: {check.fix}")
    for address in unbindable_sources(config):
        lines.append(
            f"  FAIL source address {address} is not an address of this host; fix: "
            f"ip addr add {address}/32 dev lo (or remove it from source_addresses)"
        )
    return "\n".join(lines)


def warning(plan: Plan) -> str | None:
    """One paragraph for ``loadgen run`` when the plan does not fit, else None."""
    failed = [check for check in plan.checks if not check.ok]
    if not failed:
        return None
    parts = "; ".join(f"{c.name} needs {c.needed:,} but has {c.have:,}: {c.fix}" for c in failed)
    return (
        f"loadgen: this host cannot hold {plan.users:,} connections as planned "
        f"({plan.workers} workers): {parts}. Run `loadgen doctor CONFIG` after the fix."
    )
