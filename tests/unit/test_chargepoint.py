"""A charge point's life against a scripted peer: boot, heartbeat, server calls, loss."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import gevent
import pytest
from gevent.queue import Empty, Queue

from loadgen.config import ChargePoints, Reconnect
from loadgen.failures import Failure
from loadgen.ocpp import dialect_for
from loadgen.ocpp.schemas import validate
from loadgen.sim.chargepoint import HEARTBEAT_TICK_S, ChargePoint, Counters, backoff_s

SETTINGS = ChargePoints(
    call_timeout_s=0.5,
    boot_retry_s=0.2,
    reconnect=Reconnect(initial_s=0.05, max_s=0.2, factor=2),
)
DEADLINE_S = 5.0


class ScriptedServer:
    """A CSMS played by a function: it gets each CALL and returns a payload (or None)."""

    def __init__(self, version: str, answer: Callable[[str, dict[str, Any]], Any]) -> None:
        self.version = version
        self.answer = answer
        self.calls: list[tuple[float, str, dict[str, Any]]] = []  # (monotonic, action, payload)
        self.replies: list[list[Any]] = []  # frames the charge point sent back
        self.connections: list[ScriptedConnection] = []

    def connect(self) -> ScriptedConnection:
        conn = ScriptedConnection(self)
        self.connections.append(conn)
        return conn

    def actions(self) -> list[str]:
        return [action for _, action, _ in self.calls]


class ScriptedConnection:
    def __init__(self, server: ScriptedServer) -> None:
        self.server = server
        self.inbox: Queue = Queue()
        self.closed = False

    def send(self, text: str) -> None:
        if self.closed:
            raise Failure("closed_by_server")
        frame = json.loads(text)
        if frame[0] != 2:
            self.server.replies.append(frame)
            return
        _, unique_id, action, payload = frame
        validate(self.server.version, action, payload, response=False)
        self.server.calls.append((time.monotonic(), action, payload))
        reply = self.server.answer(action, payload)
        if reply is not None:
            self.inbox.put(json.dumps([3, unique_id, reply]))

    def push(self, frame: list[Any]) -> None:
        """The server sends a frame of its own."""
        self.inbox.put(json.dumps(frame))

    def drop(self) -> None:
        """The server closes the connection."""
        self.inbox.put(Failure("closed_by_server", "1000"))

    def recv(self, timeout_s: float | None = None) -> str | None:
        try:
            item = self.inbox.get(timeout=timeout_s)
        except Empty:
            return None
        if isinstance(item, Failure):
            self.closed = True
            raise item
        return item

    def close(self) -> None:
        self.closed = True


class ParkableConnection(ScriptedConnection):
    """A scripted connection a charge point can wait on with no greenlet (``park``)."""

    def __init__(self, server: ScriptedServer) -> None:
        super().__init__(server)
        self._callback: Callable[[], None] | None = None

    def park(self, callback: Callable[[], None]) -> bool:
        if not self.inbox.empty():
            return False
        self._callback = callback
        return True

    def unpark(self) -> None:
        self._callback = None

    def push(self, frame: list[Any]) -> None:
        super().push(frame)
        callback, self._callback = self._callback, None
        if callback is not None:
            gevent.get_hub().loop.run_callback(callback)


def csms(boot_statuses: list[str], interval: int = 1) -> Callable[[str, dict[str, Any]], Any]:
    """Answers of a 1.6 CSMS whose BootNotification replies follow ``boot_statuses``."""
    now = "2026-01-01T00:00:00.000Z"

    def answer(action: str, payload: dict[str, Any]) -> Any:
        if action == "BootNotification":
            status = boot_statuses.pop(0) if len(boot_statuses) > 1 else boot_statuses[0]
            return {"status": status, "currentTime": now, "interval": interval}
        if action == "Heartbeat":
            return {"currentTime": now}
        if action in ("StatusNotification", "MeterValues"):
            return {}
        if action in ("Authorize", "StopTransaction"):
            return {"idTagInfo": {"status": "Accepted"}}
        if action == "StartTransaction":
            return {"idTagInfo": {"status": "Accepted"}, "transactionId": 7}
        raise AssertionError(action)

    return answer


def start(server: ScriptedServer, settings: ChargePoints = SETTINGS, **kwargs: Any):
    reports: list[tuple[str, str, Exception | None]] = []

    def report(kind: str, name: str, ms: float, length: int, exc: Exception | None) -> None:
        reports.append((kind, name, exc))

    cp = ChargePoint(
        "CP-T-1",
        dialect_for(server.version),
        settings,
        server.connect,
        report,
        Counters(),
        rng=random.Random(1),
        **kwargs,
    )
    return cp, gevent.spawn(cp.run), reports


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        gevent.sleep(0.01)


@pytest.mark.timeout(20)
def test_pending_boot_waits_the_interval_and_sends_nothing_else() -> None:
    """A Pending boot is retried after the server's interval, with no other call between."""
    server = ScriptedServer("1.6", csms(["Pending", "Accepted"], interval=1))
    cp, greenlet, _ = start(server)
    try:
        wait_until(lambda: "StatusNotification" in server.actions(), "status after boot")
        boots = [t for t, action, _ in server.calls if action == "BootNotification"]
        assert server.actions()[:2] == ["BootNotification", "BootNotification"]
        assert boots[1] - boots[0] >= 0.95
        assert cp.counters.booted == 1
    finally:
        greenlet.kill()


@pytest.mark.timeout(20)
def test_heartbeat_follows_the_boot_interval() -> None:
    """Heartbeats come at the interval the BootNotification reply gave."""
    server = ScriptedServer("1.6", csms(["Accepted"], interval=1))
    _, greenlet, _ = start(server)
    try:
        wait_until(lambda: server.actions().count("Heartbeat") >= 2, "two heartbeats")
        beats = [t for t, action, _ in server.calls if action == "Heartbeat"]
        assert 0.9 <= beats[1] - beats[0] <= 1.5
    finally:
        greenlet.kill()


@pytest.mark.timeout(20)
def test_config_overrides_the_heartbeat_interval() -> None:
    """charge_points.heartbeat_interval_s wins over the server's interval."""
    server = ScriptedServer("1.6", csms(["Accepted"], interval=3600))
    cp, greenlet, _ = start(server, replace(SETTINGS, heartbeat_interval_s=0.2))
    try:
        wait_until(lambda: server.actions().count("Heartbeat") >= 2, "fast heartbeats")
        assert cp.state.heartbeat_interval_s == 0.2
    finally:
        greenlet.kill()


@pytest.mark.timeout(20)
def test_parked_charge_points_heartbeat_in_batches_on_the_tick_grid() -> None:
    """Parked charge points due a few ms apart send their Heartbeats in one or two batches.

    Each Heartbeat goes out at or after its due time and at most one tick later.
    """
    interval_s, apart_s = 0.5, 0.008  # four due times spread over 24 ms < one tick
    settings = replace(SETTINGS, heartbeat_interval_s=interval_s)
    servers = [ScriptedServer("1.6", csms(["Accepted"], interval=3600)) for _ in range(4)]
    charge_points = []
    try:
        for number, server in enumerate(servers):
            cp = ChargePoint(
                f"CP-T-{number}",
                dialect_for("1.6"),
                settings,
                lambda server=server: ParkableConnection(server),
                lambda *_: None,
                Counters(),
            )
            charge_points.append(cp)
            cp.start()
            gevent.sleep(apart_s)
        wait_until(lambda: all("Heartbeat" in server.actions() for server in servers), "heartbeats")
        beats = []
        for server in servers:
            status = next(t for t, a, _ in server.calls if a == "StatusNotification")
            beat = next(t for t, a, _ in server.calls if a == "Heartbeat")
            assert status + interval_s <= beat <= status + interval_s + HEARTBEAT_TICK_S + 0.02
            beats.append(beat)
        beats.sort()
        batches = 1 + sum(1 for a, b in zip(beats, beats[1:], strict=False) if b - a > 0.003)
        assert batches <= 2, beats  # without the grid: four, 8 ms apart
    finally:
        for cp in charge_points:
            cp.stop()


@pytest.mark.timeout(20)
def test_server_calls_are_answered_and_trigger_follow_ups() -> None:
    """A TriggerMessage is answered Accepted and the Heartbeat it asks for is sent."""
    server = ScriptedServer("1.6", csms(["Accepted"], interval=3600))
    _, greenlet, reports = start(server)
    try:
        wait_until(lambda: "StatusNotification" in server.actions(), "boot")
        conn = server.connections[-1]
        conn.push([2, "srv-1", "TriggerMessage", {"requestedMessage": "Heartbeat"}])
        conn.push([2, "srv-2", "NoSuchAction", {}])
        wait_until(lambda: "Heartbeat" in server.actions(), "triggered heartbeat")
        wait_until(lambda: len(server.replies) == 2, "two answers")
        assert server.replies[0] == [3, "srv-1", {"status": "Accepted"}]
        assert server.replies[1][:3] == [4, "srv-2", "NotImplemented"]
        assert ("server", "TriggerMessage", None) in reports
    finally:
        greenlet.kill()


@pytest.mark.timeout(20)
def test_unanswered_call_times_out_and_unknown_ids_are_protocol_errors() -> None:
    """A call without answer is a call_timeout; an answer to no call a protocol_error."""

    def answer(action: str, payload: dict[str, Any]) -> Any:
        if action == "Heartbeat":
            return None  # never answered
        return csms(["Accepted"], interval=1)(action, payload)

    server = ScriptedServer("1.6", answer)
    _, greenlet, reports = start(server)
    try:
        wait_until(lambda: "StatusNotification" in server.actions(), "boot")
        server.connections[-1].push([3, "nobody-asked", {}])
        wait_until(
            lambda: any(
                n == "Heartbeat" and isinstance(e, Failure) and e.category == "call_timeout"
                for _, n, e in reports
            ),
            "a heartbeat call_timeout",
        )
        wait_until(
            lambda: any(
                isinstance(e, Failure) and e.detail == "unknown unique id" for *_, e in reports
            ),
            "protocol error for an unknown id",
        )
    finally:
        greenlet.kill()


@pytest.mark.timeout(20)
def test_lost_connection_reconnects_and_boots_again() -> None:
    """After the server closes, the charge point reconnects, boots again and counts it."""
    server = ScriptedServer("2.0.1", _csms_201())
    cp, greenlet, reports = start(server)
    try:
        wait_until(lambda: cp.counters.booted == 1, "first boot")
        server.connections[-1].drop()
        wait_until(lambda: cp.counters.booted == 2, "boot after reconnect")
        assert cp.counters.reconnects == 1
        assert cp.counters.connected == 1
        assert any(n == "disconnect" for _, n, _ in reports)
    finally:
        greenlet.kill()
    assert cp.counters.connected == 0
    assert server.connections[-1].closed


@pytest.mark.timeout(20)
def test_charging_session_runs_authorize_start_meter_stop() -> None:
    """A charging charge point runs a whole session in order, each message schema-valid."""
    settings = replace(
        SETTINGS,
        scenario=replace(SETTINGS.scenario, idle=0.0, charging=1.0),
        session=replace(SETTINGS.session, duration_s=0.3, meter_interval_s=0.1, pause_s=0.05),
    )
    server = ScriptedServer("1.6", csms(["Accepted"], interval=3600))
    _, greenlet, _ = start(server, settings)
    try:
        wait_until(lambda: "StopTransaction" in server.actions(), "a whole session")
        session = [a for a in server.actions() if a not in ("BootNotification", "Heartbeat")]
        assert session[:4] == [
            "StatusNotification",
            "Authorize",
            "StartTransaction",
            "StatusNotification",
        ]
        assert "MeterValues" in session
        stop = next(p for _, a, p in server.calls if a == "StopTransaction")
        assert stop["transactionId"] == 7
    finally:
        greenlet.kill()


def _csms_201() -> Callable[[str, dict[str, Any]], Any]:
    def answer(action: str, payload: dict[str, Any]) -> Any:
        now = "2026-01-01T00:00:00.000Z"
        if action == "BootNotification":
            return {"status": "Accepted", "currentTime": now, "interval": 3600}
        if action == "Heartbeat":
            return {"currentTime": now}
        return {}

    return answer


def test_backoff_is_full_jitter_under_a_growing_cap() -> None:
    """Backoff delays stay in [0, min(max, initial * factor**n)] and spread out."""
    rng = random.Random(7)
    for attempt in range(10):
        cap = min(60.0, 1.0 * 2**attempt)
        delays = [backoff_s(attempt, 1.0, 60.0, 2.0, rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8 and min(delays) < cap * 0.2
