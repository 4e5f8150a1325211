"""The engine against real servers on loopback: sockets, lookups, timers, named failures.

Stations run in this process on the real engine (gevent's hub, real sockets), against
the reference gateway or a hostile server, the way a Locust worker runs them.
"""

from __future__ import annotations

import gc
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import greenlet
import pytest

from loadgen.config import ChargePoints, Reconnect, Tls
from loadgen.sim import engine as engine_module
from loadgen.sim import transport
from loadgen.sim.engine import Engine, Link, Target
from loadgen.sim.fleet import Fleet
from loadgen.sim.station import Station
from loadgen.sim.transport import (
    STAMP_SPACE,
    SourcePool,
    arrival,
    open_socket,
    resolve_numeric,
)
from tests.integration.certs import make_pki
from tests.integration.conftest import GatewayProcess
from tests.integration.test_hostile import hostile

pytestmark = pytest.mark.integration
DEADLINE_S = 10.0


def wait_until(predicate: Callable[[], Any], what: str, timeout_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        gevent.sleep(0.02)


@dataclass
class Run:
    """Stations on one engine, and every report they made."""

    engine: Engine
    links: list[Link]
    reports: list[tuple[str, str, Any]] = field(default_factory=list)  # (type, name, exc)

    def named(self, name: str, category: str | None = None) -> int:
        """Reports of ``name`` so far: successes, or failures of ``category``."""
        return sum(
            n == name and getattr(exc, "category", None) == category for _, n, exc in self.reports
        )

    def failures(self) -> list[tuple[str, str, Any]]:
        return [r for r in self.reports if r[2] is not None]

    def stop(self) -> None:
        for link in self.links:
            self.engine.stop(link)


@contextmanager
def stations(
    url: str,
    count: int,
    settings: ChargePoints | None = None,
    prefix: str = "ENG",
    *,
    version: str = "1.6",
    source: SourcePool | None = None,
    tls: Tls | None = None,
    timeout_s: float = 5.0,
    start: bool = True,
) -> Iterator[Run]:
    """``count`` stations started against ``url`` on a new engine; stopped at exit."""
    reports: list[tuple[str, str, Any]] = []
    engine = Engine(lambda kind, name, ms, length, exc: reports.append((kind, name, exc)))
    fleet = Fleet.build(settings or ChargePoints(), version)
    target = Target(url, fleet.dialect.subprotocol, timeout_s, tls, source)
    links = [
        engine.link(
            Station(
                f"{prefix}-{i}",
                fleet,
                engine.counters,
                rng=random.Random(i),
                wall_offset_s=engine.wall_offset_s,
            ),
            target,
        )
        for i in range(count)
    ]
    run = Run(engine, links, reports)
    if start:
        for link in links:
            engine.start(link)
    try:
        yield run
    finally:
        run.stop()


@pytest.mark.timeout(30)
def test_sockets_bind_the_source_pool_round_robin(gateway: GatewayProcess) -> None:
    """Each new connection binds the pool's next loopback address before connecting."""
    pool = SourcePool(("127.0.0.2", "127.0.0.3"))
    with stations(f"{gateway.url}/ocpp", 4, prefix="SRC", source=pool) as run:
        wait_until(lambda: run.engine.counters.booted == 4, "4 boots")
        sources = [link.sock.getsockname()[0] for link in run.links]
        assert sources == ["127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.3"]


@pytest.mark.timeout(30)
def test_refused_and_rejected_connections_are_named(gateway: GatewayProcess) -> None:
    """A closed port is connect_refused; a subprotocol the gateway lacks, handshake_rejected."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        url = f"ws://127.0.0.1:{closed.getsockname()[1]}/ocpp"
        with stations(url, 1, prefix="REF") as run:
            wait_until(lambda: run.failures(), "the connect's failure")
            (kind, name, exc), *_ = run.failures()
            assert (kind, name, exc.category) == ("WS", "connect", "connect_refused")
            assert run.engine.counters.failed >= 1
    gateway_url = f"{gateway.url}/ocpp"
    with stations(gateway_url, 1, prefix="SUB", start=False) as run:
        run.links[0].target = Target(gateway_url, "ocpp9.9", 5.0)
        run.engine.start(run.links[0])
        wait_until(lambda: run.failures(), "the upgrade's failure")
        _, _, exc = run.failures()[0]
        assert (exc.category, exc.detail) == ("handshake_rejected", "HTTP 400")


@pytest.mark.timeout(60)
def test_idle_charge_points_hold_no_greenlet_and_still_heartbeat(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """Charge points connect, boot and heartbeat from hub callbacks: not one greenlet
    is made for them, before, during or after their exchanges."""
    gateway = gateway_factory(heartbeat_interval_s=1)
    gc.collect()
    before = sum(isinstance(g, greenlet.greenlet) for g in gc.get_objects())
    with stations(f"{gateway.url}/ocpp", 50, prefix="IDLE") as run:
        wait_until(lambda: run.engine.counters.booted == 50, "50 boots")
        beats = run.named("Heartbeat")
        wait_until(lambda: run.named("Heartbeat") >= beats + 100, "two heartbeats each")
        gc.collect()
        during = sum(isinstance(g, greenlet.greenlet) for g in gc.get_objects())
        assert during - before <= 1  # at most the reporter's or the lookup's, never per charger
        assert run.failures() == []
        assert run.engine.counters.connected == 50
    assert run.engine.counters.connected == 0


@pytest.mark.timeout(30)
def test_a_connect_that_never_completes_is_a_connect_timeout() -> None:
    """A listener whose accept queue is full drops our SYN: the opening gives up at its
    deadline as connect_timeout and closes the socket."""
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
        settings = ChargePoints(reconnect=Reconnect(initial_s=30, max_s=30))
        started = time.monotonic()
        with stations(f"ws://127.0.0.1:{port}/ocpp", 1, settings, "SLOW", timeout_s=1) as run:
            wait_until(lambda: run.failures(), "the connect timeout")
            elapsed = time.monotonic() - started
            _, name, exc = run.failures()[0]
            assert (name, exc.category) == ("connect", "connect_timeout")
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


@pytest.mark.timeout(30)
def test_a_burst_of_connections_resolves_the_target_once(
    gateway: GatewayProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Charge points that start during the first lookup share it: a ramp's first burst
    makes one lookup, not one per charge point."""
    resolver = HeldResolver(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with stations(f"ws://localhost:{gateway.port}/ocpp", 20, prefix="DNS") as run:
        wait_until(lambda: resolver.lookups >= 1, "the first lookup")
        gevent.sleep(0.1)
        resolver.release.set()
        wait_until(lambda: run.engine.counters.booted == 20, "20 boots")
        assert resolver.lookups == 1


@pytest.mark.timeout(30)
def test_a_failed_lookup_is_shared_then_tried_again(
    gateway: GatewayProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every charge point waiting on a failed lookup gets dns_error; their reconnects
    look the name up again and, once it resolves, connect."""
    resolver = HeldResolver(socket.getaddrinfo, fail=True)
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    settings = ChargePoints(reconnect=Reconnect(initial_s=0.3, max_s=0.3))
    with stations(f"ws://localhost:{gateway.port}/ocpp", 5, settings, "NXD") as run:
        wait_until(lambda: resolver.lookups >= 1, "the first lookup")
        gevent.sleep(0.1)
        resolver.release.set()
        wait_until(lambda: run.named("connect", "dns_error") == 5, "five dns_error")
        assert resolver.lookups == 1
        resolver.fail = False
        wait_until(lambda: run.engine.counters.booted == 5, "5 boots after the retry")
        assert resolver.lookups >= 2


@pytest.mark.timeout(60)
def test_an_unanswered_heartbeat_times_out_and_the_next_follows() -> None:
    """A server that never answers Heartbeat: each is a call_timeout after
    call_timeout_s, the connection stays, and the next Heartbeat is sent."""
    settings = ChargePoints(heartbeat_interval_s=1, call_timeout_s=1)
    with hostile("mute_heartbeat") as port:
        with stations(f"ws://127.0.0.1:{port}/ocpp", 3, settings, "MUTE") as run:
            wait_until(lambda: run.named("Heartbeat", "call_timeout") >= 6, "two timeouts each")
            assert run.named("Heartbeat") == 0
            assert run.engine.counters.connected == 3
            assert run.engine.counters.lost == 0


@pytest.mark.timeout(60)
def test_pings_are_answered_and_the_heartbeat_still_arrives() -> None:
    """A ping just before each Heartbeat's answer is answered with a pong by the codec,
    and the Heartbeat's answer that follows it is read: none is lost."""
    settings = ChargePoints(heartbeat_interval_s=1)
    with hostile("ping_heartbeat") as port:
        with stations(f"ws://127.0.0.1:{port}/ocpp", 3, settings, "PING") as run:
            wait_until(lambda: run.named("Heartbeat") >= 6, "two heartbeats each")
            assert run.failures() == []
            assert run.engine.counters.lost == 0


@pytest.mark.timeout(60)
def test_the_charge_point_pings_at_the_interval_the_server_sets() -> None:
    """WebSocketPingInterval set to 1 s by the server: the station sends its own Pings
    (the server saw them: it calls DataTransfer for each), about one a second, and the
    server's Pongs are taken without a failure."""
    with hostile("client_pings") as port:
        with stations(f"ws://127.0.0.1:{port}/ocpp", 2, prefix="PINGS") as run:
            wait_until(lambda: run.named("ChangeConfiguration") >= 2, "the interval set")
            set_at = time.monotonic()
            wait_until(lambda: run.named("DataTransfer") >= 6, "three pings each")
            assert time.monotonic() - set_at >= 2.5  # one a second, not at once
            assert run.failures() == []
            assert run.engine.counters.lost == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_server_that_never_pongs_has_its_links_found_dead(version: str) -> None:
    """WebSocketPingInterval set to 1 s (ChangeConfiguration / SetVariables) by a server
    that never answers a Ping: each charge point finds its link dead at its second Ping's
    time, reports the lost connection as ping_timeout, closes it and connects again."""
    settings = ChargePoints(reconnect=Reconnect(initial_s=0.2, max_s=0.2))
    with hostile("no_pongs") as port:
        url = f"ws://127.0.0.1:{port}/ocpp"
        started = time.monotonic()
        with stations(url, 2, settings, "NOPONG", version=version) as run:
            wait_until(run.failures, "a link found dead")
            # the interval is set after the boot: a Ping at 1 s, unanswered at 2 s
            assert time.monotonic() - started >= 1.9
            wait_until(lambda: run.engine.counters.reconnects >= 2, "two reconnects")
            dead = [r for r in run.failures() if r[2].category == "ping_timeout"]
            assert len(dead) >= 2 and all(r[:2] == ("WS", "disconnect") for r in dead)
            assert {r[2].category for r in run.failures()} == {"ping_timeout"}
            assert run.engine.counters.lost >= 2


@pytest.mark.timeout(60)
def test_work_a_server_call_leaves_is_sent_at_once() -> None:
    """A TriggerMessage answered between Heartbeats leaves a StatusNotification to send:
    it goes right after the answer, not at the next Heartbeat."""
    settings = ChargePoints(heartbeat_interval_s=4)
    with hostile("trigger_status") as port:
        with stations(f"ws://127.0.0.1:{port}/ocpp", 1, settings, "TRIG") as run:
            wait_until(lambda: run.named("Heartbeat") >= 1, "the first Heartbeat")
            beat_at = time.monotonic()
            # the boot's two (connector 0 and 1) are in already: the third is the triggered
            wait_until(lambda: run.named("StatusNotification") >= 3, "the triggered status")
            assert time.monotonic() - beat_at < 2  # the next Heartbeat is 4 s away
            assert ("server", "TriggerMessage", None) in run.reports
            assert run.failures() == []


@pytest.mark.timeout(60)
def test_hostile_frames_are_named_and_the_connection_is_dropped_once() -> None:
    """A 2 MiB frame breaks the message cap: protocol_error once, the connection is
    closed with our Close, and the station reconnects."""
    settings = ChargePoints(reconnect=Reconnect(initial_s=0.2, max_s=0.2))
    with hostile("oversized") as port:
        with stations(f"ws://127.0.0.1:{port}/ocpp", 1, settings, "BIG") as run:
            wait_until(lambda: run.named("disconnect", "protocol_error") >= 1, "the drop")
            wait_until(lambda: run.engine.counters.reconnects >= 1, "the reconnect")


STALLED_TLS = Path(__file__).with_name("stalled_tls_server.py")


@pytest.mark.timeout(90)
def test_tls_frames_stay_whole_when_the_server_stops_reading(tmp_path: Path) -> None:
    """Over TLS, a server that floods 2,000 calls and stops reading for 3 s makes the
    answers and the charge point's own Heartbeats back up in its one writer queue: every
    frame still reaches the server whole (websockets' strict parser) and in order."""
    pki = make_pki(tmp_path)
    report = tmp_path / "report.json"
    argv = [sys.executable, str(STALLED_TLS), "--cert", str(pki.server_cert)]
    argv += ["--key", str(pki.server_key), "--calls", "2000", "--stall", "3"]
    argv += ["--report", str(report)]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        match = re.match(r"listening on (\d+)", server.stdout.readline())
        assert match
        settings = ChargePoints(heartbeat_interval_s=1)
        url = f"wss://127.0.0.1:{match.group(1)}/ocpp"
        with stations(url, 1, settings, "TLSW", tls=Tls(ca_file=str(pki.ca))) as run:
            wait_until(lambda: run.engine.counters.booted == 1, "the boot")
            # a small send buffer: the kernel holds little, the engine's queue the rest
            run.links[0].sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            wait_until(lambda: report.exists(), "the server's report", timeout_s=60)
        outcome = json.loads(report.read_text())
        assert outcome["error"] is None
        assert outcome["answers"] == [f"g{i}" for i in range(2000)]
        # a Heartbeat was queued among the answers: the two kinds of writes interleaved,
        # whole frame by whole frame
        assert any(0 < n < 2000 for n in outcome["heartbeats"]), outcome["heartbeats"]
    finally:
        server.kill()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


Timed = list[tuple[str, float, float]]  # (name, response ms, reported at)


@contextmanager
def stamping_on() -> Iterator[None]:
    """Linux stamps received segments host-wide only from a moment after a socket asks
    (and stops once none asks): hold a stamped loopback connection open, and wait until
    what it receives comes stamped, so the test's own sockets are stamped from their
    first read."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname(), timeout=5) as sender:
            receiver, _ = listener.accept()
            with receiver:
                receiver.settimeout(5)
                receiver.setsockopt(socket.SOL_SOCKET, transport.SO_TIMESTAMPNS or 35, 1)
                deadline = time.monotonic() + DEADLINE_S
                while True:
                    sender.sendall(b"x")
                    _, ancillary, _, _ = receiver.recvmsg(16, STAMP_SPACE)
                    if arrival(ancillary, time.monotonic()) is not None:
                        break
                    assert time.monotonic() < deadline, "no receive stamps on this kernel"
                    gevent.sleep(0.01)
                yield


@contextmanager
def batching_engine(batch_s: float) -> Iterator[tuple[Engine, Timed]]:
    """An engine that batches its reads ``batch_s``, and the reports it makes; its
    prepare watcher leaves the hub at exit (later tests share this process's hub)."""
    reports: Timed = []

    def report(kind: str, name: str, ms: float, length: int, exc: Exception | None) -> None:
        assert exc is None, exc
        reports.append((name, ms, time.monotonic()))

    engine = Engine(report, batch_s=batch_s)
    try:
        yield engine, reports
    finally:
        engine.set_batch(0.0)


def boot_one(engine: Engine, reports: Timed, url: str, name: str) -> tuple[Timed, float]:
    """One 1.6 charge point's boot and two StatusNotifications on ``engine``: its reports
    and the seconds from its start to the second StatusNotification's answer."""
    fleet = Fleet.build(ChargePoints(), "1.6")
    target = Target(f"{url}/ocpp", fleet.dialect.subprotocol, 5.0)
    link = engine.link(Station(name, fleet, engine.counters), target)
    first = len(reports)
    started = time.monotonic()
    engine.start(link)
    try:
        wait_until(
            lambda: [r[0] for r in reports[first:]].count("StatusNotification") == 2, "statuses"
        )
        return reports[first:], reports[-1][2] - started
    finally:
        engine.stop(link)


@pytest.mark.timeout(30)
def test_batched_reads_leave_response_times_to_the_kernels_stamps(
    gateway: GatewayProcess,
) -> None:
    """Reads batched 200 ms: each answer of the boot sequence waits up to 200 ms to be
    read, so the charger's next CALL goes out that much later (three waits before the
    second StatusNotification's answer is read), yet every response time, the connect
    included, ends when the answer reached the host (the gateway answers in ~1 ms)."""
    with batching_engine(0.2) as (engine, reports):
        with stamping_on():
            mine, took_s = boot_one(engine, reports, gateway.url, "BATCH-1")
        assert engine.batch_s == 0.2
        assert [name for name, _, _ in mine] == [
            "connect",
            "BootNotification",
            "StatusNotification",
            "StatusNotification",
        ]
        assert took_s >= 0.55, took_s  # three batched reads of 0.2 s, less the clock's slack
        # the holds are in the boot's duration, not in its times (timed at the reads, the
        # times would add up to about the whole boot); a busy host may slow an answer
        assert sum(ms for _, ms, _ in mine) <= (took_s - 0.45) * 1000, (mine, took_s)


@pytest.mark.timeout(30)
def test_reads_without_a_stamp_are_not_held_and_a_few_leave_batching_on(
    gateway: GatewayProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Linux stamps received segments only from a moment after the first socket asks:
    the first reads may come without a stamp. Such a read is timed when read and makes
    nothing wait (its charger boots at once); batching goes on for the next charger,
    whose sockets are stamped."""
    with batching_engine(0.2) as (engine, reports):
        with stamping_on():
            monkeypatch.setattr(transport, "SO_TIMESTAMPNS", None)  # open_socket asks for none
            _, unstamped_s = boot_one(engine, reports, gateway.url, "NOSTAMP-1")
            monkeypatch.undo()
            mine, stamped_s = boot_one(engine, reports, gateway.url, "STAMP-1")
        assert unstamped_s < 0.5, unstamped_s  # no batched wait: under 3 x 0.2 s
        assert engine.batch_s == 0.2
        assert stamped_s >= 0.55, stamped_s
        assert sum(ms for _, ms, _ in mine) <= (stamped_s - 0.45) * 1000, (mine, stamped_s)


@pytest.mark.timeout(30)
def test_a_kernel_without_receive_stamps_ends_batching(
    gateway: GatewayProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads without a stamp, UNSTAMPED_LIMIT in a row: this kernel gives none, so the
    engine stops batching for good (a later plan asking for it again changes nothing)."""
    monkeypatch.setattr(transport, "SO_TIMESTAMPNS", None)  # open_socket asks for none
    monkeypatch.setattr(engine_module, "UNSTAMPED_LIMIT", 3)  # a boot makes four reads
    with batching_engine(0.2) as (engine, reports):
        mine, _ = boot_one(engine, reports, gateway.url, "NOSTAMP-2")
        assert engine.batch_s == 0.0
        assert all(ms < 190 for _, ms, _ in mine[1:]), mine  # none waited for a batch
        engine.set_batch(0.2)  # a new plan asks again (the web UI's next test): still none
        assert engine.batch_s == 0.0


@pytest.mark.timeout(10)
def test_sockets_the_engine_opens_are_stamped() -> None:
    """What arrives on a socket from :func:`open_socket` comes with its stamp, which
    lies between the send and the read."""
    with socket.socket() as listener, stamping_on():  # the host stamps: does it ask?
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        endpoint = resolve_numeric(f"ws://127.0.0.1:{listener.getsockname()[1]}/ocpp")
        assert endpoint is not None
        client = open_socket(endpoint, None)
        try:
            client.setblocking(True)  # for this test: wait for the connect and the data
            client.settimeout(5)
            server, _ = listener.accept()
            with server:
                sent = time.monotonic()
                server.sendall(b"hello")
                data, ancillary, _, _ = client.recvmsg(64, STAMP_SPACE)
                read = time.monotonic()
                got = arrival(ancillary, read)  # at once: it reads the wall clock too
        finally:
            client.close()
    assert data == b"hello"
    assert got is not None
    assert sent - 0.001 <= got <= read
