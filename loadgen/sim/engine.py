"""The engine: drives stations and their connections from gevent's hub, with no greenlets.

Each station has a :class:`Link`: its socket, one read watcher (and a write watcher
only while the kernel's buffer is full), the WebSocket codec
(:mod:`loadgen.sim.wsproto`), TLS as a memory layer when the target is ``wss://``
(:class:`~loadgen.sim.transport.TlsLayer`), and its place on the process's one timer
wheel. Events (bytes read, a timer due, the TCP connect done) are turned into station
events and the actions that come back are carried out at once: frames are written
through the link's one queue of unsent bytes (the only writer, TLS included), reports
go to the ``report`` callable, timers onto the wheel. Nothing here waits, so a
connection costs a watcher and a few objects, not a greenlet. Only a name lookup runs
in a greenlet, once per target and process (a numeric host needs none).

Timers share one libev timer: deadlines are rounded up to a :data:`TICK_S` grid and kept
in buckets, so the thousands of Heartbeats that fall due in one tick wake the process
once, never early. Reads can be batched the same way (:meth:`Engine.set_batch`): the
process polls again a moment after a read, so one wake-up serves many connections; a
response time ends at the kernel's receive stamp of its answer, so it does not grow.
"""

from __future__ import annotations

import heapq
import logging
import math
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import gevent
from gevent import get_hub
from gevent.monkey import get_original

from loadgen.config import Tls
from loadgen.failures import Failure
from loadgen.sim.actions import (
    NEWS,
    Action,
    Booted,
    Close,
    Connect,
    Counters,
    Credentials,
    Ping,
    Report,
    Retarget,
    Send,
    SetTimer,
    Stopped,
    Upload,
)
from loadgen.sim.station import Station
from loadgen.sim.transport import (
    SO_TIMESTAMPNS,
    STAMP_SPACE,
    Endpoint,
    SourcePool,
    TlsLayer,
    arrival,
    basic_auth,
    client_ssl_context,
    lookup,
    map_exception,
    open_socket,
    resolve_numeric,
    upgrade_path,
    upload_file,
)
from loadgen.sim.wsproto import (
    Binary,
    ClientHandshake,
    HandshakeError,
    Pong,
    ProtocolViolation,
    WebSocket,
    WebSocketError,
)
from loadgen.sim.wsproto import Close as CloseFrame

log = logging.getLogger("loadgen.engine")

#: Timer grid (seconds): deadlines are rounded up to it, so a tick's timers fire together.
TICK_S = 0.05
#: Bytes asked of the kernel per read (OCPP frames are far smaller).
READ_CHUNK = 65536
#: The longest :attr:`Engine.batch_s` may be (configs stop at ``MAX_IO_BATCH_MS``).
MAX_BATCH_S = 1.0
#: Reads in a row without the kernel's receive stamp after which batching stops for good.
#: Linux turns stamping on for the whole host a moment after the first socket asks (a
#: deferred static key), and off once the last such socket is closed: the first reads
#: of a process, or after every connection dropped, may come without one.
UNSTAMPED_LIMIT = 1000
#: the OS thread's sleep (``time.sleep`` itself may be gevent's)
_block = get_original("time", "sleep")
#: Log uploads (GetDiagnostics, GetLog) a process runs at once; the rest wait their turn.
MAX_UPLOADS = 64
_READ, _WRITE = 1, 2

ReportFn = Callable[[str, str, float, int, Exception | None], None]


class Observer(Protocol):
    """Who wants to know when a station boots or stops (the Locust user, probes), and
    what a scenario driver hears of (:data:`loadgen.sim.actions.NEWS`)."""

    def booted(self) -> None: ...
    def stopped(self) -> None: ...
    def news(self, action: Action) -> None: ...


#: What a station's step does: called with the station and ``now``, returns its actions.
StepFn = Callable[[Station, float], list[Action]]


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how every station of a plan connects (shared by their links)."""

    url: str  # ws:// or wss:// base URL; the charge point id is appended
    subprotocol: str
    connect_timeout_s: float = 10.0
    tls: Tls | None = None
    source: SourcePool | None = None
    #: the plan's own target when this one is a station's network profile (2.0.1 B10)
    configured: Target | None = None


class Link:
    """One station's connection state in the engine."""

    __slots__ = (
        "authorization",
        "broken",
        "established",
        "hs",
        "io_deadline",
        "observer",
        "opened_at",
        "sock",
        "stage",
        "station",
        "target",
        "tls",
        "unsent",
        "wake_at",
        "wake_key",
        "watcher",
        "writer",
        "ws",
    )

    def __init__(self, station: Station, target: Target, authorization: str | None) -> None:
        self.station = station
        self.target = target
        self.authorization = authorization  # the Basic-auth header value, never logged
        self.observer: Observer | None = None
        self.sock: Any = None
        self.watcher: Any = None  # read watcher
        self.writer: Any = None  # write watcher, while bytes wait to be sent
        self.hs: ClientHandshake | None = None
        self.ws: WebSocket | None = None
        self.tls: TlsLayer | None = None
        #: bytes the kernel did not take yet, in order; None while there are none
        self.unsent: bytearray | None = None
        self.stage = ""  # "", resolve, connect, tls, handshake, open
        self.established = False
        self.broken: Failure | None = None  # a write failed: handled after the actions
        self.opened_at = 0.0  # monotonic() when the opening began
        self.io_deadline: float | None = None  # the opening's deadline
        self.wake_at: float | None = None  # the station's timer
        self.wake_key: int | None = None  # the wheel bucket the link is in


class Engine:
    """Runs the stations of one process (see the module docstring)."""

    def __init__(self, report: ReportFn, *, tick_s: float = TICK_S, batch_s: float = 0.0) -> None:
        self.report = report
        #: told (charge point id, failure) of each failed exchange, e.g. to list the first
        #: failing ids; None: nobody asks
        self.on_failure: Callable[[str, Failure], None] | None = None
        self.counters = Counters()
        #: epoch seconds minus the monotonic clock: stations stamp OCPP times with it
        self.wall_offset_s = time.time() - time.monotonic()
        self._tick_s = tick_s
        self._loop = get_hub().loop
        self._buckets: dict[int, list[Link]] = {}
        self._keys: list[int] = []  # heap of bucket keys
        self._timer: Any = None
        self._armed: int | None = None
        self._firing: int | None = None  # the bucket being fired: nothing joins it again
        self._endpoints: dict[str, Endpoint] = {}
        self._resolving: dict[str, list[Link]] = {}
        self._errors_logged: set[str] = set()
        self._uploads: Any = None  # a semaphore, made with the first upload
        self._batch_s = 0.0
        self._stamped = SO_TIMESTAMPNS is not None  # False: this kernel gives no stamps
        self._unstamped = 0  # reads in a row without a stamp
        self._busy_at: float | None = None  # the first read since the last poll
        self._collector: Any = None  # the prepare watcher that waits before polls
        self.set_batch(batch_s)

    # -- batched reads ------------------------------------------------------------------

    @property
    def batch_s(self) -> float:
        """How long after a read the process polls the sockets again (0: at once)."""
        return self._batch_s

    def set_batch(self, seconds: float) -> None:
        """Wait up to ``seconds`` (at most :data:`MAX_BATCH_S`) after a read before the
        next poll, so one wake-up reads what arrived on many connections meanwhile.

        Response times do not grow by it: they end at the kernel's receive stamp of the
        answer. Without stamps (not Linux, or a read that came without one) reads stay
        immediate, whatever is asked.
        """
        if not 0.0 <= seconds <= MAX_BATCH_S:
            raise ValueError(f"batch: 0 to {MAX_BATCH_S:g} s, got {seconds!r}")
        self._batch_s = seconds if self._stamped else 0.0
        if self._batch_s and self._collector is None:
            collector = self._collector = self._loop.prepare(ref=False)
            collector.start(self._collect)
        elif not self._batch_s and self._collector is not None:
            self._collector.stop()
            self._collector.close()
            self._collector = None
            self._busy_at = None

    def _collect(self) -> None:
        """Prepare watcher (before each poll): after a turn that read, let more arrive.

        libev's ``io_collect_interval``, which gevent does not expose: the poll comes
        ``batch_s`` after the turn's first read, or at once when the turn took longer.
        """
        busy_at = self._busy_at
        if busy_at is not None:
            self._busy_at = None
            wait = busy_at + self._batch_s - time.monotonic()
            if wait > 0.0:
                _block(wait)

    # -- the stations' lives ------------------------------------------------------------

    def link(self, station: Station, target: Target, password: str | None = None) -> Link:
        """A link for ``station``; with ``password``, the upgrade carries Basic auth."""
        authorization = None if password is None else basic_auth(station.charge_point_id, password)
        return Link(station, target, authorization)

    def start(self, link: Link) -> None:
        """Power the station on. Never blocks; safe from any greenlet or hub callback."""
        self._apply(link, link.station.start(time.monotonic()))

    def stop(self, link: Link, graceful: bool = False) -> None:
        """Stop the station: at once, or after it has ended its transactions."""
        self._apply(link, link.station.stop(time.monotonic(), graceful))

    def command(self, link: Link, actions: list[Action]) -> None:
        """Carry out actions a station returned to a caller (a scenario's step)."""
        self._apply(link, actions)

    def step(self, link: Link, step: StepFn) -> None:
        """Take one of the station's steps now (:mod:`loadgen.sim.steps`) and carry out
        its actions. Never blocks; raises what the step raises (StepRefused), before
        anything changed."""
        self._apply(link, step(link.station, time.monotonic()))

    # -- actions ------------------------------------------------------------------------

    def _apply(self, link: Link, actions: list[Action]) -> None:
        for action in actions:
            kind = action.__class__
            if kind is Send:
                self._send_text(link, action.data)  # type: ignore[union-attr]
            elif kind is Report:
                failure = action.failure  # type: ignore[union-attr]
                self.report(
                    action.request_type,  # type: ignore[union-attr]
                    action.name,  # type: ignore[union-attr]
                    action.response_time_ms,  # type: ignore[union-attr]
                    action.response_length,  # type: ignore[union-attr]
                    failure,
                )
                if failure is not None and self.on_failure is not None:
                    self.on_failure(link.station.charge_point_id, failure)
            elif kind is SetTimer:
                link.wake_at = action.at  # type: ignore[union-attr]
                self._schedule(link)
            elif kind is Connect:
                self._open(link)
            elif kind is Close:
                self._close(link, action.code)  # type: ignore[union-attr]
            elif kind is Booted:
                if link.observer is not None:
                    link.observer.booted()
            elif kind is Stopped:
                if link.observer is not None:
                    link.observer.stopped()
            elif kind is Upload:
                gevent.spawn(self._upload, link, action)
            elif kind is Credentials:
                password = action.password  # type: ignore[union-attr]
                link.authorization = basic_auth(link.station.charge_point_id, password)
            elif kind is Retarget:
                self._retarget(link, action.url)  # type: ignore[union-attr]
            elif kind is Ping:
                self._send_ping(link)
            elif kind in NEWS:
                if link.observer is not None:
                    link.observer.news(action)
        broken = link.broken
        if broken is not None:
            link.broken = None
            self._failed(link, broken)

    @staticmethod
    def _retarget(link: Link, url: str | None) -> None:
        """Connect to ``url`` from now on (None: the plan's target), keeping the plan's
        subprotocol, timeouts, TLS settings and source addresses."""
        configured = link.target.configured or link.target
        if url is None:
            link.target = configured
        else:
            link.target = replace(configured, url=url, configured=configured)

    def _upload(self, link: Link, action: Upload) -> None:
        """A greenlet borrowed for one upload (the only blocking I/O a station asks for)."""
        if self._uploads is None:
            from gevent.lock import BoundedSemaphore

            self._uploads = BoundedSemaphore(MAX_UPLOADS)
        with self._uploads:
            ok = upload_file(action.url, action.name, action.size, action.timeout_s)
        try:
            self._apply(link, link.station.uploaded(time.monotonic(), action.token, ok))
        except Exception as exc:
            self._internal_error(link, exc)

    # -- opening ------------------------------------------------------------------------

    def _open(self, link: Link) -> None:
        self.counters.attempted += 1
        link.opened_at = time.monotonic()
        url = link.target.url
        endpoint = self._endpoints.get(url) or resolve_numeric(url)
        if endpoint is None:
            self._resolve(link)
            return
        self._endpoints[url] = endpoint
        self._dial(link, endpoint)

    def _resolve(self, link: Link) -> None:
        """Wait for the target's one lookup (started by the first link that needs it)."""
        link.stage = "resolve"
        url = link.target.url
        waiters = self._resolving.get(url)
        if waiters is not None:
            waiters.append(link)
            return
        self._resolving[url] = [link]
        gevent.spawn(self._lookup, url)

    def _lookup(self, url: str) -> None:
        endpoint: Endpoint | None = None
        failure: Failure | None = None
        try:
            endpoint = lookup(url)
        except Failure as exc:
            failure = exc
        except BaseException:  # killed: the waiters fail; the next open tries again
            failure = Failure("dns_error", "lookup interrupted")
            raise
        finally:
            waiters = self._resolving.pop(url, [])
            if endpoint is not None:
                if len(self._endpoints) >= 16:  # a process talks to one target, rarely a few
                    self._endpoints.clear()
                self._endpoints[url] = endpoint
            for link in waiters:
                if link.stage != "resolve":
                    continue  # stopped meanwhile
                if endpoint is not None:
                    self._dial(link, endpoint)
                else:
                    assert failure is not None
                    self._opening_failed(link, Failure(failure.category, failure.detail))

    def _dial(self, link: Link, endpoint: Endpoint) -> None:
        target = link.target
        link.stage = "connect"
        try:
            sock = open_socket(endpoint, target.source)
        except OSError as exc:
            self._opening_failed(link, map_exception(exc, connecting=True, stage="connect"))
            return
        link.sock = sock
        link.io_deadline = time.monotonic() + target.connect_timeout_s
        self._schedule(link)
        watcher = link.watcher = self._loop.io(sock.fileno(), _READ)
        watcher.start(self._readable, link)
        path = upgrade_path(endpoint, link.station.charge_point_id)
        link.hs = ClientHandshake(
            endpoint.host_header, path, target.subprotocol, link.authorization
        )
        if endpoint.secure:
            link.tls = TlsLayer(client_ssl_context(target.tls or Tls()), endpoint.server_hostname)
            self._want_write(link)  # the TCP connect's end: then the TLS handshake
            return
        # On loopback the TCP handshake is usually done when connect() returns: the
        # upgrade request goes out at once, or waits in ``unsent`` for it (one wait less).
        link.stage = "handshake"
        self._write(link, link.hs.request)
        self._settle(link)

    def _established(self, link: Link, now: float, arrived: float) -> None:
        link.hs = None
        link.ws = WebSocket()
        link.stage = "open"
        link.established = True
        link.io_deadline = None
        counters = self.counters
        counters.established += 1
        counters.connected += 1
        if counters.connected > counters.peak_connected:
            counters.peak_connected = counters.connected
        connect_ms = (arrived - link.opened_at) * 1000
        self._apply(link, link.station.connected(now, connect_ms))

    # -- reading ------------------------------------------------------------------------

    def _readable(self, link: Link) -> None:
        """Hub callback of the read watcher."""
        try:
            try:
                data, ancillary, _flags, _address = link.sock.recvmsg(READ_CHUNK, STAMP_SPACE)
            except BlockingIOError:
                return
            except OSError as exc:
                self._failed(link, exc)
                return
            if not data:
                self._failed(link, ConnectionResetError(104, "closed by the server"), eof=True)
                return
            now = time.monotonic()
            arrived = arrival(ancillary, now) if ancillary else None
            if arrived is None:
                arrived = now  # and no wait for more: this answer's time would grow by it
                if self._batch_s:
                    self._no_stamp()
            elif self._batch_s:
                self._unstamped = 0
                if self._busy_at is None:
                    self._busy_at = now
            tls = link.tls
            if tls is not None:
                data = self._tls_read(link, tls, data)
                if not data:
                    return
            if link.ws is None:
                data = self._handshake_read(link, data, now, arrived)
                if not data:
                    return
            self._frames(link, data, now, arrived)
        except Exception as exc:  # a bug must not stop the hub: lose this connection only
            self._internal_error(link, exc)

    def _no_stamp(self) -> None:
        """A read without the kernel's stamp (timed at the read). After
        :data:`UNSTAMPED_LIMIT` in a row this kernel gives none: batching would lengthen
        the response times measured from here on, so the process reads at once."""
        self._unstamped += 1
        if self._unstamped >= UNSTAMPED_LIMIT:
            log.warning("the kernel gives no receive time stamps: reads are no longer batched")
            self._stamped = False
            self.set_batch(0.0)

    def _tls_read(self, link: Link, tls: TlsLayer, data: bytes) -> bytes:
        try:
            plain, to_send = tls.receive(data)
        except (ssl.SSLError, OSError) as exc:
            self._failed(link, exc)
            return b""
        if to_send:
            self._write_wire(link, to_send)
        if link.stage == "tls" and tls.ready and link.hs is not None:
            link.stage = "handshake"
            self._write(link, link.hs.request)
        self._settle(link)
        return plain if link.sock is not None else b""

    def _handshake_read(self, link: Link, data: bytes, now: float, arrived: float) -> bytes:
        hs = link.hs
        if hs is None:
            return b""
        try:
            rest = hs.receive(data)
        except HandshakeError as exc:
            self._failed(link, exc)
            return b""
        if rest is None:
            return b""
        self._established(link, now, arrived)
        return rest if link.ws is not None else b""

    def _frames(self, link: Link, data: bytes, now: float, arrived: float) -> None:
        ws = link.ws
        assert ws is not None
        try:
            events = ws.receive(data)
        except ProtocolViolation as exc:
            self._write(link, ws.data_to_send())  # our Close with its code
            self._failed(link, Failure("protocol_error", exc.detail))
            return
        station = link.station
        for event in events:
            if event.__class__ is str:
                self._apply(link, station.text(now, event, arrived))
            elif isinstance(event, CloseFrame):
                self._write(link, ws.data_to_send())  # our answer to the server's Close
                detail = str(event.code) if event.code else ""
                self._failed(link, Failure("closed_by_server", detail))
                return
            elif isinstance(event, Binary):
                failure = Failure("protocol_error", "binary frame")
                self.report("OCPP", "(server frame)", 0, len(event.data), failure)
            elif isinstance(event, Pong):
                self._apply(link, station.pong(now))
            if link.ws is not ws:
                return  # closed meanwhile (a reset)
        if ws.outgoing:  # pongs
            self._write(link, ws.data_to_send())
            self._settle(link)

    # -- writing ------------------------------------------------------------------------

    def _send_text(self, link: Link, data: bytes) -> None:
        ws = link.ws
        if ws is None or link.broken is not None:
            return  # gone: the station hears of it in a moment
        try:
            frame = ws.send_text(data)
        except WebSocketError:
            return  # closing
        self._write(link, frame)

    def _send_ping(self, link: Link) -> None:
        """Our keepalive Ping (WebSocketPingInterval); the station hears of its Pong."""
        ws = link.ws
        if ws is None or link.broken is not None:
            return
        try:
            frame = ws.send_ping()
        except WebSocketError:
            return  # closing
        self._write(link, frame)

    def _write(self, link: Link, data: bytes) -> None:
        """Write plaintext: through TLS when there is TLS."""
        tls = link.tls
        if tls is not None:
            try:
                data = tls.send(data)
            except ssl.SSLError as exc:
                link.broken = map_exception(exc, connecting=not link.established, stage=link.stage)
                return
        self._write_wire(link, data)

    def _write_wire(self, link: Link, data: bytes) -> None:
        """Write bytes to the socket after those already waiting; never blocks."""
        if link.sock is None or not data:
            return
        unsent = link.unsent
        if unsent is not None:
            unsent += data  # a bytearray: amortised, however long the queue
            return
        try:
            sent = link.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            link.broken = map_exception(
                exc, connecting=not link.established, stage=link.stage, secure=link.tls is not None
            )
            return
        if sent < len(data):
            link.unsent = bytearray(memoryview(data)[sent:])
            self._want_write(link)

    def _want_write(self, link: Link) -> None:
        if link.writer is None:
            link.writer = self._loop.io(link.sock.fileno(), _WRITE)
        if not link.writer.active:
            link.writer.start(self._writable, link)

    def _writable(self, link: Link) -> None:
        """Hub callback of the write watcher: the connect finished, or room to write."""
        try:
            if link.stage == "connect" and link.tls is not None:
                code = link.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    self._failed(link, OSError(code, "connect failed"))
                    return
                link.stage = "tls"
                try:
                    hello = link.tls.handshake()
                except ssl.SSLError as exc:
                    self._failed(link, exc)
                    return
                link.writer.stop()
                self._write_wire(link, hello)
                self._settle(link)
                return
            unsent = link.unsent
            if not unsent:
                link.unsent = None
                link.writer.stop()
                return
            try:
                sent = link.sock.send(unsent)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                self._failed(link, exc)
                return
            del unsent[:sent]  # from the front of a bytearray: no copy of the rest
            if not unsent:
                link.unsent = None
                link.writer.stop()
        except Exception as exc:
            self._internal_error(link, exc)

    def _settle(self, link: Link) -> None:
        """After writes outside :meth:`_apply`: handle a write that failed."""
        broken = link.broken
        if broken is not None:
            link.broken = None
            self._failed(link, broken)

    # -- ending -------------------------------------------------------------------------

    def _failed(self, link: Link, exc: BaseException, eof: bool = False) -> None:
        """The connection failed: opening it, or while open (the station hears which)."""
        if link.sock is None and link.stage not in ("resolve",):
            return  # already torn down
        if link.established:
            if isinstance(exc, Failure):
                failure = exc
            elif eof:
                failure = Failure("closed_by_server", "connection closed")
            else:
                failure = map_exception(exc, connecting=False, stage=link.stage)
            self._teardown(link)
            self.counters.connected -= 1
            self._apply(link, link.station.lost(time.monotonic(), failure))
            return
        if isinstance(exc, Failure):
            failure = exc
        elif eof and link.stage == "handshake" and link.tls is None:
            failure = Failure("handshake_rejected", "connection closed during the upgrade")
        else:
            failure = map_exception(
                exc, connecting=True, stage=link.stage, secure=link.tls is not None
            )
        self._opening_failed(link, failure)

    def _opening_failed(self, link: Link, failure: Failure) -> None:
        self._teardown(link)
        self.counters.failed += 1
        now = time.monotonic()
        connect_ms = (now - link.opened_at) * 1000
        self._apply(link, link.station.connect_failed(now, failure, connect_ms))

    def _close(self, link: Link, code: int = 1000) -> None:
        """The station closes on purpose (reset, stop, a dead link): a Close frame with
        ``code``, then the socket."""
        ws = link.ws
        if ws is not None and link.broken is None:
            self._write(link, ws.send_close(code))
        if link.established:
            self.counters.connected -= 1
        self._teardown(link)

    def _teardown(self, link: Link) -> None:
        for name in ("watcher", "writer"):
            watcher = getattr(link, name)
            if watcher is not None:
                watcher.stop()
                watcher.close()
                setattr(link, name, None)
        sock, link.sock = link.sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
        link.hs = link.ws = link.tls = None
        link.unsent = None
        link.stage = ""
        link.established = False
        link.broken = None
        link.io_deadline = None

    def _internal_error(self, link: Link, exc: Exception) -> None:
        key = f"{type(exc).__name__}: {exc}"[:200]
        if key not in self._errors_logged and len(self._errors_logged) < 100:
            self._errors_logged.add(key)
            log.error(
                "charge point %s: internal error (logged once per kind)",
                link.station.charge_point_id,
                exc_info=exc,
            )
        if link.sock is not None:
            self._failed(link, Failure("reset", "internal error"))

    # -- the timer wheel ----------------------------------------------------------------

    def _schedule(self, link: Link) -> None:
        """Put the link in the bucket of its earliest deadline (station or opening)."""
        at = link.wake_at
        deadline = link.io_deadline
        if deadline is not None and (at is None or deadline < at):
            at = deadline
        if at is None:
            link.wake_key = None
            return
        key = math.ceil(at / self._tick_s)
        firing = self._firing
        if firing is not None and key <= firing:
            key = firing + 1  # due already: the next tick, never a loop within this one
        if key == link.wake_key:
            return
        link.wake_key = key
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.append(link)
            return
        self._buckets[key] = [link]
        heapq.heappush(self._keys, key)
        if self._armed is None or key < self._armed:
            self._arm()

    def _arm(self) -> None:
        keys = self._keys
        timer = self._timer
        if timer is not None:
            timer.stop()
            timer.close()
            self._timer = None
        if not keys:
            self._armed = None
            return
        key = self._armed = keys[0]
        timer = self._timer = self._loop.timer(max(0.0, key * self._tick_s - time.monotonic()))
        timer.start(self._tick)

    def _tick(self) -> None:
        """Hub callback of the wheel's timer: every link whose bucket is due."""
        tick = self._tick_s
        now = time.monotonic()
        # libev may wake a little before the grid point: 1 ms early counts as on time
        due_key = math.floor((now + 0.001) / tick)
        keys, buckets = self._keys, self._buckets
        self._armed = None
        try:
            while keys and keys[0] <= due_key:
                key = self._firing = heapq.heappop(keys)
                at = max(now, key * tick)  # the bucket's time: no deadline in it is missed
                for link in buckets.pop(key, ()):
                    if link.wake_key != key:
                        continue  # rescheduled since
                    link.wake_key = None
                    try:
                        self._due(link, at)
                    except Exception as exc:
                        self._internal_error(link, exc)
        finally:
            self._firing = None
        self._arm()

    def _due(self, link: Link, now: float) -> None:
        deadline = link.io_deadline
        if deadline is not None and now >= deadline:
            self._failed(link, Failure("connect_timeout", link.stage or "connect"))
        elif link.wake_at is not None and now >= link.wake_at:
            link.wake_at = None
            self._apply(link, link.station.timer(now))
        self._schedule(link)
