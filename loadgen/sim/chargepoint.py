"""A simulated charge point's life: connect, boot, status, heartbeat, sessions, reconnect.

A :class:`ChargePoint` works in a short-lived greenlet while it connects, boots or
makes a call, and that greenlet is then the connection's only reader: waiting for an
answer is a read with a deadline, during which it answers the server's own calls. In
between it parks with no greenlet, and hub callbacks of its timer and read watcher send
the due Heartbeat, read whole messages and answer the server's calls without waiting;
anything that would wait goes back to a greenlet. No reader greenlet, no per-call
``AsyncResult`` (only calls made by a charging session's greenlet get one). It talks to
the network only through a
``connect()`` callable returning an object with ``send(text)``, ``recv(timeout_s)``
(None when the time passes first) and ``close()`` (see
:class:`loadgen.sim.transport.Connection`), and reports every exchange
through a ``report`` callable, so it can run against a real gateway or a scripted peer.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import gevent
from gevent.event import AsyncResult, Event

from loadgen.config import ChargePoints
from loadgen.failures import Failure
from loadgen.ocpp.dialect import Dialect, Payload, StationState
from loadgen.ocpp.framing import Call, CallError, CallResult, FrameError, encode_call, parse
from loadgen.sim.drivers import DRIVERS

#: Heartbeat interval used when the server answers Accepted with interval 0.
DEFAULT_HEARTBEAT_S = 60.0
#: A parked charge point's heartbeat timer fires on this grid (seconds, the event loop's
#: clock), up to one tick after the Heartbeat is due: the timers of a tick expire in
#: one turn of the loop, so a process wakes once for a batch of Heartbeats rather than
#: once per charger.
HEARTBEAT_TICK_S = 0.05
log = logging.getLogger(__name__)
#: Shared by charge points given no ``rng`` (a ``Random`` holds ~2.5 KB of state).
_RNG = random.Random()


class ConnectionLike(Protocol):
    def send(self, text: str | bytes) -> None: ...
    def recv(self, timeout_s: float | None = None) -> str | None: ...
    def close(self) -> None: ...


class Report(Protocol):
    """Receives every exchange, like Locust's ``events.request``."""

    def __call__(
        self,
        request_type: str,
        name: str,
        response_time_ms: float,
        response_length: int,
        exception: Exception | None,
    ) -> None: ...


@dataclass(slots=True)
class Counters:
    """Connection counts of one process, summed over its charge points."""

    attempted: int = 0
    established: int = 0
    failed: int = 0  # connect attempts that failed
    connected: int = 0
    peak_connected: int = 0
    booted: int = 0
    reconnects: int = 0
    lost: int = 0

    def snapshot(self) -> dict[str, int]:
        return {
            "attempted": self.attempted,
            "established": self.established,
            "failed": self.failed,
            "connected": self.connected,
            "peak_connected": self.peak_connected,
            "booted": self.booted,
            "reconnects": self.reconnects,
            "lost": self.lost,
        }


class _Pending:
    """A CALL waiting for its answer."""

    __slots__ = ("action", "frame", "started", "waiter")

    def __init__(self, action: str, started: float, waiter: AsyncResult | None) -> None:
        self.action = action
        self.started = started  # perf_counter() when the CALL was sent
        #: the CallResult, CallError or Failure once it came; None while waiting
        self.frame: CallResult | CallError | Failure | None = None
        #: set for a call made by a session greenlet; the reader delivers through it
        self.waiter = waiter

    def deliver(self, frame: CallResult | CallError | Failure) -> None:
        self.frame = frame
        if self.waiter is not None:
            self.waiter.set(frame)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def backoff_s(
    attempt: int, initial_s: float, max_s: float, factor: float, rng: random.Random
) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(max, initial * factor**attempt)]."""
    ceiling = min(max_s, initial_s * factor ** min(attempt, 64))
    return rng.uniform(0, ceiling)


class ChargePoint:
    """One simulated charge point; :meth:`run` lives until its greenlet is killed."""

    __slots__ = (
        "_booted_event",
        "_clock",
        "_conn",
        "_connect_fn",
        "_helpers",
        "_last_id",
        "_lost",
        "_meter_wh",
        "_now",
        "_pending",
        "_driver",
        "_next_heartbeat",
        "_parked_call",
        "_report_in_hub",
        "_running",
        "_timer",
        "_readable",
        "_was_connected",
        "_report",
        "_rng",
        "_sessions",
        "_todo",
        "_was_booted",
        "charge_point_id",
        "charging",
        "counters",
        "dialect",
        "settings",
        "state",
    )

    def __init__(
        self,
        charge_point_id: str,
        dialect: Dialect,
        settings: ChargePoints,
        connect: Callable[[], ConnectionLike],
        report: Report,
        counters: Counters,
        *,
        rng: random.Random | None = None,
        now: Callable[[], datetime] = _utcnow,
        clock: Callable[[], float] = time.monotonic,
        report_in_hub: Callable[[], bool] | None = None,
    ) -> None:
        self.charge_point_id = charge_point_id
        self.dialect = dialect
        self.settings = settings
        self._connect_fn = connect
        self._report = report
        self.counters = counters
        self._rng = rng or _RNG
        self._now = now
        self._clock = clock
        self.state = StationState(charge_point_id, connectors=settings.connectors)
        scenario = settings.scenario
        # Decided once per charge point, so a share of the fleet charges.
        self.charging = (
            scenario.charging > 0
            and self._rng.random() * (scenario.idle + scenario.charging) >= scenario.idle
        )
        self._conn: ConnectionLike | None = None
        self._pending: dict[str, _Pending] = {}  # unique id -> CALL awaiting its answer
        self._lost: Failure | None = None  # why the current connection was lost
        self._todo: list[str] = []  # actions the server triggered, sent by the main loop
        self._helpers: list[gevent.Greenlet] | None = None  # session greenlets
        self._driver: Any = None  # the greenlet serving now, the only one that reads
        self._running = False  # between start() and stop()
        self._was_connected = False  # a later connection counts as a reconnect
        self._timer: Any = None  # the heartbeat timer while parked
        self._readable = False  # woken by the read watcher: read before parking again
        self._next_heartbeat = 0.0  # clock() time of the next Heartbeat
        #: (unique id, clock() deadline) of the Heartbeat sent while parked, if unanswered
        self._parked_call: tuple[str, float] | None = None
        #: whether ``report`` may be called from a hub callback now (it never blocks);
        #: None: always
        self._report_in_hub = report_in_hub
        self._last_id = 0  # unique ids of our CALLs are 1, 2, 3, ... per charge point
        self._meter_wh = 0
        self._sessions = 0
        self._booted_event: Event | None = None
        self._was_booted = False  # an Accepted boot happened (booted may not exist yet)

    @property
    def booted(self) -> Event:
        """Set after each Accepted boot, for tests and probes (made on first use)."""
        if self._booted_event is None:
            self._booted_event = Event()
            if self._was_booted:
                self._booted_event.set()
        return self._booted_event

    # -- life ---------------------------------------------------------------------------

    def run(self) -> None:
        """Connect, boot and serve; on any loss back off with full jitter and reconnect.

        Blocks until its greenlet is killed (then closes the connection). The work runs
        in :meth:`start`'s greenlets; :meth:`start` and :meth:`stop` alone do the same
        without holding a greenlet for the whole life.
        """
        self.start()
        try:
            while True:
                gevent.sleep(3600)
        finally:
            self.stop()

    def start(self) -> None:
        """Begin the charge point's life in the background.

        A greenlet runs only while there is work: connecting, booting, a call, a frame
        to answer. In between, on a connection that can ``park(callback)``, the charge
        point waits with no greenlet at all: a read watcher on its socket and a timer
        for the next heartbeat wake it up.
        """
        self._running = True
        DRIVERS.submit(self._begin)

    def stop(self) -> None:
        """End the life: stop its greenlets and close the connection. Never blocks."""
        self._running = False
        self._unpark()
        driver, self._driver = self._driver, None
        if driver is not None and driver is not gevent.getcurrent():
            driver.kill(block=False)
        self._drop()

    def _begin(self) -> None:
        self._life(False)

    def _resume(self) -> None:
        self._life(True)

    def _life(self, resume: bool) -> None:
        """Connect (with backoff), boot and serve until parked; reconnect after a loss."""
        if not self._running or self._driver is not None:
            return
        self._driver = gevent.getcurrent()
        rc = self.settings.reconnect
        attempt = 0
        try:
            while self._running:
                if self._conn is None:
                    if self._open(reconnect=self._was_connected) is None:
                        gevent.sleep(
                            backoff_s(attempt, rc.initial_s, rc.max_s, rc.factor, self._rng)
                        )
                        attempt += 1
                        continue
                    self._was_connected = True
                    resume = False
                try:
                    if not resume:
                        self._serve_start()
                    if self._serve():
                        return  # parked: a watcher or the heartbeat timer resumes us
                except Failure as lost:
                    if not self._running:
                        return
                    self.counters.lost += 1
                    self._report("WS", "disconnect", 0, 0, lost)
                    self._drop()
                    gevent.sleep(backoff_s(0, rc.initial_s, rc.max_s, rc.factor, self._rng))
                    attempt = 1
                resume = False
        except BaseException:
            self._drop()
            raise
        finally:
            if self._driver is gevent.getcurrent():
                self._driver = None

    def _open(self, *, reconnect: bool) -> ConnectionLike | None:
        counters = self.counters
        counters.attempted += 1
        started = time.perf_counter()
        try:
            conn = self._connect_fn()
        except Failure as failure:
            counters.failed += 1
            self._report("WS", "connect", (time.perf_counter() - started) * 1000, 0, failure)
            return None
        self._report("WS", "connect", (time.perf_counter() - started) * 1000, 0, None)
        counters.established += 1
        counters.connected += 1
        if counters.connected > counters.peak_connected:
            counters.peak_connected = counters.connected
        if reconnect:
            counters.reconnects += 1
        if not self._running:  # stopped while connecting
            conn.close()
            counters.connected -= 1
            return None
        self._conn = conn
        self._lost = None
        return conn

    def _drop(self) -> None:
        """Close the current connection and stop its session greenlets."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        self._unpark()
        self._readable = False
        self._parked_call = None
        self.counters.connected -= 1
        helpers, self._helpers = self._helpers, None
        if helpers:
            current = gevent.getcurrent()
            gevent.killall([g for g in helpers if g is not current], block=False)
        conn.close()
        self._lose(self._lost or Failure("closed_by_server", "connection closed"))
        self._todo = []

    def _serve_start(self) -> None:
        """Boot, report the connectors, start the charging session greenlet if any."""
        self._boot()
        state, dialect = self.state, self.dialect
        for connector_id in range(1, state.connectors + 1):
            self._call(*dialect.status_notification(connector_id, "Available", self._now()))
        if self.charging:
            self._spawn(self._charging_loop, 1)
        self._next_heartbeat = self._clock() + state.heartbeat_interval_s

    def _serve(self) -> bool:
        """Heartbeat and follow the server until parked (True) or a loss (raises)."""
        state, dialect = self.state, self.dialect
        if self._parked_call is not None:
            self._settle_parked_call()
        while True:
            # Read (and answer) whatever comes until the next heartbeat or some work.
            while not self._todo and not state.start_requests:
                if self._readable:  # woken by data: read it before parking again
                    self._readable = False
                elif self._park():
                    return True
                if not self._receive(self._next_heartbeat):
                    break
            while self._todo:
                self._send_triggered(self._todo.pop(0))
            while state.start_requests:
                connector_id = state.start_requests.pop(0)
                if connector_id not in state.transactions:
                    self._spawn(self._charge, connector_id)
            if self._clock() >= self._next_heartbeat:
                self._call(*dialect.heartbeat())
                self._next_heartbeat = self._clock() + state.heartbeat_interval_s

    # -- parking: waiting with no greenlet ----------------------------------------------

    def _park(self) -> bool:
        """Wait for the socket or the heartbeat without a greenlet; False if not possible."""
        left = self._next_heartbeat - self._clock()
        conn: Any = self._conn
        if left > 0 and getattr(conn, "inline", False) and conn.needs_greenlet():
            conn.flush()  # what a hub callback could not send (a kept end stays for recv)
        park = getattr(conn, "park", None)
        if left <= 0 or park is None or not park(self._on_readable):
            return False
        self._arm(left)
        self._driver = None
        return True

    def _arm(self, left: float) -> None:
        """(Re)start the parked timer ``left`` seconds from now, up to the next tick."""
        loop = gevent.get_hub().loop
        timer = self._timer
        if timer is not None:
            timer.stop()
            timer.close()
        left += -(loop.now() + left) % HEARTBEAT_TICK_S
        timer = self._timer = loop.timer(left)
        timer.start(self._on_timer)

    def _on_timer(self) -> None:
        """Hub callback of the parked timer: the Heartbeat is due, or its answer late.

        A Heartbeat due while nothing else waits is sent from here and its answer read
        by :meth:`_on_readable`, so a parked charge point heartbeats with no greenlet.
        Anything else resumes serving in a greenlet.
        """
        try:
            if self._parked_call is not None:
                unique_id, deadline = self._parked_call
                now = self._clock()
                if now < deadline:
                    self._arm(deadline - now)
                    return
                if self._report_in_hub is None or self._report_in_hub():
                    self._parked_call = None
                    pending = self._pending.pop(unique_id, None)
                    if pending is not None:
                        elapsed_ms = (time.perf_counter() - pending.started) * 1000
                        timeout = Failure("call_timeout")
                        self._report("OCPP", pending.action, elapsed_ms, 0, timeout)
                    self._heartbeat_answered()
                    return
                # else the greenlet reports the timeout (_settle_parked_call)
            elif self._heartbeat_from_hub():
                return
        except Exception:
            log.exception("a parked charge point's timer failed")
        self._wake()

    def _inline(self) -> bool:
        """Whether the parked charge point may do its own work in a hub callback now."""
        conn = self._conn
        return (
            self._driver is None
            and self._running
            and conn is not None
            and getattr(conn, "inline", False)
            and self._lost is None
            and (self._report_in_hub is None or self._report_in_hub())
        )

    def _heartbeat_from_hub(self) -> bool:
        """Send the due Heartbeat from the hub; False: the greenlet must take over."""
        now = self._clock()
        if not self._inline() or self._todo or self.state.start_requests:
            return False
        if now < self._next_heartbeat:  # the timer ran early against our clock
            self._arm(self._next_heartbeat - now)
            return True
        conn: Any = self._conn
        self._last_id += 1
        unique_id = str(self._last_id)
        action, payload = self.dialect.heartbeat()
        self._pending[unique_id] = _Pending(action, time.perf_counter(), None)
        self._parked_call = (unique_id, now + self.settings.call_timeout_s)
        if not conn.send_nowait(encode_call(unique_id, action, payload)):
            return False  # the greenlet sends the rest, then waits for the answer
        self._arm(self.settings.call_timeout_s)
        return True

    def _heartbeat_answered(self) -> None:
        """The parked Heartbeat was answered or timed out: wait for the next one."""
        interval = self.state.heartbeat_interval_s
        self._next_heartbeat = self._clock() + interval
        self._arm(interval)

    def _on_readable(self) -> None:
        """Hub callback of the read watcher: data is waiting on the socket.

        Whole text messages are handled here (answers to our calls, and the server's
        own calls, answered without waiting); anything else, or work they leave for
        later, resumes serving in a greenlet.
        """
        conn: Any = self._conn
        try:
            if self._inline():
                text = conn.take_nowait(True)
                while isinstance(text, str):
                    self._on_text(conn, text, inline=True)
                    text = conn.take_nowait(False)
                if text is None:  # all read: only work left for later, if any
                    parked = self._parked_call
                    if parked is not None and parked[0] not in self._pending:
                        self._parked_call = None
                        self._heartbeat_answered()
                    if self._todo or self.state.start_requests or conn.needs_greenlet():
                        self._wake()
                    return
        except Exception:
            log.exception("a parked charge point's read failed")
        self._readable = True  # the greenlet reads what is waiting before parking again
        self._wake()

    def _settle_parked_call(self) -> None:
        """In the greenlet: finish the Heartbeat sent while parked (answer or timeout)."""
        assert self._parked_call is not None
        unique_id, deadline = self._parked_call
        pending = self._pending.get(unique_id)
        while pending is not None and pending.frame is None and self._receive(deadline):
            pass
        self._parked_call = None
        pending = self._pending.pop(unique_id, None)
        if pending is not None:  # no answer by the deadline
            elapsed_ms = (time.perf_counter() - pending.started) * 1000
            self._report("OCPP", pending.action, elapsed_ms, 0, Failure("call_timeout"))
        self._next_heartbeat = self._clock() + self.state.heartbeat_interval_s

    def _wake(self) -> None:
        """Resume serving in a greenlet (from a hub callback)."""
        self._unpark()
        if self._driver is None and self._running and self._conn is not None:
            DRIVERS.submit(self._resume)

    def _unpark(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.stop()
            timer.close()
        unpark = getattr(self._conn, "unpark", None)
        if unpark is not None:
            unpark()

    def _boot(self) -> None:
        """BootNotification until Accepted; on Pending/Rejected wait the interval, silent."""
        while True:
            request = self.dialect.boot_notification(
                self.charge_point_id, self.settings.vendor, self.settings.model
            )
            reply = self._call(*request)
            retry_s = self.settings.boot_retry_s
            if reply is not None:
                try:
                    boot = self.dialect.parse_boot_reply(reply)
                except FrameError as exc:
                    self._report("OCPP", "BootNotification reply", 0, 0, _protocol(exc))
                else:
                    if boot.status == "Accepted":
                        override = self.settings.heartbeat_interval_s
                        self.state.heartbeat_interval_s = float(
                            override or boot.interval_s or DEFAULT_HEARTBEAT_S
                        )
                        self.counters.booted += 1
                        self._was_booted = True
                        if self._booted_event is not None:
                            self._booted_event.set()
                        return
                    retry_s = boot.interval_s or retry_s
            self._wait(retry_s)

    def _wait(self, seconds: float) -> None:
        """Read and answer frames for ``seconds``; raises :class:`Failure` on a loss."""
        deadline = self._clock() + seconds
        while self._receive(deadline):
            pass

    def _send_triggered(self, action: str) -> None:
        dialect, now = self.dialect, self._now()
        if action == "Heartbeat":
            self._call(*dialect.heartbeat())
        elif action == "StatusNotification":
            for connector_id in range(1, self.state.connectors + 1):
                status = "Charging" if connector_id in self.state.transactions else "Available"
                self._call(*dialect.status_notification(connector_id, status, now))
        elif action == "BootNotification":
            self._call(
                *dialect.boot_notification(
                    self.charge_point_id, self.settings.vendor, self.settings.model
                )
            )
        elif action == "MeterValues" and hasattr(dialect, "meter_values_standalone"):
            self._call(*dialect.meter_values_standalone(1, self._meter_wh, now))
        elif action == "MeterValues" and self.state.transactions:
            connector_id, tx = next(iter(self.state.transactions.items()))
            self._call(*dialect.meter_values(connector_id, tx, self._meter_wh, now, 0))
        elif action == "NotifyReport" and hasattr(dialect, "notify_report"):
            requests = self.state.report_requests
            request_id = requests.pop(0) if requests else 0
            self._call(*dialect.notify_report(request_id, 0, now, self.state))

    # -- charging (session greenlets; the main greenlet keeps reading) ------------------

    def _spawn(self, function: Callable[..., None], *args: Any) -> None:
        if self._helpers is None:
            self._helpers = []
        self._helpers.append(gevent.spawn(self._guarded, function, *args))

    @staticmethod
    def _guarded(function: Callable[..., None], *args: Any) -> None:
        """Run a session greenlet; a lost connection ends it quietly (the main loop says)."""
        try:
            function(*args)
        except Failure:
            pass

    def _charging_loop(self, connector_id: int) -> None:
        session = self.settings.session
        while True:
            gevent.sleep(self._rng.uniform(0, session.pause_s))
            if connector_id not in self.state.transactions:
                self._charge(connector_id)

    def _charge(self, connector_id: int) -> None:
        """One session: Authorize, start, MeterValues every interval, stop."""
        session, dialect = self.settings.session, self.dialect
        if self._call(*dialect.authorize(session.id_tag)) is None:
            return
        self._sessions += 1
        local_id = f"{self.charge_point_id}-{self._sessions}"
        reply = self._call(
            *dialect.start_transaction(
                connector_id, session.id_tag, self._meter_wh, self._now(), local_id
            )
        )
        if reply is None:
            return
        tx = dialect.transaction_id(reply, local_id)
        self.state.transactions[connector_id] = tx
        self._call(*dialect.status_notification(connector_id, "Charging", self._now()))
        ends = self._clock() + session.duration_s
        seq_no = 1
        while (left := ends - self._clock()) > 0 and tx not in self.state.stop_requests:
            gevent.sleep(min(session.meter_interval_s, left))
            self._meter_wh += int(11_000 * min(session.meter_interval_s, left) / 3600)
            self._call(*dialect.meter_values(connector_id, tx, self._meter_wh, self._now(), seq_no))
            seq_no += 1
        self._call(
            *dialect.stop_transaction(
                connector_id, tx, session.id_tag, self._meter_wh, self._now(), seq_no
            )
        )
        self.state.transactions.pop(connector_id, None)
        if tx in self.state.stop_requests:
            self.state.stop_requests.remove(tx)
        self._call(*dialect.status_notification(connector_id, "Available", self._now()))

    # -- calls and reading --------------------------------------------------------------

    def _call(self, action: str, payload: Payload) -> dict[str, Any] | None:
        """Send a CALL and wait for its answer.

        Returns the CALLRESULT payload, or ``None`` after a CALLERROR or a timeout (both
        reported by then). Raises :class:`Failure` when the connection is lost. The main
        greenlet reads the answer itself; a session greenlet waits for the main one to
        hand it over.
        """
        conn = self._conn
        if conn is None or self._lost is not None:
            raise self._lost or Failure("closed_by_server", "connection closed")
        self._last_id += 1
        unique_id = str(self._last_id)
        reading = gevent.getcurrent() is self._driver
        pending = _Pending(action, time.perf_counter(), None if reading else AsyncResult())
        self._pending[unique_id] = pending
        conn.send(encode_call(unique_id, action, payload))
        timeout_s = self.settings.call_timeout_s
        if reading:
            deadline = self._clock() + timeout_s
            while pending.frame is None and self._receive(deadline):
                pass
            frame = pending.frame
        else:
            assert pending.waiter is not None
            try:
                frame = pending.waiter.get(timeout=timeout_s)
            except gevent.Timeout:
                frame = None
        if frame is None:
            if self._pending.pop(unique_id, None) is not None:
                elapsed_ms = (time.perf_counter() - pending.started) * 1000
                self._report("OCPP", action, elapsed_ms, 0, Failure("call_timeout"))
            return None
        if isinstance(frame, Failure):
            raise frame
        if isinstance(frame, CallResult):
            return frame.payload
        return None

    def _receive(self, deadline: float) -> bool:
        """Read and handle one frame, waiting until ``deadline`` at most.

        Returns False when the deadline passed first. Raises :class:`Failure` when the
        connection is lost (after handing the loss to every waiting call).
        """
        conn = self._conn
        left = deadline - self._clock()
        if conn is None or left <= 0:
            return False
        try:
            text = conn.recv(left)
        except Failure as failure:
            self._lose(failure)
            raise
        if text is None:
            return False
        self._on_text(conn, text)
        return True

    def _lose(self, failure: Failure) -> None:
        self._lost = failure
        pending, self._pending = self._pending, {}
        for call in pending.values():
            call.deliver(failure)

    def _on_text(self, conn: ConnectionLike, text: str, inline: bool = False) -> None:
        """Handle one message from the server; ``inline``: in a hub callback, where the
        answer to a server's call is sent without waiting (see ``send_nowait``)."""
        try:
            frame = parse(text)
        except FrameError as exc:
            self._report("OCPP", "(server frame)", 0, len(text), _protocol(exc))
            return
        if isinstance(frame, Call):
            started = time.perf_counter()
            answer = self.dialect.answer(frame, self.state)
            if inline:
                conn.send_nowait(answer.frame.to_json())  # type: ignore[attr-defined]
            else:
                conn.send(answer.frame.to_json())
            failure = None
            if isinstance(answer.frame, CallError):
                failure = Failure("call_error", answer.frame.error_code)
            elapsed_ms = (time.perf_counter() - started) * 1000
            self._report("server", frame.action, elapsed_ms, len(text), failure)
            if answer.then:
                self._todo.extend(answer.then)
            return
        pending = self._pending.pop(frame.unique_id, None)
        if pending is None:
            self._report(
                "OCPP",
                "(server frame)",
                0,
                len(text),
                Failure("protocol_error", "unknown unique id"),
            )
            return
        failure = Failure("call_error", frame.error_code) if isinstance(frame, CallError) else None
        elapsed_ms = (time.perf_counter() - pending.started) * 1000
        self._report("OCPP", pending.action, elapsed_ms, len(text), failure)
        pending.deliver(frame)


def _protocol(exc: FrameError) -> Failure:
    return Failure("protocol_error", exc.code)
