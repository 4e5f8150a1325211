"""The lean transport against the real gateway: source pool, parking, named failures."""

from __future__ import annotations

import functools
import gc
import random
import socket
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import greenlet
import pytest

from loadgen.config import ChargePoints
from loadgen.failures import Failure
from loadgen.ocpp import dialect_for
from loadgen.sim.chargepoint import ChargePoint, Counters
from loadgen.sim.drivers import DRIVERS
from loadgen.sim.transport import SourcePool, open_connection
from tests.integration.conftest import GatewayProcess
from tests.integration.test_hostile import hostile

pytestmark = pytest.mark.integration
DEADLINE_S = 10.0


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        gevent.sleep(0.02)


@pytest.mark.timeout(30)
def test_sockets_bind_the_source_pool_round_robin(gateway: GatewayProcess) -> None:
    """Each new connection binds the pool's next loopback address before connecting."""
    pool = SourcePool(("127.0.0.2", "127.0.0.3"))
    conns = [
        open_connection(f"{gateway.url}/ocpp", f"SRC-{i}", "ocpp1.6", timeout_s=5, source=pool)
        for i in range(4)
    ]
    try:
        sources = [conn._sock.getsockname()[0] for conn in conns]
        assert sources == ["127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.3"]
        conns[0].send('[2,"1","Heartbeat",{}]')
        assert conns[0].recv().startswith('[3,"1"')
    finally:
        for conn in conns:
            conn.close()


@pytest.mark.timeout(30)
def test_refused_and_rejected_connections_are_named(gateway: GatewayProcess) -> None:
    """A closed port is connect_refused; a subprotocol the gateway lacks, handshake_rejected."""
    with pytest.raises(Failure) as refused:
        open_connection("ws://127.0.0.1:1/ocpp", "X", "ocpp1.6", timeout_s=5)
    assert refused.value.category == "connect_refused"
    with pytest.raises(Failure) as rejected:
        open_connection(f"{gateway.url}/ocpp", "X", "ocpp9.9", timeout_s=5)
    assert rejected.value.category == "handshake_rejected"
    assert rejected.value.detail == "HTTP 400"


def start_fleet(
    url: str,
    count: int,
    settings: ChargePoints,
    prefix: str,
    report: Callable[..., None] | None = None,
    report_in_hub: Callable[[], bool] | None = None,
) -> tuple[list[ChargePoint], Counters, list[tuple[str, Any]]]:
    """``count`` charge points started against ``url``; their counters and reports
    (``(name, exception)`` each, unless ``report`` takes them)."""
    reports: list[tuple[str, Any]] = []
    counters = Counters()
    dialect = dialect_for("1.6")
    cps = [
        ChargePoint(
            f"{prefix}-{i}",
            dialect,
            settings,
            functools.partial(open_connection, url, f"{prefix}-{i}", "ocpp1.6", timeout_s=5),
            report or (lambda kind, name, ms, length, exc: reports.append((name, exc))),
            counters,
            rng=random.Random(i),
            report_in_hub=report_in_hub,
        )
        for i in range(count)
    ]
    for cp in cps:
        cp.start()
    return cps, counters, reports


def heartbeats(reports: list[tuple[str, Any]], category: str | None = None) -> int:
    """Heartbeat reports so far: answered ones, or those failed with ``category``."""
    return sum(
        name == "Heartbeat" and getattr(exc, "category", None) == category for name, exc in reports
    )


@pytest.mark.timeout(60)
def test_idle_charge_points_hold_no_greenlet_and_still_heartbeat(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """Started charge points boot, park with no greenlet, and wake up for every heartbeat."""
    gateway = gateway_factory(heartbeat_interval_s=1)
    cps, counters, reports = start_fleet(f"{gateway.url}/ocpp", 20, ChargePoints(), "PARK")
    try:
        wait_until(lambda: counters.booted == 20, "20 boots")
        wait_until(lambda: all(cp._driver is None for cp in cps), "every charge point parked")
        beats = sum(name == "Heartbeat" for name, _ in reports)
        wait_until(
            lambda: sum(name == "Heartbeat" for name, _ in reports) >= beats + 20,
            "a heartbeat from each",
        )
        gc.collect()
        serving = [
            g
            for g in gc.get_objects()
            if isinstance(g, greenlet.greenlet) and g and "_life" in repr(g.gr_frame)
        ]
        assert len(serving) <= 2  # parked between heartbeats, not one greenlet each
        assert all(exc is None for _, exc in reports), [r for r in reports if r[1]]
    finally:
        for cp in cps:
            cp.stop()
    assert counters.connected == 0


@pytest.mark.timeout(30)
def test_a_connect_that_never_completes_is_a_connect_timeout() -> None:
    """A listener whose accept queue is full drops our SYN: the upgrade's first send
    would block, waits for the connect, and gives up at the deadline, closing the socket."""
    import os
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)  # room for one connection that is never accepted
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):  # fill the accept queue (and the SYN queue) first
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        gevent.sleep(0.2)
        files_before = len(os.listdir("/proc/self/fd"))
        started = time.monotonic()
        with pytest.raises(Failure) as timed_out:
            open_connection(f"ws://127.0.0.1:{port}/ocpp", "SLOW", "ocpp1.6", timeout_s=1)
        elapsed = time.monotonic() - started
        assert timed_out.value.category == "connect_timeout"
        assert timed_out.value.detail == "connect"
        assert 0.9 <= elapsed < 5
        assert len(os.listdir("/proc/self/fd")) == files_before
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


class HeldResolver:
    """The real ``getaddrinfo``, held back until released, counting its lookups."""

    def __init__(self, real: Callable[..., Any], fail: bool = False) -> None:
        self.real = real
        self.fail = fail
        self.lookups = 0
        self.release = gevent.event.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.lookups += 1
        self.release.wait(DEADLINE_S)
        if self.fail:  # a name server's refusal cannot happen on loopback
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.real(*args, **kwargs)


def _open_together(url: str, count: int, resolver: HeldResolver) -> list[Any]:
    """Open ``count`` connections at once while the first lookup is held; their results."""
    jobs = [
        gevent.spawn(open_connection, url, f"DNS-{i}", "ocpp1.6", timeout_s=5) for i in range(count)
    ]
    wait_until(lambda: resolver.lookups >= 1, "the first lookup")
    gevent.sleep(0)  # every job runs up to its wait before the lookup is released
    resolver.release.set()
    gevent.joinall(jobs, timeout=DEADLINE_S)
    return [job.value if job.successful() else job.exception for job in jobs]


@pytest.mark.timeout(30)
def test_a_burst_of_connections_resolves_the_target_once(
    gateway: GatewayProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Charge points that start during the first lookup share it: a ramp's first burst
    makes one lookup, not one per charge point."""
    resolver = HeldResolver(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    url = f"ws://127.0.0.1:{gateway.port}/ocpp-burst"
    results = _open_together(url, 20, resolver)
    try:
        assert resolver.lookups == 1
        assert all(not isinstance(r, BaseException) for r in results), results
        results[0].send('[2,"1","Heartbeat",{}]')
        assert results[0].recv(5).startswith('[3,"1"')
    finally:
        for result in results:
            if not isinstance(result, BaseException):
                result.close()


@pytest.mark.timeout(30)
def test_a_failed_lookup_is_shared_then_tried_again(
    gateway: GatewayProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every charge point waiting on a failed lookup gets dns_error; the next one to
    connect looks the name up again and, once it resolves, connects."""
    resolver = HeldResolver(socket.getaddrinfo, fail=True)
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    url = f"ws://127.0.0.1:{gateway.port}/ocpp-dns"
    results = _open_together(url, 5, resolver)
    assert resolver.lookups == 1
    assert [getattr(r, "category", r) for r in results] == ["dns_error"] * 5
    assert len({id(r) for r in results}) == 5  # each raised its own exception
    resolver.fail = False
    conn = open_connection(url, "DNS-again", "ocpp1.6", timeout_s=5)
    conn.close()
    assert resolver.lookups == 2


@pytest.mark.timeout(60)
def test_parked_charge_points_heartbeat_from_the_hub(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """A parked charge point sends its Heartbeat and reads the answer in hub callbacks:
    no greenlet is handed a job for it, and every Heartbeat is answered."""
    gateway = gateway_factory(heartbeat_interval_s=1)
    cps, counters, reports = start_fleet(f"{gateway.url}/ocpp", 20, ChargePoints(), "HUB")
    try:
        wait_until(lambda: counters.booted == 20, "20 boots")
        wait_until(lambda: all(cp._driver is None for cp in cps), "every charge point parked")
        jobs, beats = DRIVERS.jobs, heartbeats(reports)
        wait_until(lambda: heartbeats(reports) >= beats + 40, "two heartbeats from each")
        assert DRIVERS.jobs == jobs
        assert all(exc is None for _, exc in reports), [r for r in reports if r[1]]
        assert counters.connected == 20
    finally:
        for cp in cps:
            cp.stop()
    assert counters.connected == 0


@pytest.mark.timeout(60)
def test_an_unanswered_parked_heartbeat_times_out_and_the_next_follows() -> None:
    """A server that never answers Heartbeat: each one parked is reported as a
    call_timeout after call_timeout_s, the connection stays, and the next is sent."""
    settings = ChargePoints(heartbeat_interval_s=1, call_timeout_s=1)
    with hostile("mute_heartbeat") as port:
        cps, counters, reports = start_fleet(f"ws://127.0.0.1:{port}/ocpp", 3, settings, "MUTE")
        try:
            wait_until(lambda: heartbeats(reports, "call_timeout") >= 6, "two timeouts each")
            assert heartbeats(reports) == 0
            assert counters.connected == 3
            assert counters.lost == 0
        finally:
            for cp in cps:
                cp.stop()


@pytest.mark.timeout(60)
def test_a_frame_the_hub_cannot_take_goes_to_a_greenlet() -> None:
    """A ping just before each Heartbeat's answer: the hub callback leaves the ping to
    a greenlet, which answers it and then reads the Heartbeat's answer; none is lost."""
    settings = ChargePoints(heartbeat_interval_s=1)
    with hostile("ping_heartbeat") as port:
        cps, counters, reports = start_fleet(f"ws://127.0.0.1:{port}/ocpp", 3, settings, "PING")
        try:
            wait_until(lambda: counters.booted == 3, "3 boots")
            jobs = DRIVERS.jobs
            wait_until(lambda: heartbeats(reports) >= 6, "two heartbeats each")
            assert DRIVERS.jobs > jobs
            assert all(exc is None for _, exc in reports), [r for r in reports if r[1]]
            assert counters.lost == 0
        finally:
            for cp in cps:
                cp.stop()


@pytest.mark.timeout(60)
def test_work_a_server_call_leaves_is_done_and_the_charge_point_parks_again() -> None:
    """A TriggerMessage answered in the hub leaves a StatusNotification to send: a
    greenlet sends it and parks again at once, not at the next Heartbeat."""
    settings = ChargePoints(heartbeat_interval_s=4)
    with hostile("trigger_status") as port:
        cps, counters, reports = start_fleet(f"ws://127.0.0.1:{port}/ocpp", 1, settings, "TRIG")
        cp = cps[0]
        try:
            wait_until(lambda: heartbeats(reports) >= 1, "the first Heartbeat")
            wait_until(
                lambda: sum(name == "StatusNotification" for name, _ in reports) >= 2,
                "the triggered StatusNotification",
            )
            triggered = time.monotonic()
            wait_until(lambda: cp._driver is None, "parked again")
            assert time.monotonic() - triggered < 2  # the next Heartbeat is 4 s away
            assert ("TriggerMessage", None) in reports
            assert all(exc is None for _, exc in reports), [r for r in reports if r[1]]
        finally:
            cp.stop()


@pytest.mark.timeout(60)
def test_a_parked_timeout_is_reported_from_a_greenlet_once_another_listener_came() -> None:
    """When the report may no longer run in the hub (a listener was added while a
    Heartbeat was in flight), its timeout is reported by a greenlet."""
    settings = ChargePoints(heartbeat_interval_s=1, call_timeout_s=1)
    hub_ok = [True]
    where: list[tuple[str, bool]] = []

    def report(kind: str, name: str, ms: float, length: int, exc: Any) -> None:
        where.append((getattr(exc, "category", ""), gevent.getcurrent() is gevent.get_hub()))

    with hostile("mute_heartbeat") as port:
        url = f"ws://127.0.0.1:{port}/ocpp"
        (cp,), _, _ = start_fleet(url, 1, settings, "LATE", report, lambda: hub_ok[0])
        try:
            wait_until(lambda: cp._parked_call is not None, "a Heartbeat sent from the hub")
            hub_ok[0] = False
            wait_until(lambda: any(c == "call_timeout" for c, _ in where), "its timeout")
            assert [in_hub for c, in_hub in where if c == "call_timeout"] == [False]
        finally:
            cp.stop()


@pytest.mark.timeout(30)
def test_a_lookup_cut_short_leaves_the_waiters_to_look_up_themselves(
    gateway: GatewayProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The charge point doing the lookup is stopped mid-way: the others do not fail
    with dns_error; one of them looks the name up again and all connect."""
    resolver = HeldResolver(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    url = f"ws://127.0.0.1:{gateway.port}/ocpp-cut"
    jobs = [
        gevent.spawn(open_connection, url, f"CUT-{i}", "ocpp1.6", timeout_s=5) for i in range(5)
    ]
    wait_until(lambda: resolver.lookups == 1, "the first lookup")
    gevent.sleep(0)
    jobs[0].kill()  # the first job started the lookup
    wait_until(lambda: resolver.lookups == 2, "a second lookup")
    resolver.release.set()
    gevent.joinall(jobs[1:], timeout=DEADLINE_S)
    try:
        assert all(job.successful() for job in jobs[1:]), [job.exception for job in jobs]
        assert resolver.lookups == 2
    finally:
        for job in jobs[1:]:
            if job.successful():
                job.value.close()
