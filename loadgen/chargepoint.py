"""A simulated charge point's life: connect, boot, status, heartbeat, sessions, reconnect.

One :class:`ChargePoint` runs in one greenlet for as long as its Locust user lives. Per
connection it adds a reader greenlet that matches answers to pending calls and answers
the server's own calls at any time. It talks to the network only through a
``connect()`` callable returning an object with ``send(text)``, ``recv()`` and
``close()`` (see :class:`loadgen.transport.Connection`), and reports every exchange
through a ``report`` callable, so it can run against a real gateway or a scripted peer.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import gevent
from gevent.event import AsyncResult, Event

from loadgen.config import ChargePoints
from loadgen.failures import Failure
from loadgen.ocpp.dialect import Dialect, Payload, StationState
from loadgen.ocpp.framing import Call, CallError, CallResult, FrameError, counter_ids, parse

#: Heartbeat interval used when the server answers Accepted with interval 0.
DEFAULT_HEARTBEAT_S = 60.0


class ConnectionLike(Protocol):
    def send(self, text: str) -> None: ...
    def recv(self) -> str: ...
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


@dataclass(slots=True)
class _Pending:
    action: str
    started: float  # perf_counter() when the CALL was sent
    result: AsyncResult = field(default_factory=AsyncResult)


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
    ) -> None:
        self.charge_point_id = charge_point_id
        self.dialect = dialect
        self.settings = settings
        self._connect_fn = connect
        self._report = report
        self.counters = counters
        self._rng = rng or random.Random()
        self._now = now
        self._clock = clock
        self.state = StationState(charge_point_id, connectors=settings.connectors)
        scenario = settings.scenario
        total = scenario.idle + scenario.charging
        # Decided once per charge point, so a share of the fleet charges.
        self.charging = self._rng.random() * total >= scenario.idle
        self._conn: ConnectionLike | None = None
        self._pending: dict[str, _Pending] = {}
        self._lost: Failure | None = None  # set by the reader when the connection is lost
        self._closing = False  # we are closing: a read error is not a failure
        self._wake = Event()  # the main loop has something to do
        self._todo: list[str] = []  # actions the server triggered
        self._helpers: list[gevent.Greenlet] = []  # reader and session greenlets
        self._next_id = counter_ids()
        self._meter_wh = 0
        self._sessions = 0
        self.booted = Event()  # set after each Accepted boot, for tests and probes

    # -- life ---------------------------------------------------------------------------

    def run(self) -> None:
        """Connect, boot and serve; on any loss back off with full jitter and reconnect."""
        rc = self.settings.reconnect
        attempt = 0
        was_connected = False
        try:
            while True:
                conn = self._open(reconnect=was_connected)
                if conn is None:
                    gevent.sleep(backoff_s(attempt, rc.initial_s, rc.max_s, rc.factor, self._rng))
                    attempt += 1
                    continue
                was_connected = True
                try:
                    self._serve(conn)
                except Failure as lost:
                    self.counters.lost += 1
                    self._report("WS", "disconnect", 0, 0, lost)
                finally:
                    self._drop()
                attempt = 0
                gevent.sleep(backoff_s(attempt, rc.initial_s, rc.max_s, rc.factor, self._rng))
                attempt = 1
        finally:
            self._drop()

    def _open(self, *, reconnect: bool) -> ConnectionLike | None:
        self.counters.attempted += 1
        started = time.perf_counter()
        try:
            conn = self._connect_fn()
        except Failure as failure:
            self.counters.failed += 1
            self._report("WS", "connect", (time.perf_counter() - started) * 1000, 0, failure)
            return None
        self._report("WS", "connect", (time.perf_counter() - started) * 1000, 0, None)
        counters = self.counters
        counters.established += 1
        counters.connected += 1
        counters.peak_connected = max(counters.peak_connected, counters.connected)
        if reconnect:
            counters.reconnects += 1
        self._conn = conn
        self._lost = None
        self._closing = False
        self._pending = {}
        self._todo = []
        self._wake.clear()
        self._helpers = [gevent.spawn(self._read_loop, conn)]
        return conn

    def _drop(self) -> None:
        """Close the current connection and stop its helper greenlets."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        self._closing = True
        self.counters.connected -= 1
        current = gevent.getcurrent()
        helpers, self._helpers = self._helpers, []
        gevent.killall([g for g in helpers if g is not current], block=False)
        conn.close()
        lost = self._lost or Failure("closed_by_server", "connection closed")
        for pending in self._pending.values():
            pending.result.set(lost)
        self._pending = {}

    def _serve(self, conn: ConnectionLike) -> None:
        """Boot, report connectors, then heartbeat and follow the server until a loss."""
        self._boot()
        for connector_id in range(1, self.state.connectors + 1):
            self._call(*self.dialect.status_notification(connector_id, "Available", self._now()))
        if self.charging:
            self._helpers.append(gevent.spawn(self._charging_loop, 1))
        next_heartbeat = self._clock() + self.state.heartbeat_interval_s
        while True:
            self._wake.wait(max(0.0, next_heartbeat - self._clock()))
            self._wake.clear()
            if self._lost is not None:
                raise self._lost
            while self._todo:
                self._send_triggered(self._todo.pop(0))
            while self.state.start_requests:
                connector_id = self.state.start_requests.pop(0)
                if connector_id not in self.state.transactions:
                    self._helpers.append(gevent.spawn(self._charge, connector_id))
            if self._clock() >= next_heartbeat:
                self._call(*self.dialect.heartbeat())
                next_heartbeat = self._clock() + self.state.heartbeat_interval_s

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
                        self.booted.set()
                        return
                    retry_s = boot.interval_s or retry_s
            self._wait(retry_s)

    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds`` but raise at once if the connection is lost."""
        deadline = self._clock() + seconds
        while (left := deadline - self._clock()) > 0:
            self._wake.wait(left)
            self._wake.clear()
            if self._lost is not None:
                raise self._lost

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

    # -- charging -----------------------------------------------------------------------

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

    # -- calls and the reader -----------------------------------------------------------

    def _call(self, action: str, payload: Payload) -> dict[str, Any] | None:
        """Send a CALL and wait for its answer.

        Returns the CALLRESULT payload, or ``None`` after a CALLERROR or a timeout (both
        reported by then). Raises :class:`Failure` when the connection is lost.
        """
        conn = self._conn
        if conn is None or self._lost is not None:
            raise self._lost or Failure("closed_by_server", "connection closed")
        unique_id = self._next_id()
        pending = _Pending(action, time.perf_counter())
        self._pending[unique_id] = pending
        conn.send(Call(unique_id, action, payload).to_json())
        try:
            frame = pending.result.get(timeout=self.settings.call_timeout_s)
        except gevent.Timeout:
            if self._pending.pop(unique_id, None) is not None:
                elapsed_ms = (time.perf_counter() - pending.started) * 1000
                self._report("OCPP", action, elapsed_ms, 0, Failure("call_timeout"))
            return None
        if isinstance(frame, Failure):
            raise frame
        if isinstance(frame, CallResult):
            return frame.payload
        return None

    def _read_loop(self, conn: ConnectionLike) -> None:
        try:
            while True:
                self._on_text(conn, conn.recv())
        except Failure as failure:
            if not self._closing:
                self._lose(failure)

    def _lose(self, failure: Failure) -> None:
        self._lost = failure
        for pending in self._pending.values():
            pending.result.set(failure)
        self._pending = {}
        self._wake.set()

    def _on_text(self, conn: ConnectionLike, text: str) -> None:
        try:
            frame = parse(text)
        except FrameError as exc:
            self._report("OCPP", "(server frame)", 0, len(text), _protocol(exc))
            return
        if isinstance(frame, Call):
            started = time.perf_counter()
            answer = self.dialect.answer(frame, self.state)
            conn.send(answer.frame.to_json())
            failure = None
            if isinstance(answer.frame, CallError):
                failure = Failure("call_error", answer.frame.error_code)
            elapsed_ms = (time.perf_counter() - started) * 1000
            self._report("server", frame.action, elapsed_ms, len(text), failure)
            if answer.then or self.state.start_requests:
                self._todo.extend(answer.then)
                self._wake.set()
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
        pending.result.set(frame)


def _protocol(exc: FrameError) -> Failure:
    return Failure("protocol_error", exc.code)
